"""``Client`` (blocking, ``grpc``) and ``AsyncClient`` (``grpc.aio``): the same API, one sync, one async.

Both convert with ``_convert.py``, map errors with ``_map_rpc_errors()`` and share ``_base.py``.

Streaming calls (``process_with_progress``, ``stream_frames``, ``watch_job``) return iterators
(``AsyncClient``: async iterators). The call starts when iteration starts and is cancelled when the
iterator is closed or dropped early. Errors map to the same ``DatalidError`` subclasses while
iterating, including an error the server sends after some messages. Retries:

- unary calls retry UNAVAILABLE per the client's ``RetryPolicy``, except ``create_job`` (not
  idempotent: it is attempted once);
- server streams with a single request (``process_with_progress``, ``watch_job``) retry UNAVAILABLE
  only before the first message arrives; once a message was delivered an error is raised as is;
- client streams (``process_batch``, ``stream_frames``) are never retried: their input iterator
  has been consumed.

Deadlines: ``timeout_s`` covers the whole call. ``process_batch`` and ``process_with_progress``
default to the client's ``timeout_s``; the long-lived ``stream_frames`` and ``watch_job`` have no
deadline unless ``timeout_s`` is given.
"""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Self, TypeVar

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
    _RequestErrors,
    _Stubs,
    check_image_iterable,
    guess_content_type,
    health_request,
    health_status_name,
    list_models_request,
    read_image,
    server_info_request,
)
from ._errors import _map_rpc_errors
from ._retry import RetryPolicy, _CallPlan
from ._types import (
    BatchItem,
    Frame,
    FrameResult,
    Job,
    JobPage,
    JobState,
    ModelInfo,
    ProcessOptions,
    ProcessResult,
    ProgressEvent,
    ServerInfo,
)

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")
_END = object()


