"""Three replicas on three "hosts" (network namespaces joined by a bridge), one PostgreSQL job
store, Envoy in front: replicas added one by one under load, then one killed with -9 while it runs
a job.

Needs root (namespaces, veth pairs, a bridge), ``ip`` and Debian's PostgreSQL; CI runs as root and
``make test`` installs PostgreSQL. Elsewhere it skips, saying why. With ``DATALID_CLUSTER_REPORT``
set to a path, the numbers are written there as JSON (bench/RESULTS.md quotes a run).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from datalid.v1 import expiry_date_service_pb2_grpc, job_service_pb2, job_service_pb2_grpc, types_pb2
from pipeline.synth import render_label
from tests.conftest import REPO_ROOT
from tests.postgres import PostgresServer, postgres_binaries

pytestmark = pytest.mark.slow

_REPLICAS = 3
_MEASURE_S = 12.0
_CALLERS = 8
_JOBS = 24
_LEASE_S = 3


def _skip_reason() -> str:
    if os.geteuid() != 0:
        return "the cluster test needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "the cluster test needs iproute2's ip"
    if postgres_binaries() is None:
        return "no PostgreSQL server here (make test installs Debian's postgresql as root)"
    return ""


@dataclass
class Network:
    """A bridge on this host and one namespace ("host") per replica, each with a veth on it."""

    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    subnet: str = field(default_factory=lambda: f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250)}")
    namespaces: list[str] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"dlb{self.tag}"

    @property
    def host_ip(self) -> str:
        return f"{self.subnet}.1"

    def replica_ip(self, index: int) -> str:
        return f"{self.subnet}.{11 + index}"

    def up(self, replicas: int) -> Network:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for index in range(replicas):
            namespace, veth = f"datalid-{self.tag}-{index}", f"dlv{self.tag}{index}"
            _ip("netns", "add", namespace)
            self.namespaces.append(namespace)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            _ip("link", "set", veth, "master", self.bridge)
            _ip("link", "set", veth, "up")
            inside = ("netns", "exec", namespace, "ip")
            _ip(*inside, "addr", "add", f"{self.replica_ip(index)}/24", "dev", "eth0")
            _ip(*inside, "link", "set", "eth0", "up")
            _ip(*inside, "link", "set", "lo", "up")
        return self

    def down(self) -> None:
        for index, namespace in enumerate(self.namespaces):
            subprocess.run(["ip", "link", "del", f"dlv{self.tag}{index}"], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@dataclass
class Replica:
    """``python -m server`` inside a namespace, on its own address."""

    namespace: str
    address: str
    store_url: str
    process: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)

    def start(self) -> Replica:
        command = [
            "ip", "netns", "exec", self.namespace,
            sys.executable, "-m", "server",
            "--workers", "1",
            "--host", self.address, "--port", "50051",
            "--insecure", "true",
            "--metrics-port", "-1",
            "--job-store-url", self.store_url,
            "--job-lease-s", str(_LEASE_S),
            "--grace-s", "5",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line.rstrip("\n"))

    def wait_serving(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        with grpc.insecure_channel(f"{self.address}:50051") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                assert self.process is not None and self.process.poll() is None, "\n".join(self.log[-30:])
                try:
                    if health.Check(health_pb2.HealthCheckRequest(), timeout=2).status == 1:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.3)
        pytest.fail(f"replica {self.address} never served:\n" + "\n".join(self.log[-30:]))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Cluster:
    network: Network
    postgres: PostgresServer
    replicas: list[Replica]
    front_door: subprocess.Popen[str]
    target: str


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    network = Network().up(_REPLICAS)
    postgres = PostgresServer(Path(tempfile.mkdtemp(prefix="datalid-pg-")), host=network.host_ip)
    replicas: list[Replica] = []
    front_door = None
    try:
        postgres.start()
        replicas = [
            Replica(network.namespaces[i], network.replica_ip(i), postgres.url) for i in range(_REPLICAS)
        ]
        upstreams = [arg for r in replicas for arg in ("--upstream", f"{r.address}:50051")]
        front_door = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server.rest.sidecar",
                *upstreams,
                "--listen",
                "127.0.0.1:0",
                "--admin-port",
                "0",
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert front_door.stdout is not None
        listening = re.compile(r"datalid sidecar listening on \S+:(\d+)")
        for line in front_door.stdout:
            if found := listening.search(line):
                port = int(found.group(1))
                break
        else:
            pytest.fail("the front door did not start")
        threading.Thread(target=_drain, args=(front_door.stdout,), daemon=True).start()
        yield Cluster(network, postgres, replicas, front_door, f"127.0.0.1:{port}")
    finally:
        for replica in replicas:
            replica.stop()
        if front_door is not None and front_door.poll() is None:
            front_door.terminate()
            front_door.wait(timeout=30)
        postgres.remove()
        network.down()


def _drain(stream: Iterator[str]) -> None:
    """Reads Envoy's output so that a full pipe never blocks it."""
    for _ in stream:
        pass


def _until_routed(channel: grpc.Channel, image: bytes, timeout_s: float = 60) -> None:
    """Until a call through the front door succeeds, then two of Envoy's 2 s health-check
    intervals: a replica that just became SERVING is then in rotation."""
    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            stub.Process(types_pb2.ProcessRequest(image=image), timeout=30)
            break
        except grpc.RpcError:
            time.sleep(0.5)
    time.sleep(4.5)  # two of Envoy's 2 s health-check intervals: the new replica is in rotation


