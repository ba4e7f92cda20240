"""AdminService: what operators ask the server about itself."""

from __future__ import annotations

from typing import Any

import grpc
import onnxruntime
from google.protobuf import timestamp_pb2

from datalid.v1 import admin_service_pb2, admin_service_pb2_grpc
from pipeline import ModelInfo, PipelineStats
from pipeline.runtime import available_providers
from server import __version__
from server.config import ServerConfig
from server.errors import grpc_errors
from server.host import PipelineHost
from server.services.unimplemented import abort_unimplemented

__all__ = ["AdminService"]

API_VERSION = "datalid.v1"


def _model_to_pb(model: ModelInfo) -> admin_service_pb2.ModelInfo:
    def tensors(infos: Any) -> list[admin_service_pb2.TensorInfo]:
        return [
            admin_service_pb2.TensorInfo(name=t.name, data_type=t.data_type, shape=t.shape) for t in infos
        ]

    return admin_service_pb2.ModelInfo(
        name=model.name,
        kind=model.kind,
        path=model.path,
        state=admin_service_pb2.MODEL_STATE_READY if model.ready else admin_service_pb2.MODEL_STATE_LOADING,
        providers=model.providers,
        max_batch_size=model.max_batch_size,
        inputs=tensors(model.inputs),
        outputs=tensors(model.outputs),
        class_names=model.class_names,
        sha256=model.sha256,
    )


def _stats_to_pb(stats: PipelineStats) -> admin_service_pb2.Stats:
    since = timestamp_pb2.Timestamp()
    since.FromDatetime(stats.since)
    return admin_service_pb2.Stats(
        since=since,
        requests_total=stats.requests_total,
        images_processed_total=stats.images_processed_total,
        models=[
            admin_service_pb2.ModelStats(
                name=model.name,
                inference_count=model.inference_count,
                execution_count=model.execution_count,
                queue_seconds_total=model.queue_seconds_total,
                compute_seconds_total=model.compute_seconds_total,
                batch_size_counts=model.batch_size_counts,
            )
            for model in stats.models
        ],
    )


class AdminService(admin_service_pb2_grpc.AdminServiceServicer):
    """Server and model information and the batchers' statistics; reload arrives with the model
    repository."""

    def __init__(self, config: ServerConfig, host: PipelineHost) -> None:
        self._config = config
        self._host = host

    @grpc_errors
    async def GetServerInfo(
        self, request: admin_service_pb2.GetServerInfoRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ServerInfo:
        started_at = timestamp_pb2.Timestamp()
        started_at.FromDatetime(self._host.started_at)
        limits = self._config.pipeline.decode
        return admin_service_pb2.ServerInfo(
            name="datalid",
            version=__version__,
            api_version=API_VERSION,
            available_providers=available_providers(),
            onnxruntime_version=onnxruntime.__version__,
            started_at=started_at,
            ready=self._host.ready,
            max_message_bytes=self._config.max_message_bytes,
            max_image_bytes=limits.max_image_bytes,
            max_image_pixels=limits.max_image_pixels,
            max_source_pixels=limits.max_source_pixels,
            batch_max_items=self._config.batch_max_items,
            batch_max_bytes=self._config.batch_max_bytes,
        )

    @grpc_errors
    async def ListModels(
        self, request: admin_service_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ListModelsResponse:
        return admin_service_pb2.ListModelsResponse(
            models=[_model_to_pb(m) for m in self._host.pipeline.models()]
        )

    async def ReloadModels(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        await abort_unimplemented(context, "ReloadModels", "it arrives with the model repository")

    @grpc_errors
    async def GetStats(
        self, request: admin_service_pb2.GetStatsRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.Stats:
        return _stats_to_pb(self._host.pipeline.stats())
