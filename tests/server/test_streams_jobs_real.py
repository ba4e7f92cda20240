"""Camera streams and persistent jobs against real server subprocesses with the real OCR models."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest

from datalid.v1 import (
    expiry_date_service_pb2,
    expiry_date_service_pb2_grpc,
    job_service_pb2,
    job_service_pb2_grpc,
)
from pipeline.synth import render_label
from tests.conftest import ServerProcess, failed_start, serving

pytestmark = pytest.mark.slow

_DONE = {
    job_service_pb2.JOB_STATE_SUCCEEDED,
    job_service_pb2.JOB_STATE_FAILED,
    job_service_pb2.JOB_STATE_CANCELLED,
}


def _blank_jpeg(seed: int) -> bytes:
    # Small plain frames (a camera pointed at nothing) keep 100 frames fast; OCR finds no text.
    shade = 180 + seed % 40
    ok, data = cv2.imencode(".jpg", np.full((48, 64, 3), shade, np.uint8))
    assert ok
    return data.tobytes()


def test_a_stream_of_100_frames_gets_100_results_in_order(channel) -> None:
    label = render_label(["Use by", "16 NOV"], seed=7)
    images = [label if i % 25 == 0 else _blank_jpeg(i) for i in range(100)]
    frames = [
        expiry_date_service_pb2.Frame(stream_id="cam-0", frame_id=i + 1, image=image)
        for i, image in enumerate(images)
    ]
    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
    # The deadline only stops a hung stream: 100 frames take about 115 s on the 2-core VM.
    results = list(stub.StreamFrames(iter(frames), timeout=300))
    assert [r.frame_id for r in results] == list(range(1, 101))
    assert not any(r.skipped or r.HasField("error") for r in results)
    assert results[0].result.best_date.date.endswith("-11-16")
    # The label frames vote; the blank frames between them read nothing and do not flip the answer
    # until the window has moved past every label frame.
    assert results[1].stream_best_date.date.endswith("-11-16") and results[1].agreeing_frames == 1


def test_a_corrupt_frame_mid_stream_is_answered_in_band(channel) -> None:
    images = [_blank_jpeg(0), b"\xff\xd8\xff not really a jpeg", _blank_jpeg(1)]
    frames = [expiry_date_service_pb2.Frame(frame_id=i + 1, image=image) for i, image in enumerate(images)]
    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
    results = list(stub.StreamFrames(iter(frames), timeout=60))
    assert [r.frame_id for r in results] == [1, 2, 3]
    assert results[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert not results[0].HasField("error") and not results[2].HasField("error")
    assert results[2].HasField("result")


def _watch_until(stub, job_id: str, wanted: set[int]) -> list[int]:
    states = []
    for job in stub.WatchJob(job_service_pb2.WatchJobRequest(job_id=job_id), timeout=120):
        states.append(job.state)
        if job.state in wanted:
            break
    return states


def test_jobs_survive_kill_9_and_a_restart(tmp_path: Path) -> None:
    env = {"DATALID_JOB_DB_PATH": str(tmp_path / "jobs.sqlite3"), "DATALID_JOB_CONCURRENCY": "1"}
    label = render_label(["Use by", "16 NOV"], seed=7)
    first = ServerProcess(env=env).start()
    try:
        first.wait_serving()
        with grpc.insecure_channel(first.target) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            ids = [
                stub.CreateJob(job_service_pb2.CreateJobRequest(image=label), timeout=30).job_id
                for _ in range(3)
            ]
            # The first job is RUNNING (or already done) and the others wait when the server dies.
            _watch_until(stub, ids[0], {job_service_pb2.JOB_STATE_RUNNING} | _DONE)
    finally:
        assert first.process is not None
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()

    second = ServerProcess(env=env).start()
    try:
        second.wait_serving()
        with grpc.insecure_channel(second.target) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            for job_id in ids:
                assert _watch_until(stub, job_id, _DONE)[-1] == job_service_pb2.JOB_STATE_SUCCEEDED
                job = stub.GetJob(job_service_pb2.GetJobRequest(job_id=job_id), timeout=30)
                assert job.result.best_date.date.endswith("-11-16")
            listed = stub.ListJobs(job_service_pb2.ListJobsRequest(), timeout=30)
            assert sorted(j.job_id for j in listed.jobs) == sorted(ids)
    finally:
        assert second.stop() == 0, "\n".join(second.log[-30:])


def test_a_second_server_on_the_same_job_database_is_refused_at_start(tmp_path: Path) -> None:
    """Two servers on one SQLite file would both run its jobs; the second stops with a clear error."""
    env = {"DATALID_JOB_DB_PATH": str(tmp_path / "jobs.sqlite3")}
    for first in serving(ServerProcess(env=env)):
        assert first.process is not None
        second = failed_start(env)
        assert second.returncode == 1, second.stderr[-2000:]
        expected = f"in use by another server (pid {first.process.pid})"
        assert expected in second.stderr and "give each server its own job_db_path" in second.stderr
