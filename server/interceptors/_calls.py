"""Small helpers the interceptors share: a finished call's status code name, method parts."""

from __future__ import annotations

import asyncio

import grpc

__all__ = ["code_name", "split_method"]

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
