"""The KServe v2 / Triton protocol over gRPC, driven by Triton's own client (tritonclient.grpc)
against a real server subprocess with the real models."""

from __future__ import annotations

import os
import queue
import re
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from pipeline.synth import render_label
from tests.conftest import REPO_ROOT, ServerProcess, bad_request_fields

pytestmark = pytest.mark.slow

_DATASET = Path(
    os.environ.get("DATALID_LABEL_DATASET", REPO_ROOT.parent / "shared/datasets/label-recognition")
)
_METRICS = re.compile(r"metrics on http://(\S+):(\d+)/metrics")


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(server.target)


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> service_pb2_grpc.GRPCInferenceServiceStub:
    return service_pb2_grpc.GRPCInferenceServiceStub(channel)


def _bytes_input(name: str, values: list[bytes]) -> triton.InferInput:
    tensor = triton.InferInput(name, [len(values)], "BYTES")
    tensor.set_data_from_numpy(np.array(values, dtype=object))
    return tensor


def _fp32_input(name: str, array: np.ndarray) -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), "FP32")
    tensor.set_data_from_numpy(array)
    return tensor


def _status(error: InferenceServerException) -> str:
    return str(error.status())


def test_health_and_server_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("datalid")
    assert client.is_model_ready("date_detector", "1")
    assert not client.is_model_ready("no_such_model")
    assert not client.is_model_ready("datalid", "2")
    metadata = client.get_server_metadata(as_json=True)
    assert metadata["name"] == "datalid"
    assert {"model_repository", "statistics", "model_configuration"} <= set(metadata["extensions"])


def test_model_metadata_states_the_real_tensors(client: triton.InferenceServerClient) -> None:
    pipeline = client.get_model_metadata("datalid", as_json=True)
    assert [(t["name"], t["datatype"], t["shape"]) for t in pipeline["inputs"]] == [
        ("image", "BYTES", ["-1"]),
        ("reference_date", "BYTES", ["-1"]),
    ]
    assert [t["name"] for t in pipeline["outputs"]] == ["date", "kind", "confidence", "is_expired", "box"]
    detector = client.get_model_metadata("date_detector", as_json=True)
    assert detector["platform"] == "onnxruntime_onnx" and detector["versions"] == ["1"]
    assert detector["inputs"] == [{"name": "images", "datatype": "FP32", "shape": ["-1", "3", "320", "320"]}]
    assert detector["outputs"][0]["name"] == "output0"
    rec = client.get_model_metadata("ocr_rec", as_json=True)
    assert rec["inputs"][0]["shape"] == ["-1", "3", "48", "-1"]
    with pytest.raises(InferenceServerException) as caught:
        client.get_model_metadata("no_such_model")
    assert _status(caught.value) == "StatusCode.NOT_FOUND"


def test_model_config_is_the_batchers_configuration(client: triton.InferenceServerClient) -> None:
    rec = client.get_model_config("ocr_rec", as_json=True)["config"]
    # models/ocr_rec/config.yaml's CPU block: batches of up to 4, 2 instances, 256 queued.
    assert rec["max_batch_size"] == 4
    assert rec["input"][0]["dims"] == ["3", "48", "-1"]
    assert rec["instance_group"][0]["count"] == 2
    assert rec["dynamic_batching"]["default_queue_policy"]["max_queue_size"] == 256
    pipeline = client.get_model_config("datalid", as_json=True)["config"]
    assert pipeline.get("max_batch_size", 0) == 0
    assert pipeline["input"][1]["optional"] is True


def test_a_synthetic_label_and_its_expiry(client: triton.InferenceServerClient) -> None:
    label = render_label(["Use by", "16 NOV 2026"], seed=7)
    result = client.infer(
        "datalid",
        [
            _bytes_input("image", [label, label]),
            _bytes_input("reference_date", [b"2026-11-01", b"2026-12-01"]),
        ],
    )
    assert list(result.as_numpy("date")) == [b"2026-11-16", b"2026-11-16"]
    assert list(result.as_numpy("kind")) == [b"EXPIRY", b"EXPIRY"]
    # One reference date per row: before it, then after it.
    assert list(result.as_numpy("is_expired")) == [False, True]
    assert result.as_numpy("confidence").dtype == np.float32 and (result.as_numpy("confidence") > 0.5).all()
    box = result.as_numpy("box")
    assert box.shape == (2, 4) and (box[:, 2] > box[:, 0]).all() and (box[:, 3] > box[:, 1]).all()
    response = result.get_response(as_json=True)
    assert response["model_name"] == "datalid" and response["model_version"] == "1"


