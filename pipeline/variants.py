"""Variants of an image that undo what real print does to OCR, for the second-chance reads.

A first read that finds no date is retried on variants of the same pixels (see
:mod:`pipeline.second_chance`): each variant is one or more steps applied in turn,

- ``dots``: joins the dots of dot-matrix inkjet into strokes. The dot size and pitch are measured
  on the image (:func:`dot_grid`); an image without a regular grid of like dots gets no variant;
- ``contrast``: CLAHE on the lightness, for faint print, glare and shadows;
- ``invert``: inverted polarity, for white ink on dark film, foil or cans;
- ``upscale``: twice the size (less where a cap stops it), for small text;
- ``turn90``, ``turn180``, ``turn270``: turned clockwise by that many degrees;
- ``deskew``: turned by the text's own slant (:func:`skew_angle`), when it is at least
  ``_MIN_SKEW_DEG``;
- ``flat``: dark print lifted off its ground (a black-hat), for dots on streaked, brushed or
  shaded film whose texture the text detector takes for the print or the print for texture;
- ``neutral``: the print in neutral ink (black, white, grey: inkjet, laser, thermal transfer)
  kept and coloured text and marks made the grey of their ground, for a code printed across a
  line of the label's coloured text (:func:`_neutral`); print on white or grey gets no variant,
  print on one colour one only from the fringes anti-aliasing and JPEG give it (the print keeps
  its lightness);
- ``coder``: the pixels unchanged, their text found by the second text detector, fine-tuned for
  coder print (``OcrEngine.coder_detector``; ``Variant.coder``); with another step, that step's
  pixels are read so.

Every variant remembers how its pixels map back to the source image (an affine ``to_source``),
so the boxes read on it are reported in the source's pixels: exactly for turns and scales, as the
bounding box of the turned corners for ``deskew``. Every variant's image is within the text
detector's input caps of :mod:`pipeline.ocr` (``DET_MAX_INPUT_PIXELS``, ``DET_MAX_INPUT_SIDE_PX``):
a larger source is shrunk to fit first, so one variant holds at most 12 MB of pixels whatever the
photo (the crops for recognition are then cut from the shrunk copy; 4 MP keeps a label's text
lines tens of pixels high).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.ocr import DET_MAX_INPUT_PIXELS, DET_MAX_INPUT_SIDE_PX
from pipeline.types import BoundingBox, OcrLine

__all__ = [
    "VARIANT_MAX_PIXELS",
    "VARIANT_MAX_SIDE_PX",
    "DotGrid",
    "Step",
    "Variant",
    "blank",
    "dot_grid",
    "make_variant",
    "parse_plan",
    "resized_variant",
    "skew_angle",
    "turned_variant",
]

# The caps of every variant's image: those of the text detector's input (pipeline/ocr.py), which a
# larger variant would be shrunk to anyway before detection.
VARIANT_MAX_PIXELS = DET_MAX_INPUT_PIXELS
VARIANT_MAX_SIDE_PX = DET_MAX_INPUT_SIDE_PX
# Upscaling doubles the sides: text too small for the text detector at the first read's scale
# shows twice as large. Less than this gain (a cap in the way) is not worth a read.
_UPSCALE = 2.0
_MIN_UPSCALE = 1.25
# Slants smaller than this are left to the text detector, whose boxes follow them.
_MIN_SKEW_DEG = 4.0
# Slants searched by skew_angle: any, either way (a turn of 90 is a quarter turn; 180 more is upside
# down, which the recogniser's orientation classifier turns back). Searched to 45 before the eighth
# session, when a code turned 60 degrees then needed a quarter turn and a deskew after it.
_MAX_SKEW_DEG = 90.0
# skew_angle measures on a copy at most this many pixels a side: the slant of text lines does not
# need more, and the search warps this copy once per angle tried.
_SKEW_SIDE_PX = 400
# Dot-matrix evidence (dot_grid): at least this many dots of like size whose nearest neighbour is
# 0.8 to 1.25 pitches away, and at least this share of the dots of that size. A line of 5x7
# characters has dozens; scattered specks have their nearest neighbours at random distances (for
# specks scattered at random, 30% of them fall in that band).
_MIN_DOTS = 40
_MIN_GRID_SHARE = 0.6
# Smaller pieces of ink (1 or 2 pixels) are noise at any print size.
_MIN_DOT_AREA_PX = 4
# Grey levels between ink and its ground: above JPEG noise on a flat ground, below the contrast of
# faint inkjet.
_INK_CONTRAST = 12
# A photo is blank (blank()) when fewer than _BLANK_INK_PX of its pixels are ink, measured at most
# _BLANK_SIDE_PX on the longer side and smoothed by a 5x5 Gaussian against sensor noise: a
# camera's frame of a wall, a covered lens, an empty belt. A count, not a share, so that one small
# line on a large flat photo is ink enough: "16/11/2026" 20 px high on a flat 4,000 x 3,000 photo,
# which the first read reads, holds 240; every photo of bench/'s real and synthetic sets holds
# more than 18,000 (hard set v3 960213). Flat grey, black and a ramp hold none, a 1280x720 frame
# of Gaussian noise JPEG-coded as a camera sends it none at std 12 and 32 at std 16.
_BLANK_INK_PX = 64
_BLANK_SIDE_PX = 1280
# The share of an image (percent) that the flat step makes black: the darkest of its print.
_FLAT_INK_SHARE = 0.5
# The neutral step takes away a pixel's colour where it is the pixel's own: its chroma (the distance
# from grey in OpenCV's 8-bit CIELAB, a and b offset by 128) above _NEUTRAL_CHROMA, its a, b that
# far from those of its ground (their medians over a square a _NEUTRAL_GROUND_DIV-th of the image's
# short side: marks narrower than half of it, text strokes, have their ground's), and its lightness
# (0..255) above _NEUTRAL_DARK. Measured: the white ground of the first 60 UK label photos has a
# median chroma of 3 (5 on the photo at the 90th percentile); the purple ground and green text of
# hard set v2 940199 are 29 to 79 (its quartiles). The ground and the dark floor are for JPEG, which
# keeps colour at half resolution: a thin black or white stroke across coloured text takes on the
# colours round it. `python -m bench.neutral_strokes` (1 to 3 px print on four grounds, quality
# 85): one chroma threshold alone flattened 29 to 63% of a 1 px black stroke's pixels (white: up to
# 27%); this rule none of a black one's and up to 20% of a white one's, the coloured text ending
# within 11 grey levels of its ground. An image with fewer such pixels than _NEUTRAL_MIN_SHARE has
# nothing to take away.
_NEUTRAL_CHROMA = 20.0
_NEUTRAL_GROUND_DIV = 20
_NEUTRAL_DARK = 60
_NEUTRAL_MIN_SHARE = 0.005
# A dot is at most this many pixels across at the working size: larger blobs are strokes or glyphs.
_MAX_DOT_PX = 40
# Dots are looked for in tiles of this side (a code of 2 to 3 lines of 5x7 dots 3 to 12 px apart
# spans 50 to 400 px).
_DOT_TILE_PX = 512
# Nearest neighbours are measured among at most this many dots of one size in one tile (a seeded
# sample of more), so the pairwise distances take at most 16 MB (three such arrays while they are
# computed); a code has a few hundred.
_MAX_DOTS_MEASURED = 2048
# Erosions of the ink masks tried when dots touch (see dot_grid): two one-pixel erosions part dots
# of up to ~9 px whose blur joins them (hard set v2's 940113: no grid before, one after the first).
_DOT_EROSIONS = 2
_ERODE_KERNEL = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


class Step(enum.StrEnum):
    """One change made to an image (see the module docstring)."""

    DOTS = "dots"
    CONTRAST = "contrast"
    INVERT = "invert"
    UPSCALE = "upscale"
    TURN90 = "turn90"
    TURN180 = "turn180"
    TURN270 = "turn270"
    DESKEW = "deskew"
    FLAT = "flat"
    NEUTRAL = "neutral"
    # The same pixels, read with the text detector fine-tuned for coder print (OcrEngine's
    # coder_detector) instead of the first read's: it finds dotted lines as lines where the
    # wheel's lights a dot here and there (models/ocr_det_coder/MODEL_CARD.md).
    CODER = "coder"


@dataclass(frozen=True, slots=True)
class DotGrid:
    """Dot-matrix print measured on an image, in that image's pixels.

    Attributes:
        diameter_px: the median dot's diameter (of a disc of the same area).
        pitch_px: the median distance from a dot to its nearest neighbour.
        dark: True for dark dots on a lighter ground, False for light dots (white ink).
        dots: how many like dots were measured.
    """

    diameter_px: float
    pitch_px: float
    dark: bool
    dots: int


@dataclass(frozen=True, slots=True, eq=False)
class Variant:
    """An image made from a source image, and how its pixels map back.

    Attributes:
        steps: what was done, in order.
        image: ``(height, width, 3)`` uint8 BGR, within ``VARIANT_MAX_PIXELS`` and
            ``VARIANT_MAX_SIDE_PX``.
        to_source: ``(2, 3)`` affine from this image's pixel coordinates to the source's (pixel
            edges at whole numbers: a box's ``x2`` is one past its last pixel column).
    """

    steps: tuple[Step, ...]
    image: np.ndarray
    to_source: np.ndarray

    @property
    def name(self) -> str:
        """The steps joined with ``+``, e.g. ``dots+turn180``."""
        return "+".join(self.steps)

    @property
    def coder(self) -> bool:
        """Whether the variant is read with the coder text detector (``Step.CODER``)."""
        return Step.CODER in self.steps

    def read_scale(self, scale: float) -> float:
        """The text detector's resize factor for this variant of a region read at ``scale`` (see
        :meth:`pipeline.ocr.TextDetector.preprocess`): the same, so its text shows as large as in
        the first read (twice as large after ``upscale``), undoing a shrink to the caps."""
        source_px_per_px = math.sqrt(abs(float(np.linalg.det(self.to_source[:, :2]))))
        return scale * max(1.0, source_px_per_px)

    def source_box(self, box: BoundingBox) -> BoundingBox:
        """``box`` (in this variant's pixels) in the source's pixels: the box around its four
        corners mapped back, so exact for turns and scales."""
        corners = np.array(
            [[box.x1, box.y1, 1], [box.x2, box.y1, 1], [box.x2, box.y2, 1], [box.x1, box.y2, 1]]
        )
        mapped = corners @ self.to_source.T
        return BoundingBox(
            x1=float(mapped[:, 0].min()),
            y1=float(mapped[:, 1].min()),
            x2=float(mapped[:, 0].max()),
            y2=float(mapped[:, 1].max()),
        )

    def source_lines(self, lines: Iterable[OcrLine]) -> list[OcrLine]:
        """The lines read on this variant, their boxes in the source's pixels."""
        return [dataclasses.replace(line, box=self.source_box(line.box)) for line in lines]


def parse_plan(text: str) -> tuple[tuple[Step, ...], ...]:
    """Reads a plan of variants: comma-separated variants, each steps joined with ``+``
    (``"dots,contrast,dots+turn180"``); an empty text is no variants.

    Raises:
        ValueError: a step that is not one of :class:`Step`, or a variant that repeats a step.
    """
    plan = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            steps = tuple(Step(step.strip()) for step in item.split("+"))
        except ValueError:
            raise ValueError(
                f"unknown step in {item[:60]!r}: steps are {', '.join(step.value for step in Step)}"
            ) from None
        if len(set(steps)) != len(steps):
            raise ValueError(f"variant {item[:60]!r} repeats a step")
        plan.append(steps)
    return tuple(plan)


def make_variant(image: np.ndarray, steps: Sequence[Step]) -> Variant | None:
    """Applies ``steps`` to ``image`` in order.

    Args:
        image: ``(height, width, 3)`` uint8 BGR, any size: a larger one is shrunk within the caps
            first.
        steps: the variant's steps.

    Returns:
        The variant, or ``None`` when a step has nothing to undo on this image (no dot-matrix
        grid for ``dots``, no slant for ``deskew``, no room for ``upscale``): reading it would
        read the same pixels again.
    """
    to_source = _IDENTITY
    scale = _fit_scale(image.shape[0], image.shape[1], 1.0)
    if scale < 1.0:
        image, matrix = _resized(image, scale)
        to_source = _compose(to_source, matrix)
    for step in steps:
        changed = _STEPS[step](image)
        if changed is None:
            return None
        image, matrix = changed
        to_source = _compose(to_source, matrix)
    return Variant(tuple(steps), np.ascontiguousarray(image), to_source)


def resized_variant(image: np.ndarray, scale: float) -> Variant:
    """``image`` resized by ``scale`` (cubic larger, area smaller), lowered to the variant caps,
    as a variant of no steps: what is read on it maps back through ``source_lines`` (the
    whole-photo fallback's larger read of small print, :mod:`pipeline.small_text`)."""
    resized, to_source = _resized(image, _fit_scale(image.shape[0], image.shape[1], scale))
    return Variant((), np.ascontiguousarray(resized), to_source)


def turned_variant(image: np.ndarray, turn: Step) -> Variant:
    """``image`` turned by ``turn`` (``TURN90``, ``TURN180`` or ``TURN270``) at its own size: no
    cap applies, a turn adds no pixels. What is read on it maps back through ``source_lines``
    (a sideways photo read upright, :mod:`pipeline.photo_orientation`).

    Raises:
        ValueError: ``turn`` is not a turn.
    """
    if turn not in (Step.TURN90, Step.TURN180, Step.TURN270):
        raise ValueError(f"{turn} is not a turn")
    changed = _STEPS[turn](image)
    assert changed is not None  # a turn always changes the image
    turned, to_source = changed
    return Variant((turn,), np.ascontiguousarray(turned), to_source)


# -- geometry: every step returns its image and the affine from its pixels to its input's


_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
_Changed = tuple[np.ndarray, np.ndarray]


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer`` after ``inner``: maps through ``inner`` first (both ``(2, 3)`` affines)."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def _fit_scale(height: int, width: int, wanted: float) -> float:
    """``wanted``, lowered so that ``height x width`` scaled by it is within the variant caps."""
    return min(
        wanted,
        VARIANT_MAX_SIDE_PX / max(height, width),
        math.sqrt(VARIANT_MAX_PIXELS / max(1, height * width)),
    )


def _resized(image: np.ndarray, scale: float) -> _Changed:
    height, width = image.shape[:2]
    out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (out_w, out_h), interpolation=interpolation)
    # Pixel edges map linearly (OpenCV aligns pixel centres, which is the same thing).
    return resized, np.array([[width / out_w, 0.0, 0.0], [0.0, height / out_h, 0.0]])


