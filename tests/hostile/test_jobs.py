"""Hostile and careless job callers against real servers: every answer bounded, never INTERNAL.

Three servers: the shared ``hostile_server`` (anonymous callers, jobs run), and two of this
module's own under the same memory cap, whose one job slot is held by a URL job fetching from a
loopback listener that never answers, so every later job stays QUEUED for as long as a test needs:
``jobs_server`` (API keys for several owners, a small byte quota, its job file known to the test)
and ``ttl_server`` (queued jobs expire after ``_QUEUED_TTL_S``).
"""

from __future__ import annotations

import base64
import socket
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from google.rpc import code_pb2, error_details_pb2

from datalid.v1 import job_service_pb2, job_service_pb2_grpc, types_pb2
from server.edge.auth import ApiKey, hash_key, save_keys
from tests.conftest import ServerProcess, bad_request_fields, serving, status_detail
from tests.hostile.conftest import MEMORY_LIMIT_BYTES, assert_still_serving

pytestmark = pytest.mark.slow

KEYS = {name: f"{name}-key-0123456789abcdef" for name in ("holder", "alice", "bob", "many", "big")}
_BYTES_QUOTA = 2 * 1024 * 1024 + 512 * 1024  # two 1 MiB jobs fit, a third does not
_QUEUED_TTL_S = 2
_MAX_WATCHES = 2  # jobs_server's WatchJob calls per principal
_FINAL = {
    job_service_pb2.JOB_STATE_SUCCEEDED,
    job_service_pb2.JOB_STATE_FAILED,
    job_service_pb2.JOB_STATE_CANCELLED,
}
# What the issue allows an error message to echo of a caller's input, with room for its words.
_MAX_MESSAGE_CHARS = 300


class _SilentListener:
    """A loopback HTTP "server" that accepts connections and never answers: a URL job fetching
    from it stays RUNNING, holding the server's one job slot."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/label.jpg"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # closed
                return
            self._held.append(connection)

    def close(self) -> None:
        self._socket.close()
        for connection in self._held:
            connection.close()


@dataclass
class _HeldServer:
    process: ServerProcess
    db_path: Path
    channel: grpc.Channel

    @property
    def jobs(self) -> job_service_pb2_grpc.JobServiceStub:
        return job_service_pb2_grpc.JobServiceStub(self.channel)


def _meta(name: str) -> tuple[tuple[str, str], ...]:
    return (("x-api-key", KEYS[name]),)


def _wait_for_state(
    stub: job_service_pb2_grpc.JobServiceStub, job_id: str, states: set[int], metadata: tuple = ()
) -> job_service_pb2.Job:
    """The job's first state in ``states``, read from WatchJob (no polling)."""
    call = stub.WatchJob(job_service_pb2.WatchJobRequest(job_id=job_id), metadata=metadata, timeout=120)
    try:
        for job in call:
            if job.state in states:
                return job
    finally:
        call.cancel()
    raise AssertionError(f"job {job_id} ended without reaching {states}")


def _held_server(listener: _SilentListener, args: list[str], owner: str | None) -> Iterator[_HeldServer]:
    """A server whose one job slot runs a URL job that never gets an answer."""
    db_path = Path(tempfile.mkdtemp(prefix="datalid-jobs-")) / "jobs.sqlite3"
    process = ServerProcess(
        args=[
            "--job-concurrency",
            "1",
            "--url-allow-http",
            "true",
            "--url-allow-hosts",
            "127.0.0.1",
            "--url-timeout-s",
            "280",  # longer than this module runs; aiohttp's own cap is 300 s
            *args,
        ],
        env={"DATALID_JOB_DB_PATH": str(db_path)},
        memory_limit_bytes=MEMORY_LIMIT_BYTES,
    )
    for started in serving(process):
        with grpc.insecure_channel(started.target) as channel:
            server = _HeldServer(started, db_path, channel)
            metadata = _meta(owner) if owner else ()
            holder = server.jobs.CreateJob(
                job_service_pb2.CreateJobRequest(url=listener.url), metadata=metadata, timeout=10
            )
            running = _wait_for_state(
                server.jobs, holder.job_id, {job_service_pb2.JOB_STATE_RUNNING, *_FINAL}, metadata
            )
            assert running.state == job_service_pb2.JOB_STATE_RUNNING, running
            yield server


