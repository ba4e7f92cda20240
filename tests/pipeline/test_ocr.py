"""OCR with the real PP-OCR models on synthetic labels."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np
import pytest

from pipeline import Pipeline, batched_ocr
from pipeline import ocr as ocr_module
from pipeline.batched_ocr import BatchedOcr
from pipeline.config import OcrConfig, RuntimeConfig
from pipeline.executor import PriorityExecutor
from pipeline.ocr import AngleClassifier, OcrEngine
from pipeline.synth import render_dot_line, render_label, render_label_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return OcrEngine.load(OcrConfig(), RuntimeConfig(providers=("cpu",)))


def _compact(text: str) -> str:
    return text.replace(" ", "").upper()


def test_reads_synthetic_lines_in_reading_order(engine: OcrEngine) -> None:
    image = render_label_image(["Use by", "16 NOV"], seed=3)
    lines = engine.read(image)
    assert [_compact(line.text) for line in lines] == ["USEBY", "16NOV"]
    height, width = image.shape[:2]
    for line in lines:
        assert line.detection_index == -1
        assert 0.5 <= line.confidence <= 1
        assert 0 <= line.box.x1 < line.box.x2 <= width
        assert 0 <= line.box.y1 < line.box.y2 <= height
    assert lines[0].box.y2 <= lines[1].box.y1 + 5  # "Use by" is above the date


def test_boxes_are_in_original_pixels_for_large_images(engine: OcrEngine) -> None:
    # Larger than the detector's 2000 px limit: boxes must still land on the text in full-size pixels.
    image = np.full((1200, 2600, 3), 255, dtype=np.uint8)
    cv2.putText(image, "16 NOV", (900, 700), cv2.FONT_HERSHEY_SIMPLEX, 6, (0, 0, 0), 12, cv2.LINE_AA)
    ink_y, ink_x = np.nonzero(image.min(axis=2) < 128)
    (line,) = engine.read(image)
    assert _compact(line.text) == "16NOV"
    assert abs(line.box.x1 - ink_x.min()) < 30 and abs(line.box.x2 - ink_x.max()) < 30
    assert abs(line.box.y1 - ink_y.min()) < 30 and abs(line.box.y2 - ink_y.max()) < 30


def test_min_text_score_drops_lines(engine: OcrEngine) -> None:
    strict = OcrEngine(engine.detector, engine.classifier, engine.recognizer, min_text_score=1.0)
    assert strict.read(render_label_image(["Use by", "16 NOV"], seed=3)) == []


def test_blank_image_reads_nothing(engine: OcrEngine) -> None:
    assert engine.read(np.full((480, 640, 3), 200, dtype=np.uint8)) == []


def test_upside_down_text_is_turned_upright(real_pipeline: Pipeline) -> None:
    image = render_label_image(["16 NOV 2027"], seed=5)
    upside_down = np.ascontiguousarray(image[::-1, ::-1])
    ok, encoded = cv2.imencode(".png", upside_down)
    assert ok
    result = real_pipeline.process(encoded.tobytes())
    assert len(result.ocr_lines) == 1
    assert result.best_date is not None and result.best_date.date.isoformat() == "2027-11-16"


class _ProposesEveryFlip(AngleClassifier):
    """The angle classifier as it behaves on some dot-matrix photos: every line looks upside down."""

    def postprocess(self, probs: np.ndarray) -> list[bool]:
        return [True] * len(probs)


def _batched_read(engine: OcrEngine, image: np.ndarray, scale: float | None = None) -> list[str]:
    async def main() -> list[str]:
        executor = PriorityExecutor(2)
        ocr = BatchedOcr(engine, engine.batching, executor)
        try:
            return [_compact(line.text) for line in await ocr.read(image, key=(0, 0), scale=scale)]
        finally:
            await ocr.aclose()
            executor.shutdown()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("text", "height"),
    [("20.10.2026", 36), ("BB 21/12/2025", 48)],  # read as cut below, and above, the keep-as-cut bar
)
def test_a_dot_matrix_date_line_reads_right_both_ways_whatever_the_classifier_says(
    engine: OcrEngine, text: str, height: int
) -> None:
    line = render_dot_line(text, height)
    misled = OcrEngine(
        engine.detector, _ProposesEveryFlip(engine.classifier.model), engine.recognizer, engine.min_text_score
    )
    misled.batching = engine.batching
    for image in (line, np.ascontiguousarray(line[::-1, ::-1])):
        for ocr in (engine, misled):
            # A proposed flip is taken only when the turned crop reads better: the upright line is
            # not turned by the misled classifier, the upside-down one is turned by both (by the
            # real classifier's proposal, or by the unsure-number rule where it makes none).
            assert [_compact(found.text) for found in ocr.read(image)] == [_compact(text)]
            assert _batched_read(ocr, image) == [_compact(text)]


@pytest.mark.parametrize("text", ["BB 04/09/27", "EXP 13 DEC 2029"])
def test_an_upside_down_dot_matrix_line_the_classifier_leaves_as_cut_is_read_turned(
    engine: OcrEngine, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    # bench/dot_lines.py: the classifier leaves these as cut; as cut they read as unsure digits.
    upside_down = np.ascontiguousarray(render_dot_line(text, 48)[::-1, ::-1])
    # Read blown up to a 736 px short side, as a window of a photo at that scale is (the line
    # alone is a tight strip, which the whole-image rule reads at its size: the classifier then
    # proposes the turn itself).
    scale = 736 / min(upside_down.shape[:2])
    assert [_compact(found.text) for found in engine.read(upside_down, -1, scale)] == [_compact(text)]
    assert _batched_read(engine, upside_down, scale) == [_compact(text)]
    never = lambda reads, flips: [False] * len(reads)  # noqa: E731
    monkeypatch.setattr(ocr_module, "unproposed_turns", never)
    monkeypatch.setattr(batched_ocr, "unproposed_turns", never)
    assert [_compact(found.text) for found in engine.read(upside_down, -1, scale)] != [_compact(text)]
    assert _batched_read(engine, upside_down, scale) != [_compact(text)]


def test_render_label_is_deterministic() -> None:
    assert render_label(["Use by", "16 NOV"], seed=9) == render_label(["Use by", "16 NOV"], seed=9)
    assert render_label(["Use by", "16 NOV"], seed=9) != render_label(["Use by", "16 NOV"], seed=10)


def test_a_crop_is_read_at_its_photo_scale_not_blown_up(engine: OcrEngine) -> None:
    photo = render_label_image(["Use by", "16 NOV"], seed=3)
    scale = engine.detector.reading_scale(photo.shape)
    assert scale == pytest.approx(736 / 640)  # an 840x640 photo's short side goes to 736
    crop = np.ascontiguousarray(photo[350:470, 230:630])  # 400x120 around "16 NOV"
    # The whole-image rule would blow this strip up to 736 x 2464; it pads it to 736 px instead
    # (a tight crop's text keeps its size), and either way reads it at another scale than its photo.
    assert engine.detector.preprocess(crop).batch.shape[-2:] == (736, 736)
    assert engine.detector.preprocess(crop, scale).batch.shape[-2:] == (128, 448)
    assert [_compact(line.text) for line in engine.read(crop, 0, scale)] == ["16NOV"]


def test_reading_scale_shrinks_very_large_photos(engine: OcrEngine) -> None:
    assert engine.detector.reading_scale((4000, 3000, 3)) == pytest.approx(0.5)
    assert engine.detector.reading_scale((800, 1000, 3)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("shape", "padding"),
    [
        ((169, 835), (283, 284, 0, 0)),  # a tight crop of a date line: grown to 736 px tall
        ((835, 169), (0, 0, 283, 284)),  # the same, standing
        ((216, 1600), (260, 260, 0, 0)),
        ((110, 581), (313, 313, 77, 78)),  # and as wide as the rule's short side
        ((600, 600), None),  # a small photo: blown up as before
        ((400, 1000), None),  # a strip blown up less than twice
        ((300, 500), None),  # not a strip
    ],
)
def test_only_a_tight_strip_is_padded(shape: tuple[int, int], padding: tuple[int, ...] | None) -> None:
    assert ocr_module._strip_padding(shape, 736) == padding


def test_a_tight_crop_of_a_date_line_is_read_at_its_size_and_its_boxes_come_back(engine: OcrEngine) -> None:
    """A crop of one printed line, its text as tall as the crop (realworld6's Japanese date codes):
    blown up to 736 px tall the detector cut it (``6/11/2026``, the wrong day) or found nothing."""
    strip = np.full((160, 900, 3), 214, np.uint8)
    cv2.putText(strip, "16/11/2026", (20, 125), cv2.FONT_HERSHEY_SIMPLEX, 3.6, (50, 50, 50), 7)

    assert engine.detector.reading_scale(strip.shape) == pytest.approx(1.0)
    (line,) = engine.read(strip)

    assert _compact(line.text) == "16/11/2026"
    box = line.box
    assert 0 <= box.x1 < 60 and box.x2 < 720 and 0 <= box.y1 < box.y2 <= 160
