"""KServe v2 tensors to numpy and back: the datatypes, the typed ``contents`` fields, the raw bytes.

A v2 request carries each input either in its ``contents`` (one repeated field per type) or as
the matching entry of ``raw_input_contents`` (little-endian bytes, row-major; BYTES elements each
prefixed by their length as a 4-byte little-endian integer). Responses always use
``raw_output_contents``, as Triton does, which every Triton client reads.
Source: the Open Inference Protocol (kserve/open-inference-protocol, "Tensor Data") and Triton's
``grpc_service.proto`` (the ``tritonclient`` wheel ships it compiled).

Every error is an InvalidInput naming the field (``inputs[1].shape``, ``raw_input_contents[0]``).
Sizes are bounded by the gRPC message limit the request already passed; shapes are checked
against the bytes before any array is built.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import service_pb2

from pipeline import InvalidInput

__all__ = [
    "DATATYPES",
    "MAX_DIM",
    "MAX_RANK",
    "Tensor",
    "bytes_array",
    "datatype_of",
    "decode_inputs",
    "deserialize_bytes",
    "encode_outputs",
    "serialize_bytes",
]

# v2 datatype name -> numpy dtype (little-endian); BYTES elements are Python bytes in object arrays.
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
# The typed field of InferTensorContents for each datatype (FP16 has none: raw bytes only).
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
# Axes a tensor may have: Triton allows more, no model here has more than 4.
MAX_RANK = 8
# The longest axis, and the most elements of a tensor (its non-zero axes multiplied): far past what
# a message can carry (16 MiB: 4 Mi elements at most), and small enough that an empty tensor with
# one huge axis (0 x 2^63) never reaches numpy, which cannot size it.
MAX_DIM = 2**31 - 1
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class Tensor:
    """One named tensor of a request or a response.

    Attributes:
        name: as the model's metadata names it.
        datatype: a key of ``DATATYPES``.
        array: its values; BYTES as an object array of ``bytes``.
    """

    name: str
    datatype: str
    array: np.ndarray


def datatype_of(array: np.ndarray) -> str:
    """The v2 datatype of a numpy array (object arrays are BYTES).

    Raises:
        ValueError: numpy types v2 has no name for (complex, datetime).
    """
    if array.dtype.kind == "O":
        return "BYTES"
    for name, dtype in DATATYPES.items():
        if dtype.kind != "O" and array.dtype.newbyteorder("<") == dtype:
            return name
    raise ValueError(f"no v2 datatype for numpy {array.dtype}")


def bytes_array(values: Sequence[bytes]) -> np.ndarray:
    """A one-axis object array of ``values`` (BYTES elements), whatever their lengths."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def deserialize_bytes(raw: bytes, count: int, field: str) -> np.ndarray:
    """``count`` length-prefixed BYTES elements of ``raw`` as an object array.

    Raises:
        InvalidInput: a length runs past the end, or bytes are left over; names ``field``.
    """
    values: list[bytes] = []
    view = memoryview(raw)
    offset = 0
    for index in range(count):
        if offset + 4 > len(view):
            raise InvalidInput(field, f"holds {index} BYTES elements, the shape says {count}")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise InvalidInput(field, f"element {index} claims {length} bytes, {len(view) - offset} remain")
        values.append(bytes(view[offset : offset + length]))
        offset += length
    if offset != len(view):
        raise InvalidInput(field, f"has {len(view) - offset} bytes after its {count} BYTES elements")
    return bytes_array(values)


def serialize_bytes(array: np.ndarray) -> bytes:
    """An object array of ``bytes`` (or ``str``, sent as UTF-8) as length-prefixed elements."""
    parts: list[bytes] = []
    for value in array.reshape(-1):
        data = value.encode() if isinstance(value, str) else bytes(value)
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def _shape(tensor: service_pb2.ModelInferRequest.InferInputTensor, field: str) -> tuple[int, ...]:
    shape = tuple(tensor.shape)
    if len(shape) > MAX_RANK:
        raise InvalidInput(f"{field}.shape", f"has {len(shape)} axes, at most {MAX_RANK}")
    if any(d < 0 for d in shape):
        raise InvalidInput(f"{field}.shape", f"must hold lengths >= 0, got {list(shape)}")
    if math.prod(d for d in shape if d) > MAX_DIM:
        raise InvalidInput(f"{field}.shape", f"{list(shape)} holds more than {MAX_DIM} elements")
    return shape


