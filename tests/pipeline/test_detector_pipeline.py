"""The pipeline with a date detector: detect, crop, read each crop, fall back to the whole image.

The detector is hand-built (tests/pipeline/yolo_onnx.py): it always predicts a box around the text of
the synthetic label (found by reading the label without a detector) and one on the bare background,
so where the detections land is known exactly; the OCR models are the real ones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from pipeline import (
    Pipeline,
    PipelineConfig,
    ProcessOptions,
    ProcessResult,
    ProcessStatus,
    Stage,
    StageEvent,
    load_pipeline,
)
from pipeline.letterbox import letterbox
from pipeline.synth import render_label
from tests.pipeline.yolo_onnx import build_yolo_model, to_input_box

pytestmark = pytest.mark.slow

USE_BY = render_label(["Use by", "16 NOV"], seed=1)
REF = dt.date(2026, 11, 1)
WIDTH, HEIGHT = 840, 640
# A patch of background outside the label (the label starts at >= 8% of the width and 10% of the height).
BACKGROUND_BOX = (2.0, 2.0, 40.0, 40.0)


@pytest.fixture(scope="module")
def text_box(real_pipeline: Pipeline) -> tuple[float, float, float, float]:
    """The union of the label's text lines, as the detector-less pipeline reads them."""
    lines = real_pipeline.process(USE_BY, ProcessOptions(reference_date=REF)).ocr_lines
    assert lines
    return (
        min(line.box.x1 for line in lines),
        min(line.box.y1 for line in lines),
        max(line.box.x2 for line in lines),
        max(line.box.y2 for line in lines),
    )


@pytest.fixture(scope="module")
def detecting_pipeline(
    tmp_path_factory: pytest.TempPathFactory, text_box: tuple[float, float, float, float]
) -> Iterator[Pipeline]:
    _, info = letterbox(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 640)
    predictions = [(to_input_box(text_box, info), 0, 0.9), (to_input_box(BACKGROUND_BOX, info), 0, 0.5)]
    path = build_yolo_model(tmp_path_factory.mktemp("detector") / "model.onnx", predictions)
    pipeline = load_pipeline(PipelineConfig(detector_model_path=path))
    yield pipeline
    pipeline.close()


def _box(result: ProcessResult, index: int) -> tuple[float, float, float, float]:
    box = result.detections[index].box
    return (box.x1, box.y1, box.x2, box.y2)


def test_the_detected_region_is_read_and_lines_map_back(
    detecting_pipeline: Pipeline, text_box: tuple[float, float, float, float]
) -> None:
    result = detecting_pipeline.process(USE_BY, ProcessOptions(reference_date=REF))

    assert result.status is ProcessStatus.FOUND
    assert result.best_date is not None and result.best_date.date.isoformat().endswith("-11-16")
    assert [round(d.confidence, 3) for d in result.detections] == [0.9, 0.5]
    assert _box(result, 0) == pytest.approx(text_box, abs=1e-3)
    assert _box(result, 1) == pytest.approx(BACKGROUND_BOX, abs=1e-3)
    assert result.detections[0].class_name == "date"
    assert not result.full_image_fallback_used
    # Every line came from the text crop, and its box is in image pixels, near the text.
    assert result.ocr_lines and all(line.detection_index == 0 for line in result.ocr_lines)
    x1, y1, x2, y2 = text_box
    for line in result.ocr_lines:
        assert x1 - 20 <= line.box.x1 < line.box.x2 <= x2 + 20
        assert y1 - 20 <= line.box.y1 < line.box.y2 <= y2 + 20
    assert result.timings.detect_ms > 0 and result.timings.ocr_ms > 0


def test_request_options_reach_the_detector(detecting_pipeline: Pipeline) -> None:
    one = detecting_pipeline.process(USE_BY, ProcessOptions(reference_date=REF, max_detections=1))
    assert [round(d.confidence, 3) for d in one.detections] == [0.9]
    confident = detecting_pipeline.process(
        USE_BY, ProcessOptions(reference_date=REF, detection_confidence=0.6)
    )
    assert len(confident.detections) == 1


def test_nothing_detected_falls_back_to_the_whole_image(detecting_pipeline: Pipeline) -> None:
    result = detecting_pipeline.process(USE_BY, ProcessOptions(reference_date=REF, detection_confidence=0.95))

    assert result.detections == ()
    assert result.full_image_fallback_used
    assert result.status is ProcessStatus.FOUND
    assert all(line.detection_index == -1 for line in result.ocr_lines)


