"""The recogniser head's training crops: labels as printed, boxes the pipeline itself cuts."""

from __future__ import annotations

import pytest

from models.date_detector.scenes import render_scene
from models.ocr_rec.coder_lines import printed_label, scene_crops, training_scene
from pipeline.config import OcrConfig, RuntimeConfig
from pipeline.ocr import OcrEngine


def test_a_bitmap_font_without_lowercase_prints_capitals_and_the_label_says_so() -> None:
    scene = render_scene(3_000_071, style="dot-matrix")  # 5 rows: capitals only
    assert scene.dot_rows == 5
    assert [printed_label(scene, i) for i in range(len(scene.lines))] == [
        "E: 07 OCT 2024",
        "PACKED ON 12 NOV 2023",
    ]
    with_lowercase = render_scene(3_000_065, style="dot-matrix")  # 7 rows: the font has lowercase
    assert printed_label(with_lowercase, 0) == "EXP DATE 04 Sep 2030"


def test_a_line_with_a_non_latin_legend_has_no_label() -> None:
    scene = render_scene(3_000_000, style="dot-matrix")
    assert "<script>" in scene.lines[0].text
    assert printed_label(scene, 0) is None
    assert printed_label(scene, 1) == "MFG: 22 11 2024 KS1"


@pytest.mark.slow
def test_crops_are_labelled_with_the_line_their_box_holds_and_anchors_hold_no_date() -> None:
    engine = OcrEngine.load(OcrConfig(use_angle_cls=False), RuntimeConfig(providers=("cpu",)))
    labelled = anchors = 0
    for seed in range(3_000_010, 3_000_016):
        scene = training_scene(seed)
        labels = {printed_label(scene, i) for i in range(len(scene.lines))}
        crops = list(scene_crops(seed, engine))
        for crop in crops:
            assert crop.crop.ndim == 3 and min(crop.crop.shape[:2]) >= 4
            if crop.label is None:
                anchors += 1
            else:
                labelled += 1
                assert crop.label in labels
    assert labelled >= 3 and anchors >= 3
