"""What ``Client`` and ``AsyncClient`` share: configuration, lifecycle, stubs, request building."""

from __future__ import annotations

import enum
import os
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2

from datalid.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    expiry_date_service_pb2_grpc,
    job_service_pb2_grpc,
)

from ._auth import Auth
from ._retry import NO_RETRIES, RetryPolicy, _CallPlan

DEFAULT_TARGET = "localhost:50051"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
DEFAULT_RETRIES = RetryPolicy()
_VERSION = "0.1.0"
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"

ImageInput = bytes | bytearray | memoryview | str | os.PathLike[str]
"""Encoded image bytes, or the path of an image file (``str`` is always a path)."""

# Magic numbers of the formats the server decodes, for ProcessUpload's content type.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
    (b"BM", 0, "image/bmp"),
)


class _ClientState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class _Stubs:
    """The multicallables one channel offers (sync or aio: the generated stubs accept both)."""

    process: Any
    process_upload: Any
    server_info: Any
    list_models: Any
    health: Any
    process_url: Any
    process_batch: Any
    process_with_progress: Any
    stream_frames: Any
    create_job: Any
    get_job: Any
    list_jobs: Any
    cancel_job: Any
    delete_job: Any
    watch_job: Any


def _make_stubs(channel: grpc.Channel | grpc.aio.Channel) -> _Stubs:
    expiry = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    jobs = job_service_pb2_grpc.JobServiceStub(channel)
    health = channel.unary_unary(
        _HEALTH_CHECK,
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    return _Stubs(
        process=expiry.Process,
        process_upload=expiry.ProcessUpload,
        server_info=admin.GetServerInfo,
        list_models=admin.ListModels,
        health=health,
        process_url=expiry.ProcessUrl,
        process_batch=expiry.ProcessBatch,
        process_with_progress=expiry.ProcessWithProgress,
        stream_frames=expiry.StreamFrames,
        create_job=jobs.CreateJob,
        get_job=jobs.GetJob,
        list_jobs=jobs.ListJobs,
        cancel_job=jobs.CancelJob,
        delete_job=jobs.DeleteJob,
        watch_job=jobs.WatchJob,
    )


def check_image_iterable(images: object) -> None:
    """Reject a single image where an iterable of images is expected (a str would iterate its chars).

    Raises:
        TypeError: ``images`` is one image (bytes or a path) rather than an iterable of them.
    """
    if isinstance(images, bytes | bytearray | memoryview | str | os.PathLike):
        raise TypeError("process_batch takes an iterable of images (bytes or paths), not one image")


class _RequestErrors:
    """Keeps the exception a caller's request iterator raised: gRPC only reports it as a cancelled call."""

    def __init__(self) -> None:
        self.error: Exception | None = None

    def pump(self, items: Iterable[Any], convert: Callable[[Any], Any]) -> Iterator[Any]:
        """``convert(item)`` for each item; the first exception is kept, then re-raised into gRPC."""
        try:
            for item in items:
                yield convert(item)
        except Exception as exc:
            self.error = exc
            raise

    async def apump(
        self, items: Iterable[Any] | AsyncIterable[Any], convert: Callable[[Any], Awaitable[Any]]
    ) -> AsyncIterator[Any]:
        """The async ``pump``: ``items`` may be a sync or an async iterable, ``convert`` a coroutine."""
        try:
            if isinstance(items, AsyncIterable):
                async for item in items:
                    yield await convert(item)
            else:
                for item in items:
                    yield await convert(item)
        except Exception as exc:
            self.error = exc
            raise


def read_image(image: ImageInput) -> bytes:
    """The image's bytes; a ``str`` or path-like is read from disk.

    Raises:
        OSError: the file cannot be read.
        TypeError: ``image`` is neither bytes nor a path.
    """
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    if isinstance(image, str | os.PathLike):
        return Path(image).read_bytes()
    raise TypeError(f"image must be bytes or a path, got {type(image).__name__}")


def guess_content_type(data: bytes) -> str:
    """``image/jpeg``, ``image/png``, ``image/webp``, ``image/bmp`` or ``application/octet-stream``."""
    for magic, offset, content_type in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return content_type
    return "application/octet-stream"


def list_models_request() -> admin_service_pb2.ListModelsRequest:
    return admin_service_pb2.ListModelsRequest()


def server_info_request() -> admin_service_pb2.GetServerInfoRequest:
    return admin_service_pb2.GetServerInfoRequest()


def health_request(service: str) -> health_pb2.HealthCheckRequest:
    return health_pb2.HealthCheckRequest(service=service)


def health_status_name(response: health_pb2.HealthCheckResponse) -> str:
    """``SERVING``, ``NOT_SERVING``, ``SERVICE_UNKNOWN`` or ``UNKNOWN``."""
    try:
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    except ValueError:
        return "UNKNOWN"


def _check_timeout(name: str, timeout_s: float | None) -> None:
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"{name} must be > 0 seconds or None, got {timeout_s!r}")


