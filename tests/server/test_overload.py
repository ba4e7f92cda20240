"""Overload through a real grpc.aio server with the real models: a refusal is RESOURCE_EXHAUSTED at once,
the admitted call is served, GetStats counts it, and shutdown closes the batchers after draining."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from datalid.v1 import admin_service_pb2, admin_service_pb2_grpc, expiry_date_service_pb2_grpc, types_pb2
from pipeline import PipelineConfig, load_pipeline
from pipeline.synth import render_label
from server.app import build_server, load_models, shutdown
from server.config import ServerConfig
from server.host import PipelineHost

pytestmark = pytest.mark.slow


def test_images_beyond_the_pending_limit_are_refused_with_resource_exhausted() -> None:
    asyncio.run(_overload())


async def _overload() -> None:
    pipeline_config = PipelineConfig(max_concurrency=1, max_pending_images=1)
    config = ServerConfig(port=0, pipeline=pipeline_config)
    running = await build_server(config, PipelineHost(lambda: load_pipeline(pipeline_config)))
    loading = asyncio.create_task(load_models(running))
    await loading
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
            image = render_label(["Use by", "16 NOV"], seed=5)
            first = asyncio.ensure_future(stub.Process(types_pb2.ProcessRequest(image=image), timeout=120))
            # Wait until the first call is admitted (the pipeline counts it), then send another.
            host = running.host
            while host.pipeline.stats().requests_total == 0:
                await asyncio.sleep(0.01)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Process(types_pb2.ProcessRequest(image=image), timeout=120)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            status = rpc_status.from_call(caught.value)
            infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
            info = error_details_pb2.ErrorInfo()
            infos[0].Unpack(info)
            assert info.reason == "OVERLOADED"

            assert (await first).best_date.date.endswith("-11-16")
            admin = admin_service_pb2_grpc.AdminServiceStub(channel)
            stats = await admin.GetStats(admin_service_pb2.GetStatsRequest(), timeout=10)
            assert (stats.requests_total, stats.images_processed_total) == (2, 1)
    finally:
        await shutdown(running, grace_s=5.0, loading=loading)
    assert not running.host.ready
