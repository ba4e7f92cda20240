"""Text windows: a big photo's numbered lines read up close, last in the second chance.

On the real OCR models. A phone-sized photo (4,032 px) of a small two-line dot-matrix code is read
shrunk by the text detector; when the first read and every variant of the photo read no date, the
windows around the lines the first read saw with digits are read at their own scale
(``second_chance_text_variants``). A read up close counts only where it reads again a numbered line
of the first read word for word: these codes' dots (2 px apart) read up close as wrong years, and
must give no date rather than one. The realworld2 cap (bench/realworld2, extracted by its
``extract.py``; skipped without it) is the kind they are for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline import Pipeline, PipelineConfig, ProcessOptions, ProcessResult
from pipeline.ocr import OcrEngine
from tests.pipeline.second_chance_labels import small_code_photo

pytestmark = pytest.mark.slow

OPTIONS = ProcessOptions(reference_date=dt.date(2026, 11, 1))
WAYS = ["process", "aprocess"]
# "EXP 11/11/2027" over "L2345 12:30", dots 2 px apart, turned 6 degrees: measured, the text
# windows' deskew reads "EXP 11/11/2021" there, and no lot line the first read read.
SMEARED = small_code_photo("EXP 11/11/2027", "L2345 12:30", pitch_px=2, dot_radius_px=1, angle_deg=6)
CAP = Path(__file__).resolve().parents[2] / "bench" / "realworld2" / "images" / "013.jpg"


def _jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return encoded.tobytes()


def _read(pipeline: Pipeline, data: bytes, way: str, options: ProcessOptions = OPTIONS) -> ProcessResult:
    if way == "process":
        return pipeline.process(data, options)
    return asyncio.run(pipeline.aprocess(data, options, deadline=None))


@pytest.fixture(scope="module")
def pipelines() -> Iterator[tuple[Pipeline, Pipeline]]:
    """Without a detector (the first read is the whole photo): shipped, and without text windows."""
    config = PipelineConfig(use_detector=False)
    ocr = OcrEngine.load(config.ocr, config.runtime, concurrency=2)
    off_config = dataclasses.replace(config, second_chance_text_variants="")
    with Pipeline(config, ocr) as on, Pipeline(off_config, ocr) as off:
        yield on, off


@pytest.mark.parametrize("way", WAYS)
def test_a_big_photo_s_numbered_lines_are_read_up_close_after_the_photo_s_variants(
    pipelines: tuple[Pipeline, Pipeline], way: str
) -> None:
    on, off = pipelines
    data = _jpeg(SMEARED)
    read = _read(on, data, way).second_chance
    assert read is not None
    names = list(read.read)
    assert names[-2:] == ["text:deskew", "text:contrast"], names
    assert all(not name.startswith("text:") for name in names[:-2])
    without = _read(off, data, way).second_chance
    assert without is not None and not any(name.startswith("text:") for name in without.read)


@pytest.mark.parametrize("way", WAYS)
def test_a_read_up_close_that_does_not_read_the_first_read_again_dates_nothing(
    pipelines: tuple[Pipeline, Pipeline], way: str
) -> None:
    # Counted, the deskew's "EXP 11/11/2021" (for 2027) would be the answer: a wrong date.
    on, _ = pipelines
    result = _read(on, _jpeg(SMEARED), way)
    assert result.best_date is None
    assert result.second_chance is not None and result.second_chance.winner == ""


@pytest.mark.parametrize("way", WAYS)
def test_a_photo_the_detector_reads_whole_gets_no_text_windows(
    pipelines: tuple[Pipeline, Pipeline], way: str
) -> None:
    on, _ = pipelines
    small = cv2.resize(SMEARED[1012:2012, 1516:2516], (1000, 1000))
    read = _read(on, _jpeg(small), way).second_chance
    assert read is None or not any(name.startswith("text:") for name in read.read)


@pytest.mark.skipif(not CAP.exists(), reason="bench/realworld2 not extracted (see its README)")
@pytest.mark.parametrize("way", WAYS)
def test_a_small_slanted_code_on_a_cap_is_read_up_close(
    pipelines: tuple[Pipeline, Pipeline], way: str
) -> None:
    # "BEST If Used By" / "JAN1323 PS" / "RC001:236401 B2" on a 4,032 px photo: the first read and
    # every variant of the photo read only the lot line.
    on, off = pipelines
    data = CAP.read_bytes()
    options = ProcessOptions(reference_date=dt.date(2022, 11, 21))
    assert _read(off, data, way, options).best_date is None
    result = _read(on, data, way, options)
    assert result.best_date is not None and result.best_date.date == dt.date(2023, 1, 13)
    assert result.second_chance is not None and result.second_chance.winner.startswith("text:")
