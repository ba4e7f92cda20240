"""Values that flow in and out of the pipeline: plain frozen dataclasses, no wire types.

The server converts the API's protobuf messages to and from these in server/convert.py.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

__all__ = [
    "BoundingBox",
    "DateFinding",
    "DateKind",
    "DateOrder",
    "DatePrecision",
    "Detection",
    "ModelInfo",
    "OcrLine",
    "ParsedDate",
    "ProcessOptions",
    "ProcessResult",
    "ProcessStatus",
    "SecondChance",
    "Stage",
    "StageEvent",
    "StageTimings",
    "TensorInfo",
]


class DateOrder(enum.StrEnum):
    """How ambiguous numeric dates (03/04/26) are read."""

    DMY = "DMY"
    MDY = "MDY"
    YMD = "YMD"


class DateKind(enum.StrEnum):
    """What a printed date means on the package."""

    EXPIRY = "expiry"
    MANUFACTURE = "manufacture"
    UNKNOWN = "unknown"


class DatePrecision(enum.StrEnum):
    """How much of the date was printed; MONTH dates stand for the month's last day."""

    DAY = "day"
    MONTH = "month"


class Stage(enum.StrEnum):
    """Stages an ``aprocess`` call reports as each one ends (see ``StageEvent``)."""

    DECODED = "decoded"
    REGIONS_DETECTED = "regions_detected"
    TEXT_READ = "text_read"
    DATES_PARSED = "dates_parsed"


@dataclass(frozen=True, slots=True)
class StageEvent:
    """One stage of a request has ended; ``count`` is what it produced (pixels, regions, lines, dates)."""

    stage: Stage
    count: int
    message: str


class ProcessStatus(enum.StrEnum):
    """What a process call found."""

    FOUND = "found"  # a date was parsed
    PARTIAL = "partial"  # a region or text, but no date
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessOptions:
    """Per-request options; ``None`` means the pipeline's configured default."""

    detection_confidence: float | None = None
    detection_iou: float | None = None
    max_detections: int | None = None
    return_visualization: bool = False
    return_crops: bool = False
    full_image_fallback: bool | None = None
    reference_date: dt.date | None = None
    date_order: DateOrder | None = None


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """An axis-aligned box in pixels of the original (orientation-corrected) image."""

    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True, slots=True)
class Detection:
    """A region the detector found."""

    box: BoundingBox
    confidence: float
    class_id: int
    class_name: str


@dataclass(frozen=True, slots=True)
class OcrLine:
    """One line of text read by the OCR.

    ``detection_index`` points into ``ProcessResult.detections``; -1 means the line came
    from reading the whole image.
    """

    text: str
    confidence: float
    box: BoundingBox
    detection_index: int = -1
    # The text with one digit swapped for the recogniser's close second choice, most likely first
    # (``pipeline.ctc``): tried on a photo whose reads hold no date, and on a line whose whole
    # numeric date is impossible (``pipeline.impossible_dates``). Not sent to callers.
    alternatives: tuple[str, ...] = ()
    # The line was read turned by 180 degrees: its text stood upside down in the image
    # (pipeline.ocr.better_orientation; pipeline.photo_orientation.upside_down). Not sent to callers.
    upside_down: bool = False


@dataclass(frozen=True, slots=True)
class ParsedDate:
    """One date read from text by the parser.

    Attributes:
        date: the date; a MONTH-precision date is the last day of its month.
        kind: EXPIRY or MANUFACTURE when a keyword said so, else UNKNOWN.
        precision: DAY, or MONTH when only month and year were printed.
        year_inferred: True when no year was printed and it was chosen from the reference date.
        confidence: 0..1, how sure the parser is that this span is this date.
        text: the span of the input that was read.
    """

    date: dt.date
    kind: DateKind
    precision: DatePrecision
    year_inferred: bool
    confidence: float
    text: str


@dataclass(frozen=True, slots=True)
class DateFinding(ParsedDate):
    """A parsed date judged against the request's reference date."""

    is_expired: bool
    days_until_expiry: int

    @classmethod
    def judged(cls, parsed: ParsedDate, reference_date: dt.date) -> DateFinding:
        """``parsed`` with is_expired and days_until_expiry counted from ``reference_date``."""
        days = (parsed.date - reference_date).days
        return cls(
            date=parsed.date,
            kind=parsed.kind,
            precision=parsed.precision,
            year_inferred=parsed.year_inferred,
            confidence=parsed.confidence,
            text=parsed.text,
            is_expired=days < 0,
            days_until_expiry=days,
        )


@dataclass(frozen=True, slots=True)
class StageTimings:
    """Milliseconds spent per stage of one request."""

    decode_ms: float = 0.0
    queue_ms: float = 0.0
    detect_ms: float = 0.0
    ocr_ms: float = 0.0
    parse_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class SecondChance:
    """What the second-chance reads of one image did (see :mod:`pipeline.second_chance`).

    Attributes:
        read: the variants read, in order, as ``window:STEPS`` (the detector's windows) or
            ``photo:STEPS`` (the whole photo), e.g. ``window:dots``, ``photo:turn180``.
        skipped: variants of the plan not read because the deadline would have passed first.
        winner: the variant whose lines the result holds, ``""`` when none read a date.
        support: how many variants read the winning date.
        ms: wall time of the second chance, milliseconds.
    """

    read: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    winner: str = ""
    support: int = 0
    ms: float = 0.0


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """Everything one process call found in one image."""

    status: ProcessStatus
    image_width: int
    image_height: int
    timings: StageTimings
    detections: tuple[Detection, ...] = ()
    ocr_lines: tuple[OcrLine, ...] = ()
    dates: tuple[DateFinding, ...] = ()
    best_date: DateFinding | None = None
    full_image_fallback_used: bool = False
    visualization_jpeg: bytes = b""
    crops_jpeg: tuple[bytes, ...] = field(default=())
    # None when no second chance was taken: the first read found a date, or it is turned off.
    second_chance: SecondChance | None = None
    # The photo was read turned clockwise by this many degrees (90 or 270: it came sideways; 180:
    # upside down; pipeline/photo_orientation.py); 0: as sent. Boxes are in the sent photo's
    # pixels either way.
    read_turned_deg: int = 0


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """A model input or output as ONNX declares it; dynamic axes are -1."""

    name: str
    data_type: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the server reports about one loaded model."""

    name: str
    kind: str  # yolo_detector, ocr_det, ocr_cls or ocr_rec
    path: str
    providers: tuple[str, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    sha256: str
    max_batch_size: int = 1
    class_names: tuple[str, ...] = ()
    ready: bool = False
