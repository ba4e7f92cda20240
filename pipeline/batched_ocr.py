"""OCR through one DynamicBatcher per model: text detection, angle classification and recognition.

Each request's work is split at the model calls: its own pre/post-processing runs on the pipeline's
executor, and its model inputs (one detection input per image, one item per text crop) join the
model's batcher, where they share batches with other requests' inputs of the same size bucket.
A crop the angle classifier would turn goes to recognition twice, as cut and turned, and the better
read is kept, as in :meth:`pipeline.ocr.OcrEngine.read`; so is one it left as cut whose read is
unsure and looks like an upside-down number (:func:`pipeline.ocr.unproposed_turns`), in a second
recogniser submission.

Size buckets keep batches possible with variable shapes:
- detection inputs are padded (bottom and right) to a multiple of ``bucket_px`` per side, and the
  probability map is cut back before post-processing, so padding never changes the boxes;
- recognition crops are resized to height 48 and padded to a width that is a multiple of
  ``bucket_px`` (PP-OCR pads a batch to its widest crop in the same way), at most
  ``REC_MAX_WIDTH_PX``.

A read's text boxes are cropped, classified and recognised ``TEXT_BOXES_AT_ONCE`` at a time, so its
memory stays within the bound stated in :mod:`pipeline.ocr`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from pipeline.batching import BatcherStats, DynamicBatcher, Priority
from pipeline.ctc import Read
from pipeline.cut_lines import with_grown
from pipeline.executor import Key, PriorityExecutor
from pipeline.ocr import (
    _REC_SHAPE,
    REC_MAX_WIDTH_PX,
    DetInput,
    OcrEngine,
    _crop_quad,
    _resize_pad,
    chunks,
    lines_from_reads,
    pick_orientations,
    turned_crops,
    unproposed_turns,
    with_turned_reads,
)
from pipeline.raw_tensors import RawRow
from pipeline.repository import BatchingConfig
from pipeline.types import OcrLine

__all__ = ["BatchedOcr", "pad_to_bucket", "raw_or_split", "rec_bucket_width", "warm_inputs"]

# Recognition widths warmed at load: up to this many pixels (a text line 26 times longer than high).
_REC_WARM_MAX_PX = 1248
# The detector's working size for the short side of a photo (OcrConfig.det_limit_side_len).
_DET_WARM_SIDE_PX = 736


def pad_to_bucket(batch: np.ndarray, bucket_px: int) -> np.ndarray:
    """Pads an ``(N, C, H, W)`` array with zeros at the bottom and right to multiples of ``bucket_px``."""
    height, width = batch.shape[-2:]
    padded_h = math.ceil(height / bucket_px) * bucket_px
    padded_w = math.ceil(width / bucket_px) * bucket_px
    if (padded_h, padded_w) == (height, width):
        return batch
    out = np.zeros((*batch.shape[:-2], padded_h, padded_w), dtype=batch.dtype)
    out[..., :height, :width] = batch
    return out


def rec_bucket_width(crop_shape: tuple[int, ...], bucket_px: int) -> int:
    """The padded input width of a recognition crop: its width at height 48, rounded up to the bucket,
    at most ``REC_MAX_WIDTH_PX`` (a longer line is squeezed to it)."""
    height, width = crop_shape[:2]
    needed = max(_REC_SHAPE[2], math.ceil(_REC_SHAPE[1] * width / max(1, height)))
    return min(REC_MAX_WIDTH_PX, math.ceil(needed / bucket_px) * bucket_px)


# A model input with its request's scheduling key.
_Keyed = tuple[np.ndarray, Key]


def _shape_key(item: _Keyed) -> tuple[int, ...]:
    return tuple(item[0].shape)


class BatchedOcr:
    """The async counterpart of :meth:`OcrEngine.read`, with the three models behind batchers.

    Built by the pipeline on its event loop, and closed with :meth:`aclose`.

    Args:
        engine: the loaded models and their pre/post-processing.
        batching: per model name (``ocr_det``...), the batcher and bucket settings.
        executor: where pre/post-processing and model calls run (never the event loop), oldest
            request first: every piece of work carries its request's (priority, arrival) key,
            and a batch the smallest key of its items.
    """

    def __init__(
        self, engine: OcrEngine, batching: dict[str, BatchingConfig], executor: PriorityExecutor
    ) -> None:
        self._engine = engine
        self._executor = executor
        self._det_bucket_px = batching["ocr_det"].bucket_px
        self._rec_bucket_px = batching["ocr_rec"].bucket_px
        self.det = self._batcher("ocr_det", batching, engine.detector.run, _split_maps)
        coder = engine.coder_detector
        # The second chance's coder reads (pipeline/variants.py, Step.CODER) go through their own.
        self.det_coder = self._batcher("ocr_det_coder", batching, coder.run, _split_maps) if coder else None
        self._coder_bucket_px = batching["ocr_det_coder"].bucket_px if coder else self._det_bucket_px
        classifier = engine.classifier
        self.cls = self._batcher("ocr_cls", batching, classifier.run, _split_rows) if classifier else None
        # Decoding runs with the batch, on the executor: CTC decoding is not free.
        self.rec = self._batcher("ocr_rec", batching, engine.recognizer.run, self._decode)

    def _batcher(
        self,
        name: str,
        batching: dict[str, BatchingConfig],
        run: Callable[[np.ndarray], np.ndarray],
        split: Callable[[np.ndarray, int], list[Any]],
    ) -> DynamicBatcher[_Keyed, Any]:
        def run_stacked(items: list[_Keyed]) -> list[Any]:
            return raw_or_split(run(np.stack([array for array, _ in items])), items, split)

        async def run_batch(items: list[_Keyed]) -> list[Any]:
            key = min(key for _, key in items)
            return await self._executor.run(key, run_stacked, items)

        return DynamicBatcher(run_batch, batching[name].batcher, name=name, group_key=_shape_key)

    def _decode(self, probs: np.ndarray, count: int) -> list[Read]:
        return self._engine.recognizer.postprocess(probs)

    def batchers(self) -> list[DynamicBatcher[_Keyed, Any]]:
        """The batchers, in pipeline order (the coder detector's, read only by the second chance,
        last)."""
        return [b for b in (self.det, self.cls, self.rec, self.det_coder) if b is not None]

    def stats(self) -> list[BatcherStats]:
        """Each batcher's counters, in pipeline order."""
        return [b.stats() for b in self.batchers()]

    async def aclose(self, timeout_s: float | None = None) -> None:
        """Closes the batchers in pipeline order: detection's queue drains before recognition's."""
        for batcher in self.batchers():
            await batcher.aclose(timeout_s)

    async def read(
        self,
        image: np.ndarray,
        *,
        key: Key,
        detection_index: int = -1,
        scale: float | None = None,
        priority: Priority = Priority.INTERACTIVE,
        deadline: float | None = None,
        on_regions: Callable[[int], None] | None = None,
        coder: bool = False,
    ) -> list[OcrLine]:
        """Reads the text lines of one BGR image (see :meth:`OcrEngine.read`).

        Args:
            key: the request's scheduling key, ``(priority, arrival time)``: smaller runs first.
            scale: text detection's resize factor (see :meth:`TextDetector.preprocess`).
            on_regions: told how many text regions were found, before they are read.
            coder: find the text with the engine's coder detector.

        Raises:
            Overloaded, DeadlineExceeded, ShuttingDown: from the batchers.
            ValueError: ``coder`` and the engine has no coder detector.
        """
        run = self._executor.run
        detector = self._engine.text_detector(coder)
        batcher = self.det_coder if coder and self.det_coder is not None else self.det
        prepared: DetInput = await run(key, detector.preprocess, image, scale)
        det_input = pad_to_bucket(prepared.batch, self._coder_bucket_px if coder else self._det_bucket_px)[0]
        prob_map = await batcher.submit((det_input, key), priority=priority, deadline=deadline)
        height, width = prepared.batch.shape[-2:]
        quads = await run(
            key,
            detector.postprocess,
            np.ascontiguousarray(prob_map[..., :height, :width]),
            prepared,
        )
        quads = await run(key, self._engine.text_boxes, image, quads)
        if on_regions is not None:
            on_regions(len(quads))
        reads = await self._read_quads(image, quads, key, priority, deadline)
        grown = self._engine.cut_lines(image, quads, reads)
        if grown:
            grown_reads = await self._read_quads(
                image, [regrowth.quad for regrowth in grown], key, priority, deadline
            )
            quads, reads = with_grown(quads, reads, grown, grown_reads)
        return lines_from_reads(quads, reads, self._engine.min_text_score, detection_index)

    async def recognize(
        self,
        crops: list[np.ndarray],
        *,
        key: Key,
        priority: Priority = Priority.INTERACTIVE,
        deadline: float | None = None,
    ) -> list[Read]:
        """The recogniser's reads of ``crops`` (``(h, w, 3)`` uint8 BGR line crops, read as they
        are: no angle classification), through its batcher, in order.

        Raises:
            Overloaded, DeadlineExceeded, ShuttingDown: from the batcher.
        """
        inputs = await self._executor.run(key, self._rec_inputs, crops)
        reads = await self.rec.submit_many([(x, key) for x in inputs], priority=priority, deadline=deadline)
        return list(reads)

    async def _read_quads(
        self,
        image: np.ndarray,
        quads: list[np.ndarray],
        key: Key,
        priority: Priority,
        deadline: float | None,
    ) -> list[Read]:
        """The reads of the text boxes ``quads`` of ``image``, ``TEXT_BOXES_AT_ONCE`` at a time."""
        run = self._executor.run
        reads: list[Read] = []
        for chunk in chunks(quads):
            crops, cls_inputs = await run(key, self._crops, image, chunk)
            flips = [False] * len(crops)
            if self.cls is not None:
                probs = await self.cls.submit_many(
                    [(x, key) for x in cls_inputs], priority=priority, deadline=deadline
                )
                # A crop the classifier would turn is read both ways (see OcrEngine.read).
                rec_inputs, flips = await run(key, self._both_ways_rec_inputs, np.stack(probs), crops)
            else:
                rec_inputs = await run(key, self._rec_inputs, crops)
            chunk_reads = await self.rec.submit_many(
                [(x, key) for x in rec_inputs], priority=priority, deadline=deadline
            )
            del rec_inputs  # the turned inputs below take their place in the memory bound
            chunk_reads = pick_orientations(chunk_reads, flips)
            turns = unproposed_turns(chunk_reads, flips) if self.cls is not None else []
            if any(turns):
                turned_inputs = await run(key, self._rec_inputs, turned_crops(crops, turns))
                turned = await self.rec.submit_many(
                    [(x, key) for x in turned_inputs], priority=priority, deadline=deadline
                )
                chunk_reads = with_turned_reads(chunk_reads, turns, turned)
            reads.extend(chunk_reads)
        return reads

    # -- CPU work, on the executor

    def _crops(self, image: np.ndarray, quads: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        crops = [_crop_quad(image, quad) for quad in quads]
        classifier = self._engine.classifier
        cls_inputs = list(classifier.preprocess(crops)) if classifier is not None and crops else []
        return crops, cls_inputs

    def _both_ways_rec_inputs(
        self, probs: np.ndarray, crops: list[np.ndarray]
    ) -> tuple[list[np.ndarray], list[bool]]:
        assert self._engine.classifier is not None
        flips = self._engine.classifier.postprocess(probs)
        return self._rec_inputs(itertools.chain(crops, turned_crops(crops, flips))), flips

    def _rec_inputs(self, crops: Iterable[np.ndarray]) -> list[np.ndarray]:
        return [
            _resize_pad(crop, _REC_SHAPE, rec_bucket_width(crop.shape, self._rec_bucket_px) / _REC_SHAPE[1])
            for crop in crops
        ]


def warm_inputs(batching: dict[str, BatchingConfig]) -> dict[str, list[np.ndarray]]:
    """Inputs that warm every bucket the batchers will use, by model name.

    Recognition: one batch per width bucket up to a 26:1 text line. Detection: with buckets coarser
    than DB's own 32 px rounding (GPU settings), the buckets of landscape, square and portrait
    photos at the detector's working size; at 32 px the shapes are the photos' own and the warm-up
    label covers the common one.
    """
    rec_bucket_px = batching["ocr_rec"].bucket_px
    widths = range(_REC_SHAPE[2], _REC_WARM_MAX_PX + 1, rec_bucket_px)
    inputs = {"ocr_rec": [np.zeros((1, _REC_SHAPE[0], _REC_SHAPE[1], w), np.float32) for w in widths]}
    det_bucket_px = batching["ocr_det"].bucket_px
    if det_bucket_px > 32:
        sides = [(_DET_WARM_SIDE_PX, round(_DET_WARM_SIDE_PX * r)) for r in (4 / 3, 1.0)]
        shapes = {s for h, w in sides for s in ((h, w), (w, h))}
        inputs["ocr_det"] = [
            pad_to_bucket(np.zeros((1, 3, h, w), np.float32), det_bucket_px) for h, w in sorted(shapes)
        ]
    return inputs


def raw_or_split(
    output: np.ndarray, items: list[_Keyed], split: Callable[[np.ndarray, int], list[Any]]
) -> list[Any]:
    """Per item of a batch, the model's own output row for a :class:`RawRow` (a caller's raw
    tensor), else what ``split`` makes of the pipeline's rows (maps, probabilities, text)."""
    results: list[Any] = list(output)
    cooked = [i for i, item in enumerate(items) if not isinstance(item, RawRow)]
    if cooked:
        rows = output if len(cooked) == len(items) else output[cooked]
        for i, result in zip(cooked, split(rows, len(cooked)), strict=True):
            results[i] = result
    return results


def _split_maps(maps: np.ndarray, count: int) -> list[np.ndarray]:
    return [maps[i : i + 1] for i in range(count)]


def _split_rows(rows: np.ndarray, count: int) -> list[np.ndarray]:
    return list(rows)
