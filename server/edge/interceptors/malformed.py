"""Requests whose bytes are not the method's protobuf message: INVALID_ARGUMENT, after auth.

grpc.aio parses a request with the handler's ``request_deserializer`` before any interceptor's
``intercept`` runs, and a parse error there escapes every interceptor: the caller got UNKNOWN
(unary) or INTERNAL (streams), before auth, with a traceback in the log. This interceptor,
the innermost, hands grpc a deserializer that turns a parse error into a ``MalformedRequest``
value instead, and a behaviour that refuses that value. The outer interceptors copy the
deserializer from the handler it returns, so every call is still logged, counted, traced and
authenticated first, and the refusal is an ordinary status they see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from inspect import iscoroutine
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from pipeline import InvalidInput
from server.errors import abort_with, status_of_error

__all__ = ["MalformedRequest", "MalformedRequestInterceptor", "tolerant_deserializer"]

Deserializer = Callable[[bytes], Any]


@dataclass(frozen=True)
class MalformedRequest:
    """What a request deserializes to when its bytes do not parse.

    Attributes:
        message_type: the protobuf type the method expects (``datalid.v1.ProcessRequest``).
        size: length of the bytes received.
    """

    message_type: str
    size: int

    def error(self, field: str) -> InvalidInput:
        """The INVALID_ARGUMENT this request is refused with, naming ``field``."""
        return InvalidInput(field, f"is not a valid {self.message_type} message ({self.size} bytes)")


def _message_type(deserializer: Deserializer) -> str:
    # Generated code passes the message class's FromString, a method bound to that class.
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    return getattr(descriptor, "full_name", "protobuf")


def tolerant_deserializer(deserializer: Deserializer | None) -> Deserializer | None:
    """``deserializer``, returning a ``MalformedRequest`` where it would raise ``DecodeError``."""
    if deserializer is None:
        return None
    message_type = _message_type(deserializer)

    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except DecodeError:
            return MalformedRequest(message_type, len(raw))

    return deserialize


async def _refuse(context: grpc.aio.ServicerContext, request: MalformedRequest, field: str) -> None:
    await abort_with(context, status_of_error(request.error(field)))


async def _checked_stream(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    index = 0
    async for request in requests:
        if isinstance(request, MalformedRequest):
            await _refuse(context, request, f"requests[{index}]")
        index += 1
        yield request


async def _responses(result: Any) -> AsyncIterator[Any]:
    # A streaming behaviour is an async generator, or a coroutine that writes with context.write.
    if iscoroutine(result):
        result = await result
        if result is None:
            return
    async for response in result:
        yield response


def _wrap_unary_request(
    behaviour: Callable[..., Any], response_streaming: bool
) -> Callable[[Any, grpc.aio.ServicerContext], Any]:
    if response_streaming:

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if isinstance(request, MalformedRequest):
                await _refuse(context, request, "request")
            async for response in _responses(behaviour(request, context)):
                yield response

        return unary_stream

    async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, MalformedRequest):
            await _refuse(context, request, "request")
        return await behaviour(request, context)

    return unary_unary


def _wrap_stream_request(
    behaviour: Callable[..., Any], response_streaming: bool
) -> Callable[[Any, grpc.aio.ServicerContext], Any]:
    if response_streaming:

        async def stream_stream(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for response in _responses(behaviour(_checked_stream(requests, context), context)):
                yield response

        return stream_stream

    async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        return await behaviour(_checked_stream(requests, context), context)

    return stream_unary


_FACTORIES: dict[tuple[bool, bool], Callable[..., grpc.RpcMethodHandler]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def _behaviour(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    return handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream


def tolerant_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """``handler`` with a tolerant deserializer and a behaviour that refuses malformed requests."""
    kind = (bool(handler.request_streaming), bool(handler.response_streaming))
    wrap = _wrap_stream_request if kind[0] else _wrap_unary_request
    return _FACTORIES[kind](
        wrap(_behaviour(handler), kind[1]),
        request_deserializer=tolerant_deserializer(handler.request_deserializer),
        response_serializer=handler.response_serializer,
    )


class MalformedRequestInterceptor(grpc.aio.ServerInterceptor):
    """Refuses undecodable requests with INVALID_ARGUMENT (field ``request``, or ``requests[i]``
    for the i-th message of a request stream). Must be the last, innermost interceptor: the
    ones before it run first, so the caller is authenticated before its bytes are judged."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return tolerant_handler(handler)