def _upscale(image: np.ndarray) -> _Changed | None:
    scale = _fit_scale(image.shape[0], image.shape[1], _UPSCALE)
    return _resized(image, scale) if scale >= _MIN_UPSCALE else None


def _turn(code: int, turns: int) -> Callable[[np.ndarray], _Changed]:
    """A clockwise turn by ``turns`` quarters, and its exact inverse in pixel-edge coordinates."""

    def turn(image: np.ndarray) -> _Changed:
        height, width = image.shape[:2]
        if turns == 1:  # (x, y) -> (height - y, x)
            back = [[0.0, 1.0, 0.0], [-1.0, 0.0, height]]
        elif turns == 2:  # (x, y) -> (width - x, height - y)
            back = [[-1.0, 0.0, width], [0.0, -1.0, height]]
        else:  # (x, y) -> (y, width - x)
            back = [[0.0, -1.0, width], [1.0, 0.0, 0.0]]
        return cv2.rotate(image, code), np.array(back)

    return turn


def _deskew(image: np.ndarray) -> _Changed | None:
    angle = skew_angle(image)
    if abs(angle) < _MIN_SKEW_DEG:
        return None
    height, width = image.shape[:2]
    # Turning by -angle makes the text level; the canvas grows to hold the turned corners.
    radians = math.radians(angle)
    cos, sin = abs(math.cos(radians)), abs(math.sin(radians))
    out_w, out_h = width * cos + height * sin, width * sin + height * cos
    scale = _fit_scale(round(out_h), round(out_w), 1.0)
    out_w, out_h = max(1, round(out_w * scale)), max(1, round(out_h * scale))
    # In pixel-edge coordinates: about the centre, then centred on the new canvas.
    forward = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    forward[:, 2] += (out_w / 2 - width / 2, out_h / 2 - height / 2)
    # warpAffine works on pixel centres: shift by half a pixel on both sides of the map.
    centred = forward.copy()
    centred[:, 2] += forward[:, :2] @ [0.5, 0.5] - 0.5
    turned = cv2.warpAffine(
        image, centred, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return turned, cv2.invertAffineTransform(forward)


# -- pixel steps: same size, same coordinates


def _contrast(image: np.ndarray) -> _Changed:
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    # OpenCV's defaults for tiles (8x8) and a clip of 3: local contrast up, noise not blown up.
    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
    lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), _IDENTITY


