"""Where to read around detections: each date box becomes a reading window on the photo.

A date box is tight around the date, but OCR needs more than the box:
- text detection needs background around the glyphs, so the window is padded on every side;
- the word that says what the date is ("Use by", "Best before", "EXP") is printed above or before
  it, so the window reaches further up and to the left: without it the parser cannot tell an
  expiry date from a production date.
Windows of one photo that overlap (two boxes on one long date, a date and its keyword) are merged
and read once: text in the shared part would otherwise be read, and reported, twice.

A detector box can cover only part of a printed line (the date of ``PRO.DATE: 12 APR 2024``): its
window then cuts the line, and what is left can name another date than the one printed ("E: 12
APR 2024", an expiry date), or lose the words that say how to read it ("Y 06 10 2024" of a US
"BEST IF USED BY 06 10 2024", read day first). A window whose read holds a dated line that runs
off its left or right side is grown along that line and read again (:func:`grown`), unless the
new read loses a date the first read held (:func:`keeps_dates`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.types import Detection, OcrLine

__all__ = ["MAX_TEXT_WINDOWS", "Window", "cut", "grown", "keeps_dates", "reading_windows", "text_windows"]

# A printed date is at least this many times wider than its text is high ("1/26", "1 JAN"). A box
# can hold more than one line (a date with the time printed under it), so its text height is
# taken as the smaller of its height and its width over this: padding and context then scale with
# the print, not with how many lines the box holds.
_MIN_DATE_ASPECT = 3.0


@dataclass(frozen=True, slots=True)
class Window:
    """A rectangle of the photo to read, in whole pixels, and the detection it was made for."""

    x1: int
    y1: int
    x2: int
    y2: int
    detection_index: int  # the best (lowest-index) detection among those merged into it

    def overlap(self, other: Window) -> int:
        """Pixels shared with ``other``."""
        width = min(self.x2, other.x2) - max(self.x1, other.x1)
        height = min(self.y2, other.y2) - max(self.y1, other.y1)
        return max(0, width) * max(0, height)

    def union(self, other: Window) -> Window:
        """The smallest window holding both, under the better detection."""
        return Window(
            min(self.x1, other.x1),
            min(self.y1, other.y1),
            max(self.x2, other.x2),
            max(self.y2, other.y2),
            min(self.detection_index, other.detection_index),
        )


def _window(
    detection: Detection, index: int, shape: tuple[int, ...], padding: float, context: float
) -> Window:
    height, width = shape[:2]
    box = detection.box
    text_h = min(box.y2 - box.y1, (box.x2 - box.x1) / _MIN_DATE_ASPECT)
    pad, reach = padding * text_h, (padding + context) * text_h
    x1, y1 = max(0, int(box.x1 - reach)), max(0, int(box.y1 - reach))
    x2 = min(width, max(x1 + 1, round(box.x2 + pad)))
    y2 = min(height, max(y1 + 1, round(box.y2 + pad)))
    return Window(x1, y1, x2, y2, index)


def _merge(windows: list[Window]) -> list[Window]:
    merged: list[Window] = []
    for window in windows:
        # A union can reach windows that neither part touched: absorb until nothing overlaps.
        touching = [other for other in merged if other.overlap(window) > 0]
        while touching:
            for other in touching:
                merged.remove(other)
                window = window.union(other)
            touching = [other for other in merged if other.overlap(window) > 0]
        merged.append(window)
    return merged


def reading_windows(
    shape: tuple[int, ...], detections: Sequence[Detection], padding: float, context: float
) -> list[Window]:
    """The windows to read for a photo's detections, best detection first.

    Args:
        shape: the photo's shape, ``(height, width, ...)``.
        detections: best first, in photo pixels.
        padding: added on every side, as a fraction of the date's text height.
        context: added above and to the left on top of ``padding``, in text heights.
    """
    windows = [_window(d, i, shape, padding, context) for i, d in enumerate(detections)]
    return sorted(_merge(windows), key=lambda w: w.detection_index)


# Text windows (text_windows): around a line of the photo's read that holds digits, this many of
# the line's heights on every side, where a code's other lines (its date, the date's keyword) are
# printed; at most this many windows a photo, those around the lines with the most digits first;
# none that would cover more than this share of the photo, which is no closer look.
_TEXT_REACH = 4.0
MAX_TEXT_WINDOWS = 2
# A line's text height is at most its box's height over this many characters of it: Latin and
# digit glyphs are about 0.6 of their height wide. A slanted line's upright box is taller than its
# text, by as much as the slant takes over the line's length.
_GLYPH_ASPECT = 0.6
_MAX_TEXT_SHARE = 0.25


def text_windows(shape: tuple[int, ...], lines: Sequence[OcrLine]) -> list[Window]:
    """Windows around the lines of a whole-photo read that hold digits, to read them up close.

    A photo larger than the text detector's input is read shrunk (``pipeline.ocr``: 2,000 px a
    side at most), and a small code on it, its lines slanted and close together, comes out as one
    box over two lines or not at all (realworld2 013, "BEST If Used By" over "JAN1323 PS" on a
    4,032 px photo of a cap: only "RC001:236401 B2" of the line under them was read). The lines
    it did read mark where the code is; a window around them, read at its own scale, shows the
    code's lines as large as a close-up photo would.

    Args:
        shape: the photo's shape, ``(height, width, ...)``.
        lines: the first read's lines, in photo pixels; those of the whole photo
            (``detection_index == -1``) that hold a digit are used.

    Returns:
        At most ``MAX_TEXT_WINDOWS`` windows (``detection_index`` -1), merged where they overlap,
        those holding the lines with the most digits first; none over ``_MAX_TEXT_SHARE`` of the
        photo.
    """
    height, width = shape[:2]
    numbered = [line for line in lines if line.detection_index == -1 and _digits(line.text)]
    numbered.sort(key=lambda line: _digits(line.text), reverse=True)
    limit = _MAX_TEXT_SHARE * height * width
    # Each window is ranked by its line in detection_index while merging (_merge keeps the best,
    # lowest, of those it joins), and given the photo's -1 once ranked.
    windows = []
    for rank, line in enumerate(numbered):
        box = line.box
        text_h = min(box.y2 - box.y1, (box.x2 - box.x1) / (_GLYPH_ASPECT * len(line.text)))
        reach = _TEXT_REACH * text_h
        x1, y1 = max(0, int(box.x1 - reach)), max(0, int(box.y1 - reach))
        x2, y2 = min(width, round(box.x2 + reach)), min(height, round(box.y2 + reach))
        if x2 > x1 and y2 > y1 and (x2 - x1) * (y2 - y1) <= limit:
            windows.append(Window(x1, y1, x2, y2, rank))
    fitting = [w for w in _merge(windows) if (w.x2 - w.x1) * (w.y2 - w.y1) <= limit]
    fitting.sort(key=lambda w: w.detection_index)
    return [dataclasses.replace(w, detection_index=-1) for w in fitting[:MAX_TEXT_WINDOWS]]


def _digits(text: str) -> int:
    """How many digits ``text`` holds, of any script (as the parser reads them)."""
    return sum(char.isdecimal() for char in text)


# A line runs off a window's side when its box (window pixels) ends within this many of the line's
# heights of the side, or 2 pixels: the text detector's boxes reach a little past the glyphs, and
# are clipped at the crop's edge.
_RUN_OFF = 0.1
# A cut line is followed this many of its heights further: "TE GEBRUIKEN TOT", the longest
# keywords the parser knows, are about ten text heights, and the line's box is taller than its text.
_FOLLOW = 8.0
# A box within this many pixels of the crop's edge was clipped by it (rapidocr clips boxes to the
# crop; mapping a resized read back to window pixels moves them a pixel or two).
_CLIPPED = 2.0


def grown(
    shape: tuple[int, ...],
    windows: Sequence[Window],
    reads: Sequence[Sequence[OcrLine]],
    date_in: Callable[[str], str | None],
) -> list[Window] | None:
    """The windows grown along the dated lines that run off their sides, merged where they now
    overlap, best detection first; ``None`` when no such line runs off a side the photo goes past.

    A line cut at the window's left or right side is followed ``_FOLLOW`` of its heights that
    way. One cut at the top or bottom is a slanted line leaving through it (which of its ends
    leaves is not known from its box, and it may touch a side too): the window grows that far on
    both sides. Either way the window grows up and down as far as the line's slant can take it over
    that distance (its box's height over its width; at least one line height, at most the distance
    itself): a line photographed at 30 degrees and cut by the window falls further than one line
    height (hard set v2 940125 and 940346 as OpenCV 5.1 renders them, bench/RESULTS.md, eleventh
    session).

    Only a line that holds a date counts: a window cuts the label's other text all the time (a
    UK label's nutrition lines, 15 of the 96 held-out photos), and growing for it would read those
    windows twice for nothing. No held-out UK window and no realworld-dev window cuts a dated line.

    Args:
        shape: the photo's shape, ``(height, width, ...)``.
        windows: the windows read, in photo pixels.
        reads: each window's lines, in that window's pixels.
        date_in: the date the parser reads in a line's text, as printed; ``None``: none.
    """
    height, width = shape[:2]
    out: list[Window] = []
    changed = False
    for window, lines in zip(windows, reads, strict=True):
        x1, y1, x2, y2 = window.x1, window.y1, window.x2, window.y2
        for line in lines:
            box = line.box
            line_h = box.y2 - box.y1
            margin = max(2.0, _RUN_OFF * line_h)
            left = box.x1 <= margin and window.x1 > 0
            right = box.x2 >= window.x2 - window.x1 - margin and window.x2 < width
            # Above and below, only a box the crop's edge clipped: a window is padded less than
            # the text detector's boxes reach past the glyphs, so a line near the top or bottom
            # of its window is common and whole (UK held-out photos: 3 to 17 px off; the slanted
            # lines cut there: 1 px).
            top = box.y1 <= _CLIPPED and window.y1 > 0
            bottom = box.y2 >= window.y2 - window.y1 - _CLIPPED and window.y2 < height
            if not (left or right or top or bottom) or date_in(line.text) is None:
                continue
            reach = _FOLLOW * line_h
            # At most as far as a line at 45 degrees climbs: a narrow or upright box (a cut
            # fragment, a vertical line) would otherwise grow the window the photo's height.
            climb = min(reach, max(line_h, reach * line_h / max(1.0, box.x2 - box.x1)))
            if left or top or bottom:
                x1 = min(x1, max(0, int(window.x1 - reach)))
            if right or top or bottom:
                x2 = max(x2, min(width, round(window.x2 + reach)))
            y1 = min(y1, max(0, int(window.y1 - climb)))
            y2 = max(y2, min(height, round(window.y2 + climb)))
        changed = changed or (x1, y1, x2, y2) != (window.x1, window.y1, window.x2, window.y2)
        out.append(Window(x1, y1, x2, y2, window.detection_index))
    if not changed:
        return None
    return sorted(_merge(out), key=lambda w: w.detection_index)


def keeps_dates(
    reads: Sequence[Sequence[OcrLine]],
    grown_reads: Sequence[Sequence[OcrLine]],
    date_in: Callable[[str], str | None],
) -> bool:
    """Whether the grown windows' reads still hold every date that the windows' first reads held
    line by line, as printed (spaces aside; ``date_in`` as for :func:`grown`). Growing a window
    adds what it cut (``E: 12 APR 2024`` -> ``PRO.DATE: 12 APR 2024``, ``5/06/2026`` ->
    ``EXP 15/06/2026``); a read of the wider crop that reads the date's own digits otherwise (hard
    set v4 980039: ``21/11/2025`` read again as ``BBD: E1/11/2025``, its lone E then taken for an
    expiry keyword) is the less likely of two reads of the same print, and the first reads stand.
    """
    grown_raw = "".join(line.text for lines in grown_reads for line in lines).replace(" ", "")
    grown_text = _as_printed(grown_raw)
    for lines in reads:
        for line in lines:
            date = date_in(line.text)
            if date is not None and not _holds(grown_raw, grown_text, date.replace(" ", "")):
                return False
    return True


# Letters a read makes of digits (``OCT`` read again as ``0CT``): the same print, so a grown read
# that reads a letter of the date as its look-alike digit still keeps the date. Not the other way:
# a digit read as a letter or as another digit (``21`` as ``E1``, ``1 OCT`` as ``I OCT``) is another
# read of the date, and loses its day.
_LOOK_ALIKE = str.maketrans("OoDQIl|SBZ", "0000111582")


def _as_printed(text: str) -> str:
    """``text`` with its look-alike letters as the digits they look like, ASCII upper-cased; one
    character for one, so that positions match ``text``'s."""
    return "".join(c.upper() if c.isascii() else c for c in text.translate(_LOOK_ALIKE))


def _holds(grown_raw: str, grown_text: str, date: str) -> bool:
    """Whether ``grown_raw`` holds ``date`` with each of its digits as read and its other
    characters alike or look-alike digits (``grown_text`` is ``_as_printed(grown_raw)``)."""
    wanted = _as_printed(date)
    start = grown_text.find(wanted)
    while start >= 0:
        if all(grown_raw[start + i] == c for i, c in enumerate(date) if c.isdigit()):
            return True
        start = grown_text.find(wanted, start + 1)
    return False


def cut(image: np.ndarray, window: Window) -> np.ndarray:
    """The window's pixels, as a contiguous copy the models can take."""
    return np.ascontiguousarray(image[window.y1 : window.y2, window.x1 : window.x2])
