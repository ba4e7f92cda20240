"""The UK-label scenes the shipped ``model.onnx`` was trained on (seeds 0-1199), kept as they were.

``scenes.py`` now renders packaging in general and boxes every date line; this module keeps the
previous renderer byte for byte, so that tests of the shipped model and the hard synthetic set
(``bench/realworld.py --make-synthetic``) still see the scenes the shipped model was made for.
Drop it once a model trained on ``scenes.py`` ships.

Each scene is a label on a textured background: the expiry date in one of the formats the parser
reads, printed in a Hershey font or as dot-matrix inkjet dots, often after a prefix ("Use by", "EXP")
that is not part of the box, among distractors that must not be detected: lot codes, times,
prices, barcodes, nutrition tables and other dates marked as production dates (FAB, PROD, PACKED).
The whole scene is then rotated, warped in perspective, blurred, glared, lowered in contrast and
JPEG-compressed at random. Only numpy and OpenCV: tests import it without the training extra.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Scene", "render_scene"]

_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_EXPIRY_PREFIXES = ("", "", "Use by", "USE BY", "Best before", "BB", "BBE", "EXP", "Exp.", "Display until")
_PRODUCTION_PREFIXES = ("FAB", "PROD", "PACKED", "P:", "MFD")
_PLAIN_TEXT = ("Keep refrigerated", "Once opened use within 2 days", "Suitable for freezing", "Net 250g")


@dataclass(frozen=True, slots=True)
class Scene:
    """One synthetic photo and the box of its expiry date."""

    image: np.ndarray  # (height, width, 3) uint8 BGR
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels
    date_text: str


def _date_text(rng: np.random.Generator) -> str:
    day, month, year = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(2024, 2031))
    name = _MONTHS[month - 1]
    formats = (
        f"{day:02d} {name}",
        f"{day} {name}",
        f"{day:02d} {name} {year}",
        f"{day:02d}{name}{year % 100:02d}",
        f"{name} {day:02d}",
        f"{day:02d}/{month:02d}/{year}",
        f"{day:02d}/{month:02d}/{year % 100:02d}",
        f"{day:02d}.{month:02d}.{year % 100:02d}",
        f"{day:02d}-{month:02d}-{year}",
        f"{year}-{month:02d}-{day:02d}",
        f"{month:02d}/{year}",
        f"{day:02d} {name.title()} {year}",
    )
    return formats[int(rng.integers(len(formats)))]


def _distractor(rng: np.random.Generator) -> str:
    kind = int(rng.integers(5))
    if kind == 0:
        return f"L{int(rng.integers(1000, 99999))} {chr(65 + int(rng.integers(26)))}"
    if kind == 1:
        return f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}"
    if kind == 2:
        return f"{_PRODUCTION_PREFIXES[int(rng.integers(len(_PRODUCTION_PREFIXES)))]} {_date_text(rng)}"
    if kind == 3:
        return f"£{int(rng.integers(0, 20))}.{int(rng.integers(0, 100)):02d}".replace("£", "GBP ")
    return _PLAIN_TEXT[int(rng.integers(len(_PLAIN_TEXT)))]


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Wood-like stripes, smooth gradients or blotches: anything but a flat colour."""
    base = rng.integers(30, 200, size=3).astype(np.float32)
    kind = int(rng.integers(3))
    if kind == 0:
        stripes = np.sin(np.arange(height, dtype=np.float32)[:, None] * rng.uniform(0.05, 0.4))
        field = np.repeat(stripes, width, axis=1) * rng.uniform(5, 30)
    elif kind == 1:
        ramp = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :] * rng.uniform(10, 50)
        field = np.repeat(ramp, height, axis=0)
    else:
        small = rng.normal(0, 40, size=(max(2, height // 40), max(2, width // 40))).astype(np.float32)
        field = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    image = base[None, None, :] + field[:, :, None] + rng.normal(0, 6, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _text_size(text: str, font: int, scale: float, thickness: int) -> tuple[int, int, int]:
    (width, height), baseline = cv2.getTextSize(text, font, scale, thickness)
    return width, height, baseline


def _draw_text(
    canvas: np.ndarray,
    text: str,
    origin: tuple[int, int],
    font: int,
    scale: float,
    ink: tuple[int, int, int],
    thickness: int,
    dot_matrix: bool,
) -> tuple[int, int, int, int]:
    """Draws ``text`` with its baseline at ``origin``; returns the ink's box x1, y1, x2, y2."""
    width, height, baseline = _text_size(text, font, scale, thickness)
    x, y = origin
    box = (x, y - height, x + width, y + baseline // 2)
    if not dot_matrix:
        cv2.putText(canvas, text, (x, y), font, scale, ink, thickness, cv2.LINE_AA)
        return box
    # Inkjet coders print each glyph as a grid of dots: sample the glyph's mask on a coarse grid.
    pitch = max(2, height // 7)
    mask = np.zeros((height + baseline + 2 * pitch, width + 2 * pitch), dtype=np.uint8)
    cv2.putText(mask, text, (pitch, height + pitch), font, scale, 255, max(thickness, pitch), cv2.LINE_8)
    radius = max(1, int(pitch * 0.45))
    for row in range(0, mask.shape[0], pitch):
        for col in range(0, mask.shape[1], pitch):
            if mask[row, col]:
                cv2.circle(canvas, (x - pitch + col, y - height - pitch + row), radius, ink, -1, cv2.LINE_AA)
    return box


def _barcode(rng: np.random.Generator, canvas: np.ndarray, x: int, y: int, width: int, height: int) -> None:
    position = x
    while position < x + width:
        bar = int(rng.integers(1, 5))
        if rng.random() < 0.5:
            cv2.rectangle(canvas, (position, y), (position + bar - 1, y + height), (20, 20, 20), -1)
        position += bar


def _nutrition_table(rng: np.random.Generator, canvas: np.ndarray, x: int, y: int, cell: int) -> None:
    for column in range(int(rng.integers(3, 6))):
        x0 = x + column * cell
        cv2.rectangle(canvas, (x0, y), (x0 + cell - 4, y + cell), (30, 30, 30), 1)
        value = f"{rng.uniform(0, 30):.1f}g"
        cv2.putText(
            canvas, value, (x0 + 3, y + cell // 2), cv2.FONT_HERSHEY_PLAIN, cell / 40, (20, 20, 20), 1
        )


def _degrade(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Glare, low contrast, blur, noise and JPEG, each at random."""
    height, width = image.shape[:2]
    out = image.astype(np.float32)
    if rng.random() < 0.3:
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        spread = rng.uniform(0.05, 0.3) * width
        out += rng.uniform(60, 160) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * spread**2))[..., None]
    if rng.random() < 0.3:
        contrast = rng.uniform(0.35, 0.7)
        out = out.mean() + (out - out.mean()) * contrast
    out = np.clip(out + rng.normal(0, rng.uniform(1, 8), size=out.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        kernel = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (kernel, kernel), 0)
    if rng.random() < 0.5:
        ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if ok:
            out = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return out


def _warp(
    rng: np.random.Generator, image: np.ndarray, box: tuple[int, int, int, int]
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Rotates and tilts the scene; the new box encloses the old box's four corners."""
    height, width = image.shape[:2]
    jitter = rng.uniform(-0.06, 0.06, size=(4, 2)) * (width, height)
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    target = (source + jitter).astype(np.float32)
    perspective = cv2.getPerspectiveTransform(source, target)
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), rng.uniform(-12, 12), 1.0)
    matrix = np.vstack([rotation, [0, 0, 1]]) @ perspective
    border = tuple(int(v) for v in image[0, 0])
    warped = cv2.warpPerspective(image, matrix, (width, height), borderValue=border)
    x1, y1, x2, y2 = box
    corners = np.float32([[[x1, y1], [x2, y1], [x2, y2], [x1, y2]]])
    moved = cv2.perspectiveTransform(corners, matrix)[0]
    x_min, y_min = np.clip(moved.min(axis=0), 0, (width - 1, height - 1))
    x_max, y_max = np.clip(moved.max(axis=0), 0, (width - 1, height - 1))
    return warped, (float(x_min), float(y_min), float(x_max), float(y_max))


def render_scene(seed: int, size: tuple[int, int] = (840, 640)) -> Scene:
    """Renders one labelled packaging photo; the same seed always gives the same scene.

    Args:
        seed: picks everything: layout, fonts, text, distortions.
        size: ``(width, height)`` of the photo.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    image = _background(rng, height, width)
    # The label: a light patch somewhere in the photo.
    label_w, label_h = int(width * rng.uniform(0.45, 0.9)), int(height * rng.uniform(0.35, 0.8))
    lx, ly = int(rng.integers(0, width - label_w)), int(rng.integers(0, height - label_h))
    paper = rng.integers(170, 256, size=3)
    image[ly : ly + label_h, lx : lx + label_w] = paper
    if rng.random() < 0.5:
        _barcode(rng, image, lx + 10, ly + label_h // 2, label_w // 3, label_h // 3)
    if rng.random() < 0.4:
        _nutrition_table(rng, image, lx + 10, ly + 10, int(rng.integers(30, 60)))

    font = _FONTS[int(rng.integers(len(_FONTS)))]
    dot_matrix = rng.random() < 0.3
    ink_level = int(rng.integers(0, 90))
    ink = (
        (ink_level, ink_level, ink_level)
        if rng.random() < 0.8
        else tuple(int(v) for v in rng.integers(0, 120, 3))
    )
    date = _date_text(rng)
    prefix = _EXPIRY_PREFIXES[int(rng.integers(len(_EXPIRY_PREFIXES)))]
    # The keyword is printed before the date or, as on most UK labels, on its own line above it:
    # either way it is not part of the box, and the detector must learn to leave it out.
    prefix_above = bool(prefix) and rng.random() < 0.5
    text_h = rng.uniform(0.03, 0.12) * height
    scale = cv2.getFontScaleFromHeight(font & ~cv2.FONT_ITALIC, int(text_h), 2)
    weight = rng.uniform(1.2, 2.8)
    line = f"{prefix} {date}" if prefix and not prefix_above else date
    # Large print on a narrow label: shrink until the line fits, as a printer's layout would.
    scale *= min(1.0, (label_w - 20) / max(1, _text_size(line, font, scale, max(1, int(scale * weight)))[0]))
    thickness = max(1, int(scale * weight))
    date_w, date_h, _ = _text_size(date, font, scale, thickness)
    prefix_w = _text_size(prefix + " ", font, scale, thickness)[0] if prefix and not prefix_above else 0
    # Anywhere on the label that the line fits, with room above it for a keyword line.
    x_room = max(1, label_w - prefix_w - date_w - 20)
    x = lx + 10 + int(rng.integers(0, x_room))
    top = 2 * date_h + 10 if prefix_above else date_h + 10
    y = ly + top + int(rng.integers(0, max(1, label_h - top - 2 * date_h - 10)))
    if prefix_above:
        above = scale * rng.uniform(0.5, 1.0)
        _draw_text(image, prefix, (x, y - int(date_h * 1.4)), font, above, ink, thickness, dot_matrix)
    elif prefix:
        _draw_text(image, prefix, (x, y), font, scale, ink, thickness, dot_matrix)
    box = _draw_text(image, date, (x + prefix_w, y), font, scale, ink, thickness, dot_matrix)

    # Distractors above and below the date line, never on it.
    for row in range(int(rng.integers(1, 4))):
        text = _distractor(rng)
        small = scale * rng.uniform(0.4, 1.0)
        offset = int((row + 1) * date_h * rng.uniform(1.6, 2.2))
        dy = offset if (row % 2 == 0) else -offset
        line_y = y + dy
        if ly + date_h < line_y < ly + label_h - 4:
            dx = int(rng.integers(0, max(1, label_w // 3)))
            _draw_text(
                image, text, (lx + 10 + dx, line_y), font, small, ink, max(1, thickness - 1), dot_matrix
            )

    warped, warped_box = _warp(rng, image, box)
    return Scene(_degrade(rng, warped), warped_box, date)
