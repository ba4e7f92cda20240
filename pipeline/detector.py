"""Finds date regions with any YOLOv8/YOLO11-style detection export (``kind: yolo_detector``).

The model takes ``(N, 3, S, S)`` RGB in 0..1 (letterboxed, see :mod:`pipeline.letterbox`) and returns
``(N, 4 + classes, anchors)``: per anchor a box as centre x, centre y, width, height in input pixels,
then one score per class (already sigmoid-ed, no separate objectness), as Ultralytics exports it.
Decoding and class-aware non-maximum suppression are vectorised numpy, per request, so each request's
``detection_confidence``, ``detection_iou`` and ``max_detections`` apply to its own image only.

Class names come from the ONNX metadata ``names`` (Ultralytics writes ``"{0: 'date'}"``), else from
``class_names`` in ``models/<name>/config.yaml``, else ``class0``, ``class1``...
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.batching import DynamicBatcher
from pipeline.config import PipelineConfig
from pipeline.executor import Key, PriorityExecutor
from pipeline.letterbox import LetterboxInfo, letterbox, unletterbox_boxes
from pipeline.repository import DEFAULT_REPOSITORY, BatchingConfig, load_model_config
from pipeline.runtime import OnnxModel
from pipeline.types import BoundingBox, Detection, ModelInfo

__all__ = [
    "DETECTOR_NAME",
    "DetectorInput",
    "YoloDetector",
    "decode_predictions",
    "detector_batcher",
    "load_detector",
    "nms",
    "parse_class_names",
]

# The detector's folder in the model repository.
DETECTOR_NAME = "date_detector"
# The input side used when the ONNX file declares a dynamic one (Ultralytics' default).
_DEFAULT_INPUT_PX = 640
# Class-aware NMS shifts each class's boxes this far apart so one pass never mixes classes.
_CLASS_OFFSET_PX = 7680.0
# More candidates than this after the confidence cut are trimmed to the best ones before NMS,
# which is quadratic in the worst case.
_MAX_CANDIDATES = 30_000


def parse_class_names(raw: str | None) -> tuple[str, ...]:
    """Reads Ultralytics' ``names`` metadata: a Python dict (``{0: 'date'}``) or list literal.

    ``ast.literal_eval`` reads literals only, never code. Ids missing from a dict get ``class<i>``.

    Returns:
        Names indexed by class id; empty when ``raw`` is missing or not such a literal.
    """
    if not raw:
        return ()
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(name) for name in value)
    if isinstance(value, dict) and value and all(isinstance(k, int) and k >= 0 for k in value):
        return tuple(str(value.get(i, f"class{i}")) for i in range(max(value) + 1))
    return ()


@dataclass(frozen=True, slots=True)
class DetectorInput:
    """One image prepared for the detector."""

    tensor: np.ndarray  # (3, S, S) float32
    info: LetterboxInfo
    image_shape: tuple[int, int]  # (height, width) of the original image


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, limit: int) -> np.ndarray:
    """Greedy non-maximum suppression.

    Args:
        boxes: ``(N, 4)`` x1, y1, x2, y2.
        scores: ``(N,)``.
        iou_threshold: a box overlapping a kept one by more than this is dropped.
        limit: stop after keeping this many.

    Returns:
        Indices of the kept boxes, best first.
    """
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    keep: list[int] = []
    while order.size and len(keep) < limit:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        width = (
            np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0])
        ).clip(0)
        height = (
            np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1])
        ).clip(0)
        overlap = width * height
        iou = overlap / np.maximum(areas[best] + areas[rest] - overlap, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def decode_predictions(
    raw: np.ndarray, confidence: float, iou: float, max_detections: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turns one image's ``(4 + classes, anchors)`` output into kept boxes.

    Returns:
        ``(boxes (K, 4) x1 y1 x2 y2 in input pixels, scores (K,), class ids (K,))``, best first.
    """
    predictions = raw.T  # (anchors, 4 + classes): one row per anchor
    class_scores = predictions[:, 4:]
    class_ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(class_ids)), class_ids]
    selected = np.flatnonzero(scores >= confidence)
    if selected.size > _MAX_CANDIDATES:
        selected = selected[np.argsort(-scores[selected], kind="stable")[:_MAX_CANDIDATES]]
    cx, cy, w, h = predictions[selected, :4].T.astype(np.float64)
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    ids, kept_scores = class_ids[selected], scores[selected].astype(np.float64)
    keep = nms(boxes + (ids * _CLASS_OFFSET_PX)[:, None], kept_scores, iou, max_detections)
    return boxes[keep], kept_scores[keep], ids[keep]


