"""Hostile v2 (KServe / Triton) requests against the capped server: shapes that claim more than
they carry, tensors the models cannot take, answers larger than a message. Each is refused with
INVALID_ARGUMENT naming the field, and the server keeps serving."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2, service_pb2_grpc

from tests.conftest import bad_request_fields
from tests.hostile.conftest import assert_still_serving

pytestmark = pytest.mark.slow


def _request(
    model: str, name: str, datatype: str, shape: list[int], raw: bytes
) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name=name, datatype=datatype, shape=shape)
    request.raw_input_contents.append(raw)
    return request


CASES = [
    # A shape of 2^62 photos with four bytes behind it.
    ("huge BYTES shape", _request("datalid", "image", "BYTES", [2**62], b"\0\0\0\0"), "inputs[0].shape"),
    # More photos than the bytes behind them hold.
    ("BYTES short", _request("datalid", "image", "BYTES", [1000], b"\0\0\0\0"), "raw_input_contents[0]"),
    # No elements, but an axis numpy cannot size.
    ("empty, huge axis", _request("date_detector", "images", "FP32", [0, 2**63 - 1], b""), "inputs[0].shape"),
    # A product that overflows any fixed-width integer.
    (
        "huge product",
        _request("date_detector", "images", "FP32", [2**62, 2**62, 3, 320], b""),
        "inputs[0].shape",
    ),
    ("nine axes", _request("date_detector", "images", "FP32", [1] * 9, b"\0\0\0\0"), "inputs[0].shape"),
    (
        "a negative axis",
        _request("date_detector", "images", "FP32", [-1, 3, 320, 320], b""),
        "inputs[0].shape",
    ),
    # A dynamic axis past what any convolution here should be asked for.
    (
        "a text detector input 8192 wide",
        _request("ocr_det", "x", "FP32", [1, 3, 32, 8192], np.zeros((1, 3, 32, 8192), np.float32).tobytes()),
        "inputs[0]",
    ),
    # Zero rows.
    ("no rows", _request("date_detector", "images", "FP32", [0, 3, 320, 320], b""), "inputs[0]"),
    # 64 photos' worth of rows, each an empty string.
    ("empty photos", _request("datalid", "image", "BYTES", [3], b"\0\0\0\0" * 3), "inputs[0] (image row 0)"),
    # A recogniser input whose probabilities (4000 wide: 500 steps x 18,710 classes x 4 bytes, 37 MB)
    # would not fit a response: refused before it runs, from the model's output-to-input ratio.
    (
        "an answer over the message limit",
        _request("ocr_rec", "x", "FP32", [1, 3, 48, 4000], np.zeros((1, 3, 48, 4000), np.float32).tobytes()),
        "inputs[0]",
    ),
]


@pytest.mark.parametrize(("name", "request_", "field"), CASES, ids=[c[0] for c in CASES])
def test_hostile_v2_requests_are_invalid_argument(
    hostile_channel: grpc.Channel, name, request_, field
) -> None:
    stub = service_pb2_grpc.GRPCInferenceServiceStub(hostile_channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request_, timeout=120)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, caught.value.details())
    assert bad_request_fields(caught.value) == [field], name
    assert len(caught.value.details()) <= 300
    assert_still_serving(hostile_channel)


def test_a_stream_of_bad_requests_ends_cleanly(hostile_channel: grpc.Channel) -> None:
    stub = service_pb2_grpc.GRPCInferenceServiceStub(hostile_channel)
    requests = []
    for index in range(15):
        request = service_pb2.ModelInferRequest()
        request.CopyFrom(CASES[index % 4][1])
        request.id = f"bad-{index}"
        requests.append(request)
    answers = list(stub.ModelStreamInfer(iter(requests), timeout=120))
    assert len(answers) == len(requests)
    assert all(answer.error_message for answer in answers)
    # Each error names its request, as Triton's do: the caller knows which one failed.
    assert [answer.infer_response.id for answer in answers] == [r.id for r in requests]
    assert_still_serving(hostile_channel)
