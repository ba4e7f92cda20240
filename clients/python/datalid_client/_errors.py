"""The SDK's exceptions, and the one place gRPC errors are turned into them.

Exception tree::

    DatalidError                 any failed call; .code (grpc.StatusCode), .details (server message)
    ├── InvalidInput             INVALID_ARGUMENT: bad image or options; .field_violations
    ├── Unauthenticated          UNAUTHENTICATED: missing or wrong token / API key
    ├── PermissionDenied         PERMISSION_DENIED
    ├── NotFound                 NOT_FOUND (e.g. an unknown job or model)
    ├── ResourceExhausted        RESOURCE_EXHAUSTED: queue full or rate limited; .retry_delay_s
    ├── DeadlineExceeded         DEADLINE_EXCEEDED: the call's timeout_s passed
    ├── Unavailable              UNAVAILABLE: server down or not ready (after the client's retries)
    ├── Unimplemented            UNIMPLEMENTED: the server does not offer this RPC
    └── ServerError              every other code (INTERNAL, UNKNOWN, CANCELLED, ...)

``_map_rpc_errors()`` converts ``grpc.RpcError`` (sync and ``grpc.aio``) and raises ``from`` it; it
also wraps the iteration of streaming calls, so an error in the middle of a stream maps the same way.
``error_from_status()`` applies the same mapping to the in-band ``google.rpc.Status`` of a batch item,
a frame or a job, which are returned (not raised).
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

__all__ = [
    "DatalidError",
    "DeadlineExceeded",
    "FieldViolation",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "ServerError",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
]


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request, from the server's ``google.rpc.BadRequest`` detail."""

    field: str
    description: str


class DatalidError(Exception):
    """Base class of every error a Datalid call raises.

    Attributes:
        code: The gRPC status code.
        details: The server's (or gRPC's) message.
    """

    def __init__(self, details: str, *, code: grpc.StatusCode) -> None:
        super().__init__(f"{code.name}: {details}" if details else code.name)
        self.code = code
        self.details = details


class InvalidInput(DatalidError):
    """The request was rejected as malformed: an empty, truncated or oversized image, a bad option.

    Attributes:
        field_violations: The fields the server named (``image``, ``options.detection_iou``, ...).
    """

    def __init__(
        self, details: str, *, code: grpc.StatusCode, field_violations: tuple[FieldViolation, ...] = ()
    ) -> None:
        super().__init__(details, code=code)
        self.field_violations = field_violations


class Unauthenticated(DatalidError):
    """No credentials, or credentials the server does not accept."""


class PermissionDenied(DatalidError):
    """The credentials are valid but may not call this method."""


class NotFound(DatalidError):
    """The named resource (a job, a model) does not exist."""


class ResourceExhausted(DatalidError):
    """The server's queue is full or the caller is rate limited; try again later.

    Attributes:
        retry_delay_s: How long the server asked the caller to wait (``google.rpc.RetryInfo``), if it said.
    """

    def __init__(self, details: str, *, code: grpc.StatusCode, retry_delay_s: float | None = None) -> None:
        super().__init__(details, code=code)
        self.retry_delay_s = retry_delay_s


class DeadlineExceeded(DatalidError):
    """The call's deadline (``timeout_s``) passed before the server answered."""


class Unavailable(DatalidError):
    """The server could not be reached or is not ready; raised once the client's retries are spent."""


class Unimplemented(DatalidError):
    """The server does not implement this method (an older server version)."""


class ServerError(DatalidError):
    """Any other failure: INTERNAL, UNKNOWN, CANCELLED, DATA_LOSS, ..."""


_BY_CODE: dict[grpc.StatusCode, type[DatalidError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
}


def _rich_details(exc: grpc.RpcError) -> list[Any]:
    """The ``google.rpc.Status.details`` entries sent in the trailers (empty when none or unreadable)."""
    try:
        status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        # A Status that contradicts the call's code or message, or an RpcError that is not a Call.
        return []
    return list(status.details) if status is not None else []


_CODE_BY_NUMBER: dict[int, grpc.StatusCode] = {c.value[0]: c for c in grpc.StatusCode}


def _build_error(code: grpc.StatusCode, details: str, rich: Sequence[Any]) -> DatalidError:
    """The one mapping of a status (code, message, ``google.rpc`` details) to an SDK exception."""
    cls = _BY_CODE.get(code, ServerError)
    if cls is InvalidInput:
        violations: list[FieldViolation] = []
        for any_pb in rich:
            bad = error_details_pb2.BadRequest()
            if any_pb.Unpack(bad):
                violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
        return InvalidInput(details, code=code, field_violations=tuple(violations))
    if cls is ResourceExhausted:
        delay: float | None = None
        for any_pb in rich:
            info = error_details_pb2.RetryInfo()
            if any_pb.Unpack(info):
                delay = info.retry_delay.ToTimedelta().total_seconds()
        return ResourceExhausted(details, code=code, retry_delay_s=delay)
    return cls(details, code=code)


def error_from_rpc(exc: grpc.RpcError) -> DatalidError:
    """The SDK exception for a failed call (without raising it)."""
    code_fn = getattr(exc, "code", None)
    code = code_fn() if callable(code_fn) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    details_fn = getattr(exc, "details", None)
    details = (details_fn() if callable(details_fn) else None) or ""
    return _build_error(code, details, _rich_details(exc))


def error_from_status(status: status_pb2.Status) -> DatalidError:
    """The SDK exception for an in-band ``google.rpc.Status`` (a batch item, a frame, a job).

    The same mapping as ``error_from_rpc``: a status that a failed call would have raised as
    ``InvalidInput`` is ``InvalidInput`` here too. A code of OK or one gRPC does not know is UNKNOWN.
    """
    code = _CODE_BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
    if code is grpc.StatusCode.OK:
        code = grpc.StatusCode.UNKNOWN
    return _build_error(code, status.message, list(status.details))


class _map_rpc_errors:
    """Turn ``grpc.RpcError`` raised in the block into the matching ``DatalidError``, ``from`` it.

    Works as ``with _map_rpc_errors():`` and as ``async with _map_rpc_errors():``; any other
    exception (including ``asyncio.CancelledError``) passes through untouched.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        if isinstance(exc, grpc.RpcError):
            raise error_from_rpc(exc) from exc

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)
