"""Printed lines that curve (print on a can, a bottle, film over a round product) boxed along
their curve, and cut out straightened.

PP-OCR's DB detector maps a curved line as a curved band, and its post-processing boxes each band
with its minimum-area rectangle. For a bent band that rectangle is mostly background: the band's
mean probability over it falls below the box threshold and the line is dropped (a dot-matrix
``PRO.DATE: 12 APR 2024`` over ``07 APR 2026 A`` on a round tub, hard set v2 940367, read as the
``2024`` at its end only); kept, the rectangle is grown by a distance that scales with its area
and takes in the lines above and below.

A band that bends is boxed instead as a polygon that follows it: ``2k`` points, the top edge's
``k`` left to right, then the bottom edge's right to left, ``k`` stations along the band, and cut
out straightened (:func:`crop_polygon`). A band bends when its centre line, a quadratic fit (an
arc: what a cylinder makes of a straight line in a photo), leaves the straight line through it by
``_BENT`` of its thickness or more, and explains its pixels better than that line: their spread
about the line is ``_EXPLAINED`` times their spread about the arc. A straight band of uneven
thickness (dots that fall away at one end, hard set v2 940143) fits an arc a little, and no
better than its line: it keeps rapidocr's rectangle, as all straight print does. Nor do pieces
run together (a dotted line and a word printed lower beside it, realworld2 001): every stretch of
two thicknesses must have its centre on the arc (``_ON_ARC``). Thickness and length are measured
along the arc, and the ends grown along the band's own direction there: a band bent round a lid
is longer than its chord.

Numbers: a station every ``_STATION_THICKNESSES`` band thicknesses, at most ``MAX_STATIONS``;
only bands at least ``_MIN_LENGTH`` thicknesses and ``_MIN_LENGTH_PX`` long. Every crop is within
the caps the caller gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

__all__ = [
    "MAX_STATIONS",
    "CurveAwareDBPostProcess",
    "CurvedBand",
    "crop_polygon",
    "curved_band",
    "is_polygon",
    "polygon_edges",
    "polygon_size",
]

# The most stations along a band (so a polygon has at most twice as many points).
MAX_STATIONS = 24
# A band that covers this share of its minimum-area rectangle is boxed well by it: a band of
# thickness t that bends by _BENT t spans a rectangle about 1.5 t thick, and fills two thirds of it.
_FILLS = 0.75
# A band bends when its centre line leaves the straight line through it by this many thicknesses
# (940367's two lines: 0.6 and 1.7)...
_BENT = 0.5
# ... and its pixels spread this many times wider about that line than about the arc (940367:
# 1.4 and 2.7; a straight band, whatever its shape: about 1, 940143's 1.06).
_EXPLAINED = 1.2
# A bent band's stretches have their centres this close to its arc, in thicknesses.
_ON_ARC = 0.3
# Only bands at least this many times longer than thick, and this long in map pixels: a short
# word bends too little to matter.
_MIN_LENGTH = 5.0
_MIN_LENGTH_PX = 64
# cv2.remap's largest source side (SHRT_MAX).
_REMAP_MAX_SIDE_PX = 32767
# One station every this many thicknesses: pieces short enough to be straight.
_STATION_THICKNESSES = 1.5


@dataclass(frozen=True, slots=True)
class CurvedBand:
    """A bent band of a DB probability map: its polygon, grown as rapidocr grows a box (see
    :func:`curved_band`), in map pixels, and its mean probability over its own pixels."""

    polygon: np.ndarray  # (2k, 2) float32: top edge left to right, bottom edge right to left
    score: float


def curved_band(contour: np.ndarray, prob_map: np.ndarray, unclip_ratio: float) -> CurvedBand | None:
    """The polygon along a band of the map, if it bends; ``None`` for a band that its rectangle
    boxes well (straight, short) or that is not one smooth line (rapidocr's rectangle boxes
    those, as before).

    Args:
        contour: the band's outline, ``(n, 1, 2)`` int32 as ``cv2.findContours`` gives it, in map
            pixels.
        prob_map: ``(H, W)`` float32, the DB probability map.
        unclip_ratio: DB's unclip ratio: the polygon is grown by the distance rapidocr's
            ``unclip`` would grow a rectangle of the band's length and thickness.
    """
    # Most bands fill their rectangle (a straight line's does): no need to look closer.
    (_, _), (side_a, side_b), _ = cv2.minAreaRect(contour)
    if max(side_a, side_b) < _MIN_LENGTH_PX or cv2.contourArea(contour) >= _FILLS * side_a * side_b:
        return None
    x, y, w, h = cv2.boundingRect(contour)
    mask = np.zeros((h, w), dtype=np.uint8)
    cv2.drawContours(mask, [contour - np.array([x, y], dtype=contour.dtype)], -1, 1, thickness=-1)
    ys, xs = np.nonzero(mask)
    if len(xs) < 16:
        return None
    points = np.stack([xs + x, ys + y], axis=1).astype(np.float64)
    centre = points.mean(axis=0)
    # The band's long axis, pointing right (down for a vertical band): the direction it is read.
    _, vectors = np.linalg.eigh(np.cov((points - centre).T))
    along = vectors[:, 1]
    if along[0] < 0 or (abs(along[0]) < 1e-6 and along[1] < 0):
        along = -along
    across = np.array([-along[1], along[0]])  # 90 degrees clockwise on screen: down for a level band
    u = (points - centre) @ along
    v = (points - centre) @ across
    start, end = float(u.min()), float(u.max())
    chord_length = end - start
    chord_thickness = len(points) / max(chord_length, 1.0)
    if chord_length < max(_MIN_LENGTH * chord_thickness, _MIN_LENGTH_PX):
        return None
    curve = np.polynomial.Polynomial.fit(u, v, 2)
    # Along the arc, not the chord: a band bent round a lid is longer than the chord under it,
    # and its area over the chord would make it thicker than it is.
    length = _arc_length(curve, start, end)
    thickness = len(points) / max(length, 1.0)
    chord = np.polynomial.Polynomial.fit(u, v, 1)
    samples = np.linspace(start, end, 32)
    if np.abs(curve(samples) - chord(samples)).max() < _BENT * thickness:
        return None
    if np.std(v - chord(u)) < _EXPLAINED * np.std(v - curve(u)):
        return None
    # One smooth line, not pieces run together (a dotted line and the word beside it, printed
    # lower: realworld2 001, 0.77): the centre of each stretch of two thicknesses lies on the arc
    # (bent print: within 0.11 of a thickness).
    if _off_arc(u, v, curve, thickness) > _ON_ARC:
        return None
    # rapidocr's unclip of a length x thickness rectangle: area * ratio / perimeter.
    grow = length * thickness * unclip_ratio / (2.0 * (length + thickness))
    half = thickness / 2.0 + grow
    count = int(min(MAX_STATIONS - 2, max(3, math.ceil(length / (_STATION_THICKNESSES * thickness)) + 1)))
    stations = np.linspace(start, end, count)
    slope = curve.deriv()(stations)
    norm = np.sqrt(1.0 + slope**2)[:, None]
    normals = np.stack([-slope, np.ones_like(slope)], axis=1) / norm
    tangents = np.stack([np.ones_like(slope), slope], axis=1) / norm
    on_line = centre + np.outer(stations, along) + np.outer(curve(stations), across)
    normal_xy = normals[:, :1] * along + normals[:, 1:] * across
    tangent_xy = tangents[:, :1] * along + tangents[:, 1:] * across
    # The ends go on by the unclip distance along the band's own direction there (not along the
    # chord, nor by extrapolating the arc).
    on_line = np.concatenate(
        [on_line[:1] - grow * tangent_xy[:1], on_line, on_line[-1:] + grow * tangent_xy[-1:]]
    )
    normal_xy = np.concatenate([normal_xy[:1], normal_xy, normal_xy[-1:]])
    top = on_line - half * normal_xy
    bottom = on_line + half * normal_xy
    score = float(cv2.mean(prob_map[y : y + h, x : x + w], mask)[0])
    return CurvedBand(np.concatenate([top, bottom[::-1]]).astype(np.float32), score)


class CurveAwareDBPostProcess(DBPostProcess):
    """rapidocr's DB post-processing, with bent bands boxed along their curve (:func:`curved_band`)
    instead of by a rectangle."""

    def boxes_from_bitmap(
        self, pred: np.ndarray, bitmap: np.ndarray, dest_width: int, dest_height: int
    ) -> tuple[list[np.ndarray], list[float]]:
        """Boxes in ``dest`` pixels: ``(4, 2)`` int32 rectangles as rapidocr makes them, and
        ``(2k, 2)`` float32 polygons along bent bands; and each one's score.

        Args:
            pred: ``(H, W)`` float32 probability map.
            bitmap: ``(H, W)`` its binarised mask.
        """
        height, width = bitmap.shape
        mask = (bitmap * 255).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        to_dest = np.array([dest_width / width, dest_height / height], dtype=np.float32)
        boxes: list[np.ndarray] = []
        scores: list[float] = []
        for contour in contours[: self.max_candidates]:
            band = curved_band(contour, pred, self.unclip_ratio)
            if band is None:
                box, score = self._rectangle(contour, pred, (dest_width, dest_height))
                if box is None:
                    continue
            elif band.score < self.box_thresh:
                continue
            else:
                box, score = band.polygon * to_dest, band.score
                box[:, 0] = np.clip(box[:, 0], 0, dest_width)
                box[:, 1] = np.clip(box[:, 1], 0, dest_height)
            boxes.append(box)
            scores.append(score)
        return boxes, scores

    def _rectangle(
        self, contour: np.ndarray, pred: np.ndarray, dest: tuple[int, int]
    ) -> tuple[np.ndarray | None, float]:
        """rapidocr's own box for one contour (``DBPostProcess.boxes_from_bitmap``'s loop body),
        in ``dest`` (width, height) pixels."""
        height, width = pred.shape
        dest_width, dest_height = dest
        points, side = self.get_mini_boxes(contour)
        if side < self.min_size:
            return None, 0.0
        score = self.box_score_fast(pred, points.reshape(-1, 2))
        if self.box_thresh > score:
            return None, 0.0
        box, side = self.get_mini_boxes(self.unclip(points))
        if side < self.min_size + 2:
            return None, 0.0
        box[:, 0] = np.clip(np.round(box[:, 0] / width * dest_width), 0, dest_width)
        box[:, 1] = np.clip(np.round(box[:, 1] / height * dest_height), 0, dest_height)
        return box.astype(np.int32), score


def _off_arc(u: np.ndarray, v: np.ndarray, curve: np.polynomial.Polynomial, thickness: float) -> float:
    """How far the centres (medians) of the band's stretches, each two thicknesses long, lie from
    ``curve``, at most, in thicknesses; ``u`` along the band, ``v`` across it. Vectorised: a photo
    can hold hundreds of bands."""
    start, end = float(u.min()), float(u.max())
    count = int(min(MAX_STATIONS * 4, max(3, (end - start) / (2 * thickness))))
    stretch = np.minimum(((u - start) / max(end - start, 1e-9) * count).astype(np.int64), count - 1)
    sizes = np.bincount(stretch, minlength=count)
    firsts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    middles = firsts + (sizes - 1) // 2  # each stretch's lower median, in the sorted order
    kept = sizes > 3
    by_v = np.lexsort((v, stretch))
    by_u = np.lexsort((u, stretch))
    off = v[by_v][middles[kept]] - curve(u[by_u][middles[kept]])
    return float(np.abs(off).max(initial=0.0)) / thickness


def _arc_length(curve: np.polynomial.Polynomial, start: float, end: float) -> float:
    """The length of ``v = curve(u)`` from ``start`` to ``end`` (64 chords)."""
    u = np.linspace(start, end, 65)
    return float(np.hypot(np.diff(u), np.diff(curve(u))).sum())


def is_polygon(box: np.ndarray) -> bool:
    """Whether a text box is a curved line's polygon, not a ``(4, 2)`` quadrilateral."""
    return len(box) > 4


