"""The pipeline: image bytes in, dates out. Decode, (detect), OCR, parse, judge against a reference date.

``Pipeline.process`` runs in the caller's thread and calls the models directly (scripts, the in-process
benchmark). ``Pipeline.aprocess`` is the server's path: decoding and pre/post-processing run on the
pipeline's thread pool, and every model call goes through that model's DynamicBatcher, so that the
inputs of concurrent requests share batches, queues are bounded, and deadlines and priorities hold.
No decoding or ONNX call ever runs on the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard, TypeVar

import numpy as np

from pipeline.admission import Admission
from pipeline.batched_ocr import BatchedOcr, warm_inputs
from pipeline.batching import BatcherStats, DynamicBatcher, Priority
from pipeline.config import PipelineConfig
from pipeline.dates import DateParseResult, parse_dates
from pipeline.dates.unread import expiry_unreadable
from pipeline.dates.years import YearWindow
from pipeline.decode import DecodedImage, decode_photo
from pipeline.detector import YoloDetector, detector_batcher, load_detector
from pipeline.errors import DeadlineExceeded, InvalidInput, Overloaded, ShuttingDown
from pipeline.executor import Key, PriorityExecutor
from pipeline.impossible_dates import repaired
from pipeline.lines import assemble_lines
from pipeline.ocr import OcrEngine, reading_order
from pipeline.photo_orientation import laid_down_both_ways, sideways, turn_from_reads, upside_down
from pipeline.raw_tensors import RawRow, TensorModel, check_batch, check_output_size, output_ratio
from pipeline.regions import Window, cut, grown, keeps_dates, reading_windows, text_windows
from pipeline.repository import DEFAULT_REPOSITORY
from pipeline.runtime import OnnxModel, OnnxRuntimeError, cpu_count
from pipeline.second_chance import (
    DIGIT_SWAP,
    MAX_DIGIT_SWAPS,
    Need,
    Planned,
    Target,
    VariantRead,
    doubtful,
    lost_digit,
    need,
    plan,
    read_short,
    settled,
    starts_in_time,
    winner,
)
from pipeline.small_text import fallback_upscale
from pipeline.synth import render_label_image
from pipeline.types import (
    BoundingBox,
    DateFinding,
    DateKind,
    DateOrder,
    Detection,
    ModelInfo,
    OcrLine,
    ParsedDate,
    ProcessOptions,
    ProcessResult,
    ProcessStatus,
    SecondChance,
    Stage,
    StageEvent,
    StageTimings,
)
from pipeline.variants import (
    Step,
    Variant,
    blank,
    dot_grid,
    make_variant,
    parse_plan,
    resized_variant,
    turned_variant,
)
from pipeline.visualize import encode_crops, render_visualization

__all__ = ["Pipeline", "PipelineStats", "all_or_cancel", "load_pipeline"]

_DEFAULT_OPTIONS = ProcessOptions()
_T = TypeVar("_T")
# Windows of one image read at once by aprocess. Each read holds up to ~135 MB of crops and model
# inputs at the caps of pipeline/ocr.py, so this bounds a request's memory (see Pipeline); a label
# photo has one to three windows, all read at once.
WINDOWS_AT_ONCE = 4
# How far clockwise a sideways or upside-down photo's turn turned it (ProcessResult.read_turned_deg).
_TURN_DEGREES = {Step.TURN90: 90, Step.TURN180: 180, Step.TURN270: 270}


@dataclass(frozen=True, slots=True)
class _Settings:
    """A request's options with every default filled in."""

    reference_date: dt.date
    # The caller's hint, or None: then the label's own evidence (legend, script, impossible values)
    # decides before the configured default (pipeline/dates/order.py).
    date_order: DateOrder | None
    detection_confidence: float
    detection_iou: float
    max_detections: int
    full_image_fallback: bool
    return_visualization: bool
    return_crops: bool


@dataclass(frozen=True, kw_only=True)
class PipelineStats:
    """What the pipeline has done since it was built.

    Attributes:
        since: when counting started (UTC).
        requests_total: ``aprocess`` calls, refused ones included.
        images_processed_total: images that came back with a result.
        rejected_total: calls refused because too many images were pending (Overloaded).
        models: each model batcher's counters, in pipeline order.
    """

    since: dt.datetime
    requests_total: int
    images_processed_total: int
    rejected_total: int
    models: tuple[BatcherStats, ...]


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def _resolve(options: ProcessOptions, config: PipelineConfig) -> _Settings:
    """Fills unset options from the configuration and checks the ones that were set."""
    for name in ("detection_confidence", "detection_iou"):
        value = getattr(options, name)
        if value is not None and not 0 <= value <= 1:
            raise InvalidInput(f"options.{name}", f"must be in 0..1, got {value}")
    if options.max_detections is not None and options.max_detections < 1:
        raise InvalidInput("options.max_detections", f"must be >= 1, got {options.max_detections}")

    return _Settings(
        # "Today" is read here, at the pipeline's edge, never inside the parser.
        reference_date=_or(options.reference_date, dt.date.today()),
        date_order=options.date_order,
        detection_confidence=_or(options.detection_confidence, config.detection_confidence),
        detection_iou=_or(options.detection_iou, config.detection_iou),
        max_detections=_or(options.max_detections, config.max_detections),
        full_image_fallback=_or(options.full_image_fallback, config.full_image_fallback),
        return_visualization=options.return_visualization,
        return_crops=options.return_crops,
    )


def _ignore_stage(event: StageEvent) -> None:
    """The stage callback of calls that ask for no progress."""


def _ms(start: float, end: float) -> float:
    return (end - start) * 1000.0


