"""Runs stored jobs: at most ``concurrency`` at once, at the pipeline's JOB priority.

A job's run has stage boundaries: claimed, image fetched (URL jobs), image read. Between them the
runner checks the stored state, and a CancelJob also cancels the running task at once (the
pipeline drops work whose caller went away). Either way the stored state stays CANCELLED: the
store's ``finish`` only moves a RUNNING job, so a result that arrives late changes nothing.

Refusals that say "not now" (Overloaded, ModelNotReady) put the job back in the queue after a
pause instead of failing it: jobs are the work that waits. ShuttingDown (the server is stopping)
puts it back at once, before the stop can cancel the pause. A stop that cancels a running job
puts it back too. Either way the claim is given back (see ``JobStore.requeue``): a job
interrupted by a stop does not spend one of its ``job_max_attempts``. A job that waits in the
queue longer than ``queued_ttl_s`` ends FAILED with DEADLINE_EXCEEDED instead of running late.

A locked database (``StoreBusy``: a backup or a shell holds SQLite's write lock) never stops the
runner: claiming pauses and tries again, and a finished run's result is written as soon as the
lock is released (with growing pauses), so it is not lost. Nor does any other error of the store
(a full disk, an I/O error): the claim loop logs it (once per distinct error) and tries again after
growing pauses.

A result is stored as the Job message GetJob and WatchJob send, so it is fitted to
``max_message_bytes``: pictures are left out (``pictures_omitted``) until the whole Job fits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import grpc
from google.rpc import status_pb2

from datalid.v1 import types_pb2
from pipeline import ModelNotReady, Overloaded, PipelineError, Priority, ShuttingDown
from server import convert
from server.errors import StoreBusy, rich_status, status_of_error
from server.fetch.fetcher import UrlFetcher
from server.host import PipelineHost
from server.jobs.postgres import PostgresJobStore
from server.jobs.records import JobPayload, JobRecord, JobState
from server.jobs.sqlite import JobStore

__all__ = ["JobAttemptLost", "JobFailed", "JobProcess", "JobRunner", "local_job_process"]

_LOGGER = logging.getLogger(__name__)
_RETRY_LATER = (Overloaded, ModelNotReady, ShuttingDown)
_T = TypeVar("_T")
# Pauses between writes to a locked database, and between claims that failed, double from the
# retry pause up to this.
_MAX_BUSY_PAUSE_S = 30.0
# Kept free in a Job message beside its result and the fields the claimed record already has: the
# finished_at timestamp and the final message ("done") take under 100 bytes; the rest is room for
# protobuf's varint sizes to grow.
_JOB_FIELDS_MARGIN_BYTES = 1024


class JobProcess(Protocol):
    """Reads one job's image: the response a Process call with ``options`` would get, its
    request_id the job's id.

    Raises:
        Overloaded, ModelNotReady, ShuttingDown: not now; the job goes back to the queue.
        PipelineError: the image or options are bad; the job fails with its status.
        JobFailed: the job fails with the status it carries.
    """

    async def __call__(
        self, image: bytes, options: types_pb2.ProcessOptions, job_id: str
    ) -> types_pb2.ProcessResponse: ...


class JobAttemptLost(Exception):
    """The process reading a job's image stopped answering mid-read (a worker killed, out of
    memory): the claim counts, so a job that takes its reader down cannot do so forever."""


class JobFailed(Exception):
    """A job's run failed with ``status`` (a google.rpc.Status), as another process answered it."""

    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.status = status


