"""Traces: one SERVER span per RPC with a child span per stage; a caller's traceparent is continued.

In-process (``build_server`` with an in-memory exporter), so the spans can be read back.
"""

from __future__ import annotations

import asyncio
import itertools

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from datalid.v1 import expiry_date_service_pb2_grpc, types_pb2
from pipeline import load_pipeline
from pipeline.synth import render_label
from server.app import build_server, load_models, shutdown
from server.config import ServerConfig
from server.edge.parts import Edge
from server.host import PipelineHost

pytestmark = pytest.mark.slow

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


def test_process_span_has_stage_children_and_continues_the_callers_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    asyncio.run(_call_traced(provider))
    spans = exporter.get_finished_spans()

    (rpc,) = [s for s in spans if s.name == "datalid.v1.ExpiryDateService/Process"]
    assert rpc.kind == SpanKind.SERVER
    assert format(rpc.context.trace_id, "032x") == TRACE_ID
    assert rpc.parent is not None and format(rpc.parent.span_id, "016x") == PARENT_SPAN_ID
    assert rpc.attributes["rpc.grpc.status_code"] == "OK"
    assert rpc.attributes["datalid.request_id"] == "traced-call"

    stages = [s for s in spans if s.parent is not None and s.parent.span_id == rpc.context.span_id]
    assert [s.name for s in stages] == [f"datalid.{n}" for n in ("decode", "queue", "detect", "ocr", "parse")]
    for earlier, later in itertools.pairwise(stages):
        assert earlier.end_time == later.start_time  # laid end to end
    assert stages[0].start_time >= rpc.start_time
    ocr = next(s for s in stages if s.name == "datalid.ocr")
    assert ocr.end_time > ocr.start_time


async def _call_traced(provider: TracerProvider) -> None:
    config = ServerConfig(port=0, job_db_path=":memory:")
    edge = Edge(
        authenticator=None, buckets=None, metrics=Edge.from_config(config).metrics, tracer_provider=provider
    )
    running = await build_server(config, PipelineHost(load_pipeline), edge)
    loading = asyncio.create_task(load_models(running))
    try:
        await loading
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
            metadata = (
                ("traceparent", f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"),
                ("x-request-id", "traced-call"),
            )
            request = types_pb2.ProcessRequest(image=render_label(["Use by", "16 NOV"], seed=7))
            response = await stub.Process(request, metadata=metadata, timeout=60)
            assert response.best_date.date.endswith("-11-16")
    finally:
        await shutdown(running, 0.0, loading)
        edge.close()
