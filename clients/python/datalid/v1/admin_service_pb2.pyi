import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_STATE_UNSPECIFIED: _ClassVar[ModelState]
    MODEL_STATE_LOADING: _ClassVar[ModelState]
    MODEL_STATE_READY: _ClassVar[ModelState]
    MODEL_STATE_UNAVAILABLE: _ClassVar[ModelState]
MODEL_STATE_UNSPECIFIED: ModelState
MODEL_STATE_LOADING: ModelState
MODEL_STATE_READY: ModelState
MODEL_STATE_UNAVAILABLE: ModelState

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("name", "version", "api_version", "available_providers", "onnxruntime_version", "started_at", "ready", "max_message_bytes", "max_image_bytes", "max_image_pixels", "max_source_pixels", "batch_max_items", "batch_max_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    ONNXRUNTIME_VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_SOURCE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    BATCH_MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    BATCH_MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    api_version: str
    available_providers: _containers.RepeatedScalarFieldContainer[str]
    onnxruntime_version: str
    started_at: _timestamp_pb2.Timestamp
    ready: bool
    max_message_bytes: int
    max_image_bytes: int
    max_image_pixels: int
    max_source_pixels: int
    batch_max_items: int
    batch_max_bytes: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., api_version: _Optional[str] = ..., available_providers: _Optional[_Iterable[str]] = ..., onnxruntime_version: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ready: _Optional[bool] = ..., max_message_bytes: _Optional[int] = ..., max_image_bytes: _Optional[int] = ..., max_image_pixels: _Optional[int] = ..., max_source_pixels: _Optional[int] = ..., batch_max_items: _Optional[int] = ..., batch_max_bytes: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "kind", "path", "state", "providers", "max_batch_size", "inputs", "outputs", "class_names", "sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    path: str
    state: ModelState
    providers: _containers.RepeatedScalarFieldContainer[str]
    max_batch_size: int
    inputs: _containers.RepeatedCompositeFieldContainer[TensorInfo]
    outputs: _containers.RepeatedCompositeFieldContainer[TensorInfo]
    class_names: _containers.RepeatedScalarFieldContainer[str]
    sha256: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., path: _Optional[str] = ..., state: _Optional[_Union[ModelState, str]] = ..., providers: _Optional[_Iterable[str]] = ..., max_batch_size: _Optional[int] = ..., inputs: _Optional[_Iterable[_Union[TensorInfo, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[TensorInfo, _Mapping]]] = ..., class_names: _Optional[_Iterable[str]] = ..., sha256: _Optional[str] = ...) -> None: ...

class TensorInfo(_message.Message):
    __slots__ = ("name", "data_type", "shape")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    data_type: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., data_type: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class ReloadModelsRequest(_message.Message):
    __slots__ = ("names", "model_repository", "detector_model_path")
    NAMES_FIELD_NUMBER: _ClassVar[int]
    MODEL_REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_MODEL_PATH_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    model_repository: str
    detector_model_path: str
    def __init__(self, names: _Optional[_Iterable[str]] = ..., model_repository: _Optional[str] = ..., detector_model_path: _Optional[str] = ...) -> None: ...

class ReloadModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelStats(_message.Message):
    __slots__ = ("name", "inference_count", "execution_count", "queue_seconds_total", "compute_seconds_total", "batch_size_counts")
    class BatchSizeCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_SECONDS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_SECONDS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    inference_count: int
    execution_count: int
    queue_seconds_total: float
    compute_seconds_total: float
    batch_size_counts: _containers.ScalarMap[int, int]
    def __init__(self, name: _Optional[str] = ..., inference_count: _Optional[int] = ..., execution_count: _Optional[int] = ..., queue_seconds_total: _Optional[float] = ..., compute_seconds_total: _Optional[float] = ..., batch_size_counts: _Optional[_Mapping[int, int]] = ...) -> None: ...

class Stats(_message.Message):
    __slots__ = ("since", "models", "requests_total", "images_processed_total")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    IMAGES_PROCESSED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    models: _containers.RepeatedCompositeFieldContainer[ModelStats]
    requests_total: int
    images_processed_total: int
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., models: _Optional[_Iterable[_Union[ModelStats, _Mapping]]] = ..., requests_total: _Optional[int] = ..., images_processed_total: _Optional[int] = ...) -> None: ...
