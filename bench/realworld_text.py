"""The date parser on real labels' text: how many expiry dates it reads from ``printed_text``.

    .venv/bin/python -m bench.realworld_text [--manifest PATH]

Reads the manifest of the real-world development set (``/work/shared/datasets/realworld-dev``, or
``DATALID_REALWORLD_DIR``; see its README): for each photo, the date lines as a person read them
(``printed_text``, lines separated by " / ", read here as newlines) and the expiry date printed
(``expected``; ``YYYY-MM`` is a month-only label, compared by year and month, precision MONTH).
Every label is parsed with the same reference date, 2026-11-30: most of these products have expired
by then, and a printed date must read as printed whatever the day. Prints the score and every miss.
This measures the parser alone; the photos themselves are for ``bench/accuracy.py``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.dates import ParsedDate, parse_dates
from pipeline.types import DatePrecision

_DEFAULT_DIR = Path(os.environ.get("DATALID_REALWORLD_DIR", "/work/shared/datasets/realworld-dev"))
REFERENCE = dt.date(2026, 11, 30)


@dataclass(frozen=True, slots=True)
class Label:
    """One photo's row: its printed lines (newline-separated) and the expiry date a person read."""

    file: str
    text: str
    expected: str  # YYYY-MM-DD, or YYYY-MM for a month-only label


@dataclass(frozen=True, slots=True)
class Outcome:
    label: Label
    best: ParsedDate | None

    @property
    def right(self) -> bool:
        best = self.best
        if best is None:
            return False
        if len(self.label.expected) == 7:  # month only
            return best.precision is DatePrecision.MONTH and best.date.isoformat()[:7] == self.label.expected
        return best.date.isoformat() == self.label.expected


def load_labels(manifest: Path) -> list[Label]:
    """The manifest's rows, ``printed_text`` lines joined with newlines."""
    with manifest.open(encoding="utf-8", newline="") as handle:
        return [
            Label(row["file"], row["printed_text"].replace(" / ", "\n"), row["expected"])
            for row in csv.DictReader(handle)
        ]


def evaluate(labels: list[Label], reference: dt.date = REFERENCE) -> list[Outcome]:
    return [Outcome(label, parse_dates(label.text, reference).best) for label in labels]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.realworld_text")
    parser.add_argument("--manifest", type=Path, default=_DEFAULT_DIR / "manifest.csv")
    args = parser.parse_args()
    outcomes = evaluate(load_labels(args.manifest))
    right = sum(outcome.right for outcome in outcomes)
    print(f"printed_text: {right}/{len(outcomes)} expiry dates right (reference {REFERENCE})")
    for outcome in outcomes:
        if outcome.right:
            continue
        best = outcome.best
        got = (
            "no date"
            if best is None
            else f"{best.date} {best.kind.value} {best.precision.value} {best.text!r}"
        )
        text = outcome.label.text.replace("\n", " / ")
        print(f"  miss {outcome.label.file}: expected {outcome.label.expected}, got {got}: {text}")


if __name__ == "__main__":
    main()
