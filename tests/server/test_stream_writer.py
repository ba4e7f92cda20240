"""StreamWriter: a write on an ended call ends the handler quietly; any other failure is reported."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import pytest
from grpc._cython.cygrpc import ExecuteBatchError

from server.api.stream_writer import StreamWriter
from server.errors import grpc_errors

_METHOD = "/test.Writer/Send"
# What the serializer cannot encode: a stand-in for a serializer bug.
_UNSERIALIZABLE = b"unserializable"


def _serialize(message: bytes) -> bytes:
    if message == _UNSERIALIZABLE:
        raise TypeError("cannot serialize this message")
    return message


class _Writer:
    @grpc_errors
    async def Send(self, request: bytes, context: grpc.aio.ServicerContext) -> None:
        send = StreamWriter(context)
        await send(b"first")
        await send(_UNSERIALIZABLE)


async def _call_with_a_serializer_bug() -> tuple[list[bytes], grpc.StatusCode]:
    server = grpc.aio.server()
    handler = grpc.unary_stream_rpc_method_handler(_Writer().Send, response_serializer=_serialize)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Writer", {"Send": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    received: list[bytes] = []
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            # The timeout only guards against a hang: the old writer made this call hang.
            call = channel.unary_stream(_METHOD)(b"go", timeout=30)
            try:
                async for message in call:
                    received.append(message)
            except grpc.aio.AioRpcError as exc:
                return received, exc.code()
            return received, grpc.StatusCode.OK
    finally:
        await server.stop(None)


def test_a_serializer_failure_is_internal_and_logged_not_a_silent_hang(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="server.errors"):
        received, code = asyncio.run(_call_with_a_serializer_bug())
    assert received == [b"first"]
    assert code == grpc.StatusCode.INTERNAL
    assert any(record.exc_info and record.exc_info[0] is TypeError for record in caplog.records)


class _Context:
    """A call whose write raises ``error``; ``ended`` says whether grpc reports the call over."""

    def __init__(self, error: Exception, *, ended: bool = False) -> None:
        self._error = error
        self._ended = ended

    async def send_initial_metadata(self, metadata: Any) -> None:
        pass

    async def write(self, message: Any) -> None:
        raise self._error

    def done(self) -> bool:
        return self._ended

    def cancelled(self) -> bool:
        return False


@pytest.mark.parametrize(
    ("error", "ended"),
    [
        (ExecuteBatchError("Failed 'execute_batch'"), False),  # the client went away
        (grpc.aio.UsageError("RPC already finished."), True),  # the status is already sent
        (RuntimeError("anything"), True),
    ],
)
def test_a_write_on_an_ended_call_ends_the_handler_as_cancelled(error: Exception, ended: bool) -> None:
    send = StreamWriter(_Context(error, ended=ended))  # type: ignore[arg-type]
    with pytest.raises(asyncio.CancelledError) as cancelled:
        asyncio.run(send(b"x"))
    assert cancelled.value.__cause__ is error


@pytest.mark.parametrize("error", [TypeError("bug"), grpc.aio.UsageError("metadata already sent")])
def test_a_write_failure_on_a_live_call_is_raised_as_is(error: Exception) -> None:
    send = StreamWriter(_Context(error))  # type: ignore[arg-type]
    with pytest.raises(type(error)) as raised:
        asyncio.run(send(b"x"))
    assert raised.value is error
