"""Streams and jobs on the sync Client: ProcessUrl, ProcessBatch, progress, StreamFrames, JobService."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from datalid.v1 import expiry_date_service_pb2, job_service_pb2
from datalid_client import (
    Client,
    DropPolicy,
    FieldViolation,
    Frame,
    InvalidInput,
    JobState,
    NotFound,
    ProcessOptions,
    ProcessStatus,
    ProgressStage,
    ResourceExhausted,
    RetryPolicy,
    ServerError,
    Unavailable,
)
from tests.client.fakes import BAD_IMAGE, BUSY_IMAGE, FAILING_URL, JPEG, SKIP_IMAGE, FakeServer

NO_SLEEP = {"sleep": lambda seconds: None}


def test_process_url_sends_url_and_options(fake_server: FakeServer) -> None:
    with Client(fake_server.target) as client:
        result = client.process_url("https://example.com/a.jpg", ProcessOptions(max_detections=3))
        with pytest.raises(InvalidInput) as info:
            client.process_url("http://example.com/a.jpg")
    assert result.status is ProcessStatus.FOUND
    assert info.value.field_violations == (FieldViolation("url", "must be https"),)
    call = fake_server.behaviour.calls[0]
    assert (call.method, call.request.url, call.request.options.max_detections) == (
        "ProcessUrl",
        "https://example.com/a.jpg",
        3,
    )


def test_process_batch_returns_results_and_mapped_errors_by_index(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(JPEG)
    with Client(fake_server.target) as client:
        items = client.process_batch([JPEG, BAD_IMAGE, path, BUSY_IMAGE], ProcessOptions(max_detections=1))
    assert [i.index for i in items] == [0, 1, 2, 3], "sorted by index although the server reversed them"
    assert [i.ok for i in items] == [True, False, True, False]
    assert items[0].result is not None and items[0].result.request_id == "req-0"
    bad = items[1].error
    assert isinstance(bad, InvalidInput)
    assert bad.code is grpc.StatusCode.INVALID_ARGUMENT
    assert bad.details == "image: not an image"
    assert bad.field_violations == (FieldViolation("image", "not an image"),)
    busy = items[3].error
    assert isinstance(busy, ResourceExhausted) and busy.retry_delay_s == 0.5
    (call,) = fake_server.behaviour.calls
    assert [r.image for r in call.request] == [JPEG, BAD_IMAGE, JPEG, BUSY_IMAGE]
    assert all(r.options.max_detections == 1 for r in call.request)


def test_process_batch_accepts_a_generator_and_an_empty_batch(fake_server: FakeServer) -> None:
    with Client(fake_server.target) as client:
        items = client.process_batch(JPEG for _ in range(3))
        assert client.process_batch([]) == []
    assert [i.index for i in items] == [0, 1, 2]


def test_process_batch_call_errors_raise_and_are_not_retried(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "down")
    client = Client(fake_server.target, retries=RetryPolicy(max_attempts=3), **NO_SLEEP)
    with client, pytest.raises(Unavailable, match="down"):
        client.process_batch([JPEG])
    assert len(fake_server.behaviour.calls) == 1


def test_process_batch_reports_the_callers_own_exception(fake_server: FakeServer, tmp_path: Path) -> None:
    with Client(fake_server.target) as client:
        with pytest.raises(FileNotFoundError):
            client.process_batch([JPEG, tmp_path / "missing.jpg"])
        with pytest.raises(TypeError, match="iterable of images"):
            client.process_batch(JPEG)
        with pytest.raises(TypeError, match="iterable of images"):
            client.process_batch(str(tmp_path))


def test_process_with_progress_yields_typed_events(fake_server: FakeServer) -> None:
    with Client(fake_server.target) as client:
        events = list(client.process_with_progress(JPEG, ProcessOptions(date_order="MDY")))
    assert [e.stage for e in events] == [
        ProgressStage.DECODED,
        ProgressStage.REGIONS_DETECTED,
        ProgressStage.TEXT_READ,
        ProgressStage.DATES_PARSED,
        ProgressStage.COMPLETED,
    ]
    assert [e.elapsed_ms for e in events] == [10.0, 20.0, 30.0, 40.0, 50.0]
    assert all(e.result is None for e in events[:-1])
    final = events[-1].result
    assert final is not None and final.best_date is not None
    assert final.best_date.date == dt.date(2026, 12, 31)
    assert fake_server.behaviour.calls[0].request.options.date_order == 2


def test_mid_stream_error_is_mapped_and_not_retried(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_stream_after(2, grpc.StatusCode.UNAVAILABLE, "worker lost")
    received = []
    client = Client(fake_server.target, retries=RetryPolicy(max_attempts=5), **NO_SLEEP)
    with client, pytest.raises(Unavailable, match="worker lost") as info:
        for event in client.process_with_progress(JPEG):
            received.append(event.stage)
    assert received == [ProgressStage.DECODED, ProgressStage.REGIONS_DETECTED]
    assert isinstance(info.value.__cause__, grpc.RpcError)
    assert len(fake_server.behaviour.calls) == 1, "a stream that delivered messages is never retried"


def test_unavailable_before_the_first_message_is_retried(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "warming up")
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=2, initial_backoff_s=0.25, jitter=0.0)
    with Client(fake_server.target, retries=policy, sleep=sleeps.append) as client:
        events = list(client.process_with_progress(JPEG))
    assert len(events) == 5
    assert sleeps == [0.25]
    assert [c.method for c in fake_server.behaviour.calls] == ["ProcessWithProgress"] * 2


def test_stream_errors_before_the_first_message_are_mapped(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_next(grpc.StatusCode.INVALID_ARGUMENT, "image: empty")
    with Client(fake_server.target) as client:
        stream = client.process_with_progress(JPEG)
        assert fake_server.behaviour.calls == [], "the call starts when iteration starts"
        with pytest.raises(InvalidInput, match="image: empty"):
            next(stream)


def test_process_with_progress_reads_the_path_eagerly(fake_server: FakeServer, tmp_path: Path) -> None:
    with Client(fake_server.target) as client, pytest.raises(FileNotFoundError):
        client.process_with_progress(tmp_path / "missing.jpg")


def frames(*images: bytes, policy: DropPolicy = DropPolicy.PROCESS_ALL) -> Iterator[Frame]:
    start = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    for i, image in enumerate(images):
        yield Frame(
            frame_id=i + 10,
            image=image,
            captured_at=start + dt.timedelta(milliseconds=100 * i),
            drop_policy=policy,
            options=ProcessOptions(max_detections=2) if i == 0 else None,
        )


def test_stream_frames_results_skips_and_in_band_errors(fake_server: FakeServer) -> None:
    with Client(fake_server.target) as client:
        results = list(client.stream_frames(frames(JPEG, SKIP_IMAGE, BAD_IMAGE, JPEG, policy="latest")))
    assert [r.frame_id for r in results] == [10, 11, 12, 13]
    assert [r.skipped for r in results] == [False, True, False, False]
    assert results[0].result is not None and results[0].error is None
    assert isinstance(results[2].error, InvalidInput)
    assert results[2].error.field_violations == (FieldViolation("image", "not an image"),)
    assert [r.agreeing_frames for r in results] == [1, 1, 1, 2]
    assert results[3].stream_best_date is not None
    assert results[3].stream_best_date.date == dt.date(2026, 12, 31)
    wire = [c.request for c in fake_server.behaviour.calls if c.method == "Frame"]
    assert [f.frame_id for f in wire] == [10, 11, 12, 13]
    assert all(f.drop_policy == expiry_date_service_pb2.DROP_POLICY_LATEST for f in wire)
    assert wire[1].captured_at.ToDatetime(tzinfo=dt.UTC) == dt.datetime(2026, 5, 1, 12, 0, 0, 100000, dt.UTC)
    assert wire[0].options.max_detections == 2 and not wire[1].HasField("options")


def test_stream_frames_mid_stream_error(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_stream_after(1, grpc.StatusCode.INTERNAL, "decoder crashed")
    seen = []
    with Client(fake_server.target) as client, pytest.raises(ServerError, match="decoder crashed"):
        for result in client.stream_frames(frames(JPEG, JPEG, JPEG)):
            seen.append(result.frame_id)
    assert seen == [10]


def test_stream_frames_reraises_the_frame_iterators_exception(fake_server: FakeServer) -> None:
    def camera() -> Iterator[Frame]:
        yield from frames(JPEG)
        raise OSError("camera unplugged")

    with Client(fake_server.target) as client, pytest.raises(OSError, match="camera unplugged"):
        list(client.stream_frames(camera()))


def test_stream_frames_rejects_items_that_are_not_frames(fake_server: FakeServer) -> None:
    with Client(fake_server.target) as client, pytest.raises(TypeError, match=r"datalid_client\.Frame"):
        list(client.stream_frames([JPEG]))  # type: ignore[list-item]


def test_closing_a_stream_early_cancels_the_call(fake_server: FakeServer) -> None:
    def endless() -> Iterator[Frame]:
        i = 0
        while True:
            yield Frame(frame_id=i, image=JPEG)
            i += 1

    with Client(fake_server.target) as client:
        stream = client.stream_frames(endless())
        assert next(stream).frame_id == 0
        stream.close()  # type: ignore[attr-defined]
        assert fake_server.behaviour.stream_ended.wait(10), "the server saw the stream end"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"frame_id": -1}, "frame_id must be an int >= 0"),
        ({"captured_at": dt.datetime(2026, 1, 1)}, "captured_at must be a timezone-aware datetime"),
        ({"drop_policy": "newest"}, "drop_policy must be one of process_all, latest"),
    ],
)
def test_frame_validation(kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Frame(**{"frame_id": 0, "image": JPEG, **kwargs})  # type: ignore[arg-type]
    assert Frame(frame_id=0, image=bytearray(JPEG), drop_policy="latest").drop_policy is DropPolicy.LATEST


def test_job_lifecycle(fake_server: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(JPEG)
    with Client(fake_server.target) as client:
        job = client.create_job(path, options=ProcessOptions(max_detections=1))
        assert (job.job_id, job.state, job.message) == ("job-1", JobState.QUEUED, f"{len(JPEG)} bytes")
        assert job.created_at == dt.datetime.fromtimestamp(1_790_000_000, dt.UTC)
        assert job.started_at is None and job.result is None and job.error is None
        assert client.get_job("job-1") == job
        updates = list(client.watch_job("job-1"))
        assert [u.state for u in updates] == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
        assert updates[-1].state.is_final and not updates[1].state.is_final
        assert updates[-1].result is not None and updates[-1].result.status is ProcessStatus.FOUND
        assert updates[-1].progress == 1.0

        url_job = client.create_job(url=FAILING_URL)
        last = list(client.watch_job(url_job.job_id))[-1]
        assert last.state is JobState.FAILED
        assert isinstance(last.error, InvalidInput) and last.error.details == "image: not an image"

        queued = client.create_job(JPEG)
        cancelled = client.cancel_job(queued.job_id)
        assert cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None
        assert [u.state for u in client.watch_job(queued.job_id)] == [JobState.CANCELLED]

        client.delete_job("job-1")
        with pytest.raises(NotFound, match="job 'job-1' not found"):
            client.get_job("job-1")
        with pytest.raises(NotFound):
            list(client.watch_job("job-1"))
    create = fake_server.behaviour.calls[0].request
    assert create.WhichOneof("source") == "image" and create.options.max_detections == 1
    assert fake_server.behaviour.calls[3].request.url == FAILING_URL


def test_create_job_arguments_and_no_retry(fake_server: FakeServer) -> None:
    with Client(fake_server.target, retries=RetryPolicy(max_attempts=3), **NO_SLEEP) as client:
        with pytest.raises(ValueError, match="exactly one of image= and url="):
            client.create_job()
        with pytest.raises(ValueError, match="exactly one of image= and url="):
            client.create_job(JPEG, url="https://example.com/a.jpg")
        with pytest.raises(ValueError, match="job_id must be a non-empty string"):
            client.get_job("")
        fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "down")
        with pytest.raises(Unavailable):
            client.create_job(JPEG)
        assert len(fake_server.behaviour.calls) == 1, "create_job is not retried (it could run twice)"
        fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "down")
        assert client.list_jobs().jobs == (), "other job calls are retried"


def test_list_jobs_pages_and_state_filter(fake_server: FakeServer) -> None:
    with Client(fake_server.target) as client:
        for _ in range(5):
            client.create_job(JPEG)
        client.cancel_job("job-2")
        first = client.list_jobs(page_size=2)
        assert [j.job_id for j in first.jobs] == ["job-1", "job-2"]
        assert first.next_page_token == "after:2"
        second = client.list_jobs(page_size=2, page_token=first.next_page_token)
        assert [j.job_id for j in second.jobs] == ["job-3", "job-4"]
        assert [j.job_id for j in client.iter_jobs(page_size=2)] == [f"job-{i}" for i in range(1, 6)]
        assert [j.job_id for j in client.iter_jobs("cancelled")] == ["job-2"]
        assert [j.job_id for j in client.iter_jobs(JobState.QUEUED, page_size=10)] == [
            "job-1",
            "job-3",
            "job-4",
            "job-5",
        ]
        with pytest.raises(InvalidInput, match="page_token"):
            client.list_jobs(page_token="garbage")
        with pytest.raises(ValueError, match="state must be one of"):
            client.iter_jobs("done")
        with pytest.raises(ValueError, match="page_size must be an int >= 1"):
            client.list_jobs(page_size=0)
    pages = [c.request for c in fake_server.behaviour.calls if c.method == "ListJobs"]
    assert pages[0].page_size == 2 and pages[0].page_token == ""
    cancelled_query = [p for p in pages if p.state == job_service_pb2.JOB_STATE_CANCELLED]
    assert len(cancelled_query) == 1


def test_long_streams_have_no_default_deadline(fake_server: FakeServer) -> None:
    with Client(fake_server.target, timeout_s=30) as client:
        job = client.create_job(JPEG)
        list(client.watch_job(job.job_id))
        list(client.watch_job(job.job_id, timeout_s=5))
        list(client.process_with_progress(JPEG))
    watches = [c for c in fake_server.behaviour.calls if c.method == "WatchJob"]
    no_deadline = watches[0].time_remaining_s
    assert no_deadline is None or no_deadline > 1e6, "gRPC reports 'no deadline' as None or a huge number"
    assert watches[1].time_remaining_s is not None and watches[1].time_remaining_s <= 6
    progress = [c for c in fake_server.behaviour.calls if c.method == "ProcessWithProgress"]
    assert progress[0].time_remaining_s is not None, "bounded calls keep the client's default deadline"


def test_closed_client_refuses_streams(fake_server: FakeServer) -> None:
    client = Client(fake_server.target)
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.process_with_progress(JPEG)
    with pytest.raises(RuntimeError, match="closed"):
        client.stream_frames([])
    with pytest.raises(RuntimeError, match="closed"):
        client.watch_job("job-1")
    with pytest.raises(RuntimeError, match="closed"):
        client.process_batch([JPEG])
