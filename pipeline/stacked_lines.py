"""Text boxes that hold two or three printed lines, split into one box a line.

PP-OCR's DB detector boxes a line of text; on sparse dot-matrix print its probability map often
joins the lines of a code into one box (a carton's "22.06.23" over "05.07.23" came back as one box
read "3:89:23"). The recogniser reads one line a crop, so such a box reads as garbage. A box is
split at each band of rows with (almost) no ink between rows of ink: the gaps between printed
lines. A dot-matrix glyph has such bands of its own, between its rows of dots, all about as wide;
where there are many, a gap between lines is wider than those (``_WIDER``); it is always at least
``_MIN_GAP_PX`` rows.

Numbers: each line at least ``_MIN_PART`` of the box's inked height; at most ``MAX_LINES`` lines
(a code of production date, expiry and time), else the box is left whole; a row is empty when its
ink is at most ``_EMPTY`` of the box's inkiest row. Each box costs one crop of at most
``_MAX_WIDTH_PX`` by ``_MAX_HEIGHT_PX`` and its row sums.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from pipeline.curved_lines import crop_polygon, is_polygon, polygon_edges, polygon_size

__all__ = ["MAX_LINES", "VERTICAL_RATIO", "split_stacked"]

# The most lines one box is split into.
MAX_LINES = 3
# Each line is at least this share of the box's inked height.
_MIN_PART = 0.2
# A row is empty when its ink is at most this share of the inkiest row's; a gap between lines is
# rows of at most ``_GAP_INK`` (a row of a dot font that few glyphs use still holds a few dots).
_EMPTY = 0.12
_GAP_INK = 0.05
# A gap between lines is at least this many rows (judged size); where a box has at least
# ``_GRID_BANDS`` empty bands (a dot-matrix glyph's gaps between its rows of dots), a gap is also
# ``_WIDER`` times as wide as their median.
_MIN_GAP_PX = 2
_GRID_BANDS = 4
_WIDER = 1.5
# Boxes are judged on a copy of at most this size, averaged down: rows are what count, so the
# height keeps more pixels (a gap between dot-matrix lines is 2 or 3 rows of a 100-row box).
_MAX_WIDTH_PX = 256
_MAX_HEIGHT_PX = 512
# A box this many times as tall as wide is one vertical line (pipeline.ocr reads it turned).
VERTICAL_RATIO = 1.5
# Boxes less tall than this (judged size) hold one line: too few rows to see a gap.
_MIN_HEIGHT_PX = 16


def split_stacked(image: np.ndarray, quads: list[np.ndarray]) -> list[np.ndarray]:
    """``quads`` with each box of stacked lines replaced by one box a line, in reading order.

    Args:
        image: the BGR (or grey) image the boxes are in.
        quads: ``(4, 2)`` float32 boxes, clockwise from the top-left, in ``image`` pixels, or
            curved lines' polygons (:mod:`pipeline.curved_lines`: their rows run along the curve).

    Returns:
        The boxes, a split box's lines in its place, top line first.
    """
    out: list[np.ndarray] = []
    for quad in quads:
        rows = _rows(image, quad)
        cuts = _gaps(rows) if rows is not None else []
        out.extend(_cut(quad, cuts) if cuts else [quad])
    return out


def _rows(image: np.ndarray, quad: np.ndarray) -> np.ndarray | None:
    """The box's ink share per pixel row (judged size); None when too small to hold two lines."""
    if not np.isfinite(quad).all():
        return None
    if is_polygon(quad):
        top_w, left_h = polygon_size(quad)
    else:
        top_w = float(np.linalg.norm(quad[1] - quad[0]))
        left_h = float(np.linalg.norm(quad[3] - quad[0]))
    if top_w < 1 or left_h < 1 or left_h / top_w >= VERTICAL_RATIO:
        return None  # a vertical line (read turned, see pipeline.ocr): its words are no lines
    # Rows are what count: the width is averaged down more than the height.
    width = max(1, round(min(top_w, _MAX_WIDTH_PX)))
    height = max(1, round(min(left_h, _MAX_HEIGHT_PX)))
    if height < _MIN_HEIGHT_PX:
        return None
    # Warped at most twice the judged size, then averaged down: memory stays bounded whatever
    # the box, and rows of dots are averaged rather than sampled.
    full_w = max(1, round(min(top_w, 2 * _MAX_WIDTH_PX)))
    full_h = max(1, round(min(left_h, 2 * _MAX_HEIGHT_PX)))
    if is_polygon(quad):
        crop = crop_polygon(image, quad, (full_w, full_h))
    else:
        target = np.float32([[0, 0], [full_w, 0], [full_w, full_h], [0, full_h]])
        matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
        crop = cv2.warpPerspective(image, matrix, (full_w, full_h))
    if (width, height) != (full_w, full_h):
        crop = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    _, dark = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    # Ink is the smaller class: dark print on a light ground, or light print on a dark one.
    ink = dark if dark.mean() <= 0.5 else 1 - dark
    return ink.mean(axis=1, dtype=np.float32)


