"""Metrics of every call: started, handled (with code), latency, in flight, streams; results read."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

import grpc
from google.protobuf import descriptor_pool
from grpc_interceptor.server import AsyncServerInterceptor

from datalid.v1 import expiry_date_service_pb2, types_pb2
from server.edge.interceptors._calls import code_name, split_method
from server.edge.metrics import ServerMetrics

__all__ = ["MetricsInterceptor"]

_KIND_NAMES = {
    value.number: value.name.removeprefix("DATE_KIND_").lower()
    for value in types_pb2.DateKind.DESCRIPTOR.values
}


def _grpc_type(request_streams: bool, response_streams: bool) -> str:
    if request_streams:
        return "bidi_stream" if response_streams else "client_stream"
    return "server_stream" if response_streams else "unary"


# Bound of the cache below. Only served methods reach an interceptor (an unknown one has no handler,
# so grpc_interceptor never calls intercept and gRPC answers UNIMPLEMENTED): a few dozen at most,
# so the bound is never reached, but it holds whatever is served.
_DECLARED_CACHE_SIZE = 256


@functools.lru_cache(maxsize=_DECLARED_CACHE_SIZE)
def _declared_streaming(service: str, name: str) -> tuple[bool, bool] | None:
    """Whether the method's request and response stream, as its proto declares; None if unknown.

    From the descriptor, not from what the handler returns: a handler that writes its stream with
    ``context.write`` returns no iterator, and is still a server stream. Cached: a pure function of
    the method (its descriptor is registered before it is served), and every call asks.
    """
    try:
        method = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    except KeyError:
        return None
    return method.client_streaming, method.server_streaming


# grpc.aio's MetadataType and DoneCallbackType are private (grpc.aio._typing); these are their shapes.
_Metadata = grpc.aio.Metadata | Sequence[tuple[str, str | bytes]]
_DoneCallback = Callable[[Any], None]


class _CountingContext(grpc.aio.ServicerContext[Any, Any]):
    """The call's context, with every message the handler sends with ``write`` counted first.

    Handlers that write their stream themselves (server/api/inference.py: their call's end
    must reach them at once) send results the interceptor would otherwise never see. It stands in
    for the call's context for the handler and the interceptors inside this one, so it is a
    ``ServicerContext``: every other method is the call's own, delegated one by one.
    """

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any], count: Callable[[Any], None]) -> None:
        self._context = context
        self._count = count

    async def write(self, message: Any) -> None:
        self._count(message)
        await self._context.write(message)

    async def read(self) -> Any:
        return await self._context.read()

    async def send_initial_metadata(self, initial_metadata: _Metadata) -> None:
        await self._context.send_initial_metadata(initial_metadata)

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: _Metadata = ()
    ) -> NoReturn:
        await self._context.abort(code, details, trailing_metadata)

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        await self._context.abort_with_status(status)

    def set_trailing_metadata(self, trailing_metadata: _Metadata) -> None:
        self._context.set_trailing_metadata(trailing_metadata)

    def invocation_metadata(self) -> _Metadata | None:
        return self._context.invocation_metadata()

    def set_code(self, code: grpc.StatusCode) -> None:
        self._context.set_code(code)

    def set_details(self, details: str) -> None:
        self._context.set_details(details)

    def set_compression(self, compression: grpc.Compression) -> None:
        self._context.set_compression(compression)

    def disable_next_message_compression(self) -> None:
        self._context.disable_next_message_compression()

    def peer(self) -> str:
        return self._context.peer()

    def peer_identities(self) -> Iterable[bytes] | None:
        return self._context.peer_identities()

    def peer_identity_key(self) -> str | None:
        return self._context.peer_identity_key()

    def auth_context(self) -> Mapping[str, Iterable[bytes]]:
        return self._context.auth_context()

    def time_remaining(self) -> float:
        return self._context.time_remaining()

    def trailing_metadata(self) -> _Metadata:
        return self._context.trailing_metadata()

    def code(self) -> grpc.StatusCode:
        return self._context.code()

    def details(self) -> str:
        return self._context.details()

    def add_done_callback(self, callback: _DoneCallback) -> None:
        self._context.add_done_callback(callback)

    def cancelled(self) -> bool:
        return self._context.cancelled()

    def done(self) -> bool:
        return self._context.done()


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
