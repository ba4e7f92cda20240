"""``python -m server.launch`` (what ``make run`` runs): the server and its Envoy front door, and
a short banner instead of their logs.

Both run as child processes in the caller's process group; their output goes to log files under
``--state-dir`` (``server-PORT.log``, ``envoy-PORT.log``), the server's process id to
``server-PORT.pid`` (the file ``kill -HUP`` reads to reload API keys). Once both listen, the banner
says where: the gRPC and REST addresses, the execution provider and device the models run on, and
whether callers need credentials. Ctrl-C (SIGINT) or SIGTERM stops both gracefully; when either
exits on its own the other is stopped too and the tail of the failed one's log is printed.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from datalid.v1 import admin_service_pb2, admin_service_pb2_grpc
from server.process import die_with_parent

__all__ = ["Banner", "main"]

_SERVER_LISTENING = re.compile(r"^datalid listening on (\S+):(\d+)$", re.M)
_SIDECAR_LISTENING = re.compile(r"^datalid sidecar listening on (\S+):(\d+)$", re.M)
# Models load and warm before the port is announced; a cold machine can take a minute.
_START_TIMEOUT_S = 180.0
_STOP_TIMEOUT_S = 30.0
_LOG_TAIL_LINES = 30
_METRICS = re.compile(r"^\S+ \S+ INFO server\.\S+ metrics on (http://\S+/metrics)", re.M)
_WORKERS = re.compile(r"serving with (\d+) workers")


@dataclass(frozen=True)
class Banner:
    """What the banner says, read from the running server."""

    grpc_address: str
    rest_address: str
    providers: tuple[str, ...]
    auth_required: bool
    version: str
    logs: tuple[Path, ...]
    pid_file: Path
    metrics_url: str = ""
    # Worker processes behind the server's own Envoy (--workers); 1: the server serves alone.
    workers: int = 1

    def lines(self) -> list[str]:
        device = (
            "GPU"
            if any(p in ("CUDAExecutionProvider", "TensorrtExecutionProvider") for p in self.providers)
            else "CPU"
        )
        auth = "on: send x-api-key or a bearer token" if self.auth_required else "off (loopback only)"
        processes = f"{self.workers} worker processes behind Envoy" if self.workers > 1 else "one process"
        return [
            f"Datalid {self.version} is serving",
            f"  gRPC  {self.grpc_address}   .venv/bin/grpcurl -plaintext {self.grpc_address} list",
            f"  REST  http://{self.rest_address}   curl http://{self.rest_address}/healthz",
            f"  Triton/KServe v2  both ports   curl http://{self.rest_address}/v2/health/ready",
            f"  models on {', '.join(self.providers) or 'no provider'} ({device}), {processes}; auth {auth}",
            *([f"  metrics  {self.metrics_url}"] if self.metrics_url else []),
            f"  logs  {'  '.join(str(p) for p in self.logs)}",
            f"  reload API keys: kill -HUP $(cat {self.pid_file})",
            "Ctrl-C stops both.",
        ]


def _wait_for(
    pattern: re.Pattern[str], log: Path, process: subprocess.Popen[bytes], name: str
) -> re.Match[str]:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = pattern.search(log.read_text(errors="replace"))
        if found:
            return found
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} while starting")
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not start listening in {_START_TIMEOUT_S:.0f} s")


def _wait_serving(address: str, server: subprocess.Popen[bytes]) -> None:
    """Waits until gRPC health says SERVING: the port opens before the models are loaded."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with code {server.returncode} while starting")
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"the server was not SERVING after {_START_TIMEOUT_S:.0f} s")


def _wait_rest_serving(address: str, sidecar: subprocess.Popen[bytes]) -> None:
    """Waits until Envoy's own health check of the server passes (``GET /healthz`` is 200): it
    answers 503 for up to its 2 s check interval after the server became SERVING."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if sidecar.poll() is not None:
            raise RuntimeError(f"the Envoy sidecar exited with code {sidecar.returncode}")
        try:
            with urllib.request.urlopen(f"http://{address}/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:  # HTTPError (503) included
            pass
        time.sleep(0.2)
    raise RuntimeError(f"Envoy did not see the server healthy after {_START_TIMEOUT_S:.0f} s")


def _describe(address: str) -> tuple[tuple[str, ...], bool, str]:
    """The providers the models run on, whether auth is required, and the server's version."""
    with grpc.insecure_channel(address) as channel:
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        try:
            models = admin.ListModels(admin_service_pb2.ListModelsRequest(), timeout=10)
            info = admin.GetServerInfo(admin_service_pb2.GetServerInfoRequest(), timeout=10)
        except grpc.RpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                raise
            return (), True, "(version: ask with a key)"
    providers = tuple(dict.fromkeys(p for model in models.models for p in model.providers))
    return providers, False, info.version


