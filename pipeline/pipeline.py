"""The pipeline: image bytes in, dates out. Decode, (detect), OCR, parse, judge against a reference date.

``Pipeline.process`` runs in the caller's thread; ``Pipeline.aprocess`` runs the same work on the
pipeline's own thread pool so that no decoding or ONNX call ever blocks an event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from pipeline.config import PipelineConfig
from pipeline.dates import parse_dates
from pipeline.decode import decode_image
from pipeline.errors import InvalidInput, ShuttingDown
from pipeline.ocr import OcrEngine
from pipeline.runtime import cpu_count
from pipeline.synth import render_label_image
from pipeline.types import (
    DateFinding,
    DateOrder,
    Detection,
    ModelInfo,
    OcrLine,
    ProcessOptions,
    ProcessResult,
    ProcessStatus,
    StageTimings,
)
from pipeline.visualize import encode_crops, render_visualization

__all__ = ["Pipeline", "load_pipeline"]

_DEFAULT_OPTIONS = ProcessOptions()
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Settings:
    """A request's options with every default filled in."""

    reference_date: dt.date
    date_order: DateOrder
    detection_confidence: float
    detection_iou: float
    max_detections: int
    full_image_fallback: bool
    return_visualization: bool
    return_crops: bool


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
        date_order=_or(options.date_order, config.date_order),
        detection_confidence=_or(options.detection_confidence, config.detection_confidence),
        detection_iou=_or(options.detection_iou, config.detection_iou),
        max_detections=_or(options.max_detections, config.max_detections),
        full_image_fallback=_or(options.full_image_fallback, config.full_image_fallback),
        return_visualization=options.return_visualization,
        return_crops=options.return_crops,
    )


def _ms(start: float, end: float) -> float:
    return (end - start) * 1000.0


class Pipeline:
    """Reads expiry dates from product photos.

    Safe to use from several threads at once. Build it with :func:`load_pipeline`, which also
    warms the models.

    Args:
        config: limits and defaults.
        ocr: the loaded OCR models.
    """

    def __init__(self, config: PipelineConfig, ocr: OcrEngine) -> None:
        self.config = config
        self._ocr = ocr
        self._concurrency = config.max_concurrency or cpu_count()
        self._executor = ThreadPoolExecutor(
            max_workers=self._concurrency, thread_name_prefix="datalid-pipeline"
        )
        self._lock = threading.Lock()
        self._warmed = False
        self._closed = False

    @property
    def ready(self) -> bool:
        """True once the models are warmed, until :meth:`close`."""
        return self._warmed and not self._closed

    @property
    def concurrency(self) -> int:
        """How many requests :meth:`aprocess` runs at once."""
        return self._concurrency

    def warmup(self) -> None:
        """Runs every model once on a synthetic label, so the first real request is not slow."""
        image = render_label_image(["Use by", "16 NOV"], seed=0)
        self._ocr.detector.detect(image)
        # A fixed crop, so classification and recognition run even if detection found nothing.
        crop = np.ascontiguousarray(image[200:260, 100:400])
        if self._ocr.classifier is not None:
            self._ocr.classifier.classify([crop])
        self._ocr.recognizer.recognize([crop])
        with self._lock:
            self._warmed = True

    def models(self) -> list[ModelInfo]:
        """Describes every loaded model."""
        return [model.info(ready=self.ready) for model in self._ocr.models()]

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

    async def aprocess(self, image: bytes, options: ProcessOptions = _DEFAULT_OPTIONS) -> ProcessResult:
        """Reads the dates in one image on the pipeline's own threads (see :meth:`process`).

        At most ``PipelineConfig.max_concurrency`` images are processed at once; the time an
        image waits for a worker is reported as ``timings.queue_ms``.
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._process, image, options, time.perf_counter())

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
        started = time.perf_counter()
        settings = _resolve(options, self.config)
        image = decode_image(data, self.config.decode)
        decoded = time.perf_counter()
        # No detector yet: the whole image is read. full_image_fallback_used stays False because
        # no detector ran and came back empty, and detect_ms stays 0.
        detections: tuple[Detection, ...] = ()
        lines = tuple(self._ocr.read(image, detection_index=-1))
        read = time.perf_counter()
        parsed = parse_dates(
            "\n".join(line.text for line in lines),
            settings.reference_date,
            settings.date_order,
            grace_days=self.config.date_grace_days,
            years_back=self.config.date_years_back,
            years_ahead=self.config.date_years_ahead,
        )
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
                ocr_ms=_ms(decoded, read),
                parse_ms=_ms(read, parsed_at),
                total_ms=_ms(queued_at, finished),
            ),
            detections=detections,
            ocr_lines=lines,
            dates=dates,
            best_date=best,
            full_image_fallback_used=False,
            visualization_jpeg=visualization,
            crops_jpeg=crops,
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
            OCR models, no detector).

    Returns:
        A ready pipeline. Call :meth:`Pipeline.close` when done.
    """
    config = config or PipelineConfig()
    concurrency = config.max_concurrency or cpu_count()
    ocr = OcrEngine.load(config.ocr, config.runtime, concurrency=concurrency)
    pipeline = Pipeline(config, ocr)
    pipeline.warmup()
    return pipeline
