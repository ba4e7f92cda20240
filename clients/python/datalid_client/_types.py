"""What the SDK returns and accepts: frozen dataclasses and string enums, no protobuf.

``_convert.py`` is the only module that turns these into ``datalid.v1`` messages and back.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from ._errors import DatalidError

__all__ = [
    "BatchItem",
    "BoundingBox",
    "DateKind",
    "DateOrder",
    "DatePrecision",
    "Detection",
    "DropPolicy",
    "Frame",
    "FrameResult",
    "Job",
    "JobPage",
    "JobState",
    "ModelInfo",
    "ModelState",
    "OcrLine",
    "ParsedDate",
    "ProcessOptions",
    "ProcessResult",
    "ProcessStatus",
    "ProgressEvent",
    "ProgressStage",
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
        full_image_fallback: Read the whole image when the detector finds nothing, or no date
            in what it finds.
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
    # How far clockwise the server turned the photo before reading it: 90 or 270 when it came
    # sideways (its text ran down it), 180 upside down, 0 when read as sent. Boxes are in the
    # sent photo's pixels.
    read_turned_deg: int = 0


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
    # 0 from a server older than these fields.
    max_source_pixels: int = 0
    batch_max_items: int = 0
    batch_max_bytes: int = 0


@dataclass(frozen=True, slots=True)
class BatchItem:
    """The outcome of one image of a ``process_batch`` call: ``result`` or ``error``, never both.

    ``error`` is the same ``DatalidError`` subclass a failed ``process`` call of that image would
    raise (``InvalidInput`` with its ``field_violations``, ``ResourceExhausted``, ...).
    """

    index: int  # position of the image in the call's input, from 0
    result: ProcessResult | None = None
    error: DatalidError | None = None

    @property
    def ok(self) -> bool:
        """True when the image was read (``result`` is set)."""
        return self.error is None and self.result is not None


class ProgressStage(enum.StrEnum):
    """The pipeline stages ``process_with_progress`` reports, in order."""

    UNSPECIFIED = "unspecified"
    DECODED = "decoded"
    REGIONS_DETECTED = "regions_detected"
    TEXT_READ = "text_read"
    DATES_PARSED = "dates_parsed"
    COMPLETED = "completed"
    # The call failed after earlier events; the iterator raises the same error next.
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One stage of a ``process_with_progress`` call; the ``COMPLETED`` event carries the
    ``result``, a ``FAILED`` event the ``error`` the call ends with."""

    stage: ProgressStage
    elapsed_ms: float  # since the call started, on the server
    message: str = ""
    result: ProcessResult | None = None
    error: DatalidError | None = None


class DropPolicy(enum.StrEnum):
    """What the server does with frames that arrive faster than it reads them."""

    PROCESS_ALL = "process_all"  # read every frame, in order
    LATEST = "latest"  # answer stale frames with skipped=True and read only the newest


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One camera frame sent to ``stream_frames``.

    Args:
        frame_id: The caller's number of the frame (>= 0); the matching ``FrameResult`` carries it.
        image: The encoded frame (JPEG or any format the server reads).
        captured_at: When the frame was taken, timezone-aware (None: not sent).
        options: Per-frame options (None: the server defaults).
        drop_policy: ``DropPolicy.PROCESS_ALL`` (default) or ``DropPolicy.LATEST``; plain strings work too.
        stream_id: Names the stream when one caller multiplexes several (optional).

    Raises:
        ValueError: a value is out of range; the message names the field and the value.
        TypeError: ``image`` is not bytes.
    """

    frame_id: int
    image: bytes
    captured_at: dt.datetime | None = None
    options: ProcessOptions | None = None
    drop_policy: DropPolicy | str = DropPolicy.PROCESS_ALL
    stream_id: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.frame_id, bool) or not isinstance(self.frame_id, int) or self.frame_id < 0:
            raise ValueError(f"frame_id must be an int >= 0, got {self.frame_id!r}")
        if not isinstance(self.image, bytes | bytearray | memoryview):
            raise TypeError(f"image must be the encoded frame as bytes, got {type(self.image).__name__}")
        object.__setattr__(self, "image", bytes(self.image))
        if self.captured_at is not None and (
            not isinstance(self.captured_at, dt.datetime) or self.captured_at.utcoffset() is None
        ):
            raise ValueError(f"captured_at must be a timezone-aware datetime, got {self.captured_at!r}")
        try:
            policy = DropPolicy(self.drop_policy)
        except ValueError:
            msg = f"drop_policy must be one of process_all, latest, got {self.drop_policy!r}"
            raise ValueError(msg) from None
        object.__setattr__(self, "drop_policy", policy)


@dataclass(frozen=True, slots=True)
class FrameResult:
    """The answer to one ``Frame``, in frame order.

    Exactly one of ``skipped``, ``result`` and ``error`` describes the frame: a frame dropped under
    ``DropPolicy.LATEST`` is ``skipped``; a frame that failed carries its ``DatalidError`` and the
    stream goes on. ``stream_best_date`` is the date the stream's recent frames agree on, and
    ``agreeing_frames`` how many of them do.
    """

    frame_id: int
    skipped: bool = False
    result: ProcessResult | None = None
    error: DatalidError | None = None
    stream_best_date: ParsedDate | None = None
    agreeing_frames: int = 0


class JobState(enum.StrEnum):
    """Where a job is in its lifecycle; ``SUCCEEDED``, ``FAILED`` and ``CANCELLED`` are final."""

    UNSPECIFIED = "unspecified"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True for the states a job never leaves."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True, slots=True)
class Job:
    """A persistent asynchronous job. Times are timezone-aware UTC, None until they happen.

    ``result`` is set once the job ``SUCCEEDED``; ``error`` (a ``DatalidError``) once it ``FAILED``.
    """

    job_id: str
    state: JobState
    progress: float = 0.0  # 0..1
    message: str = ""
    result: ProcessResult | None = None
    error: DatalidError | None = None
    owner: str = ""
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of ``list_jobs``; pass ``next_page_token`` to get the next (None: this is the last)."""

    jobs: tuple[Job, ...]
    next_page_token: str | None = None
