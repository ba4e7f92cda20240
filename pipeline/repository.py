"""The model repository: ``models/<name>/config.yaml`` says where a model is and how it is batched.

    kind: ocr_rec                 # yolo_detector, ocr_det, ocr_cls or ocr_rec
    path: model.onnx              # relative to the model's folder; omitted: the built-in default
    providers: [tensorrt, cuda, cpu]   # optional: narrows the server-wide provider list
    class_names: [date]           # detectors: used when the ONNX file has no ``names`` metadata
    batching:                     # per execution provider; tensorrt falls back to cuda, cuda to cpu
      cpu:  {max_batch_size: 1, max_queue_delay_us: 0, instances: 2, max_queue_size: 16, bucket_px: 32}
      cuda: {max_batch_size: 16, max_queue_delay_us: 2000, preferred_batch_sizes: [8, 16], bucket_px: 128}

``bucket_px`` rounds a variable input dimension up to a multiple of it, so that inputs of nearly the
same size share a batch (and a TensorRT profile). Missing files and keys take the defaults below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.batching import BatcherConfig

__all__ = ["DEFAULT_REPOSITORY", "BatchingConfig", "ModelConfig", "load_model_config"]

DEFAULT_REPOSITORY = Path(__file__).resolve().parent.parent / "models"
KINDS = ("yolo_detector", "ocr_det", "ocr_cls", "ocr_rec")
# Which block of ``batching`` a session uses, by the first provider it runs on, best first.
_FALLBACK = {"tensorrt": ("tensorrt", "cuda", "cpu"), "cuda": ("cuda", "cpu"), "cpu": ("cpu",)}


@dataclass(frozen=True, kw_only=True)
class BatchingConfig:
    """One provider's batching settings for one model: the batcher's plus the input bucket."""

    batcher: BatcherConfig = field(default_factory=BatcherConfig)
    bucket_px: int = 32

    def __post_init__(self) -> None:
        if self.bucket_px < 1:
            raise ValueError(f"bucket_px must be >= 1, got {self.bucket_px!r}")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """One model's entry in the repository."""

    name: str
    kind: str
    path: Path | None = None
    providers: tuple[str, ...] | None = None
    batching: Mapping[str, BatchingConfig] = field(default_factory=dict)
    # Detectors only: names by class id, used when the ONNX file has no ``names`` metadata.
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")

    def batching_for(self, provider: str) -> BatchingConfig:
        """The settings for a session whose first provider is ``provider`` (tensorrt, cuda, cpu)."""
        for candidate in _FALLBACK.get(provider, ("cpu",)):
            if candidate in self.batching:
                return self.batching[candidate]
        return BatchingConfig()


def _batching(name: str, provider: str, raw: Any) -> BatchingConfig:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{name}: batching.{provider} must be a mapping, got {raw!r}")
    values = dict(raw)
    bucket_px = int(values.pop("bucket_px", 32))
    known = {f.name for f in dataclasses.fields(BatcherConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{name}: batching.{provider} has unknown keys {unknown}; known: {sorted(known)}")
    if "preferred_batch_sizes" in values:
        values["preferred_batch_sizes"] = tuple(values["preferred_batch_sizes"] or ())
    try:
        return BatchingConfig(batcher=BatcherConfig(**values), bucket_px=bucket_px)
    except ValueError as exc:
        raise ValueError(f"{name}: batching.{provider}: {exc}") from exc


def load_model_config(name: str, kind: str, repository: Path = DEFAULT_REPOSITORY) -> ModelConfig:
    """Reads ``repository/<name>/config.yaml``; a missing file gives the defaults for ``kind``.

    Raises:
        ValueError: the file is malformed; the message names the model and the key.
    """
    path = repository / name / "config.yaml"
    if not path.is_file():
        return ModelConfig(name=name, kind=kind)
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: must hold a mapping")
    model_path = raw.get("path")
    providers = raw.get("providers")
    batching = raw.get("batching") or {}
    if not isinstance(batching, Mapping):
        raise ValueError(f"{name}: batching must be a mapping of provider to settings, got {batching!r}")
    return ModelConfig(
        name=name,
        kind=str(raw.get("kind", kind)),
        path=(path.parent / model_path) if model_path else None,
        providers=tuple(providers) if providers else None,
        batching={str(p): _batching(name, str(p), settings) for p, settings in batching.items()},
        class_names=tuple(str(n) for n in raw.get("class_names") or ()),
    )
