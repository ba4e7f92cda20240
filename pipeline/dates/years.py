"""Which years a label can print, which dates a label plausibly prints, and the year of a date
printed without one.

The year window bounds what is read as a date at all. Plausibility is narrower: a label in a shop
prints a manufacture date a few years back at most and an expiry date at most a few years ahead,
so of two readings of an ambiguous label ("180625": 18 June 2025 or 25 June 2018) the one whose
dates lie near the reference date is the label's (``parser.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = [
    "BUDDHIST_ERA_OFFSET",
    "PLAUSIBLE_AHEAD_DAYS",
    "PLAUSIBLE_BACK_DAYS",
    "REIWA_YEAR_ONE",
    "YearWindow",
    "infer_year",
]

# A date this far before or after the reference date is plausible on a label: an expired product
# photographed years later, a manufacture date, a long shelf life (canned food, ten years at most).
PLAUSIBLE_BACK_DAYS = 5 * 365 + 1
PLAUSIBLE_AHEAD_DAYS = 10 * 365 + 2
# The Thai solar calendar counts from 543 BCE: Buddhist-era year 2569 is 2026.
BUDDHIST_ERA_OFFSET = 543
# Japan's Reiwa era began on 1 May 2019: Reiwa 1 is 2019, Reiwa 9 is 2027.
REIWA_YEAR_ONE = 2019


@dataclass(frozen=True, slots=True)
class YearWindow:
    """Printed years from ``reference.year - years_back`` to ``reference.year + years_ahead``.

    A year outside the window is not a date: it is a lot number, a time or a phone number.
    """

    reference: dt.date
    years_back: int = 15
    years_ahead: int = 15

    def year(self, digits: str) -> int | None:
        """The year that ``digits`` (two or four of them) print, or None outside the window.

        Two-digit years mean 20YY. A four-digit year that is in the window once the Buddhist era's
        543 years are taken off is that year: Thai labels print 2569 for 2026 (the two eras' windows
        never overlap, so no year is read both ways).
        """
        year = int(digits) + (2000 if len(digits) == 2 else 0)
        if self._holds(year):
            return year
        if len(digits) == 4 and self._holds(year - BUDDHIST_ERA_OFFSET):
            return year - BUDDHIST_ERA_OFFSET
        return None

    def reiwa(self, digits: str) -> int | None:
        """The year that a Reiwa-era year prints (``9`` is 2027, ``元`` its first), or None outside
        the window."""
        era_year = 1 if digits == "元" else int(digits)
        year = REIWA_YEAR_ONE - 1 + era_year
        return year if era_year >= 1 and self._holds(year) else None

    def _holds(self, year: int) -> bool:
        return self.reference.year - self.years_back <= year <= self.reference.year + self.years_ahead

    def plausible_range(self) -> tuple[dt.date, dt.date]:
        """The first and last date a label plausibly prints (see the module docstring)."""
        reference = self.reference
        return (
            reference - dt.timedelta(days=PLAUSIBLE_BACK_DAYS),
            reference + dt.timedelta(days=PLAUSIBLE_AHEAD_DAYS),
        )


def infer_year(month: int, day: int, reference: dt.date, grace_days: int) -> dt.date | None:
    """The first ``day``/``month`` on or after ``reference - grace_days``, or None if no such day.

    The grace keeps a label that expired last week reading as this year's date rather than
    next year's. 29 February may be up to eight years away.
    """
    earliest = reference - dt.timedelta(days=grace_days)
    for year in range(earliest.year, earliest.year + 9):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate >= earliest:
            return candidate
    return None
