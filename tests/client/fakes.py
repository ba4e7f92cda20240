"""A scriptable fake of the Datalid services and helpers to build canned answers and rich errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2, empty_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health
from grpc_status import rpc_status

from datalid.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    expiry_date_service_pb2,
    expiry_date_service_pb2_grpc,
    job_service_pb2,
    job_service_pb2_grpc,
    types_pb2,
)

JPEG = b"\xff\xd8\xff\xe0fake-jpeg"
# Images the fakes answer specially in batches, frame streams and jobs.
BAD_IMAGE = b"not-an-image"  # INVALID_ARGUMENT with a BadRequest detail
BUSY_IMAGE = b"busy"  # RESOURCE_EXHAUSTED with a RetryInfo detail of 0.5 s
SKIP_IMAGE = b"stale"  # skipped under DROP_POLICY_LATEST
FAILING_URL = "https://example.com/fails.jpg"  # a job on it ends FAILED


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


def status_pb(code: grpc.StatusCode, message: str, *details: Any) -> status_pb2.Status:
    """An in-band google.rpc.Status (batch items, frames, jobs) with packed details."""
    packed = []
    for detail in details:
        any_msg = any_pb2.Any()
        any_msg.Pack(detail)
        packed.append(any_msg)
    return status_pb2.Status(code=code.value[0], message=message, details=packed)


def item_error(image: bytes) -> status_pb2.Status | None:
    """The in-band error the fakes answer for one image, or None when it reads fine."""
    if image == BAD_IMAGE:
        return status_pb(
            grpc.StatusCode.INVALID_ARGUMENT, "image: not an image", bad_request(("image", "not an image"))
        )
    if image == BUSY_IMAGE:
        return status_pb(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full", retry_info(0.5))
    return None


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
    # A stream (progress, frames, watch) aborts with ``stream_failure`` after this many messages.
    stream_fail_after: int | None = None
    stream_failure: Failure | None = None
    # JobService state: jobs by id, in creation order.
    jobs: dict[str, Any] = field(default_factory=dict)
    # Set when a StreamFrames call ended on the server (completed, failed or cancelled by the client).
    stream_ended: threading.Event = field(default_factory=threading.Event)
    # What GetServerInfo reports as the largest message and batch.
    max_message_bytes: int = 16 << 20
    batch_max_items: int = 64
    batch_max_bytes: int = 64 << 20

    def fail_stream_after(
        self, messages: int, code: grpc.StatusCode, message: str = "scripted failure", *details: Any
    ) -> None:
        """Abort the next streams with ``code`` once they have sent ``messages`` messages."""
        self.stream_fail_after = messages
        self.stream_failure = Failure(code, message, details)

    def check_stream(self, sent: int, context: grpc.ServicerContext) -> None:
        """Abort the stream with the scripted failure once ``sent`` messages went out."""
        failure = self.stream_failure
        if failure is not None and self.stream_fail_after == sent:
            abort(context, failure)

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
        if failure is not None:
            abort(context, failure)


def abort(context: grpc.ServicerContext, failure: Failure) -> None:
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

    def ProcessUrl(self, request: Any, context: grpc.ServicerContext) -> types_pb2.ProcessResponse:
        self._b.answer("ProcessUrl", request, context)
        if not request.url.startswith("https://"):
            abort(
                context,
                Failure(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "url: must be https",
                    (bad_request(("url", "must be https")),),
                ),
            )
        return self._b.response

    def ProcessBatch(
        self, request_iterator: Iterator[Any], context: grpc.ServicerContext
    ) -> expiry_date_service_pb2.ProcessBatchResponse:
        requests = list(request_iterator)
        self._b.answer("ProcessBatch", requests, context)
        items = []
        for index, request in enumerate(requests):
            error = item_error(request.image)
            if error is not None:
                items.append(expiry_date_service_pb2.ProcessBatchItem(index=index, error=error))
            else:
                result = types_pb2.ProcessResponse()
                result.CopyFrom(self._b.response)
                result.request_id = f"req-{index}"
                items.append(expiry_date_service_pb2.ProcessBatchItem(index=index, result=result))
        # Answer out of order: clients must sort by index.
        return expiry_date_service_pb2.ProcessBatchResponse(items=list(reversed(items)))

    def ProcessWithProgress(
        self, request: Any, context: grpc.ServicerContext
    ) -> Iterator[expiry_date_service_pb2.ProgressEvent]:
        self._b.answer("ProcessWithProgress", request, context)
        stages = ["DECODED", "REGIONS_DETECTED", "TEXT_READ", "DATES_PARSED", "COMPLETED"]
        for sent, stage in enumerate(stages):
            self._b.check_stream(sent, context)
            event = expiry_date_service_pb2.ProgressEvent(
                stage=expiry_date_service_pb2.ProgressStage.Value(f"PROGRESS_STAGE_{stage}"),
                elapsed_ms=10.0 * (sent + 1),
                message=stage.lower(),
            )
            if stage == "COMPLETED":
                event.result.CopyFrom(self._b.response)
            yield event

    def StreamFrames(
        self, request_iterator: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[expiry_date_service_pb2.FrameResult]:
        context.add_callback(self._b.stream_ended.set)
        self._b.answer("StreamFrames", None, context)
        agreeing = 0
        for sent, frame in enumerate(request_iterator):
            with self._b.lock:
                self._b.calls.append(Call("Frame", frame, {}, None))
            if self._b.stream_failure is not None and self._b.stream_fail_after == sent:
                # Read the camera's remaining frames before failing: a grpc.aio client whose write
                # meets a call the server already ended reports INTERNAL "Internal error from Core"
                # instead of the server's status (grpc/aio/_call.py _write), a race, not the SDK's.
                for _ in request_iterator:
                    pass
            self._b.check_stream(sent, context)
            answer = expiry_date_service_pb2.FrameResult(frame_id=frame.frame_id)
            error = item_error(frame.image)
            if error is not None:
                answer.error.CopyFrom(error)
            elif (
                frame.image == SKIP_IMAGE and frame.drop_policy == expiry_date_service_pb2.DROP_POLICY_LATEST
            ):
                answer.skipped = True
            else:
                agreeing += 1
                answer.result.CopyFrom(self._b.response)
            if agreeing:
                answer.stream_best_date.CopyFrom(self._b.response.best_date)
                answer.agreeing_frames = agreeing
            yield answer


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
            max_message_bytes=self._b.max_message_bytes,
            max_image_bytes=12 << 20,
            max_image_pixels=40_000_000,
            max_source_pixels=200_000_000,
            batch_max_items=self._b.batch_max_items,
            batch_max_bytes=self._b.batch_max_bytes,
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


_FINAL = (
    job_service_pb2.JOB_STATE_SUCCEEDED,
    job_service_pb2.JOB_STATE_FAILED,
    job_service_pb2.JOB_STATE_CANCELLED,
)


def _stamp(seconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=1_790_000_000 + seconds)


class FakeJobService(job_service_pb2_grpc.JobServiceServicer):
    """Jobs kept in ``behaviour.jobs``; a watch walks a queued job to RUNNING and then to its end."""

    def __init__(self, behaviour: FakeBehaviour) -> None:
        self._b = behaviour

    def _job(self, job_id: str, context: grpc.ServicerContext) -> job_service_pb2.Job:
        job = self._b.jobs.get(job_id)
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {job_id!r} not found")
        return job

    def CreateJob(self, request: Any, context: grpc.ServicerContext) -> job_service_pb2.Job:
        self._b.answer("CreateJob", request, context)
        if request.WhichOneof("source") is None:
            abort(context, Failure(grpc.StatusCode.INVALID_ARGUMENT, "image or url is required"))
        with self._b.lock:
            job_id = f"job-{len(self._b.jobs) + 1}"
            job = job_service_pb2.Job(
                job_id=job_id,
                state=job_service_pb2.JOB_STATE_QUEUED,
                message=request.url or f"{len(request.image)} bytes",
                owner=dict(context.invocation_metadata()).get("x-api-key", "anonymous"),
                created_at=_stamp(len(self._b.jobs)),
            )
            self._b.jobs[job_id] = job
        return job

    def GetJob(self, request: Any, context: grpc.ServicerContext) -> job_service_pb2.Job:
        self._b.answer("GetJob", request, context)
        return self._job(request.job_id, context)

    def ListJobs(self, request: Any, context: grpc.ServicerContext) -> job_service_pb2.ListJobsResponse:
        self._b.answer("ListJobs", request, context)
        jobs = [j for j in self._b.jobs.values() if request.state in (0, j.state)]
        start = 0
        if request.page_token:
            if not request.page_token.startswith("after:"):
                abort(context, Failure(grpc.StatusCode.INVALID_ARGUMENT, "page_token: unknown token"))
            start = int(request.page_token.removeprefix("after:"))
        end = start + (request.page_size or 50)
        token = f"after:{end}" if end < len(jobs) else ""
        return job_service_pb2.ListJobsResponse(jobs=jobs[start:end], next_page_token=token)

    def CancelJob(self, request: Any, context: grpc.ServicerContext) -> job_service_pb2.Job:
        self._b.answer("CancelJob", request, context)
        job = self._job(request.job_id, context)
        if job.state in _FINAL and job.state != job_service_pb2.JOB_STATE_CANCELLED:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"job {request.job_id!r} already ended")
        job.state = job_service_pb2.JOB_STATE_CANCELLED
        job.finished_at.CopyFrom(_stamp(100))
        return job

    def DeleteJob(self, request: Any, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self._b.answer("DeleteJob", request, context)
        self._job(request.job_id, context)
        del self._b.jobs[request.job_id]
        return empty_pb2.Empty()

    def WatchJob(self, request: Any, context: grpc.ServicerContext) -> Iterator[job_service_pb2.Job]:
        self._b.answer("WatchJob", request, context)
        job = self._job(request.job_id, context)
        sent = 0
        while True:
            self._b.check_stream(sent, context)
            yield job
            sent += 1
            if job.state in _FINAL:
                return
            if job.state == job_service_pb2.JOB_STATE_QUEUED:
                job.state = job_service_pb2.JOB_STATE_RUNNING
                job.progress = 0.5
                job.started_at.CopyFrom(_stamp(10))
            elif job.message == FAILING_URL:
                job.state = job_service_pb2.JOB_STATE_FAILED
                job.error.CopyFrom(item_error(BAD_IMAGE))
                job.finished_at.CopyFrom(_stamp(20))
            else:
                job.state = job_service_pb2.JOB_STATE_SUCCEEDED
                job.progress = 1.0
                job.result.CopyFrom(self._b.response)
                job.finished_at.CopyFrom(_stamp(20))


@dataclass
class FakeServer:
    """A running fake: ``target`` to connect to, ``behaviour`` to script and inspect."""

    target: str
    behaviour: FakeBehaviour
    health: health.HealthServicer
