"""The models Datalid serves under the v2 protocol, described as Triton describes its own.

- ``datalid``: the whole pipeline, one encoded photo per row of ``image`` (BYTES, shape [-1]),
  an optional ``reference_date`` (BYTES "YYYY-MM-DD", one for all rows or one per row); out come
  per row the best date (``date``, "" when none), its ``kind`` (EXPIRY, MANUFACTURE, UNKNOWN, ""),
  ``confidence`` (FP32), ``is_expired`` (BOOL) and ``box`` (FP32 [-1, 4]: x1, y1, x2, y2 in the
  photo's pixels of the text line it was read from, zeros when none).
- Each ONNX model the pipeline runs (``date_detector``, ``ocr_det``, ``ocr_cls``, ``ocr_rec``,
  ``ocr_det_coder``), raw: its own input and output names, types and shapes, through its dynamic batcher.

Every model has one version, "1". ModelConfig answers with Triton's ``ModelConfig`` message
(``model_config.proto``): batching as the model's batcher is configured, platform
``onnxruntime_onnx`` for the ONNX models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tritonclient.grpc import model_config_pb2, service_pb2

from pipeline.batching import BatcherConfig
from pipeline.raw_tensors import TensorModel
from server.kserve.tensors import DATATYPES

__all__ = [
    "PIPELINE_MODEL",
    "VERSION",
    "ServedModel",
    "TensorSpec",
    "model_config",
    "model_metadata",
    "served_models",
]

PIPELINE_MODEL = "datalid"
VERSION = "1"
_ONNX_DATATYPE = {
    "tensor(float)": "FP32",
    "tensor(float16)": "FP16",
    "tensor(double)": "FP64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}
# model_config.proto's DataType names: TYPE_ + the v2 name, except BYTES, which is TYPE_STRING.
_CONFIG_TYPE = {name: f"TYPE_{'STRING' if name == 'BYTES' else name}" for name in DATATYPES}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, v2 datatype and full shape (batch axis included, -1 dynamic)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    optional: bool = False


@dataclass(frozen=True)
class ServedModel:
    """One v2 model.

    Attributes:
        name: the model's name in URLs and requests.
        platform: Triton's platform string.
        inputs, outputs: the tensors.
        batching: the model's batcher (None for ``datalid``, whose rows each run the pipeline).
        instances: how many executions may run at once.
        gpu: whether it runs on a GPU provider (Triton's KIND_GPU instance groups).
    """

    name: str
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batching: BatcherConfig | None
    instances: int
    gpu: bool = False


_PIPELINE_INPUTS = (
    TensorSpec("image", "BYTES", (-1,)),
    TensorSpec("reference_date", "BYTES", (-1,), optional=True),
)
_PIPELINE_OUTPUTS = (
    TensorSpec("date", "BYTES", (-1,)),
    TensorSpec("kind", "BYTES", (-1,)),
    TensorSpec("confidence", "FP32", (-1,)),
    TensorSpec("is_expired", "BOOL", (-1,)),
    TensorSpec("box", "FP32", (-1, 4)),
)


def _raw_model(model: TensorModel) -> ServedModel:
    info = model.info

    def specs(tensors: tuple) -> tuple[TensorSpec, ...]:
        return tuple(
            TensorSpec(t.name, _ONNX_DATATYPE.get(t.data_type, t.data_type), t.shape) for t in tensors
        )

    return ServedModel(
        name=info.name,
        platform="onnxruntime_onnx",
        inputs=specs(info.inputs),
        outputs=specs(info.outputs),
        batching=model.batching,
        instances=model.batching.instances,
        gpu=any(p.startswith(("CUDA", "Tensorrt")) for p in info.providers),
    )


def served_models(
    tensor_models: Mapping[str, TensorModel], pipeline_concurrency: int
) -> dict[str, ServedModel]:
    """``datalid`` first, then the pipeline's ONNX models in pipeline order, by name."""
    models = {
        PIPELINE_MODEL: ServedModel(
            name=PIPELINE_MODEL,
            platform="datalid_pipeline",
            inputs=_PIPELINE_INPUTS,
            outputs=_PIPELINE_OUTPUTS,
            batching=None,
            instances=pipeline_concurrency,
        )
    }
    for name, model in tensor_models.items():
        models[name] = _raw_model(model)
    return models


def model_metadata(model: ServedModel) -> service_pb2.ModelMetadataResponse:
    """ModelMetadata's answer: full shapes, batch axis included."""

    def tensors(specs: tuple[TensorSpec, ...]) -> list[service_pb2.ModelMetadataResponse.TensorMetadata]:
        return [
            service_pb2.ModelMetadataResponse.TensorMetadata(name=s.name, datatype=s.datatype, shape=s.shape)
            for s in specs
        ]

    return service_pb2.ModelMetadataResponse(
        name=model.name,
        versions=[VERSION],
        platform=model.platform,
        inputs=tensors(model.inputs),
        outputs=tensors(model.outputs),
    )


def model_config(model: ServedModel) -> model_config_pb2.ModelConfig:
    """Triton's configuration of ``model``. A batched model's dims leave out the batch axis (its
    ``max_batch_size`` says how long it may be); ``datalid`` states its row axis in the dims."""
    batched = model.batching is not None and all(s.shape and s.shape[0] == -1 for s in model.inputs)
    cut = 1 if batched else 0
    config = model_config_pb2.ModelConfig(
        name=model.name,
        platform=model.platform,
        backend="onnxruntime" if model.platform == "onnxruntime_onnx" else "",
        max_batch_size=model.batching.max_batch_size if batched and model.batching else 0,
    )
    for spec in model.inputs:
        config.input.add(
            name=spec.name,
            data_type=model_config_pb2.DataType.Value(_CONFIG_TYPE[spec.datatype]),
            dims=spec.shape[cut:],
            optional=spec.optional,
        )
    for spec in model.outputs:
        config.output.add(
            name=spec.name,
            data_type=model_config_pb2.DataType.Value(_CONFIG_TYPE[spec.datatype]),
            dims=spec.shape[cut:],
        )
    kind = (
        model_config_pb2.ModelInstanceGroup.KIND_GPU
        if model.gpu
        else model_config_pb2.ModelInstanceGroup.KIND_CPU
    )
    config.instance_group.add(name=model.name, count=model.instances, kind=kind)
    if model.batching is not None:
        batching = model.batching
        config.dynamic_batching.preferred_batch_size.extend(batching.preferred_batch_sizes)
        config.dynamic_batching.max_queue_delay_microseconds = batching.max_queue_delay_us
        config.dynamic_batching.default_queue_policy.max_queue_size = batching.max_queue_size
    config.version_policy.latest.num_versions = 1
    return config
