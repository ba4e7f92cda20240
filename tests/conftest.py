"""Fixtures shared by the whole suite: a real server subprocess and its channel."""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

M = TypeVar("M", bound=Message)
REPO_ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"datalid listening on (\S+):(\d+)")
# Loading three ONNX models and warming them takes a few seconds here; a cold CI disk more.
STARTUP_TIMEOUT_S = 120.0
# Every server a test starts (python -m server, make run's launcher) serves in one process unless
# the test asks for workers (tests/server/test_workers.py): its default, one worker per core, would
# load the models once per core for each of the suite's many servers.
os.environ.setdefault("DATALID_WORKERS", "1")


def status_detail(error: grpc.RpcError, detail_type: type[M]) -> M:
    """The ``detail_type`` detail of an error's google.rpc.Status; fails the test if there is none."""
    status = rpc_status.from_call(error)
    assert status is not None, "no google.rpc.Status details on the error"
    for detail in status.details:
        if detail.Is(detail_type.DESCRIPTOR):
            message = detail_type()
            detail.Unpack(message)
            return message
    raise AssertionError(f"no {detail_type.__name__} in {status}")


def bad_request_fields(error: grpc.RpcError) -> list[str]:
    """The fields an error's BadRequest detail names."""
    bad_request = status_detail(error, error_details_pb2.BadRequest)
    return [violation.field for violation in bad_request.field_violations]


@dataclass
class ServerProcess:
    """A `python -m server` subprocess on a free port, with its log lines collected."""

    args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    # An address-space cap (RLIMIT_AS) for the server: a request that would blow memory up then
    # fails the test (MemoryError, or the server dies) instead of taking the machine down.
    memory_limit_bytes: int | None = None
    # For a server that serves TLS: what wait_serving connects with.
    channel_credentials: grpc.ChannelCredentials | None = None
    process: subprocess.Popen[str] | None = None
    port: int = 0
    log: list[str] = field(default_factory=list)
    terminated: bool = False
    _log_changed: threading.Condition = field(default_factory=threading.Condition)
    # The folder of the server's own job database (unless the test names one), removed on stop.
    _job_dir: Path | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        # Each server gets its own job database unless the test names one (restart tests do).
        self._job_dir = Path(tempfile.mkdtemp(prefix="datalid-jobs-"))
        job_db = self._job_dir / "jobs.sqlite3"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DATALID_JOB_DB_PATH": str(job_db), **self.env}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--metrics-port",
                "0",
                *self.args,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if self.memory_limit_bytes:
            self._limit_memory()
        threading.Thread(target=self._read_output, daemon=True).start()
        try:
            match = self.wait_for_log(_LISTENING, STARTUP_TIMEOUT_S)
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise
        self.port = int(match.group(2))
        return self

    def _limit_memory(self) -> None:
        # Set on the running child (prlimit), not in a preexec_fn: a preexec_fn makes Popen fork
        # this process, whose gRPC client threads then leave the child's copy of gRPC's poller
        # broken ("epoll_wait error: Bad file descriptor", the server never starts: seen in about
        # one clean-clone run in five). Without one, Popen uses vfork and nothing runs before exec.
        # The cap applies from a few milliseconds into the server's start, long before any request.
        assert self.process is not None and self.memory_limit_bytes is not None
        limit = (self.memory_limit_bytes, self.memory_limit_bytes)
        resource.prlimit(self.process.pid, resource.RLIMIT_AS, limit)

    def _read_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            with self._log_changed:
                self.log.append(line.rstrip("\n"))
                self._log_changed.notify_all()
        with self._log_changed:
            self._log_changed.notify_all()

    def wait_for_log(self, pattern: re.Pattern[str], timeout_s: float) -> re.Match[str]:
        """The first log line matching ``pattern``; fails the test if it does not come in time."""
        deadline = time.monotonic() + timeout_s
        with self._log_changed:
            while True:
                for line in self.log:
                    if match := pattern.search(line):
                        return match
                remaining = deadline - time.monotonic()
                assert self.process is not None
                if remaining <= 0 or self.process.poll() is not None:
                    pytest.fail(
                        f"server log never matched {pattern.pattern!r}:\n" + "\n".join(self.log[-50:])
                    )
                self._log_changed.wait(min(remaining, 0.5))

    def wait_serving(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Blocks until the health service says SERVING for the whole server.

        A server with a short --max-connection-age ends the watch (UNAVAILABLE) while its models
        still load on a busy machine: the watch is started again, as any client of it would."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        credentials = self.channel_credentials
        while (remaining := deadline - time.monotonic()) > 0:
            channel = (
                grpc.secure_channel(self.target, credentials)
                if credentials
                else grpc.insecure_channel(self.target)
            )
            with channel:
                stub = health_pb2_grpc.HealthStub(channel)
                responses = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=remaining)
                try:
                    for response in responses:
                        if response.status == health_pb2.HealthCheckResponse.SERVING:
                            return
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.UNAVAILABLE or self.process.poll() is not None:
                        raise
            time.sleep(0.1)
        pytest.fail("server never became SERVING")

    def rss_bytes(self) -> int:
        """Resident memory of the server process."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS line")

    def terminate(self) -> None:
        """Sends SIGTERM once; a second one would only race the server's own exit."""
        assert self.process is not None
        if not self.terminated:
            self.terminated = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM (unless already sent), then wait; returns the exit code."""
        assert self.process is not None
        self.terminate()
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            if self._job_dir is not None:
                shutil.rmtree(self._job_dir, ignore_errors=True)


def failed_start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m server`` on a free port with ``env``, for a test that expects it to stop at start
    (its exit code and stderr are for the test to check)."""
    return subprocess.run(
        [sys.executable, "-m", "server", "--port", "0", "--metrics-port", "0"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def serving(process: ServerProcess) -> Iterator[ServerProcess]:
    """Starts ``process``, yields it once SERVING, and stops it (also when start-up failed).

    The body of a server fixture: the test run fails if the server does not exit cleanly.
    """
    process.start()
    try:
        process.wait_serving()
        yield process
    finally:
        code = process.stop()
    assert code == 0, "\n".join(process.log[-50:])


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """One real server, shared by the API tests: started on a free port and SERVING."""
    yield from serving(ServerProcess())


@pytest.fixture(scope="session")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    """A channel to the shared server."""
    with grpc.insecure_channel(server.target) as ch:
        yield ch