def polygon_size(polygon: np.ndarray) -> tuple[float, float]:
    """The straightened width (along the top and bottom edges, the longer) and height (the
    longest station) of a :class:`CurvedBand` polygon, in its pixels."""
    top, bottom = polygon_edges(polygon)
    width = max(_path_length(top), _path_length(bottom))
    height = float(np.linalg.norm(bottom - top, axis=1).max())
    return width, height


def crop_polygon(image: np.ndarray, polygon: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """The band under ``polygon`` straightened: each output column samples the segment from the
    top edge to the bottom edge at its share of their lengths, so the band's curve becomes a row
    (one remap, no seams between pieces).

    Args:
        image: ``(H, W, 3)`` uint8 (or any channels).
        polygon: ``(2k, 2)`` float32, as :class:`CurvedBand` holds it, in ``image`` pixels.
        size: the crop's ``(width, height)``, the caller's caps applied; ``None``:
            :func:`polygon_size`'s, whole pixels.

    Returns:
        ``(height, width, ...)`` of ``image``'s dtype.
    """
    top, bottom = polygon_edges(polygon)
    if size is None:
        width, height = polygon_size(polygon)
        size = (int(width), int(height))
    out_w, out_h = max(1, size[0]), max(1, size[1])
    along = (np.arange(out_w, dtype=np.float32) + 0.5) / out_w
    upper = _at_shares(top, along)  # (out_w, 2)
    lower = _at_shares(bottom, along)
    down = ((np.arange(out_h, dtype=np.float32) + 0.5) / out_h)[:, None, None]
    grid = upper[None] + down * (lower - upper)[None]  # (out_h, out_w, 2)
    source, grid = _under(image, grid)
    return cv2.remap(
        source,
        np.ascontiguousarray(grid[..., 0]),
        np.ascontiguousarray(grid[..., 1]),
        interpolation=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _under(image: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``image`` that ``grid`` samples (with a margin for the cubic kernel), and the
    grid in its pixels. OpenCV's remap takes sources under ``_REMAP_MAX_SIDE_PX`` a side only
    (photos may be longer: 44,700 px at the decode limits); a larger part is shrunk to fit."""
    height, width = image.shape[:2]
    low = np.floor(np.nanmin(grid.reshape(-1, 2), axis=0)).astype(np.int64) - 2
    high = np.ceil(np.nanmax(grid.reshape(-1, 2), axis=0)).astype(np.int64) + 3
    x0, y0 = int(np.clip(low[0], 0, width - 1)), int(np.clip(low[1], 0, height - 1))
    x1, y1 = int(np.clip(high[0], x0 + 1, width)), int(np.clip(high[1], y0 + 1, height))
    source = image[y0:y1, x0:x1]
    grid = grid - np.array([x0, y0], dtype=np.float32)
    longest = max(source.shape[:2])
    if longest >= _REMAP_MAX_SIDE_PX:
        factor = (_REMAP_MAX_SIDE_PX - 1) / longest
        out = (max(1, int(source.shape[1] * factor)), max(1, int(source.shape[0] * factor)))
        source = cv2.resize(source, out, interpolation=cv2.INTER_AREA)
        grid = grid * np.array([out[0] / (x1 - x0), out[1] / (y1 - y0)], dtype=np.float32)
    return source, grid


def _at_shares(path: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """The points at ``shares`` (0..1) of a polyline's length, ``(len(shares), 2)`` float32."""
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    walked = np.concatenate([[0.0], np.cumsum(steps)])
    at = shares * max(float(walked[-1]), 1e-6)
    return np.stack([np.interp(at, walked, path[:, 0]), np.interp(at, walked, path[:, 1])], axis=1).astype(
        np.float32
    )


def polygon_edges(polygon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A polygon's top and bottom edges, each ``(k, 2)`` left to right."""
    half = len(polygon) // 2
    return polygon[:half], polygon[half:][::-1]


def _path_length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())