def _from_raw(raw: bytes, datatype: str, shape: tuple[int, ...], field: str) -> np.ndarray:
    count = math.prod(shape)
    if datatype == "BYTES":
        return deserialize_bytes(raw, count, field).reshape(shape)
    dtype = DATATYPES[datatype]
    if len(raw) != count * dtype.itemsize:
        raise InvalidInput(
            field, f"holds {len(raw)} bytes; shape {list(shape)} of {datatype} needs {count * dtype.itemsize}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _from_contents(
    tensor: service_pb2.ModelInferRequest.InferInputTensor, shape: tuple[int, ...], field: str
) -> np.ndarray:
    datatype = tensor.datatype
    name = _CONTENTS_FIELD.get(datatype)
    if name is None:
        raise InvalidInput(f"{field}.contents", f"{datatype} travels in raw_input_contents only")
    values = getattr(tensor.contents, name)
    count = math.prod(shape)
    if len(values) != count:
        raise InvalidInput(
            f"{field}.contents.{name}", f"holds {len(values)} values; shape {list(shape)} needs {count}"
        )
    if datatype == "BYTES":
        return bytes_array(list(values)).reshape(shape)
    dtype = DATATYPES[datatype]
    try:
        # Checked: an int_contents value of 300 for INT8 is the caller's error, not a wrapped 44.
        wide = np.asarray(values, dtype=np.float64 if dtype.kind == "f" else None)
        array = wide.astype(dtype)
        if dtype.kind in "iu" and not np.array_equal(array, wide):
            raise OverflowError
    except (OverflowError, ValueError):
        raise InvalidInput(f"{field}.contents.{name}", f"holds values outside {datatype}") from None
    return array.reshape(shape)


def decode_inputs(request: service_pb2.ModelInferRequest) -> list[Tensor]:
    """The request's input tensors, in request order.

    Raises:
        InvalidInput: an unknown datatype, a repeated name, a shape its data does not fill,
            ``raw_input_contents`` not one entry per input, or data in both places.
    """
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(
            "raw_input_contents", f"holds {len(raw)} entries for {len(request.inputs)} inputs; one per input"
        )
    tensors: list[Tensor] = []
    seen: set[str] = set()
    for index, tensor in enumerate(request.inputs):
        field = f"inputs[{index}]"
        if tensor.name in seen:
            raise InvalidInput(f"{field}.name", f"{tensor.name!r} is given twice")
        seen.add(tensor.name)
        if tensor.datatype not in DATATYPES:
            raise InvalidInput(
                f"{field}.datatype", f"must be one of {', '.join(DATATYPES)}, got {tensor.datatype!r}"
            )
        shape = _shape(tensor, field)
        if raw:
            if tensor.HasField("contents"):
                raise InvalidInput(f"{field}.contents", "must be empty when raw_input_contents is used")
            array = _from_raw(raw[index], tensor.datatype, shape, f"raw_input_contents[{index}]")
        else:
            array = _from_contents(tensor, shape, field)
        tensors.append(Tensor(tensor.name, tensor.datatype, array))
    return tensors


def encode_outputs(response: service_pb2.ModelInferResponse, outputs: Sequence[Tensor]) -> None:
    """Appends ``outputs`` to ``response`` as tensors with their ``raw_output_contents``."""
    for output in outputs:
        response.outputs.add(name=output.name, datatype=output.datatype, shape=output.array.shape)
        if output.datatype == "BYTES":
            response.raw_output_contents.append(serialize_bytes(output.array))
        else:
            array = output.array.astype(DATATYPES[output.datatype], copy=False)
            response.raw_output_contents.append(np.ascontiguousarray(array).tobytes())
