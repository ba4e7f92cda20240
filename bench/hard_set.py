"""Hard set v2: synthetic packaging photos that are hard for the pipeline and legible to a person.

    .venv/bin/python -m bench.hard_set /work/hard-set-v2 --count 96 --first-seed 940000 --sheets
    .venv/bin/python -m bench.realworld /work/hard-set-v2/manifest.csv --images /work/hard-set-v2

Writes ``DIR/images/scene<seed>.jpg``, ``DIR/manifest.csv`` in ``bench/realworld.py``'s format (file,
expected, month_only, printed_text, print_style, condition) and ``DIR/set.json`` (the command, the
code version, the rules, how many scenes each rule skipped, and every scene's parameters and
measurements); with ``--sheets``, ``DIR/sheets/*.png``: each expiry line cropped round its ink
(padded 30%) and turned upright, 8 a row, the expected date under each, for a person to check.
The same arguments always write the same files (sheets aside, which are made from them).

Scenes come from ``models/date_detector/scenes.py render_scene``, asked for one stratum each, a
quarter of the set apiece; within each, half are dot styles (dot-matrix and continuous inkjet,
printed from the coder bitmap fonts at 5, 7 and 9 rows, sampled strokes at 12 and 16) and half the
other styles (thermal inkjet, thermal transfer, laser; embossing is left out: raised print has no
ink, so the contrast rule cannot judge it):
- ``as printed``: turned at most 8 degrees;
- ``turned``: turned 15 to 90 degrees either way;
- ``blur + glare``: a phone's blur (Gaussian sigma 0.8 to 1.5 px, or a 3 to 7 px motion streak, on
  840 to 960 px photos) and a glare spot over part of the expiry line;
- ``distractor dates``: a production date line and at least one lot, time or price line too.
Each keeps the rest of its seed's damage (shadow, low contrast, colour cast, noise, JPEG).

A scene is kept only if it passes every legibility rule (``Rules``), judged by code on the
pixels written to the file and the renderer's ink map, never by running the pipeline; a scene that
fails is skipped and the next seed tried. Why the rules say what they say is in ``Rules``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.date_detector.scenes import Damage, Scene, render_scene

STRATA = ("as printed", "turned", "blur + glare", "distractor dates")
DOT_STYLES = ("dot-matrix", "cij")
OTHER_STYLES = ("thermal-inkjet", "thermal-transfer", "laser")
RULES = (
    "format",
    "whole",
    "cap_height",
    "small_font",
    "worn_ribbon",
    "contrast",
    "weakest_part",
    "glare",
    "clutter",
    "production_line",
)
# Phone photos at 840 to 960 px on the long side: the sizes the blur limits are stated for.
_SIZES = ((840, 640), (640, 840), (720, 960), (960, 720))
# Day-first formats with a two-digit year: unambiguous to a person only beside a keyword.
_DAY_FIRST_SHORT = frozenset({"d/m/y", "d.m.y", "d-m-y", "d m y", "dmy"})
# In a 5-row font the holes of 0, 6, 8, 9 and B are one drop pitch wide: drops whose radius is over
# 0.55 pitches (continuous inkjet's big drops) close them, and 6 reads as 5, 8 as 3. A glyph is only
# 8 to 15 drops, so each one missing changes it: at 13% missing a 5x5 "16 AUG" read as "1G A?G" on
# the contact sheets, where the 7- and 9-row fonts stayed readable; 5% is one drop in two glyphs.
_SMALL_FONTS = frozenset({5})
_MAX_SMALL_DOT = 0.55
_MAX_SMALL_MISSING = 0.05
_JPEG_QUALITY = 92
_MAX_TRIES = 400  # seeds tried for one scene before giving up: a bound, never reached in practice
_REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Rules:
    """What makes a scene legible to a person; every threshold is checked on the expiry line.

    Besides these numbers: the printed date reads one way only (``unambiguous``), the whole line
    is on the product and in the photo (``DateLine.whole``), and a 5-row dot font's drops are
    apart and few missing (``_SMALL_FONTS``).

    - ``min_cap_share``: the cap height over the photo's long side. 2.2% is 18 to 21 px on these
      photos: a 5x7 font then has drops 2.6 px apart or more.
    - ``min_contrast``: the median over the expiry's ink pixels of |ink - surface| in grey levels,
      the surface estimated round the ink (``measure``). 45 levels (18% of the range) is on the
      safe side: of 16 lines measured at 28 to 45 (seeds 950000-950192), about half were still
      readable to a person and half were not (blur and faint ink together); from 45 up nearly
      all were.
    - ``min_part_contrast``: the same median in the weakest stretch one cap height long: a glare
      spot or a shadow that wipes out two digits leaves the line's median high, not this. Lines
      whose weakest stretch was under 30 had a word or digits washed out on the same sheet.
    - ``max_saturated``: the share of ink pixels clipped to white on a white surface (glare that
      burns out the ink itself).
    - ``max_clutter``: the share of the band round the ink (a quarter of a cap height wide) that
      stands out from the surface as ink would: a barcode or a paragraph printed under the date.
      Up to 0.2 the lines of the first 96 scenes, words overlapping a date's edge included, read.
    - ``max_worn``: the share of the line's ink a worn thermal-transfer ribbon left out. Wear
      takes out about a quarter of the ink in blotches as wide as a stroke: on the contact sheets
      "01112029" read as "01:12029". The contrast rules cannot see ink that is not there.
    """

    min_cap_share: float = 0.022
    min_contrast: float = 45.0
    min_part_contrast: float = 30.0
    max_saturated: float = 0.02
    max_clutter: float = 0.25
    max_worn: float = 0.05


@dataclass(frozen=True, slots=True)
class Legibility:
    """What ``measure`` found on one scene's expiry line."""

    cap_height: float  # px: the smaller of the renderer's cap height and the ink's narrow side
    cap_share: float  # cap_height over the photo's long side
    contrast: float  # median |ink - surface| over the line's ink, grey levels 0..255
    weakest_part: float  # that median in the line's weakest stretch one cap height long
    saturated: float  # share of ink pixels clipped white where the surface is white too
    clutter: float  # share of the surface just round the ink that stands out from it like ink
    whole: bool  # all the line's ink is on the product and in the photo
    small_font_ok: bool  # a 5-row dot font's drops are apart and few missing (``_SMALL_FONTS``)
    worn: float  # the share of the line's ink a worn thermal-transfer ribbon left out
    unambiguous: bool  # the printed date reads one way only (``unambiguous``)


