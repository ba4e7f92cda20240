"""The SQLite job store directly: transitions, owners, recovery, paging, expiry, watching, and its
bounds: opaque per-owner page tokens, pages by bytes, quotas, queued TTL, a locked database, the
writer's queue, a watcher's one-slot mailbox; and the runner against it: a locked or failing
store, a stop, results fitted to a message."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import os
import sqlite3
import time
from pathlib import Path

import grpc
import pytest
from google.rpc import status_pb2

from datalid.v1 import types_pb2
from pipeline import Overloaded, ProcessResult, ProcessStatus, ShuttingDown, StageTimings
from server import convert
from server.errors import StoreBusy
from server.fetch.fetcher import UrlFetcher, UrlPolicy
from server.host import PipelineHost
from server.jobs import records, sqlite
from server.jobs.page_tokens import InvalidCursor
from server.jobs.records import (
    UNFINISHED_BYTES_LIMIT,
    UNFINISHED_JOBS_LIMIT,
    JobPayload,
    JobQuota,
    JobState,
    QuotaExceeded,
)
from server.jobs.runner import JobAttemptLost, JobRunner, local_job_process
from server.jobs.sqlite import JobStore, StoreInUse

_PAYLOAD = JobPayload(b"image", "", b"")
_PAGE_BYTES = 4 * 1024 * 1024


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
        assert (await store.list("bob", state=None, page_size=10, max_bytes=_PAGE_BYTES))[0] == []
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
        # No close: the process "dies" with the job RUNNING, and the kernel drops its flock.
        store._owner.release()  # type: ignore[union-attr]
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
        seen, token = [], ""
        while True:
            page, token = await store.list(
                "alice", state=None, page_size=2, max_bytes=_PAGE_BYTES, page_token=token
            )
            seen += [r.job_id for r in page]
            if not token:
                break
        assert seen == ids[::-1]
        cancelled, _ = await store.list(
            "alice", state=JobState.CANCELLED, page_size=10, max_bytes=_PAGE_BYTES
        )
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


# --- bounds: page tokens, page bytes, quotas, queued TTL, a locked database ----------------------


def test_page_tokens_are_per_owner_reveal_no_global_position_and_refuse_forgeries(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"

    async def first_token(store: JobStore, owner: str, state: JobState | None = None) -> str:
        _, token = await store.list(owner, state=state, page_size=2, max_bytes=_PAGE_BYTES)
        assert token
        return token

    async def scenario() -> str:
        store = await JobStore.open(path)
        for _ in range(3):
            await store.create("alice", _PAYLOAD)
            await store.create("bob", _PAYLOAD)
        token = await first_token(store, "alice")
        # Other owners' jobs do not move alice's token: it holds nothing but her own listing.
        for _ in range(5):
            await store.create("bob", _PAYLOAD)
        assert await first_token(store, "alice") == token
        forged = [
            token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),  # altered MAC
            "9" * 40,  # the probe's 40-digit number
            base64.urlsafe_b64encode(b"seq:" + b"9" * 40).decode(),  # the old format
            "%%%",  # not base64url
            "A" * 10_000,  # far too long
        ]
        for bad in forged:
            with pytest.raises(InvalidCursor):
                await store.list("alice", state=None, page_size=2, max_bytes=_PAGE_BYTES, page_token=bad)
        for owner, state in (("bob", None), ("alice", JobState.QUEUED)):  # another owner, another filter
            with pytest.raises(InvalidCursor):
                await store.list(owner, state=state, page_size=2, max_bytes=_PAGE_BYTES, page_token=token)
        await store.close()
        return token

    async def after_restart(token: str) -> int:
        store = await JobStore.open(path)
        page, rest = await store.list(
            "alice", state=None, page_size=2, max_bytes=_PAGE_BYTES, page_token=token
        )
        await store.close()
        assert not rest
        return len(page)

    token = asyncio.run(scenario())
    assert asyncio.run(after_restart(token)) == 1  # the key is kept in the file: tokens outlive restarts


def test_list_shows_summaries_and_pages_by_bytes(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3")
        ids = []
        for n in range(5):
            job = await store.create("alice", _PAYLOAD)
            await store.claim_next()
            await store.finish(
                job.job_id, JobState.SUCCEEDED, result=b"p" * 1_000_000, summary=b"s%d" % n + b"s" * 998
            )
            ids.append(job.job_id)
        page, token = await store.list("alice", state=None, page_size=50, max_bytes=_PAGE_BYTES)
        assert [r.result[:2] for r in page] == [b"s4", b"s3", b"s2", b"s1", b"s0"] and not token
        full = await store.get("alice", ids[0])
        assert full is not None and len(full.result) == 1_000_000  # GetJob keeps the pictures
        # 1 kB summaries under a 2.5 kB bound: two a page, then the last one alone.
        seen, token, sizes = [], "", []
        while True:
            page, token = await store.list(
                "alice", state=None, page_size=50, max_bytes=2_500, page_token=token
            )
            seen += [r.job_id for r in page]
            sizes.append(len(page))
            if not token:
                break
        assert seen == ids[::-1] and sizes == [2, 2, 1]
        # A single job larger than the bound still gets a page of its own.
        page, token = await store.list("alice", state=None, page_size=50, max_bytes=10)
        assert len(page) == 1 and token
        await store.close()

    asyncio.run(scenario())


def test_quota_bounds_each_owners_unfinished_jobs_and_bytes(tmp_path: Path) -> None:
    async def scenario() -> None:
        quota = JobQuota(max_jobs=3, max_bytes=1_000)
        store = await JobStore.open(tmp_path / "jobs.sqlite3", quota=quota)
        jobs = [await store.create("alice", _PAYLOAD) for _ in range(3)]
        await store.claim_next()  # running jobs count too: they hold their payload
        with pytest.raises(QuotaExceeded) as caught:
            await store.create("alice", _PAYLOAD)
        assert caught.value.limit == UNFINISHED_JOBS_LIMIT and caught.value.value == 3
        await store.create("bob", _PAYLOAD)  # another owner has a quota of its own
        await store.cancel("alice", jobs[1].job_id)  # a final job frees its place
        await store.create("alice", _PAYLOAD)
        big = JobPayload(b"x" * 600, "", b"")
        await store.create("bob", big)
        with pytest.raises(QuotaExceeded) as caught:
            await store.create("bob", big)
        assert caught.value.limit == UNFINISHED_BYTES_LIMIT and caught.value.value == 1_000
        listed, _ = await store.list("bob", state=None, page_size=10, max_bytes=_PAGE_BYTES)
        assert len(listed) == 2  # the refused job was not stored
        await store.close()

    asyncio.run(scenario())


def test_queued_jobs_expire_after_the_queued_ttl_and_are_never_claimed(tmp_path: Path) -> None:
    now = [1000.0]

    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3", clock=lambda: now[0])
        old = await store.create("alice", _PAYLOAD)
        now[0] += 50
        fresh = await store.create("alice", _PAYLOAD)
        states = await store.watch("alice", old.job_id)
        assert states is not None
        now[0] += 20  # old waited 70 s, fresh 20 s
        claimed = await store.claim_next(queued_ttl_s=60)
        assert claimed is not None and claimed[0].job_id == fresh.job_id  # the late one is skipped
        assert await store.expire_queued(60, error=b"status", message="expired in queue after 60 s") == 1
        seen = [record async for record in states]
        assert [r.state for r in seen] == [JobState.QUEUED, JobState.FAILED]
        assert seen[-1].error == b"status" and seen[-1].message == "expired in queue after 60 s"
        running = await store.get("alice", fresh.job_id)
        assert running is not None and running.state == JobState.RUNNING  # only QUEUED jobs expire
        assert await store.expire_queued(60, error=b"status", message="m") == 0
        await store.close()

    asyncio.run(scenario())


def _lock(path: Path) -> sqlite3.Connection:
    """Another writer (a backup, a shell) holding the database's write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