def test_a_real_photo(client: triton.InferenceServerClient) -> None:
    photo = _DATASET / "images" / "image002.jpeg"
    if not photo.is_file():
        pytest.skip(f"no label-recognition photos at {_DATASET} (set DATALID_LABEL_DATASET)")
    wanted = [triton.InferRequestedOutput("date"), triton.InferRequestedOutput("is_expired")]
    result = client.infer(
        "datalid",
        [_bytes_input("image", [photo.read_bytes()]), _bytes_input("reference_date", [b"2026-11-01"])],
        outputs=wanted,
    )
    # manifest.csv: 19 NOV, no year printed: the reference date's year.
    assert list(result.as_numpy("date")) == [b"2026-11-19"]
    assert list(result.as_numpy("is_expired")) == [False]
    assert result.as_numpy("kind") is None  # not asked for


def test_a_tensor_through_the_date_detector_is_the_models_own_output(
    client: triton.InferenceServerClient,
) -> None:
    images = np.random.default_rng(0).random((2, 3, 320, 320), dtype=np.float32)
    result = client.infer("date_detector", [_fp32_input("images", images)])
    session = ort.InferenceSession(
        str(REPO_ROOT / "models/date_detector/model.onnx"), providers=["CPUExecutionProvider"]
    )
    (expected,) = session.run(["output0"], {"images": images})
    got = result.as_numpy("output0")
    assert got.shape == expected.shape == (2, 5, 1600)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_the_recogniser_gives_its_raw_probabilities(client: triton.InferenceServerClient) -> None:
    crops = np.zeros((1, 3, 48, 160), dtype=np.float32)
    probs = client.infer("ocr_rec", [_fp32_input("x", crops)]).as_numpy("fetch_name_0")
    assert probs.shape[0] == 1 and probs.shape[2] == 18710
    np.testing.assert_allclose(probs.sum(axis=2), 1.0, rtol=1e-3)


@pytest.mark.parametrize(
    ("model", "inputs", "field"),
    [
        # A fixed axis of the wrong length.
        ("date_detector", [("images", "FP32", np.zeros((1, 3, 32, 32), np.float32))], "inputs[0]"),
        # More rows than the batcher's max_batch_size (models/ocr_det/config.yaml: 1 on CPU).
        ("ocr_det", [("x", "FP32", np.zeros((2, 3, 64, 64), np.float32))], "inputs[0]"),
        ("date_detector", [("images", "FP64", np.zeros((1, 3, 320, 320), np.float64))], "inputs[0].datatype"),
        ("date_detector", [("pixels", "FP32", np.zeros((1, 3, 320, 320), np.float32))], "inputs[0].name"),
        (
            "datalid",
            [("image", "BYTES", np.array([b"not an image"], dtype=object))],
            "inputs[0] (image row 0)",
        ),
        (
            "datalid",
            [
                ("image", "BYTES", np.array([b"x"], dtype=object)),
                ("reference_date", "BYTES", np.array([b"1 Nov"], dtype=object)),
            ],
            "inputs[1] (reference_date)",
        ),
        ("datalid", [("image", "FP32", np.zeros(1, np.float32))], "inputs[0].datatype"),
        ("datalid", [], "inputs"),
    ],
)
def test_bad_inputs_are_invalid_argument_naming_the_field(
    client: triton.InferenceServerClient, stub, model: str, inputs: list, field: str
) -> None:
    tensors = []
    for name, datatype, array in inputs:
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    with pytest.raises(InferenceServerException) as caught:
        client.infer(model, tensors)
    assert _status(caught.value) == "StatusCode.INVALID_ARGUMENT", caught.value
    # The same request through a plain stub, for its google.rpc.BadRequest.
    request = service_pb2.ModelInferRequest(model_name=model)
    for name, datatype, array in inputs:
        request.inputs.add(name=name, datatype=datatype, shape=array.shape)
        if datatype == "BYTES":
            request.raw_input_contents.append(b"".join(len(v).to_bytes(4, "little") + v for v in array))
        else:
            request.raw_input_contents.append(array.tobytes())
    with pytest.raises(grpc.RpcError) as raw:
        stub.ModelInfer(request, timeout=60)
    assert raw.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(raw.value) == [field]


