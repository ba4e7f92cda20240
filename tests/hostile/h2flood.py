"""A raw HTTP/2 client that opens gRPC streams and never finishes their messages (issue 11).

Shared by tests/hostile/test_transport.py and bench/hostile.py. Each stream declares a message of
``message_bytes`` in its 5-byte gRPC header and then sends all that flow control allows but the
last 1/16 of it, so the server holds whatever it buffers for the stream until the connection goes.
Loopback only; no credentials are sent.
"""

from __future__ import annotations

import selectors
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions

PROCESS_PATH = b"/datalid.v1.ExpiryDateService/Process"
# server/app.py's window for a stream no call reads yet.
STREAM_WINDOW_BYTES = 64 * 1024


@dataclass
class Connection:
    """One attacker's HTTP/2 connection: streams that declare a message and never finish it."""

    sock: socket.socket
    h2: h2.connection.H2Connection
    # Bytes each open stream may still send: never the message's last ones.
    unsent: dict[int, int]
    # Message bytes each stream has sent (after the 5-byte header).
    sent: dict[int, int]
    outgoing: bytearray = field(default_factory=bytearray)
    closed_by_server: bool = False
    goaway: bool = False
    # How the server ended each stream it ended: "RST <error code>" or "grpc-status <code>".
    refused: dict[int, str] = field(default_factory=dict)

    @property
    def refused_streams(self) -> int:
        return len(self.refused)


def open_connection(port: int, streams: int, message_bytes: int, path: bytes = PROCESS_PATH) -> Connection:
    """Connects to 127.0.0.1:``port`` and opens ``streams`` streams, each declaring ``message_bytes``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setblocking(False)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    unsent = {}
    for _ in range(streams):
        stream_id = conn.get_next_available_stream_id()
        headers = [
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path),
            (b":authority", b"127.0.0.1"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        ]
        conn.send_headers(stream_id, headers)
        # The 5-byte gRPC header declares the whole message; all of it but 1/16 follows.
        conn.send_data(stream_id, struct.pack(">BI", 0, message_bytes))
        unsent[stream_id] = message_bytes - message_bytes // 16
    return Connection(sock, conn, unsent, dict.fromkeys(unsent, 0), bytearray(conn.data_to_send()))


def send(conn: Connection) -> int:
    """Sends what the windows allow, at most 1 MiB queued per connection; returns the bytes framed."""
    framed = 0
    for stream_id, left in list(conn.unsent.items()):
        try:
            window = conn.h2.local_flow_control_window(stream_id)
        except h2.exceptions.StreamClosedError:
            del conn.unsent[stream_id]
            continue
        size = min(window, conn.h2.max_outbound_frame_size, left, 1024 * 1024 - len(conn.outgoing))
        if size > 0:
            conn.h2.send_data(stream_id, b"\x0a" * size)
            conn.unsent[stream_id] = left - size
            conn.sent[stream_id] += size
            conn.outgoing += conn.h2.data_to_send()
            framed += size
    if conn.outgoing:
        try:
            del conn.outgoing[: conn.sock.send(conn.outgoing)]
        except BlockingIOError:
            pass
        except OSError:
            conn.closed_by_server = True
    return framed


def _grpc_status(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"grpc-status":
            return f"grpc-status {value.decode('ascii', 'replace')}"
    return None


def receive(conn: Connection) -> None:
    """Reads what the server sent: window updates, refusals, GOAWAY, the socket's close."""
    try:
        data = conn.sock.recv(1024 * 1024)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:
        conn.closed_by_server = True
        return
    if conn.goaway:
        return  # h2 takes nothing after GOAWAY; the server closes the socket after the grace.
    try:
        events = conn.h2.receive_data(data)
    except h2.exceptions.ProtocolError:
        conn.goaway = True
        return
    for event in events:
        if isinstance(event, h2.events.StreamReset):
            conn.refused.setdefault(
                event.stream_id, f"RST {getattr(event.error_code, 'name', event.error_code)}"
            )
            conn.unsent.pop(event.stream_id, None)
        elif isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
            # A trailers-only answer (RESOURCE_EXHAUSTED from max_concurrent_rpcs) ends the call.
            if status := _grpc_status(event.headers):
                conn.refused.setdefault(event.stream_id, status)
                conn.unsent.pop(event.stream_id, None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            conn.goaway = True
    conn.outgoing += conn.h2.data_to_send()


def flood(
    port: int,
    connections: int,
    streams: int,
    message_bytes: int,
    limit_s: float,
    on_tick: Callable[[list[Connection]], bool] | None = None,
) -> list[Connection]:
    """Opens ``connections`` x ``streams`` unfinished streams and keeps them fed.

    Runs until the server has closed every connection, ``limit_s`` has passed, or ``on_tick``
    (called about every 50 ms with the connections) returns True; then closes every socket.
    """
    conns = [open_connection(port, streams, message_bytes) for _ in range(connections)]
    try:
        with selectors.DefaultSelector() as selector:
            for conn in conns:
                selector.register(conn.sock, selectors.EVENT_READ, conn)
            deadline = time.monotonic() + limit_s
            while time.monotonic() < deadline:
                open_conns = [conn for conn in conns if not conn.closed_by_server]
                if not open_conns:
                    break
                for conn in open_conns:
                    if not conn.goaway:
                        send(conn)
                for key, _ in selector.select(timeout=0.05):
                    conn = key.data
                    receive(conn)
                    if conn.closed_by_server:
                        selector.unregister(conn.sock)
                if on_tick is not None and on_tick(conns):
                    break
    finally:
        for conn in conns:
            conn.sock.close()
    return conns
