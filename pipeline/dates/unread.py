"""Whether a label names its expiry date but the text holds that date unreadably.

An expiry keyword followed on its line by a whole numeric date that the parser refuses
(``BBF: 17.19.2029``, a 0 read as a 9, hard set v5 1000414; ``TE GEBRUIKEN TOT 24-00-26``): the
label's expiry date is there, misread. The photo's other dates (a production date that lost its
keyword, a lot code read as a date) must not answer in its place before the photo is read again
(``pipeline.second_chance``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pipeline.dates.keywords import Role, find_keywords
from pipeline.dates.normalize import MAX_TEXT_CHARS, normalize

__all__ = ["WHOLE_NUMERIC_DATE", "expiry_unreadable"]

# A whole numeric date with its two separators, either way round: 31.10.2050, 2050-10-31, 32/01/27.
WHOLE_NUMERIC_DATE = re.compile(
    r"(?<!\d)(?:\d{1,2}([./\-])\d{1,2}\1\d{2,4}|\d{4}([./\-])\d{1,2}\2\d{1,2})(?!\d)"
)
# Between an expiry keyword and its date: a colon, a dot, a hyphen or spaces, at most three.
_GAP = re.compile(r"[ :.\-]{0,3}")


def expiry_unreadable(line: str, dated: Callable[[str], bool]) -> bool:
    """Whether ``line`` holds an expiry keyword right before a whole numeric date, and the parser
    reads no date in the line.

    Args:
        line: one OCR line, as read.
        dated: whether the parser finds a date in a text (the caller's reference date and year
            window); called only for a line with such a keyword and shape.
    """
    text = normalize(line[:MAX_TEXT_CHARS])
    starts = [match.start() for match in WHOLE_NUMERIC_DATE.finditer(text)]
    if not starts:
        return False
    labelled = any(
        keyword.role is Role.EXPIRY and _GAP.fullmatch(text, keyword.end, start) is not None
        for keyword in find_keywords(text)
        for start in starts
        if start >= keyword.end
    )
    return labelled and not dated(line)
