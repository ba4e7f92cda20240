"""The one place where SDK values meet ``datalid.v1`` protobuf messages (both directions).

Proto3 ``optional`` fields keep their presence: an option left ``None`` is not set on the wire,
so the server applies its own default.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, TypeVar

from google.api import httpbody_pb2
from google.protobuf import timestamp_pb2
from google.rpc import status_pb2

from datalid.v1 import admin_service_pb2, expiry_date_service_pb2, job_service_pb2, types_pb2

from ._errors import DatalidError, error_from_status
from ._types import (
    BatchItem,
    BoundingBox,
    DateKind,
    DateOrder,
    DatePrecision,
    Detection,
    DropPolicy,
    Frame,
    FrameResult,
    Job,
    JobPage,
    JobState,
    ModelInfo,
    ModelState,
    OcrLine,
    ParsedDate,
    ProcessOptions,
    ProcessResult,
    ProcessStatus,
    ProgressEvent,
    ProgressStage,
    ServerInfo,
    StageTimings,
    TensorInfo,
)

_E = TypeVar("_E", bound=enum.Enum)


def _enum_from_pb(pb_enum: Any, prefix: str, domain: type[_E], number: int) -> _E:
    """``PROCESS_STATUS_FOUND`` -> ``ProcessStatus.FOUND``; numbers this SDK does not know -> UNSPECIFIED."""
    try:
        name = pb_enum.Name(number).removeprefix(prefix)
        return domain[name]
    except (ValueError, KeyError):
        return domain["UNSPECIFIED"]


def options_to_pb(options: ProcessOptions) -> types_pb2.ProcessOptions:
    """Build the wire options; ``None`` fields stay unset (proto3 presence)."""
    pb = types_pb2.ProcessOptions(
        return_visualization=options.return_visualization,
        return_crops=options.return_crops,
    )
    if options.detection_confidence is not None:
        pb.detection_confidence = options.detection_confidence
    if options.detection_iou is not None:
        pb.detection_iou = options.detection_iou
    if options.max_detections is not None:
        pb.max_detections = options.max_detections
    if options.full_image_fallback is not None:
        pb.full_image_fallback = options.full_image_fallback
    if options.reference_date is not None:
        pb.reference_date = options.reference_date.isoformat()
    if options.date_order is not None:
        pb.date_order = types_pb2.DateOrder.Value(f"DATE_ORDER_{DateOrder(options.date_order).value}")
    return pb


def options_from_pb(pb: types_pb2.ProcessOptions) -> ProcessOptions:
    """The inverse of ``options_to_pb``: unset optional fields become ``None``.

    Raises:
        ValueError: ``reference_date`` is not YYYY-MM-DD or a value is out of range.
    """
    order = None
    if pb.date_order != types_pb2.DATE_ORDER_UNSPECIFIED:
        order = DateOrder(types_pb2.DateOrder.Name(pb.date_order).removeprefix("DATE_ORDER_"))
    return ProcessOptions(
        detection_confidence=pb.detection_confidence if pb.HasField("detection_confidence") else None,
        detection_iou=pb.detection_iou if pb.HasField("detection_iou") else None,
        max_detections=pb.max_detections if pb.HasField("max_detections") else None,
        return_visualization=pb.return_visualization,
        return_crops=pb.return_crops,
        full_image_fallback=pb.full_image_fallback if pb.HasField("full_image_fallback") else None,
        reference_date=dt.date.fromisoformat(pb.reference_date) if pb.reference_date else None,
        date_order=order,
    )


def process_request_to_pb(image: bytes, options: ProcessOptions | None) -> types_pb2.ProcessRequest:
    """A ``ProcessRequest``; without options the ``options`` field is left unset."""
    request = types_pb2.ProcessRequest(image=image)
    if options is not None:
        request.options.CopyFrom(options_to_pb(options))
    return request


def upload_to_pb(
    image: bytes, content_type: str, options: ProcessOptions | None = None
) -> expiry_date_service_pb2.ProcessUploadRequest:
    """The ``ProcessUploadRequest`` (a ``google.api.HttpBody`` and options) that ``ProcessUpload``
    takes; without options the ``options`` field is left unset."""
    request = expiry_date_service_pb2.ProcessUploadRequest(
        body=httpbody_pb2.HttpBody(content_type=content_type, data=image)
    )
    if options is not None:
        request.options.CopyFrom(options_to_pb(options))
    return request


def _box_from_pb(pb: types_pb2.BoundingBox) -> BoundingBox:
    return BoundingBox(x1=pb.x1, y1=pb.y1, x2=pb.x2, y2=pb.y2)


def parsed_date_from_pb(pb: types_pb2.ParsedDate) -> ParsedDate:
    """Raises ValueError when the server sent a date that is not YYYY-MM-DD."""
    return ParsedDate(
        date=dt.date.fromisoformat(pb.date),
        kind=_enum_from_pb(types_pb2.DateKind, "DATE_KIND_", DateKind, pb.kind),
        precision=_enum_from_pb(types_pb2.DatePrecision, "DATE_PRECISION_", DatePrecision, pb.precision),
        year_inferred=pb.year_inferred,
        confidence=pb.confidence,
        text=pb.text,
        is_expired=pb.is_expired,
        days_until_expiry=pb.days_until_expiry,
    )


def result_from_pb(pb: types_pb2.ProcessResponse) -> ProcessResult:
    """A ``ProcessResult``; an unset ``best_date`` becomes ``None``, an empty visualization ``None``."""
    t = pb.timings
    return ProcessResult(
        request_id=pb.request_id,
        status=_enum_from_pb(types_pb2.ProcessStatus, "PROCESS_STATUS_", ProcessStatus, pb.status),
        best_date=parsed_date_from_pb(pb.best_date) if pb.HasField("best_date") else None,
        dates=tuple(parsed_date_from_pb(d) for d in pb.dates),
        detections=tuple(
            Detection(
                box=_box_from_pb(d.box), confidence=d.confidence, class_id=d.class_id, class_name=d.class_name
            )
            for d in pb.detections
        ),
        ocr_lines=tuple(
            OcrLine(
                text=line.text,
                confidence=line.confidence,
                box=_box_from_pb(line.box),
                detection_index=line.detection_index,
            )
            for line in pb.ocr_lines
        ),
        timings=StageTimings(
            decode_ms=t.decode_ms,
            queue_ms=t.queue_ms,
            detect_ms=t.detect_ms,
            ocr_ms=t.ocr_ms,
            parse_ms=t.parse_ms,
            total_ms=t.total_ms,
        ),
        image_width=pb.image_width,
        image_height=pb.image_height,
        full_image_fallback_used=pb.full_image_fallback_used,
        visualization_jpeg=pb.visualization_jpeg or None,
        crops_jpeg=tuple(pb.crops_jpeg),
        read_turned_deg=pb.read_turned_deg,
    )


def _tensor_from_pb(pb: admin_service_pb2.TensorInfo) -> TensorInfo:
    return TensorInfo(name=pb.name, data_type=pb.data_type, shape=tuple(pb.shape))


def model_info_from_pb(pb: admin_service_pb2.ModelInfo) -> ModelInfo:
    return ModelInfo(
        name=pb.name,
        kind=pb.kind,
        path=pb.path,
        state=_enum_from_pb(admin_service_pb2.ModelState, "MODEL_STATE_", ModelState, pb.state),
        providers=tuple(pb.providers),
        max_batch_size=pb.max_batch_size,
        inputs=tuple(_tensor_from_pb(t) for t in pb.inputs),
        outputs=tuple(_tensor_from_pb(t) for t in pb.outputs),
        class_names=tuple(pb.class_names),
        sha256=pb.sha256,
    )


def server_info_from_pb(pb: admin_service_pb2.ServerInfo) -> ServerInfo:
    started_at = pb.started_at.ToDatetime(tzinfo=dt.UTC) if pb.HasField("started_at") else None
    return ServerInfo(
        name=pb.name,
        version=pb.version,
        api_version=pb.api_version,
        available_providers=tuple(pb.available_providers),
        onnxruntime_version=pb.onnxruntime_version,
        started_at=started_at,
        ready=pb.ready,
        max_message_bytes=pb.max_message_bytes,
        max_image_bytes=pb.max_image_bytes,
        max_image_pixels=pb.max_image_pixels,
        max_source_pixels=pb.max_source_pixels,
        batch_max_items=pb.batch_max_items,
        batch_max_bytes=pb.batch_max_bytes,
    )


def _time_from_pb(message: Any, name: str) -> dt.datetime | None:
    """A ``google.protobuf.Timestamp`` field as a UTC datetime; unset -> None."""
    return getattr(message, name).ToDatetime(tzinfo=dt.UTC) if message.HasField(name) else None


def _error_or_none(message: Any, name: str = "error") -> DatalidError | None:
    """A ``google.rpc.Status`` field as the SDK exception (not raised); unset -> None."""
    return error_from_status(getattr(message, name)) if message.HasField(name) else None


def process_url_to_pb(url: str, options: ProcessOptions | None) -> expiry_date_service_pb2.ProcessUrlRequest:
    request = expiry_date_service_pb2.ProcessUrlRequest(url=url)
    if options is not None:
        request.options.CopyFrom(options_to_pb(options))
    return request


def batch_items_from_pb(pb: expiry_date_service_pb2.ProcessBatchResponse) -> list[BatchItem]:
    """The items in index order; an item with neither outcome is a ``ServerError``."""
    items = []
    for item in sorted(pb.items, key=lambda i: i.index):
        outcome = item.WhichOneof("outcome")
        if outcome == "result":
            items.append(BatchItem(index=item.index, result=result_from_pb(item.result)))
        elif outcome == "error":
            items.append(BatchItem(index=item.index, error=error_from_status(item.error)))
        else:
            missing = status_pb2.Status(code=13, message=f"batch item {item.index} has no outcome")
            items.append(BatchItem(index=item.index, error=error_from_status(missing)))
    return items


def progress_event_from_pb(pb: expiry_date_service_pb2.ProgressEvent) -> ProgressEvent:
    return ProgressEvent(
        stage=_enum_from_pb(
            expiry_date_service_pb2.ProgressStage, "PROGRESS_STAGE_", ProgressStage, pb.stage
        ),
        elapsed_ms=pb.elapsed_ms,
        message=pb.message,
        result=result_from_pb(pb.result) if pb.HasField("result") else None,
        error=error_from_status(pb.error) if pb.HasField("error") else None,
    )


def frame_to_pb(frame: Frame) -> expiry_date_service_pb2.Frame:
    """Raises TypeError when ``frame`` is not a ``datalid_client.Frame``."""
    if not isinstance(frame, Frame):
        raise TypeError(f"stream_frames takes datalid_client.Frame items, got {type(frame).__name__}")
    pb = expiry_date_service_pb2.Frame(
        stream_id=frame.stream_id,
        frame_id=frame.frame_id,
        image=frame.image,
        drop_policy=expiry_date_service_pb2.DropPolicy.Value(
            f"DROP_POLICY_{DropPolicy(frame.drop_policy).name}"
        ),
    )
    if frame.captured_at is not None:
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(frame.captured_at.astimezone(dt.UTC))
        pb.captured_at.CopyFrom(stamp)
    if frame.options is not None:
        pb.options.CopyFrom(options_to_pb(frame.options))
    return pb


def frame_result_from_pb(pb: expiry_date_service_pb2.FrameResult) -> FrameResult:
    return FrameResult(
        frame_id=pb.frame_id,
        skipped=pb.skipped,
        result=result_from_pb(pb.result) if pb.HasField("result") else None,
        error=_error_or_none(pb),
        stream_best_date=parsed_date_from_pb(pb.stream_best_date)
        if pb.HasField("stream_best_date")
        else None,
        agreeing_frames=pb.agreeing_frames,
    )


def job_state_to_pb(state: JobState | str) -> int:
    """Raises ValueError for a state name this SDK does not know."""
    try:
        member = JobState(state)
    except ValueError:
        names = ", ".join(s.value for s in JobState if s is not JobState.UNSPECIFIED)
        raise ValueError(f"state must be one of {names}, got {state!r}") from None
    return job_service_pb2.JobState.Value(f"JOB_STATE_{member.name}")


def job_from_pb(pb: job_service_pb2.Job) -> Job:
    return Job(
        job_id=pb.job_id,
        state=_enum_from_pb(job_service_pb2.JobState, "JOB_STATE_", JobState, pb.state),
        progress=pb.progress,
        message=pb.message,
        result=result_from_pb(pb.result) if pb.HasField("result") else None,
        error=_error_or_none(pb),
        owner=pb.owner,
        created_at=_time_from_pb(pb, "created_at"),
        started_at=_time_from_pb(pb, "started_at"),
        finished_at=_time_from_pb(pb, "finished_at"),
    )


def create_job_to_pb(
    image: bytes | None, url: str | None, options: ProcessOptions | None
) -> job_service_pb2.CreateJobRequest:
    """Exactly one of ``image`` and ``url``; raises ValueError otherwise."""
    if (image is None) == (url is None):
        raise ValueError("create_job takes exactly one of image= and url=")
    request = job_service_pb2.CreateJobRequest()
    if image is not None:
        request.image = image
    else:
        request.url = url or ""
    if options is not None:
        request.options.CopyFrom(options_to_pb(options))
    return request


def list_jobs_to_pb(
    state: JobState | str | None, page_size: int | None, page_token: str | None
) -> job_service_pb2.ListJobsRequest:
    """Raises ValueError for an unknown state or a page_size < 1."""
    request = job_service_pb2.ListJobsRequest(page_token=page_token or "")
    if state is not None:
        request.state = job_state_to_pb(state)
    if page_size is not None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be an int >= 1 or None, got {page_size!r}")
        request.page_size = page_size
    return request


def job_page_from_pb(pb: job_service_pb2.ListJobsResponse) -> JobPage:
    return JobPage(jobs=tuple(job_from_pb(j) for j in pb.jobs), next_page_token=pb.next_page_token or None)


def job_id_request(kind: str, job_id: str) -> Any:
    """``GetJobRequest``, ``CancelJobRequest``, ``DeleteJobRequest`` or ``WatchJobRequest``.

    Raises:
        ValueError: ``job_id`` is empty (the server would answer NOT_FOUND for every call).
    """
    if not isinstance(job_id, str) or not job_id:
        raise ValueError(f"job_id must be a non-empty string, got {job_id!r}")
    return getattr(job_service_pb2, f"{kind}JobRequest")(job_id=job_id)
