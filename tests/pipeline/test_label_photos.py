"""Accuracy on real supermarket label photos (turnerdaniel/Label-Recognition, Apache-2.0).

Set DATALID_LABEL_DATASET to the dataset folder; by default ../shared/datasets/label-recognition
next to the repository. Skipped when the folder is absent.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import pytest

from pipeline import Pipeline, ProcessOptions

pytestmark = pytest.mark.slow

_REPO = Path(__file__).resolve().parents[2]
_DATASET = Path(os.environ.get("DATALID_LABEL_DATASET", _REPO.parent / "shared/datasets/label-recognition"))
_PHOTOS = 10
# Measured 20/20 on the first 20 photos with the first parser; leaves room for other hosts' numerics.
_MIN_EXACT_FRACTION = 0.8


@pytest.mark.skipif(not (_DATASET / "manifest.csv").exists(), reason=f"no label dataset at {_DATASET}")
def test_month_day_is_read_on_real_photos(real_pipeline: Pipeline) -> None:
    with (_DATASET / "manifest.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))[:_PHOTOS]
    misses = []
    for row in rows:
        result = real_pipeline.process(
            (_DATASET / row["file"]).read_bytes(), ProcessOptions(reference_date=dt.date(2026, 11, 25))
        )
        read = result.best_date.date.strftime("%m-%d") if result.best_date else None
        if read != row["month_day"]:
            misses.append((row["file"], row["month_day"], read))
    exact = len(rows) - len(misses)
    assert exact >= _MIN_EXACT_FRACTION * len(rows), misses