def local_job_process(
    host: PipelineHost,
    *,
    max_detections_limit: int = convert.MAX_DETECTIONS_LIMIT,
    today: Callable[[], dt.date] = dt.date.today,
) -> JobProcess:
    """Jobs read by this process's own pipeline, at JOB priority (behind interactive calls).

    Args:
        host: gives the pipeline.
        max_detections_limit: the largest ``options.max_detections`` accepted.
        today: the server's date, the default reference date.
    """

    async def process(
        image: bytes, options: types_pb2.ProcessOptions, job_id: str
    ) -> types_pb2.ProcessResponse:
        limit = max_detections_limit
        pipeline_options = convert.options_from_pb(options, today(), max_detections_limit=limit)
        result = await host.pipeline.aprocess(image, pipeline_options, priority=Priority.JOB)
        return convert.result_to_pb(result, job_id)

    return process


class JobRunner:
    """Claims QUEUED jobs from the store and runs them through the pipeline.

    Args:
        store: the job store.
        process: reads a job's image: :func:`local_job_process` in a server with its own
            pipeline, the workers' Process in a ``--workers`` supervisor.
        fetcher: fetches URL jobs' images.
        concurrency: jobs running at once.
        ttl_s: finished jobs are deleted this long after they end.
        queued_ttl_s: a job still QUEUED this long after it was created ends FAILED.
        retry_pause_s: how long a job refused for load waits before it is claimed again.
        max_message_bytes: the largest Job message GetJob and WatchJob may send (the server's
            ``max_message_bytes``); a result's pictures are left out beyond it.
        max_attempts: claims after which a job whose reader died (``JobAttemptLost``) ends FAILED.
    """

    def __init__(
        self,
        store: JobStore | PostgresJobStore,
        process: JobProcess,
        fetcher: UrlFetcher,
        *,
        concurrency: int,
        ttl_s: float,
        queued_ttl_s: float,
        retry_pause_s: float = 1.0,
        max_message_bytes: int = 16 * 1024 * 1024,
        max_attempts: int = 3,
    ) -> None:
        self._max_attempts = max_attempts
        self._store = store
        self._process = process
        self._fetcher = fetcher
        self._slots = asyncio.Semaphore(concurrency)
        self._ttl_s = ttl_s
        self._queued_ttl_s = queued_ttl_s
        self._retry_pause_s = retry_pause_s
        self._max_message_bytes = max_message_bytes
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        store.add_listener(self._on_change)

    def start(self) -> None:
        """Starts claiming jobs (call once the models are loaded) and expiring finished ones; does
        nothing once :meth:`close` has begun (models that finish loading during a stop)."""
        if self._closing:
            return
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="datalid-jobs"),
            asyncio.create_task(self._expire_loop(), name="datalid-jobs-expiry"),
        ]

    def _on_change(self, record: JobRecord) -> None:
        if record.state == JobState.QUEUED:
            self._wake.set()
        elif record.state == JobState.CANCELLED and record.job_id in self._running:
            # Stops the run now rather than at the next boundary; the stored state is already final.
            self._running[record.job_id].cancel()

    async def _claim_loop(self) -> None:
        # Pauses after a failed claim double up to _MAX_BUSY_PAUSE_S; each distinct error is logged
        # once, so a full disk does not write a log line a second.
        failure = _ClaimFailures(self._retry_pause_s)
        while not self._closing:
            await self._slots.acquire()
            claimed = None
            failed = False
            try:
                self._wake.clear()
                claimed = await self._store.claim_next(queued_ttl_s=self._queued_ttl_s)
            except StoreBusy as exc:
                _LOGGER.warning("claiming a job: %s; trying again", exc)
                failed = True
            except Exception as exc:  # a full disk, an I/O error, a bug: no job would run again
                failure.log(exc)
                failed = True
            finally:
                if claimed is None:
                    self._slots.release()
            if failed:
                await asyncio.sleep(failure.next_pause_s())
                continue
            failure.reset()
            if claimed is None:
                # Woken by a new job; the timeout also picks up jobs requeued after a pause.
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation
                # that lands as the wait ends, and a stopping runner would claim on (see
                # server/api/streams.py's reader, where that hung a cancelled stream).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._retry_pause_s):
                        await self._wake.wait()
                continue
            record, payload = claimed
            task = asyncio.create_task(self._run(record, payload), name=f"datalid-job-{record.job_id}")
            self._running[record.job_id] = task
            task.add_done_callback(lambda _, job_id=record.job_id: self._done(job_id))

    def _done(self, job_id: str) -> None:
        self._running.pop(job_id, None)
        self._slots.release()

    async def _run(self, record: JobRecord, payload: JobPayload) -> None:
        # Cancelled anywhere (the run, a pause, a retried write) by a stop: the job goes back to the
        # queue. Caught here, around the whole run, and not beside the handlers of _attempt: a
        # cancellation inside one of those (its pause) would skip a sibling clause.
        try:
            await self._attempt(record, payload)
        except asyncio.CancelledError:
            if self._closing:
                await self._requeue_now(record.job_id, "requeued: the server stopped while it ran")
            raise

    async def _requeue_now(self, job_id: str, message: str) -> None:
        # Shielded: the server is stopping, and the job must be QUEUED again when it starts. A
        # locked database leaves it RUNNING, which the next start requeues just the same (counting
        # the attempt: it cannot tell a stop from a crash).
        with contextlib.suppress(StoreBusy):
            await asyncio.shield(self._store.requeue(job_id, message))

    async def _attempt(self, record: JobRecord, payload: JobPayload) -> None:
        job_id = record.job_id
        try:
            options = types_pb2.ProcessOptions.FromString(payload.options)
            image = payload.image
            if payload.url:
                image = await self._fetcher.fetch(payload.url)
                fetched = await self._until_written(
                    lambda: self._store.progress(job_id, 0.3, "image fetched")
                )
                if fetched is None:
                    return  # cancelled or deleted while fetching
            response = self._fitted(record, await self._process(image, options, job_id))
            full = response.SerializeToString()
            summary = convert.job_result_summary(response).SerializeToString()
            await self._until_written(
                lambda: self._store.finish(
                    job_id, JobState.SUCCEEDED, result=full, summary=summary, message="done"
                )
            )
        except ShuttingDown as exc:
            # At once: the stop that follows would cancel a pause. The slot stays held for the
            # pause, so a runner that is not stopping (yet) does not claim the job again in a loop.
            _LOGGER.info("job %s stopped by the shutdown; requeued", job_id)
            await self._requeue_now(job_id, f"requeued: {exc}")
            await asyncio.sleep(self._retry_pause_s)
        except _RETRY_LATER as exc:
            _LOGGER.info("job %s refused for now (%s); requeued", job_id, type(exc).__name__)
            await asyncio.sleep(self._retry_pause_s)
            waiting = f"waiting: {exc}"
            await self._until_written(lambda: self._store.requeue(job_id, waiting))
        except JobAttemptLost as exc:
            if record.attempts >= self._max_attempts:
                message = f"the worker reading it stopped {record.attempts} times: {exc}"
                await self._fail(job_id, rich_status(grpc.StatusCode.UNAVAILABLE, message))
            else:
                _LOGGER.warning("job %s lost its reader (%s); requeued, the attempt counted", job_id, exc)
                lost = f"requeued: the worker reading it stopped ({exc})"
                await self._until_written(lambda: self._store.requeue(job_id, lost, keep_attempt=True))
        except PipelineError as exc:
            await self._fail(job_id, status_of_error(exc))
        except JobFailed as exc:
            await self._fail(job_id, exc.status)
        except Exception as exc:
            _LOGGER.error("job %s failed unexpectedly", job_id, exc_info=exc)
            await self._fail(job_id, status_of_error(_Internal()))

    def _fitted(self, record: JobRecord, response: types_pb2.ProcessResponse) -> types_pb2.ProcessResponse:
        """``response`` with pictures left out until the Job that carries it fits ``max_message_bytes``.

        Sized as the Job GetJob will send: the claimed ``record``'s fields (id, owner, times,
        message) around the result, less ``_JOB_FIELDS_MARGIN_BYTES`` for those that change when
        it is finished.
        """
        job = convert.job_to_pb(record)
        job.result.CopyFrom(response)
        convert.fit_pictures(job, self._max_message_bytes - _JOB_FIELDS_MARGIN_BYTES)
        return job.result

    async def _fail(self, job_id: str, status: status_pb2.Status) -> None:
        await self._until_written(
            lambda: self._store.finish(
                job_id, JobState.FAILED, error=status.SerializeToString(), message=status.message
            )
        )

    async def _until_written(self, write: Callable[[], Awaitable[_T]]) -> _T:
        """``write()``, tried again after growing pauses while the database is locked: a run's
        outcome is kept until it can be stored (a server stop cancels the wait; the job, still
        RUNNING in the file, is requeued at the next start)."""
        pause_s = self._retry_pause_s
        while True:
            try:
                return await write()
            except StoreBusy as exc:
                _LOGGER.warning("writing a job: %s; trying again in %.0f s", exc, pause_s)
                await asyncio.sleep(pause_s)
                pause_s = min(_MAX_BUSY_PAUSE_S, pause_s * 2)

    async def _expire_loop(self) -> None:
        # Often enough that neither kind of job outlives its TTL by more than a tenth of it.
        pause_s = min(60.0, max(0.5, min(self._ttl_s, self._queued_ttl_s) / 10))
        expired_status = rich_status(
            grpc.StatusCode.DEADLINE_EXCEEDED, f"expired in queue after {self._queued_ttl_s:g} s"
        )
        while True:
            try:
                expired = await self._store.expire(self._ttl_s)
                if expired:
                    _LOGGER.info("deleted %d finished jobs older than %.0f s", expired, self._ttl_s)
                failed = await self._store.expire_queued(
                    self._queued_ttl_s,
                    error=expired_status.SerializeToString(),
                    message=expired_status.message,
                )
                if failed:
                    _LOGGER.info("failed %d jobs queued longer than %g s", failed, self._queued_ttl_s)
            except Exception as exc:  # the store may be briefly unwritable; expiry tries again
                _LOGGER.warning("job expiry failed: %s", exc)
            await asyncio.sleep(pause_s)

    async def close(self) -> None:
        """Stops claiming; running jobs are cancelled and put back in the queue for the next start."""
        self._closing = True
        running = list(self._running.values())
        for task in [*self._tasks, *running]:
            task.cancel()
        await asyncio.gather(*self._tasks, *running, return_exceptions=True)


