"""``Client`` (blocking, ``grpc``) and ``AsyncClient`` (``grpc.aio``): the same API, one sync, one async.

Both convert with ``_convert.py``, map errors with ``_map_rpc_errors()`` and share ``_base.py``.
"""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Self

import grpc

from . import _convert
from ._auth import Auth
from ._base import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_RETRIES,
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT_S,
    BaseClient,
    ImageInput,
    _make_stubs,
    _Stubs,
    guess_content_type,
    health_request,
    health_status_name,
    list_models_request,
    read_image,
    server_info_request,
)
from ._errors import _map_rpc_errors
from ._retry import RetryPolicy
from ._types import ModelInfo, ProcessOptions, ProcessResult, ServerInfo

__all__ = ["AsyncClient", "Client"]


class Client(BaseClient):
    """Blocking client of a Datalid server.

    Example::

        with Client("localhost:50051", auth=TokenAuth("s3cret")) as client:
            result = client.process("label.jpg", timeout_s=5)
            print(result.best_date.date if result.best_date else "no date")

    Args:
        target: ``host:port`` of the server.
        auth: Credentials sent with every call (``TokenAuth``, ``ApiKeyAuth``), or None.
        timeout_s: Default deadline of each call, in seconds (None: no deadline). Retries included.
        retries: Retries on UNAVAILABLE (None: no retries).
        secure: Use TLS with the system's root certificates.
        credentials: Explicit ``grpc.ChannelCredentials`` (implies TLS).
        max_message_bytes: Largest message sent or received.
        options: Extra gRPC channel options, ``(name, value)`` pairs.
        sleep: The function retries wait with (tests pass a fake).
        clock: The monotonic clock deadlines are computed with (tests pass a fake).

    Raises:
        ValueError: a setting is out of range.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        auth: Auth | None = None,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
        retries: RetryPolicy | None = DEFAULT_RETRIES,
        secure: bool = False,
        credentials: grpc.ChannelCredentials | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        options: Sequence[tuple[str, Any]] = (),
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            target,
            auth=auth,
            timeout_s=timeout_s,
            retries=retries,
            secure=secure,
            credentials=credentials,
            max_message_bytes=max_message_bytes,
            options=options,
            clock=clock,
        )
        self._sleep = sleep or time.sleep
        if self._credentials is not None:
            self._channel = grpc.secure_channel(target, self._credentials, options=self._channel_options)
        else:
            self._channel = grpc.insecure_channel(target, options=self._channel_options)
        self._stubs = _make_stubs(self._channel)

    def _call(self, method: Callable[..., Any], request: Any, timeout_s: float | None) -> Any:
        self._check_open()
        plan = self._plan(timeout_s)
        with _map_rpc_errors():
            while True:
                try:
                    return method(request, timeout=plan.next_timeout_s(), metadata=self._metadata)
                except grpc.RpcError as exc:
                    delay = plan.retry_delay_s(exc)
                    if delay is None:
                        raise
                self._sleep(delay)

    def process(
        self, image: ImageInput, options: ProcessOptions | None = None, *, timeout_s: float | None = None
    ) -> ProcessResult:
        """Read the dates on one image.

        Args:
            image: Encoded image bytes (JPEG, PNG, WebP, BMP) or the path of an image file.
            options: Per-request options; None leaves every option at the server default.
            timeout_s: Deadline of this call in seconds, retries included (None: the client's default).

        Returns:
            What the server found.

        Raises:
            InvalidInput: the server rejected the image or options (see ``field_violations``).
            DatalidError: any other failed call (see the exception tree in ``datalid_client``).
            OSError: ``image`` is a path that cannot be read.
            RuntimeError: the client is closed.
        """
        self._check_open()
        request = _convert.process_request_to_pb(read_image(image), options)
        return _convert.result_from_pb(self._call(self._stubs.process, request, timeout_s))

    def process_upload(
        self, image: ImageInput, content_type: str | None = None, *, timeout_s: float | None = None
    ) -> ProcessResult:
        """Read one image through ``ProcessUpload`` (a ``google.api.HttpBody``), with server-default options.

        Args:
            image: Encoded image bytes or the path of an image file.
            content_type: MIME type of the image; None guesses it from the bytes.
            timeout_s: Deadline of this call in seconds (None: the client's default).

        Raises:
            The same as ``process``.
        """
        self._check_open()
        data = read_image(image)
        request = _convert.upload_to_pb(data, content_type or guess_content_type(data))
        return _convert.result_from_pb(self._call(self._stubs.process_upload, request, timeout_s))

    def server_info(self, *, timeout_s: float | None = None) -> ServerInfo:
        """What the server reports about itself (version, providers, readiness, limits)."""
        response = self._call(self._stubs.server_info, server_info_request(), timeout_s)
        return _convert.server_info_from_pb(response)

    def list_models(self, *, timeout_s: float | None = None) -> list[ModelInfo]:
        """The models the server has loaded, with their state and execution providers."""
        response = self._call(self._stubs.list_models, list_models_request(), timeout_s)
        return [_convert.model_info_from_pb(m) for m in response.models]

    def health(self, service: str = "", *, timeout_s: float | None = None) -> str:
        """The ``grpc.health.v1`` status of ``service`` ("" is the whole server): ``"SERVING"``, ...

        Raises:
            NotFound: the server does not know ``service``.
        """
        return health_status_name(self._call(self._stubs.health, health_request(service), timeout_s))

    def close(self) -> None:
        """Close the channel. Idempotent; later calls raise RuntimeError."""
        if self.is_closed:
            return
        self._mark_closed()
        self._channel.close()

    def __enter__(self) -> Self:
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(BaseClient):
    """asyncio client of a Datalid server: the same methods as ``Client``, as coroutines.

    The channel is opened on the first call, inside the running event loop. Example::

        async with AsyncClient("localhost:50051") as client:
            result = await client.process(image_bytes, timeout_s=5)

    Args:
        The same as ``Client``; ``sleep`` is a coroutine function (default ``asyncio.sleep``).
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        auth: Auth | None = None,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
        retries: RetryPolicy | None = DEFAULT_RETRIES,
        secure: bool = False,
        credentials: grpc.ChannelCredentials | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        options: Sequence[tuple[str, Any]] = (),
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            target,
            auth=auth,
            timeout_s=timeout_s,
            retries=retries,
            secure=secure,
            credentials=credentials,
            max_message_bytes=max_message_bytes,
            options=options,
            clock=clock,
        )
        self._sleep = sleep or asyncio.sleep
        self._channel: grpc.aio.Channel | None = None
        self._stubs_: _Stubs | None = None

    def _stubs(self) -> _Stubs:
        """The stubs, opening the channel on first use (an aio channel belongs to the running loop)."""
        self._check_open()
        if self._stubs_ is None:
            if self._credentials is not None:
                channel = grpc.aio.secure_channel(
                    self._target, self._credentials, options=self._channel_options
                )
            else:
                channel = grpc.aio.insecure_channel(self._target, options=self._channel_options)
            self._channel = channel
            self._stubs_ = _make_stubs(channel)
        return self._stubs_

    async def _call(self, method: Callable[..., Any], request: Any, timeout_s: float | None) -> Any:
        self._check_open()
        plan = self._plan(timeout_s)
        async with _map_rpc_errors():
            while True:
                try:
                    return await method(request, timeout=plan.next_timeout_s(), metadata=self._metadata)
                except grpc.RpcError as exc:
                    delay = plan.retry_delay_s(exc)
                    if delay is None:
                        raise
                await self._sleep(delay)

    async def process(
        self, image: ImageInput, options: ProcessOptions | None = None, *, timeout_s: float | None = None
    ) -> ProcessResult:
        """Read the dates on one image; see ``Client.process``."""
        stubs = self._stubs()
        data = image if isinstance(image, bytes) else await asyncio.to_thread(read_image, image)
        request = _convert.process_request_to_pb(data, options)
        return _convert.result_from_pb(await self._call(stubs.process, request, timeout_s))

    async def process_upload(
        self, image: ImageInput, content_type: str | None = None, *, timeout_s: float | None = None
    ) -> ProcessResult:
        """Read one image through ``ProcessUpload``; see ``Client.process_upload``."""
        stubs = self._stubs()
        data = image if isinstance(image, bytes) else await asyncio.to_thread(read_image, image)
        request = _convert.upload_to_pb(data, content_type or guess_content_type(data))
        return _convert.result_from_pb(await self._call(stubs.process_upload, request, timeout_s))

    async def server_info(self, *, timeout_s: float | None = None) -> ServerInfo:
        """What the server reports about itself; see ``Client.server_info``."""
        response = await self._call(self._stubs().server_info, server_info_request(), timeout_s)
        return _convert.server_info_from_pb(response)

    async def list_models(self, *, timeout_s: float | None = None) -> list[ModelInfo]:
        """The models the server has loaded; see ``Client.list_models``."""
        response = await self._call(self._stubs().list_models, list_models_request(), timeout_s)
        return [_convert.model_info_from_pb(m) for m in response.models]

    async def health(self, service: str = "", *, timeout_s: float | None = None) -> str:
        """The ``grpc.health.v1`` status of ``service``; see ``Client.health``."""
        response = await self._call(self._stubs().health, health_request(service), timeout_s)
        return health_status_name(response)

    async def close(self) -> None:
        """Close the channel. Idempotent; later calls raise RuntimeError."""
        if self.is_closed:
            return
        self._mark_closed()
        if self._channel is not None:
            await self._channel.close()

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        await self.close()