class Pipeline:
    """Reads expiry dates from product photos.

    Safe to use from several threads at once. Build it with :func:`load_pipeline`, which also
    warms the models.

    Memory per image, worst case at the default limits: the file (16 MiB) and the decoded image
    (40 MP x 3 bytes = 120 MB; an image with alpha passes through up to 320 MB while decoding, see
    :mod:`pipeline.decode`); the detection windows cut from it (disjoint: at most the image again,
    120 MB); the text detector's inputs (the windows are read at the photo's scale, capped at 4 MP
    together: 76 MB with the probability maps); and ``WINDOWS_AT_ONCE`` reads' text boxes (135 MB
    each, see :mod:`pipeline.ocr`); the full-image fallback read comes after them, and the
    second-chance reads after it, ``VARIANTS_AT_ONCE`` at a time, each with one variant image of
    at most 12 MB (:mod:`pipeline.second_chance`). A photo read sideways is turned upright and
    read again after its first read (:mod:`pipeline.photo_orientation`): its turned copy (one more
    decoded image, at most 120 MB) is held until the result is made, and its reads hold what the
    first read's did. About 1.1 GB in all, plus the models' activations (largest for the text
    detector at its 4 MP cap); a 12 MP label photo uses far less. No resize depends on the
    image's aspect ratio without a cap.

    Args:
        config: limits and defaults.
        ocr: the loaded OCR models.
        detector: the date detector; ``None`` reads the whole image.
    """

    def __init__(self, config: PipelineConfig, ocr: OcrEngine, detector: YoloDetector | None = None) -> None:
        self.config = config
        self._ocr = ocr
        self._detector = detector
        self._concurrency = config.max_concurrency or cpu_count()
        # Oldest request first (see pipeline/executor.py), for decoding, pre/post-processing and models.
        self._executor = PriorityExecutor(self._concurrency, thread_name_prefix="datalid-pipeline")
        self._lock = threading.Lock()
        self._warmed = False
        self._closed = False
        # Images admitted by aprocess and not finished; beyond the limit, callers are refused at once
        # rather than queued behind work that would outlast their deadlines.
        self._admission = Admission(config.max_pending_images or 4 * self._concurrency)
        self._since = dt.datetime.now(dt.UTC)
        self._requests = 0
        self._processed = 0
        # The batchers live on one event loop; they are built on the first aprocess call there.
        self._batched: BatchedOcr | None = None
        self._detect_batcher: DynamicBatcher[tuple[np.ndarray, Key], np.ndarray] | None = None
        self._batched_loop: asyncio.AbstractEventLoop | None = None
        # The second chance's variants, parsed once (PipelineConfig checked them).
        self._window_variants = parse_plan(config.second_chance_window_variants)
        self._photo_variants = parse_plan(config.second_chance_photo_variants)
        self._text_variants = parse_plan(config.second_chance_text_variants)
        # Each model's output elements per input element, measured at warm-up (ainfer's bound).
        self._output_ratios: dict[str, float | None] = {}

    @property
    def ready(self) -> bool:
        """True once the models are warmed, until :meth:`close`."""
        return self._warmed and not self._closed

    @property
    def concurrency(self) -> int:
        """Worker threads: how many model runs and pre/post-processing steps run at once."""
        return self._concurrency

    def warmup(self) -> None:
        """Runs every model on a synthetic label, and recognition on every width bucket it batches by,
        so the first real request of any size is not slow."""
        image = render_label_image(["Use by", "16 NOV"], seed=0)
        if self._detector is not None:
            config = self.config
            self._detector.detect(
                image, config.detection_confidence, config.detection_iou, config.max_detections
            )
        self._ocr.detector.detect(image)
        if self._ocr.coder_detector is not None:
            self._ocr.coder_detector.detect(image)
        # A fixed crop, so classification and recognition run even if detection found nothing.
        crop = np.ascontiguousarray(image[200:260, 100:400])
        if self._ocr.classifier is not None:
            self._ocr.classifier.classify([crop])
        self._ocr.recognizer.recognize([crop])
        warm = warm_inputs(self._ocr.batching)
        for batch in warm.get("ocr_det", []):
            self._ocr.detector.run(batch)
            # The coder detector's buckets are the first read's (models/ocr_det_coder/config.yaml).
            if self._ocr.coder_detector is not None:
                self._ocr.coder_detector.run(batch)
        for batch in warm["ocr_rec"]:
            self._ocr.recognizer.run(batch)
        self._output_ratios = {model.name: output_ratio(model) for model in self._onnx_models()}
        with self._lock:
            self._warmed = True

    def _onnx_models(self) -> list[OnnxModel]:
        return ([self._detector.model] if self._detector is not None else []) + self._ocr.models()

    def models(self) -> list[ModelInfo]:
        """Describes every loaded model."""
        ocr = [model.info(ready=self.ready) for model in self._ocr.models()]
        return ([self._detector.info(ready=self.ready)] if self._detector is not None else []) + ocr

    def process(self, image: bytes, options: ProcessOptions = _DEFAULT_OPTIONS) -> ProcessResult:
        """Reads the dates in one image, in the calling thread.

        Args:
            image: an encoded JPEG, PNG, WebP or BMP file.
            options: per-request options; unset ones take the configured defaults.

        Returns:
            The lines read, the dates found and the best one, with stage timings.

        Raises:
            InvalidInput: the image or an option is unusable (the error names which).
            ShuttingDown: the pipeline is closed.
        """
        self._check_open()
        return self._process(image, options, queued_at=time.perf_counter())

    async def aprocess(
        self,
        image: bytes,
        options: ProcessOptions = _DEFAULT_OPTIONS,
        *,
        deadline: float | None = None,
        priority: Priority = Priority.INTERACTIVE,
        on_stage: Callable[[StageEvent], None] | None = None,
    ) -> ProcessResult:
        """Reads the dates in one image through the model batchers (see :meth:`process`).

        Args:
            image: an encoded image.
            options: per-request options.
            deadline: a ``time.monotonic()`` value; work still queued for a model when it passes
                is dropped and the call raises DeadlineExceeded. ``None``: no deadline.
            priority: INTERACTIVE work is batched before JOB work.
            on_stage: called on the event loop as each stage ends, for live progress.

        Raises:
            InvalidInput: the image or an option is unusable.
            Overloaded: refused at once, before any work: too many images are pending
                (``max_pending_images``), the image would not finish before its deadline at the
                current rate (see :mod:`pipeline.admission`), or a model's queue is full.
            DeadlineExceeded: the deadline passed before the work could start.
            ShuttingDown: the pipeline is closing.
        """
        self._check_open()
        self._requests += 1
        if deadline is not None and deadline <= time.monotonic():
            raise DeadlineExceeded("the deadline passed before processing began")
        self._admission.admit(deadline, interactive=priority is Priority.INTERACTIVE)
        served = False
        try:
            result = await self._aprocess(image, options, deadline, priority, on_stage)
            served = True
        finally:
            self._admission.done(served=served)
        self._processed += 1
        return result

    async def _aprocess(
        self,
        data: bytes,
        options: ProcessOptions,
        deadline: float | None,
        priority: Priority,
        on_stage: Callable[[StageEvent], None] | None,
    ) -> ProcessResult:
        queued_at = time.perf_counter()
        key = (float(priority), time.monotonic())
        ocr = self._batched_ocr()
        run = self._executor.run
        started, settings, photo, decoded = await run(key, self._prepare, data, options)
        image = photo.pixels
        report = on_stage or _ignore_stage
        height, width = image.shape[:2]
        report(StageEvent(Stage.DECODED, width * height, _decoded_message(photo)))
        context = _ReadContext(key, priority, deadline, {})
        first = await self._afirst_read(ocr, image, settings, context, report)
        detected = decoded if first.detected is None else first.detected
        lines, wanted, doubted = await run(
            key, self._after_first_read, image, first.windows_dated, first.lines, settings
        )
        upright = await self._aread_upright(ocr, image, first, lines, settings, context)
        if upright is not None:
            variant, read, lines, second = upright
            detections, fallback = read.detections, first.fallback
        else:
            variant, second, detections, fallback = None, None, first.detections, first.fallback
            if wanted is not Need.NONE:
                context = _ReadContext(key, priority, deadline, first.costs, doubted)
                found, second = await self._asecond_chance(
                    ocr, image, first.windows, first.scale, first.whole, settings, context, lines
                )
                lines = found or lines
        report(StageEvent(Stage.TEXT_READ, len(lines), f"{_counted(len(lines), 'line')} read"))
        times = (queued_at, started, decoded, detected, time.perf_counter())
        result = await run(key, self._finish, image, settings, detections, lines, times, fallback, variant)
        result = _in_photo_pixels(_with_second_chance(result, second), photo)
        parsed = _counted(len(result.dates), "date")
        report(StageEvent(Stage.DATES_PARSED, len(result.dates), f"{parsed} parsed"))
        return result

    async def _afirst_read(
        self,
        ocr: BatchedOcr,
        image: np.ndarray,
        settings: _Settings,
        context: _ReadContext,
        report: Callable[[StageEvent], None],
    ) -> _FirstRead:
        """The first read of ``image`` through the batchers (see :meth:`_first_read`); its stages
        are told to ``report``."""
        key, priority, deadline = context.key, context.priority, context.deadline
        run = self._executor.run

        def regions_found(count: int) -> None:
            report(StageEvent(Stage.REGIONS_DETECTED, count, f"{_counted(count, 'text region')} detected"))

        async def read(
            region: np.ndarray, on_regions: Callable[[int], None] | None, scale: float | None = None
        ) -> list[OcrLine]:
            return await ocr.read(
                region,
                key=key,
                scale=scale,
                priority=priority,
                deadline=deadline,
                on_regions=on_regions,
            )

        # What one read of each target took: a second-chance round of it is not started when the
        # deadline would pass before one such read could end.
        costs: dict[Target, float] = {}
        if self._detector is None:
            began = time.perf_counter()
            lines = tuple(await read(image, regions_found))
            costs[Target.PHOTO] = time.perf_counter() - began
            return _FirstRead(lines=lines, photo_lines=lines, costs=costs)
        detections = await self._adetect(image, settings, key, priority, deadline)
        detected = time.perf_counter()
        found = _counted(len(detections), "date region")
        report(StageEvent(Stage.REGIONS_DETECTED, len(detections), f"{found} detected"))
        windows, scale = self._windows(image, detections)
        # Windows of one image are read concurrently, so their model inputs can share batches.
        crops = await run(key, lambda: [cut(image, window) for window in windows])
        gate = asyncio.Semaphore(WINDOWS_AT_ONCE)

        async def read_window(crop: np.ndarray) -> list[OcrLine]:
            async with gate:
                return await read(crop, None, scale)

        reads = await all_or_cancel([read_window(crop) for crop in crops])
        del crops
        date_in = functools.partial(self._date_in, settings=settings)
        regrown = grown(image.shape, windows, reads, date_in)
        if regrown is not None:
            # Only the grown windows are read again.
            known = dict(zip(windows, reads, strict=True))
            again = [window for window in regrown if window not in known]
            crops = await run(key, lambda: [cut(image, window) for window in again])
            known.update(zip(again, await all_or_cancel([read_window(c) for c in crops]), strict=True))
            del crops
            grown_reads = [known[window] for window in regrown]
            if keeps_dates(reads, grown_reads, date_in):
                windows, reads = regrown, grown_reads
        costs[Target.WINDOW] = time.perf_counter() - detected
        lines = _placed(reads, windows)
        windows_best = self._parse(lines, settings).best
        windows_dated = _dated_beyond_doubt(windows_best, lines, settings)
        fallback = settings.full_image_fallback and not windows_dated
        photo_lines: tuple[OcrLine, ...] = ()
        if fallback:
            fallback_started = time.perf_counter()
            larger = await run(key, self._fallback_variant, image, reads)
            if larger is None:
                photo_lines = tuple(await read(image, None))
            else:
                photo_lines = tuple(larger.source_lines(await read(larger.image, None)))
                del larger
            lines = self._photo_or_windows(photo_lines, lines, windows_best, settings)
            costs[Target.PHOTO] = time.perf_counter() - fallback_started
        return _FirstRead(
            lines=lines,
            photo_lines=photo_lines,
            detections=detections,
            windows=windows,
            scale=scale,
            windows_dated=windows_dated,
            fallback=fallback,
            detected=detected,
            costs=costs,
        )

    async def _aread_upright(
        self,
        ocr: BatchedOcr,
        image: np.ndarray,
        first: _FirstRead,
        lines: tuple[OcrLine, ...],
        settings: _Settings,
        context: _ReadContext,
    ) -> tuple[Variant, _FirstRead, tuple[OcrLine, ...], SecondChance | None] | None:
        """A sideways photo read turned upright through the batchers (see :meth:`_read_upright`)."""
        turned = await self._aturned(ocr, image, first, settings, context)
        if turned is None:
            return None
        variant, read = turned
        run = self._executor.run
        up, up_wanted, doubted = await run(
            context.key, self._after_first_read, variant.image, read.windows_dated, read.lines, settings
        )
        second = None
        if up_wanted is not Need.NONE:
            up_context = dataclasses.replace(context, costs=read.costs, doubted=doubted)
            found, second = await self._asecond_chance(
                ocr, variant.image, read.windows, read.scale, read.whole, settings, up_context, up
            )
            up = found or up
        if not await run(context.key, self._upright_stands, up, lines, settings):
            return None
        return variant, read, up, second

    async def _aturned(
        self,
        ocr: BatchedOcr,
        image: np.ndarray,
        first: _FirstRead,
        settings: _Settings,
        context: _ReadContext,
    ) -> tuple[Variant, _FirstRead] | None:
        """``image`` turned upright and its first read, through the batchers (see
        :meth:`_turned`); the turned read's stages are not reported again. ``None`` too when the
        deadline would pass before a read as long as the first could end, or the batchers refuse
        the turned read for its deadline or a full queue: the sideways read then goes on, as a
        second chance's refused round leaves the first read's result."""
        run = self._executor.run
        vertical, turn = self._way_up(first)
        if (turn is None and not vertical) or not starts_in_time(
            context.deadline, sum(first.costs.values()), time.monotonic()
        ):
            return None
        try:
            if vertical:
                crops = await run(context.key, laid_down_both_ways, image, vertical)
                reads = await ocr.recognize(
                    crops, key=context.key, priority=context.priority, deadline=context.deadline
                )
                del crops
                turn = turn_from_reads(reads)
            if turn is None:
                return None
            variant = await run(context.key, turned_variant, image, turn)
            return variant, await self._afirst_read(ocr, variant.image, settings, context, _ignore_stage)
        except (DeadlineExceeded, Overloaded):
            return None

    async def _asecond_chance(
        self,
        ocr: BatchedOcr,
        image: np.ndarray,
        windows: list[Window],
        scale: float,
        photo: bool,
        settings: _Settings,
        context: _ReadContext,
        lines: tuple[OcrLine, ...],
    ) -> tuple[tuple[OcrLine, ...] | None, SecondChance]:
        """Tries the first read's ``lines`` with a digit swapped (:meth:`_digit_swap_read`), then
        reads variants of the windows, then of the photo, round by round through the batchers
        (see :mod:`pipeline.second_chance`), as :meth:`_second_chance` does in the caller's thread.

        A round is not started when the deadline would pass before one read of its target (timed
        on the first read) could end; its variants and the later ones are reported skipped. A
        read the batchers refuse for its deadline or a full queue ends the second chance the same
        way: the first read's result still goes back.

        Returns:
            The winning read's lines (``None`` when no variant read a date) and the report.
        """
        started = time.perf_counter()
        swap = None
        if context.doubted is None:
            swap = await self._executor.run(context.key, self._digit_swap_read, lines, settings)
        reads: list[VariantRead] = [] if swap is None else [swap]
        skipped: list[str] = []
        text = await self._executor.run(context.key, self._text_windows, image, photo, lines)
        rounds = self._rounds(windows, photo, text)
        for index, round_ in enumerate(rounds):
            if settled(reads, context.doubted):
                break
            # A text window is a part of the photo, read at most at the photo's cost.
            target = round_[0].target
            cost = context.costs.get(Target.PHOTO if target is Target.TEXT else target, 0.0)
            if not starts_in_time(context.deadline, cost, time.monotonic()):
                skipped += [planned.name for later in rounds[index:] for planned in later]
                break
            results = await asyncio.gather(
                *(
                    self._aread_variant(
                        ocr,
                        image,
                        *((text, None) if planned.target is Target.TEXT else (windows, scale)),
                        planned,
                        settings,
                        context,
                        lines,
                    )
                    for planned in round_
                ),
                return_exceptions=True,
            )
            refused = False
            for planned, result in zip(round_, results, strict=True):
                if isinstance(result, DeadlineExceeded | Overloaded):
                    skipped.append(planned.name)
                    refused = True
                elif isinstance(result, BaseException):
                    raise result
                elif result is not None:
                    reads.append(result)
            if refused:
                skipped += [planned.name for later in rounds[index + 1 :] for planned in later]
                break
        strict = _only_completion(context.doubted, lines, settings)
        return _second_chance_result(reads, skipped, started, context.doubted, strict)

    async def _aread_variant(
        self,
        ocr: BatchedOcr,
        image: np.ndarray,
        windows: list[Window],
        scale: float | None,
        planned: Planned,
        settings: _Settings,
        context: _ReadContext,
        first: tuple[OcrLine, ...] = (),
    ) -> VariantRead | None:
        """One variant read through the batchers; ``None`` when the variant has nothing to undo.
        A window variant's windows are read one after another, so one variant image is held at a
        time, at ``scale`` (the photo's), or at their own (``None``: text windows)."""
        run = self._executor.run
        key = context.key
        if Step.CODER in planned.steps and self._ocr.coder_detector is None:
            return None

        async def read(variant: Variant, read_scale: float | None) -> list[OcrLine]:
            lines = await ocr.read(
                variant.image,
                key=key,
                scale=read_scale,
                priority=context.priority,
                deadline=context.deadline,
                coder=variant.coder,
            )
            return variant.source_lines(_levelled(lines, planned))

        if planned.target is Target.PHOTO:
            variant = await run(key, make_variant, image, planned.steps)
            if variant is None:
                return None
            lines: tuple[OcrLine, ...] = tuple(await read(variant, None))
        else:
            window_reads: list[list[OcrLine]] = []
            made = False
            for window in windows:
                variant = await run(
                    key, lambda window=window: make_variant(cut(image, window), planned.steps)
                )
                made = made or variant is not None
                read_scale = None if variant is None or scale is None else variant.read_scale(scale)
                window_reads.append([] if variant is None else await read(variant, read_scale))
            if not made:
                return None
            lines = _placed(window_reads, windows, ordered=planned.target is not Target.TEXT)
        parsed = await run(key, self._parsed_variant, planned, lines, settings)
        return _kept_if_read_again(planned, lines, parsed, first)

    async def _adetect(
        self, image: np.ndarray, settings: _Settings, key: Key, priority: Priority, deadline: float | None
    ) -> tuple[Detection, ...]:
        """Letterboxes on the executor, runs through the detector's batcher, decodes on the executor."""
        detector, batcher = self._detector, self._detect_batcher
        assert detector is not None and batcher is not None
        prepared = await self._executor.run(key, detector.preprocess, image)
        raw = await batcher.submit((prepared.tensor, key), priority=priority, deadline=deadline)
        return await self._executor.run(
            key,
            detector.postprocess,
            raw,
            prepared,
            settings.detection_confidence,
            settings.detection_iou,
            settings.max_detections,
        )

    def _batched_ocr(self) -> BatchedOcr:
        loop = asyncio.get_running_loop()
        if self._batched is None or self._batched_loop is not loop:
            # A new loop (a script's second asyncio.run): the old loop's batchers died with it.
            self._batched = BatchedOcr(self._ocr, self._ocr.batching, self._executor)
            if self._detector is not None:
                self._detect_batcher = detector_batcher(self._detector, self._executor)
            self._batched_loop = loop
        return self._batched

    def tensor_models(self) -> dict[str, TensorModel]:
        """The models :meth:`ainfer` runs, by name, in pipeline order."""
        return {batcher.name: self._tensor_model(batcher) for batcher in self._batchers()}

    def _batchers(self) -> list[DynamicBatcher[Any, Any]]:
        """Every model batcher of this event loop, in pipeline order (built on first use)."""
        batched = self._batched_ocr()
        return ([self._detect_batcher] if self._detect_batcher is not None else []) + batched.batchers()

    def _tensor_model(self, batcher: DynamicBatcher[Any, Any]) -> TensorModel:
        model = next(m for m in self._onnx_models() if m.name == batcher.name)
        return TensorModel(
            model.info(ready=self.ready), batcher.config, self._output_ratios.get(batcher.name)
        )

    async def ainfer(
        self,
        model: str,
        batch: np.ndarray,
        *,
        field: str = "input",
        deadline: float | None = None,
        priority: Priority = Priority.INTERACTIVE,
        max_output_bytes: int | None = None,
    ) -> np.ndarray:
        """Runs one model on a caller's tensor, row by row through the model's batcher (where the
        rows share batches with the pipeline's own inputs of the same shape); returns the model's
        output as it is, rows in order.

        Args:
            model: a name of :meth:`tensor_models` (``date_detector``, ``ocr_rec``...).
            batch: the model's one input, batch axis first (see :func:`check_batch`).
            field: how the caller's API names ``batch``, for errors.
            deadline, priority: as for :meth:`aprocess`.
            max_output_bytes: refuse, before running, a tensor whose output would be larger
                (estimated from the model's output-to-input ratio, see :func:`output_ratio`).

        Raises:
            InvalidInput: no such model, a tensor the model does not take, or whose output would
                pass ``max_output_bytes`` (names ``field``).
            Overloaded, DeadlineExceeded, ShuttingDown: from the model's batcher.
        """
        self._check_open()
        batchers = {batcher.name: batcher for batcher in self._batchers()}
        if model not in batchers:
            raise InvalidInput("model_name", f"no model is named {model!r}; served: {', '.join(batchers)}")
        batcher = batchers[model]
        served = self._tensor_model(batcher)
        check_batch(served.info.inputs[0], batch, served.batching.max_batch_size, field)
        check_output_size(served, batch, max_output_bytes, field)
        key = (float(priority), time.monotonic())
        rows = [RawRow(np.ascontiguousarray(row), key) for row in batch]
        try:
            outputs = await batcher.submit_many(rows, priority=priority, deadline=deadline)
        except OnnxRuntimeError as exc:
            # The declared shape fits, but the network cannot take it (an axis too short for its
            # pooling): the caller's tensor, not the server, is at fault. Only rows of this exact
            # shape shared the batch, and it fails them all alike.
            reason = " ".join(str(exc).split())[:500]
            raise InvalidInput(field, f"{model} cannot run this tensor: {reason}") from None
        return np.stack(outputs)

    def stats(self) -> PipelineStats:
        """The counters of :meth:`aprocess` and of every model batcher."""
        models = tuple(self._batched.stats()) if self._batched is not None else ()
        if self._detect_batcher is not None:
            models = (self._detect_batcher.stats(), *models)
        return PipelineStats(
            since=self._since,
            requests_total=self._requests,
            images_processed_total=self._processed,
            rejected_total=self._admission.rejected,
            models=models,
        )

    async def aclose(self, timeout_s: float | None = None) -> None:
        """Stops taking work, lets the batchers drain in pipeline order, then releases the threads.

        Args:
            timeout_s: how long queued model work may still wait; then it fails with ShuttingDown.
        """
        with self._lock:
            self._closed = True
        if self._batched is not None and self._batched_loop is asyncio.get_running_loop():
            # Pipeline order: the detector's queue drains before OCR's.
            if self._detect_batcher is not None:
                await self._detect_batcher.aclose(timeout_s)
            await self._batched.aclose(timeout_s)
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Stops taking work and waits for running work to finish. Idempotent."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ShuttingDown("the pipeline is closed")

    def _process(self, data: bytes, options: ProcessOptions, queued_at: float) -> ProcessResult:
        started, settings, photo, decoded = self._prepare(data, options)
        return _in_photo_pixels(self._read(photo.pixels, settings, queued_at, started, decoded), photo)

    def _read(
        self, image: np.ndarray, settings: _Settings, queued_at: float, started: float, decoded: float
    ) -> ProcessResult:
        """The synchronous read of a decoded image (``_process``), in the decoded image's pixels.

        A photo whose first read says it is sideways is read again turned upright (see
        :meth:`_turned`), with its own second chance; its result stands unless it holds no date
        where the sideways read holds one, and then the sideways read goes on as any first read.
        """
        first = self._first_read(image, settings)
        lines, wanted, doubted = self._after_first_read(image, first.windows_dated, first.lines, settings)
        # detect_ms is the detection of the photo as sent, even when it is read again turned.
        detected = decoded if first.detected is None else first.detected
        upright = self._read_upright(image, first, lines, settings)
        if upright is not None:
            variant, read, up, up_second = upright
            times = (queued_at, started, decoded, detected, time.perf_counter())
            result = self._finish(image, settings, read.detections, up, times, first.fallback, variant)
            return _with_second_chance(result, up_second)
        second = None
        if wanted is not Need.NONE:
            lines, second = self._second_chance(
                image, first.windows, first.scale, first.whole, settings, lines, doubted
            )
        times = (queued_at, started, decoded, detected, time.perf_counter())
        result = self._finish(image, settings, first.detections, lines, times, first.fallback)
        return _with_second_chance(result, second)

    def _read_upright(
        self,
        image: np.ndarray,
        first: _FirstRead,
        lines: tuple[OcrLine, ...],
        settings: _Settings,
    ) -> tuple[Variant, _FirstRead, tuple[OcrLine, ...], SecondChance | None] | None:
        """A sideways photo read turned upright (:meth:`_turned`), with its own second chance: the
        turned variant, its first read, its final lines and its second chance's report; ``None``
        when the photo is not turned, or when the upright read does not stand
        (:meth:`_upright_stands` against the sideways read's ``lines``, repaired) and the sideways
        read goes on."""
        turned = self._turned(image, first, settings)
        if turned is None:
            return None
        variant, read = turned
        up, up_wanted, doubted = self._after_first_read(
            variant.image, read.windows_dated, read.lines, settings
        )
        second = None
        if up_wanted is not Need.NONE:
            up, second = self._second_chance(
                variant.image, read.windows, read.scale, read.whole, settings, up, doubted
            )
        if not self._upright_stands(up, lines, settings):
            return None
        return variant, read, up, second

    def _upright_stands(
        self, upright: tuple[OcrLine, ...], sideways: tuple[OcrLine, ...], settings: _Settings
    ) -> bool:
        """Whether a sideways photo's read turned upright stands against the sideways read: its
        lines (``upright``, after any second chance) rank at least as high as the sideways read's
        (``sideways``, repaired; see :meth:`_rank`). A tie goes to the upright read: read
        sideways, a label's lines are not joined as printed (realworld-dev 004 turned a quarter
        read its expiry ``19/06/2026`` as ``19/06/2020``, beyond doubt); a photo upright already,
        a can's label across it and its brand down its side, turned reads its label sideways
        and ranks lower (its date of unknown kind), so the sideways read stands."""
        return self._rank(upright, settings) >= self._rank(sideways, settings)

    def _rank(self, lines: tuple[OcrLine, ...], settings: _Settings) -> int:
        """2: ``lines`` hold an expiry-labelled date; 1: another date; 0: none."""
        best = self._dates_in(lines, settings).best
        return 0 if best is None else 2 if best.kind is DateKind.EXPIRY else 1

    def _first_read(self, image: np.ndarray, settings: _Settings) -> _FirstRead:
        """The first read of ``image`` in the calling thread: the detector's windows, then the whole
        photo when they hold no expiry date beyond doubt (or the whole photo when there is no
        detector)."""
        if self._detector is None:
            # The whole image is read. full_image_fallback_used stays False because no detector
            # ran and came back empty, and detect_ms stays 0.
            lines = tuple(self._ocr.read(image, detection_index=-1))
            return _FirstRead(lines=lines, photo_lines=lines)
        detections = self._detector.detect(
            image, settings.detection_confidence, settings.detection_iou, settings.max_detections
        )
        detected = time.perf_counter()
        windows, scale = self._windows(image, detections)
        reads = [self._ocr.read(cut(image, window), scale=scale) for window in windows]
        date_in = functools.partial(self._date_in, settings=settings)
        regrown = grown(image.shape, windows, reads, date_in)
        if regrown is not None:
            known = dict(zip(windows, reads, strict=True))
            grown_reads = [
                known[window] if window in known else self._ocr.read(cut(image, window), scale=scale)
                for window in regrown
            ]
            if keeps_dates(reads, grown_reads, date_in):
                windows, reads = regrown, grown_reads
        lines = _placed(reads, windows)
        windows_best = self._parse(lines, settings).best
        windows_dated = _dated_beyond_doubt(windows_best, lines, settings)
        fallback = settings.full_image_fallback and not windows_dated
        photo_lines: tuple[OcrLine, ...] = ()
        if fallback:
            larger = self._fallback_variant(image, reads)
            photo_lines = (
                tuple(self._ocr.read(image))
                if larger is None
                else tuple(larger.source_lines(self._ocr.read(larger.image)))
            )
            lines = self._photo_or_windows(photo_lines, lines, windows_best, settings)
        return _FirstRead(
            lines=lines,
            photo_lines=photo_lines,
            detections=detections,
            windows=windows,
            scale=scale,
            windows_dated=windows_dated,
            fallback=fallback,
            detected=detected,
        )

    def _turned(
        self, image: np.ndarray, first: _FirstRead, settings: _Settings
    ) -> tuple[Variant, _FirstRead] | None:
        """``image`` turned upright and its first read, when the first read's whole-photo lines
        say the photo is upside down (:meth:`_half_turn`) or sideways (:meth:`_sideways`), and
        turning such photos is on (:mod:`pipeline.photo_orientation`); ``None`` otherwise."""
        vertical, turn = self._way_up(first)
        if vertical:
            turn = turn_from_reads(self._ocr.recognizer.recognize(laid_down_both_ways(image, vertical)))
        if turn is None:
            return None
        variant = turned_variant(image, turn)
        return variant, self._first_read(variant.image, settings)

    def _way_up(self, first: _FirstRead) -> tuple[list[OcrLine], Step | None]:
        """What the first read's whole-photo lines say of the photo's way up: the vertical lines of
        a sideways photo (:meth:`_sideways`; its turn is then told by reading them both ways), or
        else the half turn of an upside-down one (:meth:`_half_turn`), or neither."""
        # Sideways first: upside_down() weighs level lines only, and a sideways photo may hold a
        # few, read turned; turned by 180 degrees it would still be sideways.
        if vertical := self._sideways(first):
            return vertical, None
        return [], self._half_turn(first)

    def _half_turn(self, first: _FirstRead) -> Step | None:
        """``TURN180`` when turning upside-down photos is on and the first read's whole-photo lines
        say the photo is upside down (:func:`pipeline.photo_orientation.upside_down`)."""
        return (
            Step.TURN180 if self.config.turn_upside_down_photos and upside_down(first.photo_lines) else None
        )

    def _sideways(self, first: _FirstRead) -> list[OcrLine]:
        """The vertical lines to tell a sideways photo's way up by, when turning sideways photos is
        on and the first read's whole-photo lines say the photo is sideways
        (:func:`pipeline.photo_orientation.sideways`); empty otherwise."""
        return sideways(first.photo_lines) if self.config.turn_sideways_photos else []

    def _fallback_variant(
        self, image: np.ndarray, window_reads: Sequence[Sequence[OcrLine]]
    ) -> Variant | None:
        """The larger copy of ``image`` the whole-photo fallback reads, or None to read it as it is
        (pipeline/small_text.py)."""
        config = self.config
        factor = fallback_upscale(image.shape, window_reads, config.small_photo_side_px, config.small_text_px)
        return resized_variant(image, factor) if factor > 1.0 else None

    def _second_chance(
        self,
        image: np.ndarray,
        windows: list[Window],
        scale: float,
        photo: bool,
        settings: _Settings,
        lines: tuple[OcrLine, ...],
        doubted: ParsedDate | None,
    ) -> tuple[tuple[OcrLine, ...], SecondChance]:
        """Reads variants of the windows, then of the photo if ``photo`` (the first read read it),
        round by round (see :mod:`pipeline.second_chance`), one read at a time in the calling
        thread, as :meth:`_asecond_chance` does through the batchers. ``doubted``: the first
        read's :func:`doubtful` date, if it found one: then only a date beyond doubt wins.

        Returns:
            The winning variant's lines, else ``lines`` (the first read's); and the report.
        """
        started = time.perf_counter()
        swap = None if doubted is not None else self._digit_swap_read(lines, settings)
        reads: list[VariantRead] = [] if swap is None else [swap]
        text = self._text_windows(image, photo, lines)
        for round_ in self._rounds(windows, photo, text):
            if settled(reads, doubted):
                break
            for planned in round_:
                where = (text, None) if planned.target is Target.TEXT else (windows, scale)
                read = self._read_variant(image, *where, planned, settings, lines)
                if read is not None:
                    reads.append(read)
        found, report = _second_chance_result(
            reads, [], started, doubted, _only_completion(doubted, lines, settings)
        )
        return found or lines, report

    def _digit_swap_read(self, lines: tuple[OcrLine, ...], settings: _Settings) -> VariantRead | None:
        """The first read's ``lines`` with one digit swapped for the recogniser's close second
        (``OcrLine.alternatives``, see :mod:`pipeline.ctc`), as a read of its own named
        ``DIGIT_SWAP``: the first swap, line by line and each line's closest second first, that
        gives a date read on the swapped line (``84 Aug 2029`` under ``EXP``: 04 Aug 2029). Only
        for a first read that holds no date: a doubtful date's own digits are not changed into
        one beyond doubt with nothing to confirm it. It votes as a variant read does
        (:func:`winner`): alone, its date stands only with its keyword. It costs no model run:
        a parse of the lines for each swap, at most ``MAX_DIGIT_SWAPS``. ``None``: no swap gives
        a date."""
        tried = 0
        for index, line in enumerate(lines):
            for text in line.alternatives:
                if tried == MAX_DIGIT_SWAPS:
                    return None
                tried += 1
                changed = dataclasses.replace(line, text=text, alternatives=())
                swapped = (*lines[:index], changed, *lines[index + 1 :])
                found = self._dates_in(swapped, settings)
                best = found.best
                if best is not None and (text in best.text or best.text in text):
                    return VariantRead(DIGIT_SWAP, swapped, best, found.candidates)
        return None

    def _after_first_read(
        self, image: np.ndarray, windows_dated: bool, lines: tuple[OcrLine, ...], settings: _Settings
    ) -> tuple[tuple[OcrLine, ...], Need, ParsedDate | None]:
        """The first read of ``image`` (its final ``lines``) with its impossible dates repaired
        (:func:`pipeline.impossible_dates.repaired`: a line with alternatives and a whole numeric
        date costs a parse of the line, others nothing); what it asks of the second chance (see
        :func:`need`): nothing when it is off or the read holds a date beyond doubt; and its best
        date when that is :func:`doubtful` (``None`` otherwise). ``windows_dated``: the
        windows' lines held an expiry date beyond doubt, so no fallback ran and ``lines`` are
        theirs: known dated without parsing them again (photos the first read dates pay nothing).
        The photo's dot grid is measured (about 20 ms at 0.5 MP) only for an unlabelled date
        without a year; whether it is :func:`pipeline.variants.blank` only when nothing was read:
        a blank photo asks nothing."""

        lines = self._repaired(lines, settings)
        if not self.config.second_chance or windows_dated:
            return lines, Need.NONE, None
        if not lines and blank(image):
            # Nothing read, nothing to read: a camera's blank frame is not worth its variants
            # (2.5 to 3.5 s of a 2-core CPU for a 1280x720 frame, all of it text detection).
            return lines, Need.NONE, None
        best = self._dates_in(lines, settings).best
        wanted = need(
            best,
            lambda: dot_grid(image) is not None,
            lines,
            lambda: any(expiry_unreadable(line.text, self._dated(settings)) for line in lines),
            _plausible(settings),
        )
        return lines, wanted, best if wanted is Need.DOUBTFUL else None

    def _rounds(self, windows: list[Window], photo: bool, text: list[Window]) -> list[list[Planned]]:
        return plan(
            self._window_variants if windows else (),
            self._photo_variants if photo else (),
            self.config.second_chance_max_variants,
            self._text_variants if text else (),
        )

    def _text_windows(self, image: np.ndarray, photo: bool, lines: tuple[OcrLine, ...]) -> list[Window]:
        """The text windows (:func:`pipeline.regions.text_windows`) of a photo the first read read
        whole (``photo``) and shrunk, its own text detector's input being smaller than the photo:
        read at their own scale they show the print larger. None otherwise."""
        if not photo or self._ocr.detector.reading_scale(image.shape) >= 1.0:
            return []
        return text_windows(image.shape, lines)

    def _read_variant(
        self,
        image: np.ndarray,
        windows: list[Window],
        scale: float | None,
        planned: Planned,
        settings: _Settings,
        first: tuple[OcrLine, ...] = (),
    ) -> VariantRead | None:
        """One variant read in the calling thread (see :meth:`_aread_variant`)."""
        if Step.CODER in planned.steps and self._ocr.coder_detector is None:
            return None
        if planned.target is Target.PHOTO:
            variant = make_variant(image, planned.steps)
            if variant is None:
                return None
            lines = tuple(variant.source_lines(self._ocr.read(variant.image, coder=variant.coder)))
        else:
            window_reads: list[list[OcrLine]] = []
            made = False
            for window in windows:
                variant = make_variant(cut(image, window), planned.steps)
                made = made or variant is not None
                if variant is None:
                    window_reads.append([])
                else:
                    read_scale = None if scale is None else variant.read_scale(scale)
                    read = self._ocr.read(variant.image, scale=read_scale, coder=variant.coder)
                    window_reads.append(variant.source_lines(_levelled(read, planned)))
            if not made:
                return None
            lines = _placed(window_reads, windows, ordered=planned.target is not Target.TEXT)
        return _kept_if_read_again(planned, lines, self._parsed_variant(planned, lines, settings), first)

    def _prepare(self, data: bytes, options: ProcessOptions) -> tuple[float, _Settings, DecodedImage, float]:
        started = time.perf_counter()
        settings = _resolve(options, self.config)
        photo = decode_photo(data, self.config.decode)
        return started, settings, photo, time.perf_counter()

    def _windows(self, image: np.ndarray, detections: tuple[Detection, ...]) -> tuple[list[Window], float]:
        """The windows to read around ``detections``, and the text-detection scale to read them at:
        the photo's own (see :meth:`TextDetector.preprocess`)."""
        config = self.config
        windows = reading_windows(
            image.shape, detections, config.detection_crop_padding, config.detection_crop_context
        )
        return windows, self._ocr.detector.reading_scale(image.shape)

    def _parse(self, lines: tuple[OcrLine, ...], settings: _Settings) -> DateParseResult:
        return self._parse_text("\n".join(line.text for line in lines), settings)

    def _parse_text(self, text: str, settings: _Settings) -> DateParseResult:
        return parse_dates(
            text,
            settings.reference_date,
            settings.date_order,
            default_order=self.config.date_order,
            grace_days=self.config.date_grace_days,
            years_back=self.config.date_years_back,
            years_ahead=self.config.date_years_ahead,
        )

    def _date_in(self, text: str, settings: _Settings) -> str | None:
        """The parser's best date in ``text`` (one line's), as printed; ``None``: none."""
        best = self._parse_text(text, settings).best
        return None if best is None else best.text

    def _parsed_variant(
        self, planned: Planned, lines: tuple[OcrLine, ...], settings: _Settings
    ) -> VariantRead:
        """A variant's read: its lines :meth:`_repaired` and the parser's dates in them."""
        repaired = self._repaired(lines, settings)
        found = self._dates_in(repaired, settings)
        return VariantRead(planned.name, repaired, found.best, found.candidates, repaired != lines)

    def _repaired(self, lines: tuple[OcrLine, ...], settings: _Settings) -> tuple[OcrLine, ...]:
        """``lines`` with their impossible whole dates read with the recogniser's close second for a
        digit (:func:`pipeline.impossible_dates.repaired`). For the first read and for each
        second-chance variant alike: a variant of dot-matrix print misreads digits as the first read
        does (hard set v4 980261: four variants read ``08/68/25``, each ranking the month's 0 close
        behind the 6). Costs up to 1 + ``pipeline.ctc.MAX_ALTERNATIVES`` parses of each line that
        holds a whole numeric date and has alternatives; nothing for others."""
        return repaired(lines, self._dated(settings))

    def _dated(self, settings: _Settings) -> Callable[[str], bool]:
        """Whether one line's text holds a date to the parser (see :meth:`_date_in`)."""
        return lambda text: self._date_in(text, settings) is not None

    def _dates_in(self, lines: tuple[OcrLine, ...], settings: _Settings) -> DateParseResult:
        """The parser's dates in ``lines`` read as printed (see :func:`assemble_lines`), as
        :meth:`_finish` reads them. Parsing a few lines takes microseconds."""
        return self._parse(assemble_lines(lines), settings)

    def _has_date(self, lines: tuple[OcrLine, ...], settings: _Settings) -> bool:
        """Whether ``lines`` hold a date (see :meth:`_dates_in`)."""
        return self._dates_in(lines, settings).best is not None

    def _photo_or_windows(
        self,
        photo: tuple[OcrLine, ...],
        windows: tuple[OcrLine, ...],
        windows_best: ParsedDate | None,
        settings: _Settings,
    ) -> tuple[OcrLine, ...]:
        """The whole photo's lines, unless they hold no date and the windows' do
        (``windows_best``, see :func:`_is_expiry`): a window read up close ("10 JUL") can hold a
        date the whole photo's read garbles ("19 SUL"); the windows' unlabelled date then stands."""
        if windows_best is None or self._has_date(photo, settings):
            return photo
        return windows

    def _finish(
        self,
        image: np.ndarray,
        settings: _Settings,
        detections: tuple[Detection, ...],
        lines: tuple[OcrLine, ...],
        times: tuple[float, float, float, float, float],
        fallback_used: bool,
        turned: Variant | None = None,
    ) -> ProcessResult:
        """The result of a read of ``image``: ``lines`` joined as printed and parsed. ``turned``:
        the read was of this variant of ``image`` (a sideways photo turned upright), ``lines`` and
        ``detections`` in its pixels: they are joined and parsed as read, then moved to
        ``image``'s pixels."""
        queued_at, started, decoded, detected, read = times
        # The parser reads lines: a printed line the text detector cut into boxes is joined first.
        lines = assemble_lines(lines)
        parsed = self._parse(lines, settings)
        turned_deg = 0
        if turned is not None:
            lines = tuple(turned.source_lines(lines))
            detections = tuple(dataclasses.replace(d, box=turned.source_box(d.box)) for d in detections)
            turned_deg = _TURN_DEGREES[turned.steps[0]]
        dates = tuple(
            DateFinding.judged(candidate, settings.reference_date) for candidate in parsed.candidates
        )
        best = DateFinding.judged(parsed.best, settings.reference_date) if parsed.best else None
        parsed_at = time.perf_counter()

        visualization = (
            render_visualization(image, detections, lines, best) if settings.return_visualization else b""
        )
        crops = encode_crops(image, detections) if settings.return_crops else ()
        finished = time.perf_counter()
        return ProcessResult(
            status=_status(best, lines, detections),
            image_width=int(image.shape[1]),
            image_height=int(image.shape[0]),
            timings=StageTimings(
                decode_ms=_ms(started, decoded),
                queue_ms=_ms(queued_at, started),
                detect_ms=_ms(decoded, detected),
                ocr_ms=_ms(detected, read),
                parse_ms=_ms(read, parsed_at),
                total_ms=_ms(queued_at, finished),
            ),
            detections=detections,
            ocr_lines=lines,
            dates=dates,
            best_date=best,
            full_image_fallback_used=fallback_used,
            visualization_jpeg=visualization,
            crops_jpeg=crops,
            read_turned_deg=turned_deg,
        )


