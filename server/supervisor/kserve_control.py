"""The v2 protocol calls a supervisor answers for all its workers: ModelStatistics and RepositoryModelLoad.

Envoy routes these two here (``front_door.CONTROL_PATHS``); every other v2 call goes to a worker,
which answers as a one-process server does (the workers serve the same models).

- ModelStatistics: each worker's statistics added up per model, as GetStats does.
- RepositoryModelLoad: the workers' reload (fresh workers with the models, the old ones drained),
  as ReloadModels does.
"""

from __future__ import annotations

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from datalid.v1 import admin_service_pb2
from server.errors import ModelNotFound, grpc_errors
from server.kserve.models import PIPELINE_MODEL, VERSION
from server.kserve.service import no_load_parameters
from server.supervisor.control import ControlAdminService, ask_workers, credentials_metadata
from server.supervisor.workers import WorkerPool

__all__ = ["ControlInferenceService", "add_model_statistics"]


def _add_duration(into: service_pb2.StatisticDuration, part: service_pb2.StatisticDuration) -> None:
    into.count += part.count
    into.ns += part.ns


def add_model_statistics(
    parts: list[service_pb2.ModelStatisticsResponse],
) -> service_pb2.ModelStatisticsResponse:
    """The workers' statistics as one server's: per model, counts and durations added, executions
    by batch size added, the latest ``last_inference``; models in the first answer's order."""
    models: dict[str, service_pb2.ModelStatistics] = {}
    for part in parts:
        for stats in part.model_stats:
            into = models.setdefault(
                stats.name, service_pb2.ModelStatistics(name=stats.name, version=stats.version)
            )
            into.last_inference = max(into.last_inference, stats.last_inference)
            into.inference_count += stats.inference_count
            into.execution_count += stats.execution_count
            for field in service_pb2.InferStatistics.DESCRIPTOR.fields:
                _add_duration(
                    getattr(into.inference_stats, field.name), getattr(stats.inference_stats, field.name)
                )
            sizes = {batch.batch_size: batch for batch in into.batch_stats}
            for batch in stats.batch_stats:
                if batch.batch_size not in sizes:
                    sizes[batch.batch_size] = into.batch_stats.add(batch_size=batch.batch_size)
                target = sizes[batch.batch_size]
                for name in ("compute_input", "compute_infer", "compute_output"):
                    _add_duration(getattr(target, name), getattr(batch, name))
    return service_pb2.ModelStatisticsResponse(model_stats=list(models.values()))


class ControlInferenceService(service_pb2_grpc.GRPCInferenceServiceServicer):
    """ModelStatistics and RepositoryModelLoad for all workers.

    Args:
        pool: the workers.
        key: the supervisor's key for its calls to them ("" when auth is off).
        admin: the supervisor's AdminService, whose reload a load is.
    """

    def __init__(self, pool: WorkerPool, key: str, admin: ControlAdminService) -> None:
        self._pool = pool
        self._metadata = credentials_metadata(key)
        self._admin = admin

    async def _check_served(self, name: str) -> None:
        """Raises ModelNotFound unless the workers serve ``name`` (or it is ``datalid``)."""
        served = await self._admin.served_models()
        if name != PIPELINE_MODEL and name not in served:
            known = ", ".join([PIPELINE_MODEL, *sorted(served)])
            raise ModelNotFound(f"no model is named {name!r}; served: {known}")

    @grpc_errors
    async def ModelStatistics(
        self, request: service_pb2.ModelStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelStatisticsResponse:
        # Checked here: ask_workers leaves out the workers that fail, NOT_FOUND included.
        if request.name:
            await self._check_served(request.name)
        if request.version not in ("", VERSION):
            raise ModelNotFound(
                f"model {request.name!r} has no version {request.version!r}; it has version {VERSION}"
            )

        async def ask(channel: grpc.aio.Channel) -> service_pb2.ModelStatisticsResponse:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            return await stub.ModelStatistics(request, metadata=self._metadata, timeout=10)

        parts = await ask_workers(self._pool, ask)
        return add_model_statistics(parts)

    @grpc_errors
    async def RepositoryModelLoad(
        self, request: service_pb2.RepositoryModelLoadRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.RepositoryModelLoadResponse:
        if request.repository_name:
            raise ModelNotFound(f"there is one model repository, named ''; got {request.repository_name!r}")
        no_load_parameters(request)
        await self._check_served(request.model_name)
        names = [] if request.model_name == PIPELINE_MODEL else [request.model_name]
        await self._admin.reload(admin_service_pb2.ReloadModelsRequest(names=names))
        return service_pb2.RepositoryModelLoadResponse()
