"""What both job stores hold and hand out: a job's state and record, its payload, the per-owner
quota, and the watchers that follow jobs (``Watchers``). The stores (``sqlite``, ``postgres``)
differ only in where the rows live and how writers take turns."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COLUMNS",
    "LIST_COLUMNS",
    "UNFINISHED_BYTES_LIMIT",
    "UNFINISHED_JOBS_LIMIT",
    "JobPayload",
    "JobQuota",
    "JobRecord",
    "JobState",
    "Latest",
    "QuotaExceeded",
    "Watchers",
    "check_quota",
    "listed_bytes",
    "record_of",
]

# The limits QuotaExceeded names, spelled as the configuration options that set them.
UNFINISHED_JOBS_LIMIT = "job_max_unfinished_per_principal"
UNFINISHED_BYTES_LIMIT = "job_max_unfinished_bytes_per_principal"


class JobState(enum.StrEnum):
    """Where a job is in its life; SUCCEEDED, FAILED and CANCELLED are final."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class QuotaExceeded(Exception):
    """The owner's unfinished jobs would exceed a :class:`JobQuota` limit; nothing was stored.

    Args:
        limit: which one: ``UNFINISHED_JOBS_LIMIT`` or ``UNFINISHED_BYTES_LIMIT``.
        value: the limit's value (jobs, or payload bytes).
        description: for the caller: what is in use and what the new job would add.
    """

    def __init__(self, limit: str, value: int, description: str) -> None:
        super().__init__(description)
        self.limit = limit
        self.value = value
        self.description = description


@dataclass(frozen=True, slots=True, kw_only=True)
class JobQuota:
    """Per-owner bounds on unfinished (QUEUED or RUNNING) jobs, checked when a job is created.

    ``max_bytes`` counts payloads: image bytes, URL and encoded options.
    """

    max_jobs: int = 100
    max_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    """One job as stored, without its payload. Times are Unix seconds; None when not reached yet.

    ``version`` grows by one with every change, so a watcher can tell a new state from one it sent.
    ``result`` is the full result, except in :meth:`JobStore.list` records, where it is the
    summary the runner stored with it (the result without its pictures).
    """

    job_id: str
    owner: str
    state: JobState
    progress: float
    message: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    result: bytes
    error: bytes
    attempts: int
    version: int


@dataclass(frozen=True, slots=True)
class JobPayload:
    """What a job works on: the image bytes or an URL to fetch, and the encoded options."""

    image: bytes
    url: str
    options: bytes

    @property
    def size(self) -> int:
        """Bytes it takes in the store, as the quota counts them."""
        return len(self.image) + len(self.url.encode()) + len(self.options)


# A record's columns, in record_of's order; a list shows the summary for the result (rows written
# before summaries existed only have the result).
COLUMNS = (
    "job_id, owner, state, progress, message, created_at, started_at, finished_at, result, error, "
    "attempts, version"
)
LIST_COLUMNS = (
    "job_id, owner, state, progress, message, created_at, started_at, finished_at, "
    "CASE WHEN length(summary) > 0 THEN summary ELSE result END, error, attempts, version"
)


def check_quota(quota: JobQuota, jobs: int, used: int, size: int) -> None:
    """Raises QuotaExceeded if an owner with ``jobs`` unfinished jobs holding ``used`` payload bytes
    may not add one of ``size`` bytes."""
    if jobs + 1 > quota.max_jobs:
        raise QuotaExceeded(
            UNFINISHED_JOBS_LIMIT,
            quota.max_jobs,
            f"{jobs} unfinished jobs already, at most {quota.max_jobs} per principal",
        )
    if used + size > quota.max_bytes:
        raise QuotaExceeded(
            UNFINISHED_BYTES_LIMIT,
            quota.max_bytes,
            f"unfinished jobs hold {used} bytes and this one {size}, at most {quota.max_bytes} per principal",
        )


