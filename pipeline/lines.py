"""Lines as printed: the text detector's boxes joined into the lines the label prints.

On close-up labels the text detector often cuts one printed line into several boxes at its word
gaps ("USE" / "BY" / "1 AUG" / "2026"), and dot-matrix lines into fragments ("BB" / "0508.2026");
the parser reads lines, so a date cut in two loses its year or its keyword ("1 AUG" alone is the
next 1 August). Boxes are joined before any parsing, by their geometry relative to their
character height (a box's height):

- same row: the two boxes overlap vertically by most of the smaller one's height, and their
  heights are alike (one size of print);
- a word gap: pieces at most ``WORD_GAP`` character heights apart are one line;
- a wide gap: pieces up to ``WIDE_GAP`` character heights apart are one line unless the gap is a
  column gutter. Spaced-out codes ("VAL  12    08    2026") leave 2 to 4 character widths
  between their fields, and multi-column codes a gutter just as wide ("30.07.25" | "03488" |
  "30.07.26" on realworld-dev photo 054, 1.9 character heights; 3.2 on photo 005), so width
  cannot tell them apart. What does: a column holds a field of its own, a date with its year
  printed, where a spaced-out code's fields are pieces of one date. A wide gap beside a whole
  date (the parser's judgement) is a gutter, and so is a wide gap right above or below one that
  overlaps it across (the rest of the column);
- a legend and its value off their row: packs preprint their legends (``BATCH NO.:``, ``PKD:``,
  ``USE BY:``) beside a window into which a coder prints the values later, never quite on the
  legends' rows (realworld7 001 prints each value 0.6 to 0.7 of a line above its legend; 003 its
  ``USE BY`` value 0.6 above). Read in reading order, each value then comes before its legend,
  and the parser binds each legend to the next row's value: a production date read as the expiry
  (realworld7 001 turned a quarter), an expiry date read as a lot. A box that is a date keyword
  alone (:func:`_legend`) and the box with a digit beside it and higher, at most ``LEGEND_GAP``
  character heights away, that overlaps its height by at least ``_LEGEND_MIN_OVERLAP`` of the
  smaller box (and less than a row's ``_MIN_ROW_OVERLAP``: on one row, or with the value lower,
  the reading order already puts the legend first), each the other's most overlapping, are one
  line;
- tall narrow boxes (vertical text, whose crop the OCR laid down to read) and boxes too tall for
  their text (a tilted line: its axis-aligned box does not say where its row is) are left as
  they are.

Each box joins at most its nearest neighbour on each side, and only when each is the other's
nearest, so a line never forks into two rows. Lines keep their reading order.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.dates import parse_dates
from pipeline.dates.keywords import Keyword, keywords_in_line
from pipeline.types import BoundingBox, OcrLine

__all__ = [
    "LEGEND_GAP",
    "MIN_CHARACTER_ASPECT",
    "VERTICAL_ASPECT",
    "WIDE_GAP",
    "WORD_GAP",
    "assemble_lines",
    "is_vertical",
]

# A box at least this many times taller than wide holds vertical text: pipeline/ocr.py lays such
# a crop down before reading it (its _crop_quad rule), so its text runs down the box, not along a row.
VERTICAL_ASPECT = 1.5
# A box narrower than this many heights per character of its text is too tall for its text: a
# tilted line (its axis-aligned box grows with the tilt, and overlaps the rows above and below)
# or two lines in one box. Such a box does not say where its row is, and is left as it is.
# Upright print measures 0.39 to 1.1 (dates and keywords on realworld-dev; the lowest is
# "26.10.2026", for its narrow dots); the labels of the UK set, photographed at about 20 degrees,
# 0.1 to 0.3 ("Use by" 0.30 beside "of the reference intake*" 0.17).
MIN_CHARACTER_ASPECT = 0.35
# The widest gap, in character heights (the smaller box's height), between two pieces of one line
# in any case: the word gaps where the detector cut printed lines on realworld-dev (keyword and
# date, code and digit) measure 0.0 to 0.8. A
# keyword printed further from its date (1.3 to 1.8 there) stays a line of its own beside a whole
# date, as before: the parser binds a keyword on the line before a date.
WORD_GAP = 1.0
# The widest gap, in character heights, between two pieces that are not whole dates each: a
# field gap of 4 character widths is 3 character heights (a digit is about 0.75 of a box's height,
# in dot-matrix 5x7 print and in the Hershey fonts alike), with half a height of margin for the
# detector's padding.
WIDE_GAP = 3.5
# Two boxes are on one row when their vertical overlap is at least this share of the smaller
# box's height. Pieces of one printed line overlap by 0.84 to 1.0 on realworld-dev, tilted can
# lids included; lines one above the other by far less.
_MIN_ROW_OVERLAP = 0.6
# Boxes of one size of print differ in height by at most this factor ("by" reaches lower than
# "USE"): 1.0 to 1.3 between pieces of one line on realworld-dev. A dot-matrix digit whose lower
# dots the detector missed can fall below it (photo 050's "5", 0.58 of "7BBF180" beside it) and
# is not joined.
_MAX_HEIGHT_RATIO = 1.5
# Neighbouring pieces may overlap horizontally by up to this many character heights: the
# detector pads each box, and a line cut by a reading window's edge can be read on both sides.
_MAX_OVERLAP = 0.5
# A box whose centre is this many of its heights above or below another's cannot share a row
# with it (this follows from _MIN_ROW_OVERLAP and _MAX_HEIGHT_RATIO: 0.65); used to
# find a box's row neighbours by bisection instead of comparing every pair of boxes.
_ROW_REACH = 0.65
# The widest gap, in character heights, between a legend and the value printed beside it off its
# row: a label's legend column and its coder window are further apart than a line's words
# (realworld7 001: 2.3 to 2.5; 003: 2.9 to 3.6, the window's left margin included).
LEGEND_GAP = 5.0
# A legend and its value off their row overlap down the photo by at least this share of the smaller
# box's height (realworld7 001: 0.27 to 0.37; 003: 0.42): less, and the value may as well be the
# next row's. Each must also be the other's most overlapping, so a value between two legends goes
# to the nearer.
_LEGEND_MIN_OVERLAP = 0.2
# A coder's print and a label's legends are two sizes of print: up to this factor apart in height.
_LEGEND_HEIGHT_RATIO = 2.0
# Whole dates are asked of the parser with a year window wide enough that no printed year falls
# outside it; only whether a printed-year date is there matters, so any reference day will do.
_ANY_DAY = dt.date(2000, 1, 1)
_ALL_YEARS = 200
# A row is just above or below another when the space between them is at most this many
# character heights: a keyword row over its dates is 0.9 (photo 005) to 1.4 (photo 054) on
# realworld-dev.
_LINE_SPACING = 1.5


@dataclass(frozen=True, slots=True)
class _Piece:
    """One OCR line, with the geometry the joining rules read."""

    index: int
    line: OcrLine

    @property
    def height(self) -> float:
        return self.line.box.y2 - self.line.box.y1

    @property
    def centre_y(self) -> float:
        return (self.line.box.y1 + self.line.box.y2) / 2


def assemble_lines(lines: Sequence[OcrLine]) -> tuple[OcrLine, ...]:
    """Joins the boxes of one printed line into one line, keeping the lines' reading order.

    Args:
        lines: OCR lines of one photo, in photo pixels and in reading order, from any mix of
            reads (reading windows, the whole photo), as the pipeline has them.

    Returns:
        The printed lines, each where the first of its pieces stood. The order is the callers':
        a read orders its lines by their rotated boxes (pipeline/ocr.py ``reading_order``), which
        the upright boxes here cannot redo on a tilted label (re-sorting by them put a date
        before its keyword on a UK held-out photo). A joined line's text is its pieces' text,
        left to right (right to left where every piece was read upside down), one space between
        them; its box the union of theirs; its confidence their
        mean weighted by characters; its ``detection_index`` theirs when they agree, else the
        lowest (the best detection, as merged reading windows keep). Lines that join nothing come
        back as they were. Apply it once, to the OCR's own lines: a joined line's box is taller
        than its pieces', and a second pass would join it to lines its pieces were rightly kept
        from (on 6 of the 430 reads of the benchmark photos).

    Cost: each box is compared only with the boxes within its row's reach or, when fewer, with
    those starting within the widest gap after it (both found by bisection): about n log n for n
    boxes laid out as text is: 1000 boxes in one row, in one column or in a grid take under 0.1 s
    on the 2-core development VM (a read keeps at most 1000, pipeline/ocr.py ``DET_MAX_BOXES``).
    """
    pieces = [_Piece(i, line) for i, line in enumerate(lines)]
    gutters = _gutters(pairs := _neighbours(pieces), pieces)
    links = {pair.left: pair.right for pair in pairs if pair not in gutters}
    links.update(_legend_links(pieces, links))
    chains: dict[int, list[int]] = {}  # each piece's chain, left to right
    for start in sorted(set(links) - set(links.values())):
        chain = [start]
        while chain[-1] in links:
            chain.append(links[chain[-1]])
        for index in chain:
            chains[index] = chain
    assembled = []
    for index, line in enumerate(lines):
        chain = chains.get(index)
        if chain is None:
            assembled.append(line)
        elif index == min(chain):  # the chain's first piece in reading order
            assembled.append(_joined([lines[i] for i in chain]))
    return tuple(assembled)


@dataclass(frozen=True, slots=True)
class _Pair:
    """Two pieces side by side on one row, each the other's nearest there."""

    left: int
    right: int
    gap: float  # pixels, negative where the boxes overlap
    height: float  # the character height: the smaller box's height

    @property
    def wide(self) -> bool:
        return self.gap > WORD_GAP * self.height


