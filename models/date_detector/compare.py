"""Two detector files through the whole pipeline on one manifest, photo by photo interleaved.

    python -m models.date_detector.compare /work/realworld/manifest.csv --images /work/realworld \\
        --baseline /tmp/dd_old.onnx --candidate /tmp/dd_new/model.onnx --json /tmp/compare.json

Both pipelines are loaded in one process and each photo is read by both, in alternating order,
so that a shared machine's load falls on both alike; the per-photo reports are
``bench.realworld.measure``'s. Prints, per detector: exact expiry dates, photos read whole (the
fallback), photos with a detection, mean and p95 total milliseconds; then the photos whose outcome
differs. Needs no training extra.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.realworld import REFERENCE_DATE, measure, read_rows
from pipeline import load_pipeline
from pipeline.config import PipelineConfig

__all__ = ["compare", "main"]


def _summary(photos: list[dict[str, Any]]) -> dict[str, Any]:
    totals = sorted(photo["total_ms"] for photo in photos)
    return {
        "photos": len(photos),
        "exact": sum(photo["outcome"] == "exact" for photo in photos),
        "fallback": sum(photo["fallback_used"] for photo in photos),
        "with_detection": sum(bool(photo["detections"]) for photo in photos),
        "mean_ms": round(sum(totals) / max(1, len(totals)), 1),
        "p95_ms": totals[min(len(totals) - 1, int(0.95 * len(totals)))] if totals else 0.0,
    }


def compare(manifest: Path, images: Path, models: dict[str, Path], limit: int = 0) -> dict[str, Any]:
    """Reads every photo of ``manifest`` with each detector file; returns summaries and details."""
    rows = read_rows(manifest)[: limit or None]
    pipelines = {
        name: load_pipeline(PipelineConfig(detector_model_path=path)) for name, path in models.items()
    }
    details: dict[str, list[dict[str, Any]]] = {name: [] for name in models}
    try:
        for index, row in enumerate(rows):
            names = list(models) if index % 2 == 0 else list(reversed(models))
            for name in names:
                details[name].extend(measure([row], images, pipelines[name], REFERENCE_DATE)["photos_detail"])
    finally:
        for pipeline in pipelines.values():
            pipeline.close()
    return {"summary": {name: _summary(photos) for name, photos in details.items()}, "details": details}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m models.date_detector.compare", description=__doc__)
    parser.add_argument("manifest", type=Path, help="file,expected[,...] CSV (bench/realworld.py's form)")
    parser.add_argument("--images", type=Path, help="folder the manifest's files are relative to")
    parser.add_argument("--baseline", type=Path, required=True, help="detector ONNX file")
    parser.add_argument("--candidate", type=Path, required=True, help="detector ONNX file")
    parser.add_argument("--limit", type=int, default=0, help="first N photos only (0: all)")
    parser.add_argument("--json", type=Path, help="write summaries and per-photo reports here")
    args = parser.parse_args(argv)
    report = compare(
        args.manifest,
        args.images or args.manifest.parent,
        {"baseline": args.baseline, "candidate": args.candidate},
        args.limit,
    )
    for name, summary in report["summary"].items():
        print(name, json.dumps(summary))
    baseline, candidate = report["details"]["baseline"], report["details"]["candidate"]
    for old, new in zip(baseline, candidate, strict=True):
        if old["outcome"] != new["outcome"]:
            fallback = f"{old['fallback_used']} -> {new['fallback_used']}"
            print(f"  {old['file']}: {old['outcome']} -> {new['outcome']} (fallback {fallback})")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
