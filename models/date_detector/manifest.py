"""Manifests of labelled photos (``file,date_text,month_day,x,y,w,h``) and the held-out split.

Shared by the trainer and ``bench/accuracy.py``; numpy only, so the benchmark needs no training extra.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["VALIDATION_CSV", "ManifestRow", "is_validation", "read_manifest", "write_manifest"]

# One photo in this many (by a hash of its name) is held out for validation.
VALIDATION_EVERY = 3
# The shipped detector's held-out UK photos (the trainer writes it beside the model): never
# trained on, by this model or by the OCR fine-tunes (models/ocr_rec, models/ocr_det_coder).
VALIDATION_CSV = Path(__file__).resolve().parent / "validation.csv"


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """One labelled photo: its file (relative to the manifest's image root), date and date box."""

    file: str
    date_text: str
    month_day: str  # "11-16", or a full "2026-11-16" when the label prints a year
    box: tuple[float, float, float, float]  # x, y, w, h pixels

    def xyxy(self) -> np.ndarray:
        """The box as a ``(1, 4)`` x1, y1, x2, y2 array."""
        x, y, w, h = self.box
        return np.array([[x, y, x + w, y + h]], dtype=np.float32)


def read_manifest(path: Path) -> list[ManifestRow]:
    """Reads ``file,date_text,month_day,x,y,w,h`` rows."""
    with path.open(newline="") as handle:
        return [
            ManifestRow(
                row["file"],
                row["date_text"],
                row["month_day"],
                (float(row["x"]), float(row["y"]), float(row["w"]), float(row["h"])),
            )
            for row in csv.DictReader(handle)
        ]


def write_manifest(rows: list[ManifestRow], path: Path) -> None:
    """Writes rows in the manifest's own columns."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "date_text", "month_day", "x", "y", "w", "h"])
        for row in rows:
            writer.writerow([row.file, row.date_text, row.month_day, *row.box])


def is_validation(file: str) -> bool:
    """The held-out split: stable across runs, machines and manifest order."""
    return zlib.crc32(Path(file).name.encode()) % VALIDATION_EVERY == 0