def test_regions_without_a_date_fall_back_to_the_whole_image(tmp_path) -> None:
    # The only detection is bare background: something was found, but no date in it.
    _, info = letterbox(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 640)
    path = build_yolo_model(tmp_path / "model.onnx", [(to_input_box(BACKGROUND_BOX, info), 0, 0.9)])
    with load_pipeline(PipelineConfig(detector_model_path=path)) as pipeline:
        result = pipeline.process(USE_BY, ProcessOptions(reference_date=REF))
        without = pipeline.process(USE_BY, ProcessOptions(reference_date=REF, full_image_fallback=False))
        streamed = asyncio.run(pipeline.aprocess(USE_BY, ProcessOptions(reference_date=REF)))

    for read in (result, streamed):
        assert len(read.detections) == 1 and read.full_image_fallback_used
        assert read.best_date is not None and read.best_date.date == dt.date(2026, 11, 16)
    assert without.best_date is None and not without.full_image_fallback_used


def test_without_fallback_nothing_detected_reads_nothing(detecting_pipeline: Pipeline) -> None:
    options = ProcessOptions(reference_date=REF, detection_confidence=0.95, full_image_fallback=False)
    result = detecting_pipeline.process(USE_BY, options)

    assert result.status is ProcessStatus.NOT_FOUND
    assert result.ocr_lines == () and not result.full_image_fallback_used


def test_crops_and_visualization_show_the_detections(detecting_pipeline: Pipeline) -> None:
    options = ProcessOptions(reference_date=REF, return_crops=True, return_visualization=True)
    result = detecting_pipeline.process(USE_BY, options)

    assert len(result.crops_jpeg) == len(result.detections) == 2
    crop = cv2.imdecode(np.frombuffer(result.crops_jpeg[0], np.uint8), cv2.IMREAD_COLOR)
    x1, y1, x2, y2 = _box(result, 0)
    assert abs(crop.shape[1] - (x2 - x1)) <= 2 and abs(crop.shape[0] - (y2 - y1)) <= 2
    visualization = cv2.imdecode(np.frombuffer(result.visualization_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert visualization.shape == (HEIGHT, WIDTH, 3)


def test_aprocess_detects_through_its_batcher_as_process_does(detecting_pipeline: Pipeline) -> None:
    events: list[StageEvent] = []
    options = ProcessOptions(reference_date=REF)
    direct = detecting_pipeline.process(USE_BY, options)
    batched = asyncio.run(detecting_pipeline.aprocess(USE_BY, options, on_stage=events.append))

    assert batched.detections == direct.detections
    assert [(line.text, line.detection_index) for line in batched.ocr_lines] == [
        (line.text, line.detection_index) for line in direct.ocr_lines
    ]
    assert batched.best_date == direct.best_date
    assert [e.stage for e in events] == [
        Stage.DECODED,
        Stage.REGIONS_DETECTED,
        Stage.TEXT_READ,
        Stage.DATES_PARSED,
    ]
    assert events[1].count == 2
    assert [m.name for m in detecting_pipeline.stats().models] == [
        "date_detector",
        "ocr_det",
        "ocr_cls",
        "ocr_rec",
        "ocr_det_coder",
    ]

    fallback = asyncio.run(
        detecting_pipeline.aprocess(USE_BY, ProcessOptions(reference_date=REF, detection_confidence=0.95))
    )
    assert fallback.full_image_fallback_used and fallback.status is ProcessStatus.FOUND


def test_models_list_the_detector_first(detecting_pipeline: Pipeline) -> None:
    models = detecting_pipeline.models()
    assert [m.name for m in models][:2] == ["date_detector", "ocr_det"]
    assert models[0].kind == "yolo_detector" and models[0].class_names == ("date",)


def test_use_detector_off_reads_whole_images_even_with_a_model(tmp_path) -> None:
    path = build_yolo_model(tmp_path / "model.onnx", [((100.0, 100.0, 50.0, 20.0), 0, 0.9)])
    with load_pipeline(PipelineConfig(detector_model_path=path, use_detector=False)) as pipeline:
        assert [model.kind for model in pipeline.models()] == ["ocr_det", "ocr_cls", "ocr_rec", "ocr_det"]
        result = pipeline.process(USE_BY, ProcessOptions(reference_date=REF))
    assert result.detections == () and not result.full_image_fallback_used
    assert result.best_date is not None and result.best_date.date == dt.date(2026, 11, 16)


def test_a_failing_crop_read_cancels_its_siblings_and_raises_as_itself() -> None:
    from pipeline.pipeline import all_or_cancel

    cancelled = []

    async def slow() -> int:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return 1

    async def failing() -> int:
        await asyncio.sleep(0.01)
        raise ValueError("crop 1 failed")

    async def main() -> None:
        with pytest.raises(ValueError, match="crop 1 failed"):
            await all_or_cancel([slow(), failing(), slow()])

    asyncio.run(asyncio.wait_for(main(), 5))
    assert cancelled == [True, True]
