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
from typing import Any

import grpc
import numpy as np
from tritonclient.grpc import service_pb2, service_pb2_grpc

from datalid.v1 import admin_service_pb2, types_pb2
from pipeline import InvalidInput, Overloaded, Pipeline, Priority, ProcessOptions, ProcessResult
from pipeline.pipeline import all_or_cancel
from pipeline.repository import DEFAULT_REPOSITORY
from server import __version__, convert
from server.api.calls import deadline_of, priority_of
from server.config import ServerConfig
from server.errors import (
    MAX_ECHO_CHARS,
    ModelNotFound,
    abort_with,
    grpc_errors,
    rich_status,
    status_of_exception,
)
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
from server.kserve.tensors import Tensor, bytes_array, decode_inputs, encode_outputs

__all__ = ["EXTENSIONS", "SERVICE_NAME", "InferenceService", "no_load_parameters"]

SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
# What ServerMetadata says is supported, in Triton's extension names.
EXTENSIONS = ("model_repository", "model_configuration", "statistics", "binary_tensor_data")
# Requests of one ModelStreamInfer stream run at once; their responses go out in request order.
_STREAM_IN_FLIGHT = 4
# Of a response's bytes, what its names, shapes and framing may take beside the tensors.
_RESPONSE_MARGIN_BYTES = 64 * 1024
_KIND_NAMES = {"expiry": "EXPIRY", "manufacture": "MANUFACTURE", "unknown": "UNKNOWN"}

Reload = Callable[[admin_service_pb2.ReloadModelsRequest], Awaitable[None]]