def _neighbours(pieces: Sequence[_Piece]) -> list[_Pair]:
    """Each upright piece with its nearest right neighbour on its row, where each is the other's
    nearest: a line never forks into two rows."""
    upright = [p for p in pieces if _upright(p.line)]
    # A piece's neighbours lie within its row's reach down the photo and within the widest gap
    # after its end across it: whichever of the two slices is smaller is searched.
    by_height = sorted(upright, key=lambda p: p.centre_y)
    centres = [p.centre_y for p in by_height]
    across = sorted(upright, key=lambda p: p.line.box.x1)
    starts = [p.line.box.x1 for p in across]
    right: dict[int, _Pair] = {}
    left: dict[int, _Pair] = {}
    for a in upright:
        reach, end = _ROW_REACH * a.height, a.line.box.x2
        row = slice(
            bisect.bisect_left(centres, a.centre_y - reach), bisect.bisect_right(centres, a.centre_y + reach)
        )
        after = slice(
            bisect.bisect_left(starts, end - _MAX_OVERLAP * a.height),
            bisect.bisect_right(starts, end + WIDE_GAP * a.height),
        )
        nearby = by_height[row] if row.stop - row.start <= after.stop - after.start else across[after]
        for b in nearby:
            pair = _side_by_side(a, b)
            if pair is None:
                continue
            if a.index not in right or pair.gap < right[a.index].gap:
                right[a.index] = pair
            if b.index not in left or pair.gap < left[b.index].gap:
                left[b.index] = pair
    return [pair for pair in right.values() if left[pair.right] is pair]


