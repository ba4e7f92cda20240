"""A date-shaped match turned into a date: day/month order, years, month precision, validity.

Impossible dates are rejected, never bent: 31/02/2026 gives None, not 2026-03-03 or 2026-02.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import NamedTuple

from pipeline.dates.months import month_number
from pipeline.dates.patterns import Form, RawMatch
from pipeline.dates.years import YearWindow, infer_year
from pipeline.types import DateOrder, DatePrecision

__all__ = ["Reading", "read"]


class Reading(NamedTuple):
    """What a match says, with the facts that make it more or less certain."""

    date: dt.date
    precision: DatePrecision
    year_inferred: bool = False
    # Only two digits of the year were printed (or none, when inferred).
    short_year: bool = False
    # The other day/month order would also have been a valid date (03/04/26).
    ambiguous: bool = False
    # The requested order was impossible and the other one was read (12/25/2026 in DMY).
    swapped: bool = False


def _day(year: int | None, month: int, day: int) -> dt.date | None:
    # Out-of-range fields are rejected before dt.date, whose ValueError costs more than the whole
    # reading: every day-first date past the 12th is also tried as a month (15/03 as month 15).
    if year is None or not 1 <= month <= 12 or not 1 <= day <= 31:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:  # 31/02, month 13 and friends
        return None


def _month_end(year: int | None, month: int) -> dt.date | None:
    if year is None or not 1 <= month <= 12:
        return None
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _day_month(
    a: int, b: int, year: int | None, order: DateOrder, swap: bool, short_year: bool = False
) -> Reading | None:
    """Reads a/b as day and month in ``order`` (YMD falls back to DMY), else, if ``swap``, the other way."""
    month, day = (a, b) if order is DateOrder.MDY else (b, a)
    first = _day(year, month, day)
    second = _day(year, day, month)
    if first is not None:
        ambiguous = second is not None and second != first
        return Reading(first, DatePrecision.DAY, short_year=short_year, ambiguous=ambiguous)
    if second is not None and swap:
        return Reading(second, DatePrecision.DAY, short_year=short_year, swapped=True)
    return None


def _triple(
    a: str, b: str, y: str, order: DateOrder, window: YearWindow, swap: bool = True
) -> Reading | None:
    """a/b/y with separators, or the three pairs of a compact DDMMYY (which is never swapped:
    a compact 062028 is June 2028, not 20 June 2028)."""
    if order is DateOrder.YMD and len(y) <= 2 and len(a) == 2:
        # A two-digit first field is the year: 26/03/15 is 2026-03-15, 27.7.1 is 2027-07-01. A
        # one-digit day never after a zero-padded month: a printer that pads the month pads the
        # day, and "12/01/2" is a day, month and year whose year OCR cut short (12/01/27), not
        # 2012 (27.10.1 stays 2027-10-01: months 10 to 12 have two digits unpadded).
        if len(y) == 1 and b.startswith("0"):
            return None
        date = _day(window.year(a), int(b), int(y))
        return Reading(date, DatePrecision.DAY, short_year=True) if date else None
    if len(y) == 1:  # a one-digit last field is a day, only in a year-first label
        return None
    # Built once with its short_year, not rebuilt: most labels print two-digit years.
    return _day_month(int(a), int(b), window.year(y), order, swap, short_year=len(y) != 4)


def _compact(digits: str, order: DateOrder, window: YearWindow) -> Reading | None:
    """DDMMYY, DDMMYYYY, YYYYMMDD or MMYYYY without separators."""
    if len(digits) == 8:
        year_first = _day(window.year(digits[:4]), int(digits[4:6]), int(digits[6:]))
        if year_first is not None:
            return Reading(year_first, DatePrecision.DAY)
        return _compact_triple(digits, order, window)
    reading = _compact_triple(digits, order, window)
    if reading is not None:
        return reading
    # MMYYYY: 062028. Never also a valid DDMMYY, whose month would then be 19 or 20.
    month_end = _month_end(window.year(digits[2:]), int(digits[:2]))
    return Reading(month_end, DatePrecision.MONTH) if month_end else None


def _compact_triple(digits: str, order: DateOrder, window: YearWindow) -> Reading | None:
    """DDMMYY(YY) in ``order``; month first (a US phrase before it, or the caller's order) with no
    month-first date, day first ("BEST BY 311227" on an export pack), as the other order is read."""
    reading = _triple(digits[:2], digits[2:4], digits[4:], order, window, swap=False)
    if reading is not None or order is not DateOrder.MDY:
        return reading
    day_first = _triple(digits[:2], digits[2:4], digits[4:], DateOrder.DMY, window, swap=False)
    return None if day_first is None else day_first._replace(swapped=True)


# "Sell by" right before a date: US retail's phrase for perishables (milk, eggs, meat), whose date
# is a month and a day, the year left out ("SELL BY OCT 12").
_SELL_BY = re.compile(r"SELL[ \-]?BY(?: ?DATE)?[ :.\-\n]{0,3}$")
# How far before a date its "Sell by" may start, in characters.
_SELL_BY_REACH = 17


def _nearest(month: int, day: int, reference: dt.date) -> dt.date | None:
    """The ``day``/``month`` nearest ``reference``, in its year or the one before or after: a
    sell-by date is near the day a pack is on the shelf ("SELL BY OCT 12" photographed on 30 Nov
    2026 is 12 Oct 2026, seven weeks past, not 12 Oct 2027)."""
    days = [
        found
        for year in (reference.year - 1, reference.year, reference.year + 1)
        if (found := _day(year, month, day))
    ]
    return min(days, key=lambda found: abs((found - reference).days), default=None)


def _a_day_rather(g: re.Match[str], start: int) -> bool:
    """Whether a month name and two digits after a space, right after "SELL BY", are a month and
    its day rather than a month and a year: "SELL BY OCT 12" on a US milk carton is 12 October,
    not October 2012, and "SELL BY DEC 24" is 24 December, not December 2024. Elsewhere ("EXP OCT
    20" on a medicine, "BEST BY MAR 07" of a line whose year was cut off) two digits after a month
    stay its year: a day read there would give an expired pack next year's date.
    Only a space between: "MAR/12", "MAR-12" and "MAR12" print a month and a year.
    """
    y = g["y"] or ""
    if len(y) != 2 or not 1 <= int(y) <= 31:
        return False
    gap = g.string[g.end("mon") : g.start("y")]
    if not gap or gap.strip(" "):
        return False
    return _SELL_BY.search(g.string, max(0, start - _SELL_BY_REACH), start) is not None


def _reiwa(g: re.Match[str], window: YearWindow) -> Reading | None:
    """A Reiwa-era date (patterns.py): 令和9年5月12日 or R9.05.12."""
    era, month, day = (g["era"], g["m"], g["d"]) if g["era"] is not None else (g["era_r"], g["m_r"], g["d_r"])
    year = window.reiwa(era or "0")
    if day is None:
        month_end = _month_end(year, int(month or 0))
        return Reading(month_end, DatePrecision.MONTH, short_year=True) if month_end else None
    date = _day(year, int(month or 0), int(day))
    return Reading(date, DatePrecision.DAY, short_year=True) if date else None


def read(match: RawMatch, order: DateOrder, window: YearWindow, grace_days: int) -> Reading | None:
    """The date ``match`` prints, or None when it names no real date inside the year window."""
    g = match.groups
    form = match.form
    if form is Form.YEAR_FIRST and "era" in g.re.groupindex:
        return _reiwa(g, window)
    if form is Form.YEAR_FIRST:
        y = g["y"] or ""
        year = window.year(y) if len(y) in (2, 4) else None
        short = len(y) == 2
        if g["d"] is None:  # 2026/08, 2027年6月: a month-only date
            month_end = _month_end(year, int(g["m"] or 0))
            return Reading(month_end, DatePrecision.MONTH, short_year=short) if month_end else None
        date = _day(year, int(g["m"] or 0), int(g["d"]))
        return Reading(date, DatePrecision.DAY, short_year=short) if date else None
    if form is Form.TRIPLE:
        y = g["y"] or ""
        if "glued" in g.re.groupindex and window.year(f"20{y[-1]}{g['glued']}") is not None:
            return None  # "14-06-224": 14-06-22 and a 4, or 14-06-2024 without its 0? Not read.
        return _triple(g["a"] or "", g["b"] or "", y, order, window)
    if form is Form.COMPACT:
        return _compact((g["c"] or "").replace(" ", ""), order, window)  # spaces: a split date
    if form is Form.MONTH_YEAR:
        y = g["y"] or ""
        month_end = _month_end(window.year(y), int(g["m"] or 0))
        if month_end is None and order is DateOrder.YMD and len(y) == 2 and len(g["m"] or "") == 2:
            # A year-first label's two-digit year, then month ("賞味期限 27.05": May 2027), where
            # the month cannot come first. Marked swapped: the parser keeps it only after a keyword.
            year_month = _month_end(window.year(g["m"] or ""), int(y))
            return (
                Reading(year_month, DatePrecision.MONTH, short_year=True, swapped=True)
                if year_month
                else None
            )
        return Reading(month_end, DatePrecision.MONTH, short_year=len(y) == 2) if month_end else None
    month = month_number(g["mon"] or "")
    y = match.year()
    if form is Form.NAME_YEAR:
        month_end = _month_end(window.year(y or ""), month)
        if _a_day_rather(g, match.start):
            day_of = _nearest(month, int(y or 0), window.reference)
            return Reading(day_of, DatePrecision.DAY, year_inferred=True, short_year=True) if day_of else None
        return Reading(month_end, DatePrecision.MONTH, short_year=len(y or "") == 2) if month_end else None
    day = int(g["d"] or 0)
    if y is None:
        inferred = infer_year(month, day, window.reference, grace_days)
        return Reading(inferred, DatePrecision.DAY, year_inferred=True, short_year=True) if inferred else None
    date = _day(window.year(y), month, day)
    return Reading(date, DatePrecision.DAY, short_year=len(y) == 2) if date else None
