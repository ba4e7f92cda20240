"""Synthetic photos of packaging with a box on every date line: training data for the date detector.

A scene is a phone photo of a product in a shop: a busy background (shelves, other packs), the
product's surface (carton, pouch, foil, clear film over food, a can end, a cap, a paper label, a
curved bottle), its own print (brand words, ingredient paragraphs, a second script, barcodes,
nutrition tables), and the code printed on it: one to four lines of production date, expiry date,
lot, time and price, in the formats and Latin keywords that ``pipeline.dates`` reads, printed as
dot-matrix or continuous inkjet (dot size, pitch, jitter, missing dots, smear), thermal inkjet,
thermal transfer, laser or embossing. The product is bent (cylinder), turned up to 90 degrees either
way, tilted in perspective, and the photo gets shadows, glare, blur, noise and JPEG.

Every line that holds a date gets a box (the class is "any date line": expiry or production, with
its keyword where the keyword is printed on the same line; a keyword on its own line above is not
boxed). Lot codes, times, prices, legends ("DD/MM/YY") and keyword-only lines get none: the
detector must learn to leave them out. Boxes are axis-aligned around the turned line's ink, taken
from a label map warped with the photo, so they stay tight whatever the geometry.

Scripts that OpenCV cannot draw (Thai, CJK, Hangul) appear as stroke glyphs of their own
(``_script_word``): the detector sees a non-Latin legend beside a date without needing a font.
Only numpy and OpenCV: tests import this without the training extra. 0.1 to 0.2 s a scene on one
core of the development VM while other work loaded it (1,064 scenes in 128 s, 2,064 in 338 s).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import cv2
import numpy as np

__all__ = ["DOT_FONTS", "PRINT_STYLES", "SURFACES", "Damage", "DateLine", "Scene", "render_scene"]

Box = tuple[float, float, float, float]
Colour = tuple[float, float, float]
T = TypeVar("T")

PRINT_STYLES = ("dot-matrix", "cij", "thermal-inkjet", "thermal-transfer", "laser", "embossed")
SURFACES = ("carton", "pouch", "foil", "film-over-food", "can-end", "cap", "label", "bottle")
# Draw weights of the styles and surfaces: dot-matrix and inkjet are where real photos fail most.
_STYLE_WEIGHTS = (0.3, 0.2, 0.15, 0.2, 0.07, 0.08)
_SURFACE_WEIGHTS = (0.16, 0.16, 0.12, 0.12, 0.12, 0.06, 0.16, 0.10)

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_EXPIRY_KEYWORDS = (
    "EXP",
    "EXP.",
    "EXP:",
    "EXP DATE",
    "EXP.DATE:",
    "EXPIRY",
    "BB",
    "BB:",
    "BBE",
    "BBF",
    "BBD",
    "BEST BEFORE",
    "Best before",
    "BEST BEFORE END",
    "USE BY",
    "Use by",
    "E:",
    "E",
    "VAL",
    "VAL:",
    "VENC",
    "CAD",
    "HSD",
    "HSD:",
    "MHD",
    "DLUO",
    "A CONSOMMER AVANT",
    "TE GEBRUIKEN TOT",
    "SKT",
    "Display until",
    "ED",
)
_PRODUCTION_KEYWORDS = (
    "MFG",
    "MFG:",
    "MFG.",
    "MFD",
    "MFD:",
    "MFG DATE",
    "PROD",
    "PROD :",
    "PRO.DATE:",
    "P:",
    "P",
    "FAB",
    "FAB:",
    "NSX",
    "NSX:",
    "PKD",
    "PACKED",
    "Packed on",
)
_SUFFIXES = ("A", "1", "B", "N", "L6", "14:24", "RE21", "F135", "H1", "1D", "KS1", "03:58")
_LEGENDS = (
    "DD/MM/YY",
    "(DD MM YYYY)",
    "DD MM YYYY",
    "BEST BEFORE: DDMMYY",
    "(D/M/Y)",
    "Best before:",
    "EXP/LOT: SEE BOTTOM",
    "Best Before Date",
    "MFG / EXP",
)
_WORDS = (
    "Ingredients",
    "wheat",
    "flour",
    "sugar",
    "palm",
    "oil",
    "salt",
    "milk",
    "powder",
    "cocoa",
    "natural",
    "flavour",
    "Net",
    "Wt",
    "Store",
    "in",
    "a",
    "cool",
    "dry",
    "place",
    "Product",
    "of",
    "Thailand",
    "contains",
    "soy",
    "Keep",
    "refrigerated",
    "Serving",
    "size",
    "Energy",
    "kcal",
    "Distributed",
    "by",
    "Co.",
    "Ltd",
    "Halal",
    "NO",
    "PRESERVATIVES",
    "Original",
    "Crispy",
)
_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
)
# d day, m month, Y/y four/two-digit year, N/n month name (JAN/Jan); anything else is printed.
_DATE_FORMATS = (
    "d/m/Y",
    "d/m/y",
    "d.m.Y",
    "d.m.y",
    "d-m-Y",
    "d-m-y",
    "d m Y",
    "d m y",
    "dmy",
    "dmY",
    "Ymd",
    "Y-m-d",
    "Y.m.d",
    "Y/m/d",
    "y.m.d",
    "d N Y",
    "dNy",
    "d N",
    "N Y",
    "m/Y",
    "m/y",
    "N d Y",
    "d n Y",
)
# Label values of the code's lines that hold no date (lot, time, price, a keyword's own line):
# above any date line's (a code has at most a few of those).
_OTHER_LINE_LABEL = 128
_SIZES = ((840, 640), (640, 840), (720, 960), (960, 720), (768, 768))


@dataclass(frozen=True, slots=True)
class DateLine:
    """One printed line that holds a date, and its box in the photo."""

    text: str  # as printed, keyword included; a non-Latin legend shows as "<script>"
    box: Box  # x1, y1, x2, y2 photo pixels, axis-aligned around the (possibly turned) line's ink
    role: str  # "expiry" or "production"
    # All of the line's ink is on the product and in the photo (not cut by the face's edge, a can
    # end's rim or the photo's border).
    whole: bool = True
    # The share of the line's ink that a worn thermal-transfer ribbon left out (0: none).
    worn: float = 0.0


@dataclass(frozen=True, slots=True)
class Scene:
    """One synthetic photo and every date line on it (the expiry's first)."""

    image: np.ndarray  # (height, width, 3) uint8 BGR
    box: Box  # the expiry line's box, as ``lines[0].box``
    date_text: str  # the expiry date as printed, without keyword
    expiry: str  # the expiry as "YYYY-MM-DD", "YYYY-MM" (month only) or "MM-DD" (no year printed)
    lines: tuple[DateLine, ...]
    style: str  # one of PRINT_STYLES: how the code was printed
    surface: str  # one of SURFACES
    angle: float  # degrees the product (and its code) is turned in the photo
    # With ``render_scene(..., with_ink=True)``: (height, width) uint8, i + 1 where the ink of
    # ``lines[i]`` is, 0 elsewhere; None otherwise.
    ink: np.ndarray | None = field(default=None, repr=False)
    # With ``with_ink=True``: (height, width) uint8, the ink of every line of the code, date or
    # not (lot, time, price, legends), each line its own value > 0 (not ``ink``'s numbering): what
    # a text detector must find (models/ocr_det_coder/det_set.py); None otherwise.
    code_ink: np.ndarray | None = field(default=None, repr=False)
    # The expiry's keyword as printed, on its line or on its own line above ("" when none).
    keyword: str = ""
    # The expiry's format in ``_DATE_FORMATS`` letters: d day, m month, Y/y four/two-digit year,
    # N/n month name; e.g. "d/m/y".
    date_format: str = ""
    # The code's cap height in photo pixels: the printed height times the placement's scale at the
    # code's centre (perspective and bending change it by a few per cent along the code).
    cap_height: float = 0.0
    # Drops per cap height of a dot style (dot-matrix, cij): 5, 7 and 9 print DOT_FONTS; 0 for
    # the other styles.
    dot_rows: int = 0
    dot_size: float = 0.0  # a dot style's drop radius over the drop pitch; 0 for the other styles
    dot_missing: float = 0.0  # a dot style's share of drops not printed; 0 for the other styles

    @property
    def boxes(self) -> np.ndarray:
        """Every date line's box as a ``(M, 4)`` float32 x1, y1, x2, y2 array."""
        return np.array([line.box for line in self.lines], dtype=np.float32).reshape(-1, 4)


@dataclass(frozen=True, slots=True)
class Damage:
    """Blur and glare asked of ``render_scene`` in place of the seed's own draw of them.

    The seed's other damage (shadow, low contrast, colour cast, noise, JPEG) stays as drawn.
    Zeros leave the seed's own blur (both blur fields 0) or glare (``glare`` 0).
    """

    blur_sigma: float = 0.0  # Gaussian defocus, photo px
    motion_px: int = 0  # a straight motion streak this many photo px long (used when blur_sigma is 0)
    motion_angle: float = 0.0  # the streak's direction, degrees
    glare: float = 0.0  # peak brightening of a glare spot over the expiry line, grey levels
    # The spot's centre from the expiry line's centre, in its box's widths and heights, and its
    # Gaussian sigma over the box's longer side.
    glare_at: tuple[float, float] = (0.0, 0.0)
    glare_size: float = 0.3


@dataclass(frozen=True, slots=True)
class _Ink:
    """How a code is printed: the style and its parameters, drawn once per scene."""

    style: str
    colour: Colour  # BGR 0..255
    opacity: float  # 0..1: faint grey inkjet to solid black
    font: int
    weight: float  # stroke thickness over text height (fonts)
    rows: int  # dots per character height (dot styles)
    dot: float  # dot radius over pitch
    jitter: float  # dot position noise over pitch
    missing: float  # share of dots not printed
    smear: float  # horizontal smear length over pitch (0: none)
    squeeze: float  # horizontal over vertical dot pitch


@dataclass(frozen=True, slots=True)
class _Segment:
    """Part of a printed line: text in a style, or ``glyphs`` stroke glyphs of another script."""

    text: str
    glyphs: int = 0
    legend: bool = False  # pre-printed on the pack (solid font, pack colour), not by the coder


@dataclass(frozen=True, slots=True)
class _LineSpec:
    segments: tuple[_Segment, ...]
    role: str | None  # "expiry", "production", or None: not a date line (no box)
    scale: float = 1.0  # text height over the code's text height
    gap_after: float = 0.0  # >0: the next line continues on this baseline after this many heights

    @property
    def text(self) -> str:
        return " ".join(s.text if not s.glyphs else "<script>" for s in self.segments).strip()


# --- what is printed -------------------------------------------------------------------------------


def _choice(rng: np.random.Generator, options: Sequence[T], weights: Sequence[float] | None = None) -> T:
    if weights is None:
        return options[int(rng.integers(len(options)))]
    p = np.asarray(weights, dtype=np.float64)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def _colour(rng: np.random.Generator, low: int, high: int) -> Colour:
    """A BGR colour, each channel drawn from ``low`` to ``high - 1``."""
    blue, green, red = (float(v) for v in rng.integers(low, high, 3))
    return blue, green, red


def _date_format(rng: np.random.Generator) -> str:
    """A format for every date of one code (a coder prints its dates alike)."""
    return str(_choice(rng, _DATE_FORMATS))


def _format_date(date: dt.date, fmt: str) -> str:
    parts = {
        "d": f"{date.day:02d}",
        "m": f"{date.month:02d}",
        "Y": f"{date.year}",
        "y": f"{date.year % 100:02d}",
        "N": _MONTHS[date.month - 1],
        "n": _MONTHS[date.month - 1].title(),
    }
    return "".join(parts.get(c, c) for c in fmt)


def _expected(date: dt.date, fmt: str) -> str:
    """The date in a manifest's ``expected`` form: what its printed format says."""
    if "d" not in fmt:
        return f"{date.year}-{date.month:02d}"
    if "Y" not in fmt and "y" not in fmt:
        return f"{date.month:02d}-{date.day:02d}"
    return date.isoformat()


def _keyword_line(rng: np.random.Generator, role: str, date_text: str) -> tuple[tuple[_Segment, ...], str]:
    """A date with (usually) its keyword before it, sometimes after a non-Latin legend; and the
    keyword ("" when none)."""
    keywords = _EXPIRY_KEYWORDS if role == "expiry" else _PRODUCTION_KEYWORDS
    keyword = _choice(rng, keywords) if rng.random() < 0.8 else ""
    glue = ""
    if keyword:
        # Glued ("EXP200826") only after a one-word keyword; a colon only where there is none.
        glues = (" ", " ", "  ", " <") + (("", ": ") if keyword[-1].isalpha() and " " not in keyword else ())
        glue = str(_choice(rng, glues, (3, 3, 1, 0.5) + ((2, 2) if len(glues) > 4 else ())))
    code = f"{keyword}{glue}{date_text}" + (">" if glue == " <" else "")
    if rng.random() < 0.25:
        code += " " + _choice(rng, _SUFFIXES)
    segments: list[_Segment] = []
    if rng.random() < 0.25:  # a legend in another script printed on the pack, then the coder's date
        segments.append(_Segment("", glyphs=int(rng.integers(3, 10)), legend=True))
    if keyword and rng.random() < 0.2:  # the Latin keyword pre-printed too, the date from the coder
        return (
            *segments,
            _Segment(f"{keyword}{glue.rstrip('<')}", legend=True),
            _Segment(date_text),
        ), keyword
    return (*segments, _Segment(code)), keyword


def _lot(rng: np.random.Generator) -> str:
    digits = "".join(str(int(v)) for v in rng.integers(0, 10, int(rng.integers(4, 11))))
    letters = "".join(chr(65 + int(v)) for v in rng.integers(0, 26, int(rng.integers(1, 4))))
    shapes = (
        f"L{digits} {letters}",
        f"LOT {digits}",
        f"{digits}{letters}",
        f"{digits[:6]}-{digits[6:] or '01'}",
        f"{letters}{digits}",
        f"LOT: {letters}{digits[:4]}",
    )
    return str(_choice(rng, shapes))


def _time(rng: np.random.Generator) -> str:
    hh, mm, ss = int(rng.integers(0, 24)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    return str(
        _choice(rng, (f"{hh:02d}:{mm:02d}", f"{hh:02d}:{mm:02d}:{ss:02d}", f"{hh:02d}:{mm:02d} {_lot(rng)}"))
    )


def _price(rng: np.random.Generator) -> str:
    value = int(rng.integers(1, 500))
    return str(
        _choice(
            rng,
            (
                f"{value}.00 B",
                f"RM {value / 10:.2f}",
                f"${value / 100:.2f}",
                f"Rp {value}.500",
                f"PRICE {value}.-",
            ),
        )
    )


def _code_lines(
    rng: np.random.Generator, expiry: dt.date, fmt: str, distractors: bool = False
) -> tuple[list[_LineSpec], str, str]:
    """The lines of one code, top to bottom, the expiry's date text and its keyword.

    ``distractors``: always a production date line and at least one of lot, time and price
    (drawn as they would be otherwise, so a seed keeps its other lines).
    """
    expiry_text = _format_date(expiry, fmt)
    made = expiry - dt.timedelta(days=int(rng.integers(30, 1100)))
    lines: list[_LineSpec] = []
    segments, keyword = _keyword_line(rng, "expiry", expiry_text)
    expiry_line = _LineSpec(segments, "expiry")
    if rng.random() < 0.15:  # UK style: the keyword on its own line above a bare date
        keyword = _choice(rng, ("Use by", "USE BY", "Best before", "BEST BEFORE", "EXP", "Display until"))
        lines.append(_LineSpec((_Segment(keyword, legend=rng.random() < 0.5),), None, rng.uniform(0.5, 1.0)))
        expiry_line = _LineSpec((_Segment(expiry_text),), "expiry")
    if rng.random() < 0.2:
        lines.insert(
            0, _LineSpec((_Segment(_choice(rng, _LEGENDS), legend=True),), None, rng.uniform(0.5, 1.0))
        )
    if rng.random() < 0.15:
        glyphs = _Segment("", glyphs=int(rng.integers(4, 12)), legend=True)
        lines.insert(0, _LineSpec((glyphs,), None, rng.uniform(0.6, 1.0)))
    dated = [expiry_line]
    if rng.random() < 0.6 or distractors:
        production = _LineSpec(_keyword_line(rng, "production", _format_date(made, fmt))[0], "production")
        dated.insert(int(rng.integers(0, 2)), production)
    if len(dated) == 2 and rng.random() < 0.15:  # side by side on one baseline, a gap between
        first = dated[0]
        dated[0] = _LineSpec(first.segments, first.role, first.scale, rng.uniform(1.5, 4.0))
    lines.extend(dated)
    extras = 0
    for extra in (_lot, _time, _price):
        chance = {_lot: 0.45, _time: 0.25, _price: 0.08}[extra]
        if rng.random() < chance:
            at = int(rng.integers(0, len(lines) + 1))
            lines.insert(at, _LineSpec((_Segment(extra(rng)),), None))
            extras += 1
    if distractors and not extras:
        extra = _choice(rng, (_lot, _time, _price))
        lines.insert(int(rng.integers(0, len(lines) + 1)), _LineSpec((_Segment(extra(rng)),), None))
    return lines, expiry_text, keyword


# --- drawing ---------------------------------------------------------------------------------------


def _random_ink(rng: np.random.Generator, style: str, surface_brightness: float) -> _Ink:
    # Dark ink on light packs; on darker ones white ink, or dark ink all the same (low contrast).
    dark = surface_brightness > 110 or rng.random() < 0.2
    colour: Colour
    if style == "laser":
        # Laser ablation shows the layer under the print: lighter than the surface, or dark on film.
        level = float(rng.uniform(170, 250)) if rng.random() < 0.6 else float(rng.uniform(20, 80))
        colour = (level, level, level)
    elif dark:
        # Black and greys most, then the blues, purples and reds that coders also load.
        palette: tuple[Colour, ...] = (
            (20.0, 20.0, 20.0),
            (40.0, 40.0, 40.0),
            (70.0, 70.0, 70.0),
            (110.0, 100.0, 100.0),
            (90.0, 30.0, 20.0),
            (60.0, 20.0, 80.0),
            (30.0, 30.0, 140.0),
        )
        colour = _choice(rng, palette, (4, 3, 2, 1.5, 1, 0.5, 0.5))
    else:
        level = float(rng.uniform(200, 250))
        colour = (level, level, float(rng.uniform(190, 250)))
    dot_style = style in ("dot-matrix", "cij")
    return _Ink(
        style=style,
        colour=colour,
        opacity=float(rng.uniform(0.4, 1.0) if rng.random() < 0.3 else rng.uniform(0.8, 1.0)),
        font=int(_choice(rng, _FONTS)),
        weight=float(rng.uniform(0.05, 0.16) if style != "laser" else rng.uniform(0.03, 0.07)),
        rows=int(_choice(rng, (5, 7, 7, 7, 9, 12, 16))) if dot_style else 7,
        dot=float(rng.uniform(0.55, 0.8) if style == "cij" else rng.uniform(0.3, 0.55)),
        jitter=float(rng.uniform(0.05, 0.3) if style == "cij" else rng.uniform(0.0, 0.15)),
        missing=float(rng.uniform(0.0, 0.15) if rng.random() < 0.5 else 0.0),
        smear=float(rng.uniform(0.4, 1.0) if rng.random() < 0.3 else 0.0),
        squeeze=float(rng.uniform(0.8, 1.35)),
    )


# --- dot-matrix fonts ------------------------------------------------------------------------------
# Small-character inkjet coders print from fixed bitmap fonts, one drop per set cell: 5 dots high
# (5x5, capitals), 7 high (5x7, the classic design also in HD44780 display ROMs) and 9 high (7x9).
# Typed out here from that public, well-known design; "#" is a drop, rows top to bottom. The zero
# is the coders' plain oval, not the displays' slashed one (a slash read through big or jittered
# drops turns 0 into 3 or 8): at 5 columns it is the O, at 7 it is drawn narrower than O. Fonts
# without lowercase print it as capitals, as coders that have only capitals do.

_FONT_5X5 = {
    " ": "..... ..... ..... ..... .....",
    "0": ".###. #...# #...# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. .###.",
    "2": "####. ....# .###. #.... #####",
    "3": "####. ....# .###. ....# ####.",
    "4": "#..#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ####.",
    "6": ".###. #.... ####. #...# .###.",
    "7": "##### ...#. ..#.. .#... .#...",
    "8": ".###. #...# .###. #...# .###.",
    "9": ".###. #...# .#### ....# .###.",
    "A": ".###. #...# ##### #...# #...#",
    "B": "####. #...# ####. #...# ####.",
    "C": ".#### #.... #.... #.... .####",
    "D": "####. #...# #...# #...# ####.",
    "E": "##### #.... ####. #.... #####",
    "F": "##### #.... ####. #.... #....",
    "G": ".#### #.... #..## #...# .###.",
    "H": "#...# #...# ##### #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. #..#. .##..",
    "K": "#...# #..#. ###.. #..#. #...#",
    "L": "#.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #...# #...#",
    "N": "#...# ##..# #.#.# #..## #...#",
    "O": ".###. #...# #...# #...# .###.",
    "P": "####. #...# ####. #.... #....",
    "Q": ".###. #...# #.#.# #..#. .##.#",
    "R": "####. #...# ####. #..#. #...#",
    "S": ".#### #.... .###. ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #.#.# ##.## #...#",
    "X": "#...# .#.#. ..#.. .#.#. #...#",
    "Y": "#...# .#.#. ..#.. ..#.. ..#..",
    "Z": "##### ...#. ..#.. .#... #####",
    "/": "....# ...#. ..#.. .#... #....",
    ".": "..... ..... ..... ..... ..#..",
    ",": "..... ..... ..... ..#.. .#...",
    ":": "..... ..#.. ..... ..#.. .....",
    "-": "..... ..... .###. ..... .....",
    "<": "...#. ..#.. .#... ..#.. ...#.",
    ">": ".#... ..#.. ...#. ..#.. .#...",
    "$": ".#### #.#.. .###. ..#.# ####.",
}

_FONT_5X7 = {
    " ": "..... ..... ..... ..... ..... ..... .....",
    "0": ".###. #...# #...# #...# #...# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    "A": ".###. #...# #...# #...# ##### #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "###.. #..#. #...# #...# #...# #..#. ###..",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# #...# .#.#. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "a": "..... ..... .###. ....# .#### #...# .####",
    "b": "#.... #.... #.##. ##..# #...# #...# ####.",
    "c": "..... ..... .###. #.... #.... #...# .###.",
    "d": "....# ....# .##.# #..## #...# #...# .####",
    "e": "..... ..... .###. #...# ##### #.... .###.",
    "f": "..##. .#..# .#... ###.. .#... .#... .#...",
    "g": "..... .#### #...# #...# .#### ....# .###.",
    "h": "#.... #.... #.##. ##..# #...# #...# #...#",
    "i": "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
    "j": "...#. ..... ..##. ...#. ...#. #..#. .##..",
    "k": "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
    "l": ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "m": "..... ..... ##.#. #.#.# #.#.# #...# #...#",
    "n": "..... ..... #.##. ##..# #...# #...# #...#",
    "o": "..... ..... .###. #...# #...# #...# .###.",
    "p": "..... ..... ####. #...# ####. #.... #....",
    "q": "..... ..... .##.# #..## .#### ....# ....#",
    "r": "..... ..... #.##. ##..# #.... #.... #....",
    "s": "..... ..... .###. #.... .###. ....# ####.",
    "t": ".#... .#... ###.. .#... .#... .#..# ..##.",
    "u": "..... ..... #...# #...# #...# #..## .##.#",
    "v": "..... ..... #...# #...# #...# .#.#. ..#..",
    "w": "..... ..... #...# #...# #.#.# #.#.# .#.#.",
    "x": "..... ..... #...# .#.#. ..#.. .#.#. #...#",
    "y": "..... ..... #...# #...# .#### ....# .###.",
    "z": "..... ..... ##### ...#. ..#.. .#... #####",
    "/": "..... ....# ...#. ..#.. .#... #.... .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    "-": "..... ..... ..... ##### ..... ..... .....",
    "<": "...#. ..#.. .#... #.... .#... ..#.. ...#.",
    ">": ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
    "$": "..#.. .#### #.#.. .###. ..#.# ####. ..#..",
}

_FONT_7X9 = {
    " ": "....... ....... ....... ....... ....... ....... ....... ....... .......",
    "0": "..###.. .#...#. #.....# #.....# #.....# #.....# #.....# .#...#. ..###..",
    "1": "...#... ..##... .#.#... ...#... ...#... ...#... ...#... ...#... .#####.",
    "2": ".#####. #.....# ......# .....#. ...##.. ..#.... .#..... #...... #######",
    "3": ".#####. #.....# ......# ......# ..####. ......# ......# #.....# .#####.",
    "4": "....##. ...#.#. ..#..#. .#...#. #....#. ####### .....#. .....#. .....#.",
    "5": "####### #...... #...... ######. ......# ......# ......# #.....# .#####.",
    "6": "..####. .#..... #...... #...... ######. #.....# #.....# #.....# .#####.",
    "7": "####### ......# .....#. ....#.. ...#... ..#.... ..#.... ..#.... ..#....",
    "8": ".#####. #.....# #.....# #.....# .#####. #.....# #.....# #.....# .#####.",
    "9": ".#####. #.....# #.....# #.....# .###### ......# ......# .....#. .####..",
    "A": "...#... ..#.#.. .#...#. #.....# #.....# ####### #.....# #.....# #.....#",
    "B": "######. #.....# #.....# #.....# ######. #.....# #.....# #.....# ######.",
    "C": ".#####. #.....# #...... #...... #...... #...... #...... #.....# .#####.",
    "D": "#####.. #....#. #.....# #.....# #.....# #.....# #.....# #....#. #####..",
    "E": "####### #...... #...... #...... #####.. #...... #...... #...... #######",
    "F": "####### #...... #...... #...... #####.. #...... #...... #...... #......",
    "G": ".#####. #.....# #...... #...... #...### #.....# #.....# #.....# .#####.",
    "H": "#.....# #.....# #.....# #.....# ####### #.....# #.....# #.....# #.....#",
    "I": ".#####. ...#... ...#... ...#... ...#... ...#... ...#... ...#... .#####.",
    "J": "..##### ....#.. ....#.. ....#.. ....#.. ....#.. #...#.. #...#.. .###...",
    "K": "#.....# #....#. #...#.. #..#... ###.... #..#... #...#.. #....#. #.....#",
    "L": "#...... #...... #...... #...... #...... #...... #...... #...... #######",
    "M": "#.....# ##...## #.#.#.# #..#..# #.....# #.....# #.....# #.....# #.....#",
    "N": "#.....# ##....# ##....# #.#...# #..#..# #...#.# #....## #....## #.....#",
    "O": ".#####. #.....# #.....# #.....# #.....# #.....# #.....# #.....# .#####.",
    "P": "######. #.....# #.....# #.....# ######. #...... #...... #...... #......",
    "Q": ".#####. #.....# #.....# #.....# #.....# #..#..# #...#.# #....#. .####.#",
    "R": "######. #.....# #.....# #.....# ######. #...#.. #....#. #.....# #.....#",
    "S": ".#####. #.....# #...... #...... .#####. ......# ......# #.....# .#####.",
    "T": "####### ...#... ...#... ...#... ...#... ...#... ...#... ...#... ...#...",
    "U": "#.....# #.....# #.....# #.....# #.....# #.....# #.....# #.....# .#####.",
    "V": "#.....# #.....# #.....# #.....# .#...#. .#...#. ..#.#.. ..#.#.. ...#...",
    "W": "#.....# #.....# #.....# #.....# #..#..# #..#..# #.#.#.# ##...## #.....#",
    "X": "#.....# #.....# .#...#. ..#.#.. ...#... ..#.#.. .#...#. #.....# #.....#",
    "Y": "#.....# #.....# .#...#. ..#.#.. ...#... ...#... ...#... ...#... ...#...",
    "Z": "####### ......# .....#. ....#.. ...#... ..#.... .#..... #...... #######",
    "/": "......# ......# .....#. ....#.. ...#... ..#.... .#..... #...... #......",
    ".": "....... ....... ....... ....... ....... ....... ....... ..##... ..##...",
    ",": "....... ....... ....... ....... ....... ....... ..##... ...#... ..#....",
    ":": "....... ....... ..##... ..##... ....... ....... ..##... ..##... .......",
    "-": "....... ....... ....... ....... .#####. ....... ....... ....... .......",
    "<": ".....#. ....#.. ...#... ..#.... .#..... ..#.... ...#... ....#.. .....#.",
    ">": ".#..... ..#.... ...#... ....#.. .....#. ....#.. ...#... ..#.... .#.....",
    "$": "...#... .#####. #..#... #..#... .#####. ...#..# ...#..# .#####. ...#...",
}


def _bitmaps(table: dict[str, str]) -> dict[str, np.ndarray]:
    """A typed font as boolean ``(rows, columns)`` arrays, checked to be one size."""
    glyphs = {
        char: np.array([[c == "#" for c in row] for row in rows.split()]) for char, rows in table.items()
    }
    shapes = {glyph.shape for glyph in glyphs.values()}
    if len(shapes) != 1:
        raise AssertionError(f"a font's glyphs differ in size: {shapes}")  # a typing slip
    return glyphs


# Dot rows per cap height -> the font a coder prints at that height. Taller rows (12, 16) sample a
# Hershey stroke (_dot_mask): at that many rows the samples stay clear of each other.
DOT_FONTS: dict[int, dict[str, np.ndarray]] = {
    5: _bitmaps(_FONT_5X5),
    7: _bitmaps(_FONT_5X7),
    9: _bitmaps(_FONT_7X9),
}


def dot_cells(text: str, rows: int) -> np.ndarray:
    """The drops of ``text`` in the ``rows``-high bitmap font: ``(N, 2)`` float32 row, column
    grid positions (one column of space between characters).

    Raises:
        KeyError: no bitmap font ``rows`` high.
        ValueError: a character the font lacks (lowercase prints as capitals in fonts without it).
    """
    font = DOT_FONTS[rows]
    cells: list[np.ndarray] = []
    column = 0
    for char in text:
        glyph = font.get(char)
        if glyph is None:
            glyph = font.get(char.upper())
        if glyph is None:
            raise ValueError(f"no {rows}-row dot glyph for {char!r}")
        cells.append(np.argwhere(glyph) + np.array([0, column]))
        column += glyph.shape[1] + 1
    return np.concatenate(cells).astype(np.float32) if cells else np.zeros((0, 2), np.float32)


def _solid_mask(text: str, height: int, font: int, weight: float) -> np.ndarray:
    """``text`` in a Hershey font, cap height ``height`` px: a float32 0..1 mask with a 2 px margin."""
    thickness = max(1, round(height * weight))
    scale = cv2.getFontScaleFromHeight(font, max(4, height), thickness)
    (width, text_h), baseline = cv2.getTextSize(text, font, scale, thickness)
    mask = np.zeros((text_h + baseline + thickness + 4, width + thickness + 4), dtype=np.uint8)
    cv2.putText(
        mask,
        text,
        (2 + thickness // 2, text_h + 2 + thickness // 2),
        font,
        scale,
        255,
        thickness,
        cv2.LINE_AA,
    )
    return mask.astype(np.float32) / 255.0


def _dot_mask(rng: np.random.Generator, text: str, height: int, ink: _Ink) -> np.ndarray:
    """``text`` as a grid of inkjet drops, ``ink.rows`` drops per cap height ``height`` px.

    At 5, 7 and 9 rows the coder's bitmap font (``DOT_FONTS``) gives the drops, one per set cell.
    Taller fonts are drawn large in a Hershey font, then averaged down to the drop grid: each cell
    that the stroke covers enough gets a drop. The stroke is 5/8 of a cell wide, so that strokes
    come out one or two drops wide and a glyph's holes stay open. Every drop then gets the
    style's size, position noise, gaps and smear.
    """
    if ink.rows in DOT_FONTS:
        cells = dot_cells(text, ink.rows)
        columns = next(iter(DOT_FONTS[ink.rows].values())).shape[1] + 1
        grid_h, grid_w = ink.rows, max(1, len(text) * columns - 1)
    else:
        cell, stroke = 8, 5
        # Hershey Plain's small glyphs sample into blobs: tall coder fonts are simplex-like.
        font = cv2.FONT_HERSHEY_SIMPLEX
        scale = cv2.getFontScaleFromHeight(font, ink.rows * cell, stroke)
        (width, text_h), baseline = cv2.getTextSize(text, font, scale, stroke)
        big = np.zeros((text_h + baseline + 2 * cell, width + 2 * cell), dtype=np.uint8)
        cv2.putText(big, text, (cell, text_h + cell), font, scale, 255, stroke, cv2.LINE_8)
        grid_h, grid_w = big.shape[0] // cell, big.shape[1] // cell
        grid = cv2.resize(
            big[: grid_h * cell, : grid_w * cell], (grid_w, grid_h), interpolation=cv2.INTER_AREA
        )
        cells = np.argwhere(grid > 80).astype(np.float32)
    pitch_y = max(1.0, height / ink.rows)
    pitch_x = pitch_y * ink.squeeze
    keep = rng.random(len(cells)) >= ink.missing
    jitter = rng.normal(0, ink.jitter, size=(len(cells), 2)) * (pitch_y, pitch_x)
    centres = (cells + 0.5) * (pitch_y, pitch_x) + jitter
    pad = int(np.ceil(2 * pitch_y)) + 2
    mask = np.zeros((int(grid_h * pitch_y) + 2 * pad, int(grid_w * pitch_x) + 2 * pad), dtype=np.float32)
    radius = max(0.6, ink.dot * pitch_y)
    level = rng.uniform(0.7, 1.0, size=len(cells)) if ink.style == "cij" else np.ones(len(cells))
    for (cy, cx), kept, value in zip(centres + pad, keep, level, strict=True):
        if kept:
            centre = (int(cx * 16), int(cy * 16))
            cv2.circle(mask, centre, int(radius * 16), float(value), -1, cv2.LINE_AA, shift=4)
    if ink.smear > 0:  # the drops run sideways (the pack moved under the head)
        length = max(2, int(ink.smear * pitch_x))
        kernel = np.full((1, length), 1.0 / length, dtype=np.float32)
        mask = np.clip(cv2.filter2D(mask, -1, kernel) * 1.2, 0, 1)
    return mask


def _script_word(rng: np.random.Generator, glyphs: int, height: int) -> np.ndarray:
    """``glyphs`` glyphs of a looped script (Thai-like): loops, stems and hooks. A float32 mask."""
    step = max(3, int(height * 0.6))
    thickness = max(1, height // 10)
    mask = np.zeros((int(height * 1.5) + 4, glyphs * step + 6), dtype=np.uint8)
    base = height + 2
    for index in range(glyphs):
        x = 3 + index * step
        loop = max(1, height // 7)
        cv2.circle(mask, (x + loop, base - loop), loop, 255, thickness, cv2.LINE_AA)
        top = base - int(height * rng.uniform(0.55, 0.95))
        cv2.line(mask, (x + 2 * loop, base), (x + 2 * loop, top), 255, thickness, cv2.LINE_AA)
        if rng.random() < 0.7:
            cv2.ellipse(
                mask,
                (x + step // 2, top),
                (max(1, step // 3), max(1, height // 6)),
                0,
                180,
                360,
                255,
                thickness,
                cv2.LINE_AA,
            )
        if rng.random() < 0.4:
            cv2.line(mask, (x + step - 2, top), (x + step - 2, base), 255, thickness, cv2.LINE_AA)
        if rng.random() < 0.15:  # a mark above the line
            cv2.circle(mask, (x + step // 2, max(1, top - height // 4)), max(1, height // 9), 255, -1)
    return mask.astype(np.float32) / 255.0


def _segment_mask(
    rng: np.random.Generator, segment: _Segment, height: int, ink: _Ink, legend_font: int
) -> tuple[np.ndarray, float]:
    """The segment's ink mask, and the share of its ink a worn ribbon left out (0: none)."""
    if segment.glyphs:
        return _script_word(rng, segment.glyphs, height), 0.0
    if segment.legend:
        return _solid_mask(segment.text, height, legend_font, 0.1), 0.0
    if ink.style in ("dot-matrix", "cij"):
        return _dot_mask(rng, segment.text, height, ink), 0.0
    mask = _solid_mask(segment.text, height, ink.font, ink.weight)
    worn = 0.0
    if ink.style == "thermal-inkjet":  # fine drops: a speckled solid
        mask *= rng.random(mask.shape, dtype=np.float32) > 0.2
        mask = cv2.GaussianBlur(mask, (3, 3), 0)
    elif ink.style == "thermal-transfer" and rng.random() < 0.4:  # worn ribbon: gaps in the strokes
        wear = cv2.resize(
            rng.random((max(2, mask.shape[0] // 4), max(2, mask.shape[1] // 4)), dtype=np.float32),
            mask.shape[::-1],
        )
        before = float((mask > 0.3).sum())
        mask *= wear > 0.25
        worn = 1.0 - float((mask > 0.3).sum()) / max(1.0, before)
    return mask, worn


def _apply(
    canvas: np.ndarray,
    labels: np.ndarray | None,
    mask: np.ndarray,
    x: int,
    y: int,
    colour: Colour,
    opacity: float,
    emboss: bool,
    label: int,
) -> tuple[int, int, int, int] | None:
    """Prints ``mask`` with its top-left at (x, y); returns its ink box, or None if outside."""
    height, width = canvas.shape[:2]
    x1, y1, x2, y2 = max(0, x), max(0, y), min(width, x + mask.shape[1]), min(height, y + mask.shape[0])
    if x2 <= x1 or y2 <= y1:
        return None
    part = mask[y1 - y : y2 - y, x1 - x : x2 - x]
    region = canvas[y1:y2, x1:x2]
    if emboss:
        # Raised print: a highlight on the lit side and a shadow on the other, no ink.
        relief = cv2.GaussianBlur(part, (0, 0), max(0.8, part.shape[0] * 0.02))
        shade = cv2.Sobel(relief, cv2.CV_32F, 1, 0, ksize=3) + cv2.Sobel(relief, cv2.CV_32F, 0, 1, ksize=3)
        region += (shade * 90 * opacity)[..., None]
    else:
        alpha = (part * opacity)[..., None]
        region *= 1 - alpha
        region += alpha * np.asarray(colour, dtype=np.float32)
    if labels is not None and label:
        labels[y1:y2, x1:x2][part > 0.3] = label
    ys, xs = np.nonzero(part > 0.3)
    if len(xs) == 0:
        return None
    return x1 + int(xs.min()), y1 + int(ys.min()), x1 + int(xs.max()) + 1, y1 + int(ys.max()) + 1


def _print_code(
    rng: np.random.Generator,
    canvas: np.ndarray,
    labels: np.ndarray,
    specs: list[_LineSpec],
    origin: tuple[int, int],
    height: int,
    ink: _Ink,
) -> tuple[list[tuple[_LineSpec, int]], set[int], dict[int, float]]:
    """Prints the code's lines from ``origin`` down, each line's ink labelled in ``labels``;
    returns each date line with its label value, the labels of the lines that ran off the face
    (part of their ink not printed), and per label the share of a line's ink a worn ribbon left
    out."""
    x0, y = origin
    legend_font = int(_choice(rng, _FONTS))
    legend_colour = _colour(rng, 0, 90)
    spacing = rng.uniform(1.35, 2.0)
    emboss = ink.style == "embossed"
    dated: list[tuple[_LineSpec, int]] = []
    cut: set[int] = set()
    worn: dict[int, float] = {}
    x = x0
    others = 0
    for spec in specs:
        line_h = max(5, int(height * spec.scale))
        # Lines without a date are labelled too (from _OTHER_LINE_LABEL up), for Scene.code_ink.
        label = len(dated) + 1 if spec.role else _OTHER_LINE_LABEL + others
        others += 0 if spec.role else 1
        for segment in spec.segments:
            mask, segment_worn = _segment_mask(rng, segment, line_h, ink, legend_font)
            if label:
                worn[label] = max(worn.get(label, 0.0), segment_worn)
            colour = legend_colour if segment.legend else ink.colour
            box = _apply(
                canvas,
                labels,
                mask,
                x,
                y - mask.shape[0] // 2,
                colour,
                ink.opacity if not segment.legend else 1.0,
                emboss and not segment.legend,
                label,
            )
            if label and _cut_off(mask, box):
                cut.add(label)
            x = (box[2] if box else x + mask.shape[1]) + int(line_h * rng.uniform(0.3, 0.7))
        if spec.role:
            dated.append((spec, label))
        if spec.gap_after > 0:
            x += int(line_h * spec.gap_after)
        else:
            x = x0 + int(rng.integers(0, max(1, height // 2)))
            y += int(line_h * spacing)
    return dated, cut, worn


def _cut_off(mask: np.ndarray, box: tuple[int, int, int, int] | None) -> bool:
    """Whether ``_apply`` printed less of ``mask``'s ink than there is (the canvas cut it)."""
    ys, xs = np.nonzero(mask > 0.3)
    if len(xs) == 0:
        return False
    if box is None:
        return True
    return box[2] - box[0] < xs.max() - xs.min() + 1 or box[3] - box[1] < ys.max() - ys.min() + 1


def _code_extent(specs: list[_LineSpec], height: int) -> tuple[int, int]:
    """About how wide and high the code will print (for placing it), in pixels."""
    widths, row, rows = [], 0, 0
    for spec in specs:
        chars = sum(len(s.text) + s.glyphs * 0.7 + 1 for s in spec.segments)
        row += int(chars * height * spec.scale * 0.9) + int(spec.gap_after * height)
        if spec.gap_after <= 0:
            widths.append(row)
            row, rows = 0, rows + 1
    return max(widths or [row]) + height, int((rows + 0.5) * height * 2.0)


# --- surfaces and photos ---------------------------------------------------------------------------


def _blotches(
    rng: np.random.Generator, height: int, width: int, count: int, palette_scale: float
) -> np.ndarray:
    """Soft coloured shapes at a quarter of the size, scaled up: food, shelves, other packs."""
    small = np.empty((max(4, height // 4), max(4, width // 4), 3), dtype=np.uint8)
    small[:] = rng.integers(20, 230, 3)
    for _ in range(count):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3) * palette_scale)
        cx, cy = int(rng.integers(0, small.shape[1])), int(rng.integers(0, small.shape[0]))
        if rng.random() < 0.5:
            axes = (
                int(rng.integers(2, small.shape[1] // 3 + 3)),
                int(rng.integers(2, small.shape[0] // 3 + 3)),
            )
            cv2.ellipse(small, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            w, h = (
                int(rng.integers(3, small.shape[1] // 2 + 4)),
                int(rng.integers(3, small.shape[0] // 2 + 4)),
            )
            cv2.rectangle(small, (cx, cy), (cx + w, cy + h), colour, -1)
    small = cv2.GaussianBlur(small, (0, 0), float(rng.uniform(0.5, 2.0)))
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def _shop(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """The photo behind the product: shelves, packs, price tags, a hand; out of focus. uint8."""
    small_h, small_w = max(8, height // 3), max(8, width // 3)
    image = _blotches(rng, small_h, small_w, int(rng.integers(8, 25)), 1.0)
    for _ in range(int(rng.integers(0, 4))):  # shelf edges
        y = int(rng.integers(0, small_h))
        colour = _colour(rng, 0, 256)
        cv2.rectangle(image, (0, y), (small_w, y + int(rng.integers(2, 7))), colour, -1)
    for _ in range(int(rng.integers(0, 6))):  # price tags and pack print, some with digits
        text = _choice(rng, ("PROMO", "SALE", "59.-", "2 FOR 99", "NEW", "ORIGINAL", "35", "12.50"))
        mask = _solid_mask(text, int(rng.integers(5, 18)), int(_choice(rng, _FONTS)), 0.1)
        colour = _colour(rng, 0, 256)
        _apply(
            image,
            None,
            mask,
            int(rng.integers(0, small_w)),
            int(rng.integers(0, small_h)),
            colour,
            1.0,
            False,
            0,
        )
    if rng.random() < 0.4:  # a hand holding the pack
        skin = (float(rng.uniform(90, 180)), float(rng.uniform(120, 190)), float(rng.uniform(170, 235)))
        centre = (int(rng.integers(0, small_w)), int(rng.choice([0, small_h])))
        cv2.ellipse(image, centre, (small_w // 5, small_h // 4), float(rng.uniform(0, 180)), 0, 360, skin, -1)
    image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, 1.3)))
    grey = image.mean(axis=2, keepdims=True)
    image = grey + (image - grey) * float(rng.uniform(0.3, 1.0))  # shops are less garish than blotches
    return cv2.resize(
        np.clip(image, 0, 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR
    )


def _metal(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Brushed metal or foil: streaks along one direction, specular bands, a colour tint."""
    streaks = cv2.resize(rng.normal(0, 1, (height // 4 + 1, 3)).astype(np.float32), (width, height))
    streaks = (
        cv2.resize(
            rng.normal(0, 1, (max(2, height // 8), max(2, width // 64))).astype(np.float32),
            (width, height),
            interpolation=cv2.INTER_CUBIC,
        )
        * 25
        + streaks * 8
    )
    ramp = np.linspace(0, rng.uniform(2, 9), width, dtype=np.float32)[None, :] + rng.uniform(0, 6)
    band = np.sin(ramp + np.linspace(0, rng.uniform(0, 3), height, dtype=np.float32)[:, None]) * rng.uniform(
        20, 70
    )
    tint = rng.uniform(0.75, 1.15, 3).astype(np.float32) if rng.random() < 0.6 else np.ones(3, np.float32)
    grey = float(rng.uniform(110, 210)) + streaks + band
    return grey[..., None] * tint


def _surface(rng: np.random.Generator, kind: str, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The product's face: ``(height, width, 3)`` float32 colour and a float32 0..1 outline mask."""
    alpha = np.ones((height, width), dtype=np.float32)
    if kind in ("can-end", "cap"):
        canvas = _metal(rng, height, width)
        centre, radius = (width // 2, height // 2), min(width, height) // 2 - 2
        if kind == "cap" and rng.random() < 0.6:
            canvas[:] = rng.integers(20, 240, 3)
        for fraction in (0.97, 0.92, 0.85, 0.7):
            shade = float(rng.uniform(-60, 60))
            cv2.circle(
                canvas,
                centre,
                int(radius * fraction),
                (shade + 150,) * 3,
                int(rng.integers(2, 8)),
                cv2.LINE_AA,
            )
        alpha[:] = 0
        cv2.circle(alpha, centre, radius, 1.0, -1, cv2.LINE_AA)
        return canvas, alpha
    if kind == "foil":
        return _metal(rng, height, width), alpha
    if kind == "film-over-food":
        food = _blotches(rng, height, width, int(rng.integers(15, 40)), float(rng.uniform(0.5, 1.0)))
        film = rng.uniform(0.05, 0.35)
        return food * (1 - film) + 255 * film, alpha
    canvas = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = rng.integers(0, 256, 3) if kind != "label" else rng.integers(200, 256, 3)
    if kind == "pouch":  # gloss and creases
        creases = cv2.resize(
            rng.normal(0, 1, (6, 6)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC
        )
        canvas += (creases * rng.uniform(10, 40))[..., None]
    return canvas, alpha


def _pack_print(rng: np.random.Generator, canvas: np.ndarray, keep_out: tuple[int, int, int, int]) -> None:
    """The pack's own print: brand words, paragraphs, another script, a barcode, a table."""
    height, width = canvas.shape[:2]
    kx1, ky1, kx2, ky2 = keep_out
    overlap = rng.random() < 0.25  # print under the code (coders print over graphics)
    for _ in range(int(rng.integers(2, 9))):
        colour = _colour(rng, 0, 256)
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(8, max(9, height // 6)))
        kind = int(rng.integers(6))
        extent = (x, y - size, x + width // 2, y + 4 * size)
        if not overlap and not (extent[2] < kx1 or extent[0] > kx2 or extent[3] < ky1 or extent[1] > ky2):
            continue
        if kind == 0:  # a block of colour or a logo
            if rng.random() < 0.5:
                cv2.rectangle(canvas, (x, y), (x + 4 * size, y + 2 * size), colour, -1)
            else:
                cv2.circle(canvas, (x, y), size, colour, -1, cv2.LINE_AA)
        elif kind in (1, 2):  # words: a brand line, or a paragraph of small print
            rows = 1 if kind == 1 else int(rng.integers(2, 7))
            small = size if kind == 1 else max(6, size // 3)
            for row in range(rows):
                words = " ".join(_choice(rng, _WORDS) for _ in range(int(rng.integers(2, 8))))
                mask = _solid_mask(words, small, int(_choice(rng, _FONTS)), 0.1)
                _apply(canvas, None, mask, x, y + int(row * small * 1.6), colour, 1.0, False, 0)
        elif kind == 3:  # a legend in another script
            for row in range(int(rng.integers(1, 4))):
                mask = _script_word(rng, int(rng.integers(4, 14)), max(6, size // 2))
                _apply(canvas, None, mask, x, y + int(row * size), colour, 1.0, False, 0)
        elif kind == 4:  # a barcode and its digits
            position, bars_w, bars_h = x, int(rng.integers(40, 160)), int(rng.integers(20, 80))
            while position < x + bars_w:
                bar = int(rng.integers(1, 4))
                if rng.random() < 0.5:
                    cv2.rectangle(canvas, (position, y), (position + bar - 1, y + bars_h), (15, 15, 15), -1)
                position += bar
            digits = "".join(str(int(v)) for v in rng.integers(0, 10, 13))
            mask = _solid_mask(digits, 9, cv2.FONT_HERSHEY_PLAIN, 0.1)
            _apply(canvas, None, mask, x, y + bars_h + 2, (15.0, 15.0, 15.0), 1.0, False, 0)
        else:  # a nutrition table
            cell = int(rng.integers(20, 50))
            for column in range(int(rng.integers(2, 5))):
                x0 = x + column * cell * 2
                cv2.rectangle(canvas, (x0, y), (x0 + 2 * cell - 3, y + cell), (30, 30, 30), 1)
                mask = _solid_mask(f"{rng.uniform(0, 30):.1f}g", cell // 3, cv2.FONT_HERSHEY_PLAIN, 0.1)
                _apply(canvas, None, mask, x0 + 3, y + cell // 3, (20.0, 20.0, 20.0), 1.0, False, 0)


def _bend(
    rng: np.random.Generator, canvas: np.ndarray, alpha: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Wraps the face round a vertical cylinder (a bottle, a can's side), seen a little from above.

    A point at x, y moves to ``cx + r sin((x - cx) / r)``, ``y + sag ((x - cx) / half)^2``; the
    returned radius and sag let callers move points the same way.
    """
    height, width = canvas.shape[:2]
    cx, half = width / 2, width / 2
    radius = float(rng.uniform(0.55, 1.5)) * width
    sag = float(rng.uniform(-0.06, 0.06)) * height
    xs_out = np.arange(width, dtype=np.float32)[None, :].repeat(height, axis=0)
    ys_out = np.arange(height, dtype=np.float32)[:, None].repeat(width, axis=1)
    xs_in = cx + radius * np.arcsin(np.clip((xs_out - cx) / radius, -1, 1))
    ys_in = ys_out - sag * ((xs_in - cx) / half) ** 2
    light = np.cos((xs_in - cx) / radius)
    canvas = cv2.remap(canvas, xs_in, ys_in, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    canvas *= (0.55 + 0.45 * light)[..., None]
    alpha = cv2.remap(alpha, xs_in, ys_in, cv2.INTER_LINEAR, borderValue=0)
    labels = cv2.remap(labels, xs_in, ys_in, cv2.INTER_NEAREST, borderValue=0)
    return canvas, alpha, labels, radius, sag


def _placement(
    rng: np.random.Generator, face: tuple[int, int], photo: tuple[int, int], code: np.ndarray, angle: float
) -> np.ndarray:
    """A 3x3 homography putting the face into the photo, turned by ``angle`` degrees, tilted in
    perspective, with the code's corners (``(4, 2)`` face pixels) kept inside the photo."""
    (face_w, face_h), (width, height) = face, photo
    source = np.float32([[0, 0], [face_w, 0], [face_w, face_h], [0, face_h]])
    target = source + (rng.uniform(-0.08, 0.08, size=(4, 2)) * (face_w, face_h)).astype(np.float32)
    tilt = cv2.getPerspectiveTransform(source, target)
    scale = float(rng.uniform(0.85, 1.15))
    turn = np.vstack([cv2.getRotationMatrix2D((face_w / 2, face_h / 2), angle, scale), [0, 0, 1]])
    shift = np.array([[1, 0, (width - face_w) / 2], [0, 1, (height - face_h) / 2], [0, 0, 1]])
    matrix = shift @ turn @ tilt
    corners = cv2.perspectiveTransform(code[None].astype(np.float32), matrix)[0]
    margin = 6.0
    low, high = corners.min(axis=0), corners.max(axis=0)
    room_low = np.array([margin, margin]) - low  # >0: must move by at least this
    room_high = np.array([width - margin, height - margin]) - high  # <0: must move by at least this
    move = np.array(
        [
            float(rng.uniform(min(a, b), max(a, b))) if a <= b else (a + b) / 2
            for a, b in zip(room_low, room_high, strict=True)
        ]
    )
    return np.array([[1, 0, move[0]], [0, 1, move[1]], [0, 0, 1]]) @ matrix


def _turn_angle(rng: np.random.Generator) -> float:
    """Mostly upright, often a little off, one in five turned to 60-90 degrees either way."""
    draw = rng.random()
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if draw < 0.5:
        return float(rng.uniform(-8, 8))
    if draw < 0.8:
        return sign * float(rng.uniform(8, 45))
    return sign * float(rng.uniform(60, 90))


def _damage(
    rng: np.random.Generator,
    image: np.ndarray,
    focus: tuple[float, float],
    asked: Damage | None = None,
    expiry_box: Box | None = None,
) -> np.ndarray:
    """Shadow, glare (half the time on the code), low contrast, colour cast, noise, blur and JPEG.

    The light changes are smooth, so they are built as gain and offset maps at an eighth of the
    size and applied in one pass: a few milliseconds for a whole photo. ``asked`` replaces the
    drawn blur and glare (the draws are still made, so the rest of the damage stays the seed's);
    its glare spot is placed from ``expiry_box``.
    """
    own_glare = asked is None or asked.glare <= 0
    own_blur = asked is None or (asked.blur_sigma <= 0 and asked.motion_px <= 0)
    height, width = image.shape[:2]
    small_h, small_w = max(2, height // 8), max(2, width // 8)
    gain = np.ones((small_h, small_w), dtype=np.float32)
    offset = np.zeros((small_h, small_w), dtype=np.float32)
    if rng.random() < 0.35:  # a soft shadow: a hand or the shelf above
        points = (rng.uniform(0, 1, size=(int(rng.integers(3, 6)), 2)) * (small_w, small_h)).astype(np.int32)
        cv2.fillConvexPoly(gain, cv2.convexHull(points), float(rng.uniform(0.35, 0.75)))
        gain = cv2.GaussianBlur(gain, (0, 0), 2.0)
    if rng.random() < 0.45:
        yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
        if rng.random() < 0.5:
            cx, cy = focus[0] / 8 + rng.uniform(-10, 10), focus[1] / 8 + rng.uniform(-5, 5)
        else:
            cx, cy = rng.uniform(0, small_w), rng.uniform(0, small_h)
        spread_x, spread_y = rng.uniform(0.03, 0.25) * small_w, rng.uniform(0.02, 0.2) * small_h
        glare = np.exp(-((xx - cx) ** 2 / (2 * spread_x**2) + (yy - cy) ** 2 / (2 * spread_y**2)))
        strength = float(rng.uniform(60, 200))
        if own_glare:
            offset += glare.astype(np.float32) * strength
    if not own_glare and asked is not None and expiry_box is not None:
        x1, y1, x2, y2 = expiry_box
        cx = ((x1 + x2) / 2 + asked.glare_at[0] * (x2 - x1)) / 8
        cy = ((y1 + y2) / 2 + asked.glare_at[1] * (y2 - y1)) / 8
        spread = max(1.0, asked.glare_size * max(x2 - x1, y2 - y1) / 8)
        yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
        glare = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * spread**2))
        offset += glare.astype(np.float32) * asked.glare
    if rng.random() < 0.3:  # low contrast, about mid grey
        contrast = float(rng.uniform(0.35, 0.75))
        gain *= contrast
        offset = offset * contrast + 128 * (1 - contrast)
    cast = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    brightness = float(rng.uniform(-25, 25))
    gain3 = cv2.resize(gain[..., None] * cast, (width, height))
    offset3 = cv2.resize(offset[..., None] * cast + brightness, (width, height))
    out = cv2.multiply(image.astype(np.float32), gain3)
    out = cv2.add(out, offset3)
    # Sensor noise, drawn at half the size (normals are the costly part) and shared by the channels.
    noise = rng.standard_normal((height // 2 + 1, width // 2 + 1), dtype=np.float32) * float(
        rng.uniform(1, 7)
    )
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_NEAREST)
    out = cv2.add(out, cv2.cvtColor(noise, cv2.COLOR_GRAY2BGR))
    out = np.clip(out, 0, 255, out=out).astype(np.uint8)
    blur = rng.random()
    sigma, streak, direction = 0.0, 0, 0.0
    if blur < 0.25:
        sigma = float(rng.uniform(0.6, 2.2))
    elif blur < 0.4:  # a hand that moved
        streak, direction = int(rng.integers(3, 10)), float(rng.uniform(0, 180))
    if not own_blur and asked is not None:
        sigma, streak, direction = asked.blur_sigma, asked.motion_px, asked.motion_angle
    if sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    elif streak > 0:
        kernel = np.zeros((streak, streak), np.float32)
        kernel[streak // 2, :] = 1.0 / streak
        rotation = cv2.getRotationMatrix2D((streak / 2 - 0.5, streak / 2 - 0.5), direction, 1.0)
        kernel = cv2.warpAffine(kernel, rotation, (streak, streak))
        out = cv2.filter2D(out, -1, kernel / max(1e-6, float(kernel.sum())))
    if rng.random() < 0.6:
        ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 92))])
        if ok:
            out = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return out


def _shown_whole(ink: np.ndarray, cover: np.ndarray, matrix: np.ndarray, photo: tuple[int, int]) -> bool:
    """Whether every ink pixel of a line (``ink``, a face-sized mask) lies on the product (its
    ``cover`` over 0.5) and, carried by ``matrix``, inside the ``(width, height)`` photo."""
    ys, xs = np.nonzero(ink)
    if len(xs) == 0 or (cover[ys, xs] <= 0.5).any():
        return False
    points = np.column_stack([xs, ys]).astype(np.float32)
    # The photo is convex, so the ink's convex hull is inside it when the hull's corners are.
    hull = cv2.convexHull(points)[:, 0, :] if len(points) > 2 else points
    mapped = cv2.perspectiveTransform(hull[None], matrix)[0]
    width, height = photo
    return bool((mapped >= 0).all() and (mapped[:, 0] <= width).all() and (mapped[:, 1] <= height).all())


def render_scene(
    seed: int,
    size: tuple[int, int] | None = None,
    *,
    with_ink: bool = False,
    style: str | None = None,
    angle: float | None = None,
    min_text_height: float = 0.0,
    distractors: bool = False,
    damage: Damage | None = None,
) -> Scene:
    """Renders one photo of packaging and the box of every date line on it.

    The same seed (and size, and keyword arguments) always gives the same scene, ``with_ink`` or
    not. The keyword arguments at their defaults leave a seed's scene as it always was; set, they
    replace one of the seed's draws (made all the same, so the rest of the scene stays the seed's
    as far as the change allows): they are how a benchmark asks for a kind of hard scene.

    Args:
        seed: picks everything: photo size (unless given), surface, code, print style, geometry,
            damage.
        size: ``(width, height)`` of the photo in pixels; None: one of 840x640, 640x840,
            720x960, 960x720 or 768x768, by the seed.
        with_ink: also return ``Scene.ink``, the map of each date line's ink (for tests), and
            ``Scene.code_ink``, every code line's.
        style: one of PRINT_STYLES in place of the seed's.
        angle: degrees the product is turned (positive: counter-clockwise), in place of the
            seed's (mostly upright, up to 90 either way).
        min_text_height: the least cap height drawn, as a share of the photo's long side (the
            draw is log-uniform from 1.4% to 9%; a code too wide for its face still shrinks).
        distractors: always a production date line and at least one lot, time or price line.
        damage: blur and glare in place of the seed's (see ``Damage``).
    """
    if style is not None and style not in PRINT_STYLES:
        raise ValueError(f"style {style!r} is none of {PRINT_STYLES}")
    rng = np.random.default_rng(seed)
    width, height = size if size is not None else _SIZES[int(rng.integers(len(_SIZES)))]
    surface = str(_choice(rng, SURFACES, _SURFACE_WEIGHTS))
    drawn_style = str(_choice(rng, PRINT_STYLES, _STYLE_WEIGHTS))
    if surface in ("can-end", "cap") and rng.random() < 0.5:
        drawn_style = str(_choice(rng, ("dot-matrix", "cij", "embossed", "laser")))
    if surface == "label" and rng.random() < 0.6:
        drawn_style = "thermal-transfer"
    style = style or drawn_style

    # The face is about the photo's size, squarer for round things, so that the text heights
    # below are photo pixels give or take the placement's 0.85-1.15 scale.
    fill = rng.uniform(0.55, 1.25)
    face_w, face_h = int(width * fill), int(height * fill * rng.uniform(0.7, 1.3))
    if surface in ("can-end", "cap"):
        face_w = face_h = int(min(width, height) * rng.uniform(0.5, 1.0))
    canvas, alpha = _surface(rng, surface, face_h, face_w)
    labels = np.zeros((face_h, face_w), dtype=np.uint8)

    fmt = _date_format(rng)
    expiry = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 7)))
    specs, expiry_text, keyword = _code_lines(rng, expiry, fmt, distractors)
    # Text height: log-uniform from small print in a big photo (1.4% of the long side) to close-ups.
    long_side = max(width, height)
    least = max(0.014, min(min_text_height, 0.09))
    text_h = float(np.exp(rng.uniform(np.log(least), np.log(0.09)))) * long_side
    code_w, code_h = _code_extent(specs, int(text_h))
    room = (
        (face_w * 0.9, face_h * 0.9) if surface not in ("can-end", "cap") else (face_w * 0.62, face_h * 0.62)
    )
    shrink = min(1.0, room[0] / max(1, code_w), room[1] / max(1, code_h))
    text_h = max(7.0, text_h * shrink)
    code_w, code_h = int(code_w * shrink), int(code_h * shrink)
    if surface in ("can-end", "cap"):
        x0 = face_w // 2 - code_w // 2 + int(rng.integers(-face_w // 12, face_w // 12 + 1))
        y0 = face_h // 2 - code_h // 2
    else:
        x0 = int(rng.integers(0, max(1, face_w - code_w)))
        y0 = int(rng.integers(0, max(1, face_h - code_h)))
    keep_out = (x0, y0, x0 + code_w, y0 + code_h)
    if surface not in ("can-end", "cap"):
        _pack_print(rng, canvas, keep_out)
    if rng.random() < 0.35 and surface in ("carton", "pouch", "bottle"):  # a white panel for the code
        cv2.rectangle(
            canvas,
            (x0 - 8, y0 - 4),
            (x0 + code_w + 8, y0 + code_h + 4),
            _colour(rng, 215, 256),
            -1,
        )
    brightness = (
        float(canvas[max(0, y0) : y0 + code_h, max(0, x0) : x0 + code_w].mean()) if code_h > 0 else 128.0
    )
    ink = _random_ink(rng, style, brightness)
    dated, cut, worn = _print_code(rng, canvas, labels, specs, (x0, y0 + int(text_h)), int(text_h), ink)

    code_corners = np.float32([[x0, y0], [x0 + code_w, y0], [x0 + code_w, y0 + code_h], [x0, y0 + code_h]])
    if surface in ("bottle", "pouch") and rng.random() < 0.7:
        canvas, alpha, labels, radius, sag = _bend(rng, canvas, alpha, labels)
        offset = code_corners[:, 0] - face_w / 2
        code_corners[:, 0] = face_w / 2 + radius * np.sin(np.clip(offset / radius, -np.pi / 2, np.pi / 2))
        code_corners[:, 1] += sag * (offset / (face_w / 2)) ** 2
    drawn_angle = _turn_angle(rng)
    angle = drawn_angle if angle is None else float(angle)
    matrix = _placement(rng, (face_w, face_h), (width, height), code_corners, angle)

    photo = _shop(rng, height, width)
    face = cv2.warpPerspective(np.clip(canvas, 0, 255).astype(np.uint8), matrix, (width, height))
    cover = cv2.warpPerspective(alpha, matrix, (width, height))
    photo = cv2.blendLinear(face, photo, cover, 1 - cover)
    ink_map = cv2.warpPerspective(labels, matrix, (width, height), flags=cv2.INTER_NEAREST)
    centre = cv2.perspectiveTransform(code_corners[None], matrix)[0].mean(axis=0)
    expiry_box = None
    if damage is not None and damage.glare > 0:
        label = next(label for spec, label in dated if spec.role == "expiry")
        ys, xs = np.nonzero(ink_map == label)
        if len(xs):
            expiry_box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    image = _damage(rng, photo, (float(centre[0]), float(centre[1])), damage, expiry_box)
    # A vertical step of one text height at the code's centre, carried into the photo.
    face_centre = code_corners.mean(axis=0)
    step = np.float32([face_centre, face_centre + np.float32([0.0, int(text_h)])])
    ends = cv2.perspectiveTransform(step[None], matrix)[0]
    cap_height = float(np.linalg.norm(ends[1] - ends[0]))

    # The expiry first; the ink map's values renumbered to follow.
    dated.sort(key=lambda pair: pair[0].role != "expiry")
    renumber = np.zeros(256, dtype=np.uint8)
    lines = []
    ink_ys, ink_xs = np.nonzero(ink_map)
    ink_values = ink_map[ink_ys, ink_xs]
    for spec, label in dated:
        ys, xs = ink_ys[ink_values == label], ink_xs[ink_values == label]
        if len(xs) == 0:
            continue
        box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        whole = label not in cut and _shown_whole(labels == label, alpha, matrix, (width, height))
        lines.append(DateLine(spec.text, box, str(spec.role), whole, round(worn.get(label, 0.0), 3)))
        renumber[label] = len(lines)
    if not lines or lines[0].role != "expiry":
        raise AssertionError(f"scene {seed}: the expiry line was not printed")  # a renderer bug
    return Scene(
        image=image,
        box=lines[0].box,
        date_text=expiry_text,
        expiry=_expected(expiry, fmt),
        lines=tuple(lines),
        style=style,
        surface=surface,
        angle=angle,
        ink=renumber[ink_map] if with_ink else None,
        code_ink=ink_map if with_ink else None,
        keyword=keyword,
        date_format=fmt,
        cap_height=cap_height,
        dot_rows=ink.rows if style in ("dot-matrix", "cij") else 0,
        dot_size=ink.dot if style in ("dot-matrix", "cij") else 0.0,
        dot_missing=ink.missing if style in ("dot-matrix", "cij") else 0.0,
    )