class YoloDetector:
    """Letterbox, run, decode and map back: date regions in original image pixels.

    Args:
        model: the loaded session.
        class_names: names by class id, used when the file has no ``names`` metadata (which wins).
        batching: the batcher and bucket settings for the provider the session runs on.
    """

    def __init__(
        self, model: OnnxModel, class_names: Sequence[str] = (), batching: BatchingConfig | None = None
    ) -> None:
        self.model = model
        self.batching = batching or BatchingConfig()
        self.class_names = parse_class_names(model.metadata().get("names")) or tuple(class_names)
        side = model.info().inputs[0].shape[-1]
        self.input_px = side if side > 0 else _DEFAULT_INPUT_PX

    def preprocess(self, image: np.ndarray) -> DetectorInput:
        """Letterboxes one BGR image."""
        tensor, info = letterbox(image, self.input_px)
        return DetectorInput(tensor, info, (int(image.shape[0]), int(image.shape[1])))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Runs the model on ``(N, 3, S, S)``; returns ``(N, 4 + classes, anchors)``."""
        return self.model.run_single_input(batch)

    def postprocess(
        self, raw: np.ndarray, prepared: DetectorInput, confidence: float, iou: float, max_detections: int
    ) -> tuple[Detection, ...]:
        """Decodes one image's raw output into detections in original pixels, best first.

        Boxes that clipping to the image leaves empty (predicted wholly on the padding) are dropped.
        """
        boxes, scores, ids = decode_predictions(raw, confidence, iou, max_detections)
        mapped = unletterbox_boxes(boxes, prepared.info, prepared.image_shape)
        return tuple(
            Detection(
                box=BoundingBox(*(float(v) for v in box)),
                confidence=float(score),
                class_id=int(class_id),
                class_name=self._name(int(class_id)),
            )
            for box, score, class_id in zip(mapped, scores, ids, strict=True)
            if box[2] > box[0] and box[3] > box[1]
        )

    def detect(
        self, image: np.ndarray, confidence: float, iou: float, max_detections: int
    ) -> tuple[Detection, ...]:
        """Finds the date regions of one BGR image (see :meth:`postprocess`)."""
        prepared = self.preprocess(image)
        raw = self.run(prepared.tensor[None])[0]
        return self.postprocess(raw, prepared, confidence, iou, max_detections)

    def info(self, *, ready: bool = True) -> ModelInfo:
        """The session's description, with the class names."""
        return dataclasses.replace(self.model.info(ready=ready), class_names=self.class_names)

    def _name(self, class_id: int) -> str:
        return self.class_names[class_id] if class_id < len(self.class_names) else f"class{class_id}"


def load_detector(
    config: PipelineConfig, *, concurrency: int = 1, repository: Path = DEFAULT_REPOSITORY
) -> YoloDetector | None:
    """Loads the date detector if one is configured.

    The file is, first found: ``config.detector_model_path``, the ``path`` in
    ``repository/date_detector/config.yaml``, ``repository/date_detector/model.onnx``.

    Returns:
        The detector, or ``None`` when ``config.use_detector`` is off or no model file is configured
        or present (OCR then reads whole images).

    Raises:
        FileNotFoundError: ``config.detector_model_path`` names a missing file.
    """
    if not config.use_detector:
        return None
    entry = load_model_config(DETECTOR_NAME, "yolo_detector", repository)
    if config.detector_model_path is not None and not config.detector_model_path.is_file():
        raise FileNotFoundError(f"detector_model_path {config.detector_model_path} does not exist")
    candidates = (config.detector_model_path, entry.path, repository / DETECTOR_NAME / "model.onnx")
    path = next((p for p in candidates if p is not None and p.is_file()), None)
    if path is None:
        return None
    runtime = dataclasses.replace(config.runtime, providers=entry.providers or config.runtime.providers)
    model = OnnxModel(DETECTOR_NAME, entry.kind, path, runtime, concurrency=concurrency)
    batching = entry.batching_for(model.provider)
    model.max_batch_size = batching.batcher.max_batch_size
    return YoloDetector(model, entry.class_names, batching)


# A detector input with its request's scheduling key.
_Keyed = tuple[np.ndarray, Key]


def detector_batcher(
    detector: YoloDetector, executor: PriorityExecutor
) -> DynamicBatcher[_Keyed, np.ndarray]:
    """A batcher that stacks letterboxed inputs of concurrent requests into one model run.

    The model runs on ``executor`` (never the event loop), keyed by the batch's oldest request.
    """

    def run_stacked(arrays: list[np.ndarray]) -> list[np.ndarray]:
        return list(detector.run(np.stack(arrays)))

    async def run_batch(items: list[_Keyed]) -> list[np.ndarray]:
        key = min(key for _, key in items)
        return await executor.run(key, run_stacked, [array for array, _ in items])

    return DynamicBatcher(
        run_batch, detector.batching.batcher, name=DETECTOR_NAME, group_key=lambda item: item[0].shape
    )
