"""``python -m server.launch`` (``make run``): both processes up, a banner, Ctrl-C stops both."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _launch(
    tmp_path: Path, workers: int = 1
) -> tuple[subprocess.Popen[str], list[str], dict[str, int], Path]:
    """``python -m server.launch`` on free ports with ``workers``; returns it once its banner is out."""
    ports = {"port": _free_port(), "rest": _free_port(), "admin": _free_port()}
    state = tmp_path / "state"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DATALID_JOB_DB_PATH": ":memory:",
        "DATALID_WORKERS": str(workers),
    }
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.launch",
            "--port",
            str(ports["port"]),
            "--rest-port",
            str(ports["rest"]),
            "--admin-port",
            str(ports["admin"]),
            "--state-dir",
            str(state),
            "--",
            "--metrics-port",
            "0",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert launcher.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (banner and banner[-1] == "Ctrl-C stops both."):
        line = launcher.stdout.readline()
        if not line:
            launcher.kill()
            pytest.fail(f"the launcher ended early:\n{''.join(banner)}")
        banner.append(line.rstrip("\n"))
    return launcher, banner, ports, state


def _gone(pid: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie child of the launcher counts as gone: it no longer runs.
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return True
        time.sleep(0.1)
    return False


def _worker_pids(log: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"worker-\d+ \(pid (\d+)\) serving", log.read_text())]


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_of_the_launcher_takes_the_server_and_envoy_with_it(tmp_path: Path, workers: int) -> None:
    """A launcher killed hard (or a terminal closed) left both serving, holding their ports."""
    launcher, _, ports, state = _launch(tmp_path, workers)
    pid = int((state / f"server-{ports['port']}.pid").read_text())
    worker_pids = _worker_pids(state / f"server-{ports['port']}.log")
    assert len(worker_pids) == (workers if workers > 1 else 0)
    launcher.kill()
    launcher.wait()
    assert _gone(pid), "the server outlived its launcher"
    assert all(_gone(worker) for worker in worker_pids), "a worker outlived its supervisor"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", ports["rest"])) != 0:
                break
        time.sleep(0.1)
    else:
        pytest.fail("Envoy still listens after its sidecar's launcher died")


@pytest.mark.parametrize(
    ("workers", "processes"), [(1, "one process"), (2, "2 worker processes behind Envoy")]
)
def test_launch_prints_a_banner_serves_rest_and_stops_both_on_ctrl_c(
    tmp_path: Path, workers: int, processes: str
) -> None:
    launcher, banner, ports, state = _launch(tmp_path, workers)
    port, rest_port = ports["port"], ports["rest"]
    try:
        text = "\n".join(banner)
        assert f"gRPC  127.0.0.1:{port}" in text and f"REST  http://127.0.0.1:{rest_port}" in text
        assert f"models on CPUExecutionProvider (CPU), {processes}; auth off" in text
        assert "metrics  http://127.0.0.1:" in text
        assert len(banner) <= 10, "a banner, not the logs"
        pid = int((state / f"server-{port}.pid").read_text())
        with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/healthz", timeout=30) as response:
            assert json.loads(response.read()) == {"status": "SERVING"}
        assert "serving on port" in (state / f"server-{port}.log").read_text()

        worker_pids = _worker_pids(state / f"server-{port}.log")
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=60) == 0
        assert not (state / f"server-{port}.pid").exists(), "the server removes its pid file"
        assert _gone(pid)
        assert all(_gone(worker) for worker in worker_pids)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