async def _aread_image(image: ImageInput) -> bytes:
    return image if isinstance(image, bytes) else await asyncio.to_thread(read_image, image)


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

    def _call(
        self, method: Callable[..., Any], request: Any, timeout_s: float | None, *, retry: bool = True
    ) -> Any:
        self._check_open()
        plan = self._plan(timeout_s, retry=retry)
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
        self,
        image: ImageInput,
        content_type: str | None = None,
        *,
        options: ProcessOptions | None = None,
        timeout_s: float | None = None,
    ) -> ProcessResult:
        """Read one image through ``ProcessUpload`` (the image as a ``google.api.HttpBody``).

        Args:
            image: Encoded image bytes or the path of an image file.
            content_type: MIME type of the image; None guesses it from the bytes.
            options: Per-request options; None uses the server's defaults.
            timeout_s: Deadline of this call in seconds (None: the client's default).

        Raises:
            The same as ``process``.
        """
        self._check_open()
        data = read_image(image)
        request = _convert.upload_to_pb(data, content_type or guess_content_type(data), options)
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

    def _stream(
        self,
        start: Callable[[float | None], Any],
        plan: _CallPlan,
        convert: Callable[[Any], T],
        requests: _RequestErrors | None = None,
    ) -> Iterator[T]:
        """Iterate a response stream: retry before the first message as ``plan`` allows, map errors,
        report the caller's request-iterator exception as itself, cancel the call when closed early."""
        call = None
        with _map_rpc_errors():
            try:
                while True:
                    call = start(plan.next_timeout_s())
                    try:
                        first = next(call, _END)
                        break
                    except grpc.RpcError as exc:
                        delay = None if requests is not None else plan.retry_delay_s(exc)
                        if delay is None:
                            raise
                    self._sleep(delay)
                if first is _END:
                    return
                yield convert(first)
                for message in call:
                    yield convert(message)
            except grpc.RpcError:
                if requests is not None and requests.error is not None:
                    raise requests.error from None
                raise
            finally:
                if call is not None:
                    call.cancel()

    def process_url(
        self, url: str, options: ProcessOptions | None = None, *, timeout_s: float | None = None
    ) -> ProcessResult:
        """Have the server fetch an https image URL and read it.

        Raises:
            InvalidInput: the URL is not https, cannot be fetched or is not an image.
            DatalidError: any other failed call.
        """
        request = _convert.process_url_to_pb(url, options)
        return _convert.result_from_pb(self._call(self._stubs.process_url, request, timeout_s))

    def process_batch(
        self,
        images: Iterable[ImageInput],
        options: ProcessOptions | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[BatchItem]:
        """Read many images in one ``ProcessBatch`` call; one ``BatchItem`` per image, by index.

        A failed image does not fail the call: its item carries the ``DatalidError`` that ``process``
        would have raised. Paths are read while the images are sent. Not retried (see the module doc).

        Args:
            images: Encoded image bytes or paths, any iterable (read lazily).
            options: Options for every image (None: server defaults).
            timeout_s: Deadline of the whole call (None: the client's default).

        Returns:
            The items in index order.

        Raises:
            DatalidError: the call itself failed (e.g. ``Unavailable``, ``DeadlineExceeded``).
            OSError: a path cannot be read (the call is cancelled).
            TypeError: ``images`` is a single image, not an iterable of them.
            RuntimeError: the client is closed.
        """
        self._check_open()
        check_image_iterable(images)
        plan = self._plan(timeout_s, retry=False)
        requests = _RequestErrors()
        stream = requests.pump(
            images, lambda image: _convert.process_request_to_pb(read_image(image), options)
        )
        with _map_rpc_errors():
            try:
                response = self._stubs.process_batch(
                    stream, timeout=plan.next_timeout_s(), metadata=self._metadata
                )
            except grpc.RpcError:
                if requests.error is not None:
                    raise requests.error from None
                raise
        return _convert.batch_items_from_pb(response)

    def process_with_progress(
        self, image: ImageInput, options: ProcessOptions | None = None, *, timeout_s: float | None = None
    ) -> Iterator[ProgressEvent]:
        """Read one image and yield each pipeline stage as the server reports it.

        The last event has ``stage == ProgressStage.COMPLETED`` and carries the ``result``; a call
        that fails after events ends with a ``FAILED`` event carrying the ``error``, then raises it.

        Raises:
            DatalidError: the call failed, before or between events (raised while iterating).
            OSError: ``image`` is a path that cannot be read (raised here, before iterating).
        """
        self._check_open()
        request = _convert.process_request_to_pb(read_image(image), options)
        plan = self._plan(timeout_s)
        method = self._stubs.process_with_progress

        def start(timeout: float | None) -> Any:
            return method(request, timeout=timeout, metadata=self._metadata)

        return self._stream(start, plan, _convert.progress_event_from_pb)

    def stream_frames(
        self, frames: Iterable[Frame], *, timeout_s: float | None = None
    ) -> Iterator[FrameResult]:
        """Send camera frames and yield one ``FrameResult`` per frame, in frame order.

        ``frames`` is consumed on a gRPC thread as the server asks for more, so a generator reading a
        camera works. A frame that fails comes back with ``FrameResult.error`` and the stream goes
        on; an exception raised by ``frames`` itself ends the stream and is re-raised here.

        Args:
            frames: ``datalid_client.Frame`` items.
            timeout_s: Deadline of the whole stream (None: none).

        Raises:
            DatalidError: the stream failed (raised while iterating). Never retried.
        """
        self._check_open()
        plan = self._open_ended_plan(timeout_s, retry=False)
        requests = _RequestErrors()
        method = self._stubs.stream_frames

        def start(timeout: float | None) -> Any:
            stream = requests.pump(frames, _convert.frame_to_pb)
            return method(stream, timeout=timeout, metadata=self._metadata)

        return self._stream(start, plan, _convert.frame_result_from_pb, requests)

    def create_job(
        self,
        image: ImageInput | None = None,
        *,
        url: str | None = None,
        options: ProcessOptions | None = None,
        timeout_s: float | None = None,
    ) -> Job:
        """Submit a persistent job for an image (bytes or path) or an https ``url``; exactly one.

        Attempted once (a retry could create a second job).

        Raises:
            ValueError: neither or both of ``image`` and ``url`` were given.
            InvalidInput, ResourceExhausted, DatalidError: the server refused the job.
        """
        self._check_open()
        data = read_image(image) if image is not None else None
        request = _convert.create_job_to_pb(data, url, options)
        return _convert.job_from_pb(self._call(self._stubs.create_job, request, timeout_s, retry=False))

    def get_job(self, job_id: str, *, timeout_s: float | None = None) -> Job:
        """The job as it is now. Raises ``NotFound`` for an unknown (or deleted) job."""
        request = _convert.job_id_request("Get", job_id)
        return _convert.job_from_pb(self._call(self._stubs.get_job, request, timeout_s))

    def list_jobs(
        self,
        state: JobState | str | None = None,
        *,
        page_size: int | None = None,
        page_token: str | None = None,
        timeout_s: float | None = None,
    ) -> JobPage:
        """One page of the caller's jobs, optionally only those in ``state``; see ``iter_jobs``.

        Raises:
            ValueError: unknown ``state`` or ``page_size`` < 1.
            InvalidInput: ``page_token`` is not one a previous call returned.
        """
        request = _convert.list_jobs_to_pb(state, page_size, page_token)
        return _convert.job_page_from_pb(self._call(self._stubs.list_jobs, request, timeout_s))

    def iter_jobs(
        self,
        state: JobState | str | None = None,
        *,
        page_size: int | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[Job]:
        """Every job of every page, fetching the next page when the previous one is used up.

        ``timeout_s`` applies to each page's call.
        """
        _convert.list_jobs_to_pb(state, page_size, None)  # validate now, not on the first next()
        return self._iter_jobs(state, page_size, timeout_s)

    def _iter_jobs(
        self, state: JobState | str | None, page_size: int | None, timeout_s: float | None
    ) -> Iterator[Job]:
        token: str | None = None
        while True:
            page = self.list_jobs(state, page_size=page_size, page_token=token, timeout_s=timeout_s)
            yield from page.jobs
            if page.next_page_token is None:
                return
            token = page.next_page_token

    def cancel_job(self, job_id: str, *, timeout_s: float | None = None) -> Job:
        """Cancel a job: a queued job never runs, a running one stops at the next stage. Returns it."""
        request = _convert.job_id_request("Cancel", job_id)
        return _convert.job_from_pb(self._call(self._stubs.cancel_job, request, timeout_s))

    def delete_job(self, job_id: str, *, timeout_s: float | None = None) -> None:
        """Forget a job and its result. Raises ``NotFound`` for an unknown job."""
        self._call(self._stubs.delete_job, _convert.job_id_request("Delete", job_id), timeout_s)

    def watch_job(self, job_id: str, *, timeout_s: float | None = None) -> Iterator[Job]:
        """Yield the job at every state change until it ends (the last one has ``state.is_final``).

        Args:
            job_id: The job.
            timeout_s: Deadline of the whole watch (None: none).

        Raises:
            NotFound: unknown job (raised while iterating).
            DatalidError: the watch failed, before or between updates.
        """
        self._check_open()
        request = _convert.job_id_request("Watch", job_id)
        plan = self._open_ended_plan(timeout_s, retry=True)
        method = self._stubs.watch_job

        def start(timeout: float | None) -> Any:
            return method(request, timeout=timeout, metadata=self._metadata)

        return self._stream(start, plan, _convert.job_from_pb)

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

    async def _call(
        self, method: Callable[..., Any], request: Any, timeout_s: float | None, *, retry: bool = True
    ) -> Any:
        self._check_open()
        plan = self._plan(timeout_s, retry=retry)
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
        self,
        image: ImageInput,
        content_type: str | None = None,
        *,
        options: ProcessOptions | None = None,
        timeout_s: float | None = None,
    ) -> ProcessResult:
        """Read one image through ``ProcessUpload``; see ``Client.process_upload``."""
        stubs = self._stubs()
        data = image if isinstance(image, bytes) else await asyncio.to_thread(read_image, image)
        request = _convert.upload_to_pb(data, content_type or guess_content_type(data), options)
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

    async def _stream(
        self,
        start: Callable[[_Stubs, float | None], Awaitable[Any]],
        plan: _CallPlan,
        convert: Callable[[Any], T],
        requests: _RequestErrors | None = None,
    ) -> AsyncIterator[T]:
        """The async ``Client._stream``. A request iterator that raised makes grpc.aio cancel the call
        (``asyncio.CancelledError`` from ``read()``); that exception is raised instead."""
        call = None
        async with _map_rpc_errors():
            try:
                while True:
                    call = await start(self._stubs(), plan.next_timeout_s())
                    try:
                        first = await call.read()
                        break
                    except grpc.RpcError as exc:
                        delay = None if requests is not None else plan.retry_delay_s(exc)
                        if delay is None:
                            raise
                    await self._sleep(delay)
                if first is grpc.aio.EOF:
                    return
                yield convert(first)
                while (message := await call.read()) is not grpc.aio.EOF:
                    yield convert(message)
            except (grpc.RpcError, asyncio.CancelledError):
                if requests is not None and requests.error is not None:
                    raise requests.error from None
                raise
            finally:
                if call is not None:
                    call.cancel()

    async def process_url(
        self, url: str, options: ProcessOptions | None = None, *, timeout_s: float | None = None
    ) -> ProcessResult:
        """Have the server fetch an https image URL and read it; see ``Client.process_url``."""
        request = _convert.process_url_to_pb(url, options)
        return _convert.result_from_pb(await self._call(self._stubs().process_url, request, timeout_s))

    async def process_batch(
        self,
        images: Iterable[ImageInput] | AsyncIterable[ImageInput],
        options: ProcessOptions | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[BatchItem]:
        """Read many images in one call, one ``BatchItem`` per image; see ``Client.process_batch``.

        ``images`` may also be an async iterable.
        """
        check_image_iterable(images)
        stubs = self._stubs()
        plan = self._plan(timeout_s, retry=False)
        requests = _RequestErrors()

        async def convert(image: ImageInput) -> Any:
            return _convert.process_request_to_pb(await _aread_image(image), options)

        async with _map_rpc_errors():
            try:
                response = await stubs.process_batch(
                    requests.apump(images, convert), timeout=plan.next_timeout_s(), metadata=self._metadata
                )
            except (grpc.RpcError, asyncio.CancelledError):
                if requests.error is not None:
                    raise requests.error from None
                raise
        return _convert.batch_items_from_pb(response)

    def process_with_progress(
        self, image: ImageInput, options: ProcessOptions | None = None, *, timeout_s: float | None = None
    ) -> AsyncIterator[ProgressEvent]:
        """Read one image, yielding each stage; see ``Client.process_with_progress``.

        Use it as ``async for event in client.process_with_progress(image):``; a path is read when
        iteration starts.
        """
        self._check_open()
        plan = self._plan(timeout_s)

        async def start(stubs: _Stubs, timeout: float | None) -> Any:
            request = _convert.process_request_to_pb(await _aread_image(image), options)
            return stubs.process_with_progress(request, timeout=timeout, metadata=self._metadata)

        return self._stream(start, plan, _convert.progress_event_from_pb)

    def stream_frames(
        self, frames: Iterable[Frame] | AsyncIterable[Frame], *, timeout_s: float | None = None
    ) -> AsyncIterator[FrameResult]:
        """Send frames (a sync or async iterable), yielding one ``FrameResult`` per frame.

        See ``Client.stream_frames``; use it as ``async for result in client.stream_frames(frames):``.
        """
        self._check_open()
        plan = self._open_ended_plan(timeout_s, retry=False)
        requests = _RequestErrors()

        async def convert(frame: Frame) -> Any:
            return _convert.frame_to_pb(frame)

        async def start(stubs: _Stubs, timeout: float | None) -> Any:
            stream = requests.apump(frames, convert)
            return stubs.stream_frames(stream, timeout=timeout, metadata=self._metadata)

        return self._stream(start, plan, _convert.frame_result_from_pb, requests)

    async def create_job(
        self,
        image: ImageInput | None = None,
        *,
        url: str | None = None,
        options: ProcessOptions | None = None,
        timeout_s: float | None = None,
    ) -> Job:
        """Submit a job for an image or an https ``url``; see ``Client.create_job``."""
        stubs = self._stubs()
        data = await _aread_image(image) if image is not None else None
        request = _convert.create_job_to_pb(data, url, options)
        return _convert.job_from_pb(await self._call(stubs.create_job, request, timeout_s, retry=False))

    async def get_job(self, job_id: str, *, timeout_s: float | None = None) -> Job:
        """The job as it is now; see ``Client.get_job``."""
        request = _convert.job_id_request("Get", job_id)
        return _convert.job_from_pb(await self._call(self._stubs().get_job, request, timeout_s))

    async def list_jobs(
        self,
        state: JobState | str | None = None,
        *,
        page_size: int | None = None,
        page_token: str | None = None,
        timeout_s: float | None = None,
    ) -> JobPage:
        """One page of jobs; see ``Client.list_jobs``."""
        request = _convert.list_jobs_to_pb(state, page_size, page_token)
        return _convert.job_page_from_pb(await self._call(self._stubs().list_jobs, request, timeout_s))

    def iter_jobs(
        self,
        state: JobState | str | None = None,
        *,
        page_size: int | None = None,
        timeout_s: float | None = None,
    ) -> AsyncIterator[Job]:
        """Every job of every page, as ``async for job in client.iter_jobs():``; see ``Client.iter_jobs``."""
        _convert.list_jobs_to_pb(state, page_size, None)
        return self._iter_jobs(state, page_size, timeout_s)

    async def _iter_jobs(
        self, state: JobState | str | None, page_size: int | None, timeout_s: float | None
    ) -> AsyncIterator[Job]:
        token: str | None = None
        while True:
            page = await self.list_jobs(state, page_size=page_size, page_token=token, timeout_s=timeout_s)
            for job in page.jobs:
                yield job
            if page.next_page_token is None:
                return
            token = page.next_page_token

    async def cancel_job(self, job_id: str, *, timeout_s: float | None = None) -> Job:
        """Cancel a job; see ``Client.cancel_job``."""
        request = _convert.job_id_request("Cancel", job_id)
        return _convert.job_from_pb(await self._call(self._stubs().cancel_job, request, timeout_s))

    async def delete_job(self, job_id: str, *, timeout_s: float | None = None) -> None:
        """Forget a job; see ``Client.delete_job``."""
        await self._call(self._stubs().delete_job, _convert.job_id_request("Delete", job_id), timeout_s)

    def watch_job(self, job_id: str, *, timeout_s: float | None = None) -> AsyncIterator[Job]:
        """Yield the job at every state change until it ends; see ``Client.watch_job``."""
        self._check_open()
        request = _convert.job_id_request("Watch", job_id)
        plan = self._open_ended_plan(timeout_s, retry=True)

        async def start(stubs: _Stubs, timeout: float | None) -> Any:
            return stubs.watch_job(request, timeout=timeout, metadata=self._metadata)

        return self._stream(start, plan, _convert.job_from_pb)

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
