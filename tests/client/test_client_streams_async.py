"""AsyncClient parity for streams and jobs: same typed results, same error mapping, same rules."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import pytest

from datalid_client import (
    AsyncClient,
    BatchItem,
    Client,
    Frame,
    InvalidInput,
    JobState,
    NotFound,
    ProgressStage,
    ResourceExhausted,
    RetryPolicy,
    ServerError,
    Unavailable,
)
from tests.client.fakes import BAD_IMAGE, BUSY_IMAGE, JPEG, SKIP_IMAGE, FakeServer

T = TypeVar("T")


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())  # type: ignore[arg-type]


def _shape(item: Any) -> Any:
    """Comparable form of an item: exceptions compare by identity, so compare their type and text."""
    error = getattr(item, "error", None)
    return (type(item).__name__, repr(item.__class__), str(error), type(error), getattr(item, "result", None))


def test_async_batch_progress_and_url_equal_sync(fake_server: FakeServer) -> None:
    images = [JPEG, BAD_IMAGE, BUSY_IMAGE]

    async def scenario() -> tuple[list[BatchItem], list[Any], Any]:
        async with AsyncClient(fake_server.target) as client:
            batch = await client.process_batch(images)
            events = [e async for e in client.process_with_progress(JPEG)]
            return batch, events, await client.process_url("https://example.com/a.jpg")

    abatch, aevents, aurl = run(scenario)
    with Client(fake_server.target) as client:
        sbatch = client.process_batch(images)
        sevents = list(client.process_with_progress(JPEG))
        surl = client.process_url("https://example.com/a.jpg")
    assert [_shape(i) for i in abatch] == [_shape(i) for i in sbatch]
    assert isinstance(abatch[1].error, InvalidInput) and abatch[1].error.field_violations
    assert isinstance(abatch[2].error, ResourceExhausted) and abatch[2].error.retry_delay_s == 0.5
    assert aevents == sevents and aevents[-1].stage is ProgressStage.COMPLETED
    assert aurl == surl


def test_async_batch_takes_an_async_iterable(fake_server: FakeServer) -> None:
    async def images() -> AsyncIterator[bytes]:
        for image in (JPEG, JPEG):
            yield image

    async def scenario() -> list[BatchItem]:
        async with AsyncClient(fake_server.target) as client:
            return await client.process_batch(images())

    assert [i.index for i in run(scenario)] == [0, 1]


def test_async_batch_reraises_the_iterators_exception(fake_server: FakeServer) -> None:
    async def images() -> AsyncIterator[bytes]:
        yield JPEG
        raise OSError("disk gone")

    async def scenario() -> None:
        async with AsyncClient(fake_server.target) as client:
            await client.process_batch(images())

    with pytest.raises(OSError, match="disk gone"):
        run(scenario)


def test_async_mid_stream_error_is_mapped(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_stream_after(3, grpc.StatusCode.UNAVAILABLE, "worker lost")
    seen: list[ProgressStage] = []

    async def scenario() -> None:
        async with AsyncClient(fake_server.target, retries=RetryPolicy(max_attempts=4)) as client:
            async for event in client.process_with_progress(JPEG):
                seen.append(event.stage)

    with pytest.raises(Unavailable, match="worker lost") as info:
        run(scenario)
    assert isinstance(info.value.__cause__, grpc.RpcError)
    assert len(seen) == 3
    assert len(fake_server.behaviour.calls) == 1


def test_async_unavailable_before_the_first_message_is_retried(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "warming up")
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def scenario() -> int:
        policy = RetryPolicy(max_attempts=2, initial_backoff_s=0.5, jitter=0.0)
        async with AsyncClient(fake_server.target, retries=policy, sleep=fake_sleep) as client:
            return len([e async for e in client.process_with_progress(JPEG)])

    assert run(scenario) == 5
    assert sleeps == [0.5]


def test_async_stream_frames_from_sync_and_async_iterables(fake_server: FakeServer) -> None:
    def make(i: int, image: bytes) -> Frame:
        return Frame(frame_id=i, image=image, drop_policy="latest", captured_at=dt.datetime.now(dt.UTC))

    async def agen() -> AsyncIterator[Frame]:
        for i, image in enumerate((JPEG, SKIP_IMAGE, BAD_IMAGE)):
            yield make(i, image)

    async def scenario() -> tuple[list[Any], list[Any]]:
        async with AsyncClient(fake_server.target) as client:
            from_async = [r async for r in client.stream_frames(agen())]
            from_sync = [r async for r in client.stream_frames([make(0, JPEG), make(1, SKIP_IMAGE)])]
            return from_async, from_sync

    from_async, from_sync = run(scenario)
    assert [(r.frame_id, r.skipped, r.agreeing_frames) for r in from_async] == [
        (0, False, 1),
        (1, True, 1),
        (2, False, 1),
    ]
    assert isinstance(from_async[2].error, InvalidInput)
    assert [r.skipped for r in from_sync] == [False, True]


def test_async_stream_frames_mid_stream_error_and_iterator_error(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_stream_after(1, grpc.StatusCode.INTERNAL, "decoder crashed")

    async def failing() -> None:
        async with AsyncClient(fake_server.target) as client:
            async for _ in client.stream_frames([Frame(frame_id=i, image=JPEG) for i in range(3)]):
                pass

    with pytest.raises(ServerError, match="decoder crashed"):
        run(failing)
    fake_server.behaviour.stream_failure = None

    async def camera() -> AsyncIterator[Frame]:
        yield Frame(frame_id=0, image=JPEG)
        raise OSError("camera unplugged")

    async def broken() -> None:
        async with AsyncClient(fake_server.target) as client:
            async for _ in client.stream_frames(camera()):
                pass

    with pytest.raises(OSError, match="camera unplugged"):
        run(broken)


def test_async_jobs_and_paging(fake_server: FakeServer) -> None:
    async def scenario() -> dict[str, Any]:
        async with AsyncClient(fake_server.target) as client:
            created = [await client.create_job(JPEG) for _ in range(3)]
            await client.create_job(url="https://example.com/a.jpg")
            updates = [j.state async for j in client.watch_job(created[0].job_id)]
            cancelled = await client.cancel_job(created[1].job_id)
            page = await client.list_jobs(page_size=3)
            everything = [j.job_id async for j in client.iter_jobs(page_size=1)]
            queued = [j.job_id async for j in client.iter_jobs("queued")]
            await client.delete_job(created[2].job_id)
            with pytest.raises(NotFound):
                await client.get_job(created[2].job_id)
            with pytest.raises(NotFound):
                async for _ in client.watch_job("nope"):
                    pass
            return {
                "first": created[0],
                "got": await client.get_job(created[0].job_id),
                "updates": updates,
                "cancelled": cancelled.state,
                "page": ([j.job_id for j in page.jobs], page.next_page_token),
                "everything": everything,
                "queued": queued,
            }

    result = run(scenario)
    assert result["first"].state is JobState.QUEUED
    assert result["got"].state is JobState.SUCCEEDED
    assert result["updates"] == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    assert result["cancelled"] is JobState.CANCELLED
    assert result["page"] == (["job-1", "job-2", "job-3"], "after:3")
    assert result["everything"] == ["job-1", "job-2", "job-3", "job-4"]
    assert result["queued"] == ["job-3", "job-4"]
    with Client(fake_server.target) as client:
        assert client.get_job("job-1") == result["got"], "same Job from both clients"


def test_async_closed_client_refuses_streams(fake_server: FakeServer) -> None:
    async def scenario() -> None:
        client = AsyncClient(fake_server.target)
        await client.close()
        with pytest.raises(RuntimeError, match="closed"):
            client.process_with_progress(JPEG)
        with pytest.raises(RuntimeError, match="closed"):
            client.watch_job("job-1")
        with pytest.raises(RuntimeError, match="closed"):
            await client.process_batch([JPEG])

    run(scenario)
