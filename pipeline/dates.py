"""Finds dates in OCR text and decides which one is the expiry date.

A first parser: numeric dates (DD/MM/YYYY, YYYY-MM-DD, MM/YY and compact forms after a keyword)
and dates with an English, Portuguese or Spanish month name. The interface is final; the rules
will grow. The parser is a pure function of its arguments: the caller supplies the reference date,
nothing here reads the clock. Every pattern is built from bounded repeats with no nested
quantifiers, so matching time is linear in the text length.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from pipeline.types import DateKind, DateOrder, DatePrecision, ParsedDate

__all__ = ["DateParseResult", "ParsedDate", "parse_dates"]

# English, Portuguese and Spanish month names and abbreviations (accents stripped), by month.
_MONTH_WORDS = (
    "JAN JANUARY JANEIRO ENE ENERO",
    "FEB FEBRUARY FEV FEVEREIRO FEBRERO",
    "MAR MARCH MARCO MARZO",
    "APR APRIL ABR ABRIL",
    "MAY MAI MAIO MAYO",
    "JUN JUNE JUNHO JUNIO",
    "JUL JULY JULHO JULIO",
    "AUG AUGUST AGO AGOSTO",
    "SEP SEPT SEPTEMBER SET SETEMBRO SEPTIEMBRE SETIEMBRE",
    "OCT OCTOBER OUT OUTUBRO OCTUBRE",
    "NOV NOVEMBER NOVEMBRO NOVIEMBRE",
    "DEC DECEMBER DEZ DEZEMBRO DIC DICIEMBRE",
)
_MONTH_NAMES = {name: month for month, words in enumerate(_MONTH_WORDS, start=1) for name in words.split()}
# Longest first, so that SEPTEMBER is not read as SEP followed by junk. OCR often reads the
# letter O as a zero (N0V), so both are accepted.
_MONTH = "|".join(name.replace("O", "[O0]") for name in sorted(_MONTH_NAMES, key=len, reverse=True))

_SEP = r"[ .\-/]{0,2}"  # between a day, a month name and a year: "15MAR26", "15 MAR 2026", "15-MAR-26"
_YEAR_TAIL = r"(?:20\d\d(?!\d)|\d\d)"  # no look-ahead after YY: "01/01/2603:33" is 01/01/26 then a time

# Tried in this order; a later pattern never takes text an earlier one matched.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ymd", re.compile(r"(?<!\d)(?P<y>20\d\d)(?P<s>[./\-])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?!\d)")),
    (
        "numeric3",
        re.compile(rf"(?<!\d)(?P<a>\d{{1,2}})(?P<s>[./\-\\ ])(?P<b>\d{{1,2}})(?P=s)(?P<y>{_YEAR_TAIL})"),
    ),
    (
        "day_name",
        re.compile(
            rf"(?<!\d)(?P<d>\d{{1,2}}){_SEP}(?P<mon>{_MONTH})(?![A-Z])(?:{_SEP}(?P<y>20\d\d|\d\d)(?!\d))?"
        ),
    ),
    (
        "compact_day",
        re.compile(r"(?:EXP|VAL|V)[ .:]{0,2}(?P<d>\d\d)(?P<m>\d\d)(?P<y>20\d\d|\d\d)(?!\d)"),
    ),
    ("name_year", re.compile(rf"(?<![A-Z])(?P<mon>{_MONTH})(?![A-Z]){_SEP}(?P<y>20\d\d|\d\d)(?!\d)")),
    ("month_year", re.compile(r"(?<!\d)(?P<m>\d{1,2})[./\-\\](?P<y>20\d\d|\d\d)(?!\d)")),
    ("compact_month", re.compile(r"(?<![A-Z\d])(?P<m>0[1-9]|1[0-2])(?P<y>20\d\d)(?![A-Z\d])")),
)

# A keyword applies to the first date that starts at most this many characters after it.
_KEYWORD_REACH = 24
_KEYWORDS: tuple[tuple[DateKind | None, re.Pattern[str]], ...] = (
    (
        DateKind.EXPIRY,
        re.compile(
            r"(?<![A-Z])(?:USE ?-?BY|BEST ?BEFORE|BBE|BB|EXPIRY|EXPIRES|EXPIRATION|EXP|VALIDADE|VALIDO ATE"
            r"|VAL|VENCIMENTO|VENCE|VENC|CADUCIDAD|CAD|CONSUMIR ANTES)"
            r"|(?<![A-Z])V(?=[ .:]{0,2}\d)"
        ),
    ),
    (
        DateKind.MANUFACTURE,
        re.compile(
            r"(?<![A-Z])(?:FABRICACAO|FABRICADO|FAB|MFG|MFD|MANUFACTURED|PRODUCED|PRODUCAO|PROD|ELAB|ENV)"
            r"|(?<![A-Z\d])[FP](?=[ .:]{0,2}\d)"
        ),
    ),
    # A lot number often looks like a date; the keyword stops it from counting as one.
    (None, re.compile(r"(?<![A-Z])(?:LOTE|LOT|L)(?=[ .:]{0,2}\d)")),
)

_BASE_CONFIDENCE = 0.6
_KEYWORD_BONUS = 0.3
_INFERRED_PENALTY = 0.2
_SWAPPED_PENALTY = 0.2
# Explicit years outside [reference - past, reference + future] are not dates (lot numbers, times).
_PAST_YEARS = 5
_FUTURE_YEARS = 10


@dataclass(frozen=True, slots=True)
class DateParseResult:
    """Every date found in a text, in text order, and the one judged to be the expiry date."""

    best: ParsedDate | None
    candidates: tuple[ParsedDate, ...]


# (date, precision, year inferred, confidence penalty)
_Reading = tuple[dt.date, DatePrecision, bool, float]


class _Span(NamedTuple):
    start: int
    end: int


def parse_dates(
    text: str,
    reference_date: dt.date,
    date_order: DateOrder = DateOrder.DMY,
    *,
    grace_days: int = 30,
) -> DateParseResult:
    """Finds the dates in OCR text and picks the expiry date.

    Args:
        text: OCR output; lines separated by newlines (a date never spans two lines).
        reference_date: "today" for the caller; years that are not printed are chosen from it.
        date_order: how an ambiguous numeric date such as 03/04/26 is read.
        grace_days: a date without a year is the next such date on or after
            ``reference_date - grace_days``, so a label that expired last week still reads as
            this year's date.

    Returns:
        The candidates in text order, and ``best``: the latest date after an expiry keyword,
        else the latest date that is not a manufacture date, else None.
    """
    normalized = _normalize(text)
    readings = _find_readings(normalized, reference_date, date_order, grace_days)
    keywords = _find_keywords(normalized)
    starts = [span.start for span, _ in readings]
    candidates = []
    for span, (date, precision, inferred, penalty) in readings:
        kind = _kind_for(span.start, keywords, starts)
        confidence = _BASE_CONFIDENCE - penalty - (_INFERRED_PENALTY if inferred else 0.0)
        if kind is not DateKind.UNKNOWN:
            confidence += _KEYWORD_BONUS
        candidates.append(
            ParsedDate(
                date=date,
                kind=kind,
                precision=precision,
                year_inferred=inferred,
                confidence=round(min(1.0, max(0.0, confidence)), 3),
                text=text[span.start : span.end],
            )
        )
    return DateParseResult(best=_pick_best(candidates), candidates=tuple(candidates))


def _find_readings(
    text: str, reference: dt.date, order: DateOrder, grace_days: int
) -> list[tuple[_Span, _Reading]]:
    """Every date the patterns read, in text order; earlier patterns win overlapping text."""
    found: list[tuple[_Span, _Reading]] = []
    for name, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            span = _Span(match.start(), match.end())
            if any(span.start < other.end and other.start < span.end for other, _ in found):
                continue
            reading = _read(name, match, reference, order, grace_days)
            if reading is None:
                continue
            if reading[2] and match.groupdict().get("y"):
                # The printed "year" was implausible and ignored: leave it out of the span read.
                span = _Span(span.start, match.end("mon"))
            found.append((span, reading))
    return sorted(found, key=lambda item: item[0].start)


def _normalize(text: str) -> str:
    """Upper-cases and strips accents one character at a time, so positions map back to ``text``."""
    return "".join(unicodedata.normalize("NFKD", ch)[0].upper()[0] for ch in text)


def _find_keywords(text: str) -> list[tuple[int, DateKind | None]]:
    """Returns (end position, kind) of every keyword; None kind marks a lot number keyword."""
    hits = [(m.end(), kind) for kind, pattern in _KEYWORDS for m in pattern.finditer(text)]
    return sorted(hits, key=lambda hit: hit[0])


def _kind_for(start: int, keywords: list[tuple[int, DateKind | None]], date_starts: list[int]) -> DateKind:
    """The kind given by the nearest keyword before ``start``, unless another date sits in between."""
    nearest = [(end, kind) for end, kind in keywords if start - _KEYWORD_REACH <= end <= start]
    if not nearest:
        return DateKind.UNKNOWN
    end, kind = nearest[-1]
    if any(end <= other < start for other in date_starts):
        return DateKind.UNKNOWN
    return kind or DateKind.UNKNOWN


def _pick_best(candidates: list[ParsedDate]) -> ParsedDate | None:
    expiry = [c for c in candidates if c.kind is DateKind.EXPIRY]
    pool = expiry or [c for c in candidates if c.kind is DateKind.UNKNOWN]
    if not pool:
        return None
    # max keeps the first of equal dates, so the choice is deterministic.
    return max(pool, key=lambda c: (c.date, c.confidence))


def _read(
    name: str, match: re.Match[str], reference: dt.date, order: DateOrder, grace_days: int
) -> _Reading | None:
    """Turns one pattern match into (date, precision, year inferred, confidence penalty), or None."""
    groups = match.groupdict()
    if name == "ymd":
        return _day(_year(groups["y"], reference), int(groups["m"]), int(groups["d"]))
    if name == "numeric3":
        return _numeric3(int(groups["a"]), int(groups["b"]), groups["y"], reference, order)
    if name in ("day_name", "compact_day"):
        month = _month_number(groups["mon"]) if name == "day_name" else int(groups["m"])
        day = int(groups["d"])
        year = _year(groups["y"], reference) if groups["y"] else None
        if year is not None:
            return _day(year, month, day)
        return _inferred(month, day, reference, grace_days)
    month = _month_number(groups["mon"]) if name == "name_year" else int(groups["m"])
    year = _year(groups["y"], reference)
    if year is None or not 1 <= month <= 12:
        return None
    return dt.date(year, month, calendar.monthrange(year, month)[1]), DatePrecision.MONTH, False, 0.0


def _month_number(name: str) -> int:
    return _MONTH_NAMES[name.replace("0", "O")]


def _year(digits: str, reference: dt.date) -> int | None:
    year = int(digits) + (2000 if len(digits) == 2 else 0)
    if reference.year - _PAST_YEARS <= year <= reference.year + _FUTURE_YEARS:
        return year
    return None


def _day(year: int | None, month: int, day: int, penalty: float = 0.0) -> _Reading | None:
    if year is None:
        return None
    try:
        return dt.date(year, month, day), DatePrecision.DAY, False, penalty
    except ValueError:  # 31/02, month 13 and friends
        return None


def _numeric3(a: int, b: int, year_digits: str, reference: dt.date, order: DateOrder) -> _Reading | None:
    """Reads a/b/y in the requested order, falling back to the other day/month order if impossible."""
    if order is DateOrder.YMD and len(year_digits) == 2:
        # A two-digit first field is the year: 26/03/15 is 2026-03-15.
        return _day(_year(f"{a:02d}", reference), b, int(year_digits))
    year = _year(year_digits, reference)
    month, day = (a, b) if order is DateOrder.MDY else (b, a)
    return _day(year, month, day) or _day(year, day, month, _SWAPPED_PENALTY)


def _inferred(month: int, day: int, reference: dt.date, grace_days: int) -> _Reading | None:
    """The first valid month/day on or after ``reference - grace_days`` (29 Feb may be years away)."""
    earliest = reference - dt.timedelta(days=grace_days)
    for year in range(earliest.year, earliest.year + 9):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate >= earliest:
            return candidate, DatePrecision.DAY, True, 0.0
    return None