async def all_or_cancel(awaitables: list[Awaitable[_T]]) -> list[_T]:
    """Awaits all concurrently; the first failure cancels the others and is raised as it is.

    Unlike a task group, callers see the pipeline's own error (``DeadlineExceeded``...), not an
    ``ExceptionGroup``; unlike a bare ``gather``, the siblings of a failed read stop using the models.
    """
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@dataclass(frozen=True, slots=True, kw_only=True)
class _FirstRead:
    """What the first read of an image found, before any second chance.

    Attributes:
        lines: the lines whose dates stand: the windows' or the whole photo's.
        photo_lines: the whole photo's own lines (empty when it was not read whole).
        detections, windows, scale: the detector's regions, the windows read around them and the
            text-detection scale they were read at (none without a detector).
        windows_dated: the windows held an expiry date beyond doubt (no fallback ran).
        fallback: the whole-photo fallback ran.
        detected: when detection ended (``time.perf_counter()``); ``None``: no detector ran.
        costs: what one read of each target took (see :class:`_ReadContext`).
    """

    lines: tuple[OcrLine, ...]
    photo_lines: tuple[OcrLine, ...] = ()
    detections: tuple[Detection, ...] = ()
    windows: list[Window] = dataclasses.field(default_factory=list)
    scale: float = 1.0
    windows_dated: bool = False
    fallback: bool = False
    detected: float | None = None
    costs: dict[Target, float] = dataclasses.field(default_factory=dict)

    @property
    def whole(self) -> bool:
        """Whether the whole photo was read: the fallback ran, or there is no detector."""
        return self.fallback or self.detected is None


