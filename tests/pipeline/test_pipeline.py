"""The pipeline end to end with the real models: synthetic labels, options, concurrency, lifecycle."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

import pipeline
from pipeline import (
    DateKind,
    DateOrder,
    InvalidInput,
    Pipeline,
    PipelineConfig,
    ProcessOptions,
    ProcessStatus,
    ShuttingDown,
    load_pipeline,
)
from pipeline.synth import render_label

pytestmark = pytest.mark.slow

USE_BY = render_label(["Use by", "16 NOV"], seed=1)
REF = dt.date(2026, 11, 1)


def test_use_by_label_is_found(real_pipeline: Pipeline) -> None:
    result = real_pipeline.process(USE_BY, ProcessOptions(reference_date=REF))

    assert result.status is ProcessStatus.FOUND
    assert result.best_date is not None
    assert result.best_date.date.isoformat().endswith("-11-16")
    assert result.best_date.kind is DateKind.EXPIRY
    assert result.best_date.year_inferred
    assert (result.image_width, result.image_height) == (840, 640)
    # The shipped detector finds the date; its window is read, not the whole photo.
    assert result.detections and result.detections[0].class_name == "date"
    assert all(line.detection_index >= 0 for line in result.ocr_lines)
    assert not result.full_image_fallback_used
    timings = result.timings
    assert timings.decode_ms > 0 and timings.detect_ms > 0 and timings.ocr_ms > 0 and timings.parse_ms > 0
    assert timings.total_ms >= timings.decode_ms + timings.detect_ms + timings.ocr_ms


def test_default_reference_date_is_today(real_pipeline: Pipeline) -> None:
    result = real_pipeline.process(USE_BY)
    assert result.best_date is not None
    assert result.best_date.days_until_expiry == (result.best_date.date - dt.date.today()).days


def test_reference_date_changes_expiry(real_pipeline: Pipeline) -> None:
    before = real_pipeline.process(USE_BY, ProcessOptions(reference_date=dt.date(2026, 11, 10))).best_date
    after = real_pipeline.process(USE_BY, ProcessOptions(reference_date=dt.date(2026, 11, 20))).best_date
    assert before is not None and after is not None
    assert before.date == after.date == dt.date(2026, 11, 16)  # within the grace period: same year
    assert (before.is_expired, before.days_until_expiry) == (False, 6)
    assert (after.is_expired, after.days_until_expiry) == (True, -4)


def test_date_order_changes_an_ambiguous_date(real_pipeline: Pipeline) -> None:
    image = render_label(["BEST BEFORE", "03/04/2027"], seed=0)
    dmy = real_pipeline.process(image, ProcessOptions(reference_date=REF, date_order=DateOrder.DMY))
    mdy = real_pipeline.process(image, ProcessOptions(reference_date=REF, date_order=DateOrder.MDY))
    assert dmy.best_date is not None and dmy.best_date.date == dt.date(2027, 4, 3)
    assert mdy.best_date is not None and mdy.best_date.date == dt.date(2027, 3, 4)


def test_without_a_hint_the_label_decides_the_order(real_pipeline: Pipeline) -> None:
    """No date_order from the caller: a date readable only month-first (12/25) makes the whole
    label month-first, before the configured DMY default (pipeline/dates/order.py); the caller's
    hint, when given, wins."""
    image = render_label(["MFG 03/04/2027", "EXP 12/25/2027"], seed=0)

    def manufactured(options: ProcessOptions) -> dt.date:
        # By its text: OCR may misread the keyword (MFG as ΛFG), and the kind with it.
        dates = real_pipeline.process(image, options).dates
        return next(found.date for found in dates if found.text == "03/04/2027")

    assert manufactured(ProcessOptions(reference_date=REF)) == dt.date(2027, 3, 4)
    assert manufactured(ProcessOptions(reference_date=REF, date_order=DateOrder.DMY)) == dt.date(2027, 4, 3)


def test_text_without_date_is_partial(real_pipeline: Pipeline) -> None:
    result = real_pipeline.process(render_label(["Keep refrigerated"], seed=2))
    assert result.status is ProcessStatus.PARTIAL
    assert result.ocr_lines and result.best_date is None


def test_blank_image_is_not_found(real_pipeline: Pipeline) -> None:
    ok, blank = cv2.imencode(".png", np.full((240, 320, 3), 200, dtype=np.uint8))
    assert ok
    result = real_pipeline.process(blank.tobytes())
    assert result.status is ProcessStatus.NOT_FOUND
    assert result.ocr_lines == () and result.dates == ()


def test_visualization_and_crops(real_pipeline: Pipeline) -> None:
    plain = real_pipeline.process(USE_BY)
    assert plain.visualization_jpeg == b"" and plain.crops_jpeg == ()

    result = real_pipeline.process(USE_BY, ProcessOptions(return_visualization=True, return_crops=True))
    picture = cv2.imdecode(np.frombuffer(result.visualization_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (640, 840, 3)
    assert len(result.crops_jpeg) == len(result.detections) >= 1


def test_bad_image_names_the_field(real_pipeline: Pipeline) -> None:
    with pytest.raises(InvalidInput) as raised:
        real_pipeline.process(b"not an image")
    assert raised.value.field == "image"


def test_bad_option_names_the_field(real_pipeline: Pipeline) -> None:
    with pytest.raises(InvalidInput) as raised:
        real_pipeline.process(USE_BY, ProcessOptions(detection_confidence=1.5))
    assert raised.value.field == "options.detection_confidence"


def test_process_is_safe_from_several_threads(real_pipeline: Pipeline) -> None:
    images = [render_label(["Use by", f"{day} NOV"], seed=day) for day in (11, 12, 13, 14)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda data: real_pipeline.process(data, ProcessOptions(reference_date=REF)), images)
        )
    assert [r.best_date.date.day for r in results if r.best_date] == [11, 12, 13, 14]


def test_aprocess_runs_off_the_event_loop(real_pipeline: Pipeline) -> None:
    async def main() -> list[pipeline.ProcessResult]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        tick_task = asyncio.create_task(ticker())
        results = await asyncio.gather(*(real_pipeline.aprocess(USE_BY) for _ in range(3)))
        tick_task.cancel()
        # The loop kept running while the images were processed.
        assert ticks > 10
        return results

    results = asyncio.run(main())
    assert all(r.status is ProcessStatus.FOUND for r in results)
    assert all(r.timings.queue_ms >= 0 and r.timings.total_ms > r.timings.ocr_ms for r in results)
    # Three images on fewer workers: at least one waited for a worker.
    if real_pipeline.concurrency < 3:
        assert max(r.timings.queue_ms for r in results) > 0


def test_models_describe_the_loaded_sessions(real_pipeline: Pipeline) -> None:
    assert real_pipeline.ready
    infos = real_pipeline.models()
    assert [info.kind for info in infos] == ["yolo_detector", "ocr_det", "ocr_cls", "ocr_rec", "ocr_det"]
    assert infos[-1].name == "ocr_det_coder"  # the second chance's coder-print detector
    assert all(info.ready and info.providers and len(info.sha256) == 64 for info in infos)


def test_closed_pipeline_refuses_work() -> None:
    closed = load_pipeline(PipelineConfig(max_concurrency=1))
    assert closed.ready
    closed.close()
    closed.close()  # idempotent
    assert not closed.ready
    with pytest.raises(ShuttingDown):
        closed.process(USE_BY)
    with pytest.raises(ShuttingDown):
        asyncio.run(closed.aprocess(USE_BY))


def test_public_surface() -> None:
    assert pipeline.__all__ == sorted(pipeline.__all__)
    for name in pipeline.__all__:
        assert hasattr(pipeline, name), name


def test_a_photo_over_the_pixel_limit_is_read_smaller_with_boxes_in_its_own_pixels(
    real_pipeline: Pipeline,
) -> None:
    """A photo past max_image_pixels was refused; now it is read at a size within the limit (a JPEG
    by libjpeg's reduced decode) and the caller gets boxes on the photo it sent."""
    label = cv2.imdecode(np.frombuffer(USE_BY, np.uint8), cv2.IMREAD_COLOR)
    large = cv2.imencode(".jpg", cv2.resize(label, (840 * 4, 640 * 4), interpolation=cv2.INTER_CUBIC))[1]
    reference = real_pipeline.process(USE_BY, ProcessOptions(reference_date=REF))
    config = PipelineConfig(decode=pipeline.DecodeLimits(max_image_pixels=840 * 640 * 4))  # 1/2 fits
    small_limit = load_pipeline(config)
    try:
        result = small_limit.process(large.tobytes(), ProcessOptions(reference_date=REF))
    finally:
        small_limit.close()
    assert result.best_date is not None and result.best_date.date == dt.date(2026, 11, 16)
    assert (result.image_width, result.image_height) == (840 * 4, 640 * 4)
    assert result.detections and reference.detections
    box, expected = result.detections[0].box, reference.detections[0].box
    for got, want in (
        (box.x1, expected.x1),
        (box.y1, expected.y1),
        (box.x2, expected.x2),
        (box.y2, expected.y2),
    ):
        assert abs(got - 4 * want) < 4 * 12, (box, expected)  # the same region, in 4x pixels
    assert all(line.box.x2 <= 840 * 4 + 1 and line.box.y2 <= 640 * 4 + 1 for line in result.ocr_lines)
    assert max(line.box.x2 for line in result.ocr_lines) > 840 * 1.5
