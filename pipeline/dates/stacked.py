"""Dates printed over two or three lines: a day above its month and year ("16" over "JUN 2025"),
a day and month above their year ("16 JUN" over "2025"), or one part a line.

OCR reads each printed line apart, and the patterns never cross a line break, so such a date reads
as a month without its day ("JUN 2025"), a day and month without their year (its year then taken
from the reference date), or nothing. When that is all a text gives, it is read again with the
line breaks between such parts made spaces (:func:`joins`), and kept if that makes a whole date.
Hard set v3's 960154, "EXP 16 Jun 2025" turned 40 degrees and read as ``EXP`` / ``16`` /
``Jun 2025``, is one (bench/RESULTS.md, "seventh session").
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from pipeline.dates.months import MONTH_PATTERN

__all__ = ["MAX_JOINS", "joins"]

# A line that is a day alone (one or two digits) before a line that starts with a word of three
# letters (a month); or a line that ends in a word (a month) before a line that is a year alone.
# Alone: a day or a year that shares its line is a size, a time, a lot or an energy ("500 ml 12"
# over "JUN 2026", "16 JUN" over "2030kJ" or "2015 L4"), never taken for a date's part.
# US print puts the month first: a month's name alone over a day alone over a year alone ("FEB" /
# "17" / "2029": hard set v4 980179, a turned code). A name, not any word ("Fat" / "12" of a
# nutrition table would use up MAX_JOINS), and a four-digit year under the day (a two-digit
# number there is as often a size or a count). Or a month's name and a day over a year alone
# ("SELL BY OCT 12" over "2028").
_JOINABLE = re.compile(
    r"(?:(?:^|(?<=\n))\d{1,2}\n(?=[^\W\d_]{3})"
    r"|[^\W\d_]{3,}\.?\n(?=\d{4}(?:\n|$))"
    rf"|(?:^|(?<=\n))(?i:{MONTH_PATTERN})\.?\n(?=\d{{1,2}}\n\d{{4}}(?:\n|$))"
    r"|(?<=[^\W\d_]{3}\n)\d{1,2}\n(?=\d{4}(?:\n|$)))"
)
# A month's name and a day over a year alone; searched only where a number ends a line over a year
# alone (``_DAY_OVER_YEAR``, a scan that skips ahead to digits), a month's names being costly to
# try at every position.
_DAY_OVER_YEAR = re.compile(r"\d\n\d{4}(?:\n|$)")
_MONTH_DAY_OVER_YEAR = re.compile(
    rf"(?<![^\W\d_])(?i:{MONTH_PATTERN})[ .\-/]{{1,2}}\d{{1,2}}\n(?=\d{{4}}(?:\n|$))"
)
# At most this many line breaks are tried (a date's lines are near each other; a page of text has
# many breaks, and each try is one more parse of it).
MAX_JOINS = 12


def joins(text: str) -> Iterator[str]:
    """``text`` with one joinable line break made a space, for each in order; then with two
    breaks in a row (day, month, year on three lines) made spaces. Same length as ``text``."""
    if "\n" not in text:
        return  # one line: nothing to join
    breaks = [match.end() - 1 for match in _JOINABLE.finditer(text)]
    if _DAY_OVER_YEAR.search(text):
        breaks = sorted(breaks + [match.end() - 1 for match in _MONTH_DAY_OVER_YEAR.finditer(text)])
    breaks = breaks[:MAX_JOINS]
    for at in breaks:
        yield f"{text[:at]} {text[at + 1 :]}"
    for first, second in itertools.pairwise(breaks):
        if "\n" not in text[first + 1 : second]:
            yield f"{text[:first]} {text[first + 1 : second]} {text[second + 1 :]}"