def _side_by_side(a: _Piece, b: _Piece) -> _Pair | None:
    """The pair when ``b`` stands right of ``a`` on the same row, in the same size of print, at
    most ``WIDE_GAP`` character heights away; else None."""
    box_a, box_b = a.line.box, b.line.box
    if box_b.x1 + box_b.x2 <= box_a.x1 + box_a.x2 or box_b.x2 <= box_a.x2:
        return None  # b's centre or end is not right of a's
    low, high = sorted((a.height, b.height))
    if low <= 0 or high > _MAX_HEIGHT_RATIO * low:
        return None
    overlap = min(box_a.y2, box_b.y2) - max(box_a.y1, box_b.y1)
    gap = box_b.x1 - box_a.x2
    if overlap < _MIN_ROW_OVERLAP * low or not -_MAX_OVERLAP * low <= gap <= WIDE_GAP * low:
        return None
    return _Pair(a.index, b.index, gap, low)


def _legend_links(pieces: Sequence[_Piece], links: dict[int, int]) -> dict[int, int]:
    """Each legend joined to its value off their row (see the module docstring), as links from the
    left piece to the right one: the value stands right of its legend, or left of it where both
    were read upside down (printed right to left). Only pieces that no other link joins on that
    side take part."""
    joined_left = set(links.values())
    keyed = {p.index: keywords_in_line(p.line.text) for p in pieces}
    # A legend's box need only be level: its few letters, colon and stops set in a narrow font fall
    # short of MIN_CHARACTER_ASPECT in a box the detector padded (realworld7 001's "PKD:" and
    # "USE BY:"), and a box taller than its row overlaps less of its value, not more.
    legends = [p for p in pieces if not is_vertical(p.line.box) and _legend(*keyed[p.index])]
    # A value holds a digit and no keyword: a line that names its own date ("PKD: 05/2026") or a
    # lot ("L2612345") is no legend's value.
    values = [
        p
        for p in pieces
        if _upright(p.line) and any(char.isdigit() for char in p.line.text) and not keyed[p.index][1]
    ]
    by_height = sorted(values, key=lambda p: p.centre_y)
    centres = [p.centre_y for p in by_height]
    across = sorted(values, key=lambda p: p.line.box.x1)
    starts = [p.line.box.x1 for p in across]
    ends = sorted(values, key=lambda p: p.line.box.x2)
    stops = [p.line.box.x2 for p in ends]
    best_value: dict[int, tuple[float, _Piece]] = {}
    best_legend: dict[int, tuple[float, _Piece]] = {}
    for legend in legends:
        # Values that overlap the legend's height lie within its height and the tallest value's;
        # values after it start (or, upside down, end) at most _MAX_OVERLAP before it and
        # LEGEND_GAP after it, in heights of the smaller box, so of the legend's at most. Whichever
        # of the two slices is smaller is searched, so a row of 1000 boxes is no 1000 x 1000 search.
        reach, box, height = (0.5 + _LEGEND_HEIGHT_RATIO / 2) * legend.height, legend.line.box, legend.height
        low, high = (
            bisect.bisect_left(centres, legend.centre_y - reach),
            bisect.bisect_right(centres, legend.centre_y + reach),
        )
        row = by_height[low:high]
        if legend.line.upside_down:
            low = bisect.bisect_left(stops, box.x1 - LEGEND_GAP * height)
            after = ends[low : bisect.bisect_right(stops, box.x1 + _MAX_OVERLAP * height)]
        else:
            low = bisect.bisect_left(starts, box.x2 - _MAX_OVERLAP * height)
            after = across[low : bisect.bisect_right(starts, box.x2 + LEGEND_GAP * height)]
        for value in row if len(row) <= len(after) else after:
            share = _legend_overlap(legend, value)
            if share is None:
                continue
            if legend.index not in best_value or share > best_value[legend.index][0]:
                best_value[legend.index] = (share, value)
            if value.index not in best_legend or share > best_legend[value.index][0]:
                best_legend[value.index] = (share, legend)
    found: dict[int, int] = {}
    owing: set[int] = set()  # legends whose best value may be the legend above's, printed lower
    # Top to bottom as printed, so that a legend above is judged before the one below it.
    for legend in sorted(legends, key=lambda p: -p.centre_y if p.line.upside_down else p.centre_y):
        if legend.index not in best_value:
            continue
        share, value = best_value[legend.index]
        # Each the other's most overlapping, whichever way: a value on its legend's row, or printed
        # lower, already comes after it in reading order, where the parser binds them; joined, a
        # value printed most of a row lower than its own legend would go to the next one.
        if best_legend[value.index][1] is not legend or share >= _MIN_ROW_OVERLAP:
            continue
        if not _printed_higher(value, legend):
            continue
        if _owed_above(legend, value, legends, best_value, found, owing):
            owing.add(legend.index)
            continue
        left, right = (value, legend) if legend.line.upside_down else (legend, value)
        if left.index not in links and right.index not in joined_left:
            found[left.index] = right.index
    return found


