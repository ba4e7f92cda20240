"""A label photographed sideways, on the shipped models: read upright, its keyword names its date.

``BEST BEFORE`` printed on the line above ``12 AUG 2027``, the photo turned a quarter either way
(a camera frame or a photo sent without its EXIF orientation). Read sideways, the two lines are
not joined as printed and the angle classifier reads the laid-down keyword the wrong way up: the
date comes back as a date of unknown kind. The photo judged sideways and turned upright, the
keyword binds and the date is an expiry date; its boxes come back in the sent photo's pixels,
running down it. Turning sideways photos off gives the unknown kind again, so these fail if the
turn goes. Photographed upside down, the same label loses its keyword too, and is read turned
by 180 degrees.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from pipeline import Pipeline, PipelineConfig, ProcessOptions, ProcessResult
from pipeline.detector import YoloDetector, load_detector
from pipeline.ocr import OcrEngine
from pipeline.synth import render_label_image
from pipeline.types import BoundingBox, DateKind

pytestmark = pytest.mark.slow

OPTIONS = ProcessOptions(reference_date=dt.date(2026, 11, 30))
LABEL = ["BEST BEFORE", "12 AUG 2027", "KEEP REFRIGERATED", "LOT 4471 B"]
EXPIRY = dt.date(2027, 8, 12)
# (seed of the label, the turn it was photographed at): each read as a date of unknown kind sideways.
PHOTOS = [
    (0, cv2.ROTATE_90_COUNTERCLOCKWISE),
    (1, cv2.ROTATE_90_COUNTERCLOCKWISE),
    (1, cv2.ROTATE_90_CLOCKWISE),
]


@pytest.fixture(scope="module")
def models() -> tuple[OcrEngine, YoloDetector | None]:
    config = PipelineConfig()
    return OcrEngine.load(config.ocr, config.runtime, concurrency=2), load_detector(config, concurrency=2)


@pytest.fixture(scope="module")
def pipelines(models: tuple[OcrEngine, YoloDetector | None]) -> Iterator[tuple[Pipeline, Pipeline]]:
    """The shipped pipeline, and the same not turning sideways photos, on one set of models."""
    config = PipelineConfig()
    ocr, detector = models
    with (
        Pipeline(config, ocr, detector) as on,
        Pipeline(dataclasses.replace(config, turn_sideways_photos=False), ocr, detector) as off,
    ):
        yield on, off


def _photo(seed: int, turn: int) -> tuple[bytes, tuple[int, int]]:
    image = cv2.rotate(render_label_image(LABEL, (840, 640), seed=seed), turn)
    ok, png = cv2.imencode(".png", image)
    assert ok
    return png.tobytes(), (image.shape[1], image.shape[0])


def _turned_box(box: BoundingBox, turn: int, size: tuple[int, int]) -> BoundingBox:
    """``box`` of an upright ``size`` (width, height) photo, in that photo turned by ``turn``."""
    width, height = size
    if turn == cv2.ROTATE_90_CLOCKWISE:  # (x, y) -> (height - y, x)
        return BoundingBox(x1=height - box.y2, y1=box.x1, x2=height - box.y1, y2=box.x2)
    # anticlockwise: (x, y) -> (y, width - x)
    return BoundingBox(x1=box.y1, y1=width - box.x2, x2=box.y2, y2=width - box.x1)


def _near(a: BoundingBox, b: BoundingBox, px: float) -> bool:
    return all(
        abs(u - v) <= px for u, v in zip((a.x1, a.y1, a.x2, a.y2), (b.x1, b.y1, b.x2, b.y2), strict=True)
    )


def _read(pipeline: Pipeline, data: bytes, way: str) -> ProcessResult:
    if way == "process":
        return pipeline.process(data, OPTIONS)
    return asyncio.run(pipeline.aprocess(data, OPTIONS, deadline=None))


@pytest.mark.parametrize("way", ["process", "aprocess"])
@pytest.mark.parametrize(("seed", "turn"), PHOTOS)
def test_a_sideways_label_is_read_upright(
    pipelines: tuple[Pipeline, Pipeline], seed: int, turn: int, way: str
) -> None:
    data, (width, height) = _photo(seed, turn)
    on, off = pipelines

    sideways = _read(off, data, way).best_date
    assert sideways is not None and sideways.date == EXPIRY
    assert sideways.kind is DateKind.UNKNOWN

    result = _read(on, data, way)
    best = result.best_date
    assert best is not None and (best.date, best.kind) == (EXPIRY, DateKind.EXPIRY)
    assert (result.image_width, result.image_height) == (width, height)
    # Turned anticlockwise when photographed, it was read turned a quarter clockwise, and back.
    assert result.read_turned_deg == (90 if turn == cv2.ROTATE_90_COUNTERCLOCKWISE else 270)
    dated = [line for line in result.ocr_lines if "2027" in line.text]
    assert dated, [line.text for line in result.ocr_lines]
    for line in dated:
        box = line.box
        assert 0 <= box.x1 < box.x2 <= width and 0 <= box.y1 < box.y2 <= height
        assert box.y2 - box.y1 > 2 * (box.x2 - box.x1), "the date runs down the photo as sent"
    # Where the upright label's read puts the date, turned as the photo was: the same place.
    upright = _read(
        off, cv2.imencode(".png", render_label_image(LABEL, (840, 640), seed=seed))[1].tobytes(), way
    )
    (line,) = [line for line in upright.ocr_lines if "2027" in line.text]
    expected = _turned_box(line.box, turn, (840, 640))
    assert any(_near(found.box, expected, 12) for found in dated), (expected, [found.box for found in dated])


@pytest.mark.parametrize("way", ["process", "aprocess"])
@pytest.mark.parametrize("seed", [0, 3])
def test_an_upside_down_label_is_read_turned_with_its_keyword(
    models: tuple[OcrEngine, YoloDetector | None], seed: int, way: str
) -> None:
    """The same label photographed upside down (a pack on a conveyor, a camera mounted upside
    down): the classifier turns each line, but the date's line now stands above its keyword's
    and the keyword binds to nothing: a date of unknown kind. Most of the text read turned, the
    photo is judged upside down, turned and read again: an expiry date, its boxes in the photo
    as sent. Turning upside-down photos off gives the unknown kind again."""
    upright = render_label_image(LABEL, (840, 640), seed=seed)
    data = cv2.imencode(".png", cv2.rotate(upright, cv2.ROTATE_180))[1].tobytes()
    config = PipelineConfig()
    ocr, detector = models
    with (
        Pipeline(config, ocr, detector) as on,
        Pipeline(dataclasses.replace(config, turn_upside_down_photos=False), ocr, detector) as off,
    ):
        as_sent, result = _read(off, data, way), _read(on, data, way)
        level = _read(off, cv2.imencode(".png", upright)[1].tobytes(), way)

    assert as_sent.best_date is not None and as_sent.best_date.date == EXPIRY
    assert as_sent.best_date.kind is DateKind.UNKNOWN and as_sent.read_turned_deg == 0
    best = result.best_date
    assert best is not None and (best.date, best.kind) == (EXPIRY, DateKind.EXPIRY)
    assert result.read_turned_deg == 180 and (result.image_width, result.image_height) == (840, 640)
    # The date's box is where the upright read puts it, turned by 180 degrees with the photo.
    (line,) = [line for line in level.ocr_lines if "2027" in line.text]
    box = line.box
    expected = BoundingBox(x1=840 - box.x2, y1=640 - box.y2, x2=840 - box.x1, y2=640 - box.y1)
    dated = [found.box for found in result.ocr_lines if "2027" in found.text]
    assert any(_near(found, expected, 12) for found in dated), (expected, dated)


def test_an_upright_label_reads_as_before(pipelines: tuple[Pipeline, Pipeline]) -> None:
    data = cv2.imencode(".png", render_label_image(LABEL, (840, 640), seed=1))[1].tobytes()
    on, off = (_read(pipeline, data, "process") for pipeline in pipelines)
    assert on.best_date == off.best_date and on.best_date is not None
    assert on.best_date.kind is DateKind.EXPIRY
    assert [(line.text, line.box) for line in on.ocr_lines] == [
        (line.text, line.box) for line in off.ocr_lines
    ]


def _strip(text: str, scale: float, thickness: int) -> np.ndarray:
    (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    strip = np.full((height + base + 20, width + 20, 3), 235, np.uint8)
    cv2.putText(
        strip, text, (10, height + 10), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), thickness, cv2.LINE_AA
    )
    return strip


@pytest.mark.parametrize(
    "label", [["BEST BEFORE", "12 AUG 2027"], ["USE BY", "12/08/27"], ["EXP", "12 08 2027"]]
)
@pytest.mark.parametrize("turn", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_an_upright_label_with_a_brand_down_its_sides_is_not_turned(
    models: tuple[OcrEngine, YoloDetector | None], label: list[str], turn: int
) -> None:
    """A can photographed upright: its expiry label reads across it, its brand runs down both
    sides in larger print, so most of the photo's text is vertical and the photo is judged
    sideways. Turned, the label is the sideways text, its keyword on a line of its own beside the
    date, and the date of unknown kind: the first read's expiry date ranks higher and stands (a
    review found these photos answered with a date of unknown kind, 5 of 6, when the upright read
    always stood). Where the first read misreads the date (``12 UG 2027``), the turned read, whose
    date is an expiry date, stands."""
    image = np.full((900, 700, 3), 200, np.uint8)
    y = 380
    for text in label:
        line = _strip(text, 1.1, 2)
        image[y : y + line.shape[0], 200 : 200 + line.shape[1]] = line
        y += line.shape[0] + 6
    for index, brand in enumerate(["SPARKLING SPRINGS", "NATURAL MINERALS"]):
        side = cv2.rotate(_strip(brand, 1.6, 3), turn)
        x = 40 + index * 560
        image[40 : 40 + side.shape[0], x : x + side.shape[1]] = side
    data = cv2.imencode(".png", image)[1].tobytes()
    # Read whole (no detector), as the fallback reads a photo whose windows hold no expiry.
    config = PipelineConfig()
    with (
        Pipeline(config, models[0], None) as on,
        Pipeline(dataclasses.replace(config, turn_sideways_photos=False), models[0], None) as off,
    ):
        result, as_sent = on.process(data, OPTIONS), off.process(data, OPTIONS)
    for read in (as_sent, result):
        assert read.best_date is not None
        assert (read.best_date.date, read.best_date.kind) == (EXPIRY, DateKind.EXPIRY)
