"""Converts between the datalid.v1 wire messages and the pipeline's dataclasses, at the edge.

Malformed request fields raise ``pipeline.InvalidInput`` naming the field, so the error
table turns them into INVALID_ARGUMENT with a BadRequest detail.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
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
from server.jobs.records import JobRecord, JobState

__all__ = [
    "MAX_DETECTIONS_LIMIT",
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


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _reference_date(text: str, today: dt.date) -> dt.date:
    if not text:
        return today
    first, last = REFERENCE_DATE_RANGE
    try:
        # fromisoformat alone also takes 20261101 and 2026-W01-1: the API promises YYYY-MM-DD only.
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(text)
        date = dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("options.reference_date", f"must be a date as YYYY-MM-DD, got {text!r}") from None
    if not first <= date <= last:
        raise InvalidInput(
            "options.reference_date", f"must be from {first} to {last}, got {date.isoformat()}"
        )
    return date


# The most detections a request may ask for (options.max_detections) unless the operator sets
# max_detections_limit: ten times the pipeline's default of 10, and more date regions than any
# label carries. Each detection costs an OCR read and, with return_crops, a JPEG in the response:
# unbounded, a 12 MP noise image with the thresholds opened up gave 1,227 detections and 10 MB of
# crops.
MAX_DETECTIONS_LIMIT = 100


def options_from_pb(
    options: types_pb2.ProcessOptions, today: dt.date, *, max_detections_limit: int = MAX_DETECTIONS_LIMIT
) -> ProcessOptions:
    """The pipeline's options for a request; ``today`` is the server's date for the default reference.

    ``max_detections_limit`` is the largest ``options.max_detections`` accepted (the server's
    ``max_detections_limit`` option).

    Raises:
        InvalidInput: a field is out of range or malformed; the error names it.
    """
    max_detections = None
    if options.HasField("max_detections"):
        max_detections = options.max_detections
        if not 1 <= max_detections <= max_detections_limit:
            raise InvalidInput(
                "options.max_detections", f"must be from 1 to {max_detections_limit}, got {max_detections}"
            )
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
        read_turned_deg=result.read_turned_deg,
    )
    if result.best_date is not None:
        response.best_date.CopyFrom(date_to_pb(result.best_date))
    return response


# fit_pictures sizes messages by the protobuf wire format
# (https://protobuf.dev/programming-guides/encoding/) instead of calling ByteSize() per response:
# upb's ByteSize() serializes the whole message, so sizing a 64-item batch with a megabyte of
# pictures per item after each item blocked the event loop for seconds.
_RESPONSE_FIELDS = types_pb2.ProcessResponse.DESCRIPTOR.fields_by_name
_VISUALIZATION_FIELD = _RESPONSE_FIELDS["visualization_jpeg"].number
_CROPS_FIELD = _RESPONSE_FIELDS["crops_jpeg"].number
_OMITTED_FIELD = _RESPONSE_FIELDS["pictures_omitted"].number


def _varint_bytes(value: int) -> int:
    """Bytes of a non-negative ``value`` as a varint: 7 bits a byte."""
    return max(1, (value.bit_length() + 6) // 7)


def _tag_bytes(field_number: int) -> int:
    # A tag is the varint of (field_number << 3 | wire_type); the wire type never changes its length.
    return _varint_bytes(field_number << 3)


def _delimited_bytes(field_number: int, payload_bytes: int) -> int:
    """Bytes of one length-delimited field (a message, bytes or string): tag, length, payload."""
    return _tag_bytes(field_number) + _varint_bytes(payload_bytes) + payload_bytes


@dataclass(frozen=True, slots=True)
class _Level:
    """One message around a response: the field holding the inner part and this message's other bytes."""

    field_number: int
    other_bytes: int