def _owed_above(
    legend: _Piece,
    value: _Piece,
    legends: Sequence[_Piece],
    best_value: dict[int, tuple[float, _Piece]],
    found: dict[int, int],
    owing: set[int],
) -> bool:
    """Whether ``value``, printed between ``legend`` and the legend just above it in its column,
    may as well be that legend's value printed lower: the legend above is left with no value of its
    own (none joined to it, none overlapping it but this one). A coder's window drifts one way for
    all its rows: values printed most of a row lower than their legends each stand higher than
    the next legend down, and the top legend is left without one (a review's ``MFG:`` / ``EXP:`` /
    ``LOT:`` over values 0.55 to 0.75 of a row lower; realworld6 001's batch number, printed
    between ``Batch No.`` and ``Mfg. Date``). A legend above whose own best value was itself
    ``owing`` further up has none of its own either."""
    sign = -1.0 if legend.line.upside_down else 1.0
    box = legend.line.box
    above = [
        other
        for other in legends
        if other is not legend
        and other.line.upside_down == legend.line.upside_down
        and min(other.line.box.x2, box.x2) > max(other.line.box.x1, box.x1)  # one column
        and 0 < sign * (legend.centre_y - other.centre_y) <= 3 * legend.height
    ]
    if not above:
        return False
    nearest = min(above, key=lambda other: sign * (legend.centre_y - other.centre_y))
    if sign * (value.centre_y - nearest.centre_y) <= 0:
        return False  # the value stands higher than the legend above too
    if nearest.index in found or nearest.index in found.values():
        return False
    own = best_value.get(nearest.index)
    return own is None or own[1] is value or nearest.index in owing