def _reachable(host: str) -> str:
    """Where to connect to a listener bound on ``host``: a wildcard address is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:])


def _stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Starts both, prints the banner, waits; returns 0 after a clean stop, else 1."""
    state = Path(args.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    server_log, envoy_log = state / f"server-{args.port}.log", state / f"envoy-{args.rest_port}.log"
    pid_file = state / f"server-{args.port}.pid"
    upstream_host = _reachable(args.host)
    child: dict[str, Any] = {
        "stderr": subprocess.STDOUT,
        "env": {**os.environ, "PYTHONUNBUFFERED": "1"},
        # Its own process group: a terminal's SIGINT or SIGHUP reaches only the launcher, which
        # stops both children (the server would take SIGHUP as a key reload); and it dies with
        # the launcher, kill -9 included.
        "start_new_session": True,
        "preexec_fn": die_with_parent,
    }
    with server_log.open("wb") as server_out, envoy_log.open("wb") as envoy_out:
        sidecar = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server.rest.sidecar",
                "--upstream",
                f"{upstream_host}:{args.port}",
                "--listen",
                f"{args.rest_host}:{args.rest_port}",
                "--admin-port",
                str(args.admin_port),
            ],
            stdout=envoy_out,
            **child,
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "--host",
                args.host,
                "--port",
                str(args.port),
                "--pid-file",
                str(pid_file),
                *args.server_args,
            ],
            stdout=server_out,
            **child,
        )
        children = (server, sidecar)
        stopping = False

        def stop(_signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True
            _stop(children)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, stop)
        try:
            print(f"starting Datalid (logs in {state}/) ...", file=out, flush=True)
            grpc_at = _wait_for(_SERVER_LISTENING, server_log, server, "the server")
            rest_at = _wait_for(_SIDECAR_LISTENING, envoy_log, sidecar, "the Envoy sidecar")
            grpc_address = f"{upstream_host}:{grpc_at.group(2)}"
            _wait_serving(grpc_address, server)
            rest_address = f"{_reachable(rest_at.group(1))}:{rest_at.group(2)}"
            _wait_rest_serving(rest_address, sidecar)
            providers, auth_required, version = _describe(grpc_address)
            server_text = server_log.read_text(errors="replace")
            workers = _WORKERS.search(server_text)
            banner = Banner(
                grpc_address=f"{args.host}:{grpc_at.group(2)}",
                rest_address=f"{rest_at.group(1)}:{rest_at.group(2)}",
                providers=providers,
                auth_required=auth_required,
                version=version,
                logs=(server_log, envoy_log),
                pid_file=pid_file,
                metrics_url=next(iter(_METRICS.findall(server_text)), ""),
                workers=int(workers.group(1)) if workers else 1,
            )
            print("\n".join(banner.lines()), file=out, flush=True)
            while all(child.poll() is None for child in children):
                time.sleep(0.2)
        except (RuntimeError, grpc.RpcError) as exc:
            if not stopping:
                print(f"datalid: {exc}", file=out)
        finally:
            _stop(children)
        if stopping:
            return 0
        for child, name, log in ((server, "server", server_log), (sidecar, "Envoy sidecar", envoy_log)):
            if child.returncode not in (0, -signal.SIGTERM):
                print(
                    f"the {name} exited with code {child.returncode}; the end of {log}:\n{_tail(log)}",
                    file=out,
                )
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; arguments after ``--`` go to ``python -m server``."""
    summary = __doc__.split("\n\n")[0].replace("\n", " ")
    parser = argparse.ArgumentParser(prog="python -m server.launch", description=summary)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--rest-host", default="127.0.0.1")
    parser.add_argument("--rest-port", type=int, default=8080)
    parser.add_argument("--admin-port", type=int, default=9901, help="Envoy's admin port (loopback)")
    parser.add_argument("--state-dir", default=".state", help="where logs and the pid file go")
    parser.add_argument("server_args", nargs=argparse.REMAINDER, help="-- then flags for python -m server")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    args.server_args = [a for a in args.server_args if a != "--"]
    return run(args, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