@dataclass(frozen=True, slots=True)
class _ReadContext:
    """How an ``aprocess`` call's model work is scheduled, and what one first read of each target
    took (seconds)."""

    key: Key
    priority: Priority
    deadline: float | None
    costs: dict[Target, float]
    # The first read's doubtful date, if it found one: only a date beyond doubt may replace it.
    doubted: ParsedDate | None = None


def _second_chance_result(
    reads: list[VariantRead],
    skipped: list[str],
    started: float,
    doubted: ParsedDate | None,
    strict: bool,
) -> tuple[tuple[OcrLine, ...] | None, SecondChance]:
    """The winning read's lines (``None`` when no date stands, see :func:`winner`; ``strict``:
    only one that completes ``doubted``) and the report."""
    won = winner(reads, doubted, strict=strict)
    report = SecondChance(
        read=tuple(read.name for read in reads),
        skipped=tuple(skipped),
        winner=won[0].name if won else "",
        support=won[1] if won else 0,
        ms=_ms(started, time.perf_counter()),
    )
    return (won[0].lines if won else None), report


def _read_short(found: ParsedDate | None, lines: Sequence[OcrLine], settings: _Settings) -> bool:
    """Whether ``found`` (a doubted date, or ``None``) is :func:`read_short` in ``lines``."""
    return found is not None and read_short(found, lines, _plausible(settings))


