import datetime

from datalid.v1 import types_pb2 as _types_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProgressStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRESS_STAGE_UNSPECIFIED: _ClassVar[ProgressStage]
    PROGRESS_STAGE_DECODED: _ClassVar[ProgressStage]
    PROGRESS_STAGE_REGIONS_DETECTED: _ClassVar[ProgressStage]
    PROGRESS_STAGE_TEXT_READ: _ClassVar[ProgressStage]
    PROGRESS_STAGE_DATES_PARSED: _ClassVar[ProgressStage]
    PROGRESS_STAGE_COMPLETED: _ClassVar[ProgressStage]
    PROGRESS_STAGE_FAILED: _ClassVar[ProgressStage]

class DropPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DROP_POLICY_UNSPECIFIED: _ClassVar[DropPolicy]
    DROP_POLICY_PROCESS_ALL: _ClassVar[DropPolicy]
    DROP_POLICY_LATEST: _ClassVar[DropPolicy]
PROGRESS_STAGE_UNSPECIFIED: ProgressStage
PROGRESS_STAGE_DECODED: ProgressStage
PROGRESS_STAGE_REGIONS_DETECTED: ProgressStage
PROGRESS_STAGE_TEXT_READ: ProgressStage
PROGRESS_STAGE_DATES_PARSED: ProgressStage
PROGRESS_STAGE_COMPLETED: ProgressStage
PROGRESS_STAGE_FAILED: ProgressStage
DROP_POLICY_UNSPECIFIED: DropPolicy
DROP_POLICY_PROCESS_ALL: DropPolicy
DROP_POLICY_LATEST: DropPolicy

class ProcessUploadRequest(_message.Message):
    __slots__ = ("body", "options")
    BODY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    options: _types_pb2.ProcessOptions
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ..., options: _Optional[_Union[_types_pb2.ProcessOptions, _Mapping]] = ...) -> None: ...

class ProcessUrlRequest(_message.Message):
    __slots__ = ("url", "options")
    URL_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    url: str
    options: _types_pb2.ProcessOptions
    def __init__(self, url: _Optional[str] = ..., options: _Optional[_Union[_types_pb2.ProcessOptions, _Mapping]] = ...) -> None: ...

class ProcessBatchItem(_message.Message):
    __slots__ = ("index", "result", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    result: _types_pb2.ProcessResponse
    error: _status_pb2.Status
    def __init__(self, index: _Optional[int] = ..., result: _Optional[_Union[_types_pb2.ProcessResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class ProcessBatchResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ProcessBatchItem]
    def __init__(self, items: _Optional[_Iterable[_Union[ProcessBatchItem, _Mapping]]] = ...) -> None: ...

class ProgressEvent(_message.Message):
    __slots__ = ("stage", "elapsed_ms", "message", "result", "error")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    stage: ProgressStage
    elapsed_ms: float
    message: str
    result: _types_pb2.ProcessResponse
    error: _status_pb2.Status
    def __init__(self, stage: _Optional[_Union[ProgressStage, str]] = ..., elapsed_ms: _Optional[float] = ..., message: _Optional[str] = ..., result: _Optional[_Union[_types_pb2.ProcessResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("stream_id", "frame_id", "image", "captured_at", "options", "drop_policy")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DROP_POLICY_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    frame_id: int
    image: bytes
    captured_at: _timestamp_pb2.Timestamp
    options: _types_pb2.ProcessOptions
    drop_policy: DropPolicy
    def __init__(self, stream_id: _Optional[str] = ..., frame_id: _Optional[int] = ..., image: _Optional[bytes] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., options: _Optional[_Union[_types_pb2.ProcessOptions, _Mapping]] = ..., drop_policy: _Optional[_Union[DropPolicy, str]] = ...) -> None: ...

class FrameResult(_message.Message):
    __slots__ = ("frame_id", "skipped", "result", "error", "stream_best_date", "agreeing_frames")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STREAM_BEST_DATE_FIELD_NUMBER: _ClassVar[int]
    AGREEING_FRAMES_FIELD_NUMBER: _ClassVar[int]
    frame_id: int
    skipped: bool
    result: _types_pb2.ProcessResponse
    error: _status_pb2.Status
    stream_best_date: _types_pb2.ParsedDate
    agreeing_frames: int
    def __init__(self, frame_id: _Optional[int] = ..., skipped: _Optional[bool] = ..., result: _Optional[_Union[_types_pb2.ProcessResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., stream_best_date: _Optional[_Union[_types_pb2.ParsedDate, _Mapping]] = ..., agreeing_frames: _Optional[int] = ...) -> None: ...