@dataclass(frozen=True, slots=True)
class Slot:
    """One place in the set: its stratum and print style."""

    stratum: str
    style: str


@dataclass(frozen=True, slots=True)
class Request:
    """What ``render_scene`` is asked for one seed in one slot."""

    size: tuple[int, int]
    angle: float
    damage: Damage | None
    distractors: bool
    min_text_height: float = 0.022


@dataclass(slots=True)
class SetReport:
    """What ``write_set`` wrote and skipped."""

    manifest: Path
    tried: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # per rule; a scene may fail several
    scenes: list[dict[str, Any]] = field(default_factory=list)


def unambiguous(date_format: str, keyword: str) -> bool:
    """Whether a person reads the printed expiry one way only: a four-digit year or a month name
    always; a day-first date with a two-digit year (and the bare six digits ``dmy``) only after a
    keyword. Never a two-digit year first (``y.m.d``: 25.10.23) nor a month and two-digit year
    (``m/y``: 05/27 reads as 27 May too)."""
    if date_format == "y.m.d":
        return False
    if "Y" in date_format or "N" in date_format or "n" in date_format:
        return True
    return bool(keyword) and date_format in _DAY_FIRST_SHORT


@dataclass(frozen=True, slots=True)
class _Line:
    """A line of ink points along its main axis."""

    centre: tuple[float, float]  # photo px
    angle: float  # degrees counter-clockwise from the x axis, as render_scene turns products
    length: float  # px along the axis
    height: float  # px across it
    along: np.ndarray  # each point's position along the axis, px


