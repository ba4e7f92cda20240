"""AdminService: what operators ask the server about itself."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import onnxruntime
from google.protobuf import timestamp_pb2

from datalid.v1 import admin_service_pb2, admin_service_pb2_grpc
from pipeline import InvalidInput, ModelInfo, Pipeline, PipelineConfig, PipelineStats, load_pipeline
from pipeline.runtime import available_providers
from server import __version__
from server.config import ServerConfig
from server.errors import Conflict, grpc_errors
from server.host import PipelineHost

__all__ = ["AdminService", "ReloadTarget", "reload_target"]

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


@dataclass(frozen=True)
class ReloadTarget:
    """What a ReloadModels request asks to load: a new repository or detector file, or None to keep
    the current one."""

    model_repository: Path | None
    detector_model_path: Path | None

    @property
    def failed_field(self) -> str:
        """The field a load failure is blamed on: the file asked for, else ``names``."""
        if self.model_repository is not None:
            return "model_repository"
        return "detector_model_path" if self.detector_model_path is not None else "names"


def reload_target(request: admin_service_pb2.ReloadModelsRequest, known: set[str]) -> ReloadTarget:
    """Checks a ReloadModels request against this server's files and its ``known`` model names.

    Raises:
        InvalidInput: a repository that is not a folder, a detector that is not a file, or a name no
            model has; the error names the field.
    """
    unknown = sorted(set(request.names) - known)
    if unknown:
        raise InvalidInput(
            "names", f"no model is named {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    repository = Path(request.model_repository) if request.model_repository else None
    if repository is not None and not repository.is_dir():
        raise InvalidInput("model_repository", "must be a folder on the server")
    detector = Path(request.detector_model_path) if request.detector_model_path else None
    if detector is not None and not detector.is_file():
        raise InvalidInput("detector_model_path", "must be an ONNX file on the server")
    return ReloadTarget(repository, detector)


def _load_serving(config: PipelineConfig, served: set[str]) -> Pipeline:
    """The pipeline of ``config``, if it serves every model in ``served``: a reload never serves
    fewer models (a repository without a detector folder would silently drop the detector).

    Raises:
        ValueError: a model is missing, naming it.
    """
    pipeline = load_pipeline(config)
    missing = sorted(served - {model.name for model in pipeline.models()})
    if missing:
        pipeline.close()
        raise ValueError(f"the new models lack {', '.join(missing)}, which serve now")
    return pipeline


class AdminService(admin_service_pb2_grpc.AdminServiceServicer):
    """Server and model information, the batchers' statistics, and reloading the models in place.

    Args:
        config: the server's configuration; a reload changes only the model files.
        host: holds the pipeline.
    """

    def __init__(self, config: ServerConfig, host: PipelineHost) -> None:
        self._config = config
        self._host = host
        # The models' settings now: a reload's files replace those of the last reload.
        self._pipeline_config = config.pipeline
        self._reloading = asyncio.Lock()

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

    @grpc_errors
    async def ReloadModels(
        self, request: admin_service_pb2.ReloadModelsRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ReloadModelsResponse:
        """Loads and warms a new pipeline beside the serving one, swaps it in, then lets the old
        one finish its work and closes it. Needs the memory of both for that while (a --workers
        server swaps whole workers instead)."""
        await self.reload(request)
        return admin_service_pb2.ReloadModelsResponse(
            models=[_model_to_pb(m) for m in self._host.pipeline.models()]
        )

    async def reload(self, request: admin_service_pb2.ReloadModelsRequest) -> None:
        """What ReloadModels does (also the v2 protocol's RepositoryModelLoad).

        Raises:
            InvalidInput: an unknown name or file, or models that failed to load (the old ones
                still serve); names the field.
            Conflict: a reload is in progress.
            ModelNotReady: the first models are still loading.
        """
        served = {model.name for model in self._host.pipeline.models()}
        target = reload_target(request, served)
        if self._reloading.locked():
            raise Conflict("a reload is already in progress; try again when it ends")
        async with self._reloading:
            changes: dict[str, Any] = {}
            if target.model_repository is not None:
                changes["model_repository"] = target.model_repository
            if target.detector_model_path is not None:
                changes["detector_model_path"] = target.detector_model_path
            config = dataclasses.replace(self._pipeline_config, **changes)
            try:
                await self._host.reload(lambda: _load_serving(config, served))
            except Exception as exc:  # whatever a bad repository raises: the old models stay
                reason = " ".join(str(exc).split())[:2000]
                message = f"the models failed to load; the old ones still serve: {reason}"
                raise InvalidInput(target.failed_field, message) from None
            self._pipeline_config = config

    @grpc_errors
    async def GetStats(
        self, request: admin_service_pb2.GetStatsRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.Stats:
        return _stats_to_pb(self._host.pipeline.stats())
