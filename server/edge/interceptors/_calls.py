"""Small helpers the interceptors share: a finished call's status code name, method parts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc

__all__ = ["call_next", "code_name", "split_method"]

_NAME_BY_VALUE: dict[int | None, str] = {c.value[0]: c.name for c in grpc.StatusCode}


def code_name(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    """The status code a call ended with, as a name (``OK``, ``UNAUTHENTICATED``...)."""
    if isinstance(error, asyncio.CancelledError):
        remaining = context.time_remaining()
        return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"
    code = context.code()
    if code is None or isinstance(code, int):
        # aio keeps the raw integer after abort in some versions; map it back.
        return _NAME_BY_VALUE.get(code, "OK" if error is None else "UNKNOWN")
    return code.name


def split_method(method_name: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` -> (``pkg.Service``, ``Method``)."""
    service, _, method = method_name.lstrip("/").partition("/")
    return service, method


async def call_next(
    method: Callable[..., Any], request_or_iterator: Any, context: grpc.aio.ServicerContext
) -> Any:
    """Runs the next handler: a unary result is awaited, a response stream is handed on unread."""
    response_or_iterator = method(request_or_iterator, context)
    if hasattr(response_or_iterator, "__aiter__"):
        return response_or_iterator
    return await response_or_iterator
