"""``inference.GRPCInferenceService``: the KServe v2 / Triton protocol beside ``datalid.v1``.

Triton's clients, ``perf_analyzer`` and KServe deployments talk to Datalid unchanged: health,
metadata, configuration, statistics, inference (unary and streamed) and the repository calls.
The models are those of :mod:`server.kserve.models`; inference on ``datalid`` reads photos with
the same pipeline as ``Process``, inference on an ONNX model runs the caller's tensor through that
model's dynamic batcher (:meth:`pipeline.Pipeline.ainfer`). Errors are those of ``datalid.v1``
(server/errors.py): INVALID_ARGUMENT naming the field, NOT_FOUND for a model or version not
served, UNAVAILABLE while the models load, RESOURCE_EXHAUSTED when a queue is full. The shared
memory, trace and log settings calls are not served (UNIMPLEMENTED): Datalid's callers are on
other machines, and tracing and logs have their own settings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import grpc
import numpy as np
from tritonclient.grpc import service_pb2, service_pb2_grpc

from datalid.v1 import admin_service_pb2, types_pb2
from pipeline import InvalidInput, Pipeline, Priority, ProcessOptions, ProcessResult
from pipeline.repository import DEFAULT_REPOSITORY
from server import __version__, convert
from server.api.calls import deadline_of, priority_of
from server.config import ServerConfig
from server.errors import ModelNotFound, abort_with, grpc_errors, rich_status, status_of_exception
from server.host import PipelineHost
from server.kserve.models import (
    PIPELINE_MODEL,
    VERSION,
    ServedModel,
    model_config,
    model_metadata,
    served_models,
)
from server.kserve.stats import InferenceLedger, model_counters, statistics_to_pb
from server.kserve.tensors import Tensor, decode_inputs, encode_outputs

__all__ = ["EXTENSIONS", "SERVICE_NAME", "InferenceService"]

SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
# What ServerMetadata says is supported, in Triton's extension names.
EXTENSIONS = ("model_repository", "model_configuration", "statistics", "binary_tensor_data")
# Requests of one ModelStreamInfer stream run at once; their responses go out in request order.
_STREAM_IN_FLIGHT = 4
# Of a response's bytes, what its names, shapes and framing may take beside the tensors.
_RESPONSE_MARGIN_BYTES = 64 * 1024
_KIND_NAMES = {"expiry": "EXPIRY", "manufacture": "MANUFACTURE", "unknown": "UNKNOWN"}

Reload = Callable[[admin_service_pb2.ReloadModelsRequest], Awaitable[None]]


def _version(model: str, version: str) -> None:
    if version not in ("", VERSION):
        raise ModelNotFound(f"model {model!r} has no version {version!r}; it has version {VERSION}")


def _best_box(result: ProcessResult) -> tuple[float, float, float, float]:
    """The box of the text line the best date was read from; zeros when there is no date."""
    best = result.best_date
    if best is None:
        return (0.0, 0.0, 0.0, 0.0)
    for line in result.ocr_lines:
        if best.text and best.text in line.text:
            return (line.box.x1, line.box.y1, line.box.x2, line.box.y2)
    if result.detections:
        box = result.detections[0].box
        return (box.x1, box.y1, box.x2, box.y2)
    return (0.0, 0.0, 0.0, 0.0)


def _pipeline_outputs(results: Sequence[ProcessResult]) -> list[Tensor]:
    dates, kinds, confidences, expired, boxes = [], [], [], [], []
    for result in results:
        best = result.best_date
        dates.append(best.date.isoformat().encode() if best else b"")
        kinds.append(_KIND_NAMES[best.kind.value].encode() if best else b"")
        confidences.append(best.confidence if best else 0.0)
        expired.append(best.is_expired if best else False)
        boxes.append(_best_box(result))

    def text(values: list[bytes]) -> np.ndarray:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array

    return [
        Tensor("date", "BYTES", text(dates)),
        Tensor("kind", "BYTES", text(kinds)),
        Tensor("confidence", "FP32", np.asarray(confidences, dtype=np.float32)),
        Tensor("is_expired", "BOOL", np.asarray(expired, dtype=np.bool_)),
        Tensor("box", "FP32", np.asarray(boxes, dtype=np.float32).reshape(-1, 4)),
    ]


async def _all_or_none(awaitables: list[Awaitable[ProcessResult]]) -> list[ProcessResult]:
    """Every result in order; on the first failure the others are cancelled and it is raised."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()