@dataclass(frozen=True, slots=True)
class _Placed:
    """A response with pictures, where it sits in the message, and what it weighs.

    ``levels`` run innermost first; empty when the response is the message itself. The outermost
    level's ``other_bytes`` is 0: the message's other bytes are counted once, for all responses.
    """

    response: types_pb2.ProcessResponse
    levels: tuple[_Level, ...]
    visualization: bytes
    crops: tuple[bytes, ...]
    bare_bytes: int

    def outer_bytes(self, response_bytes: int) -> int:
        """Bytes this response adds to the message, with the lengths around it, at ``response_bytes``."""
        size = response_bytes
        for level in self.levels:
            size = level.other_bytes + _delimited_bytes(level.field_number, size)
        return size

    @property
    def with_pictures(self) -> int:
        """Bytes the message grows by when this response keeps its pictures."""
        pictures = sum(_delimited_bytes(_CROPS_FIELD, len(crop)) for crop in self.crops)
        if self.visualization:  # an empty proto3 bytes field is not sent
            pictures += _delimited_bytes(_VISUALIZATION_FIELD, len(self.visualization))
        return self._growth(pictures)

    @property
    def without_pictures(self) -> int:
        """Bytes the message grows by when this response says its pictures were left out."""
        return self._growth(_tag_bytes(_OMITTED_FIELD) + 1)  # pictures_omitted = true: a 1-byte varint

    def _growth(self, added_bytes: int) -> int:
        return self.outer_bytes(self.bare_bytes + added_bytes) - self.outer_bytes(self.bare_bytes)

    def keep(self) -> None:
        self.response.visualization_jpeg = self.visualization
        self.response.crops_jpeg.extend(self.crops)
        self.response.pictures_omitted = False

    def omit(self) -> None:
        self.response.pictures_omitted = True


# The (enclosing message, field number) pairs that lead to a response, outermost first.
_Path = tuple[tuple[Message, int], ...]


def _responses_in(message: Message, path: _Path = ()) -> Iterator[tuple[types_pb2.ProcessResponse, _Path]]:
    """Every ProcessResponse in ``message`` (itself included), in field order, with the
    (enclosing message, field number) pairs that lead to it, outermost first. Map fields are not
    searched: no message of the API holds a response in one."""
    if isinstance(message, types_pb2.ProcessResponse):
        yield message, path
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.GetOptions().map_entry:
            continue
        for child in value if field.is_repeated else (value,):
            yield from _responses_in(child, (*path, (message, field.number)))


def _take_pictures(response: types_pb2.ProcessResponse) -> tuple[bytes, tuple[bytes, ...]] | None:
    """Takes the pictures (and the omitted flag) out of ``response``, to come back with ``keep``;
    None, and ``response`` left alone, when it has none."""
    visualization, crops = response.visualization_jpeg, tuple(response.crops_jpeg)
    if not (visualization or crops):
        return None
    _clear_pictures(response)
    response.ClearField("pictures_omitted")
    return visualization, crops


def _measured(
    response: types_pb2.ProcessResponse, path: _Path, visualization: bytes, crops: tuple[bytes, ...]
) -> _Placed:
    """``response``, without its pictures, placed and sized."""
    bare = response.ByteSize()
    levels: list[_Level] = []
    inner = bare
    for depth in range(len(path) - 1, 0, -1):
        enclosing, field_number = path[depth]
        size = enclosing.ByteSize()
        levels.append(_Level(field_number, size - _delimited_bytes(field_number, inner)))
        inner = size
    if path:
        levels.append(_Level(path[0][1], 0))
    return _Placed(response, tuple(levels), visualization, crops, bare)


def fit_pictures(message: Message, limit_bytes: int) -> None:
    """Leaves pictures out of the ProcessResponses in ``message`` until it fits ``limit_bytes``.

    The pictures (visualization and crops) are the only parts of a response without a bound of
    their own: a full-size annotated JPEG per photo. A message over the server's
    ``max_message_bytes`` would fail RESOURCE_EXHAUSTED after all its work, so the pictures of the
    earliest responses (in field order: a batch's first items) are kept while the message fits,
    and every response whose pictures were left out says so (``pictures_omitted``). The dates,
    boxes and text always stay.

    Costs one serialization of the message without its pictures, whatever the number of
    responses: the sizes with pictures are computed from the wire format, exactly.
    """
    taken = [(r, path, _take_pictures(r)) for r, path in list(_responses_in(message))]
    # Sized only once every response is without pictures: each ByteSize() then serializes little.
    placed = [_measured(r, path, *pictures) for r, path, pictures in taken if pictures is not None]
    total = message.ByteSize()
    if total + sum(p.with_pictures for p in placed) <= limit_bytes:
        for p in placed:
            p.keep()
        return
    total += sum(p.without_pictures for p in placed)
    for p in placed:
        if total - p.without_pictures + p.with_pictures <= limit_bytes:
            total += p.with_pictures - p.without_pictures
            p.keep()
        else:
            p.omit()


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
    _clear_pictures(summary)
    return summary


def _clear_pictures(response: types_pb2.ProcessResponse) -> None:
    response.ClearField("visualization_jpeg")
    response.ClearField("crops_jpeg")


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
            _clear_pictures(job.result)
    if record.error:
        job.error.CopyFrom(status_pb2.Status.FromString(record.error))
    return job
