"""The date parser, driven by tables of cases.

Cases in ``datalid_cases.json`` come from the public project dev-rafaelmachado/datalid-stage-version
(MIT licence): its ``test_parser()`` examples and hand-read OCR transcriptions of its
``data/ocr_test/ground_truth.json``; see tests/data/date_cases/README.md.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.dates_bench import fit_weights, reliability, shared_cases
from bench.dates_cases import (
    DAY_FORMATS,
    EXPIRY_KEYWORDS,
    MONTH_FORMATS,
    NOISE_WORDS,
    generate_cases,
    month_end,
)
from pipeline.dates import MAX_TEXT_CHARS, parse_dates
from pipeline.dates.confidence import BIAS, WEIGHTS
from pipeline.dates.keywords import (
    _EXPIRY_WORDS,
    _LOT_WORDS,
    _MANUFACTURE_WORDS,
    _MISREAD_SPELLINGS,
    Role,
    find_keywords,
)
from pipeline.dates.months import MONTH_PATTERN
from pipeline.dates.normalize import fold
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
    ("15MAR26", "2026-03-15", DatePrecision.DAY, False),  # not MARZ read as "MAR2", then a 6
    ("15 mar. 2027", "2027-03-15", DatePrecision.DAY, False),
    ("16 NOV", "2026-11-16", DatePrecision.DAY, True),
    ("Use by 16 NOV", "2026-11-16", DatePrecision.DAY, True),
    ("Useby\n19NOV\n07-18", "2026-11-19", DatePrecision.DAY, True),
    ("Use by 16 N0V", "2026-11-16", DatePrecision.DAY, True),  # OCR read the O as a zero
    # Dot-matrix letters read as the digits they look like, after a month's first letter.
    ("Display until\n30 De0 2026", "2026-12-30", DatePrecision.DAY, False),
    ("EXP 30 AU6 2027", "2027-08-30", DatePrecision.DAY, False),
    ("BB 14 FE8 2027", "2027-02-14", DatePrecision.DAY, False),
    ("EXP 04 JU1 2027", "2027-07-04", DatePrecision.DAY, False),
    ("15 AU6 27", "2027-08-15", DatePrecision.DAY, False),
    # Glued as coders print them, between a day and a two-digit year (hard set v5 1000113).
    ("MHD 10FE829", "2029-02-10", DatePrecision.DAY, False),
    ("Au92026", None, None, None),  # no day before it: what is left of "24 Au9 2026"
    ("LOT AU926", None, None, None),
    ("ID 3DE026", None, None, None),  # one digit before it: a code, or a day cut
    ("LOT JU1234", None, None, None),  # before three digits: a code, no month
    ("LOT DE026", None, None, None),  # a month and year need a keyword, or a day
    ("USEBY\n16 Au9 2026", "2026-08-16", DatePrecision.DAY, False),  # a lowercase g's tail: a 9
    ("05 5EP 2026", None, None, None),  # a first letter read as a digit joins the number before it
    ("best before 3 JAN", "2027-01-03", DatePrecision.DAY, True),  # January is next year's
    ("VAL 10 DEZ 2026", "2026-12-10", DatePrecision.DAY, False),
    ("VENCE 5 FEVEREIRO 2027", "2027-02-05", DatePrecision.DAY, False),
    ("CAD 7 ENE 2027", "2027-01-07", DatePrecision.DAY, False),
    ("Validade Abril/27", "2027-04-30", DatePrecision.MONTH, False),
    ("EXP140427", "2027-04-14", DatePrecision.DAY, False),
    ("ED20260727 RE21", "2026-07-27", DatePrecision.DAY, False),  # Indonesian coders' "expired date"
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


def test_ed_names_an_expiry_date_only_glued_to_it_or_with_its_colon() -> None:
    for text in ("ED: 12/26", "ED. 12/26", "ED20260727"):
        assert parse_dates(text, REF).best.kind is DateKind.EXPIRY, text  # type: ignore[union-attr]
    # Inside a word, the Italian "ed" ("and"), a PACKED cut in two: no keyword.
    for text in ("USED 12/26", "REDUCED 12/10/26", "PACK ED 12/05/25"):
        assert parse_dates(text, REF).best.kind is DateKind.UNKNOWN, text  # type: ignore[union-attr]
    best = parse_dates("Prodotto ed imbottigliato il 12/05/2025\n12/05/2027", REF).best
    assert best is not None and best.date == dt.date(2027, 5, 12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("EXP\n16\nJun 2025 KS1", "2025-06-16"),  # a turned line read as three boxes
        ("BB\n16 JUN\n2025", "2025-06-16"),
        ("16\nJUN\n2025", "2025-06-16"),
        ("DD/MM/YY\nFEB\n17\n2029\nNONSN", "2029-02-17"),  # US print: month, day, year
        ("BEST BY OCT 12\n2028", "2028-10-12"),  # month and day over the year (a review)
        ("SELL BY MAY 12\n2026", "2026-05-12"),
    ],
)
def test_a_date_printed_over_lines_is_read_whole(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected
    assert best.precision is DatePrecision.DAY and not best.year_inferred


def test_a_plausible_month_and_year_is_not_joined_to_a_number_under_it() -> None:
    # "2031" under "EXP MAR 27" is as likely a lot: March 2027 stays (a review).
    best = parse_dates("EXP MAR 27\n2031\nLOT A12", REF).best
    assert best is not None and best.date == dt.date(2027, 3, 31)


def test_lines_are_joined_only_when_that_makes_a_whole_date() -> None:
    # A whole date on its own line is never joined to the next; nor a day and month to a number
    # that is no year, or to another line's date.
    assert parse_dates("EXP 16 JUN 2027\n2025 L42", REF).best.text == "16 JUN 2027"  # type: ignore[union-attr]
    for text in (
        "Use by\n15 APR\nL012617.18",
        "16 JUN\n1234 5678",
        "Use by 16 NOV\nDisplay until 14 NOV",
        # A year that shares its line is a lot, an energy, a time: not the date's.
        "USE BY 16 JUN\n2015 L4",
        "BEST BEFORE 16 JUN\n2030kJ/485kcal",
    ):
        best = parse_dates(text, REF).best
        assert best is not None and best.year_inferred, text
    # A day that shares its line is a size or a number of a phone: the month stays a month.
    # A word over a number is no month over its day, and a two-digit number under a day and month
    # no year: nothing to join.
    for text in ("EXP\n17\n2029", "16\nJUN\n25", "31\nMAY\n17\nProtein"):
        assert parse_dates(text, REF).best is None, text
    # A nutrition table's words over numbers are no join points: the date's own join is tried.
    table = "Fat\n12\nSalt\n1\nFibre\n3\nSugars\n5\nProtein\n8\nCarbs\n25\n"
    for date in ("EXP\n16\nJUN 2025", "EXP\n16 JUN\n2025"):
        assert parse_dates(table + date, REF).best.date == dt.date(2025, 6, 16)  # type: ignore[union-attr]
    for text in ("500 ml 12\nJUN 2026", "Size 10\nMAR 2026", "TEL 0800 12\nMAR 2026"):
        best = parse_dates(text, REF).best
        assert best is not None and best.precision is DatePrecision.MONTH, text


def test_a_month_run_into_the_next_columns_words_ends_where_the_case_changes() -> None:
    # "02 JAN" beside an ingredients line, read as one line (hard set v5 1000444).
    found = parse_dates("BB 02 JANace oil\nNSX: 11 NOV", REF).best
    assert found is not None and (found.date.month, found.date.day, found.text) == (1, 2, "02 JAN")
    # A month's name in any case, or capitals inside a word, are as before.
    for text, expected in (("12 December 2027", "12 December 2027"), ("EXP 12 Oct 2027", "12 Oct 2027")):
        assert parse_dates(text, REF).best.text == expected  # type: ignore[union-attr]
    assert parse_dates("SuperMARket 12 2027", REF).best is None


@pytest.mark.parametrize(
    ("text", "expected", "span"),
    [
        ("DLU009.07.2027", "2027-07-09", "09.07.2027"),  # DLUO, its O read as a zero
        ("NSX 20220708\nHS020240829 RE21", "2024-08-29", "20240829"),  # HSD, its D read as a zero
        ("BB05/07/27", "2027-07-05", "05/07/27"),  # BB is a keyword: the 0 is the day's, not BBD's
        # ... but where the day has its two digits after it, the 0 is ED's D (E is a keyword too).
        ("J E008.09.2024\nPROD:15.02.2023", "2024-09-08", "08.09.2024"),
        ("BB005/07/27", "2027-07-05", "05/07/27"),
        ("E01/12/2026", "2026-12-01", "01/12/2026"),
        ("EJUL 2029\nPACKEDSEP 2028", "2029-07-31", "JUL 2029"),  # a coder's E glued to its month
        ("VA12/05/2026", "2026-05-12", "12/05/2026"),  # VAL lost its L: the 1 is the day's
    ],
)
def test_a_keyword_glued_to_its_date(text: str, expected: str, span: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None
    assert (best.date.isoformat(), best.text) == (expected, span)


@pytest.mark.parametrize(
    ("text", "date", "kind"),
    [
        # One letter of the keyword read as a letter it is confused with (K/X, D/C, U/V, E/F, B/8).
        ("NSK: 26-06-23\n04-11-25", dt.date(2023, 6, 26), DateKind.MANUFACTURE),
        ("PROC30.12.24\n19.12.26", dt.date(2024, 12, 30), DateKind.MANUFACTURE),
        ("UAL2029/06/04", dt.date(2029, 6, 4), DateKind.EXPIRY),
        ("FXP 12/05/2027", dt.date(2027, 5, 12), DateKind.EXPIRY),
        # A dot-matrix B read as an 8, the code's line number before it (realworld-dev 050,
        # "7BBF180526" read "78BF180526").
        ("3MFG180925\n78BF180526", dt.date(2026, 5, 18), DateKind.EXPIRY),
        ("FA8 21.07.2027", dt.date(2027, 7, 21), DateKind.UNKNOWN),  # no spelling ends in a digit
        # Not inside a word, nor words printed before numbers in their own right: DOM is a date of
        # manufacture (never DDM's misread), MED Scandinavian "with".
        ("ANSK 12/05/2027", dt.date(2027, 5, 12), DateKind.UNKNOWN),
        ("DOM: 12/05/2025\n12/11/2027", dt.date(2025, 5, 12), DateKind.UNKNOWN),
        ("MED 12/05/2027", dt.date(2027, 5, 12), DateKind.UNKNOWN),
    ],
)
def test_a_keyword_misread_by_one_confused_letter(text: str, date: dt.date, kind: DateKind) -> None:
    dates = {candidate.date: candidate.kind for candidate in parse_dates(text, REF).candidates}
    assert dates.get(date) is kind, dates


_TABLES = ((_EXPIRY_WORDS, Role.EXPIRY), (_MANUFACTURE_WORDS, Role.MANUFACTURE), (_LOT_WORDS, Role.LOT))
_TABLE_WORDS = [
    (word, role) for table, role in _TABLES for words in table.values() for word in words.split("|")
]


@pytest.mark.parametrize(("word", "role"), _TABLE_WORDS, ids=[word for word, _ in _TABLE_WORDS])
def test_every_keyword_of_the_tables_is_found_whole_in_its_role(word: str, role: Role) -> None:
    # The keywords are one regex tree of shared prefixes (wordtree.py), where a word with a gap
    # ("E X P") can end a match early and cost every longer word it shares a prefix with
    # ("EXPIRY" read as "EXP" and a letter, so no keyword): each word must still be found whole.
    text = f"{fold(word)}: 12/05/2027"
    found = [keyword for keyword in find_keywords(text) if keyword.start == 0]
    assert found and found[0].end >= len(fold(word)) and found[0].role is role, (word, found)


def test_no_misread_keyword_spelling_is_a_month() -> None:
    # DIC is December in Spanish: were a keyword's misread ever spelt so, "DIC 2027" would lose its
    # month. The table's confusions make none today; a keyword or confusion added must keep it so.
    months = re.compile(rf"(?:{MONTH_PATTERN})")
    assert [spelling for spelling in _MISREAD_SPELLINGS if months.fullmatch(spelling)] == []


@pytest.mark.parametrize(
    ("text", "date", "kind"),
    [
        # A dot-matrix O read as a zero inside the keyword (hard set v2 940367).
        ("PR0.DATE: 12 APR 2024\n07 APR 2026 A", dt.date(2024, 4, 12), DateKind.MANUFACTURE),
        ("PR0D 12/05/2026\nEXP 12/05/2027", dt.date(2026, 5, 12), DateKind.MANUFACTURE),
        ("BEST BEF0RE 12/05/2027", dt.date(2027, 5, 12), DateKind.EXPIRY),
    ],
)
def test_a_keyword_whose_o_was_read_as_a_zero(text: str, date: dt.date, kind: DateKind) -> None:
    dates = {candidate.date: candidate.kind for candidate in parse_dates(text, REF).candidates}
    assert dates[date] is kind


def test_a_zero_glued_after_a_keyword_leaves_it_as_read() -> None:
    # "EXPO" would be a longer word, no keyword: EXP as read stays what it was.
    assert find_keywords("EXP0 12/05/2027") == find_keywords("EXP 012/05/2027")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LMAR25 12/05/2026", "2026-05-12"),  # a lot code: L glued to a month is no keyword
        ("12/05/2026\nREF KA5 2030", "2026-05-12"),  # look-alike digits only in a coder's month
        ("15.06.2026\nTYPE A60 2030", "2026-06-15"),
    ],
)
def test_codes_are_not_read_as_glued_keywords_or_months(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected


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


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.text(max_size=200))
def test_never_raises_and_dates_are_in_the_text(text: str) -> None:
    for candidate in parse_dates(text, REF).candidates:
        assert candidate.text in text
        assert 0 <= candidate.confidence <= 1


_REPO = Path(__file__).resolve().parents[2]
# Copied into the repository with its attribution (tests/data/date_cases/README.md).
_CASES_FILE = _REPO / "tests" / "data" / "date_cases" / "datalid_cases.json"
_CASES_REF = dt.date(2025, 6, 1)


def _datalid_cases() -> list[object]:
    cases = json.loads(_CASES_FILE.read_text(encoding="utf-8"))
    return [pytest.param(case["text"], case["expected"], id=case["text"][:40]) for case in cases]


@pytest.mark.parametrize(("text", "expected"), _datalid_cases())
def test_datalid_cases(text: str, expected: str) -> None:
    best = parse_dates(text, _CASES_REF).best
    assert best is not None and best.date.isoformat() == expected


# Formats and phrasings the issue lists, each with the expected best date.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15 de março de 2026", "2026-03-15"),
        ("Best before 09 JAN 2027", "2027-01-09"),
        ("MAR/27", "2027-03-31"),
        ("SET25", "2025-09-30"),
        ("ABR 2027", "2027-04-30"),
        ("V.05/26", "2026-05-31"),
        ("032027", "2027-03-31"),
        ("15032026", "2026-03-15"),
        ("20260315", "2026-03-15"),
        ("2026.03.15", "2026-03-15"),
        ("VENC: 25\\11\\25", "2025-11-25"),
        ("VAL:18/O6/2O26LOTE:2506185776", "2026-06-18"),  # O read for 0, lot glued on
        ("VAL 1S/03/2027", "2027-03-15"),  # S read for 5
        ("01/01/2603:33", "2026-01-01"),  # a time glued to a two-digit year
        ("MHD 30.06.27", "2027-06-30"),
        ("CONSUMIR ANTES DE 12/2026", "2026-12-31"),
        ("12/2027 V 01/2025 F", "2027-12-31"),  # letters printed after their dates
    ],
)
def test_issue_formats(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected


@pytest.mark.parametrize(
    "text",
    [
        "LOTE 250616",  # a lot code shaped like a date
        "L:03/2025",
        "18:30 12:45",  # times of day
        "15/03/1995",  # outside the year window
        "31/02/2026",  # impossible, and not re-read as 02/2026
        "INTERVAL 5",  # keywords only as words
        "TEL 41 3148-6507",
    ],
)
def test_not_dates(text: str) -> None:
    assert parse_dates(text, REF).best is None


def test_year_window_is_configurable() -> None:
    assert parse_dates("15/03/2045", REF).best is None
    best = parse_dates("15/03/2045", REF, years_ahead=20).best
    assert best is not None and best.date == dt.date(2045, 3, 15)


def test_date_order_accepts_the_api_strings() -> None:
    best = parse_dates("03/04/26", REF, "MDY").best
    assert best is not None and best.date == dt.date(2026, 3, 4)
    with pytest.raises(ValueError):
        parse_dates("03/04/26", REF, "XYZ")


def test_unambiguous_dates_are_more_certain_than_ambiguous_ones() -> None:
    sure = parse_dates("VAL 25/12/2026", REF).best
    unsure = parse_dates("VAL 03/04/2026", REF).best
    assert sure is not None and unsure is not None and sure.confidence > unsure.confidence


_FORMATS = {**DAY_FORMATS, **MONTH_FORMATS}
_QUICK = settings(max_examples=300, derandomize=True, deadline=None)


@_QUICK
@given(
    date=st.dates(min_value=dt.date(2012, 1, 1), max_value=dt.date(2040, 12, 31)),
    form=st.sampled_from(sorted(_FORMATS)),
    keyword=st.sampled_from(("", *EXPIRY_KEYWORDS)),
    before=st.lists(st.sampled_from(NOISE_WORDS), max_size=3),
    after=st.lists(st.sampled_from(NOISE_WORDS), max_size=3),
    seed=st.integers(0, 2**16),
    glue=st.sampled_from((" ", "\n", "  ")),
)
def test_any_rendered_date_parses_back(
    date: dt.date, form: str, keyword: str, before: list[str], after: list[str], seed: int, glue: str
) -> None:
    rendered = _FORMATS[form](date, random.Random(seed))
    text = glue.join([*before, f"{keyword} {rendered}".strip(), *after])
    best = parse_dates(text, REF).best
    expected = month_end(date) if form in MONTH_FORMATS else date
    assert best is not None and best.date == expected, text


@_QUICK
@given(offset_days=st.integers(-30, 330), day_first=st.booleans())
def test_day_and_month_without_year_is_the_next_one(offset_days: int, day_first: bool) -> None:
    date = REF + dt.timedelta(days=offset_days)
    month = date.strftime("%b").upper()
    best = parse_dates(f"USE BY {date.day} {month}" if day_first else f"{date.day}{month}", REF).best
    assert best is not None and best.date == date and best.year_inferred


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.text(max_size=4096) | st.text(alphabet="0123456789/.-: OIlSBZVALNOV\n", max_size=4096))
def test_never_raises_on_up_to_4_kb(text: str) -> None:
    result = parse_dates(text, REF)
    for candidate in result.candidates:
        assert candidate.text in text
        assert 0 <= candidate.confidence <= 1
    assert result.best is None or result.best in result.candidates


def test_confidence_is_calibrated() -> None:
    # Accuracy, not timing: the bench prints the full table (bench/RESULTS.md).
    _, ece, _ = reliability(shared_cases() + generate_cases(400, seed=20261125))
    assert ece < 0.1


def test_committed_weights_are_the_fit() -> None:
    # `python -m bench.dates_bench fit --seed 123` prints them; paste its output after refitting.
    assert fit_weights() == (BIAS, WEIGHTS)


def test_long_input_is_cut_not_refused() -> None:
    text = "x" * MAX_TEXT_CHARS + " VAL 12/2026"
    assert parse_dates(text, REF).best is None
    assert parse_dates("VAL 12/2026 " + "x" * MAX_TEXT_CHARS, REF).best is not None
