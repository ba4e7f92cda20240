"""Jobs in PostgreSQL, shared by every replica of the server: the many-machine job store.

The same operations and state machine as the SQLite store (``server.jobs.sqlite``), for replicas
that each run a job runner against one database:

- **Claims** take the oldest QUEUED job with ``SELECT ... FOR UPDATE SKIP LOCKED``: two replicas
  claiming at once get two different jobs, never the same one, and never wait for each other.
- **Leases.** A claim writes the claiming replica (``lease_owner``) and a lease that runs out
  ``lease_s`` later; the replica renews the leases of the jobs it runs every ``lease_s / 3``. A
  replica that dies (kill -9, a lost machine) stops renewing: once its leases run out, any other
  replica puts its jobs back in the queue (or ends them FAILED after ``max_attempts`` claims, so a
  job that kills replicas cannot do so forever). Only the lease holder can move a RUNNING job on
  (progress, finish, requeue): a replica whose lease was taken from it finds its result refused,
  so every job ends exactly once.
- **Watches** see every replica's changes: each change is committed with a ``NOTIFY`` on the
  ``datalid_jobs`` channel; each store LISTENs on its own connection and passes the new state of
  the jobs it has watchers or listeners for on to them. A WatchJob on one replica follows a job
  another replica runs.
- **Migrations** are numbered; ``open`` applies the missing ones in order, under an advisory lock,
  so replicas starting together apply each once, and records each in ``datalid_schema``.

Connections come from a bounded pool (psycopg_pool); a database that cannot be reached, or a pool
with no free connection within the caller's deadline, raises :class:`StoreBusy` (UNAVAILABLE with a
retry hint), as a locked SQLite file does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

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

__all__ = ["MIGRATIONS", "PostgresJobStore"]

_LOGGER = logging.getLogger(__name__)
_CHANNEL = "datalid_jobs"
# An arbitrary constant: the advisory lock replicas take to apply migrations one at a time.
_MIGRATION_LOCK = 0x6461746C6964  # "datlid"
# Numbered schema changes, applied in order, each once per database.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE jobs (
            seq           BIGSERIAL PRIMARY KEY,
            job_id        TEXT NOT NULL UNIQUE,
            owner         TEXT NOT NULL,
            state         TEXT NOT NULL,
            progress      DOUBLE PRECISION NOT NULL DEFAULT 0,
            message       TEXT NOT NULL DEFAULT '',
            created_at    DOUBLE PRECISION NOT NULL,
            started_at    DOUBLE PRECISION,
            finished_at   DOUBLE PRECISION,
            image         BYTEA NOT NULL,
            url           TEXT NOT NULL,
            options       BYTEA NOT NULL,
            result        BYTEA NOT NULL DEFAULT '',
            summary       BYTEA NOT NULL DEFAULT '',
            error         BYTEA NOT NULL DEFAULT '',
            attempts      INTEGER NOT NULL DEFAULT 0,
            version       INTEGER NOT NULL DEFAULT 1,
            lease_owner   TEXT,
            lease_expires DOUBLE PRECISION
        );
        CREATE INDEX jobs_queued ON jobs (seq) WHERE state = 'QUEUED';
        CREATE INDEX jobs_running_lease ON jobs (lease_expires) WHERE state = 'RUNNING';
        CREATE INDEX jobs_owner_created ON jobs (owner, created_at, job_id);
        CREATE INDEX jobs_owner_state ON jobs (owner, state);
        CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
        CREATE TABLE datalid_meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
        """,
    ),
)
_FINAL = [state.value for state in JobState if state.final]
_UNFINISHED = [JobState.QUEUED.value, JobState.RUNNING.value]
# As the SQLite store: how long a call without a deadline, and the runner, may wait for the database.
_DEFAULT_WAIT_S = 2.0
_BACKGROUND_WAIT_S = 5.0
_EXPIRE_BATCH = 500
_COUNT_TIMEOUT_S = 2.0


def _wait_s(deadline: float | None) -> float:
    if deadline is None:
        return _DEFAULT_WAIT_S
    return max(0.0, deadline - time.monotonic() - 0.1)


