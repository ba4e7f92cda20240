"""A sideways or upside-down photo: turned upright before it is read again.

A photo sent without its EXIF orientation (a camera frame, a photo an app or a data set stripped,
a phone held sideways) shows its text turned a quarter. The OCR still finds the lines and lays
each crop down to read it (pipeline/ocr.py), but little else works on such a photo: the date
detector was trained on upright packaging, the pieces of a printed line are not joined
(pipeline/lines.py leaves vertical boxes as they are), cut lines are not grown, and the angle
classifier that says which way a laid-down crop reads is wrong as often as not on quarter turns.
realworld-dev's photos sent as 1,024-pixel frames turned a quarter clockwise read 42 of 55 dates,
a quarter anticlockwise 39, against 51 upright (bench/RESULTS.md, "nineteenth session").

So the whole-photo read, which reads every line of the photo, also says whether the photo is
sideways (:func:`sideways`): most of its text in boxes taller than wide. Which way up is then
told by the recogniser itself (:func:`turn_from_reads`): the longest vertical lines are read laid
down both ways (:func:`laid_down_both_ways`), and the way whose reads are surer is the way the
text runs. The pipeline then reads the photo again turned upright, from the start.

A photo upside down (a product on a conveyor, a jar photographed from its far side, a frame from
a camera mounted upside down) keeps its lines level, and the angle classifier turns each crop
that reads better turned (pipeline/ocr.py). Line by line that reads most of the text, but not
all: the date detector was trained on upright packaging and misses dates upside down, and the
classifier leaves some upside-down print (dot-matrix above all) as cut. realworld-dev's photos
sent as 1,024-pixel frames upside down read 48 of 55 dates, against 51 upright. So when most of
the text the whole-photo read read well was read turned (:func:`upside_down`), the photo is
turned by 180 degrees and read again from the start too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.ctc import Read
from pipeline.dates.keywords import keywords_in_line
from pipeline.lines import is_vertical
from pipeline.ocr import CROP_MAX_PIXELS, CROP_MAX_SIDE_PX, orientation_score
from pipeline.types import OcrLine
from pipeline.variants import Step

__all__ = [
    "DIRECTION_LINES",
    "MIN_LINE_CHARACTERS",
    "MIN_LINE_CONFIDENCE",
    "MIN_SIDEWAYS_CHARACTERS",
    "MIN_SIDEWAYS_LINES",
    "MIN_UPSIDE_DOWN_LINES",
    "SIDEWAYS_SHARE",
    "UPSIDE_DOWN_SHARE",
    "laid_down_both_ways",
    "sideways",
    "turn_from_reads",
    "upside_down",
]

# A photo is sideways when at least this share of the characters its whole read read well (lines
# of MIN_LINE_CHARACTERS or more, read at MIN_LINE_CONFIDENCE or more) are in vertical boxes.
# Measured on realworld-dev's photos sent as 1,024-pixel frames (bench/RESULTS.md, "nineteenth
# session"): turned a quarter, 46 of 55 are judged sideways (most have 0.95 to 1.0 of their text
# vertical); the others read too little text, or their own text ran down the photo. Upright, two
# are: photos taken with their label's lines running down them, read right turned. Of the other
# real sets as published, realworld3 005 and realworld5 008 (a code turned 90 degrees on a jar
# lid); no UK label photo, and no photo of realworld2 or 4.
SIDEWAYS_SHARE = 0.6
# ...and at least this many such characters in vertical boxes, in at least two lines: one
# vertical word (a brand down a can's side) is not a photo turned.
MIN_SIDEWAYS_CHARACTERS = 12
MIN_SIDEWAYS_LINES = 2
MIN_LINE_CHARACTERS = 3
MIN_LINE_CONFIDENCE = 0.6
# The vertical lines, longest text first, read both ways to tell which way the text runs. Each
# costs two recogniser crops.
DIRECTION_LINES = 6
# A photo is upside down when at least this share of the characters its whole read read well in
# level lines were read turned by 180 degrees, in at least MIN_UPSIDE_DOWN_LINES lines. Measured
# on realworld-dev's photos sent as 1,024-pixel frames (bench/RESULTS.md, "twentieth session"):
# upside down, 40 of 55 are judged so (the others read too little text, or the classifier left
# their print as cut); upright, none is.
UPSIDE_DOWN_SHARE = 2 / 3
MIN_UPSIDE_DOWN_LINES = 3


# What follows a keyword that names a maker, not a date: "MANUFACTURED BY", "PACKED BY".
_NAMES_A_MAKER = re.compile(r"[\s.:]*BY\b")


def _characters(line: OcrLine) -> int:
    return sum(not character.isspace() for character in line.text)


def _counted(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """The lines read well enough to count as evidence."""
    return [
        line
        for line in lines
        if _characters(line) >= MIN_LINE_CHARACTERS and line.confidence >= MIN_LINE_CONFIDENCE
    ]


def sideways(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """The vertical lines of a whole-photo read whose text runs down the photo, longest first, at
    most ``DIRECTION_LINES``; empty when the photo is not sideways.

    A pack may print text two ways (a recipe panel across its label's panel), and then most of
    its text need not run the way its date does: realworld7 002 turned a quarter (a spice pouch
    whose legends and dates run down the photo beside a recipe twice as long across it) was read
    upside down instead, and answered its packing date. The date's legends say which way the date
    runs, so the lines that hold a date keyword (``Use By``, ``Lot No.``, ``Date of Packaging``)
    are weighed on their own too.

    Args:
        lines: the lines of a read of the whole photo, boxes in its pixels.

    Returns:
        Empty unless at least ``SIDEWAYS_SHARE`` of the characters of the lines read well, or of
        those of them that hold a date keyword, are in vertical boxes (``VERTICAL_ASPECT``), in
        at least ``MIN_SIDEWAYS_LINES`` lines, and at least ``MIN_SIDEWAYS_CHARACTERS`` of the
        characters read well are in vertical boxes.
    """
    counted = _counted(lines)
    vertical = [line for line in counted if is_vertical(line.box)]
    if sum(_characters(line) for line in vertical) < MIN_SIDEWAYS_CHARACTERS:
        return []
    labelled = [line for line in counted if _labelled(line.text)]
    if not (_mostly_vertical(counted) or _mostly_vertical(labelled)):
        return []
    return sorted(vertical, key=_characters, reverse=True)[:DIRECTION_LINES]


def _mostly_vertical(lines: Sequence[OcrLine]) -> bool:
    """Whether at least ``SIDEWAYS_SHARE`` of the characters of ``lines`` are in vertical boxes, in
    at least ``MIN_SIDEWAYS_LINES`` lines."""
    vertical = [line for line in lines if is_vertical(line.box)]
    down = sum(_characters(line) for line in vertical)
    return len(vertical) >= MIN_SIDEWAYS_LINES and down >= SIDEWAYS_SHARE * sum(map(_characters, lines))


def _labelled(text: str) -> bool:
    """Whether a line holds a date keyword, as the parser finds them (misread ones too), that
    labels a date: not ``Manufactured by:`` or ``Packed by:`` before an address, which a pack
    may print down a side strip beside an upright label (a review's case)."""
    restored, keywords = keywords_in_line(text)
    return any(_NAMES_A_MAKER.match(restored, keyword.end) is None for keyword in keywords)


def upside_down(lines: Sequence[OcrLine]) -> bool:
    """Whether a whole-photo read says the photo is upside down: at least ``UPSIDE_DOWN_SHARE`` of
    the characters of its level lines read well (``MIN_LINE_CHARACTERS`` or more, at
    ``MIN_LINE_CONFIDENCE`` or more; not vertical boxes, which :func:`sideways` judges) were read
    turned by 180 degrees (``OcrLine.upside_down``), in at least ``MIN_UPSIDE_DOWN_LINES`` lines.

    Args:
        lines: the lines of a read of the whole photo.
    """
    level = [line for line in _counted(lines) if not is_vertical(line.box)]
    turned = [line for line in level if line.upside_down]
    total = sum(_characters(line) for line in level)
    return len(turned) >= MIN_UPSIDE_DOWN_LINES and sum(map(_characters, turned)) >= UPSIDE_DOWN_SHARE * total


def laid_down_both_ways(image: np.ndarray, lines: Sequence[OcrLine]) -> list[np.ndarray]:
    """The crops of ``lines`` (vertical, from :func:`sideways`) laid down anticlockwise, then the
    same crops laid down clockwise: ``2 * len(lines)`` ``(h, w, 3)`` uint8 crops, for
    :func:`turn_from_reads`. A crop is the line's box within ``image`` (at least a pixel each
    way), shrunk within ``CROP_MAX_PIXELS`` and ``CROP_MAX_SIDE_PX`` as the OCR cuts its crops
    (the recogniser reads them 48 px high: more only costs memory)."""
    height, width = image.shape[:2]
    crops = []
    for line in lines:
        box = line.box
        x1, y1 = min(width - 1, max(0, int(box.x1))), min(height - 1, max(0, int(box.y1)))
        x2, y2 = max(x1 + 1, min(width, int(np.ceil(box.x2)))), max(y1 + 1, min(height, int(np.ceil(box.y2))))
        crop = image[y1:y2, x1:x2]
        shrink = min(
            1.0, CROP_MAX_SIDE_PX / max(crop.shape[:2]), math.sqrt(CROP_MAX_PIXELS / crop[..., 0].size)
        )
        if shrink < 1.0:
            size = (max(1, int(crop.shape[1] * shrink)), max(1, int(crop.shape[0] * shrink)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        crops.append(crop)
    anticlockwise = [cv2.rotate(crop, cv2.ROTATE_90_COUNTERCLOCKWISE) for crop in crops]
    clockwise = [cv2.rotate(crop, cv2.ROTATE_90_CLOCKWISE) for crop in crops]
    return anticlockwise + clockwise


def turn_from_reads(reads: Sequence[Read]) -> Step | None:
    """The turn that brings a sideways photo upright, from the reads of
    :func:`laid_down_both_ways`'s crops (in its order).

    Text that reads better laid down anticlockwise runs down the photo with its tops facing right:
    the photo was turned a quarter clockwise and is turned back anticlockwise (``TURN270``); the
    other way, ``TURN90``. Each way is scored by its reads' :func:`pipeline.ocr.orientation_score`
    (mean character probability, more for a date-like read) summed over the lines. ``None``:
    both ways score the same (no text read either way).

    Raises:
        ValueError: an odd number of reads.
    """
    if len(reads) % 2:
        raise ValueError(f"{len(reads)} reads: each line is read both ways")
    half = len(reads) // 2
    anticlockwise = sum(orientation_score(read) for read in reads[:half])
    clockwise = sum(orientation_score(read) for read in reads[half:])
    if anticlockwise == clockwise:
        return None
    return Step.TURN270 if anticlockwise > clockwise else Step.TURN90
