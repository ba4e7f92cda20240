"""Detector accuracy and speed on labelled photos, against full-image OCR in the same run.

    .venv/bin/python -m bench.accuracy models/date_detector/validation.csv \\
        --images ../shared/datasets/label-recognition \\
        --json bench/results/2026-11-25-cpu/accuracy.json --failures bench/out/failures

Input: a manifest CSV (``file,date_text,month_day,x,y,w,h``; files relative to ``--images``).
``models/date_detector/validation.csv`` lists the photos the shipped detector never trained on.

Two pipelines are loaded side by side: the detector's (detect -> crop -> OCR on the crops) and
full-image OCR (``use_detector`` off). Each photo goes through both, in alternating order, one at a
time, so both see the same machine load. Reported:
- box recall: the photos where some detection overlaps the true date box at IoU >= 0.5 (and the
  same for the top-scoring detection alone);
- date exact match: the best date's month-day (or full date, where the manifest gives a year)
  equals the manifest's, for both pipelines;
- how often the best date is read as an expiry date (the "Use by" above it read too);
- mean and p95 latency of each stage (decode, detect, OCR, parse, total) for both;
- annotated pictures of the failures (true box green, detections red, what was read).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench._common import host_description, mean_p95, write_json
from models.date_detector.manifest import ManifestRow, read_manifest
from pipeline import DateKind, Pipeline, PipelineConfig, ProcessOptions, ProcessResult, load_pipeline
from pipeline.decode import decode_image

# Dates without a year are resolved against this day, so runs on different days agree.
_REFERENCE_DATE = dt.date(2026, 11, 25)
_STAGES = ("decode_ms", "detect_ms", "ocr_ms", "parse_ms", "total_ms")
_IOU_HIT = 0.5


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two x1, y1, x2, y2 boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def date_read(result: ProcessResult, expected: str) -> str | None:
    """The best date in the manifest's form: ``MM-DD``, or ``YYYY-MM-DD`` when ``expected`` has a year."""
    if result.best_date is None:
        return None
    return result.best_date.date.strftime("%Y-%m-%d" if expected.count("-") == 2 else "%m-%d")


def _stage_summary(results: list[ProcessResult]) -> dict[str, dict[str, float]]:
    return {stage: mean_p95([getattr(r.timings, stage) for r in results]) for stage in _STAGES}


def _annotate(image: np.ndarray, row: ManifestRow, result: ProcessResult, path: Path) -> None:
    canvas = image.copy()
    x1, y1, x2, y2 = (int(v) for v in row.xyxy()[0])
    cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 200, 0), 2)
    for detection in result.detections:
        b = detection.box
        cv2.rectangle(canvas, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), (0, 0, 255), 2)
        cv2.putText(
            canvas, f"{detection.confidence:.2f}", (int(b.x1), max(12, int(b.y1) - 4)),
            cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1, cv2.LINE_AA,
        )  # fmt: skip
    text = " | ".join(line.text for line in result.ocr_lines)[:80]
    got = date_read(result, row.month_day)
    for index, caption in enumerate((f"expected {row.month_day} got {got}", f"read: {text}")):
        cv2.putText(
            canvas,
            caption,
            (8, 22 + 22 * index),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (255, 0, 255),
            2,
            cv2.LINE_AA,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), canvas, [cv2.IMWRITE_JPEG_QUALITY, 85])


def _run(pipeline: Pipeline, data: bytes, options: ProcessOptions) -> tuple[ProcessResult, float]:
    started = time.perf_counter()
    result = pipeline.process(data, options)
    return result, (time.perf_counter() - started) * 1000


