"""The whole-photo fallback reads a small photo upscaled when its windows' print is small
(pipeline/small_text.py)."""

from __future__ import annotations

import asyncio
import datetime as dt

import cv2
import numpy as np
import pytest

import pipeline.pipeline as pipeline_module
from pipeline import PipelineConfig, ProcessOptions
from pipeline.pipeline import load_pipeline
from pipeline.small_text import MAX_UPSCALE, fallback_upscale
from pipeline.types import BoundingBox, OcrLine
from pipeline.variants import VARIANT_MAX_PIXELS, VARIANT_MAX_SIDE_PX, Variant, resized_variant
from tests.pipeline.second_chance_labels import small_code_photo


def _line(text: str, height: float, y: float = 10.0) -> OcrLine:
    return OcrLine(text=text, confidence=0.9, box=BoundingBox(x1=5.0, y1=y, x2=120.0, y2=y + height))


SMALL = [[_line("EXP 16/08/25", 24), _line("MFG 16/08/24", 26)], [_line("L123", 30)]]


def test_a_small_photo_with_small_print_is_read_upscaled_to_the_side() -> None:
    assert fallback_upscale((768, 1024, 3), SMALL, 1600, 40) == pytest.approx(1600 / 1024)


def test_the_upscale_is_at_most_twice() -> None:
    assert fallback_upscale((480, 640, 3), SMALL, 1600, 40) == MAX_UPSCALE


@pytest.mark.parametrize(
    ("shape", "reads", "text_px"),
    [
        ((1500, 2000, 3), SMALL, 40),  # a photo large enough is read as it is
        ((640, 840, 3), [[_line("USE BY 19 NOV", 60)]], 40),  # a close-up: its print is large
        ((768, 1024, 3), [[_line("BEST BEFORE", 20)]], 40),  # no line with a digit: nothing says
        ((768, 1024, 3), [], 40),  # no windows read
        ((768, 1024, 3), SMALL, 0),  # turned off
    ],
)
def test_otherwise_the_photo_is_read_as_it_is(
    shape: tuple[int, int, int], reads: list[list[OcrLine]], text_px: int
) -> None:
    assert fallback_upscale(shape, reads, 1600, text_px) == 1.0


def test_the_median_line_decides_not_the_smallest() -> None:
    reads = [[_line("12", 10), _line("16/08/26", 45), _line("30 n.", 50)]]
    assert fallback_upscale((768, 1024, 3), reads, 1600, 40) == 1.0


def test_an_upscaled_read_comes_back_in_the_photos_pixels() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    assert resized_variant(image, 1.5).image.shape == (150, 300, 3)
    height, width = resized_variant(image, 50.0).image.shape[:2]  # bounded by the variant caps
    assert height * width <= VARIANT_MAX_PIXELS and max(height, width) <= VARIANT_MAX_SIDE_PX
    (line,) = resized_variant(image, 1.5).source_lines([_line("16/08/26", 30, y=60)])
    assert (line.box.x1, line.box.y1, line.box.x2, line.box.y2) == pytest.approx((10 / 3, 40, 80, 60))
    assert line.text == "16/08/26"


@pytest.mark.parametrize(("name", "value"), [("small_text_px", -1), ("small_photo_side_px", 5000)])
def test_the_settings_are_bounded(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=name):
        PipelineConfig(**{name: value})


@pytest.mark.slow
@pytest.mark.parametrize("way", ["process", "aprocess"])
@pytest.mark.parametrize("small_text_px", [40, 0])
def test_the_fallback_reads_a_small_photos_small_print_upscaled(
    way: str, small_text_px: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On the real models: an unlabelled dot-matrix date (16 px a line) in a 1,024 x 768 photo. Its
    # window reads no expiry date, so the whole photo is read again, upscaled to 1,600 px, unless
    # turned off; the lines come back in the photo's pixels.
    factors: list[float] = []
    real = pipeline_module.resized_variant

    def spy(image: np.ndarray, factor: float) -> Variant:
        factors.append(factor)
        return real(image, factor)

    monkeypatch.setattr(pipeline_module, "resized_variant", spy)
    photo = small_code_photo(
        "16/08/26", "L2345 12:30", pitch_px=3, dot_radius_px=1, angle_deg=0, size=(1024, 768)
    )
    ok, data = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    options = ProcessOptions(reference_date=dt.date(2026, 11, 1))
    with load_pipeline(PipelineConfig(small_text_px=small_text_px)) as pipeline:
        if way == "process":
            result = pipeline.process(data.tobytes(), options)
        else:
            result = asyncio.run(pipeline.aprocess(data.tobytes(), options, deadline=None))
    assert result.full_image_fallback_used
    assert result.best_date is not None and result.best_date.date == dt.date(2026, 8, 16)
    assert all(line.box.x2 <= 1025 and line.box.y2 <= 769 for line in result.ocr_lines)
    assert factors == ([pytest.approx(1600 / 1024)] if small_text_px else [])
