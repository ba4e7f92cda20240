"""Converts between the datalid.v1 wire messages and the pipeline's dataclasses, at the edge.

Malformed request fields raise ``pipeline.InvalidInput`` naming the field, so the error
table turns them into INVALID_ARGUMENT with a BadRequest detail.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from google.protobuf import timestamp_pb2
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message
from google.rpc import status_pb2

from datalid.v1 import expiry_date_service_pb2, job_service_pb2, types_pb2
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
    "REFERENCE_DATE_RANGE",
    "check_enum",
    "date_to_pb",
    "drop_policy_from_pb",
    "fit_pictures",
    "job_result_summary",
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


# The reference dates a request may name. The parser counts back ``date_grace_days`` and
# ``date_years_back`` years from it and forward ``date_years_ahead`` years (and up to eight more
# for 29 February), so a date near datetime's 0001 or 9999 ends would overflow there; these bounds
# keep every such step inside datetime's range for the configured defaults (30 days, 15 years)
# with centuries to spare, and cover any product a camera will see.
REFERENCE_DATE_RANGE = (dt.date(1970, 1, 1), dt.date(9000, 12, 31))


def check_enum(value: int, enum_type: EnumTypeWrapper, field: str) -> int:
    """``value`` if it is a number of ``enum_type`` (UNSPECIFIED included).

    proto3 enums are open: a caller can send any int32 in an enum field, and the message parses.

    Raises:
        InvalidInput: naming ``field`` (e.g. ``options.date_order``), listing the known names.
    """
    if value not in enum_type.DESCRIPTOR.values_by_number:
        known = ", ".join(enum_type.keys())
        raise InvalidInput(field, f"unknown value {value}; one of {known}")
    return value


def _reference_date(text: str, today: dt.date) -> dt.date:
    if not text:
        return today
    first, last = REFERENCE_DATE_RANGE
    try:
        date = dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("options.reference_date", f"must be a date as YYYY-MM-DD, got {text!r}") from None
    if not first <= date <= last:
        raise InvalidInput(
            "options.reference_date", f"must be from {first} to {last}, got {date.isoformat()}"
        )
    return date


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
    check_enum(options.date_order, types_pb2.DateOrder, "options.date_order")
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


def _omit_pictures(response: types_pb2.ProcessResponse) -> None:
    if response.visualization_jpeg or response.crops_jpeg:
        response.ClearField("visualization_jpeg")
        response.ClearField("crops_jpeg")
        response.pictures_omitted = True


def fit_pictures(message: Message, responses: Sequence[types_pb2.ProcessResponse], limit_bytes: int) -> None:
    """Leaves pictures out of ``responses`` until ``message``, which holds them, fits ``limit_bytes``.

    The pictures (visualization and crops) are the only parts of a response without a bound of
    their own: a full-size annotated JPEG per photo. A message over the server's
    ``max_message_bytes`` would fail RESOURCE_EXHAUSTED after all its work, so the pictures of the
    earliest responses are kept while the message fits, and every response whose pictures were
    left out says so (``pictures_omitted``). The dates, boxes and text always stay.
    """
    if message.ByteSize() <= limit_bytes:
        return
    pictures = [(r.visualization_jpeg, tuple(r.crops_jpeg)) for r in responses]
    for response in responses:
        _omit_pictures(response)
    for response, (visualization, crops) in zip(responses, pictures, strict=True):
        if not (visualization or crops):
            continue
        response.visualization_jpeg = visualization
        response.crops_jpeg.extend(crops)
        response.pictures_omitted = False
        if message.ByteSize() > limit_bytes:
            _omit_pictures(response)


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
    if check_enum(state, job_service_pb2.JobState, "state") == job_service_pb2.JOB_STATE_UNSPECIFIED:
        return None
    return _JOB_STATE_FROM_PB[state]


def drop_policy_from_pb(frame: expiry_date_service_pb2.Frame) -> int:
    """The frame's drop policy; UNSPECIFIED reads as PROCESS_ALL.

    Raises:
        InvalidInput: an unknown policy number, naming ``drop_policy``.
    """
    policy = check_enum(frame.drop_policy, expiry_date_service_pb2.DropPolicy, "drop_policy")
    if policy == expiry_date_service_pb2.DROP_POLICY_UNSPECIFIED:
        return expiry_date_service_pb2.DROP_POLICY_PROCESS_ALL
    return policy


def _timestamp(unix_s: float | None) -> timestamp_pb2.Timestamp | None:
    if unix_s is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(unix_s * 1e9))
    return stamp


def job_result_summary(response: types_pb2.ProcessResponse) -> types_pb2.ProcessResponse:
    """What ListJobs shows of a job's result: all of it but the pictures (``visualization_jpeg``,
    ``crops_jpeg``), which can be megabytes each; GetJob and WatchJob give them."""
    summary = types_pb2.ProcessResponse()
    summary.CopyFrom(response)
    summary.ClearField("visualization_jpeg")
    summary.ClearField("crops_jpeg")
    return summary


def job_to_pb(record: JobRecord, *, pictures: bool = True) -> job_service_pb2.Job:
    """The wire Job for a stored one; its result and error are stored as serialized messages.

    ``pictures=False`` leaves the result's pictures out (see :func:`job_result_summary`).
    """
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
        if not pictures:
            job.result.ClearField("visualization_jpeg")
            job.result.ClearField("crops_jpeg")
    if record.error:
        job.error.CopyFrom(status_pb2.Status.FromString(record.error))
    return job