def measure(
    rows: list[ManifestRow], images: Path, config: PipelineConfig, failures: Path | None
) -> dict[str, Any]:
    """Runs both pipelines over the photos and returns the report."""
    options = ProcessOptions(reference_date=_REFERENCE_DATE)
    detected = load_pipeline(config)
    full = load_pipeline(dataclasses.replace(config, use_detector=False))
    if not any(model.kind == "yolo_detector" for model in detected.models()):
        raise SystemExit("no date detector: put one in models/date_detector/ or pass --detector-model")
    results: dict[str, list[ProcessResult]] = {"detector": [], "full_image": []}
    walls: dict[str, list[float]] = {"detector": [], "full_image": []}
    hits = top1_hits = 0
    misses: list[dict[str, Any]] = []
    try:
        for index, row in enumerate(rows):
            data = (images / row.file).read_bytes()
            order = [("detector", detected), ("full_image", full)]
            for name, pipeline in order if index % 2 == 0 else order[::-1]:
                result, wall_ms = _run(pipeline, data, options)
                results[name].append(result)
                walls[name].append(wall_ms)
            result = results["detector"][-1]
            truth = tuple(float(v) for v in row.xyxy()[0])
            ious = [box_iou(truth, (d.box.x1, d.box.y1, d.box.x2, d.box.y2)) for d in result.detections]
            hit = any(iou >= _IOU_HIT for iou in ious)
            hits += hit
            top1_hits += bool(ious) and ious[0] >= _IOU_HIT
            got, got_full = (
                date_read(result, row.month_day),
                date_read(results["full_image"][-1], row.month_day),
            )
            if not hit or got != row.month_day:
                misses.append(
                    {
                        "file": row.file,
                        "expected": row.month_day,
                        "detector_read": got,
                        "full_image_read": got_full,
                        "best_iou": round(max(ious, default=0.0), 3),
                        "lines": [line.text for line in result.ocr_lines],
                    }
                )
                if failures is not None:
                    _annotate(decode_image(data, config.decode), row, result, failures / Path(row.file).name)
    finally:
        detected.close()
        full.close()

    def exact(name: str) -> float:
        read = [
            date_read(r, row.month_day) == row.month_day for r, row in zip(results[name], rows, strict=True)
        ]
        return round(sum(read) / len(rows), 4)

    mean_total = {name: statistics.fmean(r.timings.total_ms for r in results[name]) for name in results}
    return {
        "photos": len(rows),
        "box_recall_iou50": round(hits / len(rows), 4),
        "top1_box_recall_iou50": round(top1_hits / len(rows), 4),
        "date_exact": {name: exact(name) for name in results},
        # Every photo of the shared set is a "Use by" label: the keyword read with the date.
        "kind_expiry": {
            name: round(
                sum(r.best_date is not None and r.best_date.kind is DateKind.EXPIRY for r in rs) / len(rows),
                4,
            )
            for name, rs in results.items()
        },
        "fallback_used": sum(r.full_image_fallback_used for r in results["detector"]),
        "stages_ms": {name: _stage_summary(results[name]) for name in results},
        "wall_ms": {name: mean_p95(v) for name, v in walls.items()},
        "latency_ratio_detector_to_full": round(mean_total["detector"] / mean_total["full_image"], 3),
        "failures": misses,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Detector accuracy and latency against full-image OCR.")
    parser.add_argument("manifest", type=Path, help="file,date_text,month_day,x,y,w,h CSV")
    parser.add_argument(
        "--images",
        type=Path,
        default=Path(os.environ.get("DATALID_LABEL_DATASET", "../shared/datasets/label-recognition")),
        help="folder the manifest's file column is relative to (default: $DATALID_LABEL_DATASET)",
    )
    parser.add_argument("--detector-model", type=Path, help="default: models/date_detector/model.onnx")
    parser.add_argument("--rec-model-name", help="the recogniser's repository entry (default: ocr_rec)")
    parser.add_argument("--rec-model-path", type=Path, help="a recogniser ONNX file instead of the entry's")
    parser.add_argument("--limit", type=int, default=0, help="first N photos only (0: all)")
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=0,
        help="pipeline worker threads (0: one per core); 1 gives each model run every core",
    )
    parser.add_argument("--failures", type=Path, help="write annotated failure pictures here")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    rows = read_manifest(args.manifest)
    if args.limit:
        rows = rows[: args.limit]
    config = PipelineConfig(detector_model_path=args.detector_model, max_concurrency=args.max_concurrency)
    ocr = config.ocr
    if args.rec_model_name:
        ocr = dataclasses.replace(ocr, rec_model_name=args.rec_model_name)
    if args.rec_model_path:
        ocr = dataclasses.replace(ocr, rec_model_path=args.rec_model_path)
    config = dataclasses.replace(config, ocr=ocr)
    report = {
        "host": host_description(),
        "manifest": str(args.manifest),
        **measure(rows, args.images, config, args.failures),
    }
    stages, exact = report["stages_ms"], report["date_exact"]
    print(
        f"{report['photos']} photos: box recall {report['box_recall_iou50']:.3f} "
        f"(top-1 {report['top1_box_recall_iou50']:.3f}); date exact: detector {exact['detector']:.3f}, "
        f"full image {exact['full_image']:.3f}; mean total {stages['detector']['total_ms']['mean']} ms "
        f"vs {stages['full_image']['total_ms']['mean']} ms "
        f"(ratio {report['latency_ratio_detector_to_full']})"
    )
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()
