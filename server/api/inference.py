"""ExpiryDateService: reads expiry dates from images sent by callers."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable

import grpc

from datalid.v1 import expiry_date_service_pb2, expiry_date_service_pb2_grpc, types_pb2
from pipeline import DeadlineExceeded, InvalidInput, Overloaded, Priority, ProcessOptions, Stage, StageEvent
from server import convert
from server.api.calls import deadline_of, priority_of, slot_key
from server.api.stream_writer import StreamWriter
from server.api.streams import FrameStream, StreamIdle, StreamSlots
from server.config import ServerConfig
from server.errors import abort_with, grpc_errors, rich_status, status_of_exception
from server.fetch.fetcher import UrlFetcher, UrlPolicy
from server.host import PipelineHost
from server.request_context import request_id_var

__all__ = ["ExpiryDateService", "url_fetcher"]

_PROGRESS_STAGE = {
    Stage.DECODED: expiry_date_service_pb2.PROGRESS_STAGE_DECODED,
    Stage.REGIONS_DETECTED: expiry_date_service_pb2.PROGRESS_STAGE_REGIONS_DETECTED,
    Stage.TEXT_READ: expiry_date_service_pb2.PROGRESS_STAGE_TEXT_READ,
    Stage.DATES_PARSED: expiry_date_service_pb2.PROGRESS_STAGE_DATES_PARSED,
}

# How long before a progress call's deadline its work stops, so that the error can still go out as
# the stream's last event (PROGRESS_STAGE_FAILED): one message write on a local connection.
_FAILED_EVENT_MARGIN_S = 0.05
# ProcessUpload accepts what a camera or a browser sends for a photo; the decoder checks the bytes.
_UPLOAD_CONTENT_TYPES = ("image/", "application/octet-stream")


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

    def _options(self, options: types_pb2.ProcessOptions) -> ProcessOptions:
        """The pipeline's options for a request's ``options``.

        Raises:
            InvalidInput: a field is out of range or malformed (``options.max_detections`` over
                the server's ``max_detections_limit`` included); the error names it.
        """
        return convert.options_from_pb(
            options, self._today(), max_detections_limit=self._config.max_detections_limit
        )

    async def _process(
        self,
        image: bytes,
        options: types_pb2.ProcessOptions,
        deadline: float | None,
        on_stage: Callable[[StageEvent], None] | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> types_pb2.ProcessResponse:
        pipeline_options = self._options(options)
        result = await self._host.pipeline.aprocess(
            image,
            pipeline_options,
            deadline=deadline,
            priority=priority,
            on_stage=on_stage,
        )
        return convert.result_to_pb(result, request_id_var.get())

    async def _answer(
        self,
        image: bytes,
        options: types_pb2.ProcessOptions,
        deadline: float | None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> types_pb2.ProcessResponse:
        """A unary call's response, its pictures fitted to the message limit. Batches and progress
        events fit their whole message once instead (a response that fits inside them fits alone)."""
        response = await self._process(image, options, deadline, priority=priority)
        convert.fit_pictures(response, self._config.max_message_bytes)
        return response

    @grpc_errors
    async def Process(
        self, request: types_pb2.ProcessRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ProcessResponse:
        return await self._answer(request.image, request.options, deadline_of(context), priority_of(context))

    @grpc_errors
    async def ProcessUpload(
        self, request: expiry_date_service_pb2.ProcessUploadRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ProcessResponse:
        body = request.body
        content_type = body.content_type.split(";")[0].strip().lower()
        if content_type and not content_type.startswith(_UPLOAD_CONTENT_TYPES):
            raise InvalidInput("body.content_type", f"must be an image type, got {body.content_type!r}")
        try:
            return await self._answer(body.data, request.options, deadline_of(context))
        except InvalidInput as exc:
            if exc.field != "image":
                raise
            # The image of this request is body.data (over REST: the request's body itself).
            raise InvalidInput("body.data", exc.description) from None

    @grpc_errors
    async def ProcessUrl(
        self, request: expiry_date_service_pb2.ProcessUrlRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ProcessResponse:
        # Options first: a malformed option should not cost a fetch.
        self._options(request.options)
        image = await self._fetcher.fetch(request.url)
        return await self._answer(image, request.options, deadline_of(context))

    @grpc_errors
    async def ProcessBatch(
        self, request_iterator: AsyncIterator[types_pb2.ProcessRequest], context: grpc.aio.ServicerContext
    ) -> expiry_date_service_pb2.ProcessBatchResponse:
        # Items start as they arrive (at most batch_concurrency at once) while the rest still upload.
        slots = asyncio.Semaphore(self._config.batch_concurrency)
        deadline = deadline_of(context)
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
        convert.fit_pictures(response, self._config.max_message_bytes)
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
        # StreamWriter: the work stops the moment the call ends.
        send = StreamWriter(context)
        started = time.perf_counter()
        events: asyncio.Queue[StageEvent | None] = asyncio.Queue()  # at most one per Stage, and None
        deadline = deadline_of(context)
        if deadline is not None:
            # The work stops a little before the call's deadline, so that a failed stream still
            # has the time to say so in its last event (see below).
            deadline -= _FAILED_EVENT_MARGIN_S
        work = asyncio.ensure_future(
            self._process(request.image, request.options, deadline, events.put_nowait)
        )
        work.add_done_callback(lambda _: events.put_nowait(None))
        try:
            # The pipeline checks the deadline only before work starts; a stage already running
            # (OCR) would run past it and gRPC would end the call with nothing said in-band. The
            # loop's clock is time.monotonic, the clock of ``deadline``.
            async with asyncio.timeout_at(deadline):
                while (event := await events.get()) is not None:
                    await send(
                        expiry_date_service_pb2.ProgressEvent(
                            stage=_PROGRESS_STAGE[event.stage],
                            elapsed_ms=(time.perf_counter() - started) * 1000,
                            message=event.message,
                        )
                    )
                response = await work
        except TimeoutError:
            await self._progress_failed(send, context, started, DeadlineExceeded("the deadline passed"))
            raise
        except Exception as exc:
            await self._progress_failed(send, context, started, exc)
            raise
        finally:
            work.cancel()
        completed = expiry_date_service_pb2.ProgressEvent(
            stage=expiry_date_service_pb2.PROGRESS_STAGE_COMPLETED,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            message="completed",
            result=response,
        )
        convert.fit_pictures(completed, self._config.max_message_bytes)
        await send(completed)

    async def _progress_failed(
        self, send: StreamWriter, context: grpc.aio.ServicerContext, started: float, error: Exception
    ) -> None:
        """Ends a progress call that failed with ``error`` after events went out; returns (and the
        caller re-raises) when none did.

        Before the first event the call fails trailers-only, which REST turns into an HTTP error
        status. After it the HTTP status (REST: 200) went out too: the error becomes the last
        event, where an NDJSON reader sees it, and the call ends with the same status.

        Raises:
            grpc.aio.AbortError: the call was ended with ``error``'s status.
            DeadlineExceeded: ``error`` is the deadline and no event went out (the error mapping
                answers it).
        """
        if not send.started:
            if isinstance(error, DeadlineExceeded):
                raise error
            return
        status = status_of_exception(error)
        failed = expiry_date_service_pb2.ProgressEvent(
            stage=expiry_date_service_pb2.PROGRESS_STAGE_FAILED,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            message="failed",
            error=status,
        )
        await send(failed)
        await abort_with(context, status)

    @grpc_errors
    async def StreamFrames(
        self,
        request_iterator: AsyncIterator[expiry_date_service_pb2.Frame],
        context: grpc.aio.ServicerContext,
    ) -> None:
        # Results are sent with StreamWriter, so a call that ends while a result waits to be sent
        # gives its slot back and stops its work at once.
        with self._streams.hold(slot_key(), Overloaded):
            stream = FrameStream(
                self._host,
                request_id=request_id_var.get(),
                idle_timeout_s=self._config.stream_idle_timeout_s,
                fusion_window=self._config.stream_fusion_window,
                deadline=deadline_of(context),
                today=self._today,
                max_buffered=self._config.stream_max_buffered_frames,
                max_message_bytes=self._config.max_message_bytes,
                max_detections_limit=self._config.max_detections_limit,
            )
            try:
                await stream.run(request_iterator, StreamWriter(context))
            except StreamIdle as exc:
                await abort_with(context, rich_status(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc)))
