"""Authentication and scopes: sets ``principal_var`` or ends the call before the handler runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_interceptor.server import AsyncServerInterceptor

from server.edge.auth import Authenticator, AuthError, required_scope
from server.edge.interceptors._calls import call_next
from server.edge.interceptors.malformed import MalformedRequest
from server.errors import ERROR_DOMAIN, abort_with, rich_status
from server.request_context import ANONYMOUS, principal_var

__all__ = ["AuthInterceptor", "DrainLimits"]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrainLimits:
    """How much of a refused client stream (ProcessBatch, StreamFrames) is read before the refusal.

    A refused client-streaming call is answered once the caller has sent its last request, up to
    these bounds. Ending a call whose requests are still arriving makes the server reset the
    HTTP/2 stream right after the status, and grpc clients still writing then often read INTERNAL
    "Internal error from Core" instead of the refusal (11 of 60 refused batches of six 200 KB
    images, measured with grpc 1.85). The requests are read and dropped one at a time; past a
    bound the refusal goes out anyway. Refusals come before rate limiting, so these bounds are
    all an unauthenticated caller can cost.

    Attributes:
        max_s: seconds one refused stream is read at most.
        max_bytes: request bytes one refused stream is read for at most (undecodable requests
            count their raw length). 1 MiB covers what a client has in flight when the refusal
            comes (a small batch: five 200 KB images); grpc has already read one request of up to
            ``max_message_bytes`` before any interceptor runs, which no bound here can undo.
        max_concurrent: refused streams read at once, server-wide; beyond, a refusal goes out at
            once (the rare INTERNAL above for those). 16 x 1 MiB bounds what a flood of
            unauthenticated streams holds, while a few misconfigured clients still get clean
            refusals.
    """

    max_s: float = 2.0
    max_bytes: int = 1024 * 1024
    max_concurrent: int = 16


class AuthInterceptor(AsyncServerInterceptor):
    """UNAUTHENTICATED without valid credentials, PERMISSION_DENIED without the method's scope.

    Args:
        authenticator: verifies credentials; None when auth is disabled (every caller is
            ``ANONYMOUS``, which holds every scope).
        drain: how much of a refused client stream is read before the refusal goes out.
    """

    def __init__(self, authenticator: Authenticator | None, drain: DrainLimits | None = None) -> None:
        self._authenticator = authenticator
        self._limits = drain or DrainLimits()
        # Refused streams being read now; one event loop runs every call, so a plain count.
        self._draining = 0

    async def intercept(
        self,
        method: Callable[..., Any],
        request_or_iterator: Any,
        context: grpc.aio.ServicerContext,
        method_name: str,
    ) -> Any:
        scope = required_scope(method_name)
        if scope != "":
            if self._authenticator is None:
                principal = ANONYMOUS
            else:
                try:
                    principal = self._authenticator.authenticate(context.invocation_metadata() or ())
                except AuthError as exc:
                    _LOGGER.info("unauthenticated call to %s: %s", method_name, exc.reason)
                    await self._drain(request_or_iterator)
                    await _deny(context, grpc.StatusCode.UNAUTHENTICATED, str(exc), "UNAUTHENTICATED")
            principal_var.set(principal)
            if scope is None or scope not in principal.scopes:
                needed = scope or "a scope this server does not grant"
                await self._drain(request_or_iterator)
                await _deny(
                    context,
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method_name} needs scope {needed!r}",
                    "MISSING_SCOPE",
                )
        return await call_next(method, request_or_iterator, context)

    async def _drain(self, request_or_iterator: Any) -> None:
        """Reads and drops a client stream's requests until it ends or a ``DrainLimits`` bound is
        reached; returns at once for a unary call, or when ``max_concurrent`` streams are read."""
        if not hasattr(request_or_iterator, "__aiter__"):
            return
        if self._draining >= self._limits.max_concurrent:
            _LOGGER.debug("refused at once: %d refused streams are being read", self._draining)
            return
        self._draining += 1
        try:
            await _drain(request_or_iterator, self._limits)
        finally:
            self._draining -= 1


def _request_bytes(request: Any) -> int:
    if isinstance(request, MalformedRequest):
        return request.size
    return request.ByteSize() if isinstance(request, Message) else 0


async def _drain(requests: AsyncIterator[Any], limits: DrainLimits) -> None:
    received = 0
    try:
        async with asyncio.timeout(limits.max_s):
            async for request in requests:
                received += _request_bytes(request)
                if received > limits.max_bytes:
                    return
    except Exception:  # the bound of time, or a broken stream: refuse now
        return


async def _deny(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str, reason: str) -> None:
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)
    await abort_with(context, rich_status(code, message, [info]))
