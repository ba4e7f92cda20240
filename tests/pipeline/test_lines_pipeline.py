"""Lines as printed, through the pipeline with the real ONNX models: a printed line the text detector
cuts into boxes is parsed whole on every path (reading windows, whole-photo fallback, the batchers),
and a two-column code keeps its columns."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import pytest

from pipeline import Pipeline, PipelineConfig, ProcessOptions, ProcessResult, load_pipeline

pytestmark = pytest.mark.slow

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_THICKNESS = 5
# The reference date: 1 AUG 2026 has passed, and the next 1 August (2027) has not.
_OPTIONS = ProcessOptions(reference_date=dt.date(2026, 11, 1))


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    """The shipped defaults: the date detector's windows, then the whole photo when they hold no date."""
    loaded = load_pipeline()
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def whole_photo_pipeline() -> Iterator[Pipeline]:
    """No detector: every photo is read whole."""
    loaded = load_pipeline(PipelineConfig(use_detector=False))
    yield loaded
    loaded.close()


def _png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def _label(size: tuple[int, int]) -> np.ndarray:
    width, height = size
    return np.full((height, width, 3), 232, np.uint8)


def _noisy(image: np.ndarray) -> np.ndarray:
    noise = np.random.default_rng(0).normal(0.0, 3.0, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def _spaced_photo(
    rows: Sequence[str], scale: float, size: tuple[int, int] = (1000, 600), space_heights: float | None = None
) -> bytes:
    """Rows centred on a label, one above the other, each space as wide as a digit (a printer's
    fixed pitch; or ``space_heights`` text heights), so "VAL  12    08    2026" leaves gaps of 2
    and 4 character widths."""
    image = _label(size)
    width, height = size
    (digit, text_h), _ = cv2.getTextSize("0", _FONT, scale, _THICKNESS)
    if space_heights is not None:
        digit = round(space_heights * text_h)
    for index, row in enumerate(rows):
        placed, x = [], 0.0
        for word in row.split(" "):
            if word:
                placed.append((x, word))
                x += cv2.getTextSize(word, _FONT, scale, _THICKNESS)[0][0]
            x += digit
        left = (width - (x - digit)) / 2
        baseline = round(height * (index + 1) / (len(rows) + 1) + text_h / 2)
        for offset, word in placed:
            cv2.putText(image, word, (round(left + offset), baseline), _FONT, scale, (30, 30, 30), _THICKNESS,
                        cv2.LINE_AA)  # fmt: skip
    return _png(_noisy(image))


def _two_column_photo(
    rows: Sequence[tuple[str, str]], scale: float, gutter_heights: float
) -> tuple[bytes, float]:
    """A code in two columns, the left one right-aligned, ``gutter_heights`` character heights
    apart; returns the photo and the x of the gutter's middle."""
    image = _label((1000, 600))
    thickness = 4
    (_, text_h), _ = cv2.getTextSize("0", _FONT, scale, thickness)
    widths = [max(cv2.getTextSize(row[c], _FONT, scale, thickness)[0][0] for row in rows) for c in (0, 1)]
    gutter = gutter_heights * text_h
    gutter_x = (1000 - (widths[0] + gutter + widths[1])) / 2 + widths[0]
    pitch = 1.9 * text_h
    for index, (left, right) in enumerate(rows):
        baseline = round((600 - pitch * (len(rows) - 1)) / 2 + text_h / 2 + index * pitch)
        left_w = cv2.getTextSize(left, _FONT, scale, thickness)[0][0]
        for text, x in ((left, gutter_x - left_w), (right, gutter_x + gutter)):
            cv2.putText(image, text, (round(x), baseline), _FONT, scale, (30, 30, 30), thickness, cv2.LINE_AA)
    return _png(_noisy(image)), gutter_x + gutter / 2


def _texts(result: ProcessResult) -> list[str]:
    return [line.text for line in result.ocr_lines]


# Text 10% of the photo's height: the detector cuts "1 AUG" from "2026" (without joining, the
# answer is 1 AUG of the next year, 2027-08-01, not expired).
USE_BY = _spaced_photo(["USE BY", "1 AUG 2026"], scale=2.6)


def test_use_by_over_a_date_cut_in_two_is_the_printed_date_expired(pipeline: Pipeline) -> None:
    result = pipeline.process(USE_BY, _OPTIONS)
    assert result.best_date is not None, _texts(result)
    assert (result.best_date.date, result.best_date.is_expired) == (dt.date(2026, 8, 1), True), _texts(result)
    assert "1 AUG 2026" in _texts(result)  # the result's lines are the printed lines


def test_the_batchers_path_reads_the_printed_line_too(pipeline: Pipeline) -> None:
    async def both() -> list[ProcessResult]:
        return list(
            await asyncio.gather(pipeline.aprocess(USE_BY, _OPTIONS), pipeline.aprocess(USE_BY, _OPTIONS))
        )

    for result in asyncio.run(both()):
        assert result.best_date is not None, _texts(result)
        assert (result.best_date.date, result.best_date.is_expired) == (dt.date(2026, 8, 1), True)


def test_a_spaced_out_code_is_read_as_one_date(pipeline: Pipeline) -> None:
    # Read on the whole-photo fallback: the detector's window holds no date of it.
    result = pipeline.process(_spaced_photo(["VAL  12    08    2026"], scale=2.0), _OPTIONS)
    assert result.best_date is not None, _texts(result)
    assert result.best_date.date == dt.date(2026, 8, 12), _texts(result)
    assert _texts(result) == ["VAL 12 08 2026"]


def test_a_two_column_code_keeps_its_columns(whole_photo_pipeline: Pipeline) -> None:
    photo, gutter_x = _two_column_photo(
        [("LOT A12345", "TIME 12:30"), ("MFD 01/04/2026", "EXP 01/07/2027")], scale=1.3, gutter_heights=2.0
    )
    result = whole_photo_pipeline.process(photo, _OPTIONS)
    assert result.best_date is not None, _texts(result)
    assert (result.best_date.date, result.best_date.kind.value) == (dt.date(2027, 7, 1), "expiry")
    assert len(result.ocr_lines) == 4, _texts(result)
    for line in result.ocr_lines:
        assert line.box.x2 < gutter_x or line.box.x1 > gutter_x, (line.text, gutter_x)


def test_a_date_made_only_by_joining_window_pieces_is_read_on_the_whole_photo(pipeline: Pipeline) -> None:
    # The detector boxes "08 2026" alone; its window's left edge cuts "12" to "2", and "2 08 2026"
    # would be 2 August. The windows' lines hold no date as read, so the whole photo is read.
    photo = _spaced_photo(["VAL  12  08  2026"], scale=2.4, space_heights=1.1)
    result = pipeline.process(photo, _OPTIONS)
    assert result.best_date is not None, _texts(result)
    assert result.best_date.date == dt.date(2026, 8, 12), _texts(result)
    assert result.full_image_fallback_used