class _ClaimFailures:
    """The claim loop's failures other than a locked database: a pause that doubles with each one
    in a row (from ``first_pause_s`` up to ``_MAX_BUSY_PAUSE_S``), and each distinct error logged
    once until a claim succeeds."""

    def __init__(self, first_pause_s: float) -> None:
        self._first_pause_s = first_pause_s
        self._pause_s = first_pause_s
        # Errors logged since the last successful claim, by type and text (at most a few kinds).
        self._logged: set[tuple[str, str]] = set()

    def log(self, exc: Exception) -> None:
        key = (type(exc).__name__, str(exc)[:200])
        if key in self._logged:
            return
        # A bound on the set: a store failing with ever new texts is logged, but not remembered.
        if len(self._logged) < 16:
            self._logged.add(key)
        _LOGGER.error("claiming a job failed; trying again with growing pauses", exc_info=exc)

    def next_pause_s(self) -> float:
        pause_s = self._pause_s
        self._pause_s = min(_MAX_BUSY_PAUSE_S, pause_s * 2)
        return pause_s

    def reset(self) -> None:
        if self._logged:
            _LOGGER.info("claiming jobs works again")
        self._pause_s = self._first_pause_s
        self._logged.clear()


class _Internal(PipelineError):
    """Stands for an unexpected error: the table maps unknown PipelineErrors to INTERNAL."""