class PostgresJobStore:
    """Jobs in a PostgreSQL database shared by many server replicas. Build it with :meth:`open`.

    Args:
        pool: the connection pool (opened).
        url: the database's connection string (for the LISTEN connection).
        replica: this replica's name in leases (host and process id by default).
        lease_s: how long a claim holds a job without being renewed.
        max_attempts: claims after which a job whose replica died ends FAILED.
        clock: Unix time.
        quota: per-owner bounds on unfinished jobs.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        url: str,
        *,
        replica: str = "",
        lease_s: float = 30.0,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.time,
        quota: JobQuota | None = None,
    ) -> None:
        self._pool = pool
        self._url = url
        self.replica = replica or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._lease_s = lease_s
        self._max_attempts = max_attempts
        self._clock = clock
        self._quota = quota or JobQuota()
        self._tokens = PageTokens(b"")
        self._watchers = Watchers()
        self._running: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    async def open(
        cls, url: str, *, max_attempts: int = 3, pool_size: int = 8, **kwargs: Any
    ) -> PostgresJobStore:
        """Connects, applies the missing migrations, and starts listening and keeping leases.

        Args:
            url: ``postgresql://user:password@host:port/database`` (libpq's forms all work).
            max_attempts: claims after which a job whose replica died ends FAILED.
            pool_size: connections at most (each caller's operation holds one while it runs).
            kwargs: ``replica``, ``lease_s``, ``clock`` and ``quota``, as the constructor takes them.

        Raises:
            StoreBusy: the database could not be reached.
        """
        pool = AsyncConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, kwargs={"autocommit": True}
        )
        try:
            await pool.open(wait=True, timeout=10)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            await pool.close()
            raise StoreBusy(f"the job database cannot be reached: {_reason(exc)}") from exc
        store = cls(pool, url, max_attempts=max_attempts, **kwargs)
        store._loop = asyncio.get_running_loop()
        try:
            await store._migrate()
            store._tokens = PageTokens(await store._cursor_key())
        except BaseException:
            await pool.close()
            raise
        store._tasks = [
            asyncio.create_task(store._listen(), name="datalid-jobs-listen"),
            asyncio.create_task(store._keep_leases(), name="datalid-jobs-leases"),
        ]
        return store

    # --- plumbing -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connection(self, deadline: float | None = None) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection, waited for until shortly before ``deadline``.

        Raises:
            StoreBusy: none came in time, or the database failed (connection lost, restart).
        """
        try:
            async with self._pool.connection(timeout=max(0.05, _wait_s(deadline))) as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreBusy("the job database is busy: no free connection in time") from exc
        except psycopg.OperationalError as exc:
            raise StoreBusy(f"the job database failed: {_reason(exc)}") from exc

    async def _migrate(self) -> None:
        async with self._connection(time.monotonic() + 30) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS datalid_schema "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cursor = await conn.execute("SELECT version FROM datalid_schema")
            applied = {row[0] for row in await cursor.fetchall()}
            for version, statements in MIGRATIONS:
                if version in applied:
                    continue
                await conn.execute(statements)  # type: ignore[arg-type]
                await conn.execute("INSERT INTO datalid_schema (version) VALUES (%s)", (version,))
                _LOGGER.info("job database: migration %d applied", version)

    async def _cursor_key(self) -> bytes:
        async with self._connection(time.monotonic() + 10) as conn:
            await conn.execute(
                "INSERT INTO datalid_meta (name, value) VALUES ('cursor_key', %s) ON CONFLICT DO NOTHING",
                (secrets.token_bytes(32),),
            )
            cursor = await conn.execute("SELECT value FROM datalid_meta WHERE name = 'cursor_key'")
            row = await cursor.fetchone()
        assert row is not None
        return bytes(row[0])

    @staticmethod
    async def _notify(conn: psycopg.AsyncConnection, record: JobRecord) -> None:
        # Sent when the transaction commits; a rolled-back change notifies nobody.
        payload = f"{record.job_id} {record.version} {record.state.value}"
        await conn.execute("SELECT pg_notify(%s, %s)", (_CHANNEL, payload))

    async def _select(self, conn: psycopg.AsyncConnection, job_id: str) -> JobRecord | None:
        cursor = await conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE job_id = %s", (job_id,))
        row = await cursor.fetchone()
        return None if row is None else record_of(row)

    async def _set(
        self,
        conn: psycopg.AsyncConnection,
        job_id: str,
        where_states: list[str],
        *,
        lease_holder: bool = False,
        **values: Any,
    ) -> JobRecord | None:
        """Sets ``values`` if the job is in one of ``where_states`` (and, with ``lease_holder``,
        this replica holds its lease); the new record, notified, or None."""
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder()) for name in values
        )
        query = sql.SQL(
            "UPDATE jobs SET {}, version = version + 1 WHERE job_id = %s AND state = ANY(%s){} RETURNING "
        ).format(assignments, sql.SQL(" AND lease_owner = %s") if lease_holder else sql.SQL(""))
        args = [*values.values(), job_id, where_states, *([self.replica] if lease_holder else [])]
        cursor = await conn.execute(query + sql.SQL(COLUMNS), args)
        row = await cursor.fetchone()
        if row is None:
            return None
        record = record_of(row)
        await self._notify(conn, record)
        return record

    # --- callers' operations --------------------------------------------------------------------

    async def create(self, owner: str, payload: JobPayload, *, deadline: float | None = None) -> JobRecord:
        """Stores a new QUEUED job and returns it (see ``JobStore.create``).

        Raises:
            QuotaExceeded: the owner's unfinished jobs would exceed the quota.
            StoreBusy: the database could not be used in time.
        """
        async with self._connection(deadline) as conn, conn.transaction():
            # One owner's creations one at a time, on every replica: the quota check holds.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (owner,))
            cursor = await conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(length(image) + octet_length(url) + length(options)), 0) "
                "FROM jobs WHERE owner = %s AND state = ANY(%s)",
                (owner, _UNFINISHED),
            )
            jobs, used = await cursor.fetchone()  # type: ignore[misc]
            check_quota(self._quota, jobs, int(used), payload.size)
            cursor = await conn.execute(
                "INSERT INTO jobs (job_id, owner, state, created_at, image, url, options, message) "
                f"VALUES (%s, %s, %s, %s, %s, %s, %s, 'queued') RETURNING {COLUMNS}",
                (
                    uuid.uuid4().hex,
                    owner,
                    JobState.QUEUED.value,
                    self._clock(),
                    payload.image,
                    payload.url,
                    payload.options,
                ),
            )
            record = record_of(await cursor.fetchone())  # type: ignore[arg-type]
            await self._notify(conn, record)
        return self._publish(record)

    async def get(self, owner: str, job_id: str, *, deadline: float | None = None) -> JobRecord | None:
        """The job, or None if it does not exist or belongs to another owner."""
        async with self._connection(deadline) as conn:
            record = await self._select(conn, job_id)
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
        """The owner's jobs, newest first, and the next page's token (see ``JobStore.list``).

        Raises:
            InvalidCursor: ``page_token`` is not one this database's replicas issued for this owner
                and state.
        """
        scope = state.value if state is not None else ""
        after = self._tokens.decode(owner, scope, page_token) if page_token else None
        clauses, args = ["owner = %s"], [owner]
        if state is not None:
            clauses.append("state = %s")
            args.append(state.value)
        if after is not None:
            clauses.append("(created_at, job_id) < (%s, %s)")
            args.extend(after)  # type: ignore[arg-type]
        query = (
            f"SELECT {LIST_COLUMNS} FROM jobs WHERE {' AND '.join(clauses)} "
            "ORDER BY created_at DESC, job_id DESC LIMIT %s"
        )
        records: list[JobRecord] = []
        size = 0
        async with self._connection(deadline) as conn, conn.transaction():
            # A server-side cursor read a few rows at a time: a page never holds more than its
            # byte bound plus a few jobs. It ends with the transaction.
            cursor = conn.cursor(name="datalid_list_page")
            await cursor.execute(query, (*args, page_size + 1))  # type: ignore[arg-type]
            while rows := await cursor.fetchmany(8):
                for row in rows:
                    record = record_of(row)
                    size += listed_bytes(record)
                    if len(records) == page_size or (records and size > max_bytes):
                        last = records[-1]
                        return records, self._tokens.encode(owner, scope, last.created_at, last.job_id)
                    records.append(record)
        return records, ""

    async def cancel(self, owner: str, job_id: str, *, deadline: float | None = None) -> JobRecord | None:
        """Cancels a QUEUED or RUNNING job; a final one stays. None if not the owner's."""
        async with self._connection(deadline) as conn, conn.transaction():
            record = await self._select(conn, job_id)
            if record is None or record.owner != owner:
                return None
            updated = await self._set(
                conn,
                job_id,
                _UNFINISHED,
                state=JobState.CANCELLED.value,
                finished_at=self._clock(),
                message="cancelled by the caller",
                image=b"",
            )
        return self._publish(updated or record)

    async def delete(self, owner: str, job_id: str, *, deadline: float | None = None) -> bool:
        """Deletes the job (a running one is cancelled first). False if not the owner's."""
        async with self._connection(deadline) as conn, conn.transaction():
            record = await self._select(conn, job_id)
            if record is None or record.owner != owner:
                return False
            cancelled = await self._set(
                conn,
                job_id,
                _UNFINISHED,
                state=JobState.CANCELLED.value,
                finished_at=self._clock(),
                message="deleted by the caller",
            )
            await conn.execute("DELETE FROM jobs WHERE job_id = %s", (job_id,))
        self._publish(cancelled or record)
        return True

    async def watch(
        self, owner: str, job_id: str, *, deadline: float | None = None
    ) -> AsyncGenerator[JobRecord, None] | None:
        """The job's states until it is final, whichever replica changes it (see
        ``Watchers.watch``), or None if it is not the owner's."""
        return await self._watchers.watch(job_id, lambda: self.get(owner, job_id, deadline=deadline))

    # --- the runner's operations ----------------------------------------------------------------

    def add_listener(self, listener: Callable[[JobRecord], None]) -> None:
        """Calls ``listener`` on the event loop with every new state of every job, whichever
        replica changed it."""
        self._watchers.add_listener(listener)

    async def claim_next(self, *, queued_ttl_s: float | None = None) -> tuple[JobRecord, JobPayload] | None:
        """Moves the oldest QUEUED job to RUNNING under this replica's lease; None if none waits."""
        oldest = -1e300 if queued_ttl_s is None else self._clock() - queued_ttl_s
        now = self._clock()
        async with self._connection(time.monotonic() + _BACKGROUND_WAIT_S) as conn, conn.transaction():
            cursor = await conn.execute(
                "SELECT job_id FROM jobs WHERE state = 'QUEUED' AND created_at >= %s "
                "ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
                (oldest,),
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            cursor = await conn.execute(
                "UPDATE jobs SET state = 'RUNNING', started_at = %s, attempts = attempts + 1, progress = 0, "
                "message = 'running', version = version + 1, lease_owner = %s, lease_expires = %s "
                f"WHERE job_id = %s RETURNING {COLUMNS}, image, url, options",
                (now, self.replica, now + self._lease_s, row[0]),
            )
            claimed = await cursor.fetchone()
            assert claimed is not None
            record = record_of(claimed[:12])
            await self._notify(conn, record)
        self._running.add(record.job_id)
        return self._publish(record), JobPayload(bytes(claimed[12]), claimed[13], bytes(claimed[14]))

    async def progress(self, job_id: str, progress: float, message: str) -> JobRecord | None:
        """Records progress of a job this replica runs; None if it no longer does."""
        async with self._connection(time.monotonic() + _BACKGROUND_WAIT_S) as conn, conn.transaction():
            record = await self._set(
                conn, job_id, [JobState.RUNNING.value], lease_holder=True, progress=progress, message=message
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
        """Ends a job this replica runs in ``state``; None, changing nothing, if it is no longer
        RUNNING under this replica's lease (cancelled, or requeued after the lease ran out)."""
        assert state.final
        self._running.discard(job_id)
        async with self._connection(time.monotonic() + _BACKGROUND_WAIT_S) as conn, conn.transaction():
            record = await self._set(
                conn,
                job_id,
                [JobState.RUNNING.value],
                lease_holder=True,
                state=state.value,
                result=result,
                summary=summary,
                error=error,
                message=message,
                finished_at=self._clock(),
                progress=1.0 if state == JobState.SUCCEEDED else 0.0,
                image=b"",
                lease_owner=None,
                lease_expires=None,
            )
        return None if record is None else self._publish(record)

    async def requeue(self, job_id: str, message: str, *, keep_attempt: bool = False) -> JobRecord | None:
        """Gives a job this replica runs back to the queue, and its claim with it unless
        ``keep_attempt`` (the process reading it died: see ``JobStore.requeue``)."""
        self._running.discard(job_id)
        async with self._connection(time.monotonic() + _BACKGROUND_WAIT_S) as conn, conn.transaction():
            cursor = await conn.execute(
                "UPDATE jobs SET state = 'QUEUED', started_at = NULL, progress = 0, message = %s, "
                "attempts = GREATEST(attempts - %s, 0), version = version + 1, lease_owner = NULL, "
                f"lease_expires = NULL WHERE job_id = %s AND state = 'RUNNING' AND lease_owner = %s "
                f"RETURNING {COLUMNS}",
                (message, 0 if keep_attempt else 1, job_id, self.replica),
            )
            row = await cursor.fetchone()
            record = None if row is None else record_of(row)
            if record is not None:
                await self._notify(conn, record)
        return None if record is None else self._publish(record)

    async def expire(self, ttl_s: float) -> int:
        """Deletes the jobs that finished more than ``ttl_s`` ago; returns how many."""
        async with self._connection(time.monotonic() + _BACKGROUND_WAIT_S) as conn:
            cursor = await conn.execute(
                "DELETE FROM jobs WHERE state = ANY(%s) AND finished_at < %s", (_FINAL, self._clock() - ttl_s)
            )
            return cursor.rowcount

    async def expire_queued(self, ttl_s: float, *, error: bytes, message: str) -> int:
        """Fails jobs QUEUED for more than ``ttl_s`` since they were created; returns how many."""
        async with self._connection(time.monotonic() + _BACKGROUND_WAIT_S) as conn, conn.transaction():
            now = self._clock()
            cursor = await conn.execute(
                "UPDATE jobs SET state = 'FAILED', finished_at = %s, error = %s, message = %s, "
                "image = '', progress = 0, version = version + 1 WHERE seq IN (SELECT seq FROM jobs "
                "WHERE state = 'QUEUED' AND created_at < %s ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED) "
                f"RETURNING {COLUMNS}",
                (now, error, message, now - ttl_s, _EXPIRE_BATCH),
            )
            records = [record_of(row) for row in await cursor.fetchall()]
            for record in records:
                await self._notify(conn, record)
        for record in records:
            self._publish(record)
        return len(records)

    async def reclaim_expired_leases(self) -> tuple[int, int]:
        """Puts back in the queue the RUNNING jobs whose lease ran out (their replica died), or ends
        them FAILED after ``max_attempts`` claims; returns (requeued, failed)."""
        now = self._clock()
        async with self._connection(time.monotonic() + _BACKGROUND_WAIT_S) as conn, conn.transaction():
            cursor = await conn.execute(
                "UPDATE jobs SET state = CASE WHEN attempts >= %s THEN 'FAILED' ELSE 'QUEUED' END, "
                "finished_at = CASE WHEN attempts >= %s THEN %s END, "
                "image = CASE WHEN attempts >= %s THEN ''::bytea ELSE image END, "
                "started_at = NULL, progress = 0, lease_owner = NULL, lease_expires = NULL, "
                "message = CASE WHEN attempts >= %s THEN %s "
                "ELSE 'requeued: the replica running it stopped' END, "
                "version = version + 1 "
                "WHERE seq IN (SELECT seq FROM jobs WHERE state = 'RUNNING' AND lease_expires < %s "
                "FOR UPDATE SKIP LOCKED) "
                f"RETURNING {COLUMNS}",
                (
                    self._max_attempts,
                    self._max_attempts,
                    now,
                    self._max_attempts,
                    self._max_attempts,
                    f"abandoned: a replica stopped while running it {self._max_attempts} times",
                    now,
                ),
            )
            records = [record_of(row) for row in await cursor.fetchall()]
            for record in records:
                await self._notify(conn, record)
        for record in records:
            self._publish(record)
        failed = sum(1 for r in records if r.state == JobState.FAILED)
        if records:
            _LOGGER.info("job leases ran out: %d requeued, %d failed", len(records) - failed, failed)
        return len(records) - failed, failed

    async def _keep_leases(self) -> None:
        """Renews this replica's leases and reclaims expired ones, every third of a lease."""
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                if self._running:
                    async with self._connection(time.monotonic() + _BACKGROUND_WAIT_S) as conn:
                        await conn.execute(
                            "UPDATE jobs SET lease_expires = %s WHERE lease_owner = %s AND state = 'RUNNING'",
                            (self._clock() + self._lease_s, self.replica),
                        )
                await self.reclaim_expired_leases()
            except StoreBusy as exc:  # the database is away for now; leases are tried again
                _LOGGER.warning("keeping job leases: %s", exc)

    async def _listen(self) -> None:
        """Follows every replica's changes (LISTEN), passing them to local watchers and listeners;
        reconnects after a lost connection, then reads every followed job again (a change made
        while it was away was notified to nobody)."""
        pause_s = 0.5
        while not self._closed:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, keepalives=1, keepalives_idle=30, keepalives_interval=10
                ) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(_CHANNEL)))
                    pause_s = 0.5
                    for job_id in self._watchers.watched():
                        await self._relay(job_id, 0, None)
                    async for notice in conn.notifies():
                        job_id, version, state = _parse_notice(notice.payload)
                        if job_id:
                            await self._relay(job_id, version, state)
            except psycopg.OperationalError as exc:
                _LOGGER.warning("listening for job changes: %s; reconnecting", _reason(exc))
                await asyncio.sleep(pause_s)
                pause_s = min(10.0, pause_s * 2)

    async def _relay(self, job_id: str, version: int, state: JobState | None) -> None:
        """A change another replica (or this one) committed, for whoever here follows it: the
        runner only needs the new state, which the notice carries; a watcher gets the record as
        read now, or, for a job deleted since, a final CANCELLED one."""
        if not self._watchers.follows(job_id):
            return
        if not self._watchers.watched_by_calls(job_id):
            if state is not None:
                self._publish(_bare(job_id, version, state, "changed"))
            return
        try:
            async with self._connection(time.monotonic() + _BACKGROUND_WAIT_S) as conn:
                record = await self._select(conn, job_id)
        except StoreBusy:
            return
        if record is None:
            self._publish(_bare(job_id, max(version, 1) + 1, JobState.CANCELLED, "deleted"))
        elif record.version >= version:
            self._publish(record)

    async def close(self) -> None:
        """Stops listening and keeping leases, and closes the pool; idempotent. Jobs still RUNNING
        here keep their leases until they run out (the runner requeues them first on a clean stop)."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pool.close()

    def counts_by_state(self) -> dict[str, int]:
        """Jobs per state now, for the metrics scrape (from the scrape's thread); {} if the database
        does not answer in time."""
        if self._loop is None or self._closed:
            return {}

        async def count() -> dict[str, int]:
            async with self._connection(time.monotonic() + _COUNT_TIMEOUT_S) as conn:
                cursor = await conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                return {state: n for state, n in await cursor.fetchall()}

        try:
            return asyncio.run_coroutine_threadsafe(count(), self._loop).result(timeout=_COUNT_TIMEOUT_S + 1)
        except (StoreBusy, TimeoutError, RuntimeError):
            return {}

    def _publish(self, record: JobRecord) -> JobRecord:
        if record.state != JobState.RUNNING:
            self._running.discard(record.job_id)
        return self._watchers.publish(record)


def _parse_notice(payload: str) -> tuple[str, int, JobState | None]:
    """A notice's job id, version and state ("" for a notice not of ours)."""
    parts = payload.split(" ")
    try:
        return parts[0], int(parts[1]), JobState(parts[2]) if len(parts) > 2 else None
    except (IndexError, ValueError):
        return "", 0, None


def _bare(job_id: str, version: int, state: JobState, message: str) -> JobRecord:
    """A record that only says a job's new state (what the runner acts on; a deleted job's end)."""
    return JobRecord(
        job_id=job_id,
        owner="",
        state=state,
        progress=0.0,
        message=message,
        created_at=0.0,
        started_at=None,
        finished_at=None,
        result=b"",
        error=b"",
        attempts=0,
        version=version,
    )


def _reason(exc: BaseException) -> str:
    """A database error in one line, without the connection string (it may hold a password)."""
    return " ".join(str(exc).split())[:300] or type(exc).__name__
