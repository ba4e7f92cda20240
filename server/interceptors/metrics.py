"""Metrics of every call: started, handled (with code), latency, in flight, streams; results read."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from grpc_interceptor.server import AsyncServerInterceptor

from datalid.v1 import expiry_date_service_pb2, types_pb2
from server.interceptors._calls import code_name, split_method
from server.metrics import ServerMetrics

__all__ = ["MetricsInterceptor"]

_KIND_NAMES = {
    value.number: value.name.removeprefix("DATE_KIND_").lower()
    for value in types_pb2.DateKind.DESCRIPTOR.values
}


def _grpc_type(request_streams: bool, response_streams: bool) -> str:
    if request_streams:
        return "bidi_stream" if response_streams else "client_stream"
    return "server_stream" if response_streams else "unary"


def _declared_streaming(service: str, name: str) -> tuple[bool, bool] | None:
    """Whether the method's request and response stream, as its proto declares; None if unknown.

    From the descriptor, not from what the handler returns: a handler that writes its stream with
    ``context.write`` returns no iterator, and is still a server stream.
    """
    try:
        method = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    except KeyError:
        return None
    return method.client_streaming, method.server_streaming


class _CountingContext:
    """The call's context, with every message the handler sends with ``write`` counted first.

    Handlers that write their stream themselves (server/services/inference.py: their call's end
    must reach them at once) send results the interceptor would otherwise never see.
    """

    def __init__(self, context: grpc.aio.ServicerContext, count: Callable[[Any], None]) -> None:
        self._context = context
        self._count = count

    async def write(self, message: Any) -> None:
        self._count(message)
        await self._context.write(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class MetricsInterceptor(AsyncServerInterceptor):
    """Records each call in ``ServerMetrics``; outside auth, so refused calls are counted too."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    async def intercept(
        self,
        method: Callable[..., Any],
        request_or_iterator: Any,
        context: grpc.aio.ServicerContext,
        method_name: str,
    ) -> Any:
        service, name = split_method(method_name)
        started = time.perf_counter()
        in_flight = self._metrics.in_flight.labels(service, name)
        in_flight.inc()
        request_streams = hasattr(request_or_iterator, "__aiter__")
        try:
            response_or_iterator = method(request_or_iterator, _CountingContext(context, self._count_results))
        except BaseException:
            in_flight.dec()
            raise
        if hasattr(response_or_iterator, "__aiter__"):
            labels = (_grpc_type(request_streams, True), service, name)
            self._metrics.started.labels(*labels).inc()
            return self._stream(response_or_iterator, context, labels, started)
        declared = _declared_streaming(service, name)
        response_streams = declared[1] if declared is not None else False
        labels = (_grpc_type(request_streams, response_streams), service, name)
        self._metrics.started.labels(*labels).inc()
        streaming = request_streams or response_streams
        if streaming:
            self._metrics.streams_open.labels(service, name).inc()
        error: BaseException | None = None
        try:
            response = await response_or_iterator
            self._count_results(response)
            return response
        except BaseException as exc:
            error = exc
            raise
        finally:
            if streaming:
                self._metrics.streams_open.labels(service, name).dec()
            self._finish(context, labels, started, error)

    async def _stream(
        self,
        responses: AsyncIterator[Any],
        context: grpc.aio.ServicerContext,
        labels: tuple[str, str, str],
        started: float,
    ) -> AsyncIterator[Any]:
        streams_open = self._metrics.streams_open.labels(labels[1], labels[2])
        streams_open.inc()
        error: BaseException | None = None
        try:
            async for response in responses:
                self._count_results(response)
                yield response
        except BaseException as exc:
            error = exc
            raise
        finally:
            streams_open.dec()
            self._finish(context, labels, started, error)

    def _finish(
        self,
        context: grpc.aio.ServicerContext,
        labels: tuple[str, str, str],
        started: float,
        error: BaseException | None,
    ) -> None:
        self._metrics.in_flight.labels(labels[1], labels[2]).dec()
        self._metrics.handled.labels(*labels, code_name(context, error)).inc()
        self._metrics.handling_seconds.labels(*labels).observe(time.perf_counter() - started)

    def _count_results(self, response: Any) -> None:
        for result in _process_results(response):
            self._metrics.images_processed.inc()
            for date in result.dates:
                self._metrics.dates_found.labels(_KIND_NAMES.get(date.kind, "unspecified")).inc()


def _process_results(response: Any) -> list[types_pb2.ProcessResponse]:
    """The ProcessResponses a response message carries (itself, batch items, a stream event's)."""
    if isinstance(response, types_pb2.ProcessResponse):
        return [response]
    if isinstance(response, expiry_date_service_pb2.ProcessBatchResponse):
        return [item.result for item in response.items if item.HasField("result")]
    if isinstance(response, expiry_date_service_pb2.ProgressEvent | expiry_date_service_pb2.FrameResult):
        return [response.result] if response.HasField("result") else []
    return []
