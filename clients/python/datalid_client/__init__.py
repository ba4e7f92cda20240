"""Python SDK of the Datalid expiry-date API (``datalid.v1``): ``Client``, ``AsyncClient``, ``datalid`` CLI.

Results are plain frozen dataclasses and errors are ``DatalidError`` subclasses; protobuf stays inside.

Example::

    from datalid_client import Client, ProcessOptions

    with Client("localhost:50051") as client:
        result = client.process("label.jpg", ProcessOptions(date_order="DMY"), timeout_s=5)
"""

from ._auth import ApiKeyAuth, Auth, TokenAuth
from ._base import ImageInput
from ._errors import (
    DatalidError,
    DeadlineExceeded,
    FieldViolation,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServerError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from ._retry import RetryPolicy
from ._types import (
    BoundingBox,
    DateKind,
    DateOrder,
    DatePrecision,
    Detection,
    ModelInfo,
    ModelState,
    OcrLine,
    ParsedDate,
    ProcessOptions,
    ProcessResult,
    ProcessStatus,
    ServerInfo,
    StageTimings,
    TensorInfo,
)
from .client import AsyncClient, Client

__version__ = "0.1.0"

__all__ = [
    "ApiKeyAuth",
    "AsyncClient",
    "Auth",
    "BoundingBox",
    "Client",
    "DatalidError",
    "DateKind",
    "DateOrder",
    "DatePrecision",
    "DeadlineExceeded",
    "Detection",
    "FieldViolation",
    "ImageInput",
    "InvalidInput",
    "ModelInfo",
    "ModelState",
    "NotFound",
    "OcrLine",
    "ParsedDate",
    "PermissionDenied",
    "ProcessOptions",
    "ProcessResult",
    "ProcessStatus",
    "ResourceExhausted",
    "RetryPolicy",
    "ServerError",
    "ServerInfo",
    "StageTimings",
    "TensorInfo",
    "TokenAuth",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "__version__",
]
