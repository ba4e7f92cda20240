"""Authentication and scopes: sets ``principal_var`` or ends the call before the handler runs."""

from __future__ import annotations

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
                    await _deny(context, grpc.StatusCode.UNAUTHENTICATED, str(exc), "UNAUTHENTICATED")
            principal_var.set(principal)
            if scope is None or scope not in principal.scopes:
                needed = scope or "a scope this server does not grant"
                await _deny(
                    context,
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method_name} needs scope {needed!r}",
                    "MISSING_SCOPE",
                )
        return await call_next(method, request_or_iterator, context)


async def _deny(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str, reason: str) -> None:
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)
    await abort_with(context, rich_status(code, message, [info]))