def test_a_locked_database_raises_store_busy_within_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "jobs.sqlite3"
    # Long enough never to run out in this test (a hang guard): the write below waits for the lock.
    monkeypatch.setattr(sqlite, "_MAX_LOCK_WAIT_S", 60.0)

    async def scenario() -> None:
        store = await JobStore.open(path)
        job = await store.create("alice", _PAYLOAD)
        other = _lock(path)
        waiting = asyncio.create_task(store.create("alice", _PAYLOAD, deadline=time.monotonic() + 60))
        await asyncio.sleep(0)  # the write is on the writer's thread first
        # A read is not queued behind the write that waits for the lock: it answers while the
        # write still waits (on one thread it would come only after the write's wait).
        assert await store.get("alice", job.job_id) is not None
        assert not waiting.done()
        other.rollback()
        assert (await waiting).state == JobState.QUEUED  # it waited for the lock, and got it
        # A call's wait ends before its deadline, so its answer reaches the caller in time.
        assert sqlite._lock_wait_s(time.monotonic() + 1.0) <= 1.0 - sqlite._ANSWER_MARGIN_S
        assert sqlite._lock_wait_s(time.monotonic() - 1.0) <= 0
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreBusy, match="waited") as caught:
            await store.create("alice", _PAYLOAD, deadline=time.monotonic() + 1.0)
        assert caught.value.retry_after_s > 0
        writes = [
            lambda: store.cancel("alice", job.job_id, deadline=time.monotonic() + 0.5),
            lambda: store.delete("alice", job.job_id, deadline=time.monotonic() + 0.5),
            lambda: store.claim_next(),  # the runner's writes wait less, without a deadline
            lambda: store.expire_queued(0, error=b"", message=""),
        ]
        for write in writes:
            with pytest.raises(StoreBusy):
                await write()
        # A pass with nothing to do takes no lock, so it is not held up; nor are readers (WAL).
        assert await store.expire(60) == 0
        record = await store.get("alice", job.job_id)
        assert record is not None and record.state == JobState.QUEUED  # nothing above changed it
        other.rollback()
        other.close()
        assert (
            await store.create("alice", _PAYLOAD, deadline=time.monotonic() + 1.0)
        ).state == JobState.QUEUED
        await store.close()

    asyncio.run(scenario())


