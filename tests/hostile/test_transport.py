"""The transport against callers who open streams and never finish their messages (issue 11).

gRPC reads a call's whole request message before any of our code runs, so what bounds the bytes a
caller without credentials can park in the server is the transport settings in
``server/app.py _transport_options``. A real server under ``MEMORY_LIMIT_BYTES`` with small limits
is flooded over raw HTTP/2: more connections than it accepts, more streams per connection than it
allows, each declaring a 4 MiB message and sending all that flow control allows but its end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from datalid.v1 import expiry_date_service_pb2_grpc, types_pb2
from pipeline.synth import render_label
from server.config import ConfigError, load_config
from tests.conftest import ServerProcess
from tests.hostile import h2flood
from tests.hostile.conftest import MEMORY_LIMIT_BYTES

_MESSAGE_BYTES = 4 * 1024 * 1024
_RPCS = 4
_STREAMS_PER_CONNECTION = 4
_CONNECTIONS = 8
_AGE_S = 3
_GRACE_S = 2
# The bound _transport_options states: calls reading their message, plus streams waiting.
_BOUND_BYTES = _RPCS * _MESSAGE_BYTES + _CONNECTIONS * _STREAMS_PER_CONNECTION * h2flood.STREAM_WINDOW_BYTES
# RSS the server's own bookkeeping of the flood may add (streams, connections, log lines); without
# the limits the same flood parks 12 x 8 x 3.75 MiB = 360 MiB.
_SLACK_BYTES = 48 * 1024 * 1024
# Hang guard only: the age limit closes every connection after about 4 s.
_ATTACK_LIMIT_S = 60.0


def _flood(server: ServerProcess, connections: int, streams: int) -> tuple[list[h2flood.Connection], int]:
    """Runs the flood until the server has closed every connection; returns them and the peak RSS."""
    peak = server.rss_bytes()

    def sample(_: list[h2flood.Connection]) -> bool:
        nonlocal peak
        peak = max(peak, server.rss_bytes())
        return False

    conns = h2flood.flood(server.port, connections, streams, _MESSAGE_BYTES, _ATTACK_LIMIT_S, sample)
    return conns, peak


def _best_date(channel: grpc.Channel) -> str:
    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
    request = types_pb2.ProcessRequest(
        image=render_label(["Use by", "16/11/2026"]),
        options=types_pb2.ProcessOptions(reference_date="2026-11-01"),
    )
    return stub.Process(request, timeout=60).best_date.date


@pytest.fixture
def limited_server() -> Iterator[ServerProcess]:
    process = ServerProcess(
        args=[
            "--max-message-bytes",
            str(_MESSAGE_BYTES),
            "--max-concurrent-rpcs",
            str(_RPCS),
            "--max-streams-per-connection",
            str(_STREAMS_PER_CONNECTION),
            "--max-connections",
            str(_CONNECTIONS),
            "--max-connection-age-s",
            str(_AGE_S),
            "--max-connection-age-grace-s",
            str(_GRACE_S),
        ],
        memory_limit_bytes=MEMORY_LIMIT_BYTES,
    ).start()
    try:
        process.wait_serving()
        yield process
    finally:
        if process.process is not None and process.process.poll() is None:
            process.stop()


@pytest.mark.slow
def test_unfinished_messages_hold_bounded_memory_for_a_bounded_time(limited_server: ServerProcess) -> None:
    with grpc.insecure_channel(limited_server.target) as channel:
        # Warms the models' arenas first, so that the baseline is the serving server's.
        assert _best_date(channel) == "2026-11-16"
    baseline = limited_server.rss_bytes()

    conns, peak = _flood(limited_server, connections=_CONNECTIONS + 4, streams=_STREAMS_PER_CONNECTION * 2)

    # Every connection was closed by the server: those over max_connections at once, the others
    # by the age limit, their unfinished calls with them; the streams over the limits were refused.
    assert all(conn.closed_by_server for conn in conns)
    assert sum(conn.refused_streams for conn in conns) >= _CONNECTIONS * _STREAMS_PER_CONNECTION - _RPCS
    growth = peak - baseline
    assert growth < _BOUND_BYTES + _SLACK_BYTES, f"RSS grew {growth >> 20} MiB"
    with grpc.insecure_channel(limited_server.target) as channel:
        assert _best_date(channel) == "2026-11-16"
    assert limited_server.stop() == 0, "\n".join(limited_server.log[-50:])


def test_transport_limits_are_options() -> None:
    config = load_config(
        ["--max-concurrent-rpcs", "8", "--max-streams-per-connection", "2"],
        {"DATALID_MAX_CONNECTIONS": "16", "DATALID_MAX_CONNECTION_AGE_S": "30"},
    )
    assert (config.max_concurrent_rpcs, config.max_streams_per_connection) == (8, 2)
    assert (config.max_connections, config.max_connection_age_s) == (16, 30.0)
    for flag, value in (
        ("--max-concurrent-rpcs", "0"),
        ("--max-connections", "0"),
        ("--max-connection-age-grace-s", "0"),
        ("--max-connection-idle-s", "1e9"),
    ):
        with pytest.raises(ConfigError, match=flag.removeprefix("--").replace("-", "_")):
            load_config([flag, value], {})


def test_the_hostile_server_runs_under_its_address_space_cap(hostile_server: ServerProcess) -> None:
    # The cap is set on the running server (prlimit), not in a preexec_fn: see ServerProcess.
    assert hostile_server.process is not None
    limits = Path(f"/proc/{hostile_server.process.pid}/limits").read_text()
    row = next(line for line in limits.splitlines() if line.startswith("Max address space"))
    assert row.split()[3:5] == [str(MEMORY_LIMIT_BYTES)] * 2, row
