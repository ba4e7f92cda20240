"""Edge costs: the interceptor chain on a trivial RPC, and REST through Envoy vs direct gRPC.

    .venv/bin/python -m bench.edge chain [--calls 3000]
    .venv/bin/python -m bench.edge rest [--calls 200]

``chain``: in-process, AdminService.GetServerInfo (no model work) on two servers, one bare and
one with the full chain as ``build_server`` installs it (access log, metrics, tracing with a
provider and no exporter, draining, auth with an API key, rate limit), called one at a time;
the per-call difference of medians is the chain's cost (target < 0.3 ms).
``rest``: a real server subprocess and a real Envoy sidecar; a 100 KB body sent as gRPC
``Process``, as ``POST /v1/process`` (JSON, base64: through the sidecar's strict JSON check and
the transcoder) and as ``POST /v1/process:upload`` (the raw bytes) to Envoy. The body is a 100 KB
not-an-image, refused after the header check, so the model's time does not drown the edge's;
the p50 difference is what Envoy and JSON transcoding add (target < 3 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc

from datalid.v1 import admin_service_pb2, admin_service_pb2_grpc, expiry_date_service_pb2_grpc, types_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def _time_calls(target: str, calls: int, metadata: tuple[tuple[str, str], ...]) -> list[float]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = admin_service_pb2_grpc.AdminServiceStub(channel)
        request = admin_service_pb2.GetServerInfoRequest()
        for _ in range(200):
            await stub.GetServerInfo(request, metadata=metadata)
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            await stub.GetServerInfo(request, metadata=metadata)
            times.append((time.perf_counter() - started) * 1000)
        return times


async def _chain(calls: int) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from server.api.admin import AdminService
    from server.app import build_server, shutdown
    from server.config import ServerConfig
    from server.edge.auth import ApiKey, Authenticator, hash_key
    from server.edge.metrics import ServerMetrics
    from server.edge.parts import Edge
    from server.edge.ratelimit import TokenBuckets
    from server.host import PipelineHost

    # The benchmark keeps no jobs: an in-memory store leaves no file behind.
    config = ServerConfig(port=0, job_db_path=":memory:")
    host = PipelineHost(lambda: None)  # never loaded: GetServerInfo needs no model
    bare = grpc.aio.server()
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(AdminService(config, host), bare)
    bare_port = bare.add_insecure_port("127.0.0.1:0")
    await bare.start()
    edge = Edge(
        authenticator=Authenticator([ApiKey("bench", hash_key("bench-key"), ("process",))]),
        buckets=TokenBuckets(1e9, 10**9),
        metrics=ServerMetrics(),
        tracer_provider=TracerProvider(),
    )
    running = await build_server(config, host, edge)
    key = (("x-api-key", "bench-key"),)
    rounds = []
    for _ in range(3):  # alternate, so drift on a shared machine hits both alike
        rounds.append(
            (
                statistics.median(await _time_calls(f"127.0.0.1:{bare_port}", calls, ())),
                statistics.median(await _time_calls(f"127.0.0.1:{running.port}", calls, key)),
            )
        )
    await bare.stop(0)
    await shutdown(running, 0.0, asyncio.create_task(asyncio.sleep(0)))
    for bare_ms, full_ms in rounds:
        print(
            f"p50 bare {bare_ms:.3f} ms  full chain {full_ms:.3f} ms  chain cost {full_ms - bare_ms:.3f} ms"
        )
    print(f"chain cost, median of rounds: {statistics.median(f - b for b, f in rounds):.3f} ms per call")


def _start(
    args: list[str], pattern: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if match := re.search(pattern, line):
            # Read the rest (Envoy's access log: a line a call) so that a full pipe never blocks it.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, int(match.group(1))
    raise RuntimeError(f"{args} never printed {pattern!r}")


def _rest(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys.yaml"
        key = subprocess.run(
            [
                sys.executable,
                "-m",
                "server.edge.keys",
                "--file",
                str(keys),
                "create",
                "--name",
                "b",
                "--scopes",
                "process",
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        server, port = _start(
            ["-m", "server", "--port", "0", "--metrics-port", "-1", "--log-level", "WARNING"],
            r"datalid listening on \S+:(\d+)",
            {"DATALID_API_KEYS_FILE": str(keys)},
        )
        sidecar, rest_port = _start(
            [
                *("-m", "server.rest.sidecar", "--upstream", f"127.0.0.1:{port}"),
                *("--listen", "0", "--admin-port", "0"),
            ],
            r"datalid sidecar listening on \S+:(\d+)",
        )
        try:
            image = b"\xff\xd8\xff" + os.urandom(100 * 1024)
            body = json.dumps({"image": base64.b64encode(image).decode()}).encode()
            url = f"http://127.0.0.1:{rest_port}/v1/process"

            def post(target: str, data: bytes, content_type: str) -> int:
                headers = {"x-api-key": key, "content-type": content_type}
                request = urllib.request.Request(target, data=data, method="POST", headers=headers)
                try:
                    with urllib.request.urlopen(request) as response:
                        return response.status
                except urllib.error.HTTPError as error:
                    error.read()
                    return error.code

            def rest_call() -> int:
                # JSON: through the sidecar's strict JSON check (ext_authz) and the transcoder.
                return post(url, body, "application/json")

            def upload_call() -> int:
                # The raw image: neither the check nor base64 (POST /v1/process:upload).
                return post(url + ":upload", image, "image/jpeg")

            while rest_call() == 503:  # until Envoy's health check passes
                time.sleep(0.2)
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
                request = types_pb2.ProcessRequest(image=image)

                def grpc_call() -> None:
                    try:
                        stub.Process(request, metadata=[("x-api-key", key)])
                    except grpc.RpcError as error:
                        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT

                results: dict[str, list[float]] = {"grpc": [], "rest": [], "rest_upload": []}
                calls_by_name = {"grpc": grpc_call, "rest": rest_call, "rest_upload": upload_call}
                for _ in range(20):
                    for call in calls_by_name.values():
                        call()
                for _ in range(calls):
                    for name, call in calls_by_name.items():
                        started = time.perf_counter()
                        call()
                        results[name].append((time.perf_counter() - started) * 1000)
            for name, times in results.items():
                print(
                    f"{name}: p50 {_p(times, 0.5):.2f} ms  p90 {_p(times, 0.9):.2f} ms",
                    f"({calls} calls, 100 KB)",
                )
            grpc_p50 = _p(results["grpc"], 0.5)
            for name, kind in (("rest", "JSON"), ("rest_upload", "raw upload")):
                print(f"REST via Envoy adds {_p(results[name], 0.5) - grpc_p50:.2f} ms at p50 ({kind})")
        finally:
            for process in (sidecar, server):
                process.terminate()
                process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edge")
    parser.add_argument("what", choices=["chain", "rest"])
    parser.add_argument("--calls", type=int, default=0)
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores,",
        f"Python {platform.python_version()}",
    )
    if args.what == "chain":
        asyncio.run(_chain(args.calls or 3000))
    else:
        _rest(args.calls or 200)


if __name__ == "__main__":
    main()