def test_the_runner_outlasts_a_locked_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "jobs.sqlite3"
    caplog.set_level(logging.WARNING, logger="server.jobs.runner")
    monkeypatch.setattr(sqlite, "_BACKGROUND_LOCK_WAIT_S", 0.1)

    class HeldPipeline:
        def __init__(self) -> None:
            self.started = asyncio.Event()
            self.gate = asyncio.Event()

        async def aprocess(self, image: bytes, options: object, **kwargs: object) -> ProcessResult:
            self.started.set()
            await self.gate.wait()
            return ProcessResult(
                status=ProcessStatus.NOT_FOUND, image_width=32, image_height=32, timings=StageTimings()
            )

    async def scenario() -> None:
        store = await JobStore.open(path)
        pipeline = HeldPipeline()
        host = PipelineHost(lambda: pipeline)  # type: ignore[arg-type, return-value]
        await host.load()
        runner = JobRunner(
            store,
            local_job_process(host),
            UrlFetcher(UrlPolicy()),
            concurrency=1,
            ttl_s=3600,
            queued_ttl_s=3600,
            retry_pause_s=0.05,
        )
        job = await store.create("alice", _PAYLOAD)
        states = await store.watch("alice", job.job_id)
        assert states is not None
        other = _lock(path)
        runner.start()  # claiming fails while the lock is held; the runner keeps trying
        await asyncio.sleep(0.3)
        assert (await store.get("alice", job.job_id)).state == JobState.QUEUED  # type: ignore[union-attr]
        other.rollback()
        await asyncio.wait_for(pipeline.started.wait(), 10)
        other.execute("BEGIN EXCLUSIVE")  # locked again while the job runs: its result must wait
        pipeline.gate.set()
        await asyncio.sleep(0.3)
        other.rollback()
        other.close()
        seen = [record.state async for record in states]
        assert seen[-1] == JobState.SUCCEEDED, seen
        # Both the claim and the result's write met the lock, and were tried again.
        warnings = [r.getMessage() for r in caplog.records]
        assert any(m.startswith("claiming a job") for m in warnings), warnings
        assert any(m.startswith("writing a job") for m in warnings), warnings
        await runner.close()
        await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_writes_queued_behind_one_that_waited_in_vain_fail_fast_until_a_write_gets_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "jobs.sqlite3"
    # Calls without a deadline (REST through Envoy) wait this long; short, so the test is quick.
    monkeypatch.setattr(sqlite, "_DEFAULT_LOCK_WAIT_S", 0.3)

    async def scenario() -> None:
        store = await JobStore.open(path)
        job = await store.create("alice", _PAYLOAD)
        other = _lock(path)
        # Five deadline-less writes queue on the writer's thread: only the first waits for the lock.
        results = await asyncio.gather(
            *(store.create("alice", _PAYLOAD) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, StoreBusy) for r in results), results
        messages = [str(r) for r in results]
        assert "waited 0.3 s" in messages[0]
        assert all("waited for it in vain" in m for m in messages[1:]), messages
        assert all(r.retry_after_s > 0 for r in results)  # type: ignore[union-attr]
        # Still locked: a later write does not wait either, the runner's included.
        with pytest.raises(StoreBusy, match="in vain"):
            await store.cancel("alice", job.job_id)
        with pytest.raises(StoreBusy, match="in vain"):
            await store.claim_next()
        other.rollback()
        # The lock is free: the next write gets it, and writes wait for the lock again after that.
        assert (await store.create("alice", _PAYLOAD)).state == JobState.QUEUED
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreBusy, match=r"waited 0\.3 s"):
            await store.create("alice", _PAYLOAD)
        other.rollback()
        other.close()
        await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_the_writers_queue_is_bounded_and_refuses_beyond_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "jobs.sqlite3"
    monkeypatch.setattr(sqlite, "_MAX_WAITING_CALLS", 2)
    monkeypatch.setattr(sqlite, "_MAX_LOCK_WAIT_S", 60.0)  # a hang guard: the lock is released below

    async def scenario() -> None:
        store = await JobStore.open(path)
        job = await store.create("alice", _PAYLOAD)
        other = _lock(path)
        held = [
            asyncio.create_task(store.create("alice", _PAYLOAD, deadline=time.monotonic() + 60))
            for _ in range(2)
        ]
        await asyncio.sleep(0)  # both are submitted to the writer's thread
        with pytest.raises(StoreBusy, match="2 operations waiting already"):
            await store.create("alice", _PAYLOAD, deadline=time.monotonic() + 60)
        assert not any(task.done() for task in held)  # refused without waiting behind them
        assert await store.get("alice", job.job_id) is not None  # the reader has a queue of its own
        other.rollback()
        other.close()
        assert [(await task).state for task in held] == [JobState.QUEUED, JobState.QUEUED]
        assert (await store.create("alice", _PAYLOAD)).state == JobState.QUEUED  # room again
        await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_slow_watcher_holds_only_the_newest_state_and_always_gets_the_final_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3")
        job = await store.create("alice", _PAYLOAD)
        states = await store.watch("alice", job.job_id)
        assert states is not None
        assert (await anext(states)).state == JobState.QUEUED
        await store.claim_next()
        for step in range(50):  # the watcher reads none of these as they happen
            await store.progress(job.job_id, step / 50, f"step {step}")
        newest = await anext(states)
        assert (newest.state, newest.message) == (JobState.RUNNING, "step 49")
        await store.progress(job.job_id, 0.99, "almost")
        await store.finish(job.job_id, JobState.SUCCEEDED, result=b"r", message="done")
        assert [(r.state, r.message) async for r in states] == [(JobState.SUCCEEDED, "done")]
        assert not store._watchers.follows(job.job_id)  # the watcher is gone with its iterator
        # A final record stays in the mailbox whatever comes after it.
        box = records.Latest()
        final = await store.get("alice", job.job_id)
        assert final is not None
        box.put(final)
        box.put(dataclasses.replace(final, state=JobState.RUNNING, version=final.version + 1))
        assert await box.take() is final
        await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


