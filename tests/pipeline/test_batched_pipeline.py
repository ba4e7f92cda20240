"""Pipeline.aprocess through the model batchers, with the real models: same answers as the direct path,
results back to the right caller, size buckets that change nothing, admission, deadlines, stats, close."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import numpy as np
import pytest

from pipeline import (
    DeadlineExceeded,
    Overloaded,
    Pipeline,
    PipelineConfig,
    Priority,
    ShuttingDown,
    Stage,
    StageEvent,
    load_pipeline,
)
from pipeline.batched_ocr import BatchedOcr, pad_to_bucket, rec_bucket_width
from pipeline.executor import PriorityExecutor
from pipeline.repository import BatchingConfig
from pipeline.synth import render_label, render_label_image

LABELS = [
    render_label(["Use by", "16 NOV"], seed=11),
    render_label(["BEST BEFORE", "03/04/2027"], seed=12),
    render_label(["Keep refrigerated"], seed=13),
    render_label(["EXP", "12/2027"], seed=14),
]


def test_pad_to_bucket_pads_bottom_and_right_only_when_needed() -> None:
    batch = np.ones((1, 3, 64, 100), np.float32)
    padded = pad_to_bucket(batch, 32)
    assert padded.shape == (1, 3, 64, 128)
    assert padded[..., :64, :100].min() == 1 and padded[..., 100:].max() == 0
    assert pad_to_bucket(batch[..., :96], 32) is not None
    same = np.ones((1, 3, 64, 96), np.float32)
    assert pad_to_bucket(same, 32) is same


@pytest.mark.parametrize(
    ("crop_hw", "bucket_px", "width"),
    [((48, 100), 32, 320), ((48, 330), 32, 352), ((24, 330), 32, 672), ((48, 330), 160, 480)],
)
def test_recognition_crops_round_up_to_their_width_bucket(crop_hw, bucket_px, width) -> None:
    assert rec_bucket_width((*crop_hw, 3), bucket_px) == width


@pytest.mark.slow
def test_concurrent_calls_get_their_own_answers_as_the_direct_path_does(real_pipeline: Pipeline) -> None:
    expected = [[line.text for line in real_pipeline.process(image).ocr_lines] for image in LABELS]

    async def main() -> list[list[str]]:
        results = await asyncio.gather(*(real_pipeline.aprocess(image) for image in LABELS * 2))
        return [[line.text for line in result.ocr_lines] for result in results]

    assert asyncio.run(main()) == expected * 2


@pytest.mark.slow
def test_coarse_buckets_do_not_change_what_is_read(real_pipeline: Pipeline) -> None:
    engine = real_pipeline._ocr
    coarse = {name: dataclasses.replace(b, bucket_px=160) for name, b in engine.batching.items()}
    images = [render_label_image(["Use by", "16 NOV"], seed=21), render_label_image(["LOT 42"], seed=22)]

    async def main() -> list[list[str]]:
        executor = PriorityExecutor(2)
        ocr = BatchedOcr(engine, coarse, executor)
        lines = await asyncio.gather(*(ocr.read(image, key=(0, i)) for i, image in enumerate(images)))
        await ocr.aclose()
        executor.shutdown()
        return [[line.text for line in found] for found in lines]

    assert asyncio.run(main()) == [[line.text for line in engine.read(image)] for image in images]
    assert coarse["ocr_det"] == BatchingConfig(batcher=coarse["ocr_det"].batcher, bucket_px=160)


@pytest.mark.slow
def test_deadline_already_passed_is_refused_before_any_work(real_pipeline: Pipeline) -> None:
    before = real_pipeline.stats().images_processed_total
    with pytest.raises(DeadlineExceeded):
        asyncio.run(real_pipeline.aprocess(LABELS[0], deadline=time.monotonic() - 0.001))
    assert real_pipeline.stats().images_processed_total == before


@pytest.mark.slow
def test_jobs_priority_and_a_future_deadline_are_served(real_pipeline: Pipeline) -> None:
    result = asyncio.run(
        real_pipeline.aprocess(LABELS[0], deadline=time.monotonic() + 60, priority=Priority.JOB)
    )
    assert result.best_date is not None


def test_each_stage_is_reported_as_it_ends(real_pipeline: Pipeline) -> None:
    events: list[StageEvent] = []
    result = asyncio.run(real_pipeline.aprocess(LABELS[0], on_stage=events.append))
    assert [e.stage for e in events] == [
        Stage.DECODED,
        Stage.REGIONS_DETECTED,
        Stage.TEXT_READ,
        Stage.DATES_PARSED,
    ]
    assert events[0].count == result.image_width * result.image_height
    assert events[2].count == len(result.ocr_lines) and events[3].count == len(result.dates)


@pytest.mark.slow
def test_images_over_the_pending_limit_are_refused_at_once() -> None:
    pipeline = load_pipeline(PipelineConfig(max_concurrency=1, max_pending_images=1))

    async def main() -> None:
        first = asyncio.ensure_future(pipeline.aprocess(LABELS[0]))
        await asyncio.sleep(0)  # the first call is admitted
        with pytest.raises(Overloaded, match="1 images pending, the limit is 1"):
            await pipeline.aprocess(LABELS[1])
        assert (await first).best_date is not None
        stats = pipeline.stats()
        assert (stats.requests_total, stats.images_processed_total, stats.rejected_total) == (2, 1, 1)
        assert [m.name for m in stats.models] == [
            "date_detector",
            "ocr_det",
            "ocr_cls",
            "ocr_rec",
            "ocr_det_coder",
        ]
        await pipeline.aclose()
        with pytest.raises(ShuttingDown):
            await pipeline.aprocess(LABELS[0])

    asyncio.run(main())
    assert not pipeline.ready