def _axes(points: np.ndarray, near: float) -> _Line:
    """The main axis of ``(N, 2)`` x, y ink points (their principal component): a line of text is
    longer than high. Of the axis's two senses, the one nearer ``near`` degrees (the product's
    turn) is taken, so the line reads left to right when turned back by ``angle``."""
    centre = points.mean(axis=0)
    offsets = points - centre
    _, vectors = np.linalg.eigh(offsets.T @ offsets)
    vx, vy = vectors[:, -1]
    angle = float(np.degrees(np.arctan2(-vy, vx)))  # y points down in a photo
    if abs((angle - near + 180) % 360 - 180) > 90:
        angle, vx, vy = angle - 180 if angle > 0 else angle + 180, -vx, -vy
    along = offsets @ np.array([vx, vy], dtype=np.float32)
    across = offsets @ np.array([-vy, vx], dtype=np.float32)
    return _Line(
        (float(centre[0]), float(centre[1])),
        angle,
        float(along.max() - along.min()) + 1.0,
        float(across.max() - across.min()) + 1.0,
        along,
    )


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _surface(grey: np.ndarray, ink: np.ndarray, size: int) -> np.ndarray:
    """The surface under the ink: the grey image closed (dark ink) or opened (light ink) by a disc
    wider than a stroke, which removes the print and keeps shading and glare, then smoothed."""
    darker = np.median(grey[ink]) < np.median(grey[~ink]) if (~ink).any() else True
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    smooth = cv2.medianBlur(grey.astype(np.uint8), 3)
    surface = cv2.morphologyEx(smooth, cv2.MORPH_CLOSE if darker else cv2.MORPH_OPEN, disc)
    return cv2.GaussianBlur(surface.astype(np.float32), (0, 0), size / 4)