def _invert(image: np.ndarray) -> _Changed:
    return cv2.bitwise_not(image), _IDENTITY


def _dots(image: np.ndarray) -> _Changed | None:
    grid = dot_grid(image)
    if grid is None:
        return None
    # The gap between two dots is the pitch less a dot; a kernel one pitch across bridges it, also
    # along a diagonal of the grid, and is still narrower than the space between two characters
    # (a 5x7 font leaves a dot column free). Opening (min, then max) spreads dark ink over the
    # light gaps; closing does the same for light ink.
    size = max(3, 2 * round(grid.pitch_px / 2) + 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    operation = cv2.MORPH_OPEN if grid.dark else cv2.MORPH_CLOSE
    joined = cv2.morphologyEx(image, operation, kernel)
    return joined, _IDENTITY


def _flat(image: np.ndarray) -> _Changed:
    """Dark print lifted off its ground: each pixel's darkness under its neighbourhood's closing (a
    black-hat, ``_flat_kernel_px`` across), stretched so the darkest ``_FLAT_INK_SHARE`` of the image
    is black, on white. Marks narrower than the kernel (a dot, a stroke) stay; streaks, shading
    and glare that vary over more than it go. Grey out, as BGR."""
    gray = _gray(image)
    size = _flat_kernel_px(gray.shape[:2])
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    ink = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
    darkest = max(1.0, float(np.percentile(ink, 100.0 - _FLAT_INK_SHARE)))
    lifted = np.clip(ink.astype(np.float32) * (255.0 / darkest), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.bitwise_not(lifted), cv2.COLOR_GRAY2BGR), _IDENTITY


def _neutral(image: np.ndarray) -> _Changed | None:
    """Neutral print kept, colour taken away: each pixel whose colour is its own (see
    ``_NEUTRAL_CHROMA``) takes its ground's lightness, each other pixel keeps its own. Coloured
    text that a code was printed across (hard set v2 940199: ``ED: 27.08.30`` in white across a
    line of green text, which the text detector takes in with it) goes, leaving the code's black
    or white strokes on their ground. ``None`` when the image has too little colour of its own to
    take away (``_NEUTRAL_MIN_SHARE``). Grey out, as BGR. The medians take 120 ms for 0.5 MP and
    220 ms for 3 MP on the development VM."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    channels = [np.ascontiguousarray(lab[..., channel]) for channel in range(3)]
    size = max(5, (min(image.shape[:2]) // _NEUTRAL_GROUND_DIV) | 1)
    grounds = [cv2.medianBlur(channel, size) for channel in channels]
    # a and b of each pixel and of its ground, centred on grey, each converted once.
    a, b, ground_a, ground_b = (
        channel.astype(np.float32) - 128.0 for channel in (*channels[1:], *grounds[1:])
    )
    lightness = channels[0]
    own = (
        (lightness > _NEUTRAL_DARK)
        & (np.hypot(a, b) > _NEUTRAL_CHROMA)
        & (np.hypot(a - ground_a, b - ground_b) > _NEUTRAL_CHROMA)
    )
    if np.count_nonzero(own) < _NEUTRAL_MIN_SHARE * own.size:
        return None
    grey = np.where(own, grounds[0], lightness)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), _IDENTITY


def _flat_kernel_px(shape: tuple[int, int]) -> int:
    """The black-hat's kernel for an image of ``shape``: a sixtieth of its short side (11 px on a
    640 px photo, where a code's dots are 3 to 6 px and 8 to 10 px apart), odd, at least 7.
    Measured on hard set v3 960092 (dots on streaked film, turned 80 degrees): a thirty-fifth, a
    sixtieth and a hundredth all read its date."""
    return max(7, (min(shape) // 60) | 1)


_STEPS: dict[Step, Callable[[np.ndarray], _Changed | None]] = {
    Step.DOTS: _dots,
    Step.CONTRAST: _contrast,
    Step.INVERT: _invert,
    Step.UPSCALE: _upscale,
    Step.TURN90: _turn(cv2.ROTATE_90_CLOCKWISE, 1),
    Step.TURN180: _turn(cv2.ROTATE_180, 2),
    Step.TURN270: _turn(cv2.ROTATE_90_COUNTERCLOCKWISE, 3),
    Step.DESKEW: _deskew,
    Step.FLAT: _flat,
    Step.NEUTRAL: _neutral,
    Step.CODER: lambda image: (image, _IDENTITY),
}


# -- measurements


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def _shrunk_gray(image: np.ndarray, side_px: int) -> np.ndarray:
    """``image`` in grey, shrunk (area averaging) to at most ``side_px`` on its longer side."""
    gray = _gray(image)
    shrink = min(1.0, side_px / max(gray.shape[:2]))
    if shrink < 1.0:
        gray = cv2.resize(gray, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    return gray


def _neighbourhood(gray: np.ndarray) -> np.ndarray:
    """Each pixel's neighbourhood mean, as int16: a box about a twentieth of the image's short
    side, at least 15 px (several dots of any print)."""
    block = max(15, (min(gray.shape[:2]) // 20) | 1)
    return cv2.blur(gray, (block, block)).astype(np.int16)


def _ink_masks(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels clearly darker, and clearly lighter, than their neighbourhood (:func:`_neighbourhood`)."""
    delta = gray.astype(np.int16) - _neighbourhood(gray)
    return (delta < -_INK_CONTRAST).astype(np.uint8), (delta > _INK_CONTRAST).astype(np.uint8)


def blank(image: np.ndarray) -> bool:
    """Whether ``image`` (``(h, w, 3)`` uint8 BGR, or gray) holds no mark to read: fewer than
    ``_BLANK_INK_PX`` of its pixels differ by more than ``_INK_CONTRAST`` levels from their
    neighbourhood (:func:`_neighbourhood`), once shrunk to ``_BLANK_SIDE_PX`` (area averaging)
    and smoothed by a 5x5 Gaussian, which quiet sensor noise and leave print of any size that a
    text detector could find. About 3 ms for a 1280x720 frame, 25 ms for a 12 MP photo."""
    gray = _shrunk_gray(image, _BLANK_SIDE_PX)
    delta = np.abs(cv2.GaussianBlur(gray, (5, 5), 0).astype(np.int16) - _neighbourhood(gray))
    return int(np.count_nonzero(delta > _INK_CONTRAST)) < _BLANK_INK_PX


def dot_grid(image: np.ndarray) -> DotGrid | None:
    """Measures dot-matrix print: the size and pitch of a grid of like dots, and their polarity.

    Ink is told from its neighbourhood by its contrast (both polarities are tried), and must also
    differ from the ground of its tile (the tile's median). Its connected pieces that are round
    (filling at least 45% of a box of aspect 1:2 to 2:1) and at most ``_MAX_DOT_PX`` across are
    dot candidates. Tile by tile (``_DOT_TILE_PX``, overlapping by half) and size class by size
    class (areas within 1.6x of a power of two), it is dot-matrix print when at least ``_MIN_DOTS``
    dots, and at least ``_MIN_GRID_SHARE`` of the class, have their nearest neighbour within 0.8 to
    1.25 pitches, the pitch being the class's median nearest-neighbour distance, itself between 1
    and 3 dot diameters. The tile and class with the most such dots give the grid.

    Dense print (a pitch little more than a dot, blurred) joins neighbouring dots into strokes in
    the ink mask, which then holds few dots: when neither polarity gives a grid, the masks are
    eroded by one pixel and measured again, at most ``_DOT_EROSIONS`` times (the neck between two
    touching dots is thinner than a dot, so it parts first; the pitch, between centres, stays).

    Returns:
        The grid, or ``None`` when the image holds no such print.
    """
    gray = _gray(image)
    masks = _ink_masks(gray)
    for _ in range(_DOT_EROSIONS + 1):
        best: DotGrid | None = None
        for dark, mask in zip((True, False), masks, strict=True):
            grid = _grid_of(mask, gray, dark)
            if grid is not None and (best is None or grid.dots > best.dots):
                best = grid
        if best is not None:
            return best
        masks = tuple(cv2.erode(mask, _ERODE_KERNEL) for mask in masks)
    return None


def _grid_of(mask: np.ndarray, gray: np.ndarray, dark: bool) -> DotGrid | None:
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    width, height = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    area = stats[1:, cv2.CC_STAT_AREA]
    aspect = width / np.maximum(1, height)
    candidates = (
        (area >= _MIN_DOT_AREA_PX)
        & (np.maximum(width, height) <= _MAX_DOT_PX)
        & (aspect >= 0.5)
        & (aspect <= 2.0)
        & (area / np.maximum(1, width * height) >= 0.45)
    )
    mean = np.bincount(labels.ravel(), weights=gray.ravel(), minlength=count)[1:] / np.maximum(1, area)
    points, areas, means = centroids[1:][candidates], area[candidates], mean[candidates]
    best: DotGrid | None = None
    # Print covers part of a photo: judged tile by tile, the dots of a code are not outnumbered by
    # the specks of the rest of the photo. Tiles overlap by half, so a code is whole in one.
    rows, cols = mask.shape[:2]
    step = _DOT_TILE_PX // 2
    for y in range(0, max(1, rows - step), step):
        for x in range(0, max(1, cols - step), step):
            # The light holes between dark dots that touch are lighter than their dotted
            # neighbourhood but as light as the paper: ink must differ from the tile's ground too
            # (its median, from every fourth pixel).
            ground = float(np.median(gray[y : y + _DOT_TILE_PX : 4, x : x + _DOT_TILE_PX : 4]))
            inked = means < ground - _INK_CONTRAST if dark else means > ground + _INK_CONTRAST
            inside = (
                inked
                & (points[:, 0] >= x)
                & (points[:, 0] < x + _DOT_TILE_PX)
                & (points[:, 1] >= y)
                & (points[:, 1] < y + _DOT_TILE_PX)
            )
            grid = _size_class_grid(points[inside], areas[inside], dark)
            if grid is not None and (best is None or grid.dots > best.dots):
                best = grid
    return best


def _size_class_grid(points: np.ndarray, areas: np.ndarray, dark: bool) -> DotGrid | None:
    """The largest grid among dots of one size class (areas within 1.6x of a power of two): a
    photo holds specks of every size (texture, JPEG noise, punctuation), a code's dots are alike."""
    best: DotGrid | None = None
    size = float(_MIN_DOT_AREA_PX)
    while size <= _MAX_DOT_PX**2 and len(points) >= _MIN_DOTS:
        alike = (areas >= size / 1.6) & (areas <= size * 1.6)
        size *= 2
        if alike.sum() < _MIN_DOTS:
            continue
        sample = points[alike]
        if len(sample) > _MAX_DOTS_MEASURED:
            # Seeded: the same image always gives the same grid. A thinned grid only looks sparser,
            # which makes the test stricter.
            keep = np.random.default_rng(0).choice(len(sample), _MAX_DOTS_MEASURED, replace=False)
            sample = sample[np.sort(keep)]
        nearest = _nearest_distances(sample)
        pitch = float(np.median(nearest))
        diameter = 2.0 * math.sqrt(float(np.median(areas[alike])) / math.pi)
        on_grid = int(((nearest >= 0.8 * pitch) & (nearest <= 1.25 * pitch)).sum())
        if not diameter <= pitch <= 3.0 * diameter:
            continue
        grid = on_grid >= _MIN_DOTS and on_grid >= _MIN_GRID_SHARE * len(nearest)
        if grid and (best is None or on_grid > best.dots):
            best = DotGrid(diameter_px=diameter, pitch_px=pitch, dark=dark, dots=on_grid)
    return best


def _nearest_distances(points: np.ndarray) -> np.ndarray:
    """Each point's distance to its nearest other point (all pairs, as float32)."""
    xy = points.astype(np.float32)
    squared = (xy * xy).sum(axis=1)
    distances = squared[:, None] + squared[None, :] - 2.0 * (xy @ xy.T)
    np.fill_diagonal(distances, np.inf)
    return np.sqrt(np.maximum(distances.min(axis=1), 0.0))


def skew_angle(image: np.ndarray) -> float:
    """The turn that levels the image's text lines: degrees counter-clockwise (OpenCV's sense of
    ``getRotationMatrix2D``), within ``_MAX_SKEW_DEG`` either way.

    Measured on the ink (see :func:`dot_grid`) of a copy at most ``_SKEW_SIDE_PX`` a side: the angle
    whose turn makes the ink's row sums vary most (level lines give rows of ink and rows of ground),
    searched every 3 degrees and then every degree around the best.
    """
    gray = _shrunk_gray(image, _SKEW_SIDE_PX)
    dark, light = _ink_masks(gray)
    ink = (dark if dark.sum() >= light.sum() else light).astype(np.float32)
    if not ink.any():
        return 0.0
    height, width = ink.shape
    centre = (width / 2, height / 2)

    def spread(angle: float) -> float:
        matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
        rows = cv2.warpAffine(ink, matrix, (width, height)).sum(axis=1)
        return float(rows.var())

    coarse = max(np.arange(-_MAX_SKEW_DEG, _MAX_SKEW_DEG + 0.1, 3.0), key=spread)
    fine = np.arange(coarse - 2.0, coarse + 2.1, 1.0)
    return float(max(fine, key=spread))
