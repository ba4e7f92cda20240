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

__all__ = ["PLAUSIBLE_AHEAD_DAYS", "PLAUSIBLE_BACK_DAYS", "YearWindow", "infer_year"]

# A date this far before or after the reference date is plausible on a label: an expired product
# photographed years later, a manufacture date, a long shelf life (canned food, ten years at most).
PLAUSIBLE_BACK_DAYS = 5 * 365 + 1
PLAUSIBLE_AHEAD_DAYS = 10 * 365 + 2


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

        Two-digit years mean 20YY.
        """
        year = int(digits) + (2000 if len(digits) == 2 else 0)
        if self.reference.year - self.years_back <= year <= self.reference.year + self.years_ahead:
            return year
        return None

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
