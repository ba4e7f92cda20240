"""One log line per call: request id, method, status code, duration, peer."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc
from grpc_interceptor.server import AsyncServerInterceptor

from server.edge.interceptors._calls import code_name
from server.request_context import REQUEST_ID_HEADER, peer_var, principal_var, request_id_var

__all__ = ["AccessLogInterceptor", "request_id_of"]

_LOGGER = logging.getLogger("datalid.access")
# A caller's id is echoed back and written into log lines of space-separated key=value fields:
# a space, quote or '=' would let it forge fields, so only these characters, at most 128 of them
# (a UUID, a W3C trace id, "trace-abc-123"). Anything else is replaced by a server-made id.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_of(metadata: Iterable[tuple[str, Any]] | None) -> str:
    """The caller's ``x-request-id`` if it is safe to echo and log (``_SAFE_REQUEST_ID``), else a
    new random one (32 hex digits)."""
    for key, value in metadata or ():
        if key == REQUEST_ID_HEADER:
            if isinstance(value, str) and _SAFE_REQUEST_ID.fullmatch(value):
                return value
            break
    return uuid.uuid4().hex


class AccessLogInterceptor(AsyncServerInterceptor):
    """Sets the request id (the caller's ``x-request-id`` or a new one) and the peer
    (``request_context.peer_var``), and logs every call once."""

    async def intercept(
        self,
        method: Callable[..., Any],
        request_or_iterator: Any,
        context: grpc.aio.ServicerContext,
        method_name: str,
    ) -> Any:
        request_id = request_id_of(context.invocation_metadata())
        request_id_var.set(request_id)
        # Read now: grpc.aio frees the core call when it ends, and peer() on a finished call
        # reads freed memory (a stream closed by its client crashed the server that way).
        peer = context.peer()
        peer_var.set(peer)
        _LOGGER.debug("rpc started request_id=%s method=%s", request_id, method_name)
        started = time.perf_counter()
        # Nothing of the handler runs until the result is awaited or iterated.
        response_or_iterator = method(request_or_iterator, context)
        if hasattr(response_or_iterator, "__aiter__"):
            return self._logged_stream(response_or_iterator, context, method_name, request_id, peer, started)
        error: BaseException | None = None
        try:
            response = await response_or_iterator
            # Headers go out with the response, not before the work: a call that fails, or whose
            # server dies midway, stays a trailers-only response, so Envoy in front (--workers)
            # can retry a refusal on another worker and answer a dead worker's call UNAVAILABLE
            # rather than reset a stream it had begun. Errors carry the id in their trailers.
            await context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
            return response
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._log(context, method_name, request_id, peer, started, error)

    async def _logged_stream(
        self,
        responses: AsyncIterator[Any],
        context: grpc.aio.ServicerContext,
        method_name: str,
        request_id: str,
        peer: str,
        started: float,
    ) -> AsyncIterator[Any]:
        error: BaseException | None = None
        first = True
        try:
            async for response in responses:
                if first:
                    # Headers go out with the first message, not before: a stream that fails
                    # first stays a trailers-only response, which HTTP gateways (Envoy's
                    # transcoder) map to the right HTTP status instead of a 200.
                    first = False
                    await context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
                yield response
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._log(context, method_name, request_id, peer, started, error)

    @staticmethod
    def _log(
        context: grpc.aio.ServicerContext,
        method_name: str,
        request_id: str,
        peer: str,
        started: float,
        error: BaseException | None,
    ) -> None:
        principal = principal_var.get()
        # Load balancers and the Envoy sidecar check health every few seconds: not news.
        level = logging.DEBUG if method_name.startswith("/grpc.health.v1.Health/") else logging.INFO
        _LOGGER.log(
            level,
            "rpc request_id=%s method=%s principal=%s code=%s duration_ms=%.1f peer=%s",
            request_id,
            method_name,
            principal.id if principal else "-",
            code_name(context, error),
            (time.perf_counter() - started) * 1000,
            peer,
        )
