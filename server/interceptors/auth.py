"""Authentication and scopes: sets ``principal_var`` or ends the call before the handler runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_interceptor.server import AsyncServerInterceptor

from server.auth import Authenticator, AuthError, required_scope
from server.errors import ERROR_DOMAIN, abort_with, rich_status
from server.interceptors._calls import call_next
from server.request_context import ANONYMOUS, principal_var

__all__ = ["AuthInterceptor"]

_LOGGER = logging.getLogger(__name__)
# A refused client-streaming call (ProcessBatch, StreamFrames) is answered once the caller has
# sent its last request, up to these bounds. Ending a call whose requests are still arriving makes
# the server reset the HTTP/2 stream right after the status, and grpc clients still writing then
# often read INTERNAL "Internal error from Core" instead of the refusal (11 of 60 refused batches
# of six 200 KB images, measured with grpc 1.85). The bounds cap what a refused caller costs: the
# requests are read and dropped one at a time, for at most 2 s or 16 MiB (one default-sized
# message); past them the refusal goes out anyway.
_DRAIN_MAX_S = 2.0
_DRAIN_MAX_BYTES = 16 * 1024 * 1024


class AuthInterceptor(AsyncServerInterceptor):
    """UNAUTHENTICATED without valid credentials, PERMISSION_DENIED without the method's scope.

    Args:
        authenticator: verifies credentials; None when auth is disabled (every caller is
            ``ANONYMOUS``, which holds every scope).
    """

    def __init__(self, authenticator: Authenticator | None) -> None:
        self._authenticator = authenticator

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
                    await _drain(request_or_iterator)
                    await _deny(context, grpc.StatusCode.UNAUTHENTICATED, str(exc), "UNAUTHENTICATED")
            principal_var.set(principal)
            if scope is None or scope not in principal.scopes:
                needed = scope or "a scope this server does not grant"
                await _drain(request_or_iterator)
                await _deny(
                    context,
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method_name} needs scope {needed!r}",
                    "MISSING_SCOPE",
                )
        return await call_next(method, request_or_iterator, context)


async def _drain(request_or_iterator: Any) -> None:
    """Reads and drops a client stream's requests until it ends or a bound is reached."""
    if not hasattr(request_or_iterator, "__aiter__"):
        return
    received = 0
    try:
        async with asyncio.timeout(_DRAIN_MAX_S):
            async for request in request_or_iterator:
                received += request.ByteSize() if hasattr(request, "ByteSize") else 0
                if received > _DRAIN_MAX_BYTES:
                    return
    except Exception:  # the bound of time, or a broken stream: refuse now
        return


async def _deny(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str, reason: str) -> None:
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)
    await abort_with(context, rich_status(code, message, [info]))
