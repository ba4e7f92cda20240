"""The shipped date detector (models/date_detector/model.onnx) on packaging it was not trained on.

Scenes come from seeds the trainer never draws (it renders seeds 0..N-1 with ``--seed 0``, and
800000+ for its own held-out report); the detector runs alone, as the pipeline loads it, with the
pipeline's default confidence and NMS settings.
"""

from __future__ import annotations

import pytest

from bench.accuracy import box_iou
from models.date_detector.scenes import Scene, render_scene
from pipeline.config import PipelineConfig
from pipeline.detector import YoloDetector, load_detector

pytestmark = pytest.mark.slow

_UNSEEN_FROM = 910_000
_DOT_SCENES = 16
# The packaging-trained candidate (MODEL_CARD.md, "Retraining for packaging") boxed the expiry in
# 5 of these 16 and 8 of their 25 date lines; the shipped model 1 and 2. The bounds sit between.
MIN_DOT_EXPIRY_HITS = 3
MIN_LINE_RECALL = 0.2


@pytest.fixture(scope="module")
def detector() -> YoloDetector:
    loaded = load_detector(PipelineConfig())
    assert loaded is not None, "no detector shipped"
    return loaded


def _dot_matrix_scenes() -> list[Scene]:
    scenes, seed = [], _UNSEEN_FROM
    while len(scenes) < _DOT_SCENES:
        scene = render_scene(seed)
        if scene.style == "dot-matrix":
            scenes.append(scene)
        seed += 1
    return scenes


def _boxes(detector: YoloDetector, scene: Scene) -> list[tuple[float, float, float, float]]:
    config = PipelineConfig()
    found = detector.detect(
        scene.image, config.detection_confidence, config.detection_iou, config.max_detections
    )
    return [(d.box.x1, d.box.y1, d.box.x2, d.box.y2) for d in found]


@pytest.mark.xfail(
    strict=True,
    reason="the shipped model predates the packaging scenes (trained on label_scenes.py); the "
    "packaging-trained candidate passes but missed the UK gate: remove this mark when one ships",
)
def test_it_boxes_dot_matrix_date_lines_on_unseen_scenes(detector: YoloDetector) -> None:
    expiry_hits = lines = lines_found = 0
    for scene in _dot_matrix_scenes():
        boxes = _boxes(detector, scene)
        expiry_hits += any(box_iou(scene.box, box) >= 0.5 for box in boxes)
        for line in scene.lines:
            lines += 1
            lines_found += any(box_iou(line.box, box) >= 0.5 for box in boxes)
    assert expiry_hits >= MIN_DOT_EXPIRY_HITS, f"expiry boxed on {expiry_hits} of {_DOT_SCENES}"
    assert lines_found / lines >= MIN_LINE_RECALL, f"{lines_found} of {lines} date lines boxed"
