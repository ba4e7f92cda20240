"""StreamFrames, ProcessBatch, ProcessWithProgress and JobService over a real in-process server.

The pipeline is a fake whose answer is spelled in the image bytes (``b"2026-11-16"`` reads as that
date, ``b"bad"`` is an invalid image), and whose runs can be held on a gate: so fusion, ordering,
skipping and cancellation are tested exactly, without OCR. Auth is on, with two keys, so owner
isolation is tested through the real interceptor.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from datalid.v1 import (
    expiry_date_service_pb2,
    expiry_date_service_pb2_grpc,
    job_service_pb2,
    job_service_pb2_grpc,
    types_pb2,
)
from pipeline import (
    DateFinding,
    DateKind,
    DatePrecision,
    DeadlineExceeded,
    InvalidInput,
    Priority,
    ProcessResult,
    ProcessStatus,
    Stage,
    StageEvent,
    StageTimings,
)
from server.app import build_server, load_models, shutdown
from server.config import ServerConfig
from server.edge.auth import ApiKey, hash_key, save_keys
from server.host import PipelineHost

KEYS = {"alice": "alice-key-0123456789", "bob": "bob-key-0123456789"}
DONE = {
    job_service_pb2.JOB_STATE_SUCCEEDED,
    job_service_pb2.JOB_STATE_FAILED,
    job_service_pb2.JOB_STATE_CANCELLED,
}


class FakePipeline:
    """Reads the date spelled in the image bytes; ``gate`` (when set) holds every run until opened."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.gate: asyncio.Event | None = None
        self.started: list[bytes] = []
        self.started_event = asyncio.Event()
        self.priorities: list[Any] = []

    async def aprocess(
        self, image: bytes, options: Any, *, deadline: Any = None, priority: Any = None, on_stage: Any = None
    ):
        report = on_stage or (lambda event: None)
        self.started.append(image)
        self.priorities.append(priority)
        self.started_event.set()
        report(StageEvent(Stage.DECODED, 32 * 32, "decoded 32x32"))
        if image == b"slow" and deadline is not None:
            # As the real pipeline does when its deadline passes between stages.
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            raise DeadlineExceeded("the deadline passed while the regions were read")
        if self.gate is not None:
            await self.gate.wait()
        report(StageEvent(Stage.REGIONS_DETECTED, 1, "1 text regions detected"))
        report(StageEvent(Stage.TEXT_READ, 1, "1 lines read"))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if image == b"bad":
            raise InvalidInput("image", "not an image")
        best = None
        if image[:4].isdigit():
            date = dt.date.fromisoformat(image[:10].decode())
            best = DateFinding(
                date=date,
                kind=DateKind.EXPIRY,
                precision=DatePrecision.DAY,
                year_inferred=False,
                confidence=0.9,
                text=image[:10].decode(),
                is_expired=False,
                days_until_expiry=1,
            )
        report(StageEvent(Stage.DATES_PARSED, int(best is not None), "dates parsed"))
        return ProcessResult(
            status=ProcessStatus.FOUND if best else ProcessStatus.NOT_FOUND,
            image_width=32,
            image_height=32,
            timings=StageTimings(decode_ms=1, ocr_ms=2, parse_ms=1, total_ms=4),
            dates=(best,) if best else (),
            best_date=best,
            # The image comes back as its own "visualization": pictures as large as the caller makes them.
            visualization_jpeg=image if options.return_visualization else b"",
        )

    async def aclose(self, timeout_s: float | None = None) -> None:
        return None


def _meta(name: str) -> tuple[tuple[str, str], ...]:
    return (("x-api-key", KEYS[name]),)


def _run(
    tmp_path: Path,
    scenario: Callable[[grpc.aio.Channel, FakePipeline], Awaitable[None]],
    fake: FakePipeline | None = None,
    **settings: Any,
) -> None:
    keys_file = tmp_path / "keys.yaml"
    save_keys(keys_file, [ApiKey(n, hash_key(k), ("process", "jobs")) for n, k in KEYS.items()])
    config = ServerConfig(
        port=0,
        metrics_port=-1,
        api_keys_file=keys_file,
        job_db_path=str(tmp_path / "jobs.sqlite3"),
        **settings,
    )

    async def main() -> None:
        pipeline = fake or FakePipeline()
        running = await build_server(config, PipelineHost(lambda: pipeline))
        loading = asyncio.create_task(load_models(running))
        await loading
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                await asyncio.wait_for(scenario(channel, pipeline), 60)
        finally:
            if pipeline.gate is not None:
                pipeline.gate.set()
            await shutdown(running, 1.0, loading)

    asyncio.run(main())


