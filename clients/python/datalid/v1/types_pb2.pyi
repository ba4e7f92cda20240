from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DateOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATE_ORDER_UNSPECIFIED: _ClassVar[DateOrder]
    DATE_ORDER_DMY: _ClassVar[DateOrder]
    DATE_ORDER_MDY: _ClassVar[DateOrder]
    DATE_ORDER_YMD: _ClassVar[DateOrder]

class ProcessStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROCESS_STATUS_UNSPECIFIED: _ClassVar[ProcessStatus]
    PROCESS_STATUS_FOUND: _ClassVar[ProcessStatus]
    PROCESS_STATUS_PARTIAL: _ClassVar[ProcessStatus]
    PROCESS_STATUS_NOT_FOUND: _ClassVar[ProcessStatus]

class DateKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATE_KIND_UNSPECIFIED: _ClassVar[DateKind]
    DATE_KIND_EXPIRY: _ClassVar[DateKind]
    DATE_KIND_MANUFACTURE: _ClassVar[DateKind]
    DATE_KIND_UNKNOWN: _ClassVar[DateKind]

class DatePrecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATE_PRECISION_UNSPECIFIED: _ClassVar[DatePrecision]
    DATE_PRECISION_DAY: _ClassVar[DatePrecision]
    DATE_PRECISION_MONTH: _ClassVar[DatePrecision]
DATE_ORDER_UNSPECIFIED: DateOrder
DATE_ORDER_DMY: DateOrder
DATE_ORDER_MDY: DateOrder
DATE_ORDER_YMD: DateOrder
PROCESS_STATUS_UNSPECIFIED: ProcessStatus
PROCESS_STATUS_FOUND: ProcessStatus
PROCESS_STATUS_PARTIAL: ProcessStatus
PROCESS_STATUS_NOT_FOUND: ProcessStatus
DATE_KIND_UNSPECIFIED: DateKind
DATE_KIND_EXPIRY: DateKind
DATE_KIND_MANUFACTURE: DateKind
DATE_KIND_UNKNOWN: DateKind
DATE_PRECISION_UNSPECIFIED: DatePrecision
DATE_PRECISION_DAY: DatePrecision
DATE_PRECISION_MONTH: DatePrecision

class ProcessOptions(_message.Message):
    __slots__ = ("detection_confidence", "detection_iou", "max_detections", "return_visualization", "return_crops", "full_image_fallback", "reference_date", "date_order")
    DETECTION_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    DETECTION_IOU_FIELD_NUMBER: _ClassVar[int]
    MAX_DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    RETURN_VISUALIZATION_FIELD_NUMBER: _ClassVar[int]
    RETURN_CROPS_FIELD_NUMBER: _ClassVar[int]
    FULL_IMAGE_FALLBACK_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_DATE_FIELD_NUMBER: _ClassVar[int]
    DATE_ORDER_FIELD_NUMBER: _ClassVar[int]
    detection_confidence: float
    detection_iou: float
    max_detections: int
    return_visualization: bool
    return_crops: bool
    full_image_fallback: bool
    reference_date: str
    date_order: DateOrder
    def __init__(self, detection_confidence: _Optional[float] = ..., detection_iou: _Optional[float] = ..., max_detections: _Optional[int] = ..., return_visualization: _Optional[bool] = ..., return_crops: _Optional[bool] = ..., full_image_fallback: _Optional[bool] = ..., reference_date: _Optional[str] = ..., date_order: _Optional[_Union[DateOrder, str]] = ...) -> None: ...