def test_raw_contents_that_do_not_fill_the_shape(stub) -> None:
    request = service_pb2.ModelInferRequest(model_name="date_detector")
    request.inputs.add(name="images", datatype="FP32", shape=[1, 3, 320, 320])
    request.raw_input_contents.append(b"\0" * 100)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == ["raw_input_contents[0]"]
    request.raw_input_contents.append(b"")
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=60)
    assert bad_request_fields(caught.value) == ["raw_input_contents"]
    # BYTES whose length prefix runs past the end.
    request = service_pb2.ModelInferRequest(model_name="datalid")
    request.inputs.add(name="image", datatype="BYTES", shape=[1])
    request.raw_input_contents.append((1000).to_bytes(4, "little") + b"abc")
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=60)
    assert bad_request_fields(caught.value) == ["raw_input_contents[0]"]


def test_typed_contents_work_as_raw_ones(stub) -> None:
    images = np.random.default_rng(1).random((1, 3, 320, 320), dtype=np.float32)
    typed = service_pb2.ModelInferRequest(model_name="date_detector", id="typed-1")
    typed.inputs.add(name="images", datatype="FP32", shape=images.shape).contents.fp32_contents.extend(
        images.reshape(-1).tolist()
    )
    raw = service_pb2.ModelInferRequest(model_name="date_detector")
    raw.inputs.add(name="images", datatype="FP32", shape=images.shape)
    raw.raw_input_contents.append(images.tobytes())
    typed_response = stub.ModelInfer(typed, timeout=60)
    raw_response = stub.ModelInfer(raw, timeout=60)
    assert typed_response.id == "typed-1"
    assert typed_response.raw_output_contents[0] == raw_response.raw_output_contents[0]


def test_unknown_model_or_version_is_not_found(client: triton.InferenceServerClient) -> None:
    image = _bytes_input("image", [b"x"])
    for model, version in (("no_such_model", ""), ("datalid", "7")):
        with pytest.raises(InferenceServerException) as caught:
            client.infer(model, [image], model_version=version)
        assert _status(caught.value) == "StatusCode.NOT_FOUND"


def test_a_stream_answers_every_request_in_order_errors_in_band(client: triton.InferenceServerClient) -> None:
    results: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    try:
        images = np.zeros((1, 3, 320, 320), dtype=np.float32)
        client.async_stream_infer("date_detector", [_fp32_input("images", images)], request_id="a")
        client.async_stream_infer(
            "date_detector", [_fp32_input("images", images[:, :, :32, :32])], request_id="b"
        )
        label = render_label(["Use by", "16 NOV 2026"], seed=7)
        client.async_stream_infer("datalid", [_bytes_input("image", [label])], request_id="c")
        answers = [results.get(timeout=120) for _ in range(3)]
    finally:
        client.stop_stream()
    (first, first_error), (_, second_error), (third, third_error) = answers
    assert first_error is None and first.get_response().id == "a"
    assert first.as_numpy("output0").shape == (1, 5, 1600)
    assert second_error is not None and "images takes shape" in str(second_error)
    assert third_error is None and list(third.as_numpy("date")) == [b"2026-11-16"]


