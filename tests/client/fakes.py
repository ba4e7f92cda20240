"""A scriptable fake of the Datalid services and helpers to build canned answers and rich errors."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health
from grpc_status import rpc_status

from datalid.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    expiry_date_service_pb2_grpc,
    types_pb2,
)

JPEG = b"\xff\xd8\xff\xe0fake-jpeg"


def canned_response(**overrides: Any) -> types_pb2.ProcessResponse:
    """A full ProcessResponse: a FOUND expiry date, one detection, one OCR line, timings."""
    best = types_pb2.ParsedDate(
        date="2026-12-31",
        kind=types_pb2.DATE_KIND_EXPIRY,
        precision=types_pb2.DATE_PRECISION_DAY,
        year_inferred=False,
        confidence=0.875,
        text="EXP 31/12/2026",
        is_expired=False,
        days_until_expiry=36,
    )
    box = types_pb2.BoundingBox(x1=10, y1=20, x2=110, y2=60)
    response = types_pb2.ProcessResponse(
        request_id="req-1",
        status=types_pb2.PROCESS_STATUS_FOUND,
        detections=[types_pb2.Detection(box=box, confidence=0.75, class_id=0, class_name="date")],
        ocr_lines=[types_pb2.OcrLine(text="EXP 31/12/2026", confidence=0.5, box=box, detection_index=0)],
        dates=[best],
        best_date=best,
        timings=types_pb2.StageTimings(
            decode_ms=1.5, queue_ms=0.25, detect_ms=14.0, ocr_ms=340.5, parse_ms=0.5, total_ms=357.25
        ),
        image_width=840,
        image_height=640,
        crops_jpeg=[b"crop-0"],
    )
    for name, value in overrides.items():
        if isinstance(value, list):
            del getattr(response, name)[:]
            getattr(response, name).extend(value)
        elif hasattr(value, "CopyFrom"):
            getattr(response, name).CopyFrom(value)
        else:
            setattr(response, name, value)
    return response


def rich_status(code: grpc.StatusCode, message: str, *details: Any) -> grpc.Status:
    """A grpc.Status carrying google.rpc details, for context.abort_with_status."""
    packed = []
    for detail in details:
        any_msg = any_pb2.Any()
        any_msg.Pack(detail)
        packed.append(any_msg)
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=message, details=packed))


def bad_request(*violations: tuple[str, str]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations
        ]
    )


def retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    delay = duration_pb2.Duration()
    delay.FromMilliseconds(int(seconds * 1000))
    return error_details_pb2.RetryInfo(retry_delay=delay)


@dataclass
class Failure:
    """One scripted failure: abort with ``code`` and ``message`` (and optional rich details)."""

    code: grpc.StatusCode
    message: str = "scripted failure"
    details: tuple[Any, ...] = ()


@dataclass
class Call:
    """What the servicer saw of one call."""

    method: str
    request: Any
    metadata: dict[str, str]
    time_remaining_s: float | None


@dataclass
class FakeBehaviour:
    """What the fake answers: scripted failures first (one per call), then ``response``."""

    response: types_pb2.ProcessResponse = field(default_factory=canned_response)
    failures: list[Failure] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # When set, calls wait until the gate opens or the client goes away (deadline, cancel).
    gate: threading.Event | None = None

    def fail_next(self, code: grpc.StatusCode, message: str = "scripted failure", *details: Any) -> None:
        self.failures.append(Failure(code, message, details))

    def answer(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        """Record the call, then abort if a failure is scripted."""
        call = Call(
            method=method,
            request=request,
            metadata={k: v for k, v in context.invocation_metadata() if isinstance(v, str)},
            time_remaining_s=context.time_remaining(),
        )
        with self.lock:
            self.calls.append(call)
            failure = self.failures.pop(0) if self.failures else None
        if self.gate is not None:
            while not self.gate.wait(0.05) and context.is_active():
                pass
        if failure is None:
            return
        if failure.details:
            context.abort_with_status(rich_status(failure.code, failure.message, *failure.details))
        context.abort(failure.code, failure.message)


class FakeExpiryDateService(expiry_date_service_pb2_grpc.ExpiryDateServiceServicer):
    def __init__(self, behaviour: FakeBehaviour) -> None:
        self._b = behaviour

    def Process(self, request: Any, context: grpc.ServicerContext) -> types_pb2.ProcessResponse:
        self._b.answer("Process", request, context)
        return self._b.response

    def ProcessUpload(self, request: Any, context: grpc.ServicerContext) -> types_pb2.ProcessResponse:
        self._b.answer("ProcessUpload", request, context)
        return self._b.response


class FakeAdminService(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(self, behaviour: FakeBehaviour) -> None:
        self._b = behaviour

    def GetServerInfo(self, request: Any, context: grpc.ServicerContext) -> admin_service_pb2.ServerInfo:
        self._b.answer("GetServerInfo", request, context)
        started = timestamp_pb2.Timestamp(seconds=1_790_000_000)
        return admin_service_pb2.ServerInfo(
            name="datalid",
            version="9.9.9",
            api_version="datalid.v1",
            available_providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
            onnxruntime_version="1.20.0",
            started_at=started,
            ready=True,
            max_message_bytes=16 << 20,
            max_image_bytes=12 << 20,
            max_image_pixels=40_000_000,
        )

    def ListModels(self, request: Any, context: grpc.ServicerContext) -> admin_service_pb2.ListModelsResponse:
        self._b.answer("ListModels", request, context)
        return admin_service_pb2.ListModelsResponse(
            models=[
                admin_service_pb2.ModelInfo(
                    name="detector",
                    kind="yolo_detector",
                    path="models/detector/model.onnx",
                    state=admin_service_pb2.MODEL_STATE_READY,
                    providers=["CPUExecutionProvider"],
                    max_batch_size=8,
                    inputs=[
                        admin_service_pb2.TensorInfo(
                            name="images", data_type="float32", shape=[-1, 3, 320, 320]
                        )
                    ],
                    class_names=["date"],
                    sha256="ab" * 32,
                )
            ]
        )


@dataclass
class FakeServer:
    """A running fake: ``target`` to connect to, ``behaviour`` to script and inspect."""

    target: str
    behaviour: FakeBehaviour
    health: health.HealthServicer
