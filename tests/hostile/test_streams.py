"""Streams, batches and enum fields against a real server under the address-space cap."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import cv2
import grpc
import numpy as np
import pytest

from datalid.v1 import expiry_date_service_pb2, expiry_date_service_pb2_grpc, types_pb2
from pipeline.synth import render_label
from tests.conftest import ServerProcess, bad_request_fields, serving
from tests.edge.conftest import _create_key
from tests.hostile.conftest import MEMORY_LIMIT_BYTES, assert_still_serving

pytestmark = pytest.mark.slow


def test_a_camera_faster_than_the_server_is_flow_controlled(hostile_server, hostile_channel) -> None:
    # 3 MB of noise per frame: every frame is a full-image read, far slower than the camera.
    noise = np.random.default_rng(7).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", noise)
    assert ok
    image = png.tobytes()
    sent = 0

    def camera() -> Iterator[expiry_date_service_pb2.Frame]:
        nonlocal sent
        for i in range(300):
            yield expiry_date_service_pb2.Frame(frame_id=i, image=image)
            sent += 1

    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(hostile_channel)
    # One read of such a frame first: the models' memory arenas grow to its size once, and stay.
    stub.Process(types_pb2.ProcessRequest(image=image), timeout=120)
    before = hostile_server.rss_bytes()
    call = stub.StreamFrames(camera(), timeout=120)
    peak = before
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:  # never read: the camera sends as fast as it may
        peak = max(peak, hostile_server.rss_bytes())
        time.sleep(0.1)
    # Unbounded, the server took every frame it was sent: 900 MB. Bounded, 8 frames wait in the
    # stream and gRPC's window holds a few more; the camera's sends wait.
    assert sent < 40, sent
    assert peak - before < 300 * 1024**2, (before, peak)
    call.cancel()
    assert_still_serving(hostile_channel)


def test_unknown_enum_numbers_are_invalid_argument_naming_the_field(hostile_channel) -> None:
    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(hostile_channel)
    label = render_label(["Use by", "16 NOV"], seed=7)
    with pytest.raises(grpc.RpcError) as refused:
        stub.Process(
            types_pb2.ProcessRequest(image=label, options=types_pb2.ProcessOptions(date_order=99)), timeout=60
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(refused.value) == ["options.date_order"]
    frames = [expiry_date_service_pb2.Frame(frame_id=1, image=label, drop_policy=99)]
    (result,) = list(stub.StreamFrames(iter(frames), timeout=60))
    assert result.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "drop_policy" in result.error.message
    assert_still_serving(hostile_channel)


def test_a_reference_date_out_of_range_on_a_yearless_label_is_invalid_argument(hostile_channel) -> None:
    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(hostile_channel)
    label = render_label(["USE BY 12 AUG"], seed=3)
    for reference in ("0001-01-01", "9999-12-31"):
        options = types_pb2.ProcessOptions(reference_date=reference)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Process(types_pb2.ProcessRequest(image=label, options=options), timeout=60)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_request_fields(refused.value) == ["options.reference_date"]
    edge = types_pb2.ProcessOptions(reference_date="9000-12-31")
    response = stub.Process(types_pb2.ProcessRequest(image=label, options=edge), timeout=60)
    assert response.best_date.date.endswith("-08-12")
    assert_still_serving(hostile_channel)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    keys_file = tmp_path_factory.mktemp("keys") / "keys.yaml"
    jobs_only = _create_key(keys_file, "jobs-only", "jobs")
    env = {"DATALID_AUTH": "required", "DATALID_API_KEYS_FILE": str(keys_file)}
    for process in serving(ServerProcess(env=env, memory_limit_bytes=MEMORY_LIMIT_BYTES)):
        yield process, jobs_only


def test_batch_refusals_reach_a_still_sending_client_as_refusals(auth_server) -> None:
    server, jobs_only = auth_server
    image = b"\x01" * 200_000

    def slow_batch() -> Iterator[types_pb2.ProcessRequest]:
        for _ in range(5):
            yield types_pb2.ProcessRequest(image=image)
            time.sleep(0.01)

    codes: Counter[str] = Counter()
    metadata = [(), (("x-api-key", "not-a-key-0123456789"),), (("x-api-key", jobs_only),)]
    with grpc.insecure_channel(server.target) as channel:
        stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        for i in range(50):
            with pytest.raises(grpc.RpcError) as refused:
                stub.ProcessBatch(slow_batch(), metadata=metadata[i % 3], timeout=30)
            codes[refused.value.code().name] += 1
        assert_still_serving(channel)
    assert set(codes) <= {"UNAUTHENTICATED", "PERMISSION_DENIED"}, codes
    assert codes["PERMISSION_DENIED"] == 16


def test_a_cancelled_stream_frees_its_slot_and_is_logged_cancelled(hostile_server, hostile_channel) -> None:
    label = render_label(["Use by", "16 NOV"], seed=7)
    options = types_pb2.ProcessOptions(return_visualization=True)
    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(hostile_channel)
    log_start = len(hostile_server.log)
    frames = (expiry_date_service_pb2.Frame(frame_id=i, image=label, options=options) for i in range(200))
    stuck = stub.StreamFrames(frames, timeout=120)
    # The first answer says the server is answering with pictures; the client reads no more, so the
    # next answers wait on its flow-control window while frames keep arriving.
    assert next(stuck).frame_id == 0
    stuck.cancel()
    done = threading.Event()

    def cancelled_line() -> bool:
        return any(
            "StreamFrames" in line and "code=CANCELLED" in line for line in hostile_server.log[log_start:]
        )

    # An upper bound on the wait, not a speed target: the frame in flight finishes first, which on
    # a loaded 2-core machine takes seconds.
    deadline = time.monotonic() + 60
    while not cancelled_line() and time.monotonic() < deadline:
        done.wait(0.05)
    assert cancelled_line(), "\n".join(hostile_server.log[log_start:])[-4000:]
    # Every slot of the (anonymous, same-address) caller is free again at once.
    streams = [
        stub.StreamFrames(iter([expiry_date_service_pb2.Frame(frame_id=1, image=label)]), timeout=60)
        for _ in range(4)
    ]
    assert all(next(s).frame_id == 1 for s in streams)
    logged = "\n".join(hostile_server.log[log_start:])
    assert "ERROR" not in logged and "Traceback" not in logged, logged
    assert_still_serving(hostile_channel)


def test_max_detections_over_the_server_limit_is_invalid_argument(hostile_channel) -> None:
    # With the thresholds opened up, an unbounded max_detections read 1,227 regions of a noise image.
    stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(hostile_channel)
    label = render_label(["Use by", "16 NOV"], seed=7)
    options = types_pb2.ProcessOptions(
        detection_confidence=0, detection_iou=1, max_detections=1_000_000, return_crops=True
    )
    with pytest.raises(grpc.RpcError) as refused:
        stub.Process(types_pb2.ProcessRequest(image=label, options=options), timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(refused.value) == ["options.max_detections"]
    frames = [expiry_date_service_pb2.Frame(frame_id=1, image=label, options=options)]
    (result,) = list(stub.StreamFrames(iter(frames), timeout=60))
    assert result.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "max_detections" in result.error.message
    assert_still_serving(hostile_channel)
