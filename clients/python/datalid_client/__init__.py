"""Python SDK of the Datalid expiry-date API (``datalid.v1``): ``Client``, ``AsyncClient``, ``datalid`` CLI.

Results are plain frozen dataclasses and errors are ``DatalidError`` subclasses; protobuf stays inside.

Example::

    from datalid_client import Client, ProcessOptions

    with Client("localhost:50051") as client:
        result = client.process("label.jpg", ProcessOptions(date_order="DMY"), timeout_s=5)
        for item in client.process_batch(["a.jpg", "b.jpg"]):      # one result or error per image
            print(item.index, item.result or item.error)
        job = client.create_job(url="https://example.com/label.jpg")
        for update in client.watch_job(job.job_id):                  # until the job ends
            print(update.state, update.progress)

Streaming calls (``process_with_progress``, ``stream_frames``, ``watch_job``) return iterators;
see ``datalid_client.client`` for their retry and deadline rules.
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
    BatchItem,
    BoundingBox,
    DateKind,
    DateOrder,
    DatePrecision,
    Detection,
    DropPolicy,
    Frame,
    FrameResult,
    Job,
    JobPage,
    JobState,
    ModelInfo,
    ModelState,
    OcrLine,
    ParsedDate,
    ProcessOptions,
    ProcessResult,
    ProcessStatus,
    ProgressEvent,
    ProgressStage,
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
    "BatchItem",
    "BoundingBox",
    "Client",
    "DatalidError",
    "DateKind",
    "DateOrder",
    "DatePrecision",
    "DeadlineExceeded",
    "Detection",
    "DropPolicy",
    "FieldViolation",
    "Frame",
    "FrameResult",
    "ImageInput",
    "InvalidInput",
    "Job",
    "JobPage",
    "JobState",
    "ModelInfo",
    "ModelState",
    "NotFound",
    "OcrLine",
    "ParsedDate",
    "PermissionDenied",
    "ProcessOptions",
    "ProcessResult",
    "ProcessStatus",
    "ProgressEvent",
    "ProgressStage",
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
