"""Hostile URLs against a real server (ProcessUrl and URL jobs) under the hostile memory cap.

A loopback HTTP server stands for the caller's image host: it serves a real label PNG, and a
"drip" path that sends its headers and then one body byte a second for as long as the client
stays. It records every connection, so a test can tell that a refused URL never connected and
that a fetch's socket was closed when its time was up. The server under test may reach it only
because it runs with ``--url-allow-http true --url-allow-hosts 127.0.0.1``.
"""

from __future__ import annotations

import socketserver
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2

from datalid.v1 import (
    expiry_date_service_pb2,
    expiry_date_service_pb2_grpc,
    job_service_pb2,
    job_service_pb2_grpc,
    types_pb2,
)
from pipeline.synth import render_label
from tests.conftest import ServerProcess, serving, status_detail
from tests.hostile.conftest import MEMORY_LIMIT_BYTES, assert_still_serving

pytestmark = pytest.mark.slow

URL_TIMEOUT_S = 3.0
MAX_CONCURRENT = 8
GRACE_S = 2.0
_URL_ARGS = ["--url-allow-http", "true", "--url-allow-hosts", "127.0.0.1"]


@dataclass
class _Connection:
    opened: float
    path: str = ""
    closed: float | None = None


class _ImageHost(socketserver.ThreadingTCPServer):
    """The loopback image host; ``connections`` records every accepted connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, png: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.png = png
        self.connections: list[_Connection] = []
        self.changed = threading.Condition()
        self.stopping = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def opened(self) -> _Connection:
        with self.changed:
            connection = _Connection(opened=time.monotonic())
            self.connections.append(connection)
            self.changed.notify_all()
        return connection

    def update(self, connection: _Connection, *, path: str | None = None, closed: bool = False) -> None:
        with self.changed:
            if path is not None:
                connection.path = path
            if closed:
                connection.closed = time.monotonic()
            self.changed.notify_all()

    def wait_until(self, predicate, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.connections), timeout_s), [
                (c.path, c.closed is not None) for c in self.connections
            ]


class _Handler(socketserver.BaseRequestHandler):
    server: _ImageHost

    def handle(self) -> None:
        connection = self.server.opened()
        try:
            self.server.update(connection, path=self._request_path())
            if connection.path == "/drip.png":
                self._drip()
            elif connection.path == "/label.png":
                png = self.server.png
                head = f"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {len(png)}\r\n\r\n"
                self.request.sendall(head.encode() + png)
            else:
                self.request.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        finally:
            self.server.update(connection, closed=True)

    def _request_path(self) -> str:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 16384:
            chunk = self.request.recv(4096)
            if not chunk:
                break
            head += chunk
        parts = head.split(b" ", 2)
        return parts[1].decode("ascii", "replace") if len(parts) > 2 else ""

    def _drip(self) -> None:
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n")
        # One byte a second; a recv that returns b"" is the client closing its end.
        self.request.settimeout(1.0)
        while not self.server.stopping.is_set():
            try:
                if not self.request.recv(1):
                    return
            except TimeoutError:
                self.request.sendall(b"\x89")


def _label_png() -> bytes:
    jpeg = render_label(["Use by", "16 NOV"], seed=7)
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    ok, png = cv2.imencode(".png", image)
    assert ok
    return png.tobytes()


@pytest.fixture(scope="module")
def image_host() -> Iterator[_ImageHost]:
    host = _ImageHost(_label_png())
    thread = threading.Thread(target=host.serve_forever, daemon=True)
    thread.start()
    yield host
    host.stopping.set()
    host.shutdown()
    host.server_close()


@pytest.fixture(scope="module")
def url_server() -> Iterator[ServerProcess]:
    args = [*_URL_ARGS, "--url-timeout-s", str(URL_TIMEOUT_S), "--url-max-concurrent", str(MAX_CONCURRENT)]
    yield from serving(ServerProcess(args=args, memory_limit_bytes=MEMORY_LIMIT_BYTES))


@pytest.fixture(scope="module")
def url_channel(url_server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(url_server.target) as channel:
        yield channel


def _stub(channel: grpc.Channel) -> expiry_date_service_pb2_grpc.ExpiryDateServiceStub:
    return expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)


def _url_request(url: str) -> expiry_date_service_pb2.ProcessUrlRequest:
    return expiry_date_service_pb2.ProcessUrlRequest(url=url)


def _assert_invalid_url(error: grpc.RpcError, message: str) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    violations = status_detail(error, error_details_pb2.BadRequest).field_violations
    assert [v.field for v in violations] == ["url"]
    assert message in violations[0].description
    # A bounded echo: at most ~100 characters of what was sent, whatever its length.
    assert len(error.details()) < 300


def _drips_open(count: int):  # type: ignore[no-untyped-def]
    return lambda conns: sum(c.path == "/drip.png" and c.closed is None for c in conns) >= count


def test_a_dripping_url_ends_at_url_timeout_and_its_socket_is_closed(url_channel, image_host) -> None:
    before = len(image_host.connections)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        _stub(url_channel).ProcessUrl(_url_request(image_host.url("/drip.png")), timeout=30)
    ended = time.monotonic()
    _assert_invalid_url(caught.value, f"fetch took longer than {URL_TIMEOUT_S:g} s")
    assert URL_TIMEOUT_S - 0.2 <= ended - started < URL_TIMEOUT_S + 2
    image_host.wait_until(lambda conns: len(conns) > before and conns[before].closed is not None, 2.0)
    closed = image_host.connections[before].closed
    assert closed is not None and closed - ended < 1.0
    assert_still_serving(url_channel)


def test_twelve_drips_neither_block_later_url_calls_nor_slow_other_calls(url_channel, image_host) -> None:
    stub = _stub(url_channel)
    drip = _url_request(image_host.url("/drip.png"))
    in_flight = [stub.ProcessUrl.future(drip, timeout=30) for _ in range(MAX_CONCURRENT)]
    image_host.wait_until(_drips_open(MAX_CONCURRENT), URL_TIMEOUT_S)
    connections = len(image_host.connections)
    # Over the bound: refused at once with a retry hint, and never connected.
    for _ in range(12 - MAX_CONCURRENT):
        with pytest.raises(grpc.RpcError) as caught:
            stub.ProcessUrl(drip, timeout=URL_TIMEOUT_S / 2)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, caught.value.details()
        retry = status_detail(caught.value, error_details_pb2.RetryInfo).retry_delay
        assert 0 < retry.seconds + retry.nanos / 1e9 <= URL_TIMEOUT_S
    assert len(image_host.connections) == connections
    # A call that needs no fetch is served while every fetch slot drips.
    png = image_host.png
    response = stub.Process(types_pb2.ProcessRequest(image=png), timeout=60)
    assert response.best_date.date.endswith("-11-16")
    for future in in_flight:
        with pytest.raises(grpc.RpcError) as caught:
            future.result()
        _assert_invalid_url(caught.value, "fetch took longer than")
    image_host.wait_until(
        lambda conns: all(c.closed is not None for c in conns if c.path == "/drip.png"), 2.0
    )
    # The slots are free again: a good URL is fetched and read.
    response = stub.ProcessUrl(_url_request(image_host.url("/label.png")), timeout=60)
    assert response.best_date.date.endswith("-11-16")
    assert_still_serving(url_channel)


_PORT = "{port}"
_REFUSED_URLS = [
    # 127.0.0.1 is allow-listed, but not under another spelling
    ("http://[::ffff:127.0.0.1]:{port}/label.png", "special-purpose"),
    ("http://[::ffff:7f00:1]:{port}/label.png", "special-purpose"),
    ("http://[::127.0.0.1]:{port}/label.png", "special-purpose"),
    ("http://[::ffff:0:7f00:1]:{port}/label.png", "special-purpose"),
    ("http://[64:ff9b::7f00:1]:{port}/label.png", "special-purpose"),
    ("http://[64:ff9b:1::7f00:1]:{port}/label.png", "special-purpose"),
    ("http://[2002:7f00:1::1]:{port}/label.png", "special-purpose"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}/label.png", "special-purpose"),
    ("http://[::1]:{port}/label.png", "special-purpose"),
    ("http://[::]:{port}/label.png", "special-purpose"),
    ("http://0.0.0.0:{port}/label.png", "special-purpose"),
    ("http://127.0.0.2:{port}/label.png", "special-purpose"),
    ("http://2130706433:{port}/label.png", "not a valid IPv4 address"),
    ("http://0x7f.0.0.1:{port}/label.png", "not a valid IPv4 address"),
    ("http://0177.0.0.1:{port}/label.png", "not a valid IPv4 address"),
    ("http://127.1:{port}/label.png", "not a valid IPv4 address"),
    # malformed: answered INVALID_ARGUMENT naming url, never INTERNAL
    ("http://user@127.0.0.1:{port}/label.png", "credentials"),
    ("http://127.0.0.1:99999/label.png", "not a valid URL"),
    ("http://127.0.0.1:{port}\\@8.8.8.8/label.png", "backslash"),
    ("http://127.0.0.1:{port}/label.png\r\nHost: evil", "control character"),
    ("http://a..b/label.png", "not a valid host name"),
    ("http://" + "a" * 64 + ".example/label.png", "not a valid host name"),
    ("http://" + "b" * 1500 + ".example/label.png", "not a valid host name"),
    ("http://\u2603\u0301\u200d.example/label.png", "not a valid host name"),
    ("http://127.0.0.1:{port}/" + "c" * 2100, "more than the limit of 2048"),
    ("file:///etc/passwd", "scheme must be"),
]


def test_special_purpose_and_malformed_urls_are_refused_before_any_connection(
    url_channel, image_host
) -> None:
    stub = _stub(url_channel)
    jobs = job_service_pb2_grpc.JobServiceStub(url_channel)
    port = image_host.server_address[1]
    before = len(image_host.connections)
    for template, message in _REFUSED_URLS:
        url = template.replace(_PORT, str(port))
        with pytest.raises(grpc.RpcError) as caught:
            stub.ProcessUrl(_url_request(url), timeout=10)
        _assert_invalid_url(caught.value, message)
        # URL jobs refuse a malformed URL when they are created.
        if message != "special-purpose":
            with pytest.raises(grpc.RpcError) as caught:
                jobs.CreateJob(job_service_pb2.CreateJobRequest(url=url), timeout=10)
            _assert_invalid_url(caught.value, message)
    assert len(image_host.connections) == before, [c.path for c in image_host.connections[before:]]
    assert_still_serving(url_channel)


def _stored_job(db_path: Path, job_id: str) -> tuple[str, int]:
    """The job's state and attempts as the stopped server left them in its file."""
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT state, attempts FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    assert row is not None
    return row[0], row[1]