@pytest.fixture(scope="module")
def silent_listener() -> Iterator[_SilentListener]:
    listener = _SilentListener()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def jobs_server(
    silent_listener: _SilentListener, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_HeldServer]:
    keys_file = tmp_path_factory.mktemp("keys") / "keys.yaml"
    save_keys(keys_file, [ApiKey(name, hash_key(key), ("jobs",)) for name, key in KEYS.items()])
    args = [
        "--api-keys-file",
        str(keys_file),
        "--auth",
        "required",
        "--job-max-unfinished-bytes-per-principal",
        str(_BYTES_QUOTA),
        "--job-max-watches-per-principal",
        str(_MAX_WATCHES),
    ]
    yield from _held_server(silent_listener, args, owner="holder")


@pytest.fixture(scope="module")
def ttl_server(silent_listener: _SilentListener) -> Iterator[_HeldServer]:
    yield from _held_server(silent_listener, ["--job-queued-ttl-s", str(_QUEUED_TTL_S)], owner=None)


# --- the shared hostile server -------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "9" * 40,  # the probe's: once an SQLite integer overflow, INTERNAL
        base64.urlsafe_b64encode(b"seq:" + b"9" * 40).decode(),  # the old token format, same number
        base64.urlsafe_b64encode(b"seq:-1").decode(),
        "not a token",
        "A" * 1_000_000,
    ],
    ids=["40-digits", "old-format-40-digits", "old-format-negative", "garbage", "1-MB"],
)
def test_a_forged_page_token_is_invalid_argument_naming_page_token(
    hostile_channel: grpc.Channel, token: str
) -> None:
    stub = job_service_pb2_grpc.JobServiceStub(hostile_channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListJobs(job_service_pb2.ListJobsRequest(page_token=token), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    assert bad_request_fields(caught.value) == ["page_token"]
    assert len(caught.value.details()) <= _MAX_MESSAGE_CHARS
    assert_still_serving(hostile_channel)


def test_a_1_mib_job_id_gets_a_bounded_not_found(hostile_channel: grpc.Channel) -> None:
    stub = job_service_pb2_grpc.JobServiceStub(hostile_channel)
    job_id = "x" * (1024 * 1024)
    calls = [
        lambda: stub.GetJob(job_service_pb2.GetJobRequest(job_id=job_id), timeout=30),
        lambda: stub.CancelJob(job_service_pb2.CancelJobRequest(job_id=job_id), timeout=30),
        lambda: stub.DeleteJob(job_service_pb2.DeleteJobRequest(job_id=job_id), timeout=30),
        lambda: list(stub.WatchJob(job_service_pb2.WatchJobRequest(job_id=job_id), timeout=30)),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND, caught.value
        message = caught.value.details()
        assert len(message) <= _MAX_MESSAGE_CHARS and "xxxx" in message and "…" in message, message
    assert_still_serving(hostile_channel)


def test_an_empty_job_id_is_invalid_argument_naming_job_id(hostile_channel: grpc.Channel) -> None:
    stub = job_service_pb2_grpc.JobServiceStub(hostile_channel)
    calls = [
        lambda: stub.GetJob(job_service_pb2.GetJobRequest(), timeout=30),
        lambda: stub.CancelJob(job_service_pb2.CancelJobRequest(), timeout=30),
        lambda: stub.DeleteJob(job_service_pb2.DeleteJobRequest(), timeout=30),
        lambda: list(stub.WatchJob(job_service_pb2.WatchJobRequest(), timeout=30)),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
        assert bad_request_fields(caught.value) == ["job_id"]
    assert_still_serving(hostile_channel)


def _label_like_jpeg() -> bytes:
    """A printed-date label with paper grain (so its pictures weigh something): same bytes each run."""
    rng = np.random.default_rng(7)
    image = rng.integers(200, 256, size=(600, 900, 3), dtype=np.uint8)
    cv2.putText(image, "EXP 12/11/2027", (60, 320), cv2.FONT_HERSHEY_SIMPLEX, 3.0, (0, 0, 0), 8)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


def test_list_jobs_leaves_pictures_out_so_a_page_fits_the_message_limit(
    hostile_server: ServerProcess, hostile_channel: grpc.Channel
) -> None:
    stub = job_service_pb2_grpc.JobServiceStub(hostile_channel)
    options = types_pb2.ProcessOptions(return_visualization=True, return_crops=True)
    image = _label_like_jpeg()
    ids = [
        stub.CreateJob(job_service_pb2.CreateJobRequest(image=image, options=options), timeout=30).job_id
        for _ in range(3)
    ]
    for job_id in ids:
        done = _wait_for_state(stub, job_id, _FINAL)
        assert done.state == job_service_pb2.JOB_STATE_SUCCEEDED, done
    full = [stub.GetJob(job_service_pb2.GetJobRequest(job_id=j), timeout=30) for j in ids]
    assert all(job.result.visualization_jpeg for job in full)  # GetJob still gives the pictures
    # A client whose receive limit takes one full job but not the three: the list must still fit.
    limit = max(job.ByteSize() for job in full) * 3 // 2
    assert sum(job.ByteSize() for job in full) > limit
    options_ = [("grpc.max_receive_message_length", limit)]
    with grpc.insecure_channel(hostile_server.target, options=options_) as small:
        listed = job_service_pb2_grpc.JobServiceStub(small).ListJobs(
            job_service_pb2.ListJobsRequest(state=job_service_pb2.JOB_STATE_SUCCEEDED, page_size=500),
            timeout=30,
        )
    by_id = {job.job_id: job for job in listed.jobs}
    for job in full:
        summary = by_id[job.job_id].result
        assert not summary.visualization_jpeg and not summary.crops_jpeg
        assert summary.status == job.result.status and summary.image_width == job.result.image_width
    assert_still_serving(hostile_channel)


# --- owners, quotas and a locked database (jobs_server) ----------------------------------------


def test_page_tokens_are_per_owner_and_reveal_no_global_count(jobs_server: _HeldServer) -> None:
    stub = jobs_server.jobs
    tiny = job_service_pb2.CreateJobRequest(image=b"x")
    alice = [stub.CreateJob(tiny, metadata=_meta("alice"), timeout=10).job_id for _ in range(3)]
    for _ in range(3):
        stub.CreateJob(tiny, metadata=_meta("bob"), timeout=10)
    first = stub.ListJobs(job_service_pb2.ListJobsRequest(page_size=2), metadata=_meta("alice"), timeout=10)
    token = first.next_page_token
    assert token
    # More jobs of another owner leave alice's token as it was: it counts only her own jobs.
    for _ in range(4):
        stub.CreateJob(tiny, metadata=_meta("bob"), timeout=10)
    again = stub.ListJobs(job_service_pb2.ListJobsRequest(page_size=2), metadata=_meta("alice"), timeout=10)
    assert again.next_page_token == token
    rest = stub.ListJobs(
        job_service_pb2.ListJobsRequest(page_size=2, page_token=token), metadata=_meta("alice"), timeout=10
    )
    assert [j.job_id for j in [*first.jobs, *rest.jobs]] == alice[::-1] and not rest.next_page_token
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    refused = [
        (token, "bob"),  # another owner's token
        (tampered, "alice"),
    ]
    for bad, owner in refused:
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListJobs(
                job_service_pb2.ListJobsRequest(page_size=2, page_token=bad),
                metadata=_meta(owner),
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_request_fields(caught.value) == ["page_token"]
    assert_still_serving(jobs_server.channel)


def test_the_101st_unfinished_job_and_a_byte_quota_are_refused_with_quota_failure(
    jobs_server: _HeldServer,
) -> None:
    stub = jobs_server.jobs
    tiny = job_service_pb2.CreateJobRequest(image=b"x")
    created = [stub.CreateJob(tiny, metadata=_meta("many"), timeout=10).job_id for _ in range(100)]
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateJob(tiny, metadata=_meta("many"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    violation = status_detail(caught.value, error_details_pb2.QuotaFailure).violations[0]
    assert (violation.quota_id, violation.quota_value) == ("job_max_unfinished_per_principal", 100)
    stub.CreateJob(tiny, metadata=_meta("alice"), timeout=10)  # other principals are not held back
    stub.CancelJob(job_service_pb2.CancelJobRequest(job_id=created[0]), metadata=_meta("many"), timeout=10)
    stub.CreateJob(tiny, metadata=_meta("many"), timeout=10)  # a finished job frees its place

    mebibyte = job_service_pb2.CreateJobRequest(image=b"x" * (1024 * 1024))
    for _ in range(2):
        stub.CreateJob(mebibyte, metadata=_meta("big"), timeout=10)
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateJob(mebibyte, metadata=_meta("big"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    violation = status_detail(caught.value, error_details_pb2.QuotaFailure).violations[0]
    assert (violation.quota_id, violation.quota_value) == (
        "job_max_unfinished_bytes_per_principal",
        _BYTES_QUOTA,
    )
    assert len(caught.value.details()) <= _MAX_MESSAGE_CHARS
    assert_still_serving(jobs_server.channel)


def test_a_locked_job_database_answers_unavailable_within_the_deadline(jobs_server: _HeldServer) -> None:
    stub = jobs_server.jobs
    tiny = job_service_pb2.CreateJobRequest(image=b"x")
    job = stub.CreateJob(tiny, metadata=_meta("alice"), timeout=10)
    other = sqlite3.connect(jobs_server.db_path, isolation_level=None)  # a backup, an admin's shell
    # Deadlines well beyond the server's longest lock wait (5 s): the answer must be the server's
    # UNAVAILABLE, never the client's own DEADLINE_EXCEEDED; they are hang guards, not timings.
    try:
        other.execute("BEGIN EXCLUSIVE")
        writes = [
            lambda: stub.CreateJob(tiny, metadata=_meta("alice"), timeout=30),
            lambda: stub.CancelJob(
                job_service_pb2.CancelJobRequest(job_id=job.job_id), metadata=_meta("alice"), timeout=30
            ),
        ]
        details = []
        for write in writes:
            with pytest.raises(grpc.RpcError) as caught:
                write()
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value  # not INTERNAL
            retry = status_detail(caught.value, error_details_pb2.RetryInfo)
            assert retry.retry_delay.ToNanoseconds() > 0
            details.append(caught.value.details())
        # The first write waited for the lock; the next, behind it, was answered without waiting.
        assert "waited 5.0 s" in details[0] and "in vain" in details[1], details
        # Readers are not held up by a writer (WAL).
        listed = stub.ListJobs(job_service_pb2.ListJobsRequest(), metadata=_meta("alice"), timeout=30)
        assert job.job_id in [j.job_id for j in listed.jobs]
    finally:
        other.rollback()
        other.close()
    created = stub.CreateJob(tiny, metadata=_meta("alice"), timeout=30)
    assert created.state == job_service_pb2.JOB_STATE_QUEUED
    assert_still_serving(jobs_server.channel)


def test_watch_job_calls_are_limited_per_principal(jobs_server: _HeldServer) -> None:
    stub = jobs_server.jobs
    tiny = job_service_pb2.CreateJobRequest(image=b"x")
    jobs = {owner: stub.CreateJob(tiny, metadata=_meta(owner), timeout=10) for owner in ("alice", "bob")}

    def watch(owner: str) -> grpc.Call:
        request = job_service_pb2.WatchJobRequest(job_id=jobs[owner].job_id)
        return stub.WatchJob(request, metadata=_meta(owner), timeout=60)

    calls = [watch("alice") for _ in range(_MAX_WATCHES)]
    try:
        # Each call holds its slot once its first state (the job waits: the job slot is held) is out.
        for call in calls:
            assert next(call).state == job_service_pb2.JOB_STATE_QUEUED
        refused = watch("alice")
        with pytest.raises(grpc.RpcError) as caught:
            next(refused)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, caught.value
        assert f"at most {_MAX_WATCHES}" in caught.value.details()
        other = watch("bob")  # another principal has slots of its own
        calls.append(other)
        assert next(other).state == job_service_pb2.JOB_STATE_QUEUED
    finally:
        for call in calls:
            call.cancel()
    assert_still_serving(jobs_server.channel)


# --- queued TTL (ttl_server) ---------------------------------------------------------------------


def test_a_job_queued_past_its_ttl_ends_expired(ttl_server: _HeldServer) -> None:
    stub = ttl_server.jobs
    job = stub.CreateJob(job_service_pb2.CreateJobRequest(image=b"x"), timeout=10)
    assert job.state == job_service_pb2.JOB_STATE_QUEUED  # the one job slot is held: it waits
    ended = _wait_for_state(stub, job.job_id, _FINAL)
    assert ended.state == job_service_pb2.JOB_STATE_FAILED, ended
    assert ended.error.code == code_pb2.DEADLINE_EXCEEDED
    assert ended.error.message == f"expired in queue after {_QUEUED_TTL_S} s" == ended.message
    elapsed_s = ended.finished_at.ToNanoseconds() / 1e9 - ended.created_at.ToNanoseconds() / 1e9
    assert elapsed_s >= _QUEUED_TTL_S
    assert_still_serving(ttl_server.channel)
