"""``python -m server --workers 2``: a real Envoy in front of two real worker processes.

Each test drives the public port only (as a caller would), and reads the supervisor's log for
what a caller cannot see (worker pids and ports).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.utils import InferenceServerException

from datalid.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    expiry_date_service_pb2_grpc,
    job_service_pb2,
    job_service_pb2_grpc,
    types_pb2,
)
from pipeline.synth import render_label
from server.edge.auth import ApiKey, hash_key, new_key, save_keys
from tests.conftest import REPO_ROOT, ServerProcess, bad_request_fields, serving, status_detail

pytestmark = pytest.mark.slow

_WORKER_SERVING = re.compile(r"(worker-\d+) \(pid (\d+)\) serving on 127\.0\.0\.1:(\d+)")
_METRICS = re.compile(r"^\S+ \S+ INFO server\.app metrics on (http://\S+/metrics)")


def _workers(server: ServerProcess) -> dict[str, tuple[int, int]]:
    """Worker name -> (pid, port), for every worker that has served, from the supervisor's log."""
    return {
        m.group(1): (int(m.group(2)), int(m.group(3)))
        for line in server.log
        if (m := _WORKER_SERVING.search(line))
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" not in status


@pytest.fixture(scope="module")
def label_jpeg() -> bytes:
    return render_label(["Use by", "16 NOV"], seed=7)


@pytest.fixture(scope="module")
def supervisor() -> Iterator[ServerProcess]:
    yield from serving(ServerProcess(args=("--workers", "2"), env={"DATALID_WORKERS": "2"}))


@pytest.fixture(scope="module")
def channel(supervisor: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(supervisor.target) as ch:
        yield ch


def _read(channel: grpc.Channel, image: bytes, timeout: float = 60) -> types_pb2.ProcessResponse:
    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
    return stub.Process(types_pb2.ProcessRequest(image=image), timeout=timeout)


class _Caller:
    """Calls Process in a loop from a thread, counting each outcome by status code."""

    def __init__(self, channel: grpc.Channel, image: bytes) -> None:
        self._channel = channel
        self._image = image
        self._stop = threading.Event()
        self.codes: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Caller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                _read(self._channel, self._image, timeout=60)
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name
            self.codes[code] = self.codes.get(code, 0) + 1


def test_reads_a_date_through_envoy_on_either_worker(supervisor, channel, label_jpeg) -> None:
    responses = [_read(channel, label_jpeg) for _ in range(4)]
    assert all(r.best_date.date.endswith("-11-16") for r in responses)
    assert len(_workers(supervisor)) == 2
    info = admin_service_pb2_grpc.AdminServiceStub(channel).GetServerInfo(
        admin_service_pb2.GetServerInfoRequest(), timeout=10
    )
    assert info.ready


def test_get_stats_adds_up_the_workers(supervisor, channel, label_jpeg) -> None:
    for _ in range(3):
        _read(channel, label_jpeg)
    total = admin_service_pb2_grpc.AdminServiceStub(channel).GetStats(
        admin_service_pb2.GetStatsRequest(), timeout=10
    )
    parts = []
    for _, port in _workers(supervisor).values():
        with grpc.insecure_channel(f"127.0.0.1:{port}") as direct:
            stub = admin_service_pb2_grpc.AdminServiceStub(direct)
            parts.append(stub.GetStats(admin_service_pb2.GetStatsRequest(), timeout=10))
    assert total.requests_total == sum(p.requests_total for p in parts) >= 3
    assert total.images_processed_total == sum(p.images_processed_total for p in parts)
    detector = {m.name: m.inference_count for m in total.models}["date_detector"]
    assert detector == sum(m.inference_count for p in parts for m in p.models if m.name == "date_detector")


def test_metrics_carry_every_worker_and_the_supervisor(supervisor, channel, label_jpeg) -> None:
    _read(channel, label_jpeg)
    url = next(m.group(1) for line in supervisor.log if (m := _METRICS.search(line)))
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
    assert 'datalid_workers_ready{worker="supervisor"} 2.0' in page
    workers = set(re.findall(r'worker="(worker-\d+)"', page))
    assert workers == set(_workers(supervisor)) - _retired(supervisor)
    # One family per name: the exposition format allows a TYPE line once.
    types = re.findall(r"^# TYPE (\S+)", page, re.M)
    assert len(types) == len(set(types))


def test_the_v2_protocol_through_the_front_door(supervisor, label_jpeg) -> None:
    client = triton.InferenceServerClient(supervisor.target)
    assert client.is_server_ready() and client.is_model_ready("datalid")
    image = triton.InferInput("image", [1], "BYTES")
    image.set_data_from_numpy(np.array([label_jpeg], dtype=object))
    for _ in range(3):
        assert client.infer("datalid", [image]).as_numpy("date")[0].endswith(b"-11-16")
    # ModelStatistics is the supervisor's: every worker's added up.
    total = client.get_inference_statistics("datalid").model_stats[0]
    parts = []
    for pid, port in _workers(supervisor).values():
        if _alive(pid):
            direct = triton.InferenceServerClient(f"127.0.0.1:{port}")
            parts.append(direct.get_inference_statistics("datalid").model_stats[0])
    assert total.inference_stats.success.count == sum(p.inference_stats.success.count for p in parts) >= 3
    with pytest.raises(InferenceServerException) as caught:
        client.load_model("no_such_model")
    assert str(caught.value.status()) == "StatusCode.NOT_FOUND"
    for name, version in (("no_such_model", ""), ("datalid", "2")):
        with pytest.raises(InferenceServerException) as caught:
            client.get_inference_statistics(name, version)
        assert str(caught.value.status()) == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as caught:
        client.load_model("ocr_rec", config='{"max_batch_size": 1}')
    assert str(caught.value.status()) == "StatusCode.INVALID_ARGUMENT"
    # A load is the supervisor's reload: fresh workers, the old ones drained.
    old = {name for name, (pid, _) in _workers(supervisor).items() if _alive(pid)}
    client.load_model("datalid")
    alive = {name for name, (pid, _) in _workers(supervisor).items() if _alive(pid)}
    assert len(alive) == 2 and not alive & old
    assert client.infer("datalid", [image]).as_numpy("date")[0].endswith(b"-11-16")


def _retired(server: ServerProcess) -> set[str]:
    return {name for name, (pid, _) in _workers(server).items() if not _alive(pid)}


def test_jobs_are_kept_by_the_supervisor_and_read_by_a_worker(channel, label_jpeg) -> None:
    jobs = job_service_pb2_grpc.JobServiceStub(channel)
    job = jobs.CreateJob(job_service_pb2.CreateJobRequest(image=label_jpeg), timeout=10)
    for state in jobs.WatchJob(job_service_pb2.WatchJobRequest(job_id=job.job_id), timeout=120):
        if state.state == job_service_pb2.JOB_STATE_SUCCEEDED:
            assert state.result.best_date.date.endswith("-11-16")
            assert state.result.request_id == job.job_id
            return
        assert state.state in (job_service_pb2.JOB_STATE_QUEUED, job_service_pb2.JOB_STATE_RUNNING), state
    pytest.fail("the job never finished")


def test_envoy_refuses_calls_over_capacity_with_a_retry_hint(channel) -> None:
    # Big photos, many at once: more than the two workers run (4 images each).
    photo = render_label(["Use by", "16 NOV"], seed=3, size=(2400, 1800))
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        outcomes = list(pool.map(lambda _: _outcome(channel, photo), range(80)))
    codes = {code for code, _ in outcomes}
    assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert grpc.StatusCode.OK in codes
    refused = [error for code, error in outcomes if code == grpc.StatusCode.UNAVAILABLE]
    assert refused, "no call was refused at Envoy's circuit breaker"
    assert "at capacity" in refused[0].details()
    retry = status_detail(refused[0], error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToMilliseconds() > 0


def _outcome(channel: grpc.Channel, image: bytes) -> tuple[grpc.StatusCode, grpc.RpcError | None]:
    try:
        _read(channel, image, timeout=120)
        return grpc.StatusCode.OK, None
    except grpc.RpcError as exc:
        return exc.code(), exc


def test_a_killed_worker_is_replaced_while_the_other_serves(supervisor, channel, label_jpeg) -> None:
    before = _workers(supervisor)
    victim, (pid, _) = sorted((n, w) for n, w in before.items() if _alive(w[0]))[0]
    health = health_pb2_grpc.HealthStub(channel)
    with _Caller(channel, label_jpeg) as caller:
        time.sleep(1.0)
        os.kill(pid, signal.SIGKILL)
        # The other worker serves on: health stays SERVING throughout.
        for _ in range(10):
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
            time.sleep(0.2)
        supervisor.wait_for_log(re.compile(rf"worker-{len(before) + 1} \(pid \d+\) serving"), 120)
        time.sleep(1.0)
    # Calls the dead worker was running end UNAVAILABLE (none hangs to its deadline); the rest succeed.
    assert set(caller.codes) <= {"OK", "UNAVAILABLE"}, caller.codes
    assert caller.codes["OK"] >= 5
    assert not _alive(pid)
    assert f"{victim} (pid {pid}) exited" in "\n".join(supervisor.log)
    assert _read(channel, label_jpeg).best_date.date.endswith("-11-16")


def test_reload_swaps_the_workers_without_failing_a_call(supervisor, channel, label_jpeg, tmp_path) -> None:
    repository = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", repository)
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    old = {name for name, (pid, _) in _workers(supervisor).items() if _alive(pid)}
    with _Caller(channel, label_jpeg) as caller:
        time.sleep(0.5)
        answer = admin.ReloadModels(
            admin_service_pb2.ReloadModelsRequest(model_repository=str(repository)), timeout=300
        )
        time.sleep(0.5)
    assert caller.codes.get("OK", 0) >= 3 and set(caller.codes) == {"OK"}, caller.codes
    assert {model.name for model in answer.models} >= {"date_detector", "ocr_det", "ocr_rec"}
    # The detector's file is the repository's own (the OCR models' files live in their wheels).
    assert {model.name: model.path for model in answer.models}["date_detector"].startswith(str(repository))
    alive = {name for name, (pid, _) in _workers(supervisor).items() if _alive(pid)}
    assert len(alive) == 2 and not alive & old


def test_a_repository_that_fails_to_load_leaves_the_old_models_serving(channel, label_jpeg, tmp_path) -> None:
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    with pytest.raises(grpc.RpcError) as missing:
        admin.ReloadModels(
            admin_service_pb2.ReloadModelsRequest(model_repository="/no/such/folder"), timeout=60
        )
    assert missing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(missing.value) == ["model_repository"]
    broken = tmp_path / "broken"
    shutil.copytree(REPO_ROOT / "models", broken)
    (broken / "ocr_rec" / "config.yaml").write_text("path: [this is not a model\n")
    with pytest.raises(grpc.RpcError) as failed:
        admin.ReloadModels(admin_service_pb2.ReloadModelsRequest(model_repository=str(broken)), timeout=300)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(failed.value) == ["model_repository"]
    assert "old ones still serve" in failed.value.details()
    # An empty folder loads (the OCR models have defaults) but would serve no date detector.
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(grpc.RpcError) as dropped:
        admin.ReloadModels(admin_service_pb2.ReloadModelsRequest(model_repository=str(empty)), timeout=300)
    assert bad_request_fields(dropped.value) == ["model_repository"]
    assert "lack date_detector" in dropped.value.details()
    assert _read(channel, label_jpeg).best_date.date.endswith("-11-16")


def test_unknown_model_name_is_refused(channel) -> None:
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    with pytest.raises(grpc.RpcError) as refused:
        admin.ReloadModels(admin_service_pb2.ReloadModelsRequest(names=["no_such_model"]), timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(refused.value) == ["names"]


def test_health_is_not_serving_until_a_worker_serves_and_stop_ends_every_worker(label_jpeg) -> None:
    server = ServerProcess(args=("--workers", "2")).start()
    try:
        with grpc.insecure_channel(server.target) as channel:
            first = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            # The port is announced as soon as Envoy listens; the models load for seconds after.
            assert first.status == health_pb2.HealthCheckResponse.NOT_SERVING
            server.wait_serving()
            assert _read(channel, label_jpeg).best_date.date.endswith("-11-16")
        pids = [pid for pid, _ in _workers(server).values()]
        assert len(pids) == 2
    finally:
        code = server.stop()
    assert code == 0, "\n".join(server.log[-30:])
    assert not any(_alive(pid) for pid in pids)


def test_with_api_keys_jobs_run_with_the_supervisors_own_key(tmp_path, label_jpeg) -> None:
    keys_file = tmp_path / "keys.yaml"
    key = new_key()
    save_keys(keys_file, [ApiKey("tester", hash_key(key), ("process", "jobs"))])
    server = ServerProcess(args=("--workers", "2", "--api-keys-file", str(keys_file)))
    for running in serving(server):
        with grpc.insecure_channel(running.target) as channel:
            jobs = job_service_pb2_grpc.JobServiceStub(channel)
            with pytest.raises(grpc.RpcError) as anonymous:
                jobs.CreateJob(job_service_pb2.CreateJobRequest(image=label_jpeg), timeout=10)
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
            credentials = (("x-api-key", key),)
            job = jobs.CreateJob(
                job_service_pb2.CreateJobRequest(image=label_jpeg), metadata=credentials, timeout=10
            )
            request = job_service_pb2.WatchJobRequest(job_id=job.job_id)
            final = None
            for state in jobs.WatchJob(request, metadata=credentials, timeout=120):
                final = state
                if state.state not in (job_service_pb2.JOB_STATE_QUEUED, job_service_pb2.JOB_STATE_RUNNING):
                    break
            assert final is not None and final.state == job_service_pb2.JOB_STATE_SUCCEEDED, final
            admin = admin_service_pb2_grpc.AdminServiceStub(channel)
            with pytest.raises(grpc.RpcError) as no_scope:
                admin.GetStats(admin_service_pb2.GetStatsRequest(), metadata=credentials, timeout=10)
            assert no_scope.value.code() == grpc.StatusCode.PERMISSION_DENIED
