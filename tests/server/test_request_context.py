"""Per-call values: the peer is read once, at the call's start, and the services use that copy."""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import Any

from server.api.calls import ARRIVED_METADATA, deadline_of, slot_key
from server.edge.interceptors.access_log import AccessLogInterceptor
from server.request_context import ANONYMOUS, Principal, peer_var, principal_var


class _Call:
    """A call's context whose peer may be read only until ``ended`` (grpc.aio frees it then)."""

    def __init__(self, peer: str) -> None:
        self._peer = peer
        self.ended = False
        self.peer_reads = 0

    def peer(self) -> str:
        assert not self.ended, "peer() read on a finished call"
        self.peer_reads += 1
        return self._peer

    def invocation_metadata(self) -> tuple[()]:
        return ()

    async def send_initial_metadata(self, metadata: Any) -> None:
        pass

    def code(self) -> None:
        return None

    def time_remaining(self) -> None:
        return None


def test_the_access_log_hands_the_peer_read_at_the_start_to_the_handler() -> None:
    call = _Call("ipv4:10.1.2.3:5678")

    async def handler(request: Any, context: Any) -> str:
        call.ended = True  # from here on, only the copy may be read
        return slot_key()

    async def run() -> str:
        principal_var.set(ANONYMOUS)
        return await AccessLogInterceptor().intercept(
            handler, None, call, "/datalid.v1.ExpiryDateService/Process"
        )

    key = contextvars.copy_context().run(asyncio.run, run())
    assert key == "anonymous:-@ipv4:10.1.2.3"
    assert call.peer_reads == 1


def test_stream_slots_are_per_principal_or_per_address_for_anonymous_callers() -> None:
    def key(principal: Principal | None, peer: str) -> str:
        principal_var.set(principal)
        peer_var.set(peer)
        return slot_key()

    run = contextvars.copy_context().run
    assert run(key, Principal("api_key", "cam", frozenset()), "ipv4:10.0.0.1:1") == "api_key:cam"
    assert run(key, None, "ipv6:[::1]:5000") == "anonymous:-@ipv6:[::1]"
    assert run(key, ANONYMOUS, "") == "anonymous:-@unknown"  # outside a call


class _Timed:
    """A call's context with ``remaining_s`` left and the given metadata."""

    def __init__(self, remaining_s: float | None, metadata: tuple[tuple[str, str], ...]) -> None:
        self._remaining_s = remaining_s
        self._metadata = metadata

    def time_remaining(self) -> float | None:
        return self._remaining_s

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata


def test_the_time_a_call_waited_at_the_front_door_comes_off_its_deadline() -> None:
    now = time.monotonic()
    plain = deadline_of(_Timed(2.0, ()))  # type: ignore[arg-type]
    assert plain is not None and 1.9 < plain - now < 2.1
    arrived = f"{time.time() - 1.5:.6f}"
    waited = deadline_of(_Timed(2.0, ((ARRIVED_METADATA, arrived),)))  # type: ignore[arg-type]
    assert waited is not None and 0.4 < waited - now < 0.6
    # A header from the future, from long ago, or not a number changes nothing; no deadline stays none.
    for bad in (f"{time.time() + 60:.6f}", "12.5", "soon"):
        kept = deadline_of(_Timed(2.0, ((ARRIVED_METADATA, bad),)))  # type: ignore[arg-type]
        assert kept is not None and 1.9 < kept - now < 2.1
    assert deadline_of(_Timed(None, ((ARRIVED_METADATA, arrived),))) is None  # type: ignore[arg-type]
