"""The process and the edge against hostile callers, on real servers.

Malformed protobuf bytes on every kind of method, garbage from an unauthenticated caller, a key
followed by a byte that is not UTF-8, forged request ids, a megabyte echoed in an error, SIGHUP
without a keys file, a second server on a taken port, and where /metrics listens. After each the
server is still serving.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
from google.api import httpbody_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client.parser import text_string_to_metric_families

from datalid.v1 import admin_service_pb2, expiry_date_service_pb2, types_pb2
from server.edge.auth import ApiKey, hash_key, new_key, save_keys
from tests.conftest import REPO_ROOT, ServerProcess, bad_request_fields, serving
from tests.hostile.conftest import assert_still_serving

pytestmark = pytest.mark.slow

_METRICS_LINE = re.compile(r"metrics on http://(\S+):(\d+)/metrics")
_GARBAGE = b"\xff\xff\xff"  # field 31 with wire type 7, which does not exist: never parses
_INFO = "/datalid.v1.AdminService/GetServerInfo"
_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def metrics_url(hostile_server: ServerProcess) -> str:
    match = hostile_server.wait_for_log(_METRICS_LINE, 30)
    return f"http://{match.group(1)}:{match.group(2)}/metrics"


def _handled(metrics_url: str, method: str, code: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "grpc_server_handled_total"
                and f"/{labels.get('grpc_service')}/{labels.get('grpc_method')}" == method
                and labels.get("grpc_code") == code
            ):
                total += sample.value
    return total


def _send(
    channel: grpc.Channel, method: str, kind: str, payload: list[bytes], metadata: list
) -> grpc.RpcError:
    """Sends raw message bytes (no serializer) with a generic call; returns the error it ends with."""
    options = {"timeout": _TIMEOUT_S, "metadata": metadata}
    with pytest.raises(grpc.RpcError) as caught:
        if kind == "unary_unary":
            channel.unary_unary(method)(payload[0], **options)
        elif kind == "unary_stream":
            list(channel.unary_stream(method)(payload[0], **options))
        elif kind == "stream_unary":
            channel.stream_unary(method)(iter(payload), **options)
        else:
            list(channel.stream_stream(method)(iter(payload), **options))
    return caught.value


# Every kind of method: unary, server stream, client stream, bidi, and another service. A stream
# whose first message is well formed names the message that is not.
MALFORMED_CALLS = [
    ("/datalid.v1.ExpiryDateService/Process", "unary_unary", [_GARBAGE], "request"),
    ("/datalid.v1.ExpiryDateService/ProcessWithProgress", "unary_stream", [_GARBAGE], "request"),
    ("/datalid.v1.ExpiryDateService/ProcessBatch", "stream_unary", [b"", _GARBAGE], "requests[1]"),
    ("/datalid.v1.ExpiryDateService/StreamFrames", "stream_stream", [_GARBAGE], "requests[0]"),
    ("/datalid.v1.JobService/GetJob", "unary_unary", [b"\x0a\x05ab"], "request"),  # a 5-byte string cut at 2
]


@pytest.mark.parametrize(("method", "kind", "payload", "field"), MALFORMED_CALLS)
def test_malformed_bytes_are_invalid_argument_logged_once_and_counted(
    hostile_server, hostile_channel, metrics_url, method, kind, payload, field
) -> None:
    before = _handled(metrics_url, method, "INVALID_ARGUMENT")
    first_line = len(hostile_server.log)
    request_id = f"malformed-{uuid.uuid4().hex}"

    error = _send(hostile_channel, method, kind, payload, [("x-request-id", request_id)])

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert bad_request_fields(error) == [field]
    hostile_server.wait_for_log(re.compile(rf"request_id={request_id} .*code=INVALID_ARGUMENT"), 30)
    lines = hostile_server.log[first_line:]
    assert len([line for line in lines if f"request_id={request_id} " in line]) == 1
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line]
    assert _handled(metrics_url, method, "INVALID_ARGUMENT") == before + 1
    assert_still_serving(hostile_channel)


@contextlib.contextmanager
def _server(process: ServerProcess) -> Iterator[ServerProcess]:
    # serving() asserts, once the body is done, that SIGTERM ends the server with exit code 0.
    yield from serving(process)


def _metrics_host() -> str:
    """127.0.0.2, a loopback address other than the gRPC host's, where the system has it (Linux
    routes all of 127/8 to lo; macOS has only 127.0.0.1)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.2", 0))
        except OSError:
            return "127.0.0.1"
    return "127.0.0.2"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A server with auth on (one API key, every scope) and /metrics on ``_metrics_host()``; and
    its key."""
    keys_file = tmp_path_factory.mktemp("keys") / "keys.yaml"
    key = new_key()
    save_keys(keys_file, [ApiKey("edge", hash_key(key), ("process", "jobs", "admin"))])
    env = {"DATALID_API_KEYS_FILE": str(keys_file)}
    with _server(ServerProcess(args=["--metrics-host", _metrics_host()], env=env)) as process:
        yield process, key


def test_garbage_is_judged_after_auth(keyed) -> None:
    process, key = keyed
    with grpc.insecure_channel(process.target) as channel:
        for method, kind, payload, _ in MALFORMED_CALLS:
            error = _send(channel, method, kind, payload, [])
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, method
            error = _send(channel, method, kind, payload, [("x-api-key", key)])
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, method
        assert_still_serving(channel)


def _raw_grpc_call(port: int, path: str, headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """One unary gRPC call over raw HTTP/2 with ``headers`` sent as given (no client of gRPC's sends
    bytes that are not UTF-8 in a text header); returns the response headers and trailers."""
    config = h2.config.H2Configuration(
        client_side=True,
        header_encoding=None,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
    )
    connection = h2.connection.H2Connection(config)
    connection.initiate_connection()
    request = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", path.encode()),
        (b":authority", f"127.0.0.1:{port}".encode()),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
        *headers,
    ]
    connection.send_headers(1, request)
    connection.send_data(1, b"\x00\x00\x00\x00\x00", end_stream=True)  # one empty message
    received: dict[bytes, bytes] = {}
    with socket.create_connection(("127.0.0.1", port), timeout=_TIMEOUT_S) as sock:
        sock.sendall(connection.data_to_send())
        while data := sock.recv(65536):
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    received.update(event.headers)
                if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    return received
            sock.sendall(connection.data_to_send())
    raise AssertionError(f"the connection closed before the call ended: {received}")


def test_a_key_followed_by_a_byte_that_is_not_utf8_never_reaches_the_log(keyed) -> None:
    process, key = keyed
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlZGdlIn0.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"
    sent = [
        (b"x-api-key", key.encode() + b"\xff"),
        (b"authorization", b"Bearer " + key.encode() + b"\xfe"),
        (b"authorization", b"Bearer " + jwt_like.encode() + b"\xff"),
    ]
    for header in sent:
        request_id = f"raw-{uuid.uuid4().hex}"
        answer = _raw_grpc_call(process.port, _INFO, [header, (b"x-request-id", request_id.encode())])
        assert answer[b"grpc-status"] == str(grpc.StatusCode.UNAUTHENTICATED.value[0]).encode()
        process.wait_for_log(re.compile(rf"request_id={request_id} .*code=UNAUTHENTICATED"), 30)
    log = "\n".join(process.log)
    secret_part = key.removeprefix("dlk_")
    assert secret_part not in log
    assert jwt_like.split(".")[1] not in log
    assert "Traceback" not in log
    with grpc.insecure_channel(process.target) as channel:
        assert_still_serving(channel)


def test_metrics_listen_on_metrics_host_not_the_grpc_host(keyed) -> None:
    process, _ = keyed
    if _metrics_host() != "127.0.0.2":
        pytest.skip("no loopback address but 127.0.0.1 here")
    match = process.wait_for_log(_METRICS_LINE, 30)
    assert match.group(1) == "127.0.0.2"
    port = int(match.group(2))
    with urllib.request.urlopen(f"http://127.0.0.2:{port}/metrics", timeout=10) as response:
        assert b"grpc_server_handled_total" in response.read()
    # The gRPC host (127.0.0.1) does not serve them.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)


@pytest.mark.parametrize("request_id", ["a b c", "x" * 500, "ok code=OK principal=api_key:admin", 'quote"d'])
def test_an_unsafe_request_id_is_replaced(hostile_server, hostile_channel, request_id) -> None:
    call = hostile_channel.unary_unary(
        _INFO,
        request_serializer=admin_service_pb2.GetServerInfoRequest.SerializeToString,
        response_deserializer=admin_service_pb2.ServerInfo.FromString,
    )
    _, outcome = call.with_call(
        admin_service_pb2.GetServerInfoRequest(), metadata=[("x-request-id", request_id)], timeout=_TIMEOUT_S
    )
    echoed = dict(outcome.initial_metadata())["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)
    hostile_server.wait_for_log(re.compile(rf"request_id={echoed} method={_INFO} "), 30)
    assert request_id not in "\n".join(hostile_server.log)
    assert_still_serving(hostile_channel)


def test_a_megabyte_echoed_in_an_error_is_cut(hostile_channel) -> None:
    upload = hostile_channel.unary_unary(
        "/datalid.v1.ExpiryDateService/ProcessUpload",
        request_serializer=lambda body: body.SerializeToString(),
    )
    with pytest.raises(grpc.RpcError) as caught:
        body = httpbody_pb2.HttpBody(content_type="x" * 2**20, data=b"\x00")
        upload(expiry_date_service_pb2.ProcessUploadRequest(body=body), timeout=_TIMEOUT_S)
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(error.details()) < 300 and "characters)" in error.details()
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            assert all(len(v.description) < 300 for v in bad_request.field_violations)
    assert_still_serving(hostile_channel)


def test_sighup_without_a_keys_file_is_logged_and_the_server_goes_on() -> None:
    with _server(ServerProcess()) as process, grpc.insecure_channel(process.target) as channel:
        assert process.process is not None
        process.process.send_signal(signal.SIGHUP)
        process.wait_for_log(re.compile(r"SIGHUP: no API keys file in use, nothing to reload"), 30)
        assert process.process.poll() is None
        assert_still_serving(channel)
        info = channel.unary_unary(_INFO)(b"", timeout=_TIMEOUT_S)
        assert admin_service_pb2.ServerInfo.FromString(info).version


def test_a_second_server_on_a_taken_port_refuses_to_start(hostile_server, hostile_channel) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(hostile_server.port)],
        cwd=REPO_ROOT,
        env={**_plain_env(), "DATALID_METRICS_PORT": "-1", "DATALID_JOB_DB_PATH": ":memory:"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1, completed.stderr
    assert f"cannot listen on 127.0.0.1:{hostile_server.port}: Address already in use" in completed.stderr
    assert hostile_server.process is not None and hostile_server.process.poll() is None
    assert_still_serving(hostile_channel)


def _plain_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DATALID_")}


def test_well_formed_bytes_still_parse(hostile_channel) -> None:
    """The tolerant deserializer changes nothing for well-formed bytes (an empty image is refused
    by the pipeline, naming ``image``, not by the parser)."""
    data = types_pb2.ProcessRequest(image=b"").SerializeToString()
    error = _send(hostile_channel, "/datalid.v1.ExpiryDateService/Process", "unary_unary", [data], [])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(error) == ["image"]


def test_request_metadata_has_one_limit_not_a_random_band(hostile_channel: grpc.Channel) -> None:
    """gRPC refuses metadata between its soft (8 KiB) and hard (16 KiB) limits at random; Envoy
    forwards a REST path twice, so long REST paths came back 429 some of the time. Under the
    server's one limit (32 KiB) every call goes through; over it every call is refused."""
    get_info = hostile_channel.unary_unary(
        "/datalid.v1.AdminService/GetServerInfo",
        request_serializer=admin_service_pb2.GetServerInfoRequest.SerializeToString,
        response_deserializer=admin_service_pb2.ServerInfo.FromString,
    )
    under = [("x-padding", "a" * 12 * 1024)]
    for _ in range(20):  # each had a ~45% chance of refusal with the soft/hard band
        get_info(admin_service_pb2.GetServerInfoRequest(), metadata=under, timeout=30)
    over = [("x-padding", "a" * 40 * 1024)]
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as caught:
            get_info(admin_service_pb2.GetServerInfoRequest(), metadata=over, timeout=30)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_still_serving(hostile_channel)