def measure(scene: Scene, image: np.ndarray | None = None) -> Legibility:
    """The expiry line's legibility on ``image`` (default ``scene.image``).

    Raises:
        ValueError: the scene was rendered without its ink map (``render_scene(with_ink=True)``).
    """
    if scene.ink is None:
        raise ValueError("measure needs the ink map: render_scene(..., with_ink=True)")
    image = scene.image if image is None else image
    height, width = image.shape[:2]
    ys, xs = np.nonzero(scene.ink == 1)
    line = _axes(np.column_stack([xs, ys]).astype(np.float32), scene.angle)
    cap = min(scene.cap_height, line.height) if scene.cap_height > 0 else line.height
    # The box padded by a cap height and a half: enough surface round the line for the closing.
    pad = int(1.5 * cap) + 4
    x1, y1 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad)
    x2, y2 = min(width, int(xs.max()) + pad + 1), min(height, int(ys.max()) + pad + 1)
    grey = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY).astype(np.float32)
    ink = scene.ink[y1:y2, x1:x2] == 1
    surface = _surface(grey, ink, max(5, int(0.6 * cap)) | 1)
    difference = np.abs(grey - surface)[ink]
    # The weakest stretch: ink pixels binned along the line's long axis, one cap height a bin.
    bins = ((line.along - line.along.min()) // max(1.0, cap)).astype(int)
    # ``difference`` is in np.nonzero's row-major order, as ``line.along`` is.
    parts = [float(np.median(difference[bins == b])) for b in np.unique(bins) if (bins == b).sum() >= 8]
    clipped = (grey[ink] >= 250) & (surface[ink] >= 235)
    # Print under or beside the line (pack graphics, a barcode): a band a quarter of a cap height
    # round the ink, the ink's own blur left out, that differs from the surface as ink would.
    near = cv2.dilate(ink.astype(np.uint8), _disc(max(2, round(0.08 * cap)))) > 0
    band = (cv2.dilate(ink.astype(np.uint8), _disc(max(4, round(0.25 * cap)))) > 0) & ~near
    stray = np.abs(grey - surface)[band] >= max(25.0, 0.5 * float(np.median(difference)))
    return Legibility(
        cap_height=round(float(cap), 2),
        cap_share=round(float(cap) / max(height, width), 4),
        contrast=round(float(np.median(difference)), 1),
        weakest_part=round(min(parts) if parts else float(np.median(difference)), 1),
        saturated=round(float(clipped.mean()), 4),
        clutter=round(float(stray.mean()) if stray.size else 0.0, 4),
        whole=scene.lines[0].whole,
        worn=scene.lines[0].worn,
        small_font_ok=scene.dot_rows not in _SMALL_FONTS
        or (scene.dot_size <= _MAX_SMALL_DOT and scene.dot_missing <= _MAX_SMALL_MISSING),
        unambiguous=unambiguous(scene.date_format, scene.keyword),
    )


def failures(legibility: Legibility, rules: Rules) -> tuple[str, ...]:
    """The rules (names from ``RULES``) a scene fails; empty when it is legible."""
    failed = []
    if not legibility.unambiguous:
        failed.append("format")
    if not legibility.whole:
        failed.append("whole")
    if not legibility.small_font_ok:
        failed.append("small_font")
    if legibility.worn > rules.max_worn:
        failed.append("worn_ribbon")
    if legibility.cap_share < rules.min_cap_share:
        failed.append("cap_height")
    if legibility.contrast < rules.min_contrast:
        failed.append("contrast")
    if legibility.weakest_part < rules.min_part_contrast:
        failed.append("weakest_part")
    if legibility.saturated > rules.max_saturated:
        failed.append("glare")
    if legibility.clutter > rules.max_clutter:
        failed.append("clutter")
    return tuple(failed)


def plan(count: int) -> list[Slot]:
    """The set's slots in order: strata a quarter each (the remainder to the first ones), within
    each half dot styles and half the others, each cycling through its styles."""
    slots = []
    for index, stratum in enumerate(STRATA):
        size = count // len(STRATA) + (index < count % len(STRATA))
        for k in range(size):
            styles = DOT_STYLES if k % 2 == 0 else OTHER_STYLES
            slots.append(Slot(stratum, styles[(k // 2) % len(styles)]))
    return slots


def request(slot: Slot, seed: int) -> Request:
    """The size, turn and damage asked for ``seed`` in ``slot``, drawn from their own stream so
    that the scene's other draws stay the seed's."""
    rng = np.random.default_rng([seed, 2])
    size = _SIZES[int(rng.integers(len(_SIZES)))]
    sign = 1.0 if rng.random() < 0.5 else -1.0
    turned = slot.stratum == "turned"
    angle = sign * float(rng.uniform(15, 90)) if turned else float(rng.uniform(-8, 8))
    damage = None
    if slot.stratum == "blur + glare":
        if rng.random() < 0.5:
            blur = {"blur_sigma": round(float(rng.uniform(0.8, 1.5)), 2)}
        else:
            blur = {
                "motion_px": int(rng.integers(3, 8)),
                "motion_angle": round(float(rng.uniform(0, 180)), 1),
            }
        damage = Damage(
            **blur,  # type: ignore[arg-type]
            glare=round(float(rng.uniform(60, 130)), 1),
            glare_at=(round(float(rng.uniform(-0.4, 0.4)), 2), round(float(rng.uniform(-0.3, 0.3)), 2)),
            glare_size=round(float(rng.uniform(0.15, 0.35)), 2),
        )
    return Request(size, round(angle, 2), damage, slot.stratum == "distractor dates")


def render(slot: Slot, seed: int) -> Scene:
    """The scene for ``seed`` in ``slot``, with its ink map."""
    asked = request(slot, seed)
    return render_scene(
        seed,
        asked.size,
        with_ink=True,
        style=slot.style,
        angle=asked.angle,
        min_text_height=asked.min_text_height,
        distractors=asked.distractors,
        damage=asked.damage,
    )


def encoded(image: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The JPEG written to the set and the pixels a reader decodes from it."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes(), cv2.imdecode(data, cv2.IMREAD_COLOR)


def printed_text(scene: Scene) -> str:
    """The date lines as a person reads them, the expiry's first, " / " between lines."""
    lines = (" ".join(line.text.replace("<script>", " ").split()) for line in scene.lines)
    return " / ".join(line for line in lines if line)


def print_style(scene: Scene) -> str:
    """The manifest's print style: the realworld report groups dot-matrix and CIJ as dot-matrix."""
    return {"cij": "cij dot-matrix"}.get(scene.style, scene.style) + " (synthetic)"


def _code_version() -> dict[str, Any]:
    try:
        head = subprocess.run(
            ["git", "-C", str(_REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = "unknown"
    files = ("models/date_detector/scenes.py", "bench/hard_set.py")
    # The working tree may differ from HEAD: the hashes pin the code that rendered the set.
    return {
        "git_head": head,
        "sha256": {name: hashlib.sha256((_REPO / name).read_bytes()).hexdigest() for name in files},
    }


def _row(scene: Scene, name: str, slot: Slot) -> dict[str, str]:
    return {
        "file": name,
        "expected": scene.expiry,
        "month_only": "yes" if len(scene.expiry) == 7 else "no",
        "printed_text": printed_text(scene),
        "print_style": print_style(scene),
        "condition": slot.stratum,
    }


def _detail(scene: Scene, seed: int, slot: Slot, legibility: Legibility) -> dict[str, Any]:
    asked = request(slot, seed)
    return {
        "seed": seed,
        "stratum": slot.stratum,
        "style": scene.style,
        "dot_rows": scene.dot_rows,
        "surface": scene.surface,
        "size": list(asked.size),
        "angle": asked.angle,
        "damage": asdict(asked.damage) if asked.damage else None,
        "keyword": scene.keyword,
        "date_format": scene.date_format,
        "date_lines": len(scene.lines),
        "expiry_box": [round(v, 1) for v in scene.box],
        "expiry_line": line_geometry(scene),
        "legibility": asdict(legibility),
    }


def line_geometry(scene: Scene) -> dict[str, Any]:
    """The expiry line's ink as a turned rectangle (``_axes``): centre and length along the line
    and height across it in photo px, and its angle in degrees as ``Scene.angle`` counts them."""
    if scene.ink is None:
        raise ValueError("line_geometry needs the ink map: render_scene(..., with_ink=True)")
    ys, xs = np.nonzero(scene.ink == 1)
    line = _axes(np.column_stack([xs, ys]).astype(np.float32), scene.angle)
    return {
        "centre": [round(line.centre[0], 1), round(line.centre[1], 1)],
        "length": round(line.length, 1),
        "height": round(line.height, 1),
        "angle": round(line.angle, 2),
    }


def write_set(
    folder: Path,
    count: int = 96,
    first_seed: int = 940_000,
    rules: Rules = Rules(),
    argv: list[str] | None = None,
) -> SetReport:
    """Writes the set (images, manifest.csv, set.json) into ``folder``; returns what it did.

    Raises:
        SystemExit: ``_MAX_TRIES`` seeds in a row fail the rules for one slot.
    """
    (folder / "images").mkdir(parents=True, exist_ok=True)
    report = SetReport(folder / "manifest.csv")
    rows: list[dict[str, str]] = []
    seed = first_seed
    for slot in plan(count):
        for _ in range(_MAX_TRIES):
            scene = render(slot, seed)
            data, pixels = encoded(scene.image)
            legibility = measure(scene, pixels)
            failed = failures(legibility, rules)
            if slot.stratum == "distractor dates" and not any(
                line.role == "production" for line in scene.lines
            ):
                failed += ("production_line",)
            report.tried += 1
            seed += 1
            if failed:
                report.skipped.update(failed)
                continue
            name = f"images/scene{seed - 1}.jpg"
            (folder / name).write_bytes(data)
            rows.append(_row(scene, name, slot))
            report.scenes.append(_detail(scene, seed - 1, slot, legibility))
            break
        else:
            raise SystemExit(f"{_MAX_TRIES} seeds in a row before {seed} failed the rules for {slot}")
    with report.manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    summary = {
        "command": " ".join(["python -m bench.hard_set", *(argv if argv is not None else [str(folder)])]),
        "code": _code_version(),
        "count": count,
        "first_seed": first_seed,
        "seeds_tried": report.tried,
        "skipped_by_rule": {rule: report.skipped[rule] for rule in RULES},
        "skipped_scenes": report.tried - len(report.scenes),
        "rules": asdict(rules),
        "scenes": [{"file": row["file"], **detail} for row, detail in zip(rows, report.scenes, strict=True)],
    }
    (folder / "set.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return report


def upright_crop(image: np.ndarray, line: dict[str, Any], pad: float = 0.3) -> np.ndarray:
    """The expiry line (``line_geometry``) turned back upright, padded by ``pad`` of its length
    and height on each side (the photo's edge pixels repeated beyond it)."""
    (cx, cy), length, height = line["centre"], line["length"], line["height"]
    out_w, out_h = round(length * (1 + 2 * pad)), round(height * (1 + 2 * pad))
    matrix = cv2.getRotationMatrix2D((cx, cy), -line["angle"], 1.0)
    matrix[:, 2] += (out_w / 2 - cx, out_h / 2 - cy)
    return cv2.warpAffine(
        image, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )


def write_sheets(
    folder: Path, per_row: int = 8, rows_per_sheet: int = 4, cell: tuple[int, int] = (300, 170)
) -> list[Path]:
    """Contact sheets of the set's expiry lines: ``DIR/sheets/sheetNN.png``, each line cropped,
    turned back upright (``upright_crop``) and scaled to fit its cell (at most 4x), the expected
    date, the file and the line's contrast under it. Returns the paths."""
    summary = json.loads((folder / "set.json").read_text(encoding="utf-8"))
    with (folder / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        expected = {row["file"]: row["expected"] for row in csv.DictReader(handle)}
    (folder / "sheets").mkdir(exist_ok=True)
    cell_w, cell_h = cell
    caption = 40
    per_sheet = per_row * rows_per_sheet
    paths = []
    scenes = summary["scenes"]
    for start in range(0, len(scenes), per_sheet):
        sheet = np.full((rows_per_sheet * (cell_h + caption), per_row * cell_w, 3), 255, np.uint8)
        for index, detail in enumerate(scenes[start : start + per_sheet]):
            image = cv2.imread(str(folder / detail["file"]), cv2.IMREAD_COLOR)
            crop = upright_crop(image, detail["expiry_line"])
            scale = min(4.0, (cell_w - 8) / crop.shape[1], (cell_h - 8) / crop.shape[0])
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            top = (index // per_row) * (cell_h + caption)
            left = (index % per_row) * cell_w
            y, x = top + (cell_h - crop.shape[0]) // 2, left + (cell_w - crop.shape[1]) // 2
            sheet[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
            label = f"{start + index + 1} {expected[detail['file']]}"
            note = f"{Path(detail['file']).stem} c{detail['legibility']['contrast']:.0f}"
            for line, text in enumerate((label, note)):
                origin = (left + 6, top + cell_h + 16 + 18 * line)
                cv2.putText(sheet, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.rectangle(
                sheet, (left, top), (left + cell_w - 1, top + cell_h + caption - 1), (200, 200, 200), 1
            )
        path = folder / "sheets" / f"sheet{start // per_sheet + 1:02d}.png"
        cv2.imwrite(str(path), sheet)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> SetReport:
    parser = argparse.ArgumentParser(prog="python -m bench.hard_set", description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="writes images/, manifest.csv and set.json here")
    parser.add_argument("--count", type=int, default=96, help="scenes in the set (default 96)")
    parser.add_argument("--first-seed", type=int, default=940_000, help="the first seed tried")
    parser.add_argument("--sheets", action="store_true", help="also write contact sheets to DIR/sheets")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    arguments = list(sys.argv[1:] if argv is None else argv)
    report = write_set(args.folder, args.count, args.first_seed, argv=arguments)
    skipped = ", ".join(f"{rule} {n}" for rule, n in sorted(report.skipped.items())) or "none"
    print(f"wrote {len(report.scenes)} scenes and {report.manifest}")
    print(f"{report.tried} seeds tried; skipped by rule (a scene may fail several): {skipped}")
    if args.sheets:
        for path in write_sheets(args.folder):
            print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