async def _rate_limited(wait_s: float) -> service_pb2.ModelInferResponse:
    raise Overloaded(f"rate limit: retry in {wait_s:.2f} s", retry_after_s=wait_s)


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Marks a stream's task's exception as seen: a request's error goes in-band, a reader's is
    the call's status, and both are dropped with a call that ends first (never a log line of an
    unretrieved exception)."""
    if not task.cancelled():
        task.exception()


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

    return [
        Tensor("date", "BYTES", bytes_array(dates)),
        Tensor("kind", "BYTES", bytes_array(kinds)),
        Tensor("confidence", "FP32", np.asarray(confidences, dtype=np.float32)),
        Tensor("is_expired", "BOOL", np.asarray(expired, dtype=np.bool_)),
        Tensor("box", "FP32", np.asarray(boxes, dtype=np.float32).reshape(-1, 4)),
    ]


def _not_offered(what: str) -> Callable[..., Awaitable[None]]:
    """A servicer method answering UNIMPLEMENTED, saying what is not offered (the generated
    base class's answer logs a traceback for every call)."""

    async def method(self: object, request: object, context: grpc.aio.ServicerContext) -> None:
        message = f"{what} is not offered by Datalid (README: Triton and KServe clients)"
        await abort_with(context, rich_status(grpc.StatusCode.UNIMPLEMENTED, message))

    return method


class InferenceService(service_pb2_grpc.GRPCInferenceServiceServicer):
    """Serves the v2 protocol from the pipeline ``host`` holds.

    Args:
        host: the loaded pipeline.
        config: limits (rows per request: ``batch_max_items``), the model repository.
        ledger: counts requests per model (ModelStatistics, the ``nv_inference_*`` metrics).
        reload: what RepositoryModelLoad does (AdminService's reload).
        today: the server's date, the default reference for ``is_expired`` (injected in tests).
        limit: takes a rate-limit token for a call's caller; 0.0 when granted, else the seconds
            until one is there (None: no rate limit).
    """

    # Callers are on other machines; tracing and logs have Datalid's own settings.
    SystemSharedMemoryStatus = _not_offered("system shared memory")
    SystemSharedMemoryRegister = _not_offered("system shared memory")
    SystemSharedMemoryUnregister = _not_offered("system shared memory")
    CudaSharedMemoryStatus = _not_offered("CUDA shared memory")
    CudaSharedMemoryRegister = _not_offered("CUDA shared memory")
    CudaSharedMemoryUnregister = _not_offered("CUDA shared memory")
    TraceSetting = _not_offered("TraceSetting (tracing is set at start: --tracing)")
    LogSettings = _not_offered("LogSettings (logging is configured at start)")

    def __init__(
        self,
        host: PipelineHost,
        config: ServerConfig,
        ledger: InferenceLedger,
        reload: Reload,
        today: Callable[[], dt.date] = dt.date.today,
        limit: Callable[[grpc.aio.ServicerContext], float] | None = None,
    ) -> None:
        self._limit = limit
        self._host = host
        self._config = config
        self._ledger = ledger
        self._reload = reload
        self._today = today
        self._catalogue: tuple[Pipeline, dict[str, ServedModel]] | None = None

    @property
    def _max_answer_bytes(self) -> int:
        """The tensors' bytes an answer may carry: the message limit, less room for the rest of
        the message (names, shapes)."""
        return self._config.max_message_bytes - _RESPONSE_MARGIN_BYTES

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
        counters = model_counters(self._ledger, names, self._host.model_stats())
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
        Pending = tuple[service_pb2.ModelInferRequest, asyncio.Task[service_pb2.ModelInferResponse]]
        running: asyncio.Queue[Pending | None] = asyncio.Queue(maxsize=_STREAM_IN_FLIGHT)

        async def read() -> None:
            try:
                first = True
                async for request in request_iterator:
                    # The call took the first request's token; each further one takes its own.
                    wait_s = 0.0 if first or self._limit is None else self._limit(context)
                    first = False
                    work = self.infer(request, deadline, priority) if wait_s <= 0 else _rate_limited(wait_s)
                    task = asyncio.ensure_future(work)
                    task.add_done_callback(_retrieved)
                    await running.put((request, task))
            finally:
                await running.put(None)

        reader = asyncio.ensure_future(read())
        reader.add_done_callback(_retrieved)
        try:
            while (pending := await running.get()) is not None:
                request, task = pending
                try:
                    yield service_pb2.ModelStreamInferResponse(infer_response=await task)
                except Exception as exc:  # the request's error goes in-band, as Triton sends it
                    status = status_of_exception(exc)
                    # With the request's id and model, so that the caller knows which one failed.
                    failed = service_pb2.ModelInferResponse(
                        model_name=request.model_name[:MAX_ECHO_CHARS],
                        model_version=request.model_version[:MAX_ECHO_CHARS],
                        id=request.id[:MAX_ECHO_CHARS],
                    )
                    yield service_pb2.ModelStreamInferResponse(
                        error_message=status.message, infer_response=failed
                    )
            await reader
        finally:
            reader.cancel()
            while not running.empty():
                leftover = running.get_nowait()
                if leftover is not None:
                    leftover[1].cancel()

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
            deadline = _request_deadline(request, deadline)
            # What can be refused from the request alone is, before any tensor is decoded.
            _check_request(model, request)
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
        limit = self._max_answer_bytes
        if size > limit:
            raise InvalidInput(
                "inputs",
                f"the outputs would be {size} bytes, over the {limit} a response may carry; "
                "send fewer rows or smaller tensors",
            )

    async def _read_photos(
        self, tensors: list[Tensor], deadline: float | None, priority: Priority
    ) -> list[ProcessResult]:
        # The names were checked before decoding (_check_request), and none is given twice.
        index = {tensor.name: i for i, tensor in enumerate(tensors)}
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

        # A few photos at a time, as ProcessBatch reads its items: all at once, 64 photos would
        # pass the pipeline's pending-image limit (4 per thread) on an idle server.
        slots = asyncio.Semaphore(self._config.batch_concurrency)

        async def read_in_turn(row: int) -> ProcessResult:
            async with slots:
                return await read(row)

        return await all_or_cancel([read_in_turn(row) for row in range(rows)])

    def _row_options(self, tensors: list[Tensor], index: dict[str, int], rows: int) -> list[ProcessOptions]:
        """Each row's options: its reference date (one for all rows, or one per row) or today."""
        if "reference_date" not in index:
            return [self._options("", "")] * rows
        tensor = tensors[index["reference_date"]]
        field = f"inputs[{index['reference_date']}]"
        _check_text_rows(tensor, field)
        given = tensor.array.shape[0]
        if given not in (1, rows):
            wanted = "1 date" if rows == 1 else f"1 date (for every photo) or {rows} (one per photo)"
            raise InvalidInput(f"{field}.shape", f"reference_date holds {wanted}, got {given}")

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
        index = {tensor.name: i for i, tensor in enumerate(tensors)}
        if spec.name not in index:
            raise InvalidInput("inputs", f"{model.name} needs the input {spec.name!r} ({spec.datatype})")
        tensor = tensors[index[spec.name]]
        field = f"inputs[{index[spec.name]}]"
        if tensor.datatype != spec.datatype:
            raise InvalidInput(f"{field}.datatype", f"{spec.name} is {spec.datatype}, got {tensor.datatype}")
        output = await self._host.pipeline.ainfer(
            model.name,
            tensor.array,
            field=field,
            deadline=deadline,
            priority=priority,
            max_output_bytes=self._max_answer_bytes,
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
        no_load_parameters(request)
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


def no_load_parameters(request: service_pb2.RepositoryModelLoadRequest) -> None:
    """A load takes its configuration and files from the repository, never from the request.

    Raises:
        InvalidInput: the request carries parameters (a config override, files), naming one.
    """
    for key in request.parameters:
        raise InvalidInput(
            f"parameters.{key[:MAX_ECHO_CHARS]}",
            "a load reads the models' files and settings from the repository; it takes no parameters",
        )


# Request parameters of Triton's that ask for what Datalid does not offer (sequence batching).
_SEQUENCE_PARAMETERS = ("sequence_id", "sequence_start", "sequence_end")


def _request_deadline(request: service_pb2.ModelInferRequest, deadline: float | None) -> float | None:
    """The call's deadline, or the request's ``timeout`` parameter (microseconds, Triton's) if
    sooner.

    Raises:
        InvalidInput: a ``timeout`` that is not a positive integer.
    """
    if "timeout" not in request.parameters:
        return deadline
    parameter = request.parameters["timeout"]
    if parameter.WhichOneof("parameter_choice") not in ("int64_param", "uint64_param"):
        raise InvalidInput("parameters.timeout", "must be an integer number of microseconds")
    micros = parameter.int64_param or parameter.uint64_param
    if micros == 0:  # Triton's "no timeout"
        return deadline
    if micros < 0:
        raise InvalidInput("parameters.timeout", f"must be >= 0 microseconds, got {micros}")
    mine = time.monotonic() + micros / 1e6
    return mine if deadline is None else min(deadline, mine)


def _check_request(model: ServedModel, request: service_pb2.ModelInferRequest) -> None:
    """What can be refused before any tensor is decoded or any model runs: sequence requests,
    shared memory, inputs and outputs the model does not have, an output asked for twice.

    Raises:
        InvalidInput: naming the field.
    """
    for key in _SEQUENCE_PARAMETERS:
        if key in request.parameters:
            raise InvalidInput(f"parameters.{key}", "sequence batching is not offered")
    known_inputs = [spec.name for spec in model.inputs]
    if len(request.inputs) > len(known_inputs):
        raise InvalidInput(
            "inputs", f"{model.name} takes {len(known_inputs)} inputs, got {len(request.inputs)}"
        )
    for index, tensor in enumerate(request.inputs):
        if "shared_memory_region" in tensor.parameters:
            raise InvalidInput(
                f"inputs[{index}].parameters.shared_memory_region",
                "shared memory is not offered; send contents",
            )
        if tensor.name not in known_inputs:
            raise InvalidInput(
                f"inputs[{index}].name",
                f"no input is named {tensor.name[:MAX_ECHO_CHARS]!r}; "
                f"the model takes {', '.join(known_inputs)}",
            )
    known_outputs = [spec.name for spec in model.outputs]
    asked: set[str] = set()
    for index, wanted in enumerate(request.outputs):
        if "classification" in wanted.parameters:
            raise InvalidInput(f"outputs[{index}].parameters", "the classification extension is not offered")
        if wanted.name not in known_outputs:
            raise InvalidInput(
                f"outputs[{index}].name",
                f"no output is named {wanted.name[:MAX_ECHO_CHARS]!r}; "
                f"the model gives {', '.join(known_outputs)}",
            )
        if wanted.name in asked:
            raise InvalidInput(
                f"outputs[{index}].name", f"{wanted.name[:MAX_ECHO_CHARS]!r} is asked for twice"
            )
        asked.add(wanted.name)


def _repository(name: str) -> None:
    if name:
        raise ModelNotFound(f"there is one model repository, named ''; got {name!r}")


def _model_folders(root: Path) -> set[str]:
    try:
        return {path.parent.name for path in root.glob("*/config.yaml")}
    except OSError:
        return set()


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
    """The outputs the request names (checked by ``_check_request``), in its order; all of them
    when it names none."""
    if not request.outputs:
        return outputs
    by_name = {output.name: output for output in outputs}
    return [by_name[wanted.name] for wanted in request.outputs]