class _ScriptedPipeline:
    """Answers each aprocess with the next of ``outcomes`` (an exception is raised), the last forever;
    ``called`` is set on each call."""

    def __init__(self, *outcomes: ProcessResult | Exception) -> None:
        self._outcomes = list(outcomes)
        self.called = asyncio.Event()

    async def aprocess(self, image: bytes, options: object, **kwargs: object) -> ProcessResult:
        self.called.set()
        outcome = self._outcomes.pop(0) if len(self._outcomes) > 1 else self._outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _result(visualization: bytes = b"") -> ProcessResult:
    return ProcessResult(
        status=ProcessStatus.NOT_FOUND,
        image_width=32,
        image_height=32,
        timings=StageTimings(),
        visualization_jpeg=visualization,
    )


async def _runner(store: JobStore, pipeline: _ScriptedPipeline, **kwargs: object) -> JobRunner:
    host = PipelineHost(lambda: pipeline)  # type: ignore[arg-type, return-value]
    await host.load()
    settings: dict = {"concurrency": 1, "ttl_s": 3600, "queued_ttl_s": 3600, "retry_pause_s": 0.01}
    return JobRunner(store, local_job_process(host), UrlFetcher(UrlPolicy()), **{**settings, **kwargs})  # type: ignore[arg-type]