def _legend_overlap(legend: _Piece, value: _Piece) -> float | None:
    """How much of the smaller box's height ``legend`` and ``value`` share down the photo, where
    ``value`` may be the value printed beside the legend (see the module docstring): after it
    along the row, within ``LEGEND_GAP``, at least ``_LEGEND_MIN_OVERLAP``; else None."""
    box_l, box_v = legend.line.box, value.line.box
    upside_down = legend.line.upside_down
    if upside_down != value.line.upside_down:
        return None
    low, high = sorted((legend.height, value.height))
    if low <= 0 or high > _LEGEND_HEIGHT_RATIO * low:
        return None
    # Printed after the legend: right of it, or left of it upside down.
    gap = box_l.x1 - box_v.x2 if upside_down else box_v.x1 - box_l.x2
    if not -_MAX_OVERLAP * low <= gap <= LEGEND_GAP * low:
        return None
    share = (min(box_l.y2, box_v.y2) - max(box_l.y1, box_v.y1)) / low
    return share if share >= _LEGEND_MIN_OVERLAP else None


def _printed_higher(value: _Piece, legend: _Piece) -> bool:
    """Whether ``value`` is printed higher than ``legend``: its centre above the legend's in the
    photo, or below it where both were read upside down."""
    return (value.centre_y < legend.centre_y) != legend.line.upside_down


def _legend(text: str, spans: Sequence[Keyword]) -> bool:
    """Whether a box's text is a date keyword alone (``USE BY:``, ``PKD.:``, ``BATCH NO.``,
    ``MFG. DATE :``), as the parser finds keywords: no digit, and no letter outside a keyword.

    Args:
        text, spans: the box's text and its keywords, as :func:`keywords_in_line` gives them.
    """
    if any(char.isdigit() for char in text):
        return False
    if not spans:
        return False
    covered = set()
    for keyword in spans:
        covered.update(range(keyword.start, keyword.end))
    return all(not char.isalnum() for i, char in enumerate(text) if i not in covered)


