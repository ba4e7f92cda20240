"""A response stream closed by grpc (a caller's cancel) should run every ``finally`` of the
interceptor chain at once: the open-streams and in-flight gauges fall and the access log line is written
before ``aclose`` returns, not whenever the garbage collector finds the inner generators."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from server.edge.interceptors.access_log import AccessLogInterceptor
from server.edge.interceptors.metrics import MetricsInterceptor
from server.edge.metrics import ServerMetrics

METHOD = "/datalid.v1.ExpiryDateService/StreamFrames"


class _Details:
    method = METHOD
    invocation_metadata = ()


class _Context:
    """The parts of a ``ServicerContext`` the two interceptors use."""

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def peer(self) -> str:
        return "ipv4:127.0.0.1:5000"

    async def send_initial_metadata(self, metadata: Any) -> None:
        return None

    def code(self) -> None:
        return None

    def time_remaining(self) -> None:
        return None


def _gauge(gauge: Any) -> float:
    return gauge.labels("datalid.v1.ExpiryDateService", "StreamFrames")._value.get()


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="known: grpc_interceptor's stream adapter never closes what it iterates, so the inner "
    "wrappers' finally waits for asyncio's finaliser, a loop turn a level, or for the garbage "
    "collector when a reference cycle holds them (stuck gauges after a cancel); a fix that "
    "closes them in a chain made a hostile cancel test fail after tests/edge and is not shipped yet",
)
def test_closing_the_outer_stream_closes_every_wrapper_inside_it(caplog: pytest.LogCaptureFixture) -> None:
    metrics = ServerMetrics()
    handler_closed: list[bool] = []

    async def frames(requests: Any, context: Any) -> AsyncIterator[int]:
        try:
            for frame in range(100):
                yield frame
        finally:
            handler_closed.append(True)

    async def main() -> None:
        handler = grpc.stream_stream_rpc_method_handler(frames)

        async def to_handler(_: Any) -> grpc.RpcMethodHandler:
            return handler

        inner = await MetricsInterceptor(metrics).intercept_service(to_handler, _Details())

        async def to_inner(_: Any) -> grpc.RpcMethodHandler:
            return inner

        outer = await AccessLogInterceptor().intercept_service(to_inner, _Details())
        stream = outer.stream_stream(iter(()), _Context())
        assert await stream.__anext__() == 0
        assert _gauge(metrics.streams_open) == 1 and _gauge(metrics.in_flight) == 1
        await stream.aclose()
        # At once: no turn of the event loop (where a collected generator's aclose would run).
        assert handler_closed == [True]
        assert _gauge(metrics.streams_open) == 0 and _gauge(metrics.in_flight) == 0
        assert any("StreamFrames" in r.getMessage() for r in caplog.records if r.name == "datalid.access")

    with caplog.at_level(logging.INFO, logger="datalid.access"):
        asyncio.run(main())
