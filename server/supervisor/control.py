"""What a supervisor answers itself, for all its workers: health, jobs, GetStats, ReloadModels.

Envoy routes these here (``front_door.CONTROL_PATHS``); everything else goes to the workers.

- Health: SERVING while at least one worker serves and the job runner runs.
- JobService: the one job store and runner of the machine (one SQLite file has one owner); each
  job's image is read by a worker, through Envoy's internal listener, at JOB priority, with the
  supervisor's own key.
- GetStats: the workers' statistics added up (a replaced worker's counts go with it, as a restarted
  server's do).
- ReloadModels: fresh workers with the new models, then the old ones drained (``WorkerPool.reload``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc
from google.rpc import error_details_pb2, status_pb2

from datalid.v1 import admin_service_pb2, admin_service_pb2_grpc, expiry_date_service_pb2_grpc, types_pb2
from pipeline import InvalidInput, ModelNotReady, Overloaded
from server.api.admin import reload_target
from server.api.calls import PRIORITY_METADATA
from server.errors import Conflict, grpc_errors, rich_status
from server.jobs.runner import JobAttemptLost, JobFailed, JobProcess
from server.supervisor.workers import Worker, WorkerPool, WorkerStartFailed

__all__ = ["ControlAdminService", "add_stats", "ask_workers", "remote_job_process"]

_LOGGER = logging.getLogger(__name__)
# A job's image read by a worker: as long as any photo may take with the worker busy with
# interactive calls first. Past it the job fails DEADLINE_EXCEEDED rather than waiting forever.
_JOB_CALL_TIMEOUT_S = 600.0
# Refusals that mean "not now": the job goes back to the queue and is tried again.
# A worker's refusals that say "not now" (server/errors.py reasons); Envoy's own refusals carry a
# RetryInfo. Either way the job did not run, and goes back to the queue with its claim given back.
_NOT_NOW_REASONS = frozenset({"OVERLOADED", "MODEL_NOT_READY", "SHUTTING_DOWN", "JOB_STORE_BUSY"})
_STATUS_DETAILS = "grpc-status-details-bin"


def credentials_metadata(key: str) -> tuple[tuple[str, str], ...]:
    """The metadata of the supervisor's calls to its workers: its key when auth is on."""
    return (("x-api-key", key),) if key else ()


