"""JobService: persistent asynchronous jobs, each visible only to the principal that created it.

What a caller sends is bounded before it reaches the store: job ids longer than any issued id are
not looked up, and are echoed cut short; page tokens are opaque and checked by the store; a list
page stops at ``_MAX_PAGE_SIZE`` jobs or ``max_page_bytes``, and leaves the results' pictures out.
A caller has at most ``max_watches_per_principal`` WatchJob calls open (RESOURCE_EXHAUSTED
beyond), each holding one unsent state at most (the store's watcher keeps only the newest).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import grpc
from google.protobuf import empty_pb2
from google.rpc import error_details_pb2, status_pb2

from datalid.v1 import job_service_pb2, job_service_pb2_grpc
from pipeline import InvalidInput, Overloaded
from server import convert
from server.api.calls import deadline_of as _deadline
from server.api.calls import slot_key
from server.api.stream_writer import StreamWriter
from server.api.streams import StreamSlots
from server.errors import ERROR_DOMAIN, abort_with, bounded, grpc_errors, rich_status
from server.fetch.fetcher import UrlFetcher
from server.jobs.page_tokens import InvalidCursor
from server.jobs.postgres import PostgresJobStore
from server.jobs.records import JobPayload, QuotaExceeded
from server.jobs.sqlite import JobStore
from server.request_context import ANONYMOUS, principal_var

__all__ = ["JobService"]

_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 500
# A list page's results, errors and messages stop at this many bytes: a quarter of the default
# 16 MiB message limit, so a page always fits with room to spare.
_DEFAULT_MAX_PAGE_BYTES = 4 * 1024 * 1024
# Issued ids are 32 hex digits; anything longer cannot exist and is echoed cut to this length.
_MAX_JOB_ID_CHARS = 64
# A principal (a key name, a JWT subject) is quoted in a QuotaFailure at most this long.
_MAX_SUBJECT_CHARS = 128
# The default of max_watches_per_principal (the server passes job_max_watches_per_principal).
_DEFAULT_MAX_WATCHES = 16


def _owner() -> str:
    # The auth interceptor sets the principal on every JobService call (ANONYMOUS when auth is
    # disabled); None only happens in-process without interceptors.
    return (principal_var.get() or ANONYMOUS).id


def _quota_status(exc: QuotaExceeded) -> status_pb2.Status:
    """RESOURCE_EXHAUSTED with a QuotaFailure naming the limit (its configuration option)."""
    violation = error_details_pb2.QuotaFailure.Violation(
        subject=f"principal:{_owner()}"[:_MAX_SUBJECT_CHARS],
        description=exc.description,
        quota_id=exc.limit,
        quota_value=exc.value,
    )
    return rich_status(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"job quota exceeded ({exc.limit}): {exc.description}",
        [
            error_details_pb2.ErrorInfo(reason="JOB_QUOTA_EXCEEDED", domain=ERROR_DOMAIN),
            error_details_pb2.QuotaFailure(violations=[violation]),
        ],
    )


class JobService(job_service_pb2_grpc.JobServiceServicer):
    """Creates, reads, lists, cancels, deletes and watches the caller's jobs.

    Args:
        store: the job store; the runner (server/jobs/runner.py) works through it.
        fetcher: checks URL jobs' URLs when they are created, so a refused URL fails at once.
        max_image_bytes: largest image a job may carry.
        max_page_bytes: a ListJobs page stops adding jobs at this many bytes (at least one job).
        max_watches_per_principal: WatchJob calls a caller may have open at once; one more is
            refused RESOURCE_EXHAUSTED.
        max_detections_limit: the largest ``options.max_detections`` a job may ask for.
        today: the server's date (options are checked at creation against it).
    """

    def __init__(
        self,
        store: JobStore | PostgresJobStore,
        fetcher: UrlFetcher,
        *,
        max_image_bytes: int,
        max_page_bytes: int = _DEFAULT_MAX_PAGE_BYTES,
        max_watches_per_principal: int = _DEFAULT_MAX_WATCHES,
        max_detections_limit: int = convert.MAX_DETECTIONS_LIMIT,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self._store = store
        self._fetcher = fetcher
        self._max_image_bytes = max_image_bytes
        self._max_page_bytes = max_page_bytes
        self._watches = StreamSlots(max_watches_per_principal)
        self._max_detections_limit = max_detections_limit
        self._today = today

    @staticmethod
    def _lookup_id(job_id: str) -> str | None:
        """The id to look up; None for one longer than any issued id (it cannot exist).

        Raises:
            InvalidInput: naming ``job_id``, when it is empty (the field is required).
        """
        if not job_id:
            raise InvalidInput("job_id", "is required")
        return job_id if len(job_id) <= _MAX_JOB_ID_CHARS else None

    async def _not_found(self, context: grpc.aio.ServicerContext, job_id: str) -> None:
        # Another owner's job gets the same answer as a missing one: ids reveal nothing.
        shown = bounded(job_id, _MAX_JOB_ID_CHARS)
        await abort_with(context, rich_status(grpc.StatusCode.NOT_FOUND, f"job {shown!r} not found"))

    @grpc_errors
    async def CreateJob(
        self, request: job_service_pb2.CreateJobRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.Job:
        source = request.WhichOneof("source")
        if source is None:
            raise InvalidInput("source", "set image or url")
        if source == "image":
            if not request.image:
                raise InvalidInput("image", "is empty")
            if len(request.image) > self._max_image_bytes:
                raise InvalidInput(
                    "image", f"is {len(request.image)} bytes, more than {self._max_image_bytes}"
                )
        else:
            self._fetcher.check(request.url)
        # Options are checked now, so a malformed one is an error of this call, not a failed job.
        convert.options_from_pb(
            request.options, self._today(), max_detections_limit=self._max_detections_limit
        )
        payload = JobPayload(request.image, request.url, request.options.SerializeToString())
        try:
            record = await self._store.create(_owner(), payload, deadline=_deadline(context))
        except QuotaExceeded as exc:
            await abort_with(context, _quota_status(exc))
        return convert.job_to_pb(record)

    @grpc_errors
    async def GetJob(
        self, request: job_service_pb2.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.Job:
        record = None
        if (job_id := self._lookup_id(request.job_id)) is not None:
            record = await self._store.get(_owner(), job_id, deadline=_deadline(context))
        if record is None:
            await self._not_found(context, request.job_id)
        return convert.job_to_pb(record)

    @grpc_errors
    async def ListJobs(
        self, request: job_service_pb2.ListJobsRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.ListJobsResponse:
        if request.page_size < 0:
            raise InvalidInput("page_size", f"must be >= 0, got {request.page_size}")
        page_size = min(request.page_size or _DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE)
        try:
            records, next_token = await self._store.list(
                _owner(),
                state=convert.job_state_from_pb(request.state),
                page_size=page_size,
                max_bytes=self._max_page_bytes,
                page_token=request.page_token,
                deadline=_deadline(context),
            )
        except InvalidCursor:
            raise InvalidInput(
                "page_token", "is not a token a previous ListJobs call returned for this state filter"
            ) from None
        return job_service_pb2.ListJobsResponse(
            jobs=[convert.job_to_pb(r, pictures=False) for r in records], next_page_token=next_token
        )

    @grpc_errors
    async def CancelJob(
        self, request: job_service_pb2.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.Job:
        record = None
        if (job_id := self._lookup_id(request.job_id)) is not None:
            record = await self._store.cancel(_owner(), job_id, deadline=_deadline(context))
        if record is None:
            await self._not_found(context, request.job_id)
        return convert.job_to_pb(record)

    @grpc_errors
    async def DeleteJob(
        self, request: job_service_pb2.DeleteJobRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        job_id = self._lookup_id(request.job_id)
        deleted = job_id is not None and await self._store.delete(
            _owner(), job_id, deadline=_deadline(context)
        )
        if not deleted:
            await self._not_found(context, request.job_id)
        return empty_pb2.Empty()

    @grpc_errors
    async def WatchJob(
        self, request: job_service_pb2.WatchJobRequest, context: grpc.aio.ServicerContext
    ) -> None:
        # Sent with StreamWriter, not yield: a call that ends while a state waits to be sent (the
        # client stopped reading) gives its slot and its watcher back at once.
        with self._watches.hold(slot_key(), Overloaded):
            states = None
            if (job_id := self._lookup_id(request.job_id)) is not None:
                states = await self._store.watch(_owner(), job_id, deadline=_deadline(context))
            if states is None:
                await self._not_found(context, request.job_id)
                return
            send = StreamWriter(context)
            try:
                async for record in states:
                    await send(convert.job_to_pb(record))
            finally:
                await states.aclose()
