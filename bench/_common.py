"""Helpers shared by the benchmarks: the photo set, percentiles, JSON output."""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def load_images(folder: Path, limit: int = 0) -> list[bytes]:
    """The encoded photos in ``folder``, sorted by name; ``limit`` > 0 keeps the first ones."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in _SUFFIXES)
    if limit:
        paths = paths[:limit]
    if not paths:
        raise SystemExit(f"no images in {folder}")
    return [p.read_bytes() for p in paths]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p95/p99 and mean of latencies given in seconds, in milliseconds."""
    ms = [s * 1000 for s in latencies_s]
    return {
        "p50_ms": round(percentile(ms, 50), 1),
        "p90_ms": round(percentile(ms, 90), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "mean_ms": round(sum(ms) / len(ms), 1) if ms else math.nan,
    }


def mean_p95(values: Sequence[float]) -> dict[str, float]:
    """Mean and p95 (nearest rank) of ``values``, rounded to 0.1."""
    return {"mean": round(sum(values) / len(values), 1), "p95": round(percentile(values, 95), 1)}


def host_description() -> dict[str, Any]:
    """What the numbers were measured on."""
    import os

    import onnxruntime

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "providers": onnxruntime.get_available_providers(),
    }


def write_json(path: Path | None, report: dict[str, Any]) -> None:
    """Writes the report when a path was given."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {path}")
