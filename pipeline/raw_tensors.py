"""A caller's own tensor through one model's batcher: a model served raw, as Triton serves it.

The pipeline's batchers take items of ``(array, key)``; a :class:`RawRow` is such an item that asks
for the model's own output for its row, not what the pipeline makes of it (the recogniser's
batcher decodes text, the text detector's keeps the batch axis). Raw rows share batches with the
pipeline's items of the same shape, wait in the same bounded queue, and count in the same
statistics: the model is one, whoever calls it.

A tensor is checked against what the ONNX file declares before it is queued, so that a wrong
shape or type is the caller's INVALID_ARGUMENT, never a failed batch that takes other callers'
items down with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from pipeline.batching import BatcherConfig
from pipeline.errors import InvalidInput
from pipeline.executor import Key
from pipeline.runtime import OnnxModel
from pipeline.types import ModelInfo, TensorInfo

__all__ = [
    "MAX_DYNAMIC_DIM",
    "NUMPY_DTYPES",
    "RawRow",
    "TensorModel",
    "check_batch",
    "check_output_size",
    "output_ratio",
]

# ONNX Runtime's type names (``NodeArg.type``) for the types a served model may take or give.
NUMPY_DTYPES: dict[str, np.dtype] = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(float16)": np.dtype(np.float16),
    "tensor(double)": np.dtype(np.float64),
    "tensor(int8)": np.dtype(np.int8),
    "tensor(int16)": np.dtype(np.int16),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(uint8)": np.dtype(np.uint8),
    "tensor(uint16)": np.dtype(np.uint16),
    "tensor(uint32)": np.dtype(np.uint32),
    "tensor(uint64)": np.dtype(np.uint64),
    "tensor(bool)": np.dtype(np.bool_),
}
# A dynamic axis of a caller's tensor is at most this long: far past any photo side the pipeline
# feeds (4 MP at most, pipeline/ocr.py), and it keeps a 1 x 3 x 1 x N tensor from asking a
# convolution for gigabytes of activations.
MAX_DYNAMIC_DIM = 4096


@dataclass(frozen=True, slots=True)
class TensorModel:
    """A model served raw: what its ONNX file declares, how its batcher batches, and its output
    elements per input element (None when it could not be measured)."""

    info: ModelInfo
    batching: BatcherConfig
    output_ratio: float | None = None


class RawRow(NamedTuple):
    """One row of a caller's batch, queued for a model's own output (no post-processing)."""

    array: np.ndarray
    key: Key


def check_batch(info: TensorInfo, batch: np.ndarray, max_batch_size: int, field: str) -> None:
    """Checks a caller's batch for a model input before any of it is queued.

    Args:
        info: the input as the ONNX file declares it (dynamic axes -1; the first is the batch).
        batch: the caller's tensor, batch axis first.
        max_batch_size: the most rows the model's batcher runs at once (its configuration).
        field: how the caller's API names the tensor, for the error.

    Raises:
        InvalidInput: wrong type or rank, a fixed axis of another length, no rows or more than
            ``max_batch_size``, or a dynamic axis outside 1..``MAX_DYNAMIC_DIM``; names ``field``.
    """
    expected = NUMPY_DTYPES.get(info.data_type)
    if expected is None or batch.dtype != expected:
        wanted = expected.name if expected is not None else info.data_type
        raise InvalidInput(field, f"{info.name} takes {wanted}, got {batch.dtype.name}")
    if batch.ndim != len(info.shape):
        raise InvalidInput(field, f"{info.name} takes shape {_shown(info.shape)}, got {list(batch.shape)}")
    rows = batch.shape[0]
    if not 1 <= rows <= max_batch_size:
        raise InvalidInput(field, f"a batch of {info.name} holds 1 to {max_batch_size} rows, got {rows}")
    for axis, (declared, got) in enumerate(zip(info.shape[1:], batch.shape[1:], strict=True), start=1):
        if declared >= 0 and got != declared:
            raise InvalidInput(
                field, f"{info.name} takes shape {_shown(info.shape)}, got {list(batch.shape)} (axis {axis})"
            )
        if declared < 0 and not 1 <= got <= MAX_DYNAMIC_DIM:
            raise InvalidInput(field, f"axis {axis} of {info.name} must be 1 to {MAX_DYNAMIC_DIM}, got {got}")
    if math.prod(batch.shape) == 0:
        raise InvalidInput(field, f"{info.name} is empty")


def _shown(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


# A probe input's dynamic axes: small, and a multiple of every stride the models here have (DB's
# 32, the recogniser's 8), so that every model takes it.
_PROBE_DIM = 32


def output_ratio(model: OnnxModel) -> float | None:
    """The model's output elements per input element, measured on one small input (batch 1,
    dynamic axes ``_PROBE_DIM``); None if the model does not take that input.

    With the smallest input the ratio is at its largest for outputs of a fixed size per row (a
    classifier's two scores) and the same for outputs that grow with the input (a recogniser's
    steps, a detector's map): an upper estimate of what a larger input gives, as a bound wants.
    """
    (declared,) = model.info().inputs
    dtype = NUMPY_DTYPES.get(declared.data_type)
    if dtype is None:
        return None
    shape = tuple(1 if axis == 0 else (_PROBE_DIM if d < 0 else d) for axis, d in enumerate(declared.shape))
    try:
        output = model.run_single_input(np.zeros(shape, dtype=dtype))
    except Exception:  # a model that refuses the probe gets no bound before running
        return None
    return output.size / max(1, math.prod(shape))


def check_output_size(
    model: TensorModel, batch: np.ndarray, max_output_bytes: int | None, field: str
) -> None:
    """Refuses a batch whose output would pass ``max_output_bytes``, estimated from the model's
    :func:`output_ratio`, before it is queued (a recogniser's 4 x 3 x 48 x 4096 input would give
    153 MB of probabilities).

    Raises:
        InvalidInput: naming ``field``, with the estimate and the bound.
    """
    if max_output_bytes is None or model.output_ratio is None:
        return
    itemsize = NUMPY_DTYPES.get(model.info.outputs[0].data_type, np.dtype(np.float32)).itemsize
    estimate = int(batch.size * model.output_ratio * itemsize)
    if estimate > max_output_bytes:
        raise InvalidInput(
            field,
            f"{model.info.name}'s output would be about {estimate} bytes, over the {max_output_bytes} "
            "an answer may carry; send fewer rows or a smaller tensor",
        )