def test_statistics_count_requests_and_the_batchers_work(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    before = client.get_inference_statistics("date_detector", as_json=True)["model_stats"][0]
    images = np.zeros((3, 3, 320, 320), dtype=np.float32)
    client.infer("date_detector", [_fp32_input("images", images)])
    after = client.get_inference_statistics("date_detector", as_json=True)["model_stats"][0]

    def count(stats: dict, key: str) -> int:
        return int(stats.get(key, 0))

    assert (
        count(after["inference_stats"]["success"], "count")
        == count(before["inference_stats"]["success"], "count") + 1
    )
    assert count(after, "inference_count") >= count(before, "inference_count") + 3
    assert int(after["inference_stats"]["compute_infer"]["ns"]) > 0
    assert after["batch_stats"], "executions by batch size"
    every = client.get_inference_statistics(as_json=True)["model_stats"]
    assert [s["name"] for s in every] == [
        "datalid",
        "date_detector",
        "ocr_det",
        "ocr_cls",
        "ocr_rec",
        "ocr_det_coder",
    ]
    # The same numbers on /metrics under Triton's names.
    match = server.wait_for_log(_METRICS, 60)
    text = (
        urllib.request.urlopen(f"http://{match.group(1)}:{match.group(2)}/metrics", timeout=30)
        .read()
        .decode()
    )
    success = re.search(
        r'^nv_inference_request_success\{model="date_detector",version="1"\} (\S+)$', text, re.M
    )
    assert success is not None and float(success.group(1)) >= count(
        after["inference_stats"]["success"], "count"
    )
    for name in (
        "nv_inference_count",
        "nv_inference_exec_count",
        "nv_inference_queue_duration_us",
        "nv_inference_compute_infer_duration_us",
    ):
        assert re.search(rf'^{name}\{{model="datalid",version="1"\}} ', text, re.M), name


def test_repository_index_and_unload(client: triton.InferenceServerClient) -> None:
    index = client.get_model_repository_index(as_json=True)["models"]
    states = {entry["name"]: entry.get("state") for entry in index}
    assert states["datalid"] == "READY" and states["ocr_rec"] == "READY"
    # Folders of models/ the pipeline does not use are listed, not served.
    assert states["ocr_rec_ppocrv5"] == "UNAVAILABLE"
    with pytest.raises(InferenceServerException) as caught:
        client.unload_model("ocr_rec")
    assert _status(caught.value) == "StatusCode.FAILED_PRECONDITION"
    with pytest.raises(InferenceServerException) as caught:
        client.load_model("no_such_model")
    assert _status(caught.value) == "StatusCode.NOT_FOUND"


def test_load_reloads_the_models_in_place(client: triton.InferenceServerClient) -> None:
    before = client.get_inference_statistics("date_detector").model_stats[0]
    client.load_model("ocr_rec")  # returns once the new models serve (RepositoryModelLoad -> ReloadModels)
    assert client.is_model_ready("ocr_rec")
    # Counts since start survive the reload: the old batchers' numbers are carried on.
    after = client.get_inference_statistics("date_detector").model_stats[0]
    assert after.inference_count >= before.inference_count > 0
    assert after.inference_stats.compute_infer.ns >= before.inference_stats.compute_infer.ns
    images = np.zeros((1, 3, 320, 320), dtype=np.float32)
    assert client.infer("date_detector", [_fp32_input("images", images)]).as_numpy("output0").shape == (
        1,
        5,
        1600,
    )


def test_classification_is_not_offered(client: triton.InferenceServerClient) -> None:
    images = np.zeros((1, 3, 320, 320), dtype=np.float32)
    with pytest.raises(InferenceServerException) as caught:
        client.infer(
            "date_detector",
            [_fp32_input("images", images)],
            outputs=[triton.InferRequestedOutput("output0", class_count=3)],
        )
    assert _status(caught.value) == "StatusCode.INVALID_ARGUMENT"
    assert "classification" in caught.value.message()


def _detector_request(**parameters: object) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name="date_detector")
    request.inputs.add(name="images", datatype="FP32", shape=[1, 3, 320, 320])
    request.raw_input_contents.append(np.zeros((1, 3, 320, 320), np.float32).tobytes())
    for key, value in parameters.items():
        if isinstance(value, bool):
            request.parameters[key].bool_param = value
        else:
            request.parameters[key].int64_param = int(value)  # type: ignore[call-overload]
    return request


def test_what_is_not_offered_is_refused_before_any_work(stub) -> None:
    cases = {
        "parameters.sequence_id": _detector_request(sequence_id=7),
        "parameters.timeout": _detector_request(timeout=-5),
    }
    shared = _detector_request()
    shared.inputs[0].parameters["shared_memory_region"].string_param = "region0"
    cases["inputs[0].parameters.shared_memory_region"] = shared
    twice = _detector_request()
    twice.outputs.add(name="output0")
    twice.outputs.add(name="output0")
    cases["outputs[1].name"] = twice
    for field, request in cases.items():
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request, timeout=60)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert bad_request_fields(caught.value) == [field]
    load = service_pb2.RepositoryModelLoadRequest(model_name="ocr_rec")
    load.parameters["config"].string_param = '{"max_batch_size": 8}'
    with pytest.raises(grpc.RpcError) as caught:
        stub.RepositoryModelLoad(load, timeout=60)
    assert bad_request_fields(caught.value) == ["parameters.config"]
    with pytest.raises(grpc.RpcError) as caught:
        stub.SystemSharedMemoryStatus(service_pb2.SystemSharedMemoryStatusRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "shared memory is not offered" in caught.value.details()


def test_the_timeout_parameter_is_a_deadline(stub) -> None:
    # Triton's per-request timeout, in microseconds: 1 us passes before the work can start.
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(_detector_request(timeout=1), timeout=60)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert stub.ModelInfer(_detector_request(timeout=60_000_000), timeout=60).outputs[0].name == "output0"


def test_more_photos_than_the_pipeline_admits_at_once(client: triton.InferenceServerClient) -> None:
    # 10 rows: more than the pending-image limit of an idle 2-core server (8); read a few at a time.
    labels = [render_label(["Use by", f"{day} NOV 2026"], seed=day) for day in range(10, 20)]
    result = client.infer("datalid", [_bytes_input("image", labels)])
    assert [d.decode() for d in result.as_numpy("date")] == [f"2026-11-{day}" for day in range(10, 20)]
