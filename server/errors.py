"""Maps pipeline errors to gRPC status codes, in one table, with google.rpc details.

Every servicer method is wrapped by ``grpc_errors``. A ``PipelineError`` becomes its row's
status code with an ErrorInfo detail (and a BadRequest detail naming the field for invalid
input). Anything else is a bug: the client gets INTERNAL with the request id and no stack
trace, and the log gets the traceback.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from pipeline import (
    BatchContractError,
    DeadlineExceeded,
    InvalidInput,
    ModelNotReady,
    Overloaded,
    PipelineError,
    ShuttingDown,
)
from server.request_context import REQUEST_ID_HEADER, request_id_var

__all__ = [
    "ERROR_DOMAIN",
    "MAX_ECHO_CHARS",
    "STATUS_BY_ERROR",
    "Conflict",
    "ModelNotFound",
    "StoreBusy",
    "abort_with",
    "bounded",
    "grpc_errors",
    "rich_status",
    "status_of_error",
    "status_of_exception",
]

_LOGGER = logging.getLogger(__name__)


# What StoreBusy tells callers to wait before retrying: backups and shell sessions hold a SQLite
# file's lock for about that long or more, a PostgreSQL failover longer; retrying sooner only
# queues behind it.
STORE_BUSY_RETRY_AFTER_S = 1.0


class StoreBusy(PipelineError):
    """The database stayed locked by another writer (a backup, a shell) for as long as the caller
    could wait; nothing was changed. Retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: float = STORE_BUSY_RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Conflict(PipelineError):
    """The call collides with one in progress (a second ReloadModels): ABORTED, try again later."""


class ModelNotFound(PipelineError):
    """No model of that name (or version) is served (the v2 protocol names models): NOT_FOUND."""


ERROR_DOMAIN = "datalid.v1"
# Messages and details echo what the caller sent (a job id, a date, a URL); every string of a
# status is cut to this many characters, so no answer or log line carries a caller's megabyte.
MAX_ECHO_CHARS = 200

STATUS_BY_ERROR: dict[type[PipelineError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    ModelNotReady: grpc.StatusCode.UNAVAILABLE,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    ShuttingDown: grpc.StatusCode.UNAVAILABLE,
    BatchContractError: grpc.StatusCode.INTERNAL,
    StoreBusy: grpc.StatusCode.UNAVAILABLE,
    Conflict: grpc.StatusCode.ABORTED,
    ModelNotFound: grpc.StatusCode.NOT_FOUND,
}
_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
_REASON_BY_ERROR: dict[type[PipelineError], str] = {
    InvalidInput: "INVALID_INPUT",
    ModelNotReady: "MODEL_NOT_READY",
    Overloaded: "OVERLOADED",
    DeadlineExceeded: "DEADLINE_EXCEEDED",
    ShuttingDown: "SHUTTING_DOWN",
    BatchContractError: "INTERNAL",
    StoreBusy: "JOB_STORE_BUSY",
    Conflict: "CONFLICT",
    ModelNotFound: "MODEL_NOT_FOUND",
}


def _status_for(error: PipelineError) -> grpc.StatusCode:
    # Most specific class first, so a subclass of a mapped error keeps its parent's row.
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return grpc.StatusCode.INTERNAL


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def bounded(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` if it has at most ``limit`` characters, else its first ``limit`` followed by an
    ellipsis and the total length, e.g. ``"abc… (1048576 characters)"``."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def _bounded_copy(detail: Message) -> Message:
    copy = type(detail)()
    copy.CopyFrom(detail)
    _bound_strings(copy)
    return copy


def _bound_strings(message: Message) -> None:
    """Applies ``bounded`` to every string in ``message``, nested messages and map values included."""
    for field, value in message.ListFields():
        if field.type == field.TYPE_STRING:
            if field.is_repeated:
                value[:] = [bounded(item) for item in value]
            else:
                setattr(message, field.name, bounded(value))
        elif field.type == field.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            for key in list(value):
                if isinstance(value[key], str):
                    value[key] = bounded(value[key])
                elif isinstance(value[key], Message):
                    _bound_strings(value[key])
        elif field.type == field.TYPE_MESSAGE:
            for item in value if field.is_repeated else [value]:
                _bound_strings(item)


def rich_status(code: grpc.StatusCode, message: str, details: list[Any] | None = None) -> status_pb2.Status:
    """A google.rpc.Status with the given details packed in; the message and every string in the
    details are cut to ``MAX_ECHO_CHARS`` characters (see ``bounded``)."""
    return status_pb2.Status(
        code=getattr(code_pb2, code.name),
        message=bounded(message),
        details=[_pack(_bounded_copy(detail)) for detail in details or []],
    )


def status_of_error(error: PipelineError) -> status_pb2.Status:
    """The google.rpc.Status a pipeline error is reported with (also used in-band by streams)."""
    code = _status_for(error)
    reason = next((r for cls, r in _REASON_BY_ERROR.items() if isinstance(error, cls)), "INTERNAL")
    details: list[Any] = [error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)]
    if isinstance(error, Overloaded | StoreBusy) and error.retry_after_s is not None:
        # How long the queue (or the job database's lock) needs to clear: clients that wait that
        # long do not spend the server's CPU on refusals (each one still carries a whole photo).
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after_s * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    if isinstance(error, InvalidInput):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.description
        )
        details.append(error_details_pb2.BadRequest(field_violations=[violation]))
    message = str(error) if code != grpc.StatusCode.INTERNAL else _internal_message()
    return rich_status(code, message, details)


def _internal_message() -> str:
    return f"internal error (request id {request_id_var.get()})"


async def abort_with(context: grpc.aio.ServicerContext, status: status_pb2.Status) -> None:
    """Ends the call with ``status``, its details in the ``grpc-status-details-bin`` trailer and
    the call's request id in ``x-request-id``."""
    await context.abort(
        _CODE_BY_NUMBER[status.code],
        status.message,
        trailing_metadata=(
            ("grpc-status-details-bin", status.SerializeToString()),
            (REQUEST_ID_HEADER, request_id_var.get()),
        ),
    )


def status_of_exception(exc: Exception) -> status_pb2.Status:
    """The google.rpc.Status any exception is reported with, in a call's status or in-band.

    A ``PipelineError`` gets its row of the table; anything else is a bug: INTERNAL with the
    request id and no text of the exception, and the traceback goes to the log.
    """
    if isinstance(exc, PipelineError):
        status = status_of_error(exc)
        if status.code == code_pb2.INTERNAL:
            _LOGGER.error("pipeline contract broken", exc_info=exc)
        return status
    _LOGGER.error("unhandled error", exc_info=exc)
    return rich_status(
        grpc.StatusCode.INTERNAL,
        _internal_message(),
        [error_details_pb2.ErrorInfo(reason="INTERNAL", domain=ERROR_DOMAIN)],
    )


async def _abort_for(context: grpc.aio.ServicerContext, exc: Exception) -> None:
    await abort_with(context, status_of_exception(exc))


F = TypeVar("F", bound=Callable[..., Any])


def grpc_errors(method: F) -> F:
    """Wraps a servicer method (unary or server-streaming) so errors leave as gRPC statuses."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream_wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                async for response in method(self, request, context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort_for(context, exc)

        return stream_wrapper  # type: ignore[return-value]

    @functools.wraps(method)
    async def unary_wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort_for(context, exc)

    return unary_wrapper  # type: ignore[return-value]
