"""Date lines of synthetic coder print, cut out as the pipeline cuts them, with the text printed.

The recogniser is fine-tuned (``crop_set.py``, ``finetune.py``) on what it is shown at serving
time: the crops that the pipeline's own text detector and ``_crop_quad`` cut from a photo, not
crops cut from the renderer's boxes. A rendered scene (``models/date_detector/scenes.py``) knows
where each date line's ink is; a detected box that holds one whole line's ink (``WHOLE_LINE``) and
no part of another becomes a labelled crop. Boxes with no date ink at all become anchors: text the
fine-tuned model must read as the wheel's did (distillation keeps it from forgetting the rest).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.date_detector.manifest import VALIDATION_CSV
from models.date_detector.scenes import DOT_FONTS, PRINT_STYLES, Scene, render_scene
from pipeline.ocr import OcrEngine, _crop_quad

__all__ = ["STYLE_WEIGHTS", "LineCrop", "printed_label", "scene_crops", "uk_text_crops"]

# A box is one date line when it holds at least this share of that line's ink and at most
# ``STRAY`` of any other line's: the detector's boxes are padded (unclip), so whole lines sit
# well inside, and a box over two lines would teach the head to drop one of them.
WHOLE_LINE = 0.95
STRAY = 0.05
# Anchors kept a scene: packaging text is plentiful, date lines are what the head must learn.
ANCHORS_PER_SCENE = 3
# Print styles drawn for training, in PRINT_STYLES' order: the dot styles (dot-matrix, continuous
# inkjet) are what the shipped recogniser misreads (bench/RESULTS.md, hard set v2's misses); the
# others keep their share so that the head does not forget solid print.
STYLE_WEIGHTS = (0.35, 0.3, 0.1, 0.1, 0.1, 0.05)
JPEG_QUALITY = 90  # the hard set's; phones write 85-95


@dataclass(frozen=True, slots=True)
class LineCrop:
    """One crop as the recogniser sees it, and the text printed there (None: an anchor)."""

    seed: int
    style: str
    crop: np.ndarray  # (h, w, 3) uint8 BGR, upright as _crop_quad cut it (turning is the trainer's)
    label: str | None


def printed_label(scene: Scene, index: int) -> str | None:
    """What line ``index`` of ``scene`` reads as printed; None for a line with a non-Latin legend.

    Spaces are collapsed to one. The coder bitmap fonts (5, 7 and 9 rows) have no lowercase and
    print a lowercase letter as its capital (``dot_cells``), so the label says what is on the pack.
    """
    text = scene.lines[index].text
    if "<script>" in text:
        return None
    label = " ".join(text.split())
    font = DOT_FONTS.get(scene.dot_rows)
    if font is not None:
        label = "".join(c if c in font or c == " " else c.upper() for c in label)
    return label


def _ink_shares(ink: np.ndarray, quad: np.ndarray, totals: list[int]) -> list[float]:
    """The share of each line's ink (ink map values 1..M) inside ``quad``."""
    mask = np.zeros(ink.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(quad).astype(np.int32)], 1)
    inside = ink[mask > 0]
    return [float(np.count_nonzero(inside == i + 1)) / max(1, total) for i, total in enumerate(totals)]


def training_scene(seed: int) -> Scene:
    """The scene of ``seed`` with its ink map, in a print style drawn by STYLE_WEIGHTS (from a
    stream of its own, so the scene's other draws stay the seed's)."""
    rng = np.random.default_rng([seed, 77])
    style = PRINT_STYLES[int(rng.choice(len(PRINT_STYLES), p=np.array(STYLE_WEIGHTS)))]
    return render_scene(seed, with_ink=True, style=style)


def scene_crops(seed: int, engine: OcrEngine) -> Iterator[LineCrop]:
    """The labelled crops and anchors of the scene of ``seed`` (its style drawn by STYLE_WEIGHTS).

    The scene is written as a JPEG and read back, as a phone would deliver it; boxes come from
    ``engine``'s text detector (stacked lines split, as the pipeline does).
    """
    scene = training_scene(seed)
    style = scene.style
    ok, data = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert scene.ink is not None  # with_ink=True
    totals = [int(np.count_nonzero(scene.ink == i + 1)) for i in range(len(scene.lines))]
    anchors = 0
    for quad in engine.text_boxes(image, engine.detector.detect(image)):
        shares = _ink_shares(scene.ink, quad, totals)
        whole = [i for i, share in enumerate(shares) if share >= WHOLE_LINE]
        partial = [i for i, share in enumerate(shares) if STRAY < share < WHOLE_LINE]
        crop = _crop_quad(image, quad)
        if min(crop.shape[:2]) < 4 or partial:
            continue
        if len(whole) == 1:
            label = printed_label(scene, whole[0])
            if label:
                yield LineCrop(seed, style, crop, label)
        elif not whole and max(shares, default=0.0) == 0.0 and anchors < ANCHORS_PER_SCENE:
            anchors += 1
            yield LineCrop(seed, style, crop, None)


def uk_text_crops(dataset: Path, engine: OcrEngine) -> Iterator[tuple[int, np.ndarray]]:
    """Every text box of the UK label photos (``dataset``: manifest.csv + images) outside the date
    detector's validation split, cut as the pipeline cuts it, keyed ``-1 - the photo's row``.

    Raises:
        ValueError: a photo of the manifest is not an image.
    """
    validation = {row["file"] for row in csv.DictReader(VALIDATION_CSV.open())}
    rows = [row for row in csv.DictReader((dataset / "manifest.csv").open()) if row["file"] not in validation]
    for index, row in enumerate(rows):
        image = cv2.imread(str(dataset / row["file"]))
        if image is None:
            raise ValueError(f"{dataset / row['file']}: not an image")
        for quad in engine.text_boxes(image, engine.detector.detect(image)):
            crop = _crop_quad(image, quad)
            if min(crop.shape[:2]) >= 4:
                yield -index - 1, crop
