"""Synthetic label photos: deterministic test images now, training data for the detector later."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["render_dot_line", "render_label", "render_label_image"]

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX)


def render_label_image(
    text_lines: Sequence[str],
    size: tuple[int, int] = (840, 640),
    *,
    seed: int = 0,
    noise_sigma: float = 4.0,
) -> np.ndarray:
    """Draws dark text lines on a light label over a plain background.

    Args:
        text_lines: the lines, top to bottom.
        size: ``(width, height)`` of the image in pixels.
        seed: the same seed always gives the same image.
        noise_sigma: standard deviation of the Gaussian pixel noise, 0 for none.

    Returns:
        A ``(height, width, 3)`` uint8 BGR image.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    background = rng.integers(60, 140, size=3)
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = background
    # The label covers the middle of the photo, like a phone shot of a sticker.
    x0, y0 = int(width * rng.uniform(0.08, 0.15)), int(height * rng.uniform(0.1, 0.2))
    x1, y1 = width - int(width * rng.uniform(0.08, 0.15)), height - int(height * rng.uniform(0.1, 0.2))
    image[y0:y1, x0:x1] = rng.integers(225, 256, size=3)

    font = _FONTS[int(rng.integers(len(_FONTS)))]
    line_height = (y1 - y0) / (len(text_lines) + 1)
    for index, line in enumerate(text_lines):
        scale = _fit_scale(line, font, max_width=(x1 - x0) * 0.8, max_height=line_height * 0.55)
        (text_w, text_h), _ = cv2.getTextSize(line, font, scale, 2)
        x = x0 + int(((x1 - x0) - text_w) * rng.uniform(0.3, 0.7))
        y = y0 + int(line_height * (index + 1) + text_h / 2)
        ink = tuple(int(v) for v in rng.integers(0, 50, size=3))
        cv2.putText(
            image, line, (x, y), font, scale, ink, thickness=max(2, int(scale * 2)), lineType=cv2.LINE_AA
        )

    if noise_sigma > 0:
        noise = rng.normal(0.0, noise_sigma, size=image.shape)
        image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return image


def render_label(
    text_lines: Sequence[str],
    size: tuple[int, int] = (840, 640),
    *,
    seed: int = 0,
    jpeg_quality: int = 92,
) -> bytes:
    """Draws a label (see :func:`render_label_image`) and encodes it as a JPEG file.

    Args:
        text_lines: the lines, top to bottom, e.g. ``["Use by", "16 NOV"]``.
        size: ``(width, height)`` of the image in pixels.
        seed: the same seed always gives the same bytes.
        jpeg_quality: 1..100.

    Returns:
        The JPEG file.
    """
    image = render_label_image(text_lines, size, seed=seed)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode the label as JPEG")
    return encoded.tobytes()


def render_dot_line(text: str, height: int) -> np.ndarray:
    """A date line as an inkjet coder prints it: Hershey glyphs sampled on a grid of round dots.

    The grid pitch is a seventh of the glyphs' height and each dot's radius 0.7 pitch, so dots
    touch along strokes: a coarser, heavier dot font than ``models/date_detector/scenes.py``'s
    (5x5 to 7x9 bitmaps, strokes sampled at 12 and 16 rows), which is why it judges recognisers
    trained on those (``bench/dot_lines.py``).

    Args:
        text: the line.
        height: the glyphs' cap height in pixels (``cv2.getFontScaleFromHeight``).

    Returns:
        A ``(h, w, 3)`` uint8 BGR image: dark dots on a light margin of 30 pixels.
    """
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = cv2.getFontScaleFromHeight(font, height, 2)
    thickness = max(2, height // 10)
    (width, glyph_h), baseline = cv2.getTextSize(text, font, scale, thickness)
    pitch, pad = max(2, glyph_h // 7), 30
    mask = np.zeros((glyph_h + baseline + 2 * pitch, width + 2 * pitch), np.uint8)
    cv2.putText(mask, text, (pitch, glyph_h + pitch), font, scale, 255, max(thickness, pitch), cv2.LINE_8)
    image = np.full((mask.shape[0] + 2 * pad, mask.shape[1] + 2 * pad, 3), 235, np.uint8)
    for row, col in zip(*np.nonzero(mask[::pitch, ::pitch]), strict=True):
        center = (pad + int(col) * pitch, pad + int(row) * pitch)
        cv2.circle(image, center, int(pitch * 0.7), (30, 30, 30), -1, cv2.LINE_AA)
    return image


def _fit_scale(text: str, font: int, *, max_width: float, max_height: float) -> float:
    """The largest font scale at which ``text`` fits the given box."""
    (unit_w, unit_h), _ = cv2.getTextSize(text, font, 1.0, 2)
    return max(0.5, min(max_width / max(unit_w, 1), max_height / max(unit_h, 1)))
