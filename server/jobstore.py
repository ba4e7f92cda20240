"""Persistent asynchronous jobs in SQLite, with every state change published to watchers.

The state machine (every transition is one conditional UPDATE, so two writers can never both win)::

    QUEUED ──claim──> RUNNING ──finish──> SUCCEEDED | FAILED
      │  ^              │  │
      │  └──requeue─────┘  └──cancel──> CANCELLED   (the runner's later finish finds state != RUNNING
      └──cancel──> CANCELLED                          and changes nothing: never overwritten)

After a crash, ``open`` puts every RUNNING job back to QUEUED (it runs again from the start), unless it
has already been claimed ``max_attempts`` times: then it ends FAILED, so a job that kills the
server cannot do so forever. Finished jobs are deleted ``ttl_s`` after they finish.

sqlite3 runs on the store's own single thread (one connection, created there), never on the
event loop. The store holds opaque blobs for the options, result and error: the service decides
their encoding (serialized protobuf messages), so this module knows nothing of the wire.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["JobPayload", "JobRecord", "JobState", "JobStore"]

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")


# A scrape waits at most this long for the store's thread; a busy store skips one sample.
_COUNT_TIMEOUT_S = 2.0


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


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    """One job as stored, without its payload. Times are Unix seconds; None when not reached yet.

    ``version`` grows by one with every change, so a watcher can tell a new state from one it sent.
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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL UNIQUE,
    owner       TEXT NOT NULL,
    state       TEXT NOT NULL,
    progress    REAL NOT NULL DEFAULT 0,
    message     TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    started_at  REAL,
    finished_at REAL,
    image       BLOB NOT NULL,
    url         TEXT NOT NULL,
    options     BLOB NOT NULL,
    result      BLOB NOT NULL DEFAULT x'',
    error       BLOB NOT NULL DEFAULT x'',
    attempts    INTEGER NOT NULL DEFAULT 0,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS jobs_owner_seq ON jobs (owner, seq);