def _only_completion(found: ParsedDate | None, lines: Sequence[OcrLine], settings: _Settings) -> bool:
    """Whether only a date that completes ``found`` (a doubted date, or ``None``) may replace it:
    it is :func:`read_short` in ``lines``, or it :func:`lost_digit`."""
    return found is not None and (lost_digit(found) or _read_short(found, lines, settings))


def _plausible(settings: _Settings) -> tuple[dt.date, dt.date]:
    """The first and last date a label plausibly prints, around the request's reference date."""
    return YearWindow(settings.reference_date).plausible_range()


def _counted(count: int, noun: str) -> str:
    """``1 date``, ``2 dates``: the progress messages a person reads."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _decoded_message(photo: DecodedImage) -> str:
    height, width = photo.pixels.shape[:2]
    if (width, height) == (photo.width, photo.height):
        return f"decoded {width}x{height}"
    return f"decoded {photo.width}x{photo.height} at {width}x{height}"


def _in_photo_pixels(result: ProcessResult, photo: DecodedImage) -> ProcessResult:
    """``result`` with its size and boxes in the photo's own pixels: a photo over max_image_pixels
    was read smaller (pipeline/decode.py), and a caller draws the boxes on the photo it sent."""
    if (photo.width, photo.height) == (result.image_width, result.image_height):
        return result
    sx, sy = photo.scale_x, photo.scale_y

    def scaled(box: BoundingBox) -> BoundingBox:
        return BoundingBox(x1=box.x1 * sx, y1=box.y1 * sy, x2=box.x2 * sx, y2=box.y2 * sy)

    return dataclasses.replace(
        result,
        image_width=photo.width,
        image_height=photo.height,
        detections=tuple(dataclasses.replace(d, box=scaled(d.box)) for d in result.detections),
        ocr_lines=tuple(dataclasses.replace(line, box=scaled(line.box)) for line in result.ocr_lines),
    )


def _with_second_chance(result: ProcessResult, second: SecondChance | None) -> ProcessResult:
    return result if second is None else dataclasses.replace(result, second_chance=second)


def _dated_beyond_doubt(
    windows_best: ParsedDate | None, lines: Sequence[OcrLine], settings: _Settings
) -> bool:
    """Whether the reading windows' best date ends the reading: an expiry date (:func:`_is_expiry`)
    that is neither :func:`doubtful` nor :func:`read_short` in the windows' ``lines`` (``EXP
    130520 25`` read as 20 May 2013 in a window goes on to the whole photo and the second chance,
    as it would without a window)."""
    return (
        _is_expiry(windows_best)
        and not doubtful(windows_best)
        and not _read_short(windows_best, lines, settings)
    )


def _is_expiry(windows_best: ParsedDate | None) -> TypeGuard[ParsedDate]:
    """Whether the reading windows' best date (parsed from their lines as read) is labelled as the
    expiry. When it is not (nothing detected; only a lot code, a barcode or a production date; a
    date whose keyword was not read), the whole image is read: a detector miss then costs time,
    not the answer, and a window that holds only a production date or an unlabelled one often
    sits beside the expiry it missed (realworld-dev: 47 -> 49 of 55 with this rule against "any
    date", the UK labels' latency 0.26x the whole photo's instead of 0.18x; bench/RESULTS.md).

    The windows' lines are parsed as read, not as printed: a window's edge can cut a printed line
    (78 window lines of the benchmark photos touch a cut edge), and the cut piece, joined to the
    rest, makes another date ("VAL  12    08    2026" cut to "2 08 2026")."""
    return windows_best is not None and windows_best.kind is DateKind.EXPIRY


def _placed(reads: list[list[OcrLine]], windows: list[Window], ordered: bool = True) -> tuple[OcrLine, ...]:
    """The lines read in each window, moved to photo pixels, under the window's detection, and in
    reading order across windows, so a keyword read in one window comes before the date it names;
    or, not ``ordered``, window after window in the order each read them."""
    lines = []
    for window_lines, window in zip(reads, windows, strict=True):
        for line in window_lines:
            b = line.box
            box = BoundingBox(b.x1 + window.x1, b.y1 + window.y1, b.x2 + window.x1, b.y2 + window.y1)
            lines.append(dataclasses.replace(line, box=box, detection_index=window.detection_index))
    if not ordered:
        return tuple(lines)
    return tuple(reading_order(lines, lambda line: (line.box.x1, line.box.y1)))


def _levelled(lines: list[OcrLine], planned: Planned) -> list[OcrLine]:
    """A text window's read with its printed lines joined where it read them (levelled, after a
    deskew), and in its order: moved back to the slanted photo, a line's upright box reaches over
    the next line's, and its words no longer sit on one row (realworld2 013: "BEST IF" and "Used
    By" apart, JAN1323 after the lot code). Other reads as they are."""
    return list(assemble_lines(lines)) if planned.target is Target.TEXT else lines