class BaseClient:
    """Configuration and lifecycle shared by ``Client`` and ``AsyncClient``; not used directly."""

    def __init__(
        self,
        target: str,
        *,
        auth: Auth | None,
        timeout_s: float | None,
        retries: RetryPolicy | None,
        secure: bool,
        credentials: grpc.ChannelCredentials | None,
        max_message_bytes: int,
        options: Sequence[tuple[str, Any]],
        clock: Callable[[], float] | None,
    ) -> None:
        if not target or not isinstance(target, str):
            raise ValueError(f"target must be a non-empty 'host:port' string, got {target!r}")
        _check_timeout("timeout_s", timeout_s)
        if max_message_bytes < 1:
            raise ValueError(f"max_message_bytes must be >= 1, got {max_message_bytes!r}")
        if auth is not None and not isinstance(auth, Auth):
            raise TypeError(f"auth must be a datalid_client.Auth (TokenAuth, ApiKeyAuth), got {auth!r}")
        self._target = target
        self._timeout_s = timeout_s
        self._retries = retries if retries is not None else NO_RETRIES
        self._rng = random.Random(self._retries.seed)
        self._clock = clock or time.monotonic
        if credentials is None and secure:
            credentials = grpc.ssl_channel_credentials()
        self._credentials = credentials
        channel_options: dict[str, Any] = {
            "grpc.max_send_message_length": max_message_bytes,
            "grpc.max_receive_message_length": max_message_bytes,
            "grpc.primary_user_agent": f"datalid-client/{_VERSION}",
            # gRPC waits 1 s (growing to 120 s) before reconnecting to a server that went away, and
            # fails calls fast meanwhile; retries on UNAVAILABLE only help if it reconnects sooner.
            "grpc.initial_reconnect_backoff_ms": 100,
            "grpc.max_reconnect_backoff_ms": max(1000, int(self._retries.max_backoff_s * 1000)),
        }
        channel_options.update(options)  # the caller's options win
        self._channel_options = list(channel_options.items())
        self._metadata: tuple[tuple[str, str], ...] = auth.metadata() if auth is not None else ()
        self._state = _ClientState.OPEN

    @property
    def target(self) -> str:
        """The ``host:port`` this client talks to."""
        return self._target

    @property
    def is_closed(self) -> bool:
        """True once ``close()`` has been called."""
        return self._state is _ClientState.CLOSED

    def _check_open(self) -> None:
        if self._state is _ClientState.CLOSED:
            raise RuntimeError(f"this {type(self).__name__} is closed; create a new one")

    def _mark_closed(self) -> None:
        self._state = _ClientState.CLOSED

    def _plan(self, timeout_s: float | None, *, retry: bool = True) -> _CallPlan:
        """The attempts of a call whose deadline defaults to the client's ``timeout_s``."""
        _check_timeout("timeout_s", timeout_s)
        return _CallPlan(
            self._retries if retry else NO_RETRIES,
            self._rng,
            self._clock,
            self._timeout_s if timeout_s is None else timeout_s,
        )

    def _open_ended_plan(self, timeout_s: float | None, *, retry: bool) -> _CallPlan:
        """The attempts of a long-lived stream (frames, job watch): no deadline unless ``timeout_s``."""
        _check_timeout("timeout_s", timeout_s)
        return _CallPlan(self._retries if retry else NO_RETRIES, self._rng, self._clock, timeout_s)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self._target!r}, state={self._state.value})"
