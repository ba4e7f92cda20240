"""Graceful draining: counts in-flight calls and refuses new ones once shutdown has begun."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import grpc
from grpc_interceptor.server import AsyncServerInterceptor

from pipeline import ShuttingDown
from server.edge.interceptors._calls import call_next
from server.errors import abort_with, status_of_error

__all__ = ["DrainingInterceptor"]

_LOGGER = logging.getLogger(__name__)

# Health must keep answering (NOT_SERVING) while the server drains, and its Watch streams live
# as long as the client wants, so health calls are neither refused nor waited for.
_HEALTH_PREFIX = "/grpc.health.v1.Health/"


class DrainingInterceptor(AsyncServerInterceptor):
    """Answers UNAVAILABLE to new calls after ``start_draining`` and reports when in-flight ones end.

    grpc.aio's ``server.stop(grace)`` cancels calls that reach the transport as it closes; by
    draining first, while still listening, every new caller gets a clean, retryable UNAVAILABLE
    and ``stop`` is only called once the in-flight calls are done (or the grace period is over).
    """

    def __init__(self) -> None:
        self._draining = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        """Calls running now, health checks excluded."""
        return self._in_flight

    def start_draining(self) -> None:
        """From now on, new calls other than health checks are refused."""
        self._draining = True

    async def wait_idle(self, timeout_s: float) -> bool:
        """Waits until no call is in flight; False if ``timeout_s`` passed first."""
        try:
            # asyncio.timeout, not wait_for (which on Python 3.11 can lose a cancellation that
            # lands as the wait ends: server/api/streams.py's reader).
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def _enter(self) -> None:
        self._in_flight += 1
        self._idle.clear()

    def _exit(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    async def intercept(
        self,
        method: Callable[..., Any],
        request_or_iterator: Any,
        context: grpc.aio.ServicerContext,
        method_name: str,
    ) -> Any:
        if not method_name.startswith(_HEALTH_PREFIX):
            if self._draining:
                # With its reason, so a caller (a supervisor's job runner) can tell it from a crash.
                await abort_with(
                    context, status_of_error(ShuttingDown("server is shutting down; retry shortly"))
                )
            self._enter()
            _LOGGER.debug("rpc admitted method=%s in_flight=%d", method_name, self._in_flight)
            # The call's end, whatever ends it (return, error, cancellation, a stream's last message).
            context.add_done_callback(lambda _: self._exit())
        return await call_next(method, request_or_iterator, context)