def _frames(images: list[bytes], policy: int) -> list[expiry_date_service_pb2.Frame]:
    return [
        expiry_date_service_pb2.Frame(stream_id="cam", frame_id=i + 1, image=image, drop_policy=policy)
        for i, image in enumerate(images)
    ]


async def _stream(channel: grpc.aio.Channel, frames: list[expiry_date_service_pb2.Frame]) -> list[Any]:
    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)

    async def send() -> AsyncIterator[expiry_date_service_pb2.Frame]:
        for frame in frames:
            yield frame

    return [r async for r in stub.StreamFrames(send(), metadata=_meta("alice"))]


# --- StreamFrames ------------------------------------------------------------------------------


def test_fusion_outvotes_a_misread_frame_and_a_bad_frame_is_answered_in_band(tmp_path: Path) -> None:
    images = [b"2026-11-16", b"2026-11-16", b"bad", b"2026-11-18", b"2026-11-16", b"nothing"]

    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        results = await _stream(channel, _frames(images, expiry_date_service_pb2.DROP_POLICY_PROCESS_ALL))
        assert [r.frame_id for r in results] == [1, 2, 3, 4, 5, 6]
        assert not any(r.skipped for r in results)
        assert results[2].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "image" in results[2].error.message
        assert results[3].result.best_date.date == "2026-11-18"  # the misread frame itself
        assert [r.stream_best_date.date for r in results] == ["2026-11-16"] * 6
        assert [r.agreeing_frames for r in results] == [1, 2, 2, 2, 3, 3]

    _run(tmp_path, scenario)


def test_latest_skips_stale_frames_against_a_slow_pipeline(tmp_path: Path) -> None:
    frames = _frames([b"2026-11-16"] * 30, expiry_date_service_pb2.DROP_POLICY_LATEST)

    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        results = await _stream(channel, frames)
        assert [r.frame_id for r in results] == list(range(1, 31))
        processed = [r.frame_id for r in results if not r.skipped]
        # Two workers take the first frames; every frame that waits behind them is replaced by a
        # newer one, so the pipeline sees only a few frames, and always the newest one last.
        assert len(processed) <= 6, processed
        assert processed[-1] == 30
        assert len(fake.started) == len(processed)
        assert all(r.skipped == (not r.HasField("result")) for r in results)

    _run(tmp_path, scenario, FakePipeline(delay_s=0.5))


def test_streams_per_caller_are_limited_and_an_idle_stream_ends(tmp_path: Path) -> None:
    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        first = stub.StreamFrames(metadata=_meta("alice"))
        await first.write(_frames([b"2026-11-16"], expiry_date_service_pb2.DROP_POLICY_PROCESS_ALL)[0])
        assert (await first.read()).frame_id == 1
        second = stub.StreamFrames(metadata=_meta("alice"))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await second.read()
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Another caller has its own limit.
        other = stub.StreamFrames(metadata=_meta("bob"))
        await other.write(_frames([b"2026-11-16"], expiry_date_service_pb2.DROP_POLICY_PROCESS_ALL)[0])
        assert (await other.read()).frame_id == 1
        await other.done_writing()
        # The first stream sends nothing more: the idle timeout ends it.
        with pytest.raises(grpc.aio.AioRpcError) as idle:
            await first.read()
        assert idle.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    _run(tmp_path, scenario, stream_max_per_principal=1, stream_idle_timeout_s=1.0)


def test_a_full_stream_stops_reading_frames_off_the_wire(tmp_path: Path) -> None:
    big = b"2026-11-16" + b"x" * 1_000_000

    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        fake.gate = asyncio.Event()  # the first frame is held in the pipeline; the rest must wait
        call = stub.StreamFrames(metadata=_meta("alice"))
        written = 0

        async def camera() -> None:
            nonlocal written
            for frame in _frames([big] * 60, expiry_date_service_pb2.DROP_POLICY_PROCESS_ALL):
                await call.write(frame)
                written += 1

        sending = asyncio.create_task(camera())
        await fake.started_event.wait()
        # Unbounded, the server would take all 60 MB at once. Bounded, it holds 4 frames and the
        # camera's writes wait on flow control (gRPC's HTTP/2 window, ~16 MB here, on top).
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(sending), 2.0)
        assert written < 45, written
        fake.gate.set()

        async def read_all() -> list[Any]:
            return [r async for r in call]

        reading = asyncio.create_task(read_all())
        await sending  # released: the stream reads on as its results are read
        await call.done_writing()
        assert [r.frame_id for r in await reading] == list(range(1, 61))

    _run(tmp_path, scenario, stream_max_buffered_frames=4)


