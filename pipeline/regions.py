"""Where to read around detections: each date box becomes a reading window on the photo.

A date box is tight around the date, but OCR needs more than the box:
- text detection needs background around the glyphs, so the window is padded on every side;
- the word that says what the date is ("Use by", "Best before", "EXP") is printed above or before
  it, so the window reaches further up and to the left: without it the parser cannot tell an
  expiry date from a production date.
Windows of one photo that overlap (two boxes on one long date, a date and its keyword) are merged
and read once: text in the shared part would otherwise be read, and reported, twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.types import Detection

__all__ = ["Window", "cut", "reading_windows"]

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


def cut(image: np.ndarray, window: Window) -> np.ndarray:
    """The window's pixels, as a contiguous copy the models can take."""
    return np.ascontiguousarray(image[window.y1 : window.y2, window.x1 : window.x2])
