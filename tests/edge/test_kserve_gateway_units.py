"""The v2 REST gateway on its own (no Envoy, no server): what it does with a connection's bytes."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from pipeline import InvalidInput
from server.rest.kserve_gateway import KServeGateway
from server.rest.kserve_json import parse_infer_request


@pytest.fixture
def gateway() -> Iterator[KServeGateway]:
    # No server behind it: these requests never get as far as a call.
    running = KServeGateway("unix:/nonexistent/datalid.sock", max_body_bytes=1024 * 1024).start()
    try:
        yield running
    finally:
        running.stop()


def _exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """Sends ``data`` on one connection and reads until the gateway closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(data)
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def test_a_refused_body_is_never_read_as_the_next_request(gateway: KServeGateway) -> None:
    hidden = b"GET /v2/models/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    head = (
        "POST /v2/models/date_detector/infer HTTP/1.1\r\nHost: x\r\ncontent-encoding: gzip\r\n"
        f"content-length: {len(hidden)}\r\n\r\n"
    ).encode()
    answer = _exchange(gateway.port, head + hidden)
    # One answer, the refusal, and the connection closed: the hidden request is never answered.
    assert answer.count(b"HTTP/1.1 ") == 1 and answer.startswith(b"HTTP/1.1 415")
    assert b"connection: close" in answer.lower()


def test_a_body_that_ends_early_is_refused_not_forwarded(gateway: KServeGateway) -> None:
    head = b"POST /v2/repository/index HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n{}"
    answer = _exchange(gateway.port, head, half_close=True)
    assert answer.startswith(b"HTTP/1.1 400") and b"ended after 2 of its 100 bytes" in answer


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            b'{"inputs": [], "parameters": {"binary_data_output": "false"}}',
            "body.parameters.binary_data_output",
        ),
        (
            b'{"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": ["\\ud800"]}]}',
            "inputs[0].data",
        ),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [Infinity]}]}', "body"),
        (
            b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1],'
            b' "parameters": {"shared_memory_region": "r"}}]}',
            "inputs[0].parameters.shared_memory_region",
        ),
        (b'{"inputs": [], "outputs": [{"name": "a"}, {"name": "a"}]}', "outputs[1].name"),
        (b'{"inputs": [], "parameters": {"timeout": [1]}}', "parameters.timeout"),
        (b'{"inputs": [{"name": "x", "datatype": "FP16", "shape": [1], "data": [1e300]}]}', "inputs[0].data"),
    ],
)
def test_malformed_requests_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_infer_request("m", "", body, None)
    assert caught.value.field == field
