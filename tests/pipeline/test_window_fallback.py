"""The whole photo is read when the detector's windows hold no expiry-labelled date.

A window that holds only a production date (or a date whose keyword was not read) often sits beside
the expiry the detector missed: real labels print MFD and EXP on separate lines and the detector
may box either. Real OCR models; a hand-built detector that boxes only the production date line.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline import Pipeline, PipelineConfig, ProcessOptions
from pipeline.detector import load_detector
from pipeline.letterbox import letterbox
from pipeline.ocr import OcrEngine
from pipeline.pipeline import _resolve
from pipeline.types import BoundingBox, DateKind, OcrLine
from tests.pipeline.yolo_onnx import build_yolo_model, to_input_box

REFERENCE = ProcessOptions(reference_date=dt.date(2026, 11, 30))


def _label(lines: list[str]) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A 900x500 label with one text line every 150 px; the boxes of the lines' ink."""
    image = np.full((500, 900, 3), 235, np.uint8)
    boxes = []
    for row, text in enumerate(lines):
        (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.6, 3)
        x, y = 80, 130 + 150 * row
        cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (25, 25, 25), 3, cv2.LINE_AA)
        boxes.append((x, y - height, x + width, y + baseline))
    return image, boxes


def _pipeline(tmp_path: Path, image: np.ndarray, box: tuple[int, int, int, int]) -> Pipeline:
    """A pipeline whose detector finds exactly ``box``."""
    height, width = image.shape[:2]
    _, info = letterbox(np.zeros((height, width, 3), np.uint8), 640)
    path = build_yolo_model(tmp_path / "model.onnx", [(to_input_box(box, info), 0, 0.9)])
    config = PipelineConfig(detector_model_path=path, second_chance=False)
    config_ocr = PipelineConfig()
    ocr = OcrEngine.load(config_ocr.ocr, config_ocr.runtime, concurrency=1)
    return Pipeline(config, ocr, load_detector(config))


def _png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


@pytest.mark.parametrize("first", ["MFD 01/05/2026", "01/05/2026"])
def test_a_window_without_an_expiry_date_reads_the_whole_photo(tmp_path: Path, first: str) -> None:
    image, boxes = _label([first, "", "EXP 01/05/2028"])
    with _pipeline(tmp_path, image, boxes[0]) as pipeline:
        result = pipeline.process(_png(image), REFERENCE)

    assert result.full_image_fallback_used
    assert result.best_date is not None
    assert (result.best_date.date, result.best_date.kind) == (dt.date(2028, 5, 1), DateKind.EXPIRY)


def test_a_window_with_the_expiry_date_is_enough(tmp_path: Path) -> None:
    image, boxes = _label(["EXP 01/05/2028", "", "MFD 01/05/2026"])
    with _pipeline(tmp_path, image, boxes[0]) as pipeline:
        result = pipeline.process(_png(image), REFERENCE)

    assert not result.full_image_fallback_used
    assert result.best_date is not None and result.best_date.date == dt.date(2028, 5, 1)


def _line(text: str, index: int) -> OcrLine:
    return OcrLine(text, 0.9, BoundingBox(10, 10, 200, 40), index)


def test_the_windows_date_stands_when_the_whole_photo_reads_none(tmp_path: Path) -> None:
    # A window read up close holds a date without its keyword; the whole photo's read garbles it.
    image, boxes = _label(["10 JUL"])
    windows, photo = (_line("10 JUL", 0),), (_line("19 SUL", -1), _line("Keep cool", -1))
    with _pipeline(tmp_path, image, boxes[0]) as pipeline:
        settings = _resolve(REFERENCE, pipeline.config)
        best = pipeline._parse(windows, settings).best
        assert best is not None
        assert pipeline._photo_or_windows(photo, windows, best, settings) == windows
        # A date in the photo's lines wins over the windows' unlabelled one; no date anywhere: the photo's.
        dated = (*photo, _line("EXP 12/07/2027", -1))
        assert pipeline._photo_or_windows(dated, windows, best, settings) == dated
        lot = (_line("L4711", 0),)
        assert pipeline._photo_or_windows(photo, lot, pipeline._parse(lot, settings).best, settings) == photo