def _running_job(channel: grpc.Channel, job_id: str) -> None:
    """Waits (on WatchJob) until the job runs, i.e. its fetch has started."""
    states = job_service_pb2_grpc.JobServiceStub(channel).WatchJob(
        job_service_pb2.WatchJobRequest(job_id=job_id), timeout=60
    )
    try:
        assert any(job.state == job_service_pb2.JOB_STATE_RUNNING for job in states)
    finally:
        states.cancel()


def test_sigterm_during_drips_exits_within_the_grace_period(image_host, tmp_path: Path) -> None:
    db_path = tmp_path / "jobs.sqlite3"
    # One attempt: a stop that spent the URL job's attempt would end it FAILED ("abandoned") at
    # the next start instead of running it again.
    args = [*_URL_ARGS, "--url-timeout-s", "60", "--grace-s", str(GRACE_S), "--job-max-attempts", "1"]
    env = {"DATALID_JOB_DB_PATH": str(db_path)}
    server = ServerProcess(args=args, env=env, memory_limit_bytes=MEMORY_LIMIT_BYTES).start()
    try:
        server.wait_serving()
        drip = image_host.url("/drip.png")
        with grpc.insecure_channel(server.target) as channel:
            calls = [_stub(channel).ProcessUrl.future(_url_request(drip), timeout=120) for _ in range(4)]
            # And a URL job, whose fetch runs in the job runner, not in a call.
            job = job_service_pb2_grpc.JobServiceStub(channel).CreateJob(
                job_service_pb2.CreateJobRequest(url=drip), timeout=10
            )
            image_host.wait_until(_drips_open(5), 30)
            signalled = time.monotonic()
            server.terminate()
            assert server.process is not None
            code = server.process.wait(timeout=GRACE_S + 10)
            exited = time.monotonic()
            for call in calls:
                assert call.exception(timeout=5) is not None
    finally:
        server.stop()
    assert code == 0, "\n".join(server.log[-30:])
    assert exited - signalled < GRACE_S + 3, "\n".join(server.log[-30:])
    image_host.wait_until(lambda conns: not _drips_open(1)(conns), 2.0)
    # The stop put the job back in the queue, and gave its claim back.
    assert _stored_job(db_path, job.job_id) == ("QUEUED", 0), "\n".join(server.log[-30:])

    # The next start runs it again (its fetch drips again), and its stop requeues it again.
    again = ServerProcess(args=args, env=env, memory_limit_bytes=MEMORY_LIMIT_BYTES).start()
    try:
        again.wait_serving()
        with grpc.insecure_channel(again.target) as channel:
            _running_job(channel, job.job_id)
        image_host.wait_until(_drips_open(1), 30)
    finally:
        assert again.stop() == 0, "\n".join(again.log[-30:])
    assert _stored_job(db_path, job.job_id) == ("QUEUED", 0), "\n".join(again.log[-30:])
