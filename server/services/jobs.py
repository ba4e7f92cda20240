"""JobService: persistent asynchronous jobs, each visible only to the principal that created it."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf import empty_pb2

from datalid.v1 import job_service_pb2, job_service_pb2_grpc
from pipeline import InvalidInput
from server import convert
from server.errors import abort_with, grpc_errors, rich_status
from server.jobstore import JobPayload, JobStore
from server.request_context import ANONYMOUS, principal_var
from server.urlfetch import UrlFetcher

__all__ = ["JobService"]

_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 500


def _owner() -> str:
    # The auth interceptor sets the principal on every JobService call (ANONYMOUS when auth is
    # disabled); None only happens in-process without interceptors.
    return (principal_var.get() or ANONYMOUS).id


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind == "seq" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise InvalidInput("page_token", "is not a token a previous ListJobs call returned")


class JobService(job_service_pb2_grpc.JobServiceServicer):
    """Creates, reads, lists, cancels, deletes and watches the caller's jobs.

    Args:
        store: the job store; the runner (server/jobs_runner.py) works through it.
        fetcher: checks URL jobs' URLs when they are created, so a refused URL fails at once.
        max_image_bytes: largest image a job may carry.
        today: the server's date (options are checked at creation against it).
    """

    def __init__(
        self,
        store: JobStore,
        fetcher: UrlFetcher,
        *,
        max_image_bytes: int,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self._store = store
        self._fetcher = fetcher
        self._max_image_bytes = max_image_bytes
        self._today = today

    async def _not_found(self, context: grpc.aio.ServicerContext, job_id: str) -> None:
        # Another owner's job gets the same answer as a missing one: ids reveal nothing.
        await abort_with(context, rich_status(grpc.StatusCode.NOT_FOUND, f"job {job_id!r} not found"))

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
        convert.options_from_pb(request.options, self._today())
        payload = JobPayload(request.image, request.url, request.options.SerializeToString())
        return convert.job_to_pb(await self._store.create(_owner(), payload))

    @grpc_errors
    async def GetJob(
        self, request: job_service_pb2.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.Job:
        record = await self._store.get(_owner(), request.job_id)
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
        records, next_seq = await self._store.list(
            _owner(),
            state=convert.job_state_from_pb(request.state),
            page_size=page_size,
            after_seq=_decode_token(request.page_token),
        )
        return job_service_pb2.ListJobsResponse(
            jobs=[convert.job_to_pb(r) for r in records],
            next_page_token=_encode_token(next_seq) if next_seq is not None else "",
        )

    @grpc_errors
    async def CancelJob(
        self, request: job_service_pb2.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.Job:
        record = await self._store.cancel(_owner(), request.job_id)
        if record is None:
            await self._not_found(context, request.job_id)
        return convert.job_to_pb(record)

    @grpc_errors
    async def DeleteJob(
        self, request: job_service_pb2.DeleteJobRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        if not await self._store.delete(_owner(), request.job_id):
            await self._not_found(context, request.job_id)
        return empty_pb2.Empty()

    @grpc_errors
    async def WatchJob(
        self, request: job_service_pb2.WatchJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[job_service_pb2.Job]:
        states = await self._store.watch(_owner(), request.job_id)
        if states is None:
            await self._not_found(context, request.job_id)
            return
        async for record in states:
            yield convert.job_to_pb(record)