def _bands(empty: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in ``empty``: (start, end) indices."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], empty.astype(np.int8), [0]))))
    return [(int(start), int(end)) for start, end in zip(edges[::2], edges[1::2], strict=True)]


def _gaps(rows: np.ndarray) -> list[float]:
    """Where gaps between lines run, as shares of the box's height (none: one line)."""
    peak = float(rows.max(initial=0.0))
    if peak <= 0:
        return []
    inked = np.flatnonzero(rows > _EMPTY * peak)
    first, last = int(inked[0]), int(inked[-1]) + 1
    inside = rows[first:last]
    # Bands: rows with little ink (between dot rows too); gaps: rows with none, wide enough.
    bands = _bands(inside <= _EMPTY * peak)
    gaps = [band for band in _bands(inside <= _GAP_INK * peak) if band[1] - band[0] >= _MIN_GAP_PX]
    if len(bands) >= _GRID_BANDS:
        # A dot grid: many like bands (sampled unevenly: some rows of dots blur into the next).
        # A gap is well wider than most of them.
        typical = float(np.percentile([end - start for start, end in bands], 75))
        gaps = [band for band in gaps if band[1] - band[0] >= _WIDER * typical]
    inked_height = last - first
    # A gap that leaves a sliver (a line the box cut, a stray mark) is no gap: the sliver stays
    # with its line. The narrowest part goes first.
    while gaps:
        bounds = [0, *(b for band in gaps for b in band), inked_height]
        parts = [bounds[i + 1] - bounds[i] for i in range(0, len(bounds), 2)]
        smallest = int(np.argmin(parts))
        if parts[smallest] >= _MIN_PART * inked_height:
            break
        gaps.pop(min(smallest, len(gaps) - 1))
    if not gaps or len(gaps) + 1 > MAX_LINES:
        return []
    height = len(rows)
    return [(first + (start + end) / 2) / height for start, end in gaps]


def _cut(quad: np.ndarray, cuts: list[float]) -> list[np.ndarray]:
    """The box cut across at each of ``cuts`` (shares of its height, rising): its parts, top first.
    A curved line's polygon is cut along its curve, station by station."""
    shares = [0.0, *cuts, 1.0]
    if is_polygon(quad):
        top, bottom = polygon_edges(quad)
        return [
            np.concatenate([top + upper * (bottom - top), (top + lower * (bottom - top))[::-1]]).astype(
                np.float32
            )
            for upper, lower in itertools.pairwise(shares)
        ]
    top_left, top_right, bottom_right, bottom_left = quad
    parts = []
    for upper, lower in itertools.pairwise(shares):
        parts.append(
            np.stack(
                [
                    top_left + upper * (bottom_left - top_left),
                    top_right + upper * (bottom_right - top_right),
                    top_right + lower * (bottom_right - top_right),
                    top_left + lower * (bottom_left - top_left),
                ]
            ).astype(np.float32)
        )
    return parts
