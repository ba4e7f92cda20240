"""bench/accuracy.py end to end on a small manifest of synthetic scenes (no shared photos needed)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from bench import accuracy
from models.date_detector.label_scenes import render_scene  # the shipped model's scenes
from models.date_detector.manifest import ManifestRow, write_manifest

pytestmark = pytest.mark.slow


def test_the_benchmark_reports_recall_exact_match_and_both_latencies(tmp_path: Path) -> None:
    rows = []
    for seed in (900_001, 900_002, 900_003):
        scene = render_scene(seed)
        name = f"images/scene{seed}.png"
        (tmp_path / "images").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / name), scene.image)
        x1, y1, x2, y2 = scene.box
        # No label prints 30 February: every scene must come back as a failure, with its picture.
        rows.append(ManifestRow(name, scene.date_text, "02-30", (x1, y1, x2 - x1, y2 - y1)))
    write_manifest(rows, tmp_path / "manifest.csv")

    report = accuracy.main(
        [str(tmp_path / "manifest.csv"), "--images", str(tmp_path), "--json", str(tmp_path / "r.json"),
         "--failures", str(tmp_path / "failures")]
    )  # fmt: skip

    assert report == json.loads((tmp_path / "r.json").read_text())
    assert report["photos"] == 3
    assert report["box_recall_iou50"] == 1.0  # the shipped model finds these three
    assert report["date_exact"] == {"detector": 0.0, "full_image": 0.0}
    assert {f["file"] for f in report["failures"]} == {row.file for row in rows}
    assert len(list((tmp_path / "failures").iterdir())) == 3
    for name in ("detector", "full_image"):
        assert report["stages_ms"][name]["total_ms"]["mean"] > 0
    assert report["stages_ms"]["detector"]["detect_ms"]["mean"] > 0
    assert report["stages_ms"]["full_image"]["detect_ms"]["mean"] == 0
    assert report["latency_ratio_detector_to_full"] > 0