def test_a_cancelled_stream_frees_its_slot_at_once_and_logs_cancelled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each result carries a 1 MB picture, so a client that does not read blocks the server's write.
    options = types_pb2.ProcessOptions(return_visualization=True)
    frames = [
        expiry_date_service_pb2.Frame(frame_id=i, image=b"2026-11-16" + b"x" * 1_000_000, options=options)
        for i in range(40)
    ]

    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        stuck = stub.StreamFrames(metadata=_meta("alice"))
        sending = asyncio.create_task(_write_all(stuck, frames))
        while len(fake.started) < 8:  # 1 MB results past the client's window: the server's write waits
            await asyncio.sleep(0.05)
        stuck.cancel()
        sending.cancel()
        deadline = asyncio.get_running_loop().time() + 5
        while not any(
            "StreamFrames" in r.getMessage() and "code=CANCELLED" in r.getMessage() for r in caplog.records
        ):
            assert asyncio.get_running_loop().time() < deadline, "the cancelled stream was never logged"
            await asyncio.sleep(0.01)
        # The slot (one per caller here) is free the moment the call is logged as ended.
        again = stub.StreamFrames(metadata=_meta("alice"))
        await again.write(_frames([b"2026-11-17"], expiry_date_service_pb2.DROP_POLICY_PROCESS_ALL)[0])
        assert (await again.read()).result.best_date.date == "2026-11-17"
        await again.done_writing()

    with caplog.at_level("INFO"):
        _run(tmp_path, scenario, stream_max_per_principal=1)
    assert not [r for r in caplog.records if r.levelname == "ERROR" or r.exc_info], caplog.text


async def _write_all(call: Any, frames: list[expiry_date_service_pb2.Frame]) -> None:
    for frame in frames:
        await call.write(frame)


