"""The PostgreSQL job store against a real PostgreSQL: several stores on one database stand for
several replicas of the server."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from server.errors import StoreBusy
from server.jobs.postgres import MIGRATIONS, PostgresJobStore
from server.jobs.records import JobPayload, JobQuota, JobState, QuotaExceeded
from tests.postgres import PostgresServer

_PAYLOAD = JobPayload(b"\xff\xd8image", "", b"")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="datalid-pg-"))).start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def url(postgres: PostgresServer) -> str:
    """A fresh database for each test."""
    name = f"t{time.monotonic_ns()}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"


def _run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_replicas_starting_together_apply_each_migration_once(url) -> None:
    async def scenario() -> list[tuple[int]]:
        stores = await asyncio.gather(*(PostgresJobStore.open(url) for _ in range(4)))
        await asyncio.gather(*(store.close() for store in stores))
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT version FROM datalid_schema ORDER BY version").fetchall()

    assert _run(scenario()) == [(version,) for version, _ in MIGRATIONS]


def test_a_job_lives_its_life_and_pages_list_it(url) -> None:
    async def scenario() -> None:
        store = await PostgresJobStore.open(url)
        try:
            created = [await store.create("alice", _PAYLOAD) for _ in range(3)]
            await store.create("bob", _PAYLOAD)
            assert created[0].state == JobState.QUEUED and created[0].version == 1
            assert await store.get("bob", created[0].job_id) is None, "another owner's job looks missing"
            page, token = await store.list("alice", state=None, page_size=2, max_bytes=10**6)
            assert [r.job_id for r in page] == [created[2].job_id, created[1].job_id] and token
            rest, last = await store.list("alice", state=None, page_size=2, max_bytes=10**6, page_token=token)
            assert [r.job_id for r in rest] == [created[0].job_id] and last == ""
            claimed = await store.claim_next()
            assert claimed is not None
            record, payload = claimed
            assert record.job_id == created[0].job_id and record.state == JobState.RUNNING
            assert payload == _PAYLOAD and record.attempts == 1
            done = await store.finish(record.job_id, JobState.SUCCEEDED, result=b"r", summary=b"s")
            assert done is not None and done.state == JobState.SUCCEEDED and done.result == b"r"
            listed, _ = await store.list("alice", state=JobState.SUCCEEDED, page_size=5, max_bytes=10**6)
            assert [r.result for r in listed] == [b"s"], "lists show the summary"
            assert await store.finish(record.job_id, JobState.FAILED) is None, "a job ends once"
            cancelled = await store.cancel("alice", created[1].job_id)
            assert cancelled is not None and cancelled.state == JobState.CANCELLED
            assert await store.delete("alice", created[2].job_id)
            assert await store.get("alice", created[2].job_id) is None
            counts = await asyncio.to_thread(store.counts_by_state)  # the metrics scrape's thread
            assert counts == {"SUCCEEDED": 1, "CANCELLED": 1, "QUEUED": 1}
        finally:
            await store.close()

    _run(scenario())


def test_the_quota_holds_across_replicas(url) -> None:
    async def scenario() -> Counter[str]:
        quota = JobQuota(max_jobs=5, max_bytes=10**6)
        stores = [await PostgresJobStore.open(url, quota=quota) for _ in range(3)]
        outcomes: Counter[str] = Counter()

        async def create(store: PostgresJobStore) -> None:
            try:
                await store.create("alice", _PAYLOAD)
                outcomes["created"] += 1
            except QuotaExceeded:
                outcomes["refused"] += 1

        await asyncio.gather(*(create(stores[i % 3]) for i in range(12)))
        await asyncio.gather(*(store.close() for store in stores))
        return outcomes

    assert _run(scenario()) == Counter(created=5, refused=7)


def test_replicas_claiming_at_once_never_claim_one_job_twice(url) -> None:
    async def scenario() -> list[str]:
        stores = [await PostgresJobStore.open(url) for _ in range(3)]
        for _ in range(30):
            await stores[0].create("alice", _PAYLOAD)
        claimed: list[str] = []

        async def drain(store: PostgresJobStore) -> None:
            while (job := await store.claim_next()) is not None:
                claimed.append(job[0].job_id)
                await asyncio.sleep(0)

        await asyncio.gather(*(drain(store) for store in stores for _ in range(2)))
        await asyncio.gather(*(store.close() for store in stores))
        return claimed

    claimed = _run(scenario())
    assert len(claimed) == 30 and len(set(claimed)) == 30


def test_a_dead_replicas_job_is_requeued_and_its_late_result_refused(url) -> None:
    async def scenario() -> None:
        dead = await PostgresJobStore.open(url, lease_s=1.0, replica="dead")
        alive = await PostgresJobStore.open(url, lease_s=1.0, replica="alive")
        try:
            job = await alive.create("alice", _PAYLOAD)
            watch = await alive.watch("alice", job.job_id)
            assert watch is not None
            states = [(await anext(watch)).state]
            claimed = await dead.claim_next()
            assert claimed is not None and claimed[0].job_id == job.job_id
            # The dead replica stops renewing its lease (its process is gone): simulated by
            # stopping its background tasks without giving the job back.
            for task in dead._tasks:
                task.cancel()
            states.append((await asyncio.wait_for(anext(watch), 5)).state)  # RUNNING, seen via NOTIFY
            states.append((await asyncio.wait_for(anext(watch), 10)).state)  # requeued by `alive`
            again = await alive.claim_next()
            assert again is not None and again[0].job_id == job.job_id and again[0].attempts == 2
            assert await dead.finish(job.job_id, JobState.SUCCEEDED, result=b"late") is None
            finished = await alive.finish(job.job_id, JobState.SUCCEEDED, result=b"ok")
            assert finished is not None and finished.result == b"ok"
            async for record in watch:
                states.append(record.state)
            # A watcher that reads later than the job changes skips to the newest state; the final
            # one always comes, last.
            assert states[:3] == [JobState.QUEUED, JobState.RUNNING, JobState.QUEUED]
            assert states[-1] == JobState.SUCCEEDED and set(states[3:-1]) <= {JobState.RUNNING}
        finally:
            await dead.close()
            await alive.close()

    _run(scenario())


def test_a_job_whose_replicas_keep_dying_ends_failed(url) -> None:
    async def scenario() -> JobState:
        store = await PostgresJobStore.open(url, lease_s=1.0, max_attempts=2)
        for task in store._tasks:
            task.cancel()  # nobody renews: every claim's lease runs out
        try:
            job = await store.create("alice", _PAYLOAD)
            for _ in range(2):
                assert await store.claim_next() is not None
                await asyncio.sleep(1.1)
                await store.reclaim_expired_leases()
            final = await store.get("alice", job.job_id)
            assert final is not None
            return final.state
        finally:
            await store.close()

    assert _run(scenario()) == JobState.FAILED


def test_an_unreachable_database_is_store_busy(postgres) -> None:
    async def scenario() -> None:
        with pytest.raises(StoreBusy):
            await PostgresJobStore.open(f"postgresql://datalid@127.0.0.1:{postgres.port + 1}/datalid")

    _run(scenario())
