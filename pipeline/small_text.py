"""Small print read larger: the whole-photo fallback of a small photo whose date windows hold small
text is read upscaled.

Apps downscale a photo before they send it and cameras stream 720p frames, and there a date line is
20 to 40 pixels high: dot-matrix digits lose the dots that tell a 6 from an 8 or a 5, and the text
detector cuts lines short. Read at the photo's size, realworld-dev's 55 photos brought to 1,024
pixels gave 49 right dates against 54 as published (bench/RESULTS.md, "sixteenth session").
Upscaling every small photo is no answer: the UK labels and the hard sets are 840 x 640 close-ups
whose text is large, and read upscaled they read worse and cost twice the time. The windows around
the date detector's boxes are read first, at the photo's scale; their lines' heights say how large
the print is before the fallback runs, so only the fallback of a photo with small print pays for a
larger read (there, realworld-dev at 1,024 px 49 -> 51, no answer changed elsewhere). The larger
image is a variant of no steps (:func:`pipeline.variants.resized_variant`), whose lines map back to
the photo's pixels as every second-chance variant's do.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from pipeline.types import OcrLine

__all__ = ["MAX_UPSCALE", "fallback_upscale"]

# A read at most twice as large: past that, cubic interpolation adds pixels but no detail.
MAX_UPSCALE = 2.0


def fallback_upscale(
    shape: tuple[int, ...], window_reads: Iterable[Sequence[OcrLine]], photo_side_px: int, text_px: int
) -> float:
    """How much larger to read the whole photo when the windows held no date beyond doubt.

    Args:
        shape: the decoded photo's shape, ``(height, width, ...)``, in pixels.
        window_reads: the lines read in each window, their boxes in photo pixels.
        photo_side_px: photos whose longer side is this long or longer are read as they are.
        text_px: the windows' lines that hold a digit must be on median shorter than this (their
            boxes' height, in pixels) for the photo to be read larger; 0 never reads larger.

    Returns:
        1.0 (read as it is), or the factor that brings the longer side to ``photo_side_px``, at most
        ``MAX_UPSCALE``. No window lines with a digit: 1.0 (nothing says the print is small).
    """
    longest = max(shape[0], shape[1])
    if text_px <= 0 or longest >= photo_side_px:
        return 1.0
    heights = [
        line.box.y2 - line.box.y1
        for read in window_reads
        for line in read
        if any(char.isdigit() for char in line.text)
    ]
    if not heights or statistics.median(heights) >= text_px:
        return 1.0
    return min(MAX_UPSCALE, photo_side_px / longest)