CREATE INDEX IF NOT EXISTS jobs_state_seq ON jobs (state, seq);
"""
_COLUMNS = (
    "job_id, owner, state, progress, message, created_at, started_at, finished_at, result, error, "
    "attempts, version"
)
_FINAL = tuple(state.value for state in JobState if state.final)


def _record(row: tuple[Any, ...]) -> JobRecord:
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


class JobStore:
    """Jobs in one SQLite file, owned by one server process. Build it with :meth:`open`.

    Every read and write takes the owner: a job of another owner looks exactly like a missing one.

    Args:
        path: the database file (created with its folder); ":memory:" for a throwaway store.
        clock: Unix time (tests pass a fake to test expiry).
    """

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self._path = str(path)
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="datalid-jobstore")
        self._conn: sqlite3.Connection | None = None
        self._watchers: dict[str, set[asyncio.Queue[JobRecord]]] = {}
        self._listeners: list[Callable[[JobRecord], None]] = []

    @classmethod
    async def open(cls, path: Path | str, *, max_attempts: int = 3, **kwargs: Any) -> JobStore:
        """Opens (or creates) the store and recovers the jobs a crash left RUNNING.

        Args:
            path: the database file.
            max_attempts: a job claimed this many times without finishing ends FAILED on recovery.
        """
        store = cls(path, **kwargs)
        await store._run(store._connect)
        requeued, failed = await store._run(store._recover, max_attempts)
        if requeued or failed:
            _LOGGER.info(
                "job recovery: %d requeued, %d failed after %d attempts", requeued, failed, max_attempts
            )
        return store

    def _connect(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, isolation_level=None)
        # WAL: a reader never waits for the writer; a committed transaction survives kill -9.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    async def _run(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the job store is closed")
        return self._conn

    def _select(self, job_id: str) -> JobRecord | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else _record(row)

    def _update(self, job_id: str, where_states: tuple[str, ...], **values: Any) -> JobRecord | None:
        """Sets ``values`` if the job is in one of ``where_states``; the new record, or None if not."""
        assignments = ", ".join(f"{name} = ?" for name in values)
        marks = ", ".join("?" for _ in where_states)
        cursor = self._db.execute(
            f"UPDATE jobs SET {assignments}, version = version + 1 WHERE job_id = ? AND state IN ({marks})",
            (*values.values(), job_id, *where_states),
        )
        return self._select(job_id) if cursor.rowcount else None

    def _recover(self, max_attempts: int) -> tuple[int, int]:
        now = self._clock()
        with self._db:
            failed = self._db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, message = ?, version = version + 1 "
                "WHERE state = ? AND attempts >= ?",
                (
                    JobState.FAILED,
                    now,
                    f"abandoned: the server stopped while running it {max_attempts} times",
                    JobState.RUNNING,
                    max_attempts,
                ),
            ).rowcount
            requeued = self._db.execute(
                "UPDATE jobs SET state = ?, started_at = NULL, progress = 0, "
                "message = 'requeued: the server restarted while it ran', version = version + 1 "
                "WHERE state = ?",
                (JobState.QUEUED, JobState.RUNNING),
            ).rowcount
        return requeued, failed

    # --- callers' operations -------------------------------------------------------------------

    async def create(self, owner: str, payload: JobPayload) -> JobRecord:
        """Stores a new QUEUED job (committed before this returns) and returns it."""

        def insert() -> JobRecord:
            job_id = uuid.uuid4().hex
            self._db.execute(
                "INSERT INTO jobs (job_id, owner, state, created_at, image, url, options, message) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'queued')",
                (job_id, owner, JobState.QUEUED, self._clock(), payload.image, payload.url, payload.options),
            )
            record = self._select(job_id)
            assert record is not None
            return record

        return self._publish(await self._run(insert))

    async def get(self, owner: str, job_id: str) -> JobRecord | None:
        """The job, or None if it does not exist or belongs to another owner."""
        record = await self._run(self._select, job_id)
        return record if record is not None and record.owner == owner else None

    async def list(
        self, owner: str, *, state: JobState | None, page_size: int, after_seq: int | None
    ) -> tuple[list[JobRecord], int | None]:
        """The owner's jobs, newest first, and the cursor of the next page (None on the last page).

        Args:
            state: only jobs in this state; None for all.
            page_size: at most this many jobs.
            after_seq: the cursor a previous call returned; None for the first page.
        """

        def select() -> tuple[list[JobRecord], int | None]:
            clauses, args = ["owner = ?"], [owner]
            if state is not None:
                clauses.append("state = ?")
                args.append(state.value)
            if after_seq is not None:
                clauses.append("seq < ?")
                args.append(after_seq)
            rows = self._db.execute(
                f"SELECT {_COLUMNS}, seq FROM jobs WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?",
                (*args, page_size + 1),
            ).fetchall()
            records = [_record(row) for row in rows[:page_size]]
            return records, (rows[page_size - 1][-1] if len(rows) > page_size else None)

        return await self._run(select)

    async def cancel(self, owner: str, job_id: str) -> JobRecord | None:
        """Cancels a QUEUED or RUNNING job; a final job stays as it is. None if not the owner's."""

        def cancel() -> JobRecord | None:
            record = self._select(job_id)
            if record is None or record.owner != owner:
                return None
            updated = self._update(
                job_id,
                (JobState.QUEUED, JobState.RUNNING),
                state=JobState.CANCELLED,
                finished_at=self._clock(),
                message="cancelled by the caller",
            )
            return updated or self._select(job_id)

        record = await self._run(cancel)
        return None if record is None else self._publish(record)

    async def delete(self, owner: str, job_id: str) -> bool:
        """Deletes the job (a running one is cancelled first). False if not the owner's."""

        def delete() -> JobRecord | None:
            record = self._select(job_id)
            if record is None or record.owner != owner:
                return None
            self._update(
                job_id,
                (JobState.QUEUED, JobState.RUNNING),
                state=JobState.CANCELLED,
                finished_at=self._clock(),
                message="deleted by the caller",
            )
            cancelled = self._select(job_id)
            self._db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
            return cancelled

        record = await self._run(delete)
        if record is None:
            return False
        self._publish(record)
        return True

    async def watch(self, owner: str, job_id: str) -> AsyncIterator[JobRecord] | None:
        """Every state of the job from now until it is final (the current one first), or None if it is
        not the owner's. Subscribes before reading, so no change between the two is missed."""
        queue: asyncio.Queue[JobRecord] = asyncio.Queue()
        self._watchers.setdefault(job_id, set()).add(queue)
        try:
            current = await self.get(owner, job_id)
        except BaseException:
            self._unwatch(job_id, queue)
            raise
        if current is None:
            self._unwatch(job_id, queue)
            return None
        return self._follow(job_id, queue, current)

    async def _follow(
        self, job_id: str, queue: asyncio.Queue[JobRecord], current: JobRecord
    ) -> AsyncIterator[JobRecord]:
        try:
            last_version = current.version
            yield current
            record = current
            while not record.state.final:
                record = await queue.get()
                if record.version > last_version:
                    last_version = record.version
                    yield record
        finally:
            self._unwatch(job_id, queue)

    def _unwatch(self, job_id: str, queue: asyncio.Queue[JobRecord]) -> None:
        queues = self._watchers.get(job_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._watchers[job_id]

    # --- the runner's operations ---------------------------------------------------------------

    def add_listener(self, listener: Callable[[JobRecord], None]) -> None:
        """Calls ``listener`` on the event loop with every new state of every job."""
        self._listeners.append(listener)

    async def claim_next(self) -> tuple[JobRecord, JobPayload] | None:
        """Moves the oldest QUEUED job to RUNNING and returns it with its payload; None if none waits."""

        def claim() -> tuple[JobRecord, JobPayload] | None:
            while True:
                row = self._db.execute(
                    "SELECT job_id, image, url, options FROM jobs WHERE state = ? ORDER BY seq LIMIT 1",
                    (JobState.QUEUED,),
                ).fetchone()
                if row is None:
                    return None
                # The row was read and is updated on this one thread: nothing can claim it between.
                record = self._db.execute(
                    "UPDATE jobs SET state = ?, started_at = ?, attempts = attempts + 1, progress = 0, "
                    "message = 'running', version = version + 1 WHERE job_id = ? AND state = ?",
                    (JobState.RUNNING, self._clock(), row[0], JobState.QUEUED),
                ).rowcount and self._select(row[0])
                if record:
                    return record, JobPayload(bytes(row[1]), row[2], bytes(row[3]))

        claimed = await self._run(claim)
        if claimed is not None:
            self._publish(claimed[0])
        return claimed

    async def progress(self, job_id: str, progress: float, message: str) -> JobRecord | None:
        """Records progress of a RUNNING job; None if it is no longer running (cancelled, deleted)."""
        record = await self._run(
            self._update, job_id, (JobState.RUNNING,), progress=progress, message=message
        )
        return None if record is None else self._publish(record)

    async def finish(
        self, job_id: str, state: JobState, *, result: bytes = b"", error: bytes = b"", message: str = ""
    ) -> JobRecord | None:
        """Ends a RUNNING job in ``state``. None, changing nothing, if it is no longer RUNNING:
        a cancelled job stays CANCELLED whatever its run produced."""
        assert state.final
        record = await self._run(
            self._update,
            job_id,
            (JobState.RUNNING,),
            state=state,
            result=result,
            error=error,
            message=message,
            finished_at=self._clock(),
            progress=1.0 if state == JobState.SUCCEEDED else 0.0,
        )
        return None if record is None else self._publish(record)

    async def requeue(self, job_id: str, message: str) -> JobRecord | None:
        """Puts a RUNNING job back to QUEUED (the server is stopping, or it was refused for load)."""
        record = await self._run(
            self._update, job_id, (JobState.RUNNING,), state=JobState.QUEUED, started_at=None, message=message
        )
        return None if record is None else self._publish(record)

    async def expire(self, ttl_s: float) -> int:
        """Deletes the jobs that finished more than ``ttl_s`` ago; returns how many."""

        def delete() -> int:
            marks = ", ".join("?" for _ in _FINAL)
            return self._db.execute(
                f"DELETE FROM jobs WHERE state IN ({marks}) AND finished_at < ?",
                (*_FINAL, self._clock() - ttl_s),
            ).rowcount

        return await self._run(delete)

    async def close(self) -> None:
        """Closes the database; idempotent."""
        if self._conn is None:
            return

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._run(close)
        self._executor.shutdown(wait=False)

    def counts_by_state(self) -> dict[str, int]:
        """Jobs per state now (QUEUED, RUNNING...), for the metrics scrape.

        Blocking: meant for the scrape thread, which waits briefly on the store's own thread
        (the SQLite connection lives there); an empty mapping once the store is closed.
        """

        def count() -> dict[str, int]:
            if self._conn is None:
                return {}
            rows = self._conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
            return {state: n for state, n in rows}

        try:
            return self._executor.submit(count).result(timeout=_COUNT_TIMEOUT_S)
        except (RuntimeError, TimeoutError):  # the store is closed, or too busy for this scrape
            return {}

    def _publish(self, record: JobRecord) -> JobRecord:
        for queue in self._watchers.get(record.job_id, ()):
            queue.put_nowait(record)
        for listener in self._listeners:
            listener(record)
        return record
