"""The shapes a printed date takes, found in normalised text.

Every pattern is a sequence of bounded repeats with no nested quantifiers, and every
look-around is of fixed width, so matching is linear in the text length.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Set as AbstractSet
from typing import NamedTuple

from pipeline.dates.months import MONTH_AT_WORD_START, MONTH_PATTERN

__all__ = ["Form", "RawMatch", "find_matches"]


class Form(enum.Enum):
    """Which pattern matched; each has its own reading rule in ``reading.py``."""

    YEAR_FIRST = "year_first"  # 2026-03-15, 2026.03.15
    TRIPLE = "triple"  # 15/03/2026, 15.03.26, 15 03 26, 15\03\26
    COMPACT = "compact"  # 150326, 15032026, 20260315, 032026
    MONTH_YEAR = "month_year"  # 03/2026, 03/26
    DAY_NAME = "day_name"  # 15 MAR 2026, 15MAR26, 15 de marco de 2026, 16 NOV
    NAME_DAY_YEAR = "name_day_year"  # MAR 15 2026, MAR 15, 2026
    NAME_YEAR = "name_year"  # MAR/27, SET25, ABRIL 2027


# A year, and where it may end: four digits not glued to more digits or to a time, or two digits
# that may be glued to a time ("01/01/2603:33" is 01/01/26 then 03:33) but not followed by a colon.
_YEAR = r"(?P<y>\d{4}(?!\d)(?!:\d)|\d{2}(?=\d{1,2}:\d\d)|\d{2}(?![\d:]))"
# Between day, month name and year: "15MAR26", "15 MAR 2026", "15-MAR-26", "15 de marco de 2026".
_NAME_SEP = r"[ .,/\-]{0,3}(?:DEL? {1,3})?"
_MONTH = rf"(?P<mon>{MONTH_PATTERN})(?![A-Z])"
# A month name that starts a word (no letter before it).
_WORD_MONTH = rf"(?P<mon>{MONTH_AT_WORD_START})(?![A-Z])"

# A date's first digit, which may not stand after another digit or after a time's colon ("08:05
# SEP 24"). The look-behinds come after the digit, not before it: a pattern that opens with a
# digit lets the regex engine skip ahead to the next digit instead of trying every position.
_FIRST = r"\d(?<!\d\d)(?<!\d:\d)"
_NUMERIC_PATTERNS: tuple[tuple[Form, re.Pattern[str]], ...] = (
    (
        Form.YEAR_FIRST,
        re.compile(rf"(?P<y>{_FIRST}\d{{3}})(?P<s>[./\-])(?P<m>\d{{1,2}})(?P=s)(?P<d>\d{{1,2}})(?!\d)"),
    ),
    (Form.TRIPLE, re.compile(rf"(?P<a>{_FIRST}\d?)(?P<s>[./\-\\])(?P<b>\d{{1,2}})(?P=s){_YEAR}")),
    (Form.TRIPLE, re.compile(rf"(?P<a>{_FIRST}\d?)(?P<s> )(?P<b>\d{{1,2}}) {_YEAR}")),
    (Form.COMPACT, re.compile(rf"(?P<c>{_FIRST}(?:\d{{7}}|\d{{5}}))(?!\d)")),
    (Form.MONTH_YEAR, re.compile(rf"(?P<m>{_FIRST}\d?)(?P<s>[./\-\\]){_YEAR}")),
)
# Most lines name no month: one search for a month word spares them the three patterns below.
_ANY_MONTH = re.compile(rf"(?:{MONTH_AT_WORD_START})(?![A-Z])")
_NAMED_PATTERNS: tuple[tuple[Form, re.Pattern[str]], ...] = (
    (Form.DAY_NAME, re.compile(rf"(?P<d>{_FIRST}\d?){_NAME_SEP}{_MONTH}(?:{_NAME_SEP}{_YEAR})?")),
    (
        Form.NAME_DAY_YEAR,
        re.compile(rf"{_WORD_MONTH}[ .]{{0,2}}(?P<d>\d{{1,2}})(?:ST|ND|RD|TH)?,? ?(?P<y>\d{{4}})(?!\d)"),
    ),
    (Form.NAME_YEAR, re.compile(rf"{_WORD_MONTH}{_NAME_SEP}{_YEAR}")),
)


# Shapes loose enough to be read out of codes ("AB12 24 09", "T2 MAY 26", "MAQ:07 MAR/28"): when a
# letter comes right before them, that letter must end a keyword ("VAL15JAN26", "BY20 09 31").
_LOOSE = re.compile(r"\d{1,2}(?: \d{1,2} |[ .,/\-]{0,3}[A-Z])|\d{6}")


class RawMatch(NamedTuple):
    """One pattern match: where it is, which form, and its digit and name groups as printed."""

    start: int
    end: int
    form: Form
    groups: dict[str, str | None]

    def overlaps(self, other: RawMatch) -> bool:
        return self.start < other.end and other.start < self.end


def _stands_apart(text: str, start: int, keyword_ends: AbstractSet[int]) -> bool:
    """False for a loose shape glued to a word that is not a keyword (one ':' or '.' between)."""
    before = start - 1 if start and text[start - 1] in ":." else start
    if before == 0 or not text[before - 1].isalpha():
        return True
    return start in keyword_ends or before in keyword_ends or not _LOOSE.match(text, start)


def _first_then_longest(match: RawMatch) -> tuple[int, int]:
    return match.start, match.start - match.end


def find_matches(text: str, keyword_ends: AbstractSet[int]) -> list[RawMatch]:
    """Every date-shaped span of ``text`` (normalised), in text order, none overlapping.

    ``keyword_ends`` are the positions where a keyword ends: a loose shape may be glued there.

    Where matches overlap, the one that starts first wins, then the longer one. A match that
    later proves impossible (31/02/2026) still keeps its span: an impossible date is not a
    date, and must not be re-read as the month-year hiding inside it.
    """
    patterns = _NUMERIC_PATTERNS + _NAMED_PATTERNS if _ANY_MONTH.search(text) else _NUMERIC_PATTERNS
    found = [
        RawMatch(start, match.end(), form, match.groupdict())
        for form, pattern in patterns
        for match in pattern.finditer(text)
        if _stands_apart(text, start := match.start(), keyword_ends)
    ]
    if len(found) < 2:
        return found
    found.sort(key=_first_then_longest)
    kept: list[RawMatch] = []
    for match in found:
        if not kept or not match.overlaps(kept[-1]):
            kept.append(match)
    return kept