class _Callers:
    """``count`` threads calling Process through the front door until stopped."""

    def __init__(self, channel: grpc.Channel, image: bytes, count: int) -> None:
        self._stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        self._image = image
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.codes: Counter[str] = Counter()
        self.ok_times: list[float] = []
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def __enter__(self) -> _Callers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._stub.Process(types_pb2.ProcessRequest(image=self._image), timeout=60)
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name
            with self._lock:
                self.codes[code] += 1
                if code == "OK":
                    self.ok_times.append(time.monotonic())

    def rate(self, since: float, until: float) -> float:
        with self._lock:
            return sum(1 for t in self.ok_times if since <= t < until) / (until - since)


def test_replicas_share_the_jobs_and_survive_a_kill(cluster: Cluster) -> None:
    image = render_label(["Use by", "16 NOV"], seed=7)
    report: dict[str, object] = {"replicas": {}}
    with grpc.insecure_channel(cluster.target) as channel:
        # Throughput through the front door with 1, 2 and 3 replicas (on this machine they share
        # the same cores: the ratio is the cost of more replicas, not a gain).
        for count, replica in enumerate(cluster.replicas, start=1):
            replica.start().wait_serving()
            _until_routed(channel, image)
            with _Callers(channel, image, _CALLERS) as callers:
                started = time.monotonic()
                time.sleep(_MEASURE_S)
                rate = callers.rate(started, time.monotonic())
            assert set(callers.codes) == {"OK"}, callers.codes
            report["replicas"][count] = round(rate, 2)  # type: ignore[index]

        # Jobs through the front door, any replica takes them; one replica is killed while it
        # runs one.
        jobs = job_service_pb2_grpc.JobServiceStub(channel)
        with _Callers(channel, image, 4) as callers:
            created = [
                jobs.CreateJob(job_service_pb2.CreateJobRequest(image=image), timeout=30).job_id
                for _ in range(_JOBS)
            ]
            victim, orphaned = _kill_a_replica_running_a_job(cluster)
            killed_at = time.monotonic()
            finals = _until_final(jobs, created, timeout_s=240)
            time.sleep(3)
            after = callers.rate(killed_at + 5, time.monotonic())
        with psycopg.connect(cluster.postgres.url) as conn:
            rows = dict(conn.execute("SELECT job_id, attempts FROM jobs").fetchall())
    assert Counter(finals.values()) == Counter({"JOB_STATE_SUCCEEDED": _JOBS}), finals
    # The jobs the dead replica was running ran again elsewhere, once; every other job ran once.
    assert {job_id: attempts for job_id, attempts in rows.items() if attempts != 1} == dict.fromkeys(
        orphaned, 2
    )
    assert set(callers.codes) <= {"OK", "UNAVAILABLE"}, callers.codes
    assert victim.process is not None and victim.process.poll() == -signal.SIGKILL
    report["kill"] = {
        "jobs": _JOBS,
        "succeeded": sum(1 for state in finals.values() if state == "JOB_STATE_SUCCEEDED"),
        "requeued_and_rerun": len(orphaned),
        "calls": dict(callers.codes),
        "photos_per_s_after_kill": round(after, 2),
    }
    if path := os.environ.get("DATALID_CLUSTER_REPORT"):
        Path(path).write_text(json.dumps(report, indent=2) + "\n")


def _kill_a_replica_running_a_job(cluster: Cluster) -> tuple[Replica, list[str]]:
    """kill -9 of a replica that holds a RUNNING job's lease (read from PostgreSQL); returns it
    and the jobs still RUNNING under its lease once it is dead (those it left unfinished)."""
    by_pid = {r.process.pid: r for r in cluster.replicas if r.process is not None}
    deadline = time.monotonic() + 120
    with psycopg.connect(cluster.postgres.url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            for (owner,) in conn.execute("SELECT lease_owner FROM jobs WHERE state = 'RUNNING'").fetchall():
                pid = int(owner.split(":")[1])
                if pid in by_pid:
                    os.kill(pid, signal.SIGKILL)
                    by_pid[pid].process.wait(timeout=30)  # type: ignore[union-attr]
                    left = conn.execute(
                        "SELECT job_id FROM jobs WHERE state = 'RUNNING' AND lease_owner = %s", (owner,)
                    ).fetchall()
                    return by_pid[pid], [job_id for (job_id,) in left]
            time.sleep(0.05)
    pytest.fail("no job was seen RUNNING")


def _until_final(
    jobs: job_service_pb2_grpc.JobServiceStub, job_ids: list[str], timeout_s: float
) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    finals: dict[str, str] = {}
    while time.monotonic() < deadline and len(finals) < len(job_ids):
        for job_id in job_ids:
            if job_id in finals:
                continue
            try:
                job = jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job_id), timeout=10)
            except grpc.RpcError:
                continue  # the front door retries nothing for JobService; the next pass asks again
            state = job_service_pb2.JobState.Name(job.state)
            if state not in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING"):
                finals[job_id] = state
        time.sleep(0.5)
    return finals
