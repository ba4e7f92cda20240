"""Datalid's inference pipeline: image bytes in, expiry dates out. No gRPC, usable in-process.

from pipeline import load_pipeline
with load_pipeline() as p:
    result = p.process(image_bytes)
"""

from pipeline.batching import BatcherConfig, BatcherStats, DynamicBatcher, Priority
from pipeline.config import DecodeLimits, OcrConfig, PipelineConfig, RuntimeConfig
from pipeline.dates import DateParseResult, parse_dates
from pipeline.errors import (
    BatchContractError,
    DeadlineExceeded,
    InvalidInput,
    ModelNotReady,
    Overloaded,
    PipelineError,
    ShuttingDown,
)
from pipeline.pipeline import Pipeline, PipelineStats, load_pipeline
from pipeline.types import (
    BoundingBox,
    DateFinding,
    DateKind,
    DateOrder,
    DatePrecision,
    Detection,
    ModelInfo,
    OcrLine,
    ParsedDate,
    ProcessOptions,
    ProcessResult,
    ProcessStatus,
    Stage,
    StageEvent,
    StageTimings,
    TensorInfo,
)

__all__ = [
    "BatchContractError",
    "BatcherConfig",
    "BatcherStats",
    "BoundingBox",
    "DateFinding",
    "DateKind",
    "DateOrder",
    "DateParseResult",
    "DatePrecision",
    "DeadlineExceeded",
    "DecodeLimits",
    "Detection",
    "DynamicBatcher",
    "InvalidInput",
    "ModelInfo",
    "ModelNotReady",
    "OcrConfig",
    "OcrLine",
    "Overloaded",
    "ParsedDate",
    "Pipeline",
    "PipelineConfig",
    "PipelineError",
    "PipelineStats",
    "Priority",
    "ProcessOptions",
    "ProcessResult",
    "ProcessStatus",
    "RuntimeConfig",
    "ShuttingDown",
    "Stage",
    "StageEvent",
    "StageTimings",
    "TensorInfo",
    "load_pipeline",
    "parse_dates",
]
