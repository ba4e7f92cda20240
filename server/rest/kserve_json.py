"""The v2 protocol's REST bodies: JSON (and binary) tensors to a gRPC ModelInferRequest, a
ModelInferResponse back to JSON (and binary), and messages as Triton's HTTP side writes them.

Sources: the Open Inference Protocol's REST API ("Tensor Data") and Triton's binary tensor data
extension: a JSON header, its length in ``Inference-Header-Content-Length``, then each binary
tensor's raw bytes in order (``parameters.binary_data_size``). Every error is an InvalidInput
naming the field; nothing here does I/O (``server/rest/kserve_gateway.py`` serves it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from tritonclient.grpc import service_pb2

from pipeline import InvalidInput
from server.errors import bounded
from server.kserve.tensors import (
    DATATYPES,
    MAX_DIM,
    MAX_RANK,
    bytes_array,
    deserialize_bytes,
    serialize_bytes,
)

__all__ = [
    "HEADER_LENGTH",
    "MAX_JSON_ELEMENTS",
    "InferCall",
    "infer_response_body",
    "json_object",
    "message_json",
    "parse_infer_request",
]

HEADER_LENGTH = "inference-header-content-length"


def _value_json(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_json(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return (
            field.enum_type.values_by_number[value].name
            if value in field.enum_type.values_by_number
            else value
        )
    if field.type == FieldDescriptor.TYPE_BYTES:
        return value.decode("utf-8", errors="replace")
    return value


def message_json(message: Message) -> dict[str, Any]:
    """A message as Triton's HTTP side writes it: proto field names, 64-bit integers as numbers
    (``json_format`` writes them as strings), enums by name, every scalar (zeros too: a count of
    0 is written), sub-messages and lists where set."""
    document: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            if value:
                value_field = field.message_type.fields_by_name["value"]
                document[field.name] = {key: _value_json(value_field, item) for key, item in value.items()}
        elif field.is_repeated:
            if value:
                document[field.name] = [_value_json(field, item) for item in value]
        elif field.type == FieldDescriptor.TYPE_MESSAGE or field.containing_oneof is not None:
            if message.HasField(field.name):
                document[field.name] = _value_json(field, value)
        else:
            document[field.name] = _value_json(field, value)
    return document


def _flat(data: Any, field: str) -> Iterator[Any]:
    stack = [iter(data if isinstance(data, list) else [data])]
    depth_limit = MAX_RANK + 1
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            if len(stack) >= depth_limit:
                raise InvalidInput(field, f"nests lists deeper than {MAX_RANK} axes")
            stack.append(iter(item))
        else:
            yield item


_END = object()


def _json_raw(data: Any, datatype: str, shape: tuple[int, ...], field: str) -> bytes:
    """A JSON tensor's ``data`` (flat or nested, row-major) as the raw bytes of gRPC's
    ``raw_input_contents``."""
    values = list(_flat(data, field))
    count = math.prod(shape)
    if len(values) != count:
        raise InvalidInput(field, f"holds {len(values)} values; shape {list(shape)} needs {count}")
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in values):
            raise InvalidInput(field, "BYTES data must be strings")
        try:
            encoded = [v.encode("utf-8") for v in values]
        except UnicodeEncodeError:
            raise InvalidInput(field, "BYTES data must be Unicode text (a lone surrogate is not)") from None
        return serialize_bytes(bytes_array(encoded))
    if datatype == "BOOL":
        if not all(isinstance(v, bool) for v in values):
            raise InvalidInput(field, "BOOL data must be true or false")
    elif not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise InvalidInput(field, f"{datatype} data must be numbers")
    dtype = DATATYPES[datatype]
    try:
        wide = np.asarray(values, dtype=np.float64 if dtype.kind in "fb" else object)
        with np.errstate(over="ignore", invalid="ignore"):
            array = wide.astype(dtype)
        if dtype.kind in "iu" and not all(int(a) == v for a, v in zip(array, values, strict=True)):
            raise OverflowError
        # 1e300 as FP16 would be inf: a value the type cannot hold, not an infinity sent.
        if dtype.kind == "f" and not np.isfinite(array).all():
            raise OverflowError
    except (OverflowError, ValueError, TypeError):
        raise InvalidInput(field, f"holds values outside {datatype}") from None
    return array.tobytes()


@dataclass(frozen=True)
class InferCall:
    """A REST inference request made gRPC: the request, and which outputs go back as binary."""

    request: service_pb2.ModelInferRequest
    binary_outputs: frozenset[str]
    all_binary: bool


def json_object(value: Any, field: str) -> dict[str, Any]:
    """``value`` if it is a JSON object; else InvalidInput naming ``field``."""
    if not isinstance(value, dict):
        raise InvalidInput(field, "must be a JSON object")
    return value


def _parameters(value: dict[str, Any], field: str) -> dict[str, Any]:
    return json_object(value.get("parameters", {}), f"{field}.parameters")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _flag(parameters: dict[str, Any], key: str, field: str) -> bool:
    value = parameters.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{field}.parameters.{key}", "must be true or false")
    return value


def _request_parameters(request: service_pb2.ModelInferRequest, parameters: dict[str, Any]) -> None:
    """The request's parameters but ``binary_data_output`` (the gateway's own), carried to the
    server as gRPC parameters, which it checks (``timeout``, ``sequence_id``, ...)."""
    for key, value in parameters.items():
        if key == "binary_data_output":
            continue
        target = request.parameters[key]
        if isinstance(value, bool):
            target.bool_param = value
        elif isinstance(value, int) and -(2**63) <= value < 2**63:
            target.int64_param = value
        elif isinstance(value, float):
            target.double_param = value
        elif isinstance(value, str):
            target.string_param = value
        else:
            raise InvalidInput(
                f"parameters.{bounded(key)}", "must be a boolean, an integer, a number or a string"
            )


def parse_infer_request(model: str, version: str, body: bytes, header_length: int | None) -> InferCall:
    """A v2 REST inference body (JSON, or a JSON header of ``header_length`` bytes followed by
    the binary tensors) as a gRPC ModelInferRequest with ``raw_input_contents``.

    Raises:
        InvalidInput: malformed JSON (NaN and Infinity included), a tensor without data, with both
            data and binary data, or with data its shape does not fill, binary data past the
            body's end or left over, shared memory, an output named twice; names the field.
    """
    if header_length is not None and not 0 < header_length <= len(body):
        raise InvalidInput(HEADER_LENGTH, f"must be 1 to the body's {len(body)} bytes, got {header_length}")
    header = body[:header_length] if header_length is not None else body
    binary = memoryview(body)[header_length:] if header_length is not None else memoryview(b"")
    try:
        document = json_object(json.loads(header, parse_constant=_reject_constant), "body")
    except (ValueError, RecursionError):
        raise InvalidInput("body", "is not JSON") from None
    request = service_pb2.ModelInferRequest(model_name=model, model_version=version)
    request_id = document.get("id", "")
    if not isinstance(request_id, str):
        raise InvalidInput("id", "must be a string")
    request.id = request_id
    request_parameters = _parameters(document, "body")
    all_binary = _flag(request_parameters, "binary_data_output", "body")
    _request_parameters(request, request_parameters)
    inputs = document.get("inputs")
    if not isinstance(inputs, list):
        raise InvalidInput("inputs", "must be a list of tensors")
    offset = 0
    for index, raw in enumerate(inputs):
        field = f"inputs[{index}]"
        tensor = json_object(raw, field)
        name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
        if not isinstance(name, str):
            raise InvalidInput(f"{field}.name", "must be a string")
        if not isinstance(datatype, str) or datatype not in DATATYPES:
            raise InvalidInput(
                f"{field}.datatype", f"must be one of {', '.join(DATATYPES)}, got {bounded(str(datatype))}"
            )
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_RANK
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_DIM for d in shape)
        ):
            raise InvalidInput(
                f"{field}.shape", f"must be a list of at most {MAX_RANK} lengths, 0 to {MAX_DIM}"
            )
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        parameters = _parameters(tensor, field)
        if "shared_memory_region" in parameters:
            raise InvalidInput(
                f"{field}.parameters.shared_memory_region", "shared memory is not offered; send data"
            )
        size = parameters.get("binary_data_size")
        if size is not None and "data" in tensor:
            raise InvalidInput(field, "has both data and parameters.binary_data_size; send one of them")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= len(binary) - offset:
                raise InvalidInput(
                    f"{field}.parameters.binary_data_size",
                    f"must be 0 to the {len(binary) - offset} binary bytes left",
                )
            request.raw_input_contents.append(bytes(binary[offset : offset + size]))
            offset += size
        elif "data" in tensor:
            request.raw_input_contents.append(
                _json_raw(tensor["data"], datatype, tuple(shape), f"{field}.data")
            )
        else:
            raise InvalidInput(field, "needs data or parameters.binary_data_size")
    if offset != len(binary):
        raise InvalidInput("body", f"has {len(binary) - offset} binary bytes no input claims")
    binary_outputs = set()
    outputs = document.get("outputs", [])
    if not isinstance(outputs, list):
        raise InvalidInput("outputs", "must be a list")
    named: set[str] = set()
    for index, raw in enumerate(outputs):
        field = f"outputs[{index}]"
        wanted = json_object(raw, field)
        name = wanted.get("name")
        if not isinstance(name, str):
            raise InvalidInput(f"{field}.name", "must be a string")
        if name in named:
            raise InvalidInput(f"{field}.name", f"{bounded(name)!r} is asked for twice")
        named.add(name)
        request.outputs.add(name=name)
        parameters = _parameters(wanted, field)
        if "classification" in parameters:
            raise InvalidInput(f"{field}.parameters", "the classification extension is not offered")
        if _flag(parameters, "binary_data", field):
            binary_outputs.add(name)
    return InferCall(request, frozenset(binary_outputs), all_binary)


# Elements an answer writes as JSON at most: a Python float and its text per element (about 60
# bytes of the gateway's memory each); larger outputs go as binary data, as a caller can ask.
MAX_JSON_ELEMENTS = 1 << 20


def infer_response_body(
    call: InferCall, response: service_pb2.ModelInferResponse
) -> tuple[bytes, int | None]:
    """The REST body of a gRPC inference response, and its JSON header's length when binary
    outputs follow it (None for a JSON-only body).

    Raises:
        InvalidInput: outputs to write as JSON that are larger than ``MAX_JSON_ELEMENTS`` together,
            or hold NaN or infinities, which JSON cannot carry (binary data can).
    """
    outputs = []
    blobs = []
    json_elements = 0
    for output, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": output.datatype,
            "shape": list(output.shape),
        }
        if call.all_binary or output.name in call.binary_outputs:
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
            outputs.append(entry)
            continue
        json_elements += math.prod(output.shape)
        if json_elements > MAX_JSON_ELEMENTS:
            raise InvalidInput(
                "outputs",
                f"more than {MAX_JSON_ELEMENTS} values to write as JSON; "
                'ask for them as binary data ({"parameters": {"binary_data": true}})',
            )
        if output.datatype == "BYTES":
            values = deserialize_bytes(raw, math.prod(output.shape), output.name)
            entry["data"] = [bytes(v).decode("utf-8", errors="replace") for v in values]
        else:
            array = np.frombuffer(raw, dtype=DATATYPES[output.datatype])
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise InvalidInput(
                    "outputs",
                    f"{bounded(output.name)} holds NaN or infinities, which JSON cannot carry; "
                    "ask for binary data",
                )
            entry["data"] = array.tolist()
        outputs.append(entry)
    document = {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "outputs": outputs,
    }
    if response.id:
        document["id"] = response.id
    header = json.dumps(document, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)
