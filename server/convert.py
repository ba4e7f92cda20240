"""Converts between the datalid.v1 wire messages and the pipeline's dataclasses, at the edge.

Malformed request fields raise ``pipeline.InvalidInput`` naming the field, so the error
table turns them into INVALID_ARGUMENT with a BadRequest detail.
"""

from __future__ import annotations

import datetime as dt
import math

from google.protobuf import timestamp_pb2
from google.rpc import status_pb2

from datalid.v1 import job_service_pb2, types_pb2
from pipeline import (
    BoundingBox,
    DateFinding,
    DateKind,
    DateOrder,
    DatePrecision,
    Detection,
    InvalidInput,
    OcrLine,
    ProcessOptions,
    ProcessResult,
    ProcessStatus,
    StageTimings,
)
from server.jobstore import JobRecord, JobState

__all__ = [
    "date_to_pb",
    "job_state_from_pb",
    "job_to_pb",
    "options_from_pb",
    "result_to_pb",
]

_DATE_ORDER = {
    types_pb2.DATE_ORDER_DMY: DateOrder.DMY,
    types_pb2.DATE_ORDER_MDY: DateOrder.MDY,
    types_pb2.DATE_ORDER_YMD: DateOrder.YMD,
}
_STATUS = {
    ProcessStatus.FOUND: types_pb2.PROCESS_STATUS_FOUND,
    ProcessStatus.PARTIAL: types_pb2.PROCESS_STATUS_PARTIAL,
    ProcessStatus.NOT_FOUND: types_pb2.PROCESS_STATUS_NOT_FOUND,
}
_KIND = {
    DateKind.EXPIRY: types_pb2.DATE_KIND_EXPIRY,
    DateKind.MANUFACTURE: types_pb2.DATE_KIND_MANUFACTURE,
    DateKind.UNKNOWN: types_pb2.DATE_KIND_UNKNOWN,
}
_PRECISION = {
    DatePrecision.DAY: types_pb2.DATE_PRECISION_DAY,
    DatePrecision.MONTH: types_pb2.DATE_PRECISION_MONTH,
}


def _unit_interval(options: types_pb2.ProcessOptions, name: str) -> float | None:
    if not options.HasField(name):
        return None
    value = getattr(options, name)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidInput(f"options.{name}", f"must be between 0 and 1, got {value}")
    return value


def _reference_date(text: str, today: dt.date) -> dt.date:
    if not text:
        return today
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("options.reference_date", f"must be a date as YYYY-MM-DD, got {text!r}") from None


def options_from_pb(options: types_pb2.ProcessOptions, today: dt.date) -> ProcessOptions:
    """The pipeline's options for a request; ``today`` is the server's date for the default reference.

    Raises:
        InvalidInput: a field is out of range or malformed; the error names it.
    """
    max_detections = None
    if options.HasField("max_detections"):
        max_detections = options.max_detections
        if max_detections < 1:
            raise InvalidInput("options.max_detections", f"must be >= 1, got {max_detections}")
    if options.date_order not in _DATE_ORDER and options.date_order != types_pb2.DATE_ORDER_UNSPECIFIED:
        raise InvalidInput("options.date_order", f"unknown value {options.date_order}")
    return ProcessOptions(
        detection_confidence=_unit_interval(options, "detection_confidence"),
        detection_iou=_unit_interval(options, "detection_iou"),
        max_detections=max_detections,
        return_visualization=options.return_visualization,
        return_crops=options.return_crops,
        full_image_fallback=options.full_image_fallback if options.HasField("full_image_fallback") else None,
        reference_date=_reference_date(options.reference_date, today),
        date_order=_DATE_ORDER.get(options.date_order),
    )


def _box_to_pb(box: BoundingBox) -> types_pb2.BoundingBox:
    return types_pb2.BoundingBox(x1=box.x1, y1=box.y1, x2=box.x2, y2=box.y2)


