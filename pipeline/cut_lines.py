"""Text lines that the text detector cut short, grown along their line and read again.

PP-OCR's DB detector ends a line's box where its probability map fades: where the print crosses a
change of background (an inkjet code running from a brown bag onto a light picture on it,
realworld-dev 050: ``7BBF180526`` boxed and read as ``78BF180``), where dot-matrix print thins out,
or where other print overlaps it. The recogniser reads what is in a box, so the rest of the date
is lost, and a cut date reads as another date or as none. Given the line's box grown along the
line, the same recogniser reads the rest: the background change that stopped the detector does
not stop it.

A read looks cut at one end (:func:`cut_ends`) when it ends where a date cannot end: a digit then a
separator (``09.``, ``20/``) or a separator and one digit (``18.05.2``), or a letter and a short
number (``FAB 21``, ``78BF180``: no date is printed as one to five digits after a word), or a
spaced day and month without their year (``03 06`` of ``HSD 03 06 27``); or
begins where a date cannot begin: a separator before a digit (``-2024``, ``/06/27``), or a day of
one digit before a two-digit month between two like separators (``1.07.2027`` of ``21.07.2027``;
not ``8.0g`` or ``1.99``).

- Where another box of the same line begins within ``BRIDGE_HEIGHTS`` line heights of the cut
  end (the detector cut one line in two and lost what lay between: ``FAB 21`` and ``.2027`` of
  ``FAB 21.07.2027``, hard set v2 940221), the two are read again as one box from the first's
  start to the second's end (a *bridge*). Growing each instead would read the same date twice,
  once without its keyword.
- Otherwise the cut end is grown by ``GROW_HEIGHTS`` times the line's height, within the image.
- Every other box of the line that the new box covers is read again in it, and replaced with the
  rest: kept, its text would be read twice.

The new read replaces the old ones only where it holds each of them whole, in order, at the end
that did not grow (a box grown at its end reads its first read first), with more digits than they
have together, and no longer looks cut where it grew (:func:`holds`): a grown box that takes in
background or other text without adding to the date (two columns of a code read as one line, a
lot number and the time beside it), or misreads what it adds (``2-07-2024`` of ``28-07-2024``
grown from ``-2024``), keeps the first read. One box grown at its end whose words read otherwise
the second time (a Thai or Korean keyword, which the recogniser reads as different Latin letters
on every crop: ``HNGOTU 09-10-`` grown, ``HNGOU 09-10-25``) is read on from the number it was
cut in: the first read's words stay, the grown read gives the number whole (:func:`spliced`).

A box read upside down (``Read.turned``: the photo or the pack came turned) prints from the image's
right to its left, so its printed end, where it grows, is its left end, and a turned line cut in
two is bridged to the piece on its left (realworld6 005 showed the same fault when pieces were
joined, ``pipeline.lines``).

Numbers: at most ``MAX_GROWN`` boxes of one read are read again (each one more recogniser crop);
a box is grown along its longer side only (a tall narrow box is vertical text, read turned); a
box is on the same line when its height is within ``_SAME_HEIGHT`` of the cut one's and its near
end lies within ``_ON_LINE`` of a height of the cut line's axis.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from pipeline.ctc import Read
from pipeline.curved_lines import is_polygon
from pipeline.dates.keywords import keywords_in_line

__all__ = [
    "BRIDGE_HEIGHTS",
    "GROW_HEIGHTS",
    "MAX_GROWN",
    "Regrowth",
    "cut_ends",
    "grown_quad",
    "holds",
    "spliced",
    "to_grow",
    "with_grown",
]

T = TypeVar("T")

# How far a cut end is grown, in line heights: what a date cut after its day still has to print
# (``.07.2027``: eight characters, about 0.6 to 0.8 heights each in coder and label fonts); the
# tail ``0526`` of realworld-dev 050's spaced inkjet code is 3.6 heights long.
GROW_HEIGHTS = 6.0
# A cut line's next box is read with it when it begins at most this many line heights after the
# cut end: the few characters the detector lost between them (``.07`` of ``FAB 21.07.2027``), not
# the gutter between two columns of a code (two heights and more).
BRIDGE_HEIGHTS = 3.0
# The most boxes of one read read again (a read of a page of prices and lot numbers stays cheap).
MAX_GROWN = 8
# Another box continues a cut line when its height is within this ratio of the cut box's (either
# way) and its near end's centre within this many of the cut box's heights of the cut box's axis.
_SAME_HEIGHT = 1.6
_ON_LINE = 0.5

# Where a printed date cannot end: a digit and a separator; a number, a separator and one digit
# (a month or a year cut after its first digit: 18.0, 18.05.2); a letter, at most two spaces,
# colons or stops, then one to five digits (a keyword and a date cut short: FAB 21, 78BF180); a
# day and a month spaced as coders space them, alone or with one digit of the year (03 06 of
# HSD 03 06 27 where dots on streaked film fade before the year, hard set v5 1000183; 03 06 2):
# a label that prints a day and month without its year writes the month (03 JUN), and a number
# before the pair (a lot's 1203 06) or a separator in it (12.50, a price) is no such pair.
_CUT_END = re.compile(
    r"(?:\d[./\-]\d?|[^\W\d_][ :.]{0,2}\d{1,5}"
    r"|(?<![\d./\-])(?:0[1-9]|[12]\d|3[01]) (?:0[1-9]|1[0-2])(?: \d)?)$"
)
# Where a printed date cannot begin: a separator and a digit; one digit, a separator, two digits
# and the same separator (coders print the day as two digits: 1.07.2027 is 21.07.2027 cut; a
# weight 8.0g or a price 1.99 is not a date).
_CUT_START = re.compile(r"^(?:[./\-]\d|\d([./\-])\d\d\1)")
_NOT_ALNUM = re.compile(r"[\W_]+")
# The number a read cut at its end was cut in: digits and date separators after a word (``09-10-``
# of ``HNGOTU 09-10-``), not after another letter or digit.
_END_NUMBER = re.compile(r"(?<![^\W_])\d[\d./\-]*$")
# A number on a line: a run of digits that no letter runs into (not the 0 of a keyword read "L0T").
_NUMBERS = re.compile(r"(?<![^\W_])\d+")


@dataclass(frozen=True, slots=True)
class Regrowth:
    """A box to read again: ``boxes`` (indices into the read's boxes, in their order along the
    line in the image: one for a grown box, two for a bridge) read as ``quad`` (float32 (4, 2),
    clockwise from the top left), grown at its printed ``start`` and/or ``end`` (a bridge may grow
    at neither). ``turned``: the boxes were read upside down, so the text runs from the image's
    right to its left: its printed start is the box's right end and its first box the last of
    ``boxes``."""

    boxes: tuple[int, ...]
    quad: np.ndarray
    start: bool = False
    end: bool = False
    turned: bool = False

    def printed(self, texts: Sequence[str]) -> list[str]:
        """The reads of ``boxes`` (``texts``: every box's read) in printed order."""
        ordered = [texts[index] for index in self.boxes]
        return ordered[::-1] if self.turned else ordered


@dataclass(frozen=True, slots=True)
class _Axis:
    """A box's line: its start and end (the middles of its short sides), the unit vector from
    start to end, its length and its height, in image pixels."""

    start: np.ndarray
    end: np.ndarray
    unit: np.ndarray
    width: float
    height: float

    @classmethod
    def of(cls, quad: np.ndarray) -> _Axis | None:
        """The axis of a four-point box; ``None`` for a box of no width or height."""
        quad = quad.astype(np.float32)
        start, end = (quad[0] + quad[3]) / 2.0, (quad[1] + quad[2]) / 2.0
        width = float(np.linalg.norm(end - start))
        height = float((np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2.0)
        if width <= 0.0 or height <= 0.0:
            return None
        return cls(start, end, (end - start) / width, width, height)

    def along(self, point: np.ndarray) -> float:
        """How far ``point`` lies along the line from its start (negative: before it), pixels."""
        return float((point - self.start) @ self.unit)

    def across(self, point: np.ndarray) -> float:
        """How far ``point`` lies from the line, either side, pixels."""
        offset = point - self.start
        return abs(float(offset[0] * self.unit[1] - offset[1] * self.unit[0]))

    def continued_by(self, other: _Axis, point: np.ndarray) -> bool:
        """Whether ``other``, a box whose ``point`` is given, may be of this box's printed line: its
        height within ``_SAME_HEIGHT`` of this one's, ``point`` within ``_ON_LINE`` of a height of
        this line."""
        alike = 1.0 / _SAME_HEIGHT <= other.height / self.height <= _SAME_HEIGHT
        return alike and self.across(point) <= _ON_LINE * self.height

    @property
    def along_line(self) -> bool:
        """Whether the box is at least as wide as high: laid along its line. A taller one is
        vertical text (read turned) or a single character: it is not grown, only bridged to."""
        return self.width >= self.height


def to_grow(
    quads: Sequence[np.ndarray],
    texts: Sequence[str],
    image_shape: tuple[int, ...],
    turned: Sequence[bool] | None = None,
) -> list[Regrowth]:
    """The boxes of one read to read again (see the module docstring), at most ``MAX_GROWN``; no
    box in two of them. Reads that hold a date keyword (``BB: 09.``, ``78BF180``) go first, then
    the rest in reading order: a nutrition table's rows (``Fat 3.5``, ``Energy 250``) look cut too,
    and must not take every place before the date's line. A curved line's polygon is neither grown
    nor bridged (its ends follow the curve).

    Args:
        quads: the read's boxes, float32 (4, 2) each (or a curved line's polygon), image pixels.
        texts: each box's read.
        image_shape: the image's shape, ``(height, width, ...)``.
        turned: whether each box was read turned by 180 degrees (``Read.turned``); ``None``: none
            was. A turned read's printed end lies at its box's left in the image, so that is where
            a read cut at its end grows, and the box it is bridged to lies to its left; a box is
            bridged only to one read the same way up.
    """
    flips = list(turned) if turned is not None else [False] * len(quads)
    # Boxes read the other way up are no piece of a printed line.
    other_way = {flip: {i for i, other in enumerate(flips) if other != flip} for flip in (False, True)}
    axes = [None if is_polygon(quad) else _Axis.of(quad) for quad in quads]
    ends = {index: cut for index, text in enumerate(texts) if any(cut := cut_ends(text))}
    used: set[int] = set()
    chosen: list[Regrowth] = []
    for index in sorted(ends, key=lambda index: (not _labelled(texts[index]), index)):
        axis, quad = axes[index], quads[index]
        if axis is None or not axis.along_line or index in used:
            continue
        start, end = ends[index]
        flip = flips[index]
        skip = used | {index} | other_way[flip]
        regrowth = None
        # The printed line goes on to the image's right, or for a turned read to its left.
        if end and (after := _next_on_line(axis, axes, skip, forward=not flip)) is not None:
            regrowth = _bridged(_in_image_order((index, after), flip), quads, texts, image_shape, flip)
        elif start and (before := _next_on_line(axis, axes, skip, forward=flip)) is not None:
            regrowth = _bridged(_in_image_order((before, index), flip), quads, texts, image_shape, flip)
        else:
            grown = grown_quad(quad, *_in_image_order((start, end), flip), image_shape)
            regrowth = None if grown is None else Regrowth((index,), grown, start, end, flip)
        if regrowth is not None:
            regrowth = _absorbing(regrowth, axis, axes, used)
            chosen.append(regrowth)
            used.update(regrowth.boxes)
            if len(chosen) == MAX_GROWN:
                break
    return chosen


def with_grown(
    quads: Sequence[np.ndarray],
    reads: Sequence[Read],
    regrowths: Sequence[Regrowth],
    grown_reads: Sequence[Read],
) -> tuple[list[np.ndarray], list[Read]]:
    """The boxes and reads with each regrowth's box and read in place of its boxes' where its read
    :func:`holds` theirs (in the place of its first box; the others dropped)."""
    replaced: dict[int, tuple[np.ndarray, Read] | None] = {}
    texts = [read.text for read in reads]
    for regrowth, read in zip(regrowths, grown_reads, strict=True):
        text = spliced(regrowth.printed(texts), read.text, regrowth.start, regrowth.end)
        if text is not None:
            first, *rest = regrowth.boxes
            kept = (
                read
                if text == read.text
                else Read(text, min(read.score, reads[first].score), (), read.turned)
            )
            replaced[first] = (regrowth.quad, kept)
            replaced.update(dict.fromkeys(rest))
    kept_quads: list[np.ndarray] = []
    kept_reads: list[Read] = []
    for index, (quad, read) in enumerate(zip(quads, reads, strict=True)):
        if index in replaced:
            if (new := replaced[index]) is None:
                continue
            quad, read = new
        kept_quads.append(quad)
        kept_reads.append(read)
    return kept_quads, kept_reads


def cut_ends(text: str) -> tuple[bool, bool]:
    """Whether a line's read looks cut at its start and at its end (see the module docstring).

    Args:
        text: the recogniser's read of one box.

    Returns:
        ``(start, end)``.
    """
    text = text.strip()
    return bool(_CUT_START.match(text)), bool(_CUT_END.search(text))


def grown_quad(quad: np.ndarray, start: bool, end: bool, image_shape: tuple[int, ...]) -> np.ndarray | None:
    """A text box grown by ``GROW_HEIGHTS`` of its height along its line at its start and/or its
    end, within the image.

    Args:
        quad: float32 (4, 2), clockwise from the top left, in image pixels (the text detector's).
        start, end: which ends to grow.
        image_shape: the image's shape, ``(height, width, ...)``.

    Returns:
        The grown box, float32 (4, 2); ``None`` when the box is taller than wide (vertical text)
        or no end can grow (both at the image's border).
    """
    axis = _Axis.of(quad)
    if axis is None or not axis.along_line:
        return None
    quad = quad.astype(np.float32)
    height_px, width_px = image_shape[:2]
    grown = quad.copy()
    moved = False
    for grow, corners, sign in ((start, (0, 3), -1.0), (end, (1, 2), 1.0)):
        if not grow:
            continue
        reach = min(_room(quad[corner], sign * axis.unit, width_px, height_px) for corner in corners)
        step = min(GROW_HEIGHTS * axis.height, reach)
        if step >= 1.0:
            for corner in corners:
                grown[corner] = quad[corner] + sign * axis.unit * step
            moved = True
    return grown if moved else None


def holds(reads: Sequence[str], grown: str, start: bool = True, end: bool = True) -> bool:
    """Whether a grown box's read reads on where the first reads were cut.

    It must hold each first read whole (letters and digits, no gap) in their order, the first of
    them at its start unless the box grew at its ``start``, the last at its end unless it grew at
    its ``end``; more digits than they have together; and not look cut (:func:`cut_ends`) at an
    end that grew (what it added there is not a date's end either: a misread, or still short).
    """
    text = _NOT_ALNUM.sub("", grown)
    at = 0
    digits = 0
    for read in reads:
        part = _NOT_ALNUM.sub("", read)
        found = text.find(part, at) if part else -1
        if found < 0 or (at == 0 and not start and found > 0):
            return False
        at = found + len(part)
        digits += _digits(part)
    if (not end and at < len(text)) or _digits(text) <= digits:
        return False
    cut_start, cut_end = cut_ends(grown)
    return not (start and cut_start) and not (end and cut_end)


def spliced(reads: Sequence[str], grown: str, start: bool = True, end: bool = True) -> str | None:
    """The text to keep for a grown box, or ``None`` to keep the first reads.

    ``grown`` itself where it :func:`holds` the first reads. Otherwise, for one box grown at its
    end only whose read ends in a number of at least two digits after a word (``HNGOTU 09-10-``):
    the first read's words and the grown read from that number on, where the grown read holds the
    number as first read, after a word too and after as many numbers as in the first read (not a
    lot number earlier on the line: ``LOT 251230 EXP 25``), with more digits after it and no cut end
    (``HNGOTU 09-10-`` + ``HNGOU 09-10-25``: ``HNGOTU 09-10-25``). The words are not read again:
    a script the recogniser does not know reads as other letters on every crop, and the first
    read's are the ones its other lines were read beside.
    """
    if holds(reads, grown, start, end):
        return grown
    if len(reads) != 1 or start or not end:
        return None
    first = reads[0].rstrip()
    number = _END_NUMBER.search(first)
    if number is None or number.start() == 0 or _digits(number.group()) < 2:
        return None
    # The number where the first read was cut: as many numbers before it in both reads (not a lot
    # number or a production date earlier on the line that starts with the same digits).
    before = len(_NUMBERS.findall(first[: number.start()]))
    again = next(
        (
            found
            for found in re.finditer(r"(?<![^\W_])" + re.escape(number.group()), grown)
            if len(_NUMBERS.findall(grown[: found.start()])) == before
        ),
        None,
    )
    if again is None:
        return None
    tail = grown[again.start() :].rstrip()
    if _digits(tail) <= _digits(number.group()) or cut_ends(tail)[1]:
        return None
    return first[: number.start()] + tail


def _next_on_line(axis: _Axis, axes: Sequence[_Axis | None], skip: set[int], forward: bool) -> int | None:
    """The nearest other box that continues ``axis``'s line past its end (``forward``) or before
    its start, within ``BRIDGE_HEIGHTS`` of its height; ``None`` when there is none."""
    best: tuple[float, int] | None = None
    for index, other in enumerate(axes):
        if other is None or index in skip:
            continue
        near = other.start if forward else other.end
        gap = axis.along(near) - axis.width if forward else -axis.along(near)
        within = -axis.height <= gap <= BRIDGE_HEIGHTS * axis.height
        if within and axis.continued_by(other, near) and (best is None or gap < best[0]):
            best = (gap, index)
    return None if best is None else best[1]


def _labelled(text: str) -> bool:
    """Whether a read holds a date keyword, as the parser finds them (misread ones too)."""
    return bool(keywords_in_line(text)[1])


def _absorbing(regrowth: Regrowth, axis: _Axis, axes: Sequence[_Axis | None], used: set[int]) -> Regrowth:
    """``regrowth`` with every other box of its line that its box now covers (the centre within
    its length) among its boxes, in their order along the line: their text is read again in it, and
    kept twice it would be read twice."""
    box = _Axis.of(regrowth.quad)
    if box is None:
        return regrowth
    low, high = sorted((axis.along(box.start), axis.along(box.end)))
    along: dict[int, float] = {}
    for index, other in enumerate(axes):
        if other is None or (index in used and index not in regrowth.boxes):
            continue
        centre = (other.start + other.end) / 2.0
        position = axis.along(centre)
        if index in regrowth.boxes or (low <= position <= high and axis.continued_by(other, centre)):
            along[index] = position
    boxes = tuple(sorted(along, key=along.__getitem__))
    return regrowth if boxes == regrowth.boxes else dataclasses.replace(regrowth, boxes=boxes)


def _bridged(
    pair: tuple[int, int],
    quads: Sequence[np.ndarray],
    texts: Sequence[str],
    image_shape: tuple[int, ...],
    turned: bool = False,
) -> Regrowth:
    """Two boxes of one line, ``pair`` in image order, read as one, from the first's start to the
    second's end, grown where their reads run together (in printed order: right to left for
    ``turned`` reads) look cut (``78BF180`` and ``5`` of ``7BBF180526``: ``78BF1805``)."""
    first, second = (quads[index].astype(np.float32) for index in pair)
    bridge = np.array([first[0], second[1], second[2], first[3]], dtype=np.float32)
    regrowth = Regrowth(pair, bridge, turned=turned)
    start, end = cut_ends("".join(text.strip() for text in regrowth.printed(texts)))
    grown = grown_quad(bridge, *_in_image_order((start, end), turned), image_shape) if start or end else None
    if grown is None:
        return regrowth
    return Regrowth(pair, grown, start, end, turned)


def _in_image_order(pair: tuple[T, T], turned: bool) -> tuple[T, T]:
    """A pair given in printed order (two boxes, or a line's start and end), in the image's order
    along the line: the same, or swapped for a line read turned by 180 degrees."""
    return (pair[1], pair[0]) if turned else pair


def _room(point: np.ndarray, direction: np.ndarray, width: int, height: int) -> float:
    """How far ``point`` can move along the unit ``direction`` and stay within the image."""
    room = np.inf
    for value, step, limit in ((point[0], direction[0], width - 1), (point[1], direction[1], height - 1)):
        if step > 1e-6:
            room = min(room, (limit - value) / step)
        elif step < -1e-6:
            room = min(room, -value / step)
    return max(0.0, float(room))


def _digits(text: str) -> int:
    return sum(character.isdigit() for character in text)
