"""Whole dates the recogniser misread into impossible ones, read with its second choice for a digit.

A dot-matrix ``31.10.2030`` whose 3 smears reads ``31.10.2050``: a whole day, month and year with
both separators that the parser rightly refuses (a year beyond ``date_years_ahead``, a month 13, a
day 32). The line is then no date at all, and the label's other date (often its production date,
whose keyword the read garbled too) answers in its place (hard set v3 960466: ``MF6t 06.10.2026``
over ``31.10.2050``, answered 6 Oct 2026). The recogniser usually ranks the right digit close
behind (:mod:`pipeline.ctc`, ``OcrLine.alternatives``).

:func:`repaired` reads such a line with each of its digit alternatives in turn, closest first, and
keeps the first that makes the impossible date a date. Only lines that hold a separated
day-month-year or year-month-day and no date are touched, only inside that date, and only with the
model's own close second: a line the parser reads as it stands is never changed, so a date read
right cannot be swapped for another (``MF6t 06.10.2026``'s alternative ``06.10.2028`` is not
taken). Unlike the digit swap of a dateless photo (``pipeline.second_chance.DIGIT_SWAP``), this
runs on every first read, and on every second-chance variant's read: an impossible date is
evidence of a misread on its own, wherever the photo's other dates stand. A variant's repaired
date votes as a date read so would, but its read holds no coder's block
(``pipeline.second_chance.VariantRead.repaired``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from pipeline.dates.unread import WHOLE_NUMERIC_DATE
from pipeline.types import OcrLine

__all__ = ["repaired"]


def repaired(lines: Sequence[OcrLine], dated: Callable[[str], bool]) -> tuple[OcrLine, ...]:
    """``lines`` with each impossible whole date read with the recogniser's second choice for one of
    its digits, where that makes it a date (see the module docstring).

    Args:
        lines: a read's lines; a line's ``alternatives`` are its text with one digit swapped
            (:mod:`pipeline.ctc`), closest first.
        dated: whether the parser finds a date in one line's text alone (the caller's reference
            date and year window).

    Returns:
        The lines, the repaired ones with their alternative's text and no alternatives left (the
        same tuple's contents when nothing is repaired).
    """
    return tuple(_repaired_line(line, dated) for line in lines)


def _repaired_line(line: OcrLine, dated: Callable[[str], bool]) -> OcrLine:
    if not line.alternatives:
        return line
    spans = [match.span() for match in WHOLE_NUMERIC_DATE.finditer(line.text)]
    if not spans or dated(line.text):
        return line
    for text in line.alternatives:
        changed = _changed_at(line.text, text)
        inside = changed is not None and any(start <= changed < end for start, end in spans)
        if inside and dated(text):
            return dataclasses.replace(line, text=text, alternatives=())
    return line


def _changed_at(before: str, after: str) -> int | None:
    """The index of the one character ``after`` changes in ``before`` (same length), else None."""
    if len(before) != len(after):
        return None
    changed = [index for index, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]
    return changed[0] if len(changed) == 1 else None
