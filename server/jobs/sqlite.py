"""Persistent asynchronous jobs in SQLite, with every state change published to watchers.

The state machine (every transition is one conditional UPDATE, so two writers can never both win)::

    QUEUED ──claim──> RUNNING ──finish──> SUCCEEDED | FAILED
      │  ^              │  │
      │  └──requeue─────┘  └──cancel──> CANCELLED   (the runner's later finish finds state != RUNNING
      ├──cancel──> CANCELLED                          and changes nothing: never overwritten)
      └──expire_queued──> FAILED   (waited longer than the queued TTL)

After a crash, ``open`` puts every RUNNING job back to QUEUED (it runs again from the start), unless it
has already been claimed ``max_attempts`` times: then it ends FAILED, so a job that kills the
server cannot do so forever. Finished jobs are deleted ``ttl_s`` after they finish; a final job
keeps no image (the payload is only needed to run it).

Bounds: each owner may have ``JobQuota`` unfinished jobs and payload bytes (``create`` raises
:class:`QuotaExceeded` beyond); a list page stops at ``page_size`` jobs or ``max_bytes`` of
results, whichever comes first, and reads rows one at a time, so a page never holds more. A
watcher holds one record at most (the newest: see :class:`_Latest`). At most
``_MAX_WAITING_CALLS`` operations wait for each of the store's threads; more raise StoreBusy.

Results are not counted in the byte quota: it bounds the work a caller has waiting (unfinished
jobs), and a result exists only once its job is finished. A stored result is bounded on its own
(the runner fits it in one Job message, ``max_message_bytes``), a finished job drops its image,
and finished jobs are deleted ``ttl_s`` after they end; so a caller's stored results are bounded
by how many jobs the rate limit lets it create within ``ttl_s``.

Another writer on the file (a backup, an admin's sqlite3 shell) holds SQLite's write lock: each
write waits for it at most until shortly before its caller's deadline (``_DEFAULT_LOCK_WAIT_S``
without one, ``_BACKGROUND_LOCK_WAIT_S`` for the runner's) and then raises :class:`StoreBusy`,
which the server answers UNAVAILABLE with a retry hint. Once one write has waited in vain, the
writes queued behind it try the lock once without waiting, until a write gets it: N queued writes
cost one lock wait, not N. Reads are not held up (WAL).

sqlite3 runs on the store's own two threads, never on the event loop: one writes, one reads, each
with its own connection, so a write waiting for the lock never holds a read up. The store holds
opaque blobs for the options, result and error: the service decides their encoding (serialized
protobuf messages), so this module knows nothing of the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from server.errors import StoreBusy
from server.jobs.page_tokens import PageTokens
from server.jobs.records import (
    COLUMNS,
    LIST_COLUMNS,
    JobPayload,
    JobQuota,
    JobRecord,
    JobState,
    Watchers,
    check_quota,
    listed_bytes,
    record_of,
)

__all__ = ["JobStore", "StoreInUse"]

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")


# A scrape waits at most this long for the store's thread; a busy store skips one sample.
_COUNT_TIMEOUT_S = 2.0
# The longest any operation waits for another writer's lock: SQLite's own default. The wait
# blocks the store's one writing thread, so it stays short.
_MAX_LOCK_WAIT_S = 5.0
# How long an operation without a deadline (a REST call through Envoy, start-up) waits for it:
# long enough for a short shell transaction to end, short enough that a caller gets its
# UNAVAILABLE (and retry hint) before a typical 5 s HTTP client timeout.
_DEFAULT_LOCK_WAIT_S = 2.0
# The runner's operations wait this long: they are tried again later anyway, and a longer wait
# would hold the writer thread, where callers' writes queue.
_BACKGROUND_LOCK_WAIT_S = 0.5
# Kept back from a call's remaining time (at most a quarter of it), so its UNAVAILABLE answer
# reaches the caller before the deadline does.
_ANSWER_MARGIN_S = 0.2
# sqlite3 primary result codes (extended codes carry them in the low byte).
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
# Queued jobs failed by one expiry pass; the rest wait for the next pass.
_EXPIRE_BATCH = 500
# Operations waiting for one of the store's threads (each thread separately); more are refused
# StoreBusy at once. With the lock free an operation takes about a millisecond, and queued writes
# fail fast once one has waited in vain, so a full queue means a stuck disk, not a busy server:
# 64 is several times the concurrent job calls a server sees, and bounds the memory they hold.
_MAX_WAITING_CALLS = 64


class StoreInUse(RuntimeError):
    """Another server process owns the job database: two would both run its jobs."""


class _OwnerLock:
    """An exclusive ``flock`` on ``<database>.lock`` for as long as a store is open.

    SQLite's own locks are per transaction: two servers on one file would both claim and run its
    jobs. The lock file names the owner's process id, for the error message; the kernel drops the
    lock when the process dies (kill -9 too), so a crash never leaves the file locked.
    """

    def __init__(self, database: str) -> None:
        self.path = Path(f"{database}.lock")
        self._file: Any = None

    def acquire(self) -> None:
        """Raises StoreInUse when another open store (in any process) holds the lock."""
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise StoreInUse(
                f"the job database {self.path.with_suffix('')} is in use by another server (pid {owner}): "
                "give each server its own job_db_path"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


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
    version     INTEGER NOT NULL DEFAULT 1,
    summary     BLOB NOT NULL DEFAULT x''
);
CREATE INDEX IF NOT EXISTS jobs_owner_seq ON jobs (owner, seq);
CREATE INDEX IF NOT EXISTS jobs_state_seq ON jobs (state, seq);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""
# Created after the migration in _connect: older files lack the summary column.
_INDEXES = """
CREATE INDEX IF NOT EXISTS jobs_owner_created ON jobs (owner, created_at, job_id);
CREATE INDEX IF NOT EXISTS jobs_owner_state ON jobs (owner, state);
"""
_FINAL = tuple(state.value for state in JobState if state.final)
_UNFINISHED = (JobState.QUEUED.value, JobState.RUNNING.value)


def _lock_wait_s(deadline: float | None) -> float:
    """How long an operation may wait for another writer's lock; <= 0 when it is already late."""
    if deadline is None:
        return _DEFAULT_LOCK_WAIT_S
    remaining = deadline - time.monotonic()
    return min(_MAX_LOCK_WAIT_S, remaining - min(_ANSWER_MARGIN_S, remaining / 4))


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    return exc.sqlite_errorcode & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


