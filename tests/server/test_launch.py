"""``python -m server.launch`` (``make run``): both processes up, a banner, Ctrl-C stops both."""

from __future__ import annotations

import json
import os
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


def test_launch_prints_a_banner_serves_rest_and_stops_both_on_ctrl_c(tmp_path: Path) -> None:
    port, rest_port, admin_port = _free_port(), _free_port(), _free_port()
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DATALID_JOB_DB_PATH": ":memory:"}
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.launch",
            "--port",
            str(port),
            "--rest-port",
            str(rest_port),
            "--admin-port",
            str(admin_port),
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
    try:
        assert launcher.stdout is not None
        banner: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (banner and banner[-1] == "Ctrl-C stops both."):
            line = launcher.stdout.readline()
            assert line, f"the launcher ended early:\n{''.join(banner)}"
            banner.append(line.rstrip("\n"))
        text = "\n".join(banner)
        assert f"gRPC  127.0.0.1:{port}" in text and f"REST  http://127.0.0.1:{rest_port}" in text
        assert "models on CPUExecutionProvider (CPU); auth off" in text
        assert len(banner) <= 10, "a banner, not the logs"
        pid = int((state / f"server-{port}.pid").read_text())
        with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/healthz", timeout=30) as response:
            assert json.loads(response.read()) == {"status": "SERVING"}
        assert "serving on port" in (state / f"server-{port}.log").read_text()

        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=60) == 0
        assert not (state / f"server-{port}.pid").exists(), "the server removes its pid file"
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