def _gutters(pairs: Sequence[_Pair], pieces: Sequence[_Piece]) -> set[_Pair]:
    """The wide gaps that part two columns, not two fields of one line: a wide gap beside a whole
    date (a field of its own), and a wide gap in the row just above or below such a gutter that
    overlaps it across (one gutter running down the code: "LOT A123" over "MFD 01/04/26", "12:30"
    over "EXP 01/07/27")."""
    wide = [pair for pair in pairs if pair.wide]
    dated = sorted(
        (pair for pair in wide if _whole_date(pieces[pair.left]) or _whole_date(pieces[pair.right])),
        key=lambda pair: _span(pair, pieces).y1,
    )
    if not dated:
        return set()
    # Gutters are compared only with the rows within reach above and below, found by bisection.
    spans = [_span(gutter, pieces) for gutter in dated]
    tops = [span.y1 for span in spans]
    tallest = max(span.y2 - span.y1 for span in spans)
    gutters = set(dated)
    for pair in wide:
        if pair in gutters:
            continue
        span, reach = _span(pair, pieces), _LINE_SPACING * pair.height
        start = bisect.bisect_left(tops, span.y1 - reach - tallest)
        stop = bisect.bisect_right(tops, span.y2 + reach)
        for gutter, other in zip(dated[start:stop], spans[start:stop], strict=True):
            between = max(other.y1 - span.y2, span.y1 - other.y2)  # rows apart, not one row
            across = min(span.x2, other.x2) - max(span.x1, other.x1)
            if across > 0 and 0 <= between <= _LINE_SPACING * min(pair.height, gutter.height):
                gutters.add(pair)
                break
    return gutters


def _span(pair: _Pair, pieces: Sequence[_Piece]) -> BoundingBox:
    """The gap of a pair across (x1, x2: where its left piece ends and its right piece starts) and
    the pair's extent down the photo (y1, y2)."""
    left, right = pieces[pair.left].line.box, pieces[pair.right].line.box
    return BoundingBox(left.x2, min(left.y1, right.y1), right.x1, max(left.y2, right.y2))


def _upright(line: OcrLine) -> bool:
    """Whether the box holds one row of level text (see ``VERTICAL_ASPECT`` and
    ``MIN_CHARACTER_ASPECT``): only such boxes are joined (and legends, :func:`_legend_links`)."""
    box = line.box
    width, height = box.x2 - box.x1, box.y2 - box.y1
    return not is_vertical(box) and width >= MIN_CHARACTER_ASPECT * len(line.text.strip()) * height


def is_vertical(box: BoundingBox) -> bool:
    """Whether the box holds vertical text (see ``VERTICAL_ASPECT``)."""
    return box.y2 - box.y1 >= VERTICAL_ASPECT * (box.x2 - box.x1)


def _whole_date(piece: _Piece) -> bool:
    """Whether the piece's text holds a date with its year printed: a field of its own."""
    found = parse_dates(piece.line.text, _ANY_DAY, years_back=_ALL_YEARS, years_ahead=_ALL_YEARS)
    return any(not date.year_inferred for date in found.candidates)


def _joined(chain: Sequence[OcrLine]) -> OcrLine:
    """One line of pieces given left to right (see :func:`assemble_lines`). Pieces that were all
    read turned by 180 degrees (``OcrLine.upside_down``) stand upside down in the photo, their
    printed order right to left: their texts are joined in that order (``2018.`` and ``6.12`` of
    an upside-down ``2018. 6.12``, left to right in the photo ``6.12`` then ``2018.``, had read
    June 2012: realworld6 005 sent turned)."""
    upside_down = all(line.upside_down for line in chain)
    printed = list(reversed(chain)) if upside_down else chain
    texts = [line.text.strip() for line in printed]
    characters = sum(len(text) for text in texts)
    confidence = sum(line.confidence * len(text) for line, text in zip(printed, texts, strict=True))
    indices = {line.detection_index for line in chain}
    return OcrLine(
        text=" ".join(texts),
        confidence=confidence / characters if characters else 0.0,
        box=BoundingBox(
            x1=min(line.box.x1 for line in chain),
            y1=min(line.box.y1 for line in chain),
            x2=max(line.box.x2 for line in chain),
            y2=max(line.box.y2 for line in chain),
        ),
        detection_index=indices.pop() if len(indices) == 1 else min(i for i in indices if i >= 0),
        # Read turned only when every piece was: the line as printed stood upside down.
        upside_down=upside_down,
    )
