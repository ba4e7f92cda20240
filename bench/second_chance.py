"""What the second-chance reads gain and cost: one manifest of photos, read with them on and off.

    .venv/bin/python -m bench.second_chance /work/realworld/manifest.csv --images /work/realworld
    .venv/bin/python -m bench.second_chance models/date_detector/validation.csv \\
        --images ../shared/datasets/label-recognition
    .venv/bin/python -m bench.second_chance /work/hard-synth/manifest.csv --images /work/hard-synth

Both pipelines share one set of loaded models (the shipped defaults) and differ only in
``second_chance``; each photo is read by both, one after the other, the order alternating from
photo to photo, so both see the same machine load (the same run window). Reported: exact expiry
dates on and off (``bench.realworld.classify``), the photos the second chance changed (fixed, or
turned a miss into another miss), the winning variants, the mean and p95 latency of the photos the
first read dates (the budget: the second chance must not slow them) on and off with their ratio,
and what the misses cost (the second chance's own time, and the latency of a miss on and off).
``--plan`` runs the windows and the photo with only the given variants (e.g. ``--plan dots`` for
the yield of one kind).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench._common import host_description, mean_p95, write_json
from bench.realworld import REFERENCE_DATE, Row, classify, read_rows
from pipeline import Pipeline, PipelineConfig, ProcessOptions, ProcessResult
from pipeline.detector import load_detector
from pipeline.ocr import OcrEngine
from pipeline.repository import DEFAULT_REPOSITORY
from pipeline.runtime import cpu_count


def _pipelines(config: PipelineConfig) -> tuple[Pipeline, Pipeline]:
    """``config`` with the second chance on, and off, on one set of loaded, warmed models."""
    repository = config.model_repository or DEFAULT_REPOSITORY
    concurrency = config.max_concurrency or cpu_count()
    ocr = OcrEngine.load(config.ocr, config.runtime, concurrency=concurrency, repository=repository)
    detector = load_detector(config, concurrency=concurrency, repository=repository)
    on = Pipeline(dataclasses.replace(config, second_chance=True), ocr, detector)
    off = Pipeline(dataclasses.replace(config, second_chance=False), ocr, detector)
    on.warmup()
    off.warmup()
    return on, off


def _stats(values: list[float]) -> dict[str, float] | None:
    """Mean and p95, ``None`` for no values."""
    return mean_p95(values) if values else None


def _timed(pipeline: Pipeline, data: bytes, options: ProcessOptions) -> tuple[ProcessResult, float]:
    started = time.perf_counter()
    result = pipeline.process(data, options)
    return result, (time.perf_counter() - started) * 1000


def measure(
    rows: list[Row], images: Path, on: Pipeline, off: Pipeline, reference: dt.date = REFERENCE_DATE
) -> dict[str, Any]:
    """Reads every photo with both pipelines, alternating which goes first; returns the report."""
    options = ProcessOptions(reference_date=reference)
    photos: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        data = (images / row.file).read_bytes()
        if index % 2 == 0:
            (off_result, off_ms), (on_result, on_ms) = _timed(off, data, options), _timed(on, data, options)
        else:
            (on_result, on_ms), (off_result, off_ms) = _timed(on, data, options), _timed(off, data, options)
        second = on_result.second_chance
        photos.append(
            {
                "file": row.file,
                "expected": row.expected,
                "print_style": row.print_style,
                "off": classify(row, off_result.best_date, off_result.dates),
                "on": classify(row, on_result.best_date, on_result.dates),
                "on_best": str(on_result.best_date.date) if on_result.best_date else None,
                "off_ms": round(off_ms, 1),
                "on_ms": round(on_ms, 1),
                "second_chance": dataclasses.asdict(second) if second is not None else None,
            }
        )
    return summarize(photos)


def summarize(photos: list[dict[str, Any]]) -> dict[str, Any]:
    """The report of :func:`measure` from its per-photo records."""
    dated = [p for p in photos if p["second_chance"] is None]
    tried = [p for p in photos if p["second_chance"] is not None]
    off_dated, on_dated = _stats([p["off_ms"] for p in dated]), _stats([p["on_ms"] for p in dated])
    winners = Counter(p["second_chance"]["winner"] for p in tried if p["second_chance"]["winner"])
    variant_ms = [
        p["second_chance"]["ms"] / len(p["second_chance"]["read"])
        for p in tried
        if p["second_chance"]["read"]
    ]
    return {
        "photos": len(photos),
        "exact_off": sum(p["off"] == "exact" for p in photos),
        "exact_on": sum(p["on"] == "exact" for p in photos),
        "second_chance_taken": len(tried),
        "fixed": [p["file"] for p in tried if p["off"] != "exact" and p["on"] == "exact"],
        "broken": [p["file"] for p in tried if p["off"] == "exact" and p["on"] != "exact"],
        "wrong_date_instead_of_none": [
            p["file"] for p in tried if p["off"] == "no_date" and p["on"] not in ("exact", "no_date")
        ],
        "winners": dict(winners.most_common()),
        "first_read_dated": {
            "photos": len(dated),
            "off_ms": off_dated,
            "on_ms": on_dated,
            "mean_ratio_on_off": round(on_dated["mean"] / off_dated["mean"], 3)
            if on_dated and off_dated
            else None,
        },
        "misses": {
            "photos": len(tried),
            "second_chance_ms": _stats([p["second_chance"]["ms"] for p in tried]),
            "variants_read": _stats([len(p["second_chance"]["read"]) for p in tried]),
            "ms_per_variant_read": _stats(variant_ms),
            "off_ms": _stats([p["off_ms"] for p in tried]),
            "on_ms": _stats([p["on_ms"] for p in tried]),
        },
        "all_photos": {
            "off_ms": _stats([p["off_ms"] for p in photos]),
            "on_ms": _stats([p["on_ms"] for p in photos]),
        },
        "photos_detail": photos,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.second_chance", description="Second-chance reads on and off, same run."
    )
    parser.add_argument("manifest", type=Path, help="file,expected[,...] CSV (see bench/realworld.py)")
    parser.add_argument("--images", type=Path, help="folder the manifest's files are relative to")
    parser.add_argument("--reference-date", type=dt.date.fromisoformat, default=REFERENCE_DATE)
    parser.add_argument("--limit", type=int, default=0, help="first N photos only (0: all)")
    parser.add_argument("--plan", help="variants for both windows and photo, e.g. 'dots' (default: shipped)")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    rows = read_rows(args.manifest)
    if args.limit:
        rows = rows[: args.limit]
    config = PipelineConfig()
    if args.plan is not None:
        config = dataclasses.replace(
            config, second_chance_window_variants=args.plan, second_chance_photo_variants=args.plan
        )
    on, off = _pipelines(config)
    try:
        report = measure(rows, args.images or args.manifest.parent, on, off, args.reference_date)
    finally:
        on.close()
        off.close()
    report = {"host": host_description(), "manifest": str(args.manifest), "plan": args.plan, **report}
    summary = {key: value for key, value in report.items() if key != "photos_detail"}
    for key, value in summary.items():
        print(f"{key}: {value}")
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()