def record_of(row: Sequence[Any]) -> JobRecord:
    """A JobRecord from a row of ``COLUMNS`` (both stores select them in this order)."""
    return JobRecord(
        job_id=row[0],
        owner=row[1],
        state=JobState(row[2]),
        progress=row[3],
        message=row[4],
        created_at=row[5],
        started_at=row[6],
        finished_at=row[7],
        result=bytes(row[8]),
        error=bytes(row[9]),
        attempts=row[10],
        version=row[11],
    )


def listed_bytes(record: JobRecord) -> int:
    """What a record adds to a list page, for the page's byte bound."""
    # What the record adds to a page: its blobs and texts; the fixed-size fields are noise.
    return len(record.result) + len(record.error) + len(record.message) + len(record.owner) + 64


class Latest:
    """A watcher's one-slot mailbox: the newest record not yet taken.

    A newer version replaces an older one, so a watcher that reads slowly skips states instead of
    piling them up; a final record is never replaced, so the end of a job is never lost.
    """

    def __init__(self) -> None:
        self._record: JobRecord | None = None
        self._ready = asyncio.Event()

    def put(self, record: JobRecord) -> None:
        held = self._record
        if held is not None and (held.state.final or held.version >= record.version):
            return
        self._record = record
        self._ready.set()

    async def take(self) -> JobRecord:
        """The newest record put since the last take; waits for one."""
        await self._ready.wait()
        self._ready.clear()
        record, self._record = self._record, None
        assert record is not None
        return record


class Watchers:
    """Who follows jobs in this process: WatchJob calls (one ``Latest`` box each) and listeners
    (the runner), told every new state a store publishes."""

    def __init__(self) -> None:
        self._boxes: dict[str, set[Latest]] = {}
        self._listeners: list[Callable[[JobRecord], None]] = []

    def add_listener(self, listener: Callable[[JobRecord], None]) -> None:
        """Calls ``listener`` on the event loop with every new state of every job."""
        self._listeners.append(listener)

    def watched(self) -> list[str]:
        """The jobs some WatchJob call follows now."""
        return list(self._boxes)

    def watched_by_calls(self, job_id: str) -> bool:
        """Whether a WatchJob call follows ``job_id``."""
        return bool(self._boxes.get(job_id))

    def follows(self, job_id: str) -> bool:
        """Whether anyone here wants ``job_id``'s new states."""
        return bool(self._boxes.get(job_id) or self._listeners)

    def publish(self, record: JobRecord) -> JobRecord:
        """Hands ``record`` to the job's watchers and to every listener; returns it."""
        for box in self._boxes.get(record.job_id, ()):
            box.put(record)
        for listener in self._listeners:
            listener(record)
        return record

    async def watch(
        self, job_id: str, current: Callable[[], Awaitable[JobRecord | None]]
    ) -> AsyncGenerator[JobRecord, None] | None:
        """The job's states from ``current()`` until it is final, or None if ``current()`` finds
        none. Subscribes before reading, so no change between the two is missed.

        A watcher that reads slower than the job changes gets the newest state, skipping those in
        between; the final state always comes, and is the last.
        """
        box = Latest()
        self._boxes.setdefault(job_id, set()).add(box)
        try:
            record = await current()
        except BaseException:
            self._unwatch(job_id, box)
            raise
        if record is None:
            self._unwatch(job_id, box)
            return None
        return self._follow(job_id, box, record)

    async def _follow(self, job_id: str, box: Latest, current: JobRecord) -> AsyncGenerator[JobRecord, None]:
        try:
            last_version = current.version
            yield current
            record = current
            while not record.state.final:
                record = await box.take()
                if record.version > last_version:
                    last_version = record.version
                    yield record
        finally:
            self._unwatch(job_id, box)

    def _unwatch(self, job_id: str, box: Latest) -> None:
        boxes = self._boxes.get(job_id)
        if boxes is not None:
            boxes.discard(box)
            if not boxes:
                del self._boxes[job_id]
