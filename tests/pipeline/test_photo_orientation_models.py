"""A label photographed sideways, on the shipped models: read upright, its keyword names its date.

``BEST BEFORE`` printed on the line above ``12 AUG 2027``, the photo turned a quarter either way
(a camera frame or a photo sent without its EXIF orientation). Read sideways, the two lines are
not joined as printed and the angle classifier reads the laid-down keyword the wrong way up: the
date comes back as a date of unknown kind. The photo judged sideways and turned upright, the
keyword binds and the date is an expiry date; its boxes come back in the sent photo's pixels,
running down it. Turning sideways photos off gives the unknown kind again, so these fail if the
turn goes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Iterator

import cv2
import pytest

from pipeline import Pipeline, PipelineConfig, ProcessOptions, ProcessResult
from pipeline.detector import load_detector
from pipeline.ocr import OcrEngine
from pipeline.synth import render_label_image
from pipeline.types import DateKind

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
def pipelines() -> Iterator[tuple[Pipeline, Pipeline]]:
    """The shipped pipeline, and the same not turning sideways photos, on one set of models."""
    config = PipelineConfig()
    ocr = OcrEngine.load(config.ocr, config.runtime, concurrency=2)
    detector = load_detector(config, concurrency=2)
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
    dated = [line for line in result.ocr_lines if "2027" in line.text]
    assert dated, [line.text for line in result.ocr_lines]
    for line in dated:
        box = line.box
        assert 0 <= box.x1 < box.x2 <= width and 0 <= box.y1 < box.y2 <= height
        assert box.y2 - box.y1 > 2 * (box.x2 - box.x1), "the date runs down the photo as sent"


def test_an_upright_label_reads_as_before(pipelines: tuple[Pipeline, Pipeline]) -> None:
    data = cv2.imencode(".png", render_label_image(LABEL, (840, 640), seed=1))[1].tobytes()
    on, off = (_read(pipeline, data, "process") for pipeline in pipelines)
    assert on.best_date == off.best_date and on.best_date is not None
    assert on.best_date.kind is DateKind.EXPIRY
    assert [(line.text, line.box) for line in on.ocr_lines] == [
        (line.text, line.box) for line in off.ocr_lines
    ]
