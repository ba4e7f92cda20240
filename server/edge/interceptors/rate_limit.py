"""Rate limiting: RESOURCE_EXHAUSTED with a RetryInfo detail once a caller's bucket is empty."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_interceptor.server import AsyncServerInterceptor

from server.edge.auth import PUBLIC_PREFIXES
from server.edge.interceptors._calls import call_next
from server.edge.ratelimit import TokenBuckets
from server.errors import ERROR_DOMAIN, abort_with, rich_status
from server.request_context import peer_var, principal_var

__all__ = ["RateLimitInterceptor", "caller_key", "peer_host"]


def peer_host(peer: str | None) -> str:
    """The address part of a gRPC peer (``ipv4:1.2.3.4:5678`` -> ``ipv4:1.2.3.4``)."""
    if not peer:
        return "unknown"
    if peer.startswith("ipv6:["):
        return peer[: peer.rfind("]") + 1]
    return peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer


def caller_key(context: grpc.aio.ServicerContext) -> str:
    """Whose bucket a call takes from: its principal, or for anonymous callers their address."""
    principal = principal_var.get()
    if principal is None or principal.kind == "anonymous":
        # The address the access log read at the call's start: peer() on a call that has ended
        # reads freed memory (see access_log.py).
        return "peer:" + peer_host(peer_var.get() or context.peer())
    return principal.id


class RateLimitInterceptor(AsyncServerInterceptor):
    """One token bucket per principal (per peer address for anonymous callers).

    Runs after auth, so the principal is known; health and reflection are never limited.
    """

    def __init__(self, buckets: TokenBuckets) -> None:
        self._buckets = buckets

    async def intercept(
        self,
        method: Callable[..., Any],
        request_or_iterator: Any,
        context: grpc.aio.ServicerContext,
        method_name: str,
    ) -> Any:
        if not method_name.startswith(PUBLIC_PREFIXES):
            wait_s = self._buckets.take(caller_key(context))
            if wait_s > 0:
                await _exhausted(context, wait_s)
        return await call_next(method, request_or_iterator, context)


async def _exhausted(context: grpc.aio.ServicerContext, wait_s: float) -> None:
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(max(1_000_000, int(wait_s * 1e9)))
    details = [
        error_details_pb2.RetryInfo(retry_delay=delay),
        error_details_pb2.ErrorInfo(reason="RATE_LIMITED", domain=ERROR_DOMAIN),
    ]
    status = rich_status(grpc.StatusCode.RESOURCE_EXHAUSTED, f"rate limit: retry in {wait_s:.2f} s", details)
    await abort_with(context, status)