class ProcessRequest(_message.Message):
    __slots__ = ("image", "options")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    options: ProcessOptions
    def __init__(self, image: _Optional[bytes] = ..., options: _Optional[_Union[ProcessOptions, _Mapping]] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("x1", "y1", "x2", "y2")
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    X2_FIELD_NUMBER: _ClassVar[int]
    Y2_FIELD_NUMBER: _ClassVar[int]
    x1: float
    y1: float
    x2: float
    y2: float
    def __init__(self, x1: _Optional[float] = ..., y1: _Optional[float] = ..., x2: _Optional[float] = ..., y2: _Optional[float] = ...) -> None: ...

class Detection(_message.Message):
    __slots__ = ("box", "confidence", "class_id", "class_name")
    BOX_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    box: BoundingBox
    confidence: float
    class_id: int
    class_name: str
    def __init__(self, box: _Optional[_Union[BoundingBox, _Mapping]] = ..., confidence: _Optional[float] = ..., class_id: _Optional[int] = ..., class_name: _Optional[str] = ...) -> None: ...

class OcrLine(_message.Message):
    __slots__ = ("text", "confidence", "box", "detection_index")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    DETECTION_INDEX_FIELD_NUMBER: _ClassVar[int]
    text: str
    confidence: float
    box: BoundingBox
    detection_index: int
    def __init__(self, text: _Optional[str] = ..., confidence: _Optional[float] = ..., box: _Optional[_Union[BoundingBox, _Mapping]] = ..., detection_index: _Optional[int] = ...) -> None: ...

class ParsedDate(_message.Message):
    __slots__ = ("date", "kind", "precision", "year_inferred", "confidence", "text", "is_expired", "days_until_expiry")
    DATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    YEAR_INFERRED_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IS_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    DAYS_UNTIL_EXPIRY_FIELD_NUMBER: _ClassVar[int]
    date: str
    kind: DateKind
    precision: DatePrecision
    year_inferred: bool
    confidence: float
    text: str
    is_expired: bool
    days_until_expiry: int
    def __init__(self, date: _Optional[str] = ..., kind: _Optional[_Union[DateKind, str]] = ..., precision: _Optional[_Union[DatePrecision, str]] = ..., year_inferred: _Optional[bool] = ..., confidence: _Optional[float] = ..., text: _Optional[str] = ..., is_expired: _Optional[bool] = ..., days_until_expiry: _Optional[int] = ...) -> None: ...

class StageTimings(_message.Message):
    __slots__ = ("decode_ms", "queue_ms", "detect_ms", "ocr_ms", "parse_ms", "total_ms")
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    DETECT_MS_FIELD_NUMBER: _ClassVar[int]
    OCR_MS_FIELD_NUMBER: _ClassVar[int]
    PARSE_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    decode_ms: float
    queue_ms: float
    detect_ms: float
    ocr_ms: float
    parse_ms: float
    total_ms: float
    def __init__(self, decode_ms: _Optional[float] = ..., queue_ms: _Optional[float] = ..., detect_ms: _Optional[float] = ..., ocr_ms: _Optional[float] = ..., parse_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...

class ProcessResponse(_message.Message):
    __slots__ = ("request_id", "status", "detections", "ocr_lines", "dates", "best_date", "timings", "image_width", "image_height", "visualization_jpeg", "crops_jpeg", "full_image_fallback_used", "pictures_omitted", "read_turned_deg")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    OCR_LINES_FIELD_NUMBER: _ClassVar[int]
    DATES_FIELD_NUMBER: _ClassVar[int]
    BEST_DATE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    VISUALIZATION_JPEG_FIELD_NUMBER: _ClassVar[int]
    CROPS_JPEG_FIELD_NUMBER: _ClassVar[int]
    FULL_IMAGE_FALLBACK_USED_FIELD_NUMBER: _ClassVar[int]
    PICTURES_OMITTED_FIELD_NUMBER: _ClassVar[int]
    READ_TURNED_DEG_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    status: ProcessStatus
    detections: _containers.RepeatedCompositeFieldContainer[Detection]
    ocr_lines: _containers.RepeatedCompositeFieldContainer[OcrLine]
    dates: _containers.RepeatedCompositeFieldContainer[ParsedDate]
    best_date: ParsedDate
    timings: StageTimings
    image_width: int
    image_height: int
    visualization_jpeg: bytes
    crops_jpeg: _containers.RepeatedScalarFieldContainer[bytes]
    full_image_fallback_used: bool
    pictures_omitted: bool
    read_turned_deg: int
    def __init__(self, request_id: _Optional[str] = ..., status: _Optional[_Union[ProcessStatus, str]] = ..., detections: _Optional[_Iterable[_Union[Detection, _Mapping]]] = ..., ocr_lines: _Optional[_Iterable[_Union[OcrLine, _Mapping]]] = ..., dates: _Optional[_Iterable[_Union[ParsedDate, _Mapping]]] = ..., best_date: _Optional[_Union[ParsedDate, _Mapping]] = ..., timings: _Optional[_Union[StageTimings, _Mapping]] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ..., visualization_jpeg: _Optional[bytes] = ..., crops_jpeg: _Optional[_Iterable[bytes]] = ..., full_image_fallback_used: _Optional[bool] = ..., pictures_omitted: _Optional[bool] = ..., read_turned_deg: _Optional[int] = ...) -> None: ...