class JobStore:
    """Jobs in one SQLite file, owned by one server process. Build it with :meth:`open`.

    Every read and write takes the owner: a job of another owner looks exactly like a missing one.
    Callers' operations take ``deadline`` (a ``time.monotonic()`` value, or None): the longest they
    wait for another writer's lock before raising :class:`StoreBusy`.

    Args:
        path: the database file (created with its folder); ":memory:" for a throwaway store.
        clock: Unix time (tests pass a fake to test expiry).
        quota: per-owner bounds on unfinished jobs.
    """

    def __init__(
        self, path: Path | str, clock: Callable[[], float] = time.time, quota: JobQuota | None = None
    ) -> None:
        self._path = str(path)
        self._clock = clock
        self._quota = quota or JobQuota()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="datalid-jobstore")
        # Reads have a thread and connection of their own: WAL lets them through while another
        # writer holds the lock, so a write waiting for that lock never holds a read up. A
        # ":memory:" database exists only in its one connection.
        self._read_executor = (
            self._executor
            if self._path == ":memory:"
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="datalid-jobstore-read")
        )
        # Each thread's own connection (sqlite3 objects stay on the thread that made them).
        self._local = threading.local()
        self._closed = False
        self._tokens = PageTokens(b"")
        self._watchers = Watchers()
        # Operations submitted to each thread (True: the reader's) and not yet done; event loop only.
        self._waiting = {False: 0, True: 0}
        # Set on the writer's thread when a write waited in vain for another writer's lock, cleared
        # when a write transaction commits: while set, writes try the lock without waiting.
        self._contended = False
        self._owner = _OwnerLock(self._path) if self._path != ":memory:" else None

    @classmethod
    async def open(cls, path: Path | str, *, max_attempts: int = 3, **kwargs: Any) -> JobStore:
        """Opens (or creates) the store and recovers the jobs a crash left RUNNING.

        Args:
            path: the database file.
            max_attempts: a job claimed this many times without finishing ends FAILED on recovery.
            kwargs: ``clock`` and ``quota``, as the constructor takes them.

        Raises:
            StoreBusy: another writer held the file for ``_MAX_LOCK_WAIT_S`` during recovery.
            StoreInUse: another open store, in this process or another, owns the file.
        """
        store = cls(path, **kwargs)
        if store._owner is not None:
            Path(store._path).parent.mkdir(parents=True, exist_ok=True)
            store._owner.acquire()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(store._executor, store._connect)
        if store._read_executor is not store._executor:
            await loop.run_in_executor(store._read_executor, store._connect_reader)
        requeued, failed = await store._run(
            store._recover, max_attempts, deadline=time.monotonic() + _MAX_LOCK_WAIT_S + _ANSWER_MARGIN_S
        )
        if requeued or failed:
            _LOGGER.info(
                "job recovery: %d requeued, %d failed after %d attempts", requeued, failed, max_attempts
            )
        return store

    def _connect(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=_MAX_LOCK_WAIT_S)
        # WAL: a reader never waits for the writer; a committed transaction survives kill -9.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        if "summary" not in {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}:
            conn.execute("ALTER TABLE jobs ADD COLUMN summary BLOB NOT NULL DEFAULT x''")
        conn.executescript(_INDEXES)
        # Written once per file; read first so that opening a file another writer holds works.
        if conn.execute("SELECT 1 FROM meta WHERE name = 'cursor_key'").fetchone() is None:
            conn.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('cursor_key', ?)",
                (secrets.token_bytes(32),),
            )
        key = conn.execute("SELECT value FROM meta WHERE name = 'cursor_key'").fetchone()[0]
        self._tokens = PageTokens(bytes(key))
        self._local.conn = conn

    def _connect_reader(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=_MAX_LOCK_WAIT_S)
        conn.execute("PRAGMA query_only = ON")
        self._local.conn = conn

    async def _run(
        self, fn: Callable[..., _T], *args: Any, deadline: float | None = None, read: bool = False
    ) -> _T:
        """``fn(*args)`` on the writer's thread (the reader's with ``read``), see ``_guarded``.

        Raises:
            StoreBusy: ``_MAX_WAITING_CALLS`` operations already wait for that thread.
        """
        if self._waiting[read] >= _MAX_WAITING_CALLS:
            raise StoreBusy(f"the job store has {_MAX_WAITING_CALLS} operations waiting already")
        call = functools.partial(self._guarded, functools.partial(fn, *args), deadline, write=not read)
        executor = self._read_executor if read else self._executor
        self._waiting[read] += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, call)
        finally:
            self._waiting[read] -= 1

    async def _background(self, fn: Callable[..., _T], *args: Any) -> _T:
        """A runner's write: it waits ``_BACKGROUND_LOCK_WAIT_S`` at most for a locked database."""
        return await self._run(fn, *args, deadline=time.monotonic() + _BACKGROUND_LOCK_WAIT_S)

    def _guarded(self, call: Callable[[], _T], deadline: float | None, *, write: bool) -> _T:
        """Runs ``call`` on the store's thread, waiting for a locked database until ``deadline``; a
        write queued behind one that waited in vain does not wait at all (see ``_contended``)."""
        wait_s = _lock_wait_s(deadline)
        if wait_s <= 0:
            # The deadline passed while the call waited behind others for the store's thread.
            raise StoreBusy("the job store was busy until the call's deadline")
        fail_fast = write and self._contended
        if fail_fast:
            wait_s = 0.0
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if db.in_transaction:
                db.rollback()
            if not _is_lock_error(exc):
                raise
            if write:
                self._contended = True
            if fail_fast:
                raise StoreBusy(
                    "the job database is locked by another writer; an earlier write waited for it in vain"
                ) from exc
            raise StoreBusy(f"the job database is locked by another writer; waited {wait_s:.1f} s") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock first, so a lock wait happens before any change."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        db.execute("COMMIT")
        # The lock was had: queued writes may wait for it again.
        self._contended = False

    @property
    def _db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            raise RuntimeError("the job store is closed")
        return conn

    def _select(self, job_id: str) -> JobRecord | None:
        row = self._db.execute(f"SELECT {COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else record_of(row)

    def _update(self, job_id: str, where_states: tuple[str, ...], **values: Any) -> JobRecord | None:
        """Sets ``values`` if the job is in one of ``where_states``; the new record, or None if not."""
        with self._transaction() as db:
            return self._set(db, job_id, where_states, **values)

    def _set(
        self, db: sqlite3.Connection, job_id: str, where_states: tuple[str, ...], **values: Any
    ) -> JobRecord | None:
        """:meth:`_update` inside the caller's transaction ``db``."""
        assignments = ", ".join(f"{name} = ?" for name in values)
        marks = ", ".join("?" for _ in where_states)
        cursor = db.execute(
            f"UPDATE jobs SET {assignments}, version = version + 1 WHERE job_id = ? AND state IN ({marks})",
            (*values.values(), job_id, *where_states),
        )
        return self._select(job_id) if cursor.rowcount else None

    def _recover(self, max_attempts: int) -> tuple[int, int]:
        # Read first: a clean start needs no write, so it works while another writer holds the file.
        if (
            self._db.execute("SELECT 1 FROM jobs WHERE state = ? LIMIT 1", (JobState.RUNNING,)).fetchone()
            is None
        ):
            return 0, 0
        now = self._clock()
        with self._transaction() as db:
            failed = db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, message = ?, image = x'', "
                "version = version + 1 WHERE state = ? AND attempts >= ?",
                (
                    JobState.FAILED,
                    now,
                    f"abandoned: the server stopped while running it {max_attempts} times",
                    JobState.RUNNING,
                    max_attempts,
                ),
            ).rowcount
            requeued = db.execute(
                "UPDATE jobs SET state = ?, started_at = NULL, progress = 0, "
                "message = 'requeued: the server restarted while it ran', version = version + 1 "
                "WHERE state = ?",
                (JobState.QUEUED, JobState.RUNNING),
            ).rowcount
        return requeued, failed

    # --- callers' operations -------------------------------------------------------------------

    async def create(self, owner: str, payload: JobPayload, *, deadline: float | None = None) -> JobRecord:
        """Stores a new QUEUED job (committed before this returns) and returns it.

        Raises:
            QuotaExceeded: the owner's unfinished jobs would exceed the store's :class:`JobQuota`.
            StoreBusy: the database stayed locked until ``deadline``.
        """

        def insert() -> JobRecord:
            with self._transaction() as db:
                jobs, used = db.execute(
                    "SELECT COUNT(*), COALESCE(SUM(length(image) + length(CAST(url AS BLOB)) "
                    "+ length(options)), 0) FROM jobs WHERE owner = ? AND state IN (?, ?)",
                    (owner, *_UNFINISHED),
                ).fetchone()
                check_quota(self._quota, jobs, used, payload.size)
                job_id = uuid.uuid4().hex
                payload_columns = (payload.image, payload.url, payload.options)
                db.execute(
                    "INSERT INTO jobs (job_id, owner, state, created_at, image, url, options, message) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'queued')",
                    (job_id, owner, JobState.QUEUED, self._clock(), *payload_columns),
                )
                record = self._select(job_id)
            assert record is not None
            return record

        return self._publish(await self._run(insert, deadline=deadline))

    async def get(self, owner: str, job_id: str, *, deadline: float | None = None) -> JobRecord | None:
        """The job, or None if it does not exist or belongs to another owner."""
        record = await self._run(self._select, job_id, deadline=deadline, read=True)
        return record if record is not None and record.owner == owner else None

    async def list(
        self,
        owner: str,
        *,
        state: JobState | None,
        page_size: int,
        max_bytes: int,
        page_token: str = "",
        deadline: float | None = None,
    ) -> tuple[list[JobRecord], str]:
        """The owner's jobs, newest first, and the token of the next page ("" on the last page).

        Records carry the result's summary, not the full result (see :class:`JobRecord`).

        Args:
            state: only jobs in this state; None for all.
            page_size: at most this many jobs.
            max_bytes: the page ends once its results, errors and messages reach this many bytes
                (it holds at least one job).
            page_token: the token a previous call returned for the same owner and state; "" for
                the first page.

        Raises:
            InvalidCursor: ``page_token`` is not one this store issued for this owner and state.
        """
        scope = state.value if state is not None else ""
        after = self._tokens.decode(owner, scope, page_token) if page_token else None

        def select() -> tuple[list[JobRecord], str]:
            clauses, args = ["owner = ?"], [owner]
            if state is not None:
                clauses.append("state = ?")
                args.append(state.value)
            if after is not None:
                clauses.append("(created_at, job_id) < (?, ?)")
                args.extend(after)
            query = (
                f"SELECT {LIST_COLUMNS} FROM jobs WHERE {' AND '.join(clauses)} "
                "ORDER BY created_at DESC, job_id DESC LIMIT ?"
            )
            records: list[JobRecord] = []
            size = 0
            # Row by row: a page never reads more than its byte bound plus one job. Closed at the
            # end so the statement's read snapshot does not outlive the call.
            with contextlib.closing(self._db.execute(query, (*args, page_size + 1))) as rows:
                for row in rows:
                    record = record_of(row)
                    size += listed_bytes(record)
                    if len(records) == page_size or (records and size > max_bytes):
                        last = records[-1]
                        return records, self._tokens.encode(owner, scope, last.created_at, last.job_id)
                    records.append(record)
            return records, ""

        return await self._run(select, deadline=deadline, read=True)

    async def cancel(self, owner: str, job_id: str, *, deadline: float | None = None) -> JobRecord | None:
        """Cancels a QUEUED or RUNNING job; a final job stays as it is. None if not the owner's."""

        def cancel() -> JobRecord | None:
            record = self._select(job_id)
            if record is None or record.owner != owner:
                return None
            updated = self._update(
                job_id,
                _UNFINISHED,
                state=JobState.CANCELLED,
                finished_at=self._clock(),
                message="cancelled by the caller",
                image=b"",
            )
            return updated or self._select(job_id)

        record = await self._run(cancel, deadline=deadline)
        return None if record is None else self._publish(record)

    async def delete(self, owner: str, job_id: str, *, deadline: float | None = None) -> bool:
        """Deletes the job (a running one is cancelled first). False if not the owner's."""

        def delete() -> JobRecord | None:
            with self._transaction() as db:
                record = self._select(job_id)
                if record is None or record.owner != owner:
                    return None
                cancelled = self._set(
                    db,
                    job_id,
                    _UNFINISHED,
                    state=JobState.CANCELLED,
                    finished_at=self._clock(),
                    message="deleted by the caller",
                ) or self._select(job_id)
                db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
            return cancelled

        record = await self._run(delete, deadline=deadline)
        if record is None:
            return False
        self._publish(record)
        return True

    async def watch(
        self, owner: str, job_id: str, *, deadline: float | None = None
    ) -> AsyncGenerator[JobRecord, None] | None:
        """The job's states from now until it is final (see ``Watchers.watch``), or None if it is
        not the owner's."""
        return await self._watchers.watch(job_id, lambda: self.get(owner, job_id, deadline=deadline))

    # --- the runner's operations ---------------------------------------------------------------
    # They wait at most _BACKGROUND_LOCK_WAIT_S for a locked database and raise StoreBusy beyond:
    # the runner tries again later. Those that usually find nothing to do look before they lock.

    def add_listener(self, listener: Callable[[JobRecord], None]) -> None:
        """Calls ``listener`` on the event loop with every new state of every job."""
        self._watchers.add_listener(listener)

    async def claim_next(self, *, queued_ttl_s: float | None = None) -> tuple[JobRecord, JobPayload] | None:
        """Moves the oldest QUEUED job to RUNNING and returns it with its payload; None if none waits.

        Args:
            queued_ttl_s: jobs created longer ago than this are left for :meth:`expire_queued`.
        """
        oldest = -float("inf") if queued_ttl_s is None else self._clock() - queued_ttl_s

        def next_queued(db: sqlite3.Connection) -> tuple[Any, ...] | None:
            return db.execute(
                "SELECT job_id, image, url, options FROM jobs WHERE state = ? AND created_at >= ? "
                "ORDER BY seq LIMIT 1",
                (JobState.QUEUED, oldest),
            ).fetchone()

        def claim() -> tuple[JobRecord, JobPayload] | None:
            # Looked for before the lock is taken: an idle runner never takes it.
            if next_queued(self._db) is None:
                return None
            with self._transaction() as db:
                row = next_queued(db)
                if row is None:
                    return None
                db.execute(
                    "UPDATE jobs SET state = ?, started_at = ?, attempts = attempts + 1, progress = 0, "
                    "message = 'running', version = version + 1 WHERE job_id = ?",
                    (JobState.RUNNING, self._clock(), row[0]),
                )
                record = self._select(row[0])
            assert record is not None
            return record, JobPayload(bytes(row[1]), row[2], bytes(row[3]))

        claimed = await self._background(claim)
        if claimed is not None:
            self._publish(claimed[0])
        return claimed

    async def progress(self, job_id: str, progress: float, message: str) -> JobRecord | None:
        """Records progress of a RUNNING job; None if it is no longer running (cancelled, deleted)."""
        record = await self._background(
            functools.partial(self._update, progress=progress, message=message),
            job_id,
            (JobState.RUNNING,),
        )
        return None if record is None else self._publish(record)

    async def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        result: bytes = b"",
        summary: bytes = b"",
        error: bytes = b"",
        message: str = "",
    ) -> JobRecord | None:
        """Ends a RUNNING job in ``state``. None, changing nothing, if it is no longer RUNNING:
        a cancelled job stays CANCELLED whatever its run produced.

        Args:
            result: the full result, for GetJob and WatchJob.
            summary: what ListJobs shows of it (the result without its pictures).
        """
        assert state.final
        update = functools.partial(
            self._update,
            state=state,
            result=result,
            summary=summary,
            error=error,
            message=message,
            finished_at=self._clock(),
            progress=1.0 if state == JobState.SUCCEEDED else 0.0,
            image=b"",
        )
        record = await self._background(update, job_id, (JobState.RUNNING,))
        return None if record is None else self._publish(record)

    async def requeue(self, job_id: str, message: str, *, keep_attempt: bool = False) -> JobRecord | None:
        """Puts a RUNNING job back to QUEUED (the server is stopping, or it was refused for load);
        None if it is no longer RUNNING.

        The claim is given back (``attempts`` goes down by one): the job did not get to run, so it
        must not come nearer to ``max_attempts``, which is for jobs that take the server down.
        With ``keep_attempt`` it is not: the process reading it died, which is what that counts.
        """

        def requeue() -> JobRecord | None:
            with self._transaction() as db:
                cursor = db.execute(
                    "UPDATE jobs SET state = ?, started_at = NULL, progress = 0, message = ?, "
                    "attempts = MAX(attempts - ?, 0), version = version + 1 WHERE job_id = ? AND state = ?",
                    (JobState.QUEUED, message, 0 if keep_attempt else 1, job_id, JobState.RUNNING),
                )
                return self._select(job_id) if cursor.rowcount else None

        record = await self._background(requeue)
        return None if record is None else self._publish(record)

    async def expire(self, ttl_s: float) -> int:
        """Deletes the jobs that finished more than ``ttl_s`` ago; returns how many."""

        def delete() -> int:
            marks = ", ".join("?" for _ in _FINAL)
            where = (f"state IN ({marks}) AND finished_at < ?", (*_FINAL, self._clock() - ttl_s))
            # Looked for before the lock is taken: most passes find nothing to delete.
            if self._db.execute(f"SELECT 1 FROM jobs WHERE {where[0]} LIMIT 1", where[1]).fetchone() is None:
                return 0
            with self._transaction() as db:
                return db.execute(f"DELETE FROM jobs WHERE {where[0]}", where[1]).rowcount

        return await self._background(delete)

    async def expire_queued(self, ttl_s: float, *, error: bytes, message: str) -> int:
        """Fails the jobs that have waited QUEUED for more than ``ttl_s`` since they were created
        (at most ``_EXPIRE_BATCH`` per call), with ``error`` and ``message``; returns how many."""

        def fail() -> list[JobRecord]:
            now = self._clock()
            # Looked for before the lock is taken: most passes find nothing to fail.
            ids = [
                row[0]
                for row in self._db.execute(
                    "SELECT job_id FROM jobs WHERE state = ? AND created_at < ? ORDER BY seq LIMIT ?",
                    (JobState.QUEUED, now - ttl_s, _EXPIRE_BATCH),
                )
            ]
            if not ids:
                return []
            with self._transaction() as db:
                db.executemany(
                    "UPDATE jobs SET state = ?, finished_at = ?, error = ?, message = ?, image = x'', "
                    "progress = 0, version = version + 1 WHERE job_id = ? AND state = ?",
                    [(JobState.FAILED, now, error, message, job_id, JobState.QUEUED) for job_id in ids],
                )
                records = [self._select(job_id) for job_id in ids]
            return [r for r in records if r is not None]

        expired = await self._background(fail)
        for record in expired:
            self._publish(record)
        return len(expired)

    async def close(self) -> None:
        """Closes the database; idempotent."""
        if self._closed:
            return
        self._closed = True

        def close() -> None:
            conn = getattr(self._local, "conn", None)
            if conn is not None:
                conn.close()
                self._local.conn = None

        loop = asyncio.get_running_loop()
        for executor in {self._executor, self._read_executor}:
            await loop.run_in_executor(executor, close)
            executor.shutdown(wait=False)
        if self._owner is not None:
            self._owner.release()

    def counts_by_state(self) -> dict[str, int]:
        """Jobs per state now (QUEUED, RUNNING...), for the metrics scrape.

        Blocking: meant for the scrape thread, which waits briefly on the store's reading thread
        (its SQLite connection lives there); an empty mapping once the store is closed.
        """

        def count() -> dict[str, int]:
            conn = getattr(self._local, "conn", None)
            if conn is None:
                return {}
            rows = conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
            return {state: n for state, n in rows}

        try:
            return self._read_executor.submit(count).result(timeout=_COUNT_TIMEOUT_S)
        # Closed, too busy for this scrape, or the file is unreadable for now: skip one sample.
        except (RuntimeError, TimeoutError, sqlite3.Error):
            return {}

    def _publish(self, record: JobRecord) -> JobRecord:
        return self._watchers.publish(record)
