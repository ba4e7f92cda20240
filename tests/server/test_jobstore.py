"""The SQLite job store directly: transitions, owners, recovery, paging, expiry, watching."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.jobstore import JobPayload, JobState, JobStore

_PAYLOAD = JobPayload(b"image", "", b"")


def test_cancel_is_final_and_a_late_finish_changes_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3")
        job = await store.create("alice", _PAYLOAD)
        claimed = await store.claim_next()
        assert claimed is not None and claimed[0].state == JobState.RUNNING
        cancelled = await store.cancel("alice", job.job_id)
        assert cancelled is not None and cancelled.state == JobState.CANCELLED
        assert await store.finish(job.job_id, JobState.SUCCEEDED, result=b"r") is None
        after = await store.get("alice", job.job_id)
        assert after is not None and after.state == JobState.CANCELLED and after.result == b""
        await store.close()

    asyncio.run(scenario())


def test_another_owner_sees_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3")
        job = await store.create("alice", _PAYLOAD)
        assert await store.get("bob", job.job_id) is None
        assert await store.cancel("bob", job.job_id) is None
        assert not await store.delete("bob", job.job_id)
        assert await store.watch("bob", job.job_id) is None
        assert (await store.list("bob", state=None, page_size=10, after_seq=None))[0] == []
        assert (await store.get("alice", job.job_id)) is not None
        await store.close()

    asyncio.run(scenario())


def test_reopening_requeues_running_jobs_and_fails_them_after_max_attempts(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"

    async def crash_while_running() -> str:
        store = await JobStore.open(path, max_attempts=2)
        claimed = await store.claim_next()
        if claimed is None:
            job = await store.create("alice", _PAYLOAD)
            claimed = await store.claim_next()
            assert claimed is not None and claimed[0].job_id == job.job_id
        # No close: the process "dies" with the job RUNNING.
        return claimed[0].job_id

    async def state_after_reopen(job_id: str) -> JobState:
        store = await JobStore.open(path, max_attempts=2)
        record = await store.get("alice", job_id)
        await store.close()
        assert record is not None
        return record.state

    job_id = asyncio.run(crash_while_running())
    assert asyncio.run(state_after_reopen(job_id)) == JobState.QUEUED
    assert asyncio.run(crash_while_running()) == job_id  # claimed a second time
    assert asyncio.run(state_after_reopen(job_id)) == JobState.FAILED


def test_list_pages_newest_first_and_filters_by_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3")
        ids = [(await store.create("alice", _PAYLOAD)).job_id for _ in range(5)]
        await store.cancel("alice", ids[0])
        seen, cursor = [], None
        while True:
            page, cursor = await store.list("alice", state=None, page_size=2, after_seq=cursor)
            seen += [r.job_id for r in page]
            if cursor is None:
                break
        assert seen == ids[::-1]
        cancelled, _ = await store.list("alice", state=JobState.CANCELLED, page_size=10, after_seq=None)
        assert [r.job_id for r in cancelled] == [ids[0]]
        await store.close()

    asyncio.run(scenario())


def test_finished_jobs_expire_after_the_ttl(tmp_path: Path) -> None:
    now = [1000.0]

    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3", clock=lambda: now[0])
        done = await store.create("alice", _PAYLOAD)
        waiting = await store.create("alice", _PAYLOAD)
        await store.cancel("alice", done.job_id)
        now[0] += 50
        assert await store.expire(ttl_s=60) == 0
        now[0] += 20
        assert await store.expire(ttl_s=60) == 1
        assert await store.get("alice", done.job_id) is None
        assert await store.get("alice", waiting.job_id) is not None  # unfinished jobs never expire
        await store.close()

    asyncio.run(scenario())


def test_watch_sees_every_transition_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3")
        job = await store.create("alice", _PAYLOAD)
        states = await store.watch("alice", job.job_id)
        assert states is not None
        seen: list[tuple[JobState, str]] = []

        async def collect() -> None:
            async for record in states:
                seen.append((record.state, record.message))

        watcher = asyncio.create_task(collect())
        await asyncio.sleep(0)
        await store.claim_next()
        await store.progress(job.job_id, 0.5, "half")
        await store.finish(job.job_id, JobState.SUCCEEDED, result=b"r", message="done")
        await asyncio.wait_for(watcher, 10)
        assert [s for s, _ in seen] == [
            JobState.QUEUED,
            JobState.RUNNING,
            JobState.RUNNING,
            JobState.SUCCEEDED,
        ]
        assert seen[2][1] == "half"
        await store.close()

    asyncio.run(scenario())


def test_counts_by_state_for_the_metrics_scrape(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3")
        for _ in range(3):
            await store.create("alice", _PAYLOAD)
        await store.claim_next()
        # The scrape thread blocks on the store's thread, so ask from another thread here too.
        counts = await asyncio.to_thread(store.counts_by_state)
        assert counts == {"QUEUED": 2, "RUNNING": 1}
        await store.close()
        assert store.counts_by_state() == {}

    asyncio.run(scenario())