def date_to_pb(found: DateFinding) -> types_pb2.ParsedDate:
    return types_pb2.ParsedDate(
        date=found.date.isoformat(),
        kind=_KIND[found.kind],
        precision=_PRECISION[found.precision],
        year_inferred=found.year_inferred,
        confidence=found.confidence,
        text=found.text,
        is_expired=found.is_expired,
        days_until_expiry=found.days_until_expiry,
    )


def _detection_to_pb(detection: Detection) -> types_pb2.Detection:
    return types_pb2.Detection(
        box=_box_to_pb(detection.box),
        confidence=detection.confidence,
        class_id=detection.class_id,
        class_name=detection.class_name,
    )


def _line_to_pb(line: OcrLine) -> types_pb2.OcrLine:
    return types_pb2.OcrLine(
        text=line.text,
        confidence=line.confidence,
        box=_box_to_pb(line.box),
        detection_index=line.detection_index,
    )


def _timings_to_pb(timings: StageTimings) -> types_pb2.StageTimings:
    return types_pb2.StageTimings(
        decode_ms=timings.decode_ms,
        queue_ms=timings.queue_ms,
        detect_ms=timings.detect_ms,
        ocr_ms=timings.ocr_ms,
        parse_ms=timings.parse_ms,
        total_ms=timings.total_ms,
    )


def result_to_pb(result: ProcessResult, request_id: str) -> types_pb2.ProcessResponse:
    """The wire response for a pipeline result."""
    response = types_pb2.ProcessResponse(
        request_id=request_id,
        status=_STATUS[result.status],
        detections=[_detection_to_pb(d) for d in result.detections],
        ocr_lines=[_line_to_pb(line) for line in result.ocr_lines],
        dates=[date_to_pb(d) for d in result.dates],
        timings=_timings_to_pb(result.timings),
        image_width=result.image_width,
        image_height=result.image_height,
        visualization_jpeg=result.visualization_jpeg,
        crops_jpeg=list(result.crops_jpeg),
        full_image_fallback_used=result.full_image_fallback_used,
    )
    if result.best_date is not None:
        response.best_date.CopyFrom(date_to_pb(result.best_date))
    return response


_JOB_STATE = {
    JobState.QUEUED: job_service_pb2.JOB_STATE_QUEUED,
    JobState.RUNNING: job_service_pb2.JOB_STATE_RUNNING,
    JobState.SUCCEEDED: job_service_pb2.JOB_STATE_SUCCEEDED,
    JobState.FAILED: job_service_pb2.JOB_STATE_FAILED,
    JobState.CANCELLED: job_service_pb2.JOB_STATE_CANCELLED,
}
_JOB_STATE_FROM_PB = {number: state for state, number in _JOB_STATE.items()}


def job_state_from_pb(state: int) -> JobState | None:
    """The store's state for a ListJobs filter; None for UNSPECIFIED (every state).

    Raises:
        InvalidInput: an unknown state number.
    """
    if state == job_service_pb2.JOB_STATE_UNSPECIFIED:
        return None
    if state not in _JOB_STATE_FROM_PB:
        raise InvalidInput("state", f"unknown job state {state}")
    return _JOB_STATE_FROM_PB[state]


def _timestamp(unix_s: float | None) -> timestamp_pb2.Timestamp | None:
    if unix_s is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(unix_s * 1e9))
    return stamp


def job_to_pb(record: JobRecord) -> job_service_pb2.Job:
    """The wire Job for a stored one; its result and error are stored as serialized messages."""
    job = job_service_pb2.Job(
        job_id=record.job_id,
        state=_JOB_STATE[record.state],
        progress=record.progress,
        message=record.message,
        owner=record.owner,
        created_at=_timestamp(record.created_at),
        started_at=_timestamp(record.started_at),
        finished_at=_timestamp(record.finished_at),
    )
    if record.result:
        job.result.ParseFromString(record.result)
    if record.error:
        job.error.CopyFrom(status_pb2.Status.FromString(record.error))
    return job
