"""Start-up, health transitions and graceful shutdown of the real server."""

from __future__ import annotations

import asyncio
import queue
import re
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from datalid.v1 import expiry_date_service_pb2, expiry_date_service_pb2_grpc, types_pb2
from pipeline import load_pipeline
from pipeline.synth import render_label
from server.app import build_server, load_models, shutdown
from server.config import ServerConfig
from server.host import PipelineHost
from tests.conftest import REPO_ROOT, ServerProcess

pytestmark = pytest.mark.slow


def test_health_is_not_serving_until_models_are_loaded_and_warmed(tmp_path) -> None:
    asyncio.run(_health_transitions(str(tmp_path / "jobs.sqlite3")))


async def _health_transitions(job_db_path: str) -> None:
    gate = threading.Event()

    def gated_load():
        gate.wait(timeout=60)
        return load_pipeline()

    running = await build_server(ServerConfig(port=0, job_db_path=job_db_path), PipelineHost(gated_load))
    loading = asyncio.create_task(load_models(running))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
            first = await watch.read()
            assert first.status == health_pb2.HealthCheckResponse.NOT_SERVING

            inference = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await inference.Process(types_pb2.ProcessRequest(image=b"x"), timeout=10)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

            gate.set()
            second = await asyncio.wait_for(watch.read(), timeout=120)
            assert second.status == health_pb2.HealthCheckResponse.SERVING
            watch.cancel()
            response = await inference.Process(
                types_pb2.ProcessRequest(image=render_label(["Use by", "16 NOV"], seed=3)), timeout=60
            )
            assert response.best_date.date.endswith("-11-16")
    finally:
        gate.set()
        await shutdown(running, grace_s=1.0, loading=loading)


def _dense_label() -> bytes:
    # Many text lines make the OCR take long enough for a signal to land mid-call.
    lines = [f"LOT L{i:04d}  PACKED 0{i % 9 + 1} OCT" for i in range(12)] + ["Use by", "16 NOV"]
    return render_label(lines, size=(2400, 3200), seed=11)


def test_sigterm_lets_in_flight_calls_finish_and_refuses_new_ones() -> None:
    server = ServerProcess(args=["--log-level", "DEBUG", "--grace-s", "60"]).start()
    server.wait_serving()
    image = _dense_label()
    label = render_label(["Use by", "16 NOV"], seed=7)
    # A camera stream whose end the test decides holds the drain open for as long as the test
    # needs, so that the refusal of a new call is checked while the server is surely draining.
    frames: queue.Queue[expiry_date_service_pb2.Frame | None] = queue.Queue()
    frames.put(expiry_date_service_pb2.Frame(stream_id="cam", frame_id=1, image=label))
    with grpc.insecure_channel(server.target) as channel, ThreadPoolExecutor(2) as pool:
        stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        stream = stub.StreamFrames(iter(frames.get, None), timeout=120)
        assert next(stream).frame_id == 1
        in_flight: Future = pool.submit(stub.Process, types_pb2.ProcessRequest(image=image), timeout=120)
        # Admitted means counted in flight: from then on the drain waits for the call.
        server.wait_for_log(re.compile(r"rpc admitted method=.*ExpiryDateService/Process"), timeout_s=60)
        server.terminate()
        server.wait_for_log(re.compile(r"shutting down"), timeout_s=30)

        with grpc.insecure_channel(server.target) as fresh:
            with pytest.raises(grpc.RpcError) as caught:
                expiry_date_service_pb2_grpc.ExpiryDateServiceStub(fresh).Process(
                    types_pb2.ProcessRequest(image=image), timeout=10
                )
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

        response = in_flight.result(timeout=120)
        assert response.status == types_pb2.PROCESS_STATUS_FOUND
        # The stream is still served while the server drains: one more frame, then its end.
        frames.put(expiry_date_service_pb2.Frame(stream_id="cam", frame_id=2, image=label))
        assert next(stream).result.best_date.date.endswith("-11-16")
        frames.put(None)
        assert list(stream) == []
    assert server.stop() == 0
    assert any("stopped" in line for line in server.log)


def test_sigterm_while_models_load_exits_cleanly() -> None:
    server = ServerProcess().start()
    assert server.stop() == 0


def test_bad_configuration_exits_2_naming_the_key() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "server", "--port", "99999"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "port" in completed.stderr and "99999" in completed.stderr