def test_an_unknown_drop_policy_is_answered_invalid_argument_in_band(tmp_path: Path) -> None:
    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        frames = _frames([b"2026-11-16", b"2026-11-17"], 99)
        frames[1].drop_policy = expiry_date_service_pb2.DROP_POLICY_LATEST
        results = await _stream(channel, frames)
        assert results[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "drop_policy" in results[0].error.message
        assert results[1].result.best_date.date == "2026-11-17"
        assert fake.started == [b"2026-11-17"]

    _run(tmp_path, scenario)


# --- ProcessBatch and ProcessWithProgress -------------------------------------------------------


def test_batch_pictures_past_the_message_limit_are_left_out_and_said_so(tmp_path: Path) -> None:
    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        options = types_pb2.ProcessOptions(return_visualization=True)
        image = b"2026-11-16" + b"x" * 20_000
        requests = [types_pb2.ProcessRequest(image=image, options=options) for _ in range(20)]
        response = await stub.ProcessBatch(iter(requests), metadata=_meta("alice"))
        assert response.ByteSize() <= 128 * 1024
        omitted = [item.result.pictures_omitted for item in sorted(response.items, key=lambda i: i.index)]
        assert omitted == [False] * 6 + [True] * 14  # 20 KB pictures: six fit in 128 KiB
        assert all(item.result.best_date.date == "2026-11-16" for item in response.items)

    _run(tmp_path, scenario, max_message_bytes=128 * 1024)


def test_batch_answers_each_item_by_index_and_refuses_too_many(tmp_path: Path) -> None:
    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        images = [b"2026-11-16", b"bad", b"2026-12-01"]
        requests = [types_pb2.ProcessRequest(image=image) for image in images]
        response = await stub.ProcessBatch(iter(requests), metadata=_meta("alice"))
        by_index = {item.index: item for item in response.items}
        assert sorted(by_index) == [0, 1, 2]
        assert by_index[0].result.best_date.date == "2026-11-16"
        assert by_index[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert by_index[2].result.best_date.date == "2026-12-01"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ProcessBatch(iter(requests * 2), metadata=_meta("alice"))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "at most 4 items" in refused.value.details()

    _run(tmp_path, scenario, batch_max_items=4)


def test_progress_reports_each_stage_then_the_result(tmp_path: Path) -> None:
    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        fake.gate = asyncio.Event()
        call = stub.ProcessWithProgress(
            types_pb2.ProcessRequest(image=b"2026-11-16"), metadata=_meta("alice")
        )
        # Live: the first stage arrives while the rest of the work is still held by the gate.
        first = await asyncio.wait_for(call.read(), timeout=30)
        assert first.stage == expiry_date_service_pb2.PROGRESS_STAGE_DECODED
        fake.gate.set()
        events = [first]
        while (event := await call.read()) is not grpc.aio.EOF:
            events.append(event)
        assert [e.stage for e in events] == [
            expiry_date_service_pb2.PROGRESS_STAGE_DECODED,
            expiry_date_service_pb2.PROGRESS_STAGE_REGIONS_DETECTED,
            expiry_date_service_pb2.PROGRESS_STAGE_TEXT_READ,
            expiry_date_service_pb2.PROGRESS_STAGE_DATES_PARSED,
            expiry_date_service_pb2.PROGRESS_STAGE_COMPLETED,
        ]
        elapsed = [e.elapsed_ms for e in events[:4]]
        assert elapsed == sorted(elapsed)
        assert events[-1].result.best_date.date == "2026-11-16"

    _run(tmp_path, scenario)


def test_progress_that_fails_after_events_ends_with_a_failed_event_and_the_status(tmp_path: Path) -> None:
    """Over REST the HTTP status went out with the first event: the last event must say it failed."""

    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        for image, timeout_s, code in (
            (b"bad", None, grpc.StatusCode.INVALID_ARGUMENT),
            (b"slow", 1.0, grpc.StatusCode.DEADLINE_EXCEEDED),
        ):
            call = stub.ProcessWithProgress(
                types_pb2.ProcessRequest(image=image), metadata=_meta("alice"), timeout=timeout_s
            )
            events = []
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                async for event in call:
                    events.append(event)
            assert failed.value.code() == code
            assert events[0].stage == expiry_date_service_pb2.PROGRESS_STAGE_DECODED
            last = events[-1]
            assert last.stage == expiry_date_service_pb2.PROGRESS_STAGE_FAILED, image
            assert last.error.code == code.value[0]
            assert last.error.message == failed.value.details()
            assert not last.HasField("result")

    _run(tmp_path, scenario)


# --- JobService ------------------------------------------------------------------------------------


async def _watch(stub: job_service_pb2_grpc.JobServiceStub, job_id: str, owner: str = "alice") -> list[int]:
    call = stub.WatchJob(job_service_pb2.WatchJobRequest(job_id=job_id), metadata=_meta(owner))
    return [job.state async for job in call]


def test_watch_sees_every_transition_and_jobs_run_at_job_priority(tmp_path: Path) -> None:
    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        fake.gate = asyncio.Event()
        job = await stub.CreateJob(
            job_service_pb2.CreateJobRequest(image=b"2026-11-16"), metadata=_meta("alice")
        )
        assert job.state == job_service_pb2.JOB_STATE_QUEUED and job.owner == "api_key:alice"
        call = stub.WatchJob(job_service_pb2.WatchJobRequest(job_id=job.job_id), metadata=_meta("alice"))
        states = [(await call.read()).state]
        await fake.started_event.wait()
        fake.gate.set()  # the job is held RUNNING until the watch has its first state
        while (job_state := await call.read()) is not grpc.aio.EOF:
            states.append(job_state.state)
        # The watch opened while the job was QUEUED or already RUNNING; every later state follows.
        assert states in (
            [
                job_service_pb2.JOB_STATE_QUEUED,
                job_service_pb2.JOB_STATE_RUNNING,
                job_service_pb2.JOB_STATE_SUCCEEDED,
            ],
            [job_service_pb2.JOB_STATE_RUNNING, job_service_pb2.JOB_STATE_SUCCEEDED],
        ), states
        done = await stub.GetJob(job_service_pb2.GetJobRequest(job_id=job.job_id), metadata=_meta("alice"))
        assert done.result.best_date.date == "2026-11-16" and done.progress == 1.0
        assert done.HasField("finished_at") and done.HasField("started_at")
        assert fake.priorities[-1] == Priority.JOB

    _run(tmp_path, scenario)


def test_cancel_of_queued_and_running_jobs(tmp_path: Path) -> None:
    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        fake.gate = asyncio.Event()
        meta = _meta("alice")
        running = await stub.CreateJob(job_service_pb2.CreateJobRequest(image=b"2026-11-16"), metadata=meta)
        queued = await stub.CreateJob(job_service_pb2.CreateJobRequest(image=b"2026-11-17"), metadata=meta)
        await fake.started_event.wait()  # the first job is in the pipeline; concurrency 1 holds the second
        assert fake.started == [b"2026-11-16"]
        watch_running = asyncio.create_task(_watch(stub, running.job_id))
        cancelled = await stub.CancelJob(
            job_service_pb2.CancelJobRequest(job_id=queued.job_id), metadata=meta
        )
        assert cancelled.state == job_service_pb2.JOB_STATE_CANCELLED
        cancelled = await stub.CancelJob(
            job_service_pb2.CancelJobRequest(job_id=running.job_id), metadata=meta
        )
        assert cancelled.state == job_service_pb2.JOB_STATE_CANCELLED
        fake.gate.set()
        assert (await watch_running)[-1] == job_service_pb2.JOB_STATE_CANCELLED
        # A third job runs to the end, so the runner has had every chance to touch the first two.
        third = await stub.CreateJob(job_service_pb2.CreateJobRequest(image=b"2026-11-18"), metadata=meta)
        assert (await _watch(stub, third.job_id))[-1] == job_service_pb2.JOB_STATE_SUCCEEDED
        for job_id in (running.job_id, queued.job_id):
            job = await stub.GetJob(job_service_pb2.GetJobRequest(job_id=job_id), metadata=meta)
            assert job.state == job_service_pb2.JOB_STATE_CANCELLED and not job.HasField("result")
        assert b"2026-11-17" not in fake.started  # the queued job never ran

    _run(tmp_path, scenario, job_concurrency=1)


def test_another_owner_gets_not_found_and_lists_only_its_own(tmp_path: Path) -> None:
    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        job = await stub.CreateJob(
            job_service_pb2.CreateJobRequest(image=b"2026-11-16"), metadata=_meta("alice")
        )
        calls = [
            lambda: stub.GetJob(job_service_pb2.GetJobRequest(job_id=job.job_id), metadata=_meta("bob")),
            lambda: stub.CancelJob(
                job_service_pb2.CancelJobRequest(job_id=job.job_id), metadata=_meta("bob")
            ),
            lambda: stub.DeleteJob(
                job_service_pb2.DeleteJobRequest(job_id=job.job_id), metadata=_meta("bob")
            ),
            lambda: _watch(stub, job.job_id, owner="bob"),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call()
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        listed = await stub.ListJobs(job_service_pb2.ListJobsRequest(), metadata=_meta("bob"))
        assert list(listed.jobs) == []
        listed = await stub.ListJobs(job_service_pb2.ListJobsRequest(page_size=10), metadata=_meta("alice"))
        assert [j.job_id for j in listed.jobs] == [job.job_id]
        await stub.DeleteJob(job_service_pb2.DeleteJobRequest(job_id=job.job_id), metadata=_meta("alice"))
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await stub.GetJob(job_service_pb2.GetJobRequest(job_id=job.job_id), metadata=_meta("alice"))
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND

    _run(tmp_path, scenario)


def test_list_pages_and_bad_requests(tmp_path: Path) -> None:
    async def scenario(channel: grpc.aio.Channel, fake: FakePipeline) -> None:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        meta = _meta("alice")
        fake.gate = asyncio.Event()  # nothing finishes: every job stays QUEUED or RUNNING
        ids = [
            (
                await stub.CreateJob(job_service_pb2.CreateJobRequest(image=b"2026-11-16"), metadata=meta)
            ).job_id
            for _ in range(5)
        ]
        seen, token = [], ""
        while True:
            page = await stub.ListJobs(
                job_service_pb2.ListJobsRequest(page_size=2, page_token=token), metadata=meta
            )
            seen += [j.job_id for j in page.jobs]
            token = page.next_page_token
            if not token:
                break
        assert seen == ids[::-1]
        bad = [
            job_service_pb2.CreateJobRequest(),
            job_service_pb2.CreateJobRequest(url="http://example.com/a.jpg"),
            job_service_pb2.CreateJobRequest(
                image=b"x", options=types_pb2.ProcessOptions(reference_date="tomorrow")
            ),
        ]
        for request in bad:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.CreateJob(request, metadata=meta)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListJobs(job_service_pb2.ListJobsRequest(page_token="nonsense"), metadata=meta)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    _run(tmp_path, scenario)
