"""Every resize in the pipeline has a bounded output, whatever the image's size or aspect ratio.

Shapes are ``(height, width)``: strips both ways (16x40000 was 16 GB of detector input before the
caps), the smallest accepted image, a 1-pixel-thin one (windows and crops can be that thin even
when images cannot), and the largest accepted photos. Photos of usual shapes must come out exactly
as rapidocr's own resize made them, so accuracy on them does not move.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

from pipeline.batched_ocr import rec_bucket_width
from pipeline.config import OcrConfig, RuntimeConfig
from pipeline.letterbox import letterbox
from pipeline.ocr import (
    _CLS_SHAPE,
    _REC_SHAPE,
    CROP_MAX_PIXELS,
    CROP_MAX_SIDE_PX,
    DET_MAX_INPUT_PIXELS,
    DET_MAX_INPUT_SIDE_PX,
    REC_MAX_WIDTH_PX,
    TEXT_BOXES_AT_ONCE,
    OcrEngine,
    _crop_quad,
    det_input_size,
)
from pipeline.synth import render_label_image
from pipeline.types import BoundingBox, Detection
from pipeline.visualize import (
    CROP_JPEG_MAX_SIDE_PX,
    VISUALIZATION_MAX_SIDE_PX,
    encode_crops,
    render_visualization,
)

STRIPS = [(16, 40_000), (40_000, 16), (16, 1000), (1000, 16), (20, 1000), (1, 5000), (5000, 1)]
SMALL = [(16, 16), (1, 1), (17, 31)]
# The largest photos the default limits accept: 40 MP, at 4:3, square, and at the 1:50 aspect cap.
HUGE = [(5477, 7302), (6324, 6324), (894, 44_700), (44_700, 894)]
USUAL = [
    (480, 640),
    (640, 480),
    (640, 840),
    (1080, 1920),
    (3000, 4000),
    (4000, 3000),
    (2000, 2000),
    (1200, 450),
]
ALL_SHAPES = STRIPS + SMALL + HUGE + USUAL


@pytest.fixture(scope="module")
def engine() -> Iterator[OcrEngine]:
    yield OcrEngine.load(OcrConfig(), RuntimeConfig(providers=("cpu",)))


def _assert_det_bounded(width: int, height: int) -> None:
    assert width % 32 == 0 and height % 32 == 0
    assert 32 <= width <= DET_MAX_INPUT_SIDE_PX and 32 <= height <= DET_MAX_INPUT_SIDE_PX
    assert width * height <= DET_MAX_INPUT_PIXELS


@pytest.mark.parametrize("shape", ALL_SHAPES)
@pytest.mark.parametrize("scale", [1e-4, 0.05, 1.0, 46.0, 736.0])
def test_detector_input_size_is_bounded_at_any_scale(shape: tuple[int, int], scale: float) -> None:
    _assert_det_bounded(*det_input_size(*shape, scale))


@pytest.mark.parametrize("shape", ALL_SHAPES)
def test_whole_image_and_window_reads_are_bounded(engine: OcrEngine, shape: tuple[int, int]) -> None:
    detector = engine.detector
    image = np.zeros((*shape, 3), np.uint8)
    whole = detector.preprocess(image).batch
    _assert_det_bounded(whole.shape[3], whole.shape[2])
    # A window of the photo is read at the photo's scale: also bounded.
    window = image[: max(1, shape[0] // 2), : max(1, shape[1] // 3)]
    part = detector.preprocess(window, detector.reading_scale(shape)).batch
    _assert_det_bounded(part.shape[3], part.shape[2])
    assert whole.dtype == np.float32


@pytest.mark.parametrize("shape", USUAL)
def test_usual_photos_are_resized_exactly_as_before(engine: OcrEngine, shape: tuple[int, int]) -> None:
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    height, width = shape
    shrunk = image
    if max(shape) > 2000:  # rapidocr's rule: shrink very large images to 2000 px first
        factor = max(shape) / 2000
        shrunk = cv2.resize(image, (round(width / factor), round(height / factor)))
    expected = DetPreProcess(736, "min", [0.5] * 3, [0.5] * 3)(shrunk)
    assert expected is not None
    np.testing.assert_array_equal(engine.detector.preprocess(image).batch, expected)


def test_a_strip_is_still_read_big_enough_to_find_text(engine: OcrEngine) -> None:
    # 1:125, longer than a photo's 2000 px (so not padded): 20 px of text becomes 32 px in the
    # detector (its 4096 px side cap), not 736.
    size = det_input_size(20, 2500, engine.detector.reading_scale((20, 2500)))
    assert size == (4096, 32)


@pytest.mark.parametrize(
    ("shape", "batch", "padding"),
    [
        ((20, 1000), (736, 992), (358, 358, 0, 0)),  # a tight crop of a line: at its own size
        ((1200, 300), (1216, 736), (0, 0, 218, 218)),
        ((169, 835), (736, 832), (283, 284, 0, 0)),
    ],
)
def test_a_tight_strip_is_read_at_its_size_on_a_padded_canvas(
    engine: OcrEngine, shape: tuple[int, int], batch: tuple[int, int], padding: tuple[int, ...]
) -> None:
    prepared = engine.detector.preprocess(np.zeros((*shape, 3), np.uint8))
    assert prepared.batch.shape[-2:] == batch and prepared.padding == padding
    assert engine.detector.reading_scale(shape) == pytest.approx(1.0)


@pytest.mark.parametrize("shape", ALL_SHAPES)
def test_detector_letterbox_is_its_square(shape: tuple[int, int]) -> None:
    tensor, info = letterbox(np.zeros((*shape, 3), np.uint8), 320)
    assert tensor.shape == (3, 320, 320)
    assert info.scale > 0


@pytest.mark.parametrize("shape", [(16, 40_000), (40_000, 16), (3000, 3000), (4000, 100), (48, 200)])
def test_text_crops_are_bounded(shape: tuple[int, int]) -> None:
    height, width = shape
    image = np.zeros((height, width, 3), np.uint8)
    # The worst quad: the whole image, and a diamond through its edge midpoints (rotated text).
    full = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    diamond = np.array(
        [[width / 2, 0], [width - 1, height / 2], [width / 2, height - 1], [0, height / 2]], np.float32
    )
    for quad in (full, diamond):
        crop = _crop_quad(image, quad)
        assert crop.shape[0] * crop.shape[1] <= CROP_MAX_PIXELS
        assert max(crop.shape[:2]) <= CROP_MAX_SIDE_PX


def test_small_crops_are_cut_at_full_size() -> None:
    image = np.zeros((100, 300, 3), np.uint8)
    quad = np.array([[10, 10], [210, 10], [210, 50], [10, 50]], np.float32)
    assert _crop_quad(image, quad).shape == (40, 200, 3)


@pytest.mark.parametrize("shape", [(1, 40_000), (16, 40_000), (48, 200), (3, 100_000), (40_000, 1)])
def test_recognizer_and_classifier_inputs_are_bounded(engine: OcrEngine, shape: tuple[int, int]) -> None:
    crop = np.zeros((*shape, 3), np.uint8)
    rec = engine.recognizer.preprocess([crop, np.zeros((48, 100, 3), np.uint8)])
    assert rec.shape[1:3] == (3, 48) and rec.shape[3] <= REC_MAX_WIDTH_PX
    for bucket_px in (32, 160, 100):
        assert _REC_SHAPE[2] <= rec_bucket_width(crop.shape, bucket_px) <= REC_MAX_WIDTH_PX
    assert engine.classifier is not None
    assert engine.classifier.preprocess([crop]).shape == (1, *_CLS_SHAPE)


def test_more_text_boxes_than_read_at_once_are_all_read(engine: OcrEngine) -> None:
    lines = [f"LOT {i:02d}" for i in range(TEXT_BOXES_AT_ONCE + 8)]
    image = np.full((40 * len(lines) + 40, 400, 3), 255, np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(image, text, (20, 40 * i + 50), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2, cv2.LINE_AA)
    read = engine.read(image)
    assert len(read) > TEXT_BOXES_AT_ONCE
    assert any("39" in line.text for line in read)


@pytest.mark.parametrize("shape", [(4000, 6000), (894, 44_700), (300, 200)])
def test_visualization_and_crops_are_bounded(shape: tuple[int, int]) -> None:
    height, width = shape
    image = np.full((height, width, 3), 200, np.uint8)
    whole = Detection(BoundingBox(0, 0, width, height), 0.9, 0, "date")
    picture = cv2.imdecode(np.frombuffer(render_visualization(image, [whole], [], None), np.uint8), 1)
    expected_side = min(max(shape), VISUALIZATION_MAX_SIDE_PX)
    assert max(picture.shape[:2]) == expected_side
    (crop_jpeg,) = encode_crops(image, [whole])
    crop = cv2.imdecode(np.frombuffer(crop_jpeg, np.uint8), 1)
    assert max(crop.shape[:2]) == min(max(shape), CROP_JPEG_MAX_SIDE_PX)


def test_a_usual_label_is_visualized_at_its_own_size() -> None:
    image = render_label_image(["EXP 12/08/2027"], seed=3)
    picture = cv2.imdecode(np.frombuffer(render_visualization(image, [], [], None), np.uint8), 1)
    assert picture.shape == image.shape
