"""Per-call values: the peer is read once, at the call's start, and the services use that copy."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from server.api.calls import slot_key
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
