"""One log line per call: request id, method, status code, duration, peer."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from grpc_interceptor.server import AsyncServerInterceptor

from server.request_context import request_id_var

__all__ = ["AccessLogInterceptor"]

_LOGGER = logging.getLogger("datalid.access")
REQUEST_ID_HEADER = "x-request-id"
# A caller's id is echoed back and logged, so it is bounded and kept to printable ASCII.
_MAX_REQUEST_ID_LEN = 128


def _request_id(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_HEADER and isinstance(value, str):
            cleaned = "".join(ch for ch in value if ch.isascii() and ch.isprintable())[:_MAX_REQUEST_ID_LEN]
            if cleaned:
                return cleaned
    return uuid.uuid4().hex


def _code_name(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    if isinstance(error, asyncio.CancelledError):
        remaining = context.time_remaining()
        return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"
    code = context.code()
    if code is None or isinstance(code, int):
        # aio keeps the raw integer after abort in some versions; map it back.
        return _NAME_BY_VALUE.get(code, "OK" if error is None else "UNKNOWN")
    return code.name


_NAME_BY_VALUE: dict[int | None, str] = {c.value[0]: c.name for c in grpc.StatusCode}


class AccessLogInterceptor(AsyncServerInterceptor):
    """Sets the request id (the caller's ``x-request-id`` or a new one) and logs every call once."""

    async def intercept(
        self,
        method: Callable[..., Any],
        request_or_iterator: Any,
        context: grpc.aio.ServicerContext,
        method_name: str,
    ) -> Any:
        request_id = _request_id(context)
        request_id_var.set(request_id)
        await context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
        _LOGGER.debug("rpc started request_id=%s method=%s", request_id, method_name)
        started = time.perf_counter()
        response_or_iterator = method(request_or_iterator, context)
        if hasattr(response_or_iterator, "__aiter__"):
            return self._logged_stream(response_or_iterator, context, method_name, request_id, started)
        error: BaseException | None = None
        try:
            return await response_or_iterator
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._log(context, method_name, request_id, started, error)

    async def _logged_stream(
        self,
        responses: AsyncIterator[Any],
        context: grpc.aio.ServicerContext,
        method_name: str,
        request_id: str,
        started: float,
    ) -> AsyncIterator[Any]:
        error: BaseException | None = None
        try:
            async for response in responses:
                yield response
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._log(context, method_name, request_id, started, error)

    @staticmethod
    def _log(
        context: grpc.aio.ServicerContext,
        method_name: str,
        request_id: str,
        started: float,
        error: BaseException | None,
    ) -> None:
        _LOGGER.info(
            "rpc request_id=%s method=%s code=%s duration_ms=%.1f peer=%s",
            request_id,
            method_name,
            _code_name(context, error),
            (time.perf_counter() - started) * 1000,
            context.peer(),
        )
