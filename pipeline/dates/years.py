"""Which years a label can print, and the year of a date printed without one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["YearWindow", "infer_year"]


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
