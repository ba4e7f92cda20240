"""ExpiryDateService: reads expiry dates from images sent by callers."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.api import httpbody_pb2

from datalid.v1 import expiry_date_service_pb2, expiry_date_service_pb2_grpc, types_pb2
from pipeline import InvalidInput, Overloaded, Priority, Stage, StageEvent
from server import convert
from server.config import ServerConfig
from server.errors import abort_with, grpc_errors, rich_status, status_of_exception
from server.host import PipelineHost
from server.interceptors.access_log import REQUEST_ID_HEADER
from server.interceptors.rate_limit import peer_host
from server.request_context import ANONYMOUS, principal_var, request_id_var
from server.streams import FrameStream, StreamIdle, StreamSlots
from server.urlfetch import UrlFetcher, UrlPolicy

__all__ = ["ExpiryDateService", "url_fetcher"]

_PROGRESS_STAGE = {
    Stage.DECODED: expiry_date_service_pb2.PROGRESS_STAGE_DECODED,
    Stage.REGIONS_DETECTED: expiry_date_service_pb2.PROGRESS_STAGE_REGIONS_DETECTED,
    Stage.TEXT_READ: expiry_date_service_pb2.PROGRESS_STAGE_TEXT_READ,
    Stage.DATES_PARSED: expiry_date_service_pb2.PROGRESS_STAGE_DATES_PARSED,
}

# ProcessUpload accepts what a camera or a browser sends for a photo; the decoder checks the bytes.
_UPLOAD_CONTENT_TYPES = ("image/", "application/octet-stream")


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    """The call's gRPC deadline as a ``time.monotonic()`` value, the form the pipeline takes."""
    remaining_s = context.time_remaining()
    return None if remaining_s is None else time.monotonic() + remaining_s


class _StreamWriter:
    """Sends a server stream's messages from inside its handler (grpc.aio's read/write API).

    Why not ``yield``: grpc.aio writes a yielded message outside the handler, while the handler
    and every interceptor's generator around it wait at their ``yield``. A call that ends during
    that write (the client stopped reading, then cancelled) never reaches them again: their
    ``finally`` blocks (the stream's slot, the open-streams gauge, the frames being read) wait for
    the garbage collector, 30-70 s, and grpc logs the failed write as an ERROR. Written here, the
    write is awaited inside the handler, so the call's end arrives as CancelledError through the
    handler and every interceptor at once.
    """

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context
        self._started = False

    async def __call__(self, message: Any) -> None:
        if not self._started:
            # As the access log does for a stream's first message: the request id goes out with the
            # headers, and those go with the first message, so a stream that fails before any
            # message stays a trailers-only response (which HTTP gateways map to a status).
            await self._context.send_initial_metadata(((REQUEST_ID_HEADER, request_id_var.get()),))
            self._started = True
        try:
            await self._context.write(message)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            # A write fails only once the call is over: the client cancelled or went away, and
            # grpc.aio reports that as a failed batch, racing its own cancellation of the handler.
            # End as the cancellation it is: logged CANCELLED, without a traceback.
            raise asyncio.CancelledError("the call ended while a message was being sent") from exc


def _stream_key(context: grpc.aio.ServicerContext) -> str:
    """Whose stream slots a call uses: the principal, or for anonymous callers their address.

    Anonymous callers all share one principal; counted together, a few cameras would lock every
    other anonymous caller out of streaming (rate limits key them by address the same way).
    """
    principal = principal_var.get() or ANONYMOUS
    if principal.kind == "anonymous":
        return f"{principal.id}@{peer_host(context.peer())}"
    return principal.id


def url_fetcher(config: ServerConfig) -> UrlFetcher:
    """The URL fetcher ``config`` describes (shared by ProcessUrl and URL jobs)."""
    return UrlFetcher(
        UrlPolicy(
            allow_http=config.url_allow_http,
            allow_hosts=config.url_allow_hosts,
            max_bytes=min(config.url_max_bytes, config.pipeline.decode.max_image_bytes),
            timeout_s=config.url_timeout_s,
            max_redirects=config.url_max_redirects,
            ca_file=config.url_ca_file,
            max_concurrent=config.url_max_concurrent,
        )
    )