def _kept_if_read_again(
    planned: Planned, lines: tuple[OcrLine, ...], read: VariantRead, first: tuple[OcrLine, ...]
) -> VariantRead:
    """``read`` (of ``planned``: its ``lines`` as read, repaired in it) as it is, unless it is of text
    windows and :func:`_reads_again` holds of neither ``lines`` nor its repaired lines against the
    first read's ``first`` (repaired already): then its lines count for no date. A line the first
    read repaired counts as read again when a text window misreads it alike (and is repaired
    alike), and one the first read could not repair when the window reads it the same."""
    if planned.target is not Target.TEXT or _reads_again(read.lines, first) or _reads_again(lines, first):
        return read
    return dataclasses.replace(read, best=None, dates=())


def _reads_again(lines: tuple[OcrLine, ...], first: tuple[OcrLine, ...]) -> bool:
    """Whether a text windows' read (``lines``) holds, as printed, a line with digits that the
    first read (``first``) read on the whole photo, both joined into printed lines
    (:func:`assemble_lines`): the print is legible up close. A code the first read saw only as a
    smear (dot-matrix 14 to 21 px tall in a 4,032 px photo) reads up close as wrong years ("EXP
    11/11/2021" for 2027, beside a lot it no longer reads the same), and its read counts for no
    date."""
    read_again = "\n".join(line.text for line in lines)
    return any(
        line.detection_index == -1 and any(c.isdecimal() for c in line.text) and line.text in read_again
        for line in assemble_lines(first)
    )


def _status(
    best: DateFinding | None, lines: tuple[OcrLine, ...], detections: tuple[Detection, ...]
) -> ProcessStatus:
    if best is not None:
        return ProcessStatus.FOUND
    if lines or detections:
        return ProcessStatus.PARTIAL
    return ProcessStatus.NOT_FOUND


def load_pipeline(config: PipelineConfig | None = None) -> Pipeline:
    """Loads the models named by ``config`` and warms them.

    Args:
        config: the pipeline's configuration; ``None`` for the defaults (the rapidocr wheel's
            OCR models; the date detector only if ``models/date_detector/`` holds one).

    Returns:
        A ready pipeline. Call :meth:`Pipeline.close` when done.
    """
    config = config or PipelineConfig()
    concurrency = config.max_concurrency or cpu_count()
    ocr = OcrEngine.load(
        config.ocr,
        config.runtime,
        concurrency=concurrency,
        repository=config.model_repository or DEFAULT_REPOSITORY,
    )
    repository = config.model_repository or DEFAULT_REPOSITORY
    detector = load_detector(config, concurrency=concurrency, repository=repository)
    pipeline = Pipeline(config, ocr, detector)
    pipeline.warmup()
    return pipeline