async def _until(states, wanted) -> list[records.JobRecord]:  # type: ignore[no-untyped-def]
    """The states read until the first for which ``wanted(record)`` holds (that one included)."""
    seen = []
    async for record in states:
        seen.append(record)
        if wanted(record):
            return seen
    raise AssertionError(f"ended without the wanted state: {seen}")


def test_the_claim_loop_outlives_store_errors_and_logs_each_distinct_one_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="server.jobs.runner")
    failures: list[Exception] = [
        sqlite3.OperationalError("disk I/O error"),
        sqlite3.OperationalError("disk I/O error"),
        sqlite3.OperationalError("database or disk is full"),
        RuntimeError("the job store is closed"),
        sqlite3.OperationalError("disk I/O error"),
    ]

    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3")
        claim_next = store.claim_next

        async def failing_claim(**kwargs: object) -> object:
            if failures:
                raise failures.pop(0)
            return await claim_next(**kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(store, "claim_next", failing_claim)
        runner = await _runner(store, _ScriptedPipeline(_result()))
        job = await store.create("alice", _PAYLOAD)
        states = await store.watch("alice", job.job_id)
        assert states is not None
        runner.start()
        seen = await _until(states, lambda r: r.state.final)
        assert seen[-1].state == JobState.SUCCEEDED
        await runner.close()
        await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [str(r.exc_info[1]) for r in logged if r.exc_info] == [
        "disk I/O error",
        "database or disk is full",
        "the job store is closed",
    ]
    assert any(r.getMessage() == "claiming jobs works again" for r in caplog.records)


def test_a_job_stopped_by_shutdown_is_requeued_at_once_and_keeps_its_attempts(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3")
        # An hour's pause after a refusal: a requeue that waited for it would never come.
        runner = await _runner(
            store, _ScriptedPipeline(ShuttingDown("the pipeline is stopping")), retry_pause_s=3600
        )
        job = await store.create("alice", _PAYLOAD)
        states = await store.watch("alice", job.job_id)
        assert states is not None
        runner.start()
        seen = await _until(states, lambda r: r.state == JobState.QUEUED and r.version > job.version)
        assert [r.state for r in seen] == [JobState.QUEUED, JobState.RUNNING, JobState.QUEUED]
        assert seen[-1].attempts == 0 and seen[-1].message.startswith("requeued")
        await runner.close()
        await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_stop_during_the_pause_after_a_refusal_requeues_the_job_and_keeps_its_attempts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite3"

    async def scenario() -> str:
        store = await JobStore.open(path, max_attempts=1)
        pipeline = _ScriptedPipeline(Overloaded("busy"))
        runner = await _runner(store, pipeline, retry_pause_s=3600)
        job = await store.create("alice", _PAYLOAD)
        runner.start()
        # Overloaded is raised inside aprocess; the run goes straight on into its pause, without
        # awaiting anything else first, so by the time this task resumes the run is pausing.
        await pipeline.called.wait()
        await runner.close()
        record = await store.get("alice", job.job_id)
        assert record is not None
        assert (record.state, record.attempts) == (JobState.QUEUED, 0), record
        await store.close()
        return job.job_id

    job_id = asyncio.run(asyncio.wait_for(scenario(), 30))

    async def reopened() -> JobState:
        store = await JobStore.open(path, max_attempts=1)
        record = await store.get("alice", job_id)
        await store.close()
        assert record is not None
        return record.state

    assert asyncio.run(reopened()) == JobState.QUEUED  # not "abandoned" after max_attempts stops


def test_a_result_is_fitted_to_one_job_message(tmp_path: Path) -> None:
    limit = 64 * 1024

    async def scenario() -> None:
        store = await JobStore.open(tmp_path / "jobs.sqlite3")
        pipeline = _ScriptedPipeline(_result(b"\xff" * (limit * 2)), _result(b"\xff" * 1000))
        runner = await _runner(store, pipeline, max_message_bytes=limit)
        runner.start()
        for expect_pictures in (False, True):
            job = await store.create("alice", _PAYLOAD)
            states = await store.watch("alice", job.job_id)
            assert states is not None
            done = (await _until(states, lambda r: r.state.final))[-1]
            assert done.state == JobState.SUCCEEDED
            message = convert.job_to_pb(done)
            assert message.ByteSize() <= limit
            assert bool(message.result.visualization_jpeg) == expect_pictures
            assert message.result.pictures_omitted != expect_pictures
            summary = types_pb2.ProcessResponse.FromString(
                (await store.list("alice", state=None, page_size=1, max_bytes=_PAGE_BYTES))[0][0].result
            )
            assert summary.pictures_omitted != expect_pictures and not summary.visualization_jpeg
        await runner.close()
        await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_second_store_on_an_open_file_is_refused_naming_the_owner(tmp_path: Path) -> None:
    """Two servers on one file would both claim and run its jobs."""
    path = tmp_path / "jobs.sqlite3"

    async def scenario() -> None:
        first = await JobStore.open(path)
        with pytest.raises(StoreInUse, match=rf"in use by another server \(pid {os.getpid()}\)"):
            await JobStore.open(path)
        await first.close()
        again = await JobStore.open(path)  # closed: free again
        await again.close()

    asyncio.run(scenario())


def test_a_job_whose_reader_keeps_dying_counts_its_attempts_and_ends_failed(tmp_path: Path) -> None:
    """A --workers supervisor's job whose worker dies mid-read (JobAttemptLost) is requeued with
    its claim counted, and ends FAILED after max_attempts: a photo that kills workers cannot do so
    forever."""
    reads = 0

    async def dying_reader(image: bytes, options: object, job_id: str) -> object:
        nonlocal reads
        reads += 1
        raise JobAttemptLost("upstream connect error or disconnect/reset before headers")

    async def scenario() -> records.JobRecord:
        store = await JobStore.open(tmp_path / "jobs.sqlite3")
        runner = JobRunner(
            store,
            dying_reader,  # type: ignore[arg-type]
            UrlFetcher(UrlPolicy()),
            concurrency=1,
            ttl_s=3600,
            queued_ttl_s=3600,
            retry_pause_s=0.01,
            max_attempts=3,
        )
        job = await store.create("alice", _PAYLOAD)
        states = await store.watch("alice", job.job_id)
        assert states is not None
        runner.start()
        seen = await _until(states, lambda r: r.state.final)
        await runner.close()
        await store.close()
        return seen[-1]

    final = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert final.state == JobState.FAILED and final.attempts == 3 and reads == 3
    assert status_pb2.Status.FromString(final.error).code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert "stopped 3 times" in final.message