class InferenceService(service_pb2_grpc.GRPCInferenceServiceServicer):
    """Serves the v2 protocol from the pipeline ``host`` holds.

    Args:
        host: the loaded pipeline.
        config: limits (rows per request: ``batch_max_items``), the model repository.
        ledger: counts requests per model (ModelStatistics, the ``nv_inference_*`` metrics).
        reload: what RepositoryModelLoad does (AdminService's reload).
        today: the server's date, the default reference for ``is_expired`` (injected in tests).
    """

    def __init__(
        self,
        host: PipelineHost,
        config: ServerConfig,
        ledger: InferenceLedger,
        reload: Reload,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self._host = host
        self._config = config
        self._ledger = ledger
        self._reload = reload
        self._today = today
        self._catalogue: tuple[Pipeline, dict[str, ServedModel]] | None = None

    def models(self) -> dict[str, ServedModel]:
        """The models served now, by name (recomputed after a reload).

        Raises:
            ModelNotReady: the models are loading.
        """
        pipeline = self._host.pipeline
        if self._catalogue is None or self._catalogue[0] is not pipeline:
            self._catalogue = (pipeline, served_models(pipeline.tensor_models(), pipeline.concurrency))
        return self._catalogue[1]

    def served_names(self) -> list[str]:
        """The served models' names, ``datalid`` first, without building anything (safe from any
        thread, as the metrics scrape needs); empty while the models load."""
        if not self._host.ready:
            return []
        return [PIPELINE_MODEL, *(model.name for model in self._host.pipeline.models())]

    def _model(self, name: str, version: str = "") -> ServedModel:
        models = self.models()
        if name not in models:
            raise ModelNotFound(f"no model is named {name!r}; served: {', '.join(models)}")
        _version(name, version)
        return models[name]

    # -- health and metadata

    @grpc_errors
    async def ServerLive(
        self, request: service_pb2.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ServerLiveResponse:
        return service_pb2.ServerLiveResponse(live=True)

    @grpc_errors
    async def ServerReady(
        self, request: service_pb2.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ServerReadyResponse:
        return service_pb2.ServerReadyResponse(ready=self._host.ready)

    @grpc_errors
    async def ModelReady(
        self, request: service_pb2.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelReadyResponse:
        # As Triton: a model that is not (yet) served is not ready; no error.
        ready = self._host.ready and request.name in self.models() and request.version in ("", VERSION)
        return service_pb2.ModelReadyResponse(ready=ready)

    @grpc_errors
    async def ServerMetadata(
        self, request: service_pb2.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ServerMetadataResponse:
        return service_pb2.ServerMetadataResponse(name="datalid", version=__version__, extensions=EXTENSIONS)

    @grpc_errors
    async def ModelMetadata(
        self, request: service_pb2.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelMetadataResponse:
        return model_metadata(self._model(request.name, request.version))

    @grpc_errors
    async def ModelConfig(
        self, request: service_pb2.ModelConfigRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelConfigResponse:
        return service_pb2.ModelConfigResponse(
            config=model_config(self._model(request.name, request.version))
        )

    @grpc_errors
    async def ModelStatistics(
        self, request: service_pb2.ModelStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelStatisticsResponse:
        names = [self._model(request.name, request.version).name] if request.name else list(self.models())
        counters = model_counters(self._ledger, names, self._host.pipeline.stats().models)
        return service_pb2.ModelStatisticsResponse(
            model_stats=[statistics_to_pb(c, VERSION) for c in counters]
        )

    # -- inference

    @grpc_errors
    async def ModelInfer(
        self, request: service_pb2.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelInferResponse:
        return await self.infer(request, deadline_of(context), priority_of(context))

    async def ModelStreamInfer(
        self,
        request_iterator: AsyncIterator[service_pb2.ModelInferRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[service_pb2.ModelStreamInferResponse]:
        """Each request's response (or its error, as ``error_message``, the stream going on) in
        request order, up to ``_STREAM_IN_FLIGHT`` requests running at once. The call's deadline
        applies to every request of the stream."""
        deadline, priority = deadline_of(context), priority_of(context)
        running: asyncio.Queue[asyncio.Task[service_pb2.ModelInferResponse] | None] = asyncio.Queue(
            maxsize=_STREAM_IN_FLIGHT
        )

        async def read() -> None:
            try:
                async for request in request_iterator:
                    await running.put(asyncio.ensure_future(self.infer(request, deadline, priority)))
            finally:
                await running.put(None)

        reader = asyncio.ensure_future(read())
        try:
            while (task := await running.get()) is not None:
                try:
                    yield service_pb2.ModelStreamInferResponse(infer_response=await task)
                except Exception as exc:  # the request's error goes in-band, as Triton sends it
                    status = status_of_exception(exc)
                    yield service_pb2.ModelStreamInferResponse(error_message=status.message)
            await reader
        finally:
            reader.cancel()
            while not running.empty():
                leftover = running.get_nowait()
                if leftover is not None:
                    leftover.cancel()

    async def infer(
        self, request: service_pb2.ModelInferRequest, deadline: float | None, priority: Priority
    ) -> service_pb2.ModelInferResponse:
        """One inference request, counted in the model's statistics.

        Raises:
            ModelNotFound: no such model or version.
            InvalidInput: tensors the model does not take, naming the field.
            Overloaded, DeadlineExceeded, ModelNotReady, ShuttingDown: as ``Process``.
        """
        model = self._model(request.model_name, request.model_version)
        started = time.perf_counter_ns()
        ok = False
        timings = []
        try:
            tensors = decode_inputs(request)
            if model.name == PIPELINE_MODEL:
                results = await self._read_photos(tensors, deadline, priority)
                timings = [result.timings for result in results]
                outputs = _pipeline_outputs(results)
            else:
                outputs = await self._run_model(model, tensors, deadline, priority)
            response = service_pb2.ModelInferResponse(
                model_name=model.name, model_version=VERSION, id=request.id
            )
            encode_outputs(response, _requested(outputs, request))
            self._check_size(response)
            ok = True
            return response
        finally:
            self._ledger.record(
                model.name, ok=ok, duration_ns=time.perf_counter_ns() - started, timings=timings
            )

    def _check_size(self, response: service_pb2.ModelInferResponse) -> None:
        """Refuses an answer over the message limit: gRPC would fail to send it, and the caller's
        tensor (a recogniser's input 4096 wide gives 38 MB of probabilities) is what made it so.

        Raises:
            InvalidInput: naming ``inputs``, with the size and the limit.
        """
        size = sum(len(raw) for raw in response.raw_output_contents)
        # Room for the rest of the message (names, shapes).
        limit = self._config.max_message_bytes - _RESPONSE_MARGIN_BYTES
        if size > limit:
            raise InvalidInput(
                "inputs",
                f"the outputs would be {size} bytes, over the {limit} a response may carry; "
                "send fewer rows or smaller tensors",
            )

    async def _read_photos(
        self, tensors: list[Tensor], deadline: float | None, priority: Priority
    ) -> list[ProcessResult]:
        index = _check_names(tensors, ("image", "reference_date"))
        if "image" not in index:
            raise InvalidInput("inputs", "datalid needs the input 'image' (BYTES, one encoded photo per row)")
        image = tensors[index["image"]]
        field = f"inputs[{index['image']}]"
        _check_text_rows(image, field)
        rows = image.array.shape[0]
        if not 1 <= rows <= self._config.batch_max_items:
            raise InvalidInput(
                f"{field}.shape", f"image holds 1 to {self._config.batch_max_items} photos, got {rows}"
            )
        options = self._row_options(tensors, index, rows)
        pipeline = self._host.pipeline

        async def read(row: int) -> ProcessResult:
            try:
                return await pipeline.aprocess(
                    bytes(image.array[row]), options[row], deadline=deadline, priority=priority
                )
            except InvalidInput as exc:
                if exc.field != "image":
                    raise
                raise InvalidInput(f"{field} (image row {row})", exc.description) from None

        return await _all_or_none([read(row) for row in range(rows)])

    def _row_options(self, tensors: list[Tensor], index: dict[str, int], rows: int) -> list[ProcessOptions]:
        """Each row's options: its reference date (one for all rows, or one per row) or today."""
        if "reference_date" not in index:
            return [self._options("", "")] * rows
        tensor = tensors[index["reference_date"]]
        field = f"inputs[{index['reference_date']}]"
        _check_text_rows(tensor, field)
        given = tensor.array.shape[0]
        if given not in (1, rows):
            raise InvalidInput(
                f"{field}.shape", f"reference_date holds 1 or {rows} dates (one per photo), got {given}"
            )
        texts = [_utf8(value, field) for value in tensor.array]
        return [self._options(texts[0] if given == 1 else texts[row], field) for row in range(rows)]

    def _options(self, reference_date: str, field: str) -> ProcessOptions:
        try:
            return convert.options_from_pb(
                types_pb2.ProcessOptions(reference_date=reference_date),
                self._today(),
                max_detections_limit=self._config.max_detections_limit,
            )
        except InvalidInput as exc:
            raise InvalidInput(f"{field} (reference_date)", exc.description) from None

    async def _run_model(
        self, model: ServedModel, tensors: list[Tensor], deadline: float | None, priority: Priority
    ) -> list[Tensor]:
        (spec,) = model.inputs
        index = _check_names(tensors, (spec.name,))
        if spec.name not in index:
            raise InvalidInput("inputs", f"{model.name} needs the input {spec.name!r} ({spec.datatype})")
        tensor = tensors[index[spec.name]]
        field = f"inputs[{index[spec.name]}]"
        if tensor.datatype != spec.datatype:
            raise InvalidInput(f"{field}.datatype", f"{spec.name} is {spec.datatype}, got {tensor.datatype}")
        output = await self._host.pipeline.ainfer(
            model.name, tensor.array, field=field, deadline=deadline, priority=priority
        )
        (out_spec,) = model.outputs
        return [Tensor(out_spec.name, out_spec.datatype, output)]

    # -- the repository

    @grpc_errors
    async def RepositoryIndex(
        self, request: service_pb2.RepositoryIndexRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.RepositoryIndexResponse:
        """The served models (READY), and the repository's other folders (UNAVAILABLE: a model
        the pipeline does not use; choose one with ``--rec-model-name`` and the like)."""
        _repository(request.repository_name)
        served = self.models()
        index = [
            service_pb2.RepositoryIndexResponse.ModelIndex(name=name, version=VERSION, state="READY")
            for name in served
        ]
        if not request.ready:
            root = self._config.pipeline.model_repository or DEFAULT_REPOSITORY
            for folder in sorted(_model_folders(root) - set(served)):
                index.append(
                    service_pb2.RepositoryIndexResponse.ModelIndex(
                        name=folder, state="UNAVAILABLE", reason="in the repository, not in the pipeline"
                    )
                )
        return service_pb2.RepositoryIndexResponse(models=index)

    @grpc_errors
    async def RepositoryModelLoad(
        self, request: service_pb2.RepositoryModelLoadRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.RepositoryModelLoadResponse:
        """Reloads the models from their files, as ReloadModels does: they load together, so
        loading any of them (or ``datalid``) reloads every one."""
        _repository(request.repository_name)
        model = self._model(request.model_name)
        names = [] if model.name == PIPELINE_MODEL else [model.name]
        await self._reload(admin_service_pb2.ReloadModelsRequest(names=names))
        return service_pb2.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(
        self, request: service_pb2.RepositoryModelUnloadRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.RepositoryModelUnloadResponse:
        message = "Datalid's models serve together and cannot be unloaded one by one; load reloads them"
        await abort_with(context, rich_status(grpc.StatusCode.FAILED_PRECONDITION, message))
        return service_pb2.RepositoryModelUnloadResponse()


def _repository(name: str) -> None:
    if name:
        raise ModelNotFound(f"there is one model repository, named ''; got {name!r}")


def _model_folders(root: Path) -> set[str]:
    try:
        return {path.parent.name for path in root.glob("*/config.yaml")}
    except OSError:
        return set()


def _check_names(tensors: list[Tensor], known: Sequence[str]) -> dict[str, int]:
    index = {tensor.name: i for i, tensor in enumerate(tensors)}
    for name, i in index.items():
        if name not in known:
            raise InvalidInput(
                f"inputs[{i}].name", f"no input is named {name!r}; the model takes {', '.join(known)}"
            )
    return index


def _check_text_rows(tensor: Tensor, field: str) -> None:
    if tensor.datatype != "BYTES":
        raise InvalidInput(f"{field}.datatype", f"{tensor.name} is BYTES, got {tensor.datatype}")
    if tensor.array.ndim != 1:
        raise InvalidInput(
            f"{field}.shape",
            f"{tensor.name} has one axis (one value per row), got {list(tensor.array.shape)}",
        )


def _utf8(value: bytes, field: str) -> str:
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{field} (reference_date)", "must be UTF-8 text YYYY-MM-DD") from None


def _requested(outputs: list[Tensor], request: service_pb2.ModelInferRequest) -> list[Tensor]:
    """The outputs the request names, in its order; all of them when it names none."""
    if not request.outputs:
        return outputs
    by_name = {output.name: output for output in outputs}
    chosen = []
    for i, wanted in enumerate(request.outputs):
        if "classification" in wanted.parameters:
            raise InvalidInput(f"outputs[{i}].parameters", "the classification extension is not offered")
        if wanted.name not in by_name:
            raise InvalidInput(
                f"outputs[{i}].name",
                f"no output is named {wanted.name!r}; the model gives {', '.join(by_name)}",
            )
        chosen.append(by_name[wanted.name])
    return chosen
