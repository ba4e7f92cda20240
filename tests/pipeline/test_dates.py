"""The date parser, driven by tables of cases.

Cases in ``datalid_cases.json`` come from the public project dev-rafaelmachado/datalid-stage-version
(MIT licence): its ``test_parser()`` examples and hand-read OCR transcriptions of its
``data/ocr_test/ground_truth.json``; see tests/data/date_cases/README.md.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.dates import parse_dates
from pipeline.types import DateKind, DateOrder, DatePrecision

REF = dt.date(2026, 11, 25)

# (text, expected best date or None, precision, year_inferred)
CASES = [
    ("26/12/2025", "2025-12-26", DatePrecision.DAY, False),
    ("26/12/25", "2025-12-26", DatePrecision.DAY, False),
    ("26.12.25", "2025-12-26", DatePrecision.DAY, False),
    ("26-12-2025", "2025-12-26", DatePrecision.DAY, False),
    ("2027-03-04", "2027-03-04", DatePrecision.DAY, False),
    ("05/2027", "2027-05-31", DatePrecision.MONTH, False),
    ("02/28", "2028-02-29", DatePrecision.MONTH, False),
    ("15 MAR 2026", "2026-03-15", DatePrecision.DAY, False),
    ("15MAR26", "2026-03-15", DatePrecision.DAY, False),
    ("15 mar. 2027", "2027-03-15", DatePrecision.DAY, False),
    ("16 NOV", "2026-11-16", DatePrecision.DAY, True),
    ("Use by 16 NOV", "2026-11-16", DatePrecision.DAY, True),
    ("Useby\n19NOV\n07-18", "2026-11-19", DatePrecision.DAY, True),
    ("Use by 16 N0V", "2026-11-16", DatePrecision.DAY, True),  # OCR read the O as a zero
    ("best before 3 JAN", "2027-01-03", DatePrecision.DAY, True),  # January is next year's
    ("VAL 10 DEZ 2026", "2026-12-10", DatePrecision.DAY, False),
    ("VENCE 5 FEVEREIRO 2027", "2027-02-05", DatePrecision.DAY, False),
    ("CAD 7 ENE 2027", "2027-01-07", DatePrecision.DAY, False),
    ("Validade Abril/27", "2027-04-30", DatePrecision.MONTH, False),
    ("EXP140427", "2027-04-14", DatePrecision.DAY, False),
    ("31/02/2026", None, None, None),  # no such day
    ("13/13/2026", None, None, None),
    ("Keep refrigerated 11:38", None, None, None),
    ("", None, None, None),
]


@pytest.mark.parametrize(("text", "expected", "precision", "inferred"), CASES)
def test_reads_the_best_date(
    text: str, expected: str | None, precision: DatePrecision | None, inferred: bool | None
) -> None:
    best = parse_dates(text, REF).best
    if expected is None:
        assert best is None
        return
    assert best is not None
    assert best.date.isoformat() == expected
    assert best.precision is precision
    assert best.year_inferred is inferred
    assert 0 <= best.confidence <= 1


def test_keywords_set_the_kind_and_expiry_wins() -> None:
    result = parse_dates("FAB 10/01/2027 VAL 10/01/2026", REF)
    kinds = [(c.date.isoformat(), c.kind) for c in result.candidates]
    assert kinds == [("2027-01-10", DateKind.MANUFACTURE), ("2026-01-10", DateKind.EXPIRY)]
    assert result.best is not None and result.best.date == dt.date(2026, 1, 10)
    assert result.best.text == "10/01/2026"


def test_without_keyword_the_latest_date_wins() -> None:
    best = parse_dates("14/05/25 15/11/25", REF).best
    assert best is not None and best.date == dt.date(2025, 11, 15)
    assert best.kind is DateKind.UNKNOWN


def test_only_a_manufacture_date_gives_no_best() -> None:
    result = parse_dates("MFG 01/02/2026", REF)
    assert len(result.candidates) == 1
    assert result.best is None


@pytest.mark.parametrize(
    ("order", "expected"),
    [(DateOrder.DMY, "2026-04-03"), (DateOrder.MDY, "2026-03-04"), (DateOrder.YMD, "2003-04-26")],
)
def test_date_order_reads_ambiguous_dates(order: DateOrder, expected: str) -> None:
    best = parse_dates("03/04/26", dt.date(2004, 1, 1) if order is DateOrder.YMD else REF, order).best
    assert best is not None and best.date.isoformat() == expected


def test_impossible_order_falls_back_to_the_other() -> None:
    best = parse_dates("12/25/2026", REF, DateOrder.DMY).best
    assert best is not None and best.date == dt.date(2026, 12, 25)
    assert best.confidence < parse_dates("25/12/2026", REF).best.confidence  # type: ignore[union-attr]


def test_grace_period_decides_the_inferred_year() -> None:
    # Ten days ago: still this year's date within the default 30-day grace...
    assert parse_dates("15 NOV", REF).best.date == dt.date(2026, 11, 15)  # type: ignore[union-attr]
    # ...but next year's without grace.
    assert parse_dates("15 NOV", REF, grace_days=0).best.date == dt.date(2027, 11, 15)  # type: ignore[union-attr]


def test_29_february_without_year_is_the_next_leap_day() -> None:
    best = parse_dates("29 FEB", REF).best
    assert best is not None and best.date == dt.date(2028, 2, 29)


def test_is_deterministic() -> None:
    text = "L:03/2025VAL:26/05/2026 16 NOV 05/27"
    assert parse_dates(text, REF) == parse_dates(text, REF)


@pytest.mark.parametrize(
    "text", ["1/" * 20_000, "1 " * 20_000, "NOV" * 20_000, "15" + " -" * 20_000, "V" * 50_000]
)
def test_adversarial_input_finishes(text: str) -> None:
    # A catastrophically backtracking pattern would hang here until pytest-timeout fails the test.
    parse_dates(text, REF)


@given(st.text(max_size=200))
def test_never_raises_and_dates_are_in_the_text(text: str) -> None:
    for candidate in parse_dates(text, REF).candidates:
        assert candidate.text in text
        assert 0 <= candidate.confidence <= 1


_REPO = Path(__file__).resolve().parents[2]
# Copied into the repository with its attribution (tests/data/date_cases/README.md).
_CASES_FILE = _REPO / "tests" / "data" / "date_cases" / "datalid_cases.json"
_CASES_REF = dt.date(2025, 6, 1)
# Cases the first parser gets wrong; strict xfail, so a fix is noticed and the entry removed.
_KNOWN_MISSES = {
    "U79P 12/2027 V 01/2025 F",  # an unlabelled date beats the one after a lone "V"
}


def _datalid_cases() -> list[object]:
    cases = json.loads(_CASES_FILE.read_text(encoding="utf-8"))
    return [
        pytest.param(
            case["text"],
            case["expected"],
            id=case["text"][:40],
            marks=[pytest.mark.xfail(strict=True)] if case["text"] in _KNOWN_MISSES else [],
        )
        for case in cases
    ]


@pytest.mark.parametrize(("text", "expected"), _datalid_cases())
def test_datalid_cases(text: str, expected: str) -> None:
    best = parse_dates(text, _CASES_REF).best
    assert best is not None and best.date.isoformat() == expected
