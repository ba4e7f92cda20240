"""What the SDK returns and accepts: frozen dataclasses and string enums, no protobuf.

``_convert.py`` is the only module that turns these into ``datalid.v1`` messages and back.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

__all__ = [
    "BoundingBox",
    "DateKind",
    "DateOrder",
    "DatePrecision",
    "Detection",
    "ModelInfo",
    "ModelState",
    "OcrLine",
    "ParsedDate",
    "ProcessOptions",
    "ProcessResult",
    "ProcessStatus",
    "ServerInfo",
    "StageTimings",
    "TensorInfo",
]


class ProcessStatus(enum.StrEnum):
    """What a process call found. ``UNSPECIFIED`` only comes from a server that set nothing."""

    UNSPECIFIED = "unspecified"
    FOUND = "found"  # a date was parsed
    PARTIAL = "partial"  # a region or text was found, but no date
    NOT_FOUND = "not_found"  # nothing readable


class DateKind(enum.StrEnum):
    """What a printed date means on the package."""

    UNSPECIFIED = "unspecified"
    EXPIRY = "expiry"
    MANUFACTURE = "manufacture"
    UNKNOWN = "unknown"


class DatePrecision(enum.StrEnum):
    """How much of the date was printed; ``MONTH`` dates stand for the month's last day."""

    UNSPECIFIED = "unspecified"
    DAY = "day"
    MONTH = "month"


class DateOrder(enum.StrEnum):
    """How ambiguous numeric dates such as 03/04/26 are read. Plain strings ``"DMY"`` work too."""

    DMY = "DMY"
    MDY = "MDY"
    YMD = "YMD"


class ModelState(enum.StrEnum):
    """Where a model on the server is in its lifecycle."""

    UNSPECIFIED = "unspecified"
    LOADING = "loading"
    READY = "ready"
    UNAVAILABLE = "unavailable"


def _check_unit_interval(name: str, value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessOptions:
    """Per-request options. ``None`` (and ``False`` for the two return flags) means the server default.

    Args:
        detection_confidence: Minimum detector confidence, 0..1.
        detection_iou: IoU threshold of the detector's non-maximum suppression, 0..1.
        max_detections: Upper bound on returned detections, >= 1.
        return_visualization: Ask for an annotated JPEG in ``ProcessResult.visualization_jpeg``.
        return_crops: Ask for each detected region as a JPEG in ``ProcessResult.crops_jpeg``.
        full_image_fallback: Read the whole image when the detector finds nothing.
        reference_date: The day ``is_expired`` and ``days_until_expiry`` are computed against
            (server default: today on the server).
        date_order: ``"DMY"``, ``"MDY"`` or ``"YMD"`` (server default: DMY).

    Raises:
        ValueError: a value is out of range; the message names the field and the value.
    """

    detection_confidence: float | None = None
    detection_iou: float | None = None
    max_detections: int | None = None
    return_visualization: bool = False
    return_crops: bool = False
    full_image_fallback: bool | None = None
    reference_date: dt.date | None = None
    date_order: DateOrder | str | None = None

    def __post_init__(self) -> None:
        _check_unit_interval("detection_confidence", self.detection_confidence)
        _check_unit_interval("detection_iou", self.detection_iou)
        if self.max_detections is not None and self.max_detections < 1:
            raise ValueError(f"max_detections must be >= 1, got {self.max_detections!r}")
        if self.reference_date is not None and (
            not isinstance(self.reference_date, dt.date) or isinstance(self.reference_date, dt.datetime)
        ):
            raise ValueError(f"reference_date must be a datetime.date, got {self.reference_date!r}")
        if self.date_order is not None:
            try:
                order = DateOrder(self.date_order)
            except ValueError:
                msg = f"date_order must be one of DMY, MDY, YMD, got {self.date_order!r}"
                raise ValueError(msg) from None
            object.__setattr__(self, "date_order", order)


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
    """One line of text the OCR read; ``detection_index`` is -1 for a line from the whole image."""

    text: str
    confidence: float
    box: BoundingBox
    detection_index: int


@dataclass(frozen=True, slots=True)
class ParsedDate:
    """A date read from the image, judged against the request's reference date.

    ``days_until_expiry`` is ``date`` minus the reference date, negative once expired.
    """

    date: dt.date
    kind: DateKind
    precision: DatePrecision
    year_inferred: bool
    confidence: float
    text: str
    is_expired: bool
    days_until_expiry: int


@dataclass(frozen=True, slots=True)
class StageTimings:
    """Milliseconds the server spent per stage of one request."""

    decode_ms: float = 0.0
    queue_ms: float = 0.0
    detect_ms: float = 0.0
    ocr_ms: float = 0.0
    parse_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """Everything one process call found in one image.

    ``best_date`` is the expiry date when one was found, else ``None``. ``visualization_jpeg`` is
    ``None`` unless it was asked for with ``ProcessOptions(return_visualization=True)``.
    """

    request_id: str
    status: ProcessStatus
    best_date: ParsedDate | None
    dates: tuple[ParsedDate, ...]
    detections: tuple[Detection, ...]
    ocr_lines: tuple[OcrLine, ...]
    timings: StageTimings
    image_width: int
    image_height: int
    full_image_fallback_used: bool = False
    visualization_jpeg: bytes | None = None
    crops_jpeg: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """A model input or output as ONNX declares it; dynamic axes are -1."""

    name: str
    data_type: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the server reports about one model."""

    name: str
    kind: str  # yolo_detector, ocr_det, ocr_cls or ocr_rec
    path: str
    state: ModelState
    providers: tuple[str, ...]
    max_batch_size: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    class_names: tuple[str, ...]
    sha256: str


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the server reports about itself; ``started_at`` is timezone-aware UTC."""

    name: str
    version: str
    api_version: str
    available_providers: tuple[str, ...]
    onnxruntime_version: str
    started_at: dt.datetime | None
    ready: bool
    max_message_bytes: int
    max_image_bytes: int
    max_image_pixels: int
