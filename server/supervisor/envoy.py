"""The front door's Envoy process: started first, told the workers' ports, stopped last."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from server.process import die_with_parent
from server.rest.sidecar import envoy_command
from server.supervisor.front_door import (
    STREAM_CLUSTER,
    UNARY_CLUSTER,
    FrontDoorConfig,
    render_bootstrap,
    write_endpoints,
)

__all__ = ["FrontDoorEnvoy", "FrontDoorError"]

_READY_TIMEOUT_S = 60.0
# Envoy applies a new endpoints file within milliseconds; health checks of new workers within
# one interval (1 s). Beyond this something is wrong, and the caller is told.
_SETTLE_TIMEOUT_S = 30.0


class FrontDoorError(RuntimeError):
    """Envoy could not start, or did not take the workers' ports in time."""


class FrontDoorEnvoy:
    """Runs Envoy with ``config``'s bootstrap, written to ``config.endpoints_dir``.

    Start it before any thread of this process exists (``start`` forks with ``preexec_fn``): it
    dies with this process, kill -9 included.
    """

    def __init__(self, config: FrontDoorConfig, envoy: str = "", log_level: str = "warning") -> None:
        self._config = config
        self._envoy = envoy
        self._log_level = log_level
        # Private to this process (the caller makes it): the bootstrap and the endpoints files.
        self._dir = config.endpoints_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._admin = ""
        self._version = 0
        self.port = 0
        self.internal_port = 0

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self._process is not None, "start() first"
        return self._process

    def start(self) -> None:
        """Starts Envoy with no workers yet (every call is UNAVAILABLE until ``publish``).

        Raises:
            FrontDoorError: no envoy command, or it exited while starting.
        """
        write_endpoints(self._config.endpoints_dir, [], self._version)
        bootstrap = self._dir / "front-door.yaml"
        bootstrap.write_text(render_bootstrap(self._config))
        admin_path = self._dir / "admin-address"
        self._process = subprocess.Popen(
            [
                envoy_command(self._envoy),
                "-c",
                str(bootstrap),
                "--disable-hot-restart",
                "--admin-address-path",
                str(admin_path),
                "--log-level",
                self._log_level,
                # A second Envoy on this machine (another server, the REST sidecar) needs its own id.
                "--base-id-path",
                str(self._dir / "base-id"),
                "--use-dynamic-base-id",
            ],
            preexec_fn=die_with_parent,
        )
        self._admin = self._wait_admin(admin_path)

    def _wait_admin(self, admin_path: Path) -> str:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise FrontDoorError(f"envoy exited with code {self.process.returncode} while starting")
            if admin_path.exists() and (address := admin_path.read_text().strip()):
                return address
            time.sleep(0.05)
        raise FrontDoorError("envoy did not start in time")

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://{self._admin}{path}", timeout=2) as response:
            body = response.read()
        return json.loads(body) if "format=json" in path else body.decode()

    async def listening(self) -> tuple[int, int]:
        """Waits until both listeners accept; returns (public port, internal port).

        Raises:
            FrontDoorError: Envoy exited, or its listeners did not come up in time.
        """
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise FrontDoorError(f"envoy exited with code {self.process.returncode}")
            try:
                listeners = await asyncio.to_thread(self._get, "/listeners?format=json")
                ports = {
                    s["name"]: int(s["local_address"]["socket_address"]["port_value"])
                    for s in listeners.get("listener_statuses", [])
                }
                if ports.get("grpc") and ports.get("internal"):
                    await _until_accepting("127.0.0.1", ports["internal"])
                    self.port, self.internal_port = ports["grpc"], ports["internal"]
                    return self.port, self.internal_port
            except (OSError, ValueError, KeyError):
                pass
            await asyncio.sleep(0.05)
        raise FrontDoorError("envoy's listeners did not come up in time")

    async def publish(self, ports: list[int]) -> None:
        """Routes calls to the workers on ``ports`` (only those), and returns once Envoy does: each
        is in its clusters and has passed a health check.

        Raises:
            FrontDoorError: Envoy did not take them within ``_SETTLE_TIMEOUT_S``.
        """
        self._version += 1
        write_endpoints(self._config.endpoints_dir, ports, self._version)
        wanted = set(ports)
        deadline = time.monotonic() + _SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise FrontDoorError(f"envoy exited with code {self.process.returncode}")
            try:
                if await asyncio.to_thread(self._routes_to, wanted):
                    return
            except (OSError, ValueError, KeyError):
                pass
            await asyncio.sleep(0.05)
        raise FrontDoorError(f"envoy did not route to the workers on ports {sorted(ports)} in time")

    def _routes_to(self, ports: set[int]) -> bool:
        """Whether both worker clusters hold exactly ``ports``, every one healthy (health checked:
        a host Envoy has not checked yet is listed, but gets no calls)."""
        clusters = self._get("/clusters?format=json")
        for status in clusters.get("cluster_statuses", []):
            if status["name"] not in (UNARY_CLUSTER, STREAM_CLUSTER):
                continue
            hosts = status.get("host_statuses", [])
            if {int(h["address"]["socket_address"]["port_value"]) for h in hosts} != ports:
                return False
        for cluster in (UNARY_CLUSTER, STREAM_CLUSTER):
            counts = self.stats(f"cluster.{cluster}.membership_")
            healthy = counts.get(f"cluster.{cluster}.membership_healthy")
            if healthy != len(ports) or counts.get(f"cluster.{cluster}.membership_total") != len(ports):
                return False
        return True

    def stats(self, prefix: str) -> dict[str, int]:
        """Envoy's counters and gauges whose names start with ``prefix`` (``cluster.workers_unary.``)."""
        text = self._get(f"/stats?filter=^{prefix}")
        values: dict[str, int] = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.isdigit():
                values[name] = int(value)
        return values

    def stop(self, timeout_s: float = 10.0) -> int:
        """Stops Envoy (SIGTERM, then SIGKILL after ``timeout_s``); returns its exit code."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        return self._process.returncode if self._process is not None else 0


async def _until_accepting(host: str, port: int) -> None:
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that lands as
    # the wait ends (server/jobs/runner.py), and a stopping supervisor would wait on.
    async with asyncio.timeout(1):
        _, writer = await asyncio.open_connection(host, port)
    writer.close()
    await writer.wait_closed()