def remote_job_process(channel: grpc.aio.Channel, key: str) -> JobProcess:
    """Jobs read by the workers (``Process`` through ``channel``), behind interactive calls.

    Raises (from the returned callable):
        Overloaded: the workers refused for now (UNAVAILABLE, RESOURCE_EXHAUSTED).
        JobFailed: any other error, with the worker's status and details.
    """
    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
    metadata = (*credentials_metadata(key), (PRIORITY_METADATA, "job"))

    async def process(
        image: bytes, options: types_pb2.ProcessOptions, job_id: str
    ) -> types_pb2.ProcessResponse:
        request = types_pb2.ProcessRequest(image=image, options=options)
        try:
            response = await stub.Process(request, metadata=metadata, timeout=_JOB_CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            status = _status_of(exc)
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED or _not_now(status):
                raise Overloaded(exc.details() or "the workers are busy") from None
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                # No refusal: the connection to the worker reading it broke (it died mid-read).
                raise JobAttemptLost(exc.details() or "the worker stopped") from None
            raise JobFailed(status) from None
        response.request_id = job_id
        return response

    return process


def _not_now(status: status_pb2.Status) -> bool:
    """Whether ``status`` is a refusal to try again later rather than a failure of the read."""
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            return True
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.reason in _NOT_NOW_REASONS:
                return True
    return False


def _status_of(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status a worker answered, details included."""
    for key, value in error.trailing_metadata() or ():
        if key == _STATUS_DETAILS and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return rich_status(error.code(), error.details() or "")


def add_stats(parts: list[admin_service_pb2.Stats]) -> admin_service_pb2.Stats:
    """The workers' statistics as one server's: counts and totals added per model, ``since`` the
    earliest worker's start."""
    total = admin_service_pb2.Stats()
    models: dict[str, admin_service_pb2.ModelStats] = {}
    for part in parts:
        if part.HasField("since") and (
            not total.HasField("since") or part.since.ToDatetime() < total.since.ToDatetime()
        ):
            total.since.CopyFrom(part.since)
        total.requests_total += part.requests_total
        total.images_processed_total += part.images_processed_total
        for model in part.models:
            into = models.setdefault(model.name, admin_service_pb2.ModelStats(name=model.name))
            into.inference_count += model.inference_count
            into.execution_count += model.execution_count
            into.queue_seconds_total += model.queue_seconds_total
            into.compute_seconds_total += model.compute_seconds_total
            for size, count in model.batch_size_counts.items():
                into.batch_size_counts[size] += count
    total.models.extend(models[name] for name in sorted(models))
    return total


async def ask_workers(pool: WorkerPool, call: Callable[[grpc.aio.Channel], object]) -> list:
    """``call`` with a channel to every ready worker; the answers of those that answered.

    Raises:
        ModelNotReady: no worker is ready, or none answered (UNAVAILABLE with a retry hint).
    """

    async def ask(port: int) -> object:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            return await call(channel)  # type: ignore[misc]

    outcomes = await asyncio.gather(*(ask(w.port) for w in pool.ready), return_exceptions=True)
    # A worker that just died or is being replaced is left out; its counts went with it.
    answers = [o for o in outcomes if not isinstance(o, BaseException)]
    if not answers:
        raise ModelNotReady("no worker is serving yet; retry shortly")
    return answers


class ControlAdminService(admin_service_pb2_grpc.AdminServiceServicer):
    """GetStats and ReloadModels for all workers; the other AdminService calls go to a worker.

    Args:
        pool: the workers.
        key: the supervisor's key for its calls to them ("" when auth is off).
    """

    def __init__(self, pool: WorkerPool, key: str) -> None:
        self._pool = pool
        self._metadata = credentials_metadata(key)

    async def _ask_workers(self, call: Callable[[admin_service_pb2_grpc.AdminServiceStub], object]) -> list:
        """``call`` on every ready worker; the answers of those that answered.

        Raises:
            ModelNotReady: no worker is ready, or none answered (UNAVAILABLE with a retry hint).
        """
        return await ask_workers(
            self._pool, lambda channel: call(admin_service_pb2_grpc.AdminServiceStub(channel))
        )

    def _serves_all(self, served: set[str]) -> Callable[[Worker], Awaitable[None]]:
        """A check of a fresh worker: it serves every model in ``served`` (a reload never serves
        fewer: a repository without a detector folder would silently drop the detector)."""

        async def check(worker: Worker) -> None:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{worker.port}") as channel:
                answer = await admin_service_pb2_grpc.AdminServiceStub(channel).ListModels(
                    admin_service_pb2.ListModelsRequest(), metadata=self._metadata, timeout=10
                )
            missing = sorted(served - {model.name for model in answer.models})
            if missing:
                raise WorkerStartFailed(f"the new models lack {', '.join(missing)}, which serve now")

        return check

    @grpc_errors
    async def GetStats(
        self, request: admin_service_pb2.GetStatsRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.Stats:
        parts = await self._ask_workers(
            lambda stub: stub.GetStats(request, metadata=self._metadata, timeout=10)  # type: ignore[no-any-return]
        )
        return add_stats(parts)

    @grpc_errors
    async def ReloadModels(
        self, request: admin_service_pb2.ReloadModelsRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ReloadModelsResponse:
        return await self.reload(request)

    async def served_models(self) -> set[str]:
        """The names of the models the workers serve (one worker's answer: they serve the same).

        Raises:
            ModelNotReady: no worker answered.
        """
        everything = admin_service_pb2.ListModelsRequest()
        listed = await self._ask_workers(
            lambda stub: stub.ListModels(everything, metadata=self._metadata, timeout=10)  # type: ignore[no-any-return]
        )
        return {model.name for answer in listed[:1] for model in answer.models}

    async def reload(
        self, request: admin_service_pb2.ReloadModelsRequest
    ) -> admin_service_pb2.ReloadModelsResponse:
        """Fresh workers with the models ``request`` asks for, then the old ones drained (also
        the v2 protocol's RepositoryModelLoad).

        Raises:
            InvalidInput: an unknown name or file, or models that failed to load (the old
                workers still serve).
            Conflict: a reload is in progress.
            ModelNotReady: no worker serves yet.
        """
        everything = admin_service_pb2.ListModelsRequest()
        listed = await self._ask_workers(
            lambda stub: stub.ListModels(everything, metadata=self._metadata, timeout=10)  # type: ignore[no-any-return]
        )
        served = {model.name for answer in listed[:1] for model in answer.models}
        target = reload_target(request, served)
        flags: list[str] = []
        if target.model_repository is not None:
            flags += ["--model-repository", str(target.model_repository)]
        if target.detector_model_path is not None:
            flags += ["--detector-model-path", str(target.detector_model_path)]
        if self._pool.reloading:
            raise Conflict("a reload is already in progress; try again when it ends")
        _LOGGER.info(
            "reloading the models in %d fresh workers (%s)", self._pool.count, " ".join(flags) or "same files"
        )
        # Shielded: a caller that gives up (its deadline, a cancel) does not stop a swap halfway;
        # it runs to its end, either way, and the next ReloadModels sees the result.
        swap = asyncio.ensure_future(self._pool.reload(flags, self._serves_all(served)))
        try:
            fresh = await asyncio.shield(swap)
        except WorkerStartFailed as exc:
            message = f"the models failed to load; the old ones still serve: {exc}"
            raise InvalidInput(target.failed_field, message) from None
        async with grpc.aio.insecure_channel(f"127.0.0.1:{fresh[0].port}") as channel:
            models = await admin_service_pb2_grpc.AdminServiceStub(channel).ListModels(
                admin_service_pb2.ListModelsRequest(), metadata=self._metadata, timeout=10
            )
        return admin_service_pb2.ReloadModelsResponse(models=models.models)
