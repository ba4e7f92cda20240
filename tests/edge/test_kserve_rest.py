"""The v2 protocol's REST side through the real Envoy sidecar, driven by Triton's own HTTP client
(tritonclient.http), and its gRPC side's keys and scopes, on the edge server (auth required)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from pipeline.synth import render_label
from tests.conftest import REPO_ROOT, ServerProcess
from tests.edge.conftest import Secrets, SidecarProcess, http

pytestmark = pytest.mark.slow

_DATASET = Path(
    os.environ.get("DATALID_LABEL_DATASET", REPO_ROOT.parent / "shared/datasets/label-recognition")
)


@pytest.fixture(scope="module")
def client(sidecar: SidecarProcess) -> triton_http.InferenceServerClient:
    return triton_http.InferenceServerClient(f"127.0.0.1:{sidecar.port}", network_timeout=120)


@pytest.fixture(scope="module")
def app(secrets: Secrets) -> dict[str, str]:
    """The headers of a key with scopes process and jobs. Passed as copies: tritonclient.http
    writes its Inference-Header-Content-Length into the dict it is given."""
    return {"x-api-key": secrets.keys["app"]}


def _bytes(name: str, values: list[bytes]) -> triton_http.InferInput:
    tensor = triton_http.InferInput(name, [len(values)], "BYTES")
    tensor.set_data_from_numpy(np.array(values, dtype=object), binary_data=True)
    return tensor


def test_health_needs_no_key(client: triton_http.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("datalid")
    assert not client.is_model_ready("no_such_model")


def test_metadata_and_config_as_triton_writes_them(client, app) -> None:
    metadata = client.get_model_metadata("date_detector", headers={**app})
    # Shapes are JSON numbers, as Triton's HTTP side writes them.
    assert metadata["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 3, 320, 320]}]
    config = client.get_model_config("ocr_rec", headers={**app})
    assert config["max_batch_size"] == 4 and config["input"][0]["dims"] == [3, 48, -1]
    assert client.get_server_metadata(headers={**app})["name"] == "datalid"


@pytest.mark.parametrize("binary_outputs", [True, False])
def test_a_label_through_datalid(client, app, binary_outputs: bool) -> None:
    label = render_label(["Use by", "16 NOV 2026"], seed=7)
    outputs = [
        triton_http.InferRequestedOutput(name, binary_data=binary_outputs)
        for name in ("date", "kind", "is_expired", "box")
    ]
    result = client.infer(
        "datalid",
        [_bytes("image", [label]), _bytes("reference_date", [b"2026-12-01"])],
        outputs=outputs,
        headers={**app},
    )
    # Binary BYTES come back as bytes, JSON ones as text: tritonclient's own conversions.
    assert [str(d, "utf-8") if isinstance(d, bytes) else d for d in result.as_numpy("date")] == ["2026-11-16"]
    assert list(result.as_numpy("is_expired")) == [True]
    assert result.as_numpy("box").shape == (1, 4)


def test_a_real_photo(client, app) -> None:
    photo = _DATASET / "images" / "image002.jpeg"
    if not photo.is_file():
        pytest.skip(f"no label-recognition photos at {_DATASET} (set DATALID_LABEL_DATASET)")
    result = client.infer(
        "datalid",
        [_bytes("image", [photo.read_bytes()]), _bytes("reference_date", [b"2026-11-01"])],
        headers={**app},
    )
    assert list(result.as_numpy("date")) == [b"2026-11-19"]
    assert list(result.as_numpy("kind")) == [b"EXPIRY"]


def test_a_json_tensor_through_the_detector_matches_grpc(client, app, edge_server: ServerProcess) -> None:
    images = np.random.default_rng(3).random((1, 3, 320, 320), dtype=np.float32)
    tensor = triton_http.InferInput("images", list(images.shape), "FP32")
    tensor.set_data_from_numpy(images, binary_data=False)
    over_rest = client.infer("date_detector", [tensor], headers={**app}).as_numpy("output0")
    grpc_client = triton_grpc.InferenceServerClient(edge_server.target)
    grpc_tensor = triton_grpc.InferInput("images", list(images.shape), "FP32")
    grpc_tensor.set_data_from_numpy(images)
    over_grpc = grpc_client.infer("date_detector", [grpc_tensor], headers={**app}).as_numpy("output0")
    np.testing.assert_allclose(over_rest, over_grpc, rtol=1e-5, atol=1e-5)


def test_bad_input_is_400_naming_the_field(client, app) -> None:
    tensor = triton_http.InferInput("images", [1, 3, 32, 32], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(InferenceServerException) as caught:
        client.infer("date_detector", [tensor], headers={**app})
    assert caught.value.status() == "400"
    assert "inputs[0]" in caught.value.message() and "320" in caught.value.message()
    with pytest.raises(InferenceServerException) as caught:
        client.infer("no_such_model", [tensor], headers={**app})
    assert caught.value.status() == "404"


def _binary(header: bytes, blob: bytes, named: str) -> tuple[bytes, dict[str, str], str]:
    """A body of the binary extension: JSON ``header``, then ``blob``."""
    return header + blob, {"inference-header-content-length": str(len(header))}, named


def test_malformed_bodies(sidecar: SidecarProcess, app) -> None:
    base = f"http://127.0.0.1:{sidecar.port}/v2/models/datalid/infer"
    json_headers = {**app, "content-type": "application/json"}
    cases = [
        (b"not json", {}, "body"),
        (
            b'{"inputs": [{"name": "image", "datatype": "BYTES", "shape": [2], "data": ["a"]}]}',
            {},
            "inputs[0].data",
        ),
        (
            b'{"inputs": [{"name": "image", "datatype": "STRING", "shape": [1], "data": ["a"]}]}',
            {},
            "inputs[0].datatype",
        ),
        (
            b'{"inputs": [{"name": "image", "datatype": "BYTES", "shape": [-1], "data": ["a"]}]}',
            {},
            "inputs[0].shape",
        ),
        # A binary tensor longer than the bytes after the JSON header.
        _binary(
            b'{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":99}}]}',
            b"xyz",
            "binary_data_size",
        ),
        # Binary bytes no input claims.
        _binary(
            b'{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["a"]}]}',
            b"extra",
            "binary bytes",
        ),
    ]
    for body, headers, named in cases:
        response = http("POST", base, body, {**json_headers, **headers})
        assert response.status == 400, (body, response.body)
        assert named in response.json()["error"], (body, response.body)
    assert http("DELETE", base.removesuffix("/infer"), None, app).status == 405
    assert http("GET", f"http://127.0.0.1:{sidecar.port}/v2/nothing/here", None, app).status == 404


def test_keys_and_scopes_apply(client, secrets: Secrets, edge_server: ServerProcess) -> None:
    label = render_label(["Use by", "16 NOV 2026"], seed=7)
    with pytest.raises(InferenceServerException) as caught:
        client.infer("datalid", [_bytes("image", [label])])
    assert caught.value.status() == "401"
    # Repository calls need scope admin: app (process, jobs) may infer, not reload.
    with pytest.raises(InferenceServerException) as caught:
        client.get_model_repository_index(headers={"x-api-key": secrets.keys["app"]})
    assert caught.value.status() == "403"
    index = client.get_model_repository_index(headers={"x-api-key": secrets.keys["ops"]})
    assert {"name": "datalid", "version": "1", "state": "READY", "reason": ""} in index
    grpc_client = triton_grpc.InferenceServerClient(edge_server.target)
    assert grpc_client.is_server_ready()  # health: no key
    with pytest.raises(InferenceServerException) as caught:
        grpc_client.get_model_metadata("datalid")
    assert caught.value.status() == "StatusCode.UNAUTHENTICATED"
    with pytest.raises(InferenceServerException) as caught:
        grpc_client.load_model("datalid", headers={"x-api-key": secrets.keys["app"]})
    assert caught.value.status() == "StatusCode.PERMISSION_DENIED"


def test_statistics_over_rest_are_numbers(client, app) -> None:
    stats = client.get_inference_statistics("date_detector", headers={**app})["model_stats"][0]
    assert isinstance(stats["inference_count"], int) and stats["inference_count"] > 0
    assert json.dumps(stats)  # plain JSON all the way down


def test_a_body_refused_unread_never_becomes_the_next_request(sidecar: SidecarProcess, app) -> None:
    """A compressed body is refused (415) before it is read: the gateway then closes its
    connection, so a request hidden in that body is never answered to the next caller Envoy
    sends down that connection."""
    hidden = b"GET /v2/models/smuggled_probe HTTP/1.1\r\nHost: x\r\n\r\n"
    head = (
        "POST /v2/models/date_detector/infer HTTP/1.1\r\nHost: x\r\ncontent-encoding: gzip\r\n"
        f"x-api-key: {app['x-api-key']}\r\ncontent-length: {len(hidden)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=30) as attacker:
        attacker.sendall(head.encode() + hidden)
        first = attacker.recv(65536)
        assert first.startswith(b"HTTP/1.1 415")
    base = f"http://127.0.0.1:{sidecar.port}"
    for _ in range(6):
        answer = http("GET", base + "/v2", None, dict(app))
        assert answer.status == 200 and answer.json()["name"] == "datalid", answer.body


def test_flags_and_numbers_are_strict(sidecar: SidecarProcess, app) -> None:
    base = f"http://127.0.0.1:{sidecar.port}"
    headers = {**app, "content-type": "application/json"}
    both = json.dumps(
        {
            "inputs": [
                {
                    "name": "image",
                    "datatype": "BYTES",
                    "shape": [1],
                    "data": ["a"],
                    "parameters": {"binary_data_size": 0},
                }
            ]
        }
    ).encode()
    loose = json.dumps(
        {
            "inputs": [{"name": "images", "datatype": "FP32", "shape": [1], "data": [0.5]}],
            "outputs": [{"name": "output0", "parameters": {"binary_data": "no"}}],
        }
    ).encode()
    nan = b'{"inputs": [{"name": "images", "datatype": "FP32", "shape": [1], "data": [NaN]}]}'
    huge = b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [0, 18446744073709551616], "data": []}]}'
    listed = b'{"inputs": [{"name": "images", "datatype": ["FP32"], "shape": [1], "data": [1]}]}'
    for body, named in (
        (both, "both data and"),
        (loose, "binary_data"),
        (nan, "not JSON"),
        (huge, "inputs[0].shape"),
        (listed, "inputs[0].datatype"),
    ):
        response = http("POST", base + "/v2/models/date_detector/infer", body, headers)
        assert response.status == 400, (body, response.body)
        assert named in response.json()["error"], (body, response.body)
    assert http("GET", base + "/v2/systemsharedmemory/status", None, dict(app)).status == 501


def test_large_outputs_go_as_binary_not_json(client, app) -> None:
    # 60 steps x 18,710 classes: over a million values, which JSON would make 60 MB of.
    crops = np.zeros((1, 3, 48, 480), dtype=np.float32)
    tensor = triton_http.InferInput("x", list(crops.shape), "FP32")
    tensor.set_data_from_numpy(crops)
    as_json = [triton_http.InferRequestedOutput("fetch_name_0", binary_data=False)]
    with pytest.raises(InferenceServerException) as caught:
        client.infer("ocr_rec", [tensor], outputs=as_json, headers={**app})
    assert caught.value.status() == "400" and "binary" in caught.value.message()
    as_binary = [triton_http.InferRequestedOutput("fetch_name_0", binary_data=True)]
    probs = client.infer("ocr_rec", [tensor], outputs=as_binary, headers={**app}).as_numpy("fetch_name_0")
    assert probs.shape == (1, 60, 18710)


def test_without_credentials_nothing_is_parsed(sidecar: SidecarProcess) -> None:
    # Garbage without a key is 401, as on the gRPC side, not a 400 about the garbage.
    response = http("POST", f"http://127.0.0.1:{sidecar.port}/v2/models/datalid/infer", b"{not json", {})
    assert response.status == 401, response.body


def test_each_request_of_a_stream_takes_a_rate_limit_token(
    edge_server: ServerProcess, secrets: Secrets
) -> None:
    """The edge server allows 2 calls a second after a burst of 40 per key: 60 requests in one
    stream cannot all pass (they did, when only the call took a token)."""
    client = triton_grpc.InferenceServerClient(edge_server.target)
    answers: list = []
    client.start_stream(
        callback=lambda result, error: answers.append(error), headers={"x-api-key": secrets.keys["burst"]}
    )
    try:
        images = np.zeros((1, 3, 320, 320), dtype=np.float32)
        tensor = triton_grpc.InferInput("images", list(images.shape), "FP32")
        tensor.set_data_from_numpy(images)
        for index in range(60):
            client.async_stream_infer("date_detector", [tensor], request_id=str(index))
        deadline = time.monotonic() + 120
        while len(answers) < 60 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        client.stop_stream()
    limited = [error for error in answers if error is not None and "rate limit" in str(error)]
    assert limited, f"{len(answers)} answers, none rate-limited"


def test_slow_bodies_hold_none_of_the_gateways_connections(sidecar: SidecarProcess) -> None:
    """Envoy reads a v2 body whole before the gateway sees it: callers trickling their bodies
    (more of them than the gateway has connections) leave readiness and everyone else served."""
    head = b"POST /v2/models/datalid/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"
    slow = [socket.create_connection(("127.0.0.1", sidecar.port), timeout=30) for _ in range(24)]
    try:
        for connection in slow:
            connection.sendall(head)
        time.sleep(1)
        for _ in range(3):
            ready = http("GET", f"http://127.0.0.1:{sidecar.port}/v2/health/ready", None, {})
            assert ready.status == 200
    finally:
        for connection in slow:
            connection.close()
