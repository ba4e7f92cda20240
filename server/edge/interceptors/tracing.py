"""One span per RPC, continuing the caller's W3C ``traceparent``, with a child span per stage.

The pipeline knows nothing of tracing: it reports per-stage durations in ``StageTimings``, and
the stage spans are made here from those, laid end to end from the RPC's start with explicit
start and end times (decode, queue, detect, ocr, parse: the order the pipeline runs them).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from grpc_interceptor.server import AsyncServerInterceptor
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from server.edge.interceptors._calls import code_name, split_method
from server.request_context import principal_var, request_id_var

__all__ = ["STAGES", "TracingInterceptor"]

STAGES = ("decode", "queue", "detect", "ocr", "parse")
_PROPAGATOR = TraceContextTextMapPropagator()


class TracingInterceptor(AsyncServerInterceptor):
    """Wraps each call in a SERVER span named after the method."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    async def intercept(
        self,
        method: Callable[..., Any],
        request_or_iterator: Any,
        context: grpc.aio.ServicerContext,
        method_name: str,
    ) -> Any:
        carrier = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        parent = _PROPAGATOR.extract(carrier)
        service, name = split_method(method_name)
        started_ns = time.time_ns()
        span = self._tracer.start_span(
            method_name.lstrip("/"),
            context=parent,
            kind=trace.SpanKind.SERVER,
            start_time=started_ns,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )
        try:
            with trace.use_span(span, end_on_exit=False):
                response_or_iterator = method(request_or_iterator, context)
        except BaseException as exc:
            self._end(span, context, exc)
            raise
        if hasattr(response_or_iterator, "__aiter__"):
            return self._stream(span, response_or_iterator, context)
        error: BaseException | None = None
        try:
            with trace.use_span(span, end_on_exit=False):
                response = await response_or_iterator
            self._stage_spans(span, response, started_ns)
            return response
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._end(span, context, error)

    async def _stream(
        self, span: trace.Span, responses: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        error: BaseException | None = None
        try:
            async for response in responses:
                yield response
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._end(span, context, error)

    def _stage_spans(self, span: trace.Span, response: Any, started_ns: int) -> None:
        timings = getattr(response, "timings", None)
        if timings is None or not hasattr(timings, "total_ms") or not response.HasField("timings"):
            return
        parent = trace.set_span_in_context(span)
        at_ns = started_ns
        for stage in STAGES:
            duration_ns = int(getattr(timings, f"{stage}_ms") * 1e6)
            child = self._tracer.start_span(f"datalid.{stage}", context=parent, start_time=at_ns)
            at_ns += duration_ns
            child.end(end_time=at_ns)

    @staticmethod
    def _end(span: trace.Span, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
        code = code_name(context, error)
        span.set_attribute("rpc.grpc.status_code", code)
        span.set_attribute("datalid.request_id", request_id_var.get())
        principal = principal_var.get()
        if principal is not None:
            span.set_attribute("enduser.id", principal.id)
        if code != "OK":
            span.set_status(trace.Status(trace.StatusCode.ERROR, code))
        span.end()