class ExpiryDateService(expiry_date_service_pb2_grpc.ExpiryDateServiceServicer):
    """Serves every ExpiryDateService call: single images, URLs, batches, progress and camera streams.

    Args:
        host: gives the loaded pipeline.
        config: limits of batches, streams and URL fetches.
        fetcher: fetches ProcessUrl's images (default: built from ``config``).
        today: the server's date, the default reference for is_expired (injected for tests).
    """

    def __init__(
        self,
        host: PipelineHost,
        config: ServerConfig | None = None,
        fetcher: UrlFetcher | None = None,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self._host = host
        self._config = config or ServerConfig()
        self._fetcher = fetcher or url_fetcher(self._config)
        self._today = today
        self._streams = StreamSlots(self._config.stream_max_per_principal)

    async def _process(
        self,
        image: bytes,
        options: types_pb2.ProcessOptions,
        deadline: float | None,
        on_stage: Callable[[StageEvent], None] | None = None,
    ) -> types_pb2.ProcessResponse:
        pipeline_options = convert.options_from_pb(options, self._today())
        result = await self._host.pipeline.aprocess(
            image,
            pipeline_options,
            deadline=deadline,
            priority=Priority.INTERACTIVE,
            on_stage=on_stage,
        )
        response = convert.result_to_pb(result, request_id_var.get())
        convert.fit_pictures(response, [response], self._config.max_message_bytes)
        return response

    @grpc_errors
    async def Process(
        self, request: types_pb2.ProcessRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ProcessResponse:
        return await self._process(request.image, request.options, _deadline(context))

    @grpc_errors
    async def ProcessUpload(
        self, request: httpbody_pb2.HttpBody, context: grpc.aio.ServicerContext
    ) -> types_pb2.ProcessResponse:
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type and not content_type.startswith(_UPLOAD_CONTENT_TYPES):
            raise InvalidInput("content_type", f"must be an image type, got {request.content_type!r}")
        return await self._process(request.data, types_pb2.ProcessOptions(), _deadline(context))

    @grpc_errors
    async def ProcessUrl(
        self, request: expiry_date_service_pb2.ProcessUrlRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ProcessResponse:
        # Options first: a malformed option should not cost a fetch.
        convert.options_from_pb(request.options, self._today())
        image = await self._fetcher.fetch(request.url)
        return await self._process(image, request.options, _deadline(context))

    @grpc_errors
    async def ProcessBatch(
        self, request_iterator: AsyncIterator[types_pb2.ProcessRequest], context: grpc.aio.ServicerContext
    ) -> expiry_date_service_pb2.ProcessBatchResponse:
        # Items start as they arrive (at most batch_concurrency at once) while the rest still upload.
        slots = asyncio.Semaphore(self._config.batch_concurrency)
        deadline = _deadline(context)
        tasks: list[asyncio.Task[expiry_date_service_pb2.ProcessBatchItem]] = []
        total_bytes = 0
        try:
            async for request in request_iterator:
                if len(tasks) >= self._config.batch_max_items:
                    raise InvalidInput(
                        "requests", f"a batch holds at most {self._config.batch_max_items} items"
                    )
                total_bytes += len(request.image)
                if total_bytes > self._config.batch_max_bytes:
                    raise InvalidInput(
                        "requests", f"a batch holds at most {self._config.batch_max_bytes} bytes of images"
                    )
                tasks.append(asyncio.create_task(self._batch_item(len(tasks), request, slots, deadline)))
            items = await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
        response = expiry_date_service_pb2.ProcessBatchResponse(items=items)
        # The one part of the answer without a bound of its own: each item's pictures.
        results = [item.result for item in response.items if item.HasField("result")]
        convert.fit_pictures(response, results, self._config.max_message_bytes)
        return response

    async def _batch_item(
        self,
        index: int,
        request: types_pb2.ProcessRequest,
        slots: asyncio.Semaphore,
        deadline: float | None,
    ) -> expiry_date_service_pb2.ProcessBatchItem:
        async with slots:
            try:
                result = await self._process(request.image, request.options, deadline)
            except Exception as exc:  # this item's error; the others still answer
                return expiry_date_service_pb2.ProcessBatchItem(index=index, error=status_of_exception(exc))
        return expiry_date_service_pb2.ProcessBatchItem(index=index, result=result)

    @grpc_errors
    async def ProcessWithProgress(
        self, request: types_pb2.ProcessRequest, context: grpc.aio.ServicerContext
    ) -> None:
        # Each stage event is sent as the pipeline reports it, while the later stages still run;
        # None marks the end of the work, whether it succeeded or raised. Sent with
        # _StreamWriter: the work stops the moment the call ends.
        send = _StreamWriter(context)
        started = time.perf_counter()
        events: asyncio.Queue[StageEvent | None] = asyncio.Queue()  # at most one per Stage, and None
        work = asyncio.ensure_future(
            self._process(request.image, request.options, _deadline(context), events.put_nowait)
        )
        work.add_done_callback(lambda _: events.put_nowait(None))
        try:
            while (event := await events.get()) is not None:
                await send(
                    expiry_date_service_pb2.ProgressEvent(
                        stage=_PROGRESS_STAGE[event.stage],
                        elapsed_ms=(time.perf_counter() - started) * 1000,
                        message=event.message,
                    )
                )
            response = await work
        finally:
            work.cancel()
        completed = expiry_date_service_pb2.ProgressEvent(
            stage=expiry_date_service_pb2.PROGRESS_STAGE_COMPLETED,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            message="completed",
            result=response,
        )
        convert.fit_pictures(completed, [completed.result], self._config.max_message_bytes)
        await send(completed)

    @grpc_errors
    async def StreamFrames(
        self,
        request_iterator: AsyncIterator[expiry_date_service_pb2.Frame],
        context: grpc.aio.ServicerContext,
    ) -> None:
        # Results are sent with _StreamWriter, so a call that ends while a result waits to be sent
        # gives its slot back and stops its work at once.
        with self._streams.hold(_stream_key(context), Overloaded):
            stream = FrameStream(
                self._host,
                request_id=request_id_var.get(),
                idle_timeout_s=self._config.stream_idle_timeout_s,
                fusion_window=self._config.stream_fusion_window,
                deadline=_deadline(context),
                today=self._today,
                max_buffered=self._config.stream_max_buffered_frames,
                max_message_bytes=self._config.max_message_bytes,
            )
            try:
                await stream.run(request_iterator, _StreamWriter(context))
            except StreamIdle as exc:
                await abort_with(context, rich_status(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc)))
