"""The whole pipeline on real photos: is the expiry date right, and when not, why not.

    .venv/bin/python -m bench.realworld /work/realworld/manifest.csv --images /work/realworld \\
        --failures /tmp/realworld-failures --json /tmp/realworld.json
    .venv/bin/python -m bench.realworld models/date_detector/validation.csv \\
        --images ../shared/datasets/label-recognition          # the UK held-out split
    .venv/bin/python -m bench.realworld --make-synthetic /tmp/hard-synth   # then run on its manifest
    .venv/bin/python -m bench.realworld /work/realworld/manifest.csv --longer-side 1024  # as apps send

Input: a manifest CSV with ``file,expected`` (files relative to ``--images``). ``expected`` is
``YYYY-MM-DD``, ``YYYY-MM`` (a month-only label: year and month compared) or ``MM-DD`` (no year
printed: month and day compared). Optional columns, used when present: ``month_only`` (yes/no),
``printed_text`` (the date lines as a person read them, " / " between lines), ``print_style``,
``condition`` (how a synthetic scene was made hard). A detector manifest
(``file,date_text,month_day,...``, as ``bench/accuracy.py`` reads) is taken as
``expected=month_day, printed_text=date_text``.

Every photo goes through one pipeline loaded with the shipped defaults, one at a time, with one
reference date (2026-11-30 unless ``--reference-date``): printed dates in the past stay in the past.
Each photo is exact (the best date is the expiry) or one miss:
- ``no_date``: no date at all;
- ``expiry_not_found``: dates found, the expiry not among them (what was chosen is recorded);
- ``not_chosen``: the expiry among the candidates, another date chosen as best;
- ``wrong_year``: day and month right (month, for a month-only label), the year wrong.
Where ``printed_text`` is given, the parser alone reads it (``parse_dates``, order from the label,
else DMY), which splits each miss by cause: ``parser`` (wrong on the printed text too),
``parser_on_ocr_text`` (right on the printed text, and the date's characters are in what the OCR
read: the parser missed them in the OCR's form or among its other lines), ``ocr`` (the date was not
read: detector, windows or recogniser). Reported overall, per print style (and per print family:
dot-matrix, inkjet, thermal, other), with mean and p95 latency per stage, and an annotated picture
of each miss under ``--failures`` (detections with their confidence, reading windows, OCR lines with
their text, the expected date and the candidates).

``--longer-side N`` sends each photo smaller, as apps downscale a photo before they upload it: its
longer side brought to N pixels (area interpolation, JPEG quality 85; photos already that small are
sent as they are), orientation applied. The same photos at 1,024 and 640 pixels measure the small
print that phone apps and camera frames send (bench/RESULTS.md, "sixteenth" and "seventeenth
session").
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench._common import host_description, mean_p95, write_json
from pipeline import Pipeline, PipelineConfig, ProcessOptions, ProcessResult, load_pipeline
from pipeline.dates import parse_dates
from pipeline.decode import decode_image
from pipeline.regions import reading_windows
from pipeline.types import ParsedDate
from pipeline.visualize import render_visualization
from server.config import load_config

REFERENCE_DATE = dt.date(2026, 11, 30)
MISS_KINDS = ("no_date", "expiry_not_found", "not_chosen", "wrong_year")
_CAUSES = ("ocr", "parser_on_ocr_text", "parser", "unknown")
_STAGES = ("decode_ms", "queue_ms", "detect_ms", "ocr_ms", "parse_ms", "total_ms")
_FULL = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_MONTH_DAY = re.compile(r"^\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Row:
    """One photo: its file and the expiry date a person read on it."""

    file: str
    expected: str  # YYYY-MM-DD, YYYY-MM (month only) or MM-DD (no year printed)
    printed_text: str = ""  # lines separated by newlines; "" when the manifest has none
    print_style: str = ""
    condition: str = ""

    def __post_init__(self) -> None:
        if not (_FULL.match(self.expected) or _MONTH.match(self.expected) or _MONTH_DAY.match(self.expected)):
            raise ValueError(f"{self.file}: expected {self.expected!r} is not YYYY-MM-DD, YYYY-MM or MM-DD")

    @property
    def form(self) -> str:
        """``full``, ``month`` or ``month_day``: what of a date is compared."""
        if _FULL.match(self.expected):
            return "full"
        return "month" if _MONTH.match(self.expected) else "month_day"

    def key(self, date: dt.date) -> str:
        """``date`` in the form of ``expected``."""
        return date.strftime({"full": "%Y-%m-%d", "month": "%Y-%m", "month_day": "%m-%d"}[self.form])

    def matches(self, date: dt.date | None) -> bool:
        return date is not None and self.key(date) == self.expected

    def year_only_wrong(self, date: dt.date) -> bool:
        """Day and month (month alone for a month-only label) right, the year wrong."""
        if self.form == "month_day":
            return False
        wanted = self.expected[5:]
        return date.strftime("%m-%d" if self.form == "full" else "%m") == wanted and not self.matches(date)


def print_family(style: str) -> str:
    """A free-text print style reduced to a family: dot-matrix, inkjet, thermal, other."""
    lowered = style.lower()
    for family, words in (
        ("dot-matrix", ("dot-matrix", "dot matrix")),
        ("thermal", ("thermal",)),
        ("inkjet", ("inkjet",)),
    ):
        if any(word in lowered for word in words):
            return family
    return "other" if style else "unspecified"


def read_rows(manifest: Path, month_only_suffix: bool = True) -> list[Row]:
    """Rows of a ``file,expected,...`` manifest, or of a detector manifest (``file,date_text,
    month_day,...``), whose month_day becomes ``expected`` and date_text ``printed_text``."""
    with manifest.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        rows = []
        for raw in reader:
            if "expected" in columns:
                expected = raw["expected"].strip()
                if (raw.get("month_only") or "").strip().lower() in {"yes", "true", "1"}:
                    expected = expected[:7]  # a month-only label: year and month are compared
                text = raw.get("printed_text") or ""
            elif "month_day" in columns:
                expected, text = raw["month_day"].strip(), raw.get("date_text") or ""
            else:
                raise SystemExit(f"{manifest}: needs an 'expected' (or 'month_day') column")
            rows.append(
                Row(
                    raw["file"],
                    expected,
                    text.replace(" / ", "\n").strip(),
                    (raw.get("print_style") or "").strip(),
                    (raw.get("condition") or "").strip(),
                )
            )
    return rows


def classify(row: Row, best: ParsedDate | None, candidates: Iterable[ParsedDate]) -> str:
    """``exact`` or one of ``MISS_KINDS``."""
    if best is None:
        return "no_date"
    if row.matches(best.date):
        return "exact"
    if row.year_only_wrong(best.date):
        return "wrong_year"
    if any(row.matches(candidate.date) for candidate in candidates):
        return "not_chosen"
    return "expiry_not_found"


def parser_alone(row: Row, reference: dt.date) -> ParsedDate | None:
    """The parser's best date on ``printed_text`` alone (order from the label, else DMY)."""
    return parse_dates(row.printed_text, reference).best if row.printed_text else None


def _squeezed(text: str) -> str:
    return re.sub(r"[^0-9A-Z|]", "", text.upper())


def miss_cause(row: Row, alone: ParsedDate | None, lines: Iterable[str]) -> str:
    """Whose miss it is: ``parser`` (wrong on the printed text too), ``parser_on_ocr_text`` (the
    expiry's characters, separators aside, are in what the OCR read, and the parser missed them in
    that form or context), ``ocr`` (not read: detector, windows or recogniser), ``unknown`` (no
    ``printed_text``)."""
    if not row.printed_text:
        return "unknown"
    if alone is None or not row.matches(alone.date):
        return "parser"
    span = _squeezed(alone.text)
    return "parser_on_ocr_text" if span and span in _squeezed("|".join(lines)) else "ocr"


def _describe(date: ParsedDate | None) -> str | None:
    if date is None:
        return None
    return f"{date.date.isoformat()} {date.kind.value} {date.precision.value} {date.text!r}"


@dataclass(slots=True)
class _Tally:
    photos: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: str) -> None:
        self.photos += 1
        self.outcomes[outcome] += 1

    def summary(self) -> dict[str, Any]:
        exact = self.outcomes["exact"]
        return {
            "photos": self.photos,
            "exact": exact,
            "exact_rate": round(exact / self.photos, 4) if self.photos else None,
            **{kind: self.outcomes[kind] for kind in MISS_KINDS},
        }


def _ascii(text: str) -> str:
    # Hershey fonts draw ASCII only.
    return text.encode("ascii", "replace").decode("ascii")


def draw_failure(
    image: np.ndarray, result: ProcessResult, config: PipelineConfig, captions: list[str], path: Path
) -> None:
    """The pipeline's own picture (detections, OCR lines with their text, the best date), with the
    reading windows (yellow), detection confidences and a panel of captions under it."""
    picture = render_visualization(image, result.detections, result.ocr_lines, result.best_date)
    canvas = cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_COLOR)
    scale = canvas.shape[1] / image.shape[1]
    windows = reading_windows(
        image.shape, result.detections, config.detection_crop_padding, config.detection_crop_context
    )
    for window in windows:
        top_left = (round(window.x1 * scale), round(window.y1 * scale))
        bottom_right = (round(window.x2 * scale) - 1, round(window.y2 * scale) - 1)
        cv2.rectangle(canvas, top_left, bottom_right, (0, 220, 255), 1)
    for detection in result.detections:
        b = detection.box
        origin = (round(b.x1 * scale), min(canvas.shape[0] - 4, round(b.y2 * scale) + 16))
        cv2.putText(
            canvas, f"{detection.confidence:.2f}", origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 128, 0), 1,
            cv2.LINE_AA,
        )  # fmt: skip
    font_scale, step = 0.55, 22
    panel = np.full((step * len(captions) + 10, canvas.shape[1], 3), 255, np.uint8)
    for index, caption in enumerate(captions):
        cv2.putText(
            panel, _ascii(caption)[:160], (6, step * (index + 1)), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
            (0, 0, 0), 1, cv2.LINE_AA,
        )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack([canvas, panel]), [cv2.IMWRITE_JPEG_QUALITY, 85])


def _captions(
    row: Row, result: ProcessResult, outcome: str, cause: str, alone: ParsedDate | None
) -> list[str]:
    best = result.best_date
    lines = [
        f"{row.file}: expected {row.expected} [{row.print_style or '-'}] -> {outcome} ({cause})",
        f"best: {_describe(best) or 'none'}",
        "candidates: " + ("; ".join(f"{c.date} {c.kind.value} {c.text!r}" for c in result.dates) or "none"),
        f"{len(result.detections)} detections"
        + (", nothing in them: whole image read" if result.full_image_fallback_used else "")
        + f"; {len(result.ocr_lines)} OCR lines (yellow: windows read, blue: boxes, green: lines)",
    ]
    if row.printed_text:
        verdict = "right" if alone is not None and row.matches(alone.date) else "WRONG"
        lines.append(f"printed: {row.printed_text.replace(chr(10), ' / ')}  (parser alone: {verdict})")
    lines += [f"  read: {line.text}  ({line.confidence:.2f})" for line in result.ocr_lines[:14]]
    if len(result.ocr_lines) > 14:
        lines.append(f"  ... {len(result.ocr_lines) - 14} more lines")
    return lines


def _second_chance(result: ProcessResult) -> dict[str, Any] | None:
    """What the second chance did on a photo (``None``: it did not run)."""
    second = result.second_chance
    if second is None:
        return None
    return {
        "read": len(second.read),
        "winner": second.winner,
        "support": second.support,
        "ms": round(second.ms, 1),
    }


# JPEG quality of a photo sent smaller (--longer-side): what phone apps' uploads use, about.
_SENT_QUALITY = 85


# How --turn turns a photo, clockwise.
_TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def shrunk(data: bytes, longer_side: int, turn: int = 0) -> bytes:
    """``data`` (an encoded photo) with its longer side brought down to ``longer_side`` pixels
    (area interpolation, EXIF orientation applied, re-encoded as JPEG at quality 85), or as it is
    when it is no longer than that or is no photo OpenCV decodes (the pipeline then says why).
    ``turn``: then turned clockwise by 90, 180 or 270 degrees, as a camera frame or a photo whose
    EXIF orientation was stripped shows it (re-encoded the same way, whatever its size)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    longest = 0 if image is None else max(image.shape[:2])
    if image is None or (longest <= longer_side and not turn):
        return data
    if longest > longer_side > 0:
        factor = longer_side / longest
        image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    if turn:
        image = cv2.rotate(image, _TURNS[turn])
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _SENT_QUALITY])
    if not ok:
        raise ValueError("could not re-encode a photo as JPEG")
    return encoded.tobytes()


def measure(
    rows: list[Row],
    images: Path,
    pipeline: Pipeline,
    reference: dt.date = REFERENCE_DATE,
    failures: Path | None = None,
    longer_side: int = 0,
    turn: int = 0,
) -> dict[str, Any]:
    """Runs the pipeline over the photos (each sent :func:`shrunk` to ``longer_side`` pixels,
    unless 0, and turned clockwise by ``turn`` degrees) and returns the report."""
    options = ProcessOptions(reference_date=reference)
    overall, by_style, by_family, by_condition = _Tally(), {}, {}, {}
    causes: Counter[str] = Counter()
    results: list[ProcessResult] = []
    walls: list[float] = []
    photos: list[dict[str, Any]] = []
    alone_right = alone_rows = 0
    for row in rows:
        data = (images / row.file).read_bytes()
        if longer_side or turn:
            data = shrunk(data, longer_side, turn)
        started = time.perf_counter()
        result = pipeline.process(data, options)
        walls.append((time.perf_counter() - started) * 1000)
        results.append(result)
        outcome = classify(row, result.best_date, result.dates)
        alone = parser_alone(row, reference)
        if row.printed_text:
            alone_rows += 1
            alone_right += alone is not None and row.matches(alone.date)
        overall.add(outcome)
        by_style.setdefault(row.print_style or "unspecified", _Tally()).add(outcome)
        by_family.setdefault(print_family(row.print_style), _Tally()).add(outcome)
        if row.condition:
            by_condition.setdefault(row.condition, _Tally()).add(outcome)
        cause = None
        if outcome != "exact":
            cause = miss_cause(row, alone, (line.text for line in result.ocr_lines))
            causes[cause] += 1
        photos.append(
            {
                "file": row.file,
                "expected": row.expected,
                "print_style": row.print_style,
                "outcome": outcome,
                "cause": cause,
                "best": _describe(result.best_date),
                "candidates": [_describe(c) for c in result.dates],
                "detections": [round(d.confidence, 3) for d in result.detections],
                "fallback_used": result.full_image_fallback_used,
                "read_turned_deg": result.read_turned_deg,
                "lines": [line.text for line in result.ocr_lines],
                "parser_alone": _describe(alone),
                "total_ms": round(result.timings.total_ms, 1),
                "second_chance": _second_chance(result),
            }
        )
        if outcome != "exact" and failures is not None:
            image = decode_image(data, pipeline.config.decode)
            name = f"{outcome}-{row.file.replace('/', '_')}"
            draw_failure(
                image, result, pipeline.config, _captions(row, result, outcome, cause, alone),
                failures / Path(name).with_suffix(".jpg"),
            )  # fmt: skip
    summary = overall.summary()
    return {
        "reference_date": reference.isoformat(),
        "longer_side_px": longer_side or None,
        "turn_deg": turn,
        **summary,
        "misses_by_cause": {name: causes[name] for name in _CAUSES},
        "parser_alone": {
            "photos_with_text": alone_rows,
            "right": alone_right,
            "rate": round(alone_right / alone_rows, 4) if alone_rows else None,
        },
        "photos_with_detections": sum(bool(r.detections) for r in results),
        "fallback_used": sum(r.full_image_fallback_used for r in results),
        "read_turned": sum(bool(r.read_turned_deg) for r in results),
        "second_chance_run": sum(r.second_chance is not None for r in results),
        "second_chance_won": sum(bool(r.second_chance and r.second_chance.winner) for r in results),
        "by_print_family": {name: t.summary() for name, t in sorted(by_family.items())},
        "by_print_style": {name: t.summary() for name, t in sorted(by_style.items())},
        "by_condition": {name: t.summary() for name, t in sorted(by_condition.items())},
        "stages_ms": {stage: mean_p95([getattr(r.timings, stage) for r in results]) for stage in _STAGES},
        "wall_ms": mean_p95(walls),
        "photos_detail": photos,
    }


def markdown(report: dict[str, Any]) -> str:
    """The report's tables, for bench/RESULTS.md."""
    n = report["photos"]

    def share(count: int) -> str:
        return f"{count} ({count / n:.1%})" if n else "0"

    out = [
        f"exact expiry date: **{report['exact']}/{n}** ({report['exact_rate']:.1%}); "
        f"parser alone on printed_text: {report['parser_alone']['right']}/"
        f"{report['parser_alone']['photos_with_text']}",
        "",
        "| outcome | photos | OCR: date not read | parser, on the OCR's text | parser, on the printed text |",
        "| --- | --- | --- | --- | --- |",
    ]
    details = report["photos_detail"]
    for kind in ("exact", *MISS_KINDS):
        of_kind = [p for p in details if p["outcome"] == kind]
        causes = [str(sum(p["cause"] == c for p in of_kind)) for c in _CAUSES[:3]]
        cells = " | ".join(["", "", ""] if kind == "exact" else causes)
        out.append(f"| {kind} | {share(len(of_kind))} | {cells} |")
    # A few styles are shown as they are; many free-text ones (real photos) by family.
    styles = ("print style", "by_print_style") if len(report["by_print_style"]) <= 6 else None
    for title, key in (styles or ("print family", "by_print_family"), ("condition", "by_condition")):
        if not report[key]:
            continue
        out += ["", f"| {title} | photos | exact | " + " | ".join(MISS_KINDS) + " |"]
        out.append("| --- " * (3 + len(MISS_KINDS)) + "|")
        for name, tally in report[key].items():
            misses = " | ".join(str(tally[kind]) for kind in MISS_KINDS)
            out.append(f"| {name} | {tally['photos']} | {tally['exact']} | {misses} |")
    stages = report["stages_ms"]
    out += [
        "",
        "| ms | decode | detect | OCR | parse | total | wall |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for stat in ("mean", "p95"):
        cells = " | ".join(
            str(stages[s][stat]) for s in ("decode_ms", "detect_ms", "ocr_ms", "parse_ms", "total_ms")
        )
        out.append(f"| {stat} | {cells} | {report['wall_ms'][stat]} |")
    out.append(
        f"\nphotos with a detection: {report['photos_with_detections']}/{n}; "
        f"whole image read (nothing dated in the boxes): {report['fallback_used']}/{n}; "
        f"second chance read: {report['second_chance_run']}/{n}, "
        f"its date won: {report['second_chance_won']}; "
        f"read turned upright (sent sideways): {report['read_turned']}/{n}"
    )
    return "\n".join(out)


# --- a hard synthetic set, from the detector's scene renderer --------------------------------------

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_CONDITIONS = ("as rendered", "rotated 15-22 deg", "blur + glare on the date", "production date added")


def scene_expected(date_text: str) -> str:
    """The expiry of one of ``scenes._date_text``'s formats, in a manifest's ``expected`` form."""
    text = date_text.upper()
    month = "|".join(_MONTHS)
    if found := re.fullmatch(rf"(\d{{1,2}}) ({month})(?: (\d{{4}}))?", text):
        day, name, year = found.groups()
        month_day = f"{_MONTHS.index(name) + 1:02d}-{int(day):02d}"
        return f"{year}-{month_day}" if year else month_day
    if found := re.fullmatch(rf"(\d{{2}})({month})(\d{{2}})", text):
        day, name, year = found.groups()
        return f"20{year}-{_MONTHS.index(name) + 1:02d}-{day}"
    if found := re.fullmatch(rf"({month}) (\d{{2}})", text):
        return f"{_MONTHS.index(found[1]) + 1:02d}-{found[2]}"
    if found := re.fullmatch(r"(\d{2})[/.-](\d{2})[/.-](\d{2}|\d{4})", text):
        day, number, year = found.groups()
        return f"{year if len(year) == 4 else '20' + year}-{number}-{day}"
    if found := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text):
        return text
    if found := re.fullmatch(r"(\d{2})/(\d{4})", text):
        return f"{found[2]}-{found[1]}"
    raise ValueError(f"no known scene format: {date_text!r}")


def _render(seed: int) -> tuple[Any, bool]:
    """``scenes.render_scene(seed)`` and whether its date was printed as dot-matrix dots."""
    # The label renderer the frozen set was made with (scenes.py now renders general packaging).
    from models.date_detector import label_scenes as scenes

    seen: list[bool] = []
    draw = scenes._draw_text

    def recording(canvas, text, origin, font, scale, ink, thickness, dot_matrix):  # type: ignore[no-untyped-def]
        seen.append(dot_matrix)
        return draw(canvas, text, origin, font, scale, ink, thickness, dot_matrix)

    scenes._draw_text = recording
    try:
        scene = scenes.render_scene(seed)
    finally:
        scenes._draw_text = draw
    return scene, bool(seen) and seen[0]


def _harden(
    rng: np.random.Generator, image: np.ndarray, box: tuple[float, ...], condition: str, expected: str
) -> np.ndarray:
    height, width = image.shape[:2]
    if condition.startswith("rotated"):
        angle = float(rng.uniform(15, 22)) * (1 if rng.random() < 0.5 else -1)
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    if condition.startswith("blur"):
        size = int(rng.choice([7, 9]))
        kernel = np.zeros((size, size), np.float32)
        kernel[size // 2, :] = 1.0 / size  # a hand that moved sideways
        out = cv2.filter2D(image, -1, kernel).astype(np.float32)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        cx, cy = (box[0] + box[2]) / 2 + rng.uniform(-20, 20), (box[1] + box[3]) / 2
        spread = max(20.0, (box[2] - box[0]) * 0.35)
        glare = rng.uniform(90, 140) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * spread**2))
        return np.clip(out + glare[..., None], 0, 255).astype(np.uint8)
    if condition.startswith("production"):
        # A production date 200 days before the expiry, on a sticker in the corner away from it.
        year = int(expected[:4]) if len(expected) != 5 else REFERENCE_DATE.year
        month, day = (int(v) for v in expected[-5:].split("-")) if len(expected) != 7 else (
            int(expected[5:]), 28
        )  # fmt: skip
        made = dt.date(year, month, day) - dt.timedelta(days=200)
        text = f"MFD {made:%d/%m/%Y}"
        scale, thickness = 0.9, 2
        (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        right = (box[0] + box[2]) / 2 < width / 2
        bottom = (box[1] + box[3]) / 2 < height / 2
        x = width - text_w - 30 if right else 20
        y = height - 30 if bottom else text_h + 30
        out = image.copy()
        cv2.rectangle(out, (x - 10, y - text_h - 10), (x + text_w + 10, y + 12), (235, 235, 235), -1)
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (30, 30, 30), thickness, cv2.LINE_AA)
        return out
    return image


def write_synthetic(folder: Path, count: int = 64, first_seed: int = 710_000) -> Path:
    """Writes ``count`` hard scenes (half dot-matrix, half fonts; a quarter each as rendered, rotated
    further, blurred with glare on the date, with a production date added) and their manifest;
    returns the manifest's path. The same arguments always write the same files."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    wanted = {True: count // 2, False: count - count // 2}
    rows: list[dict[str, str]] = []
    seed = first_seed
    while any(wanted.values()):
        scene, dot_matrix = _render(seed)
        seed += 1
        if not wanted[dot_matrix]:
            continue
        wanted[dot_matrix] -= 1
        expected = scene_expected(scene.date_text)
        condition = _CONDITIONS[len(rows) % len(_CONDITIONS)]
        rng = np.random.default_rng(seed)
        image = _harden(rng, scene.image, scene.box, condition, expected)
        name = f"images/scene{seed - 1}.jpg"
        cv2.imwrite(str(folder / name), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        rows.append(
            {
                "file": name,
                "expected": expected,
                "month_only": "yes" if len(expected) == 7 else "no",
                "printed_text": scene.date_text,
                "print_style": "dot-matrix (synthetic)" if dot_matrix else "font (synthetic)",
                "condition": condition,
            }
        )
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.realworld",
        description="Expiry dates read from real photos, misses by kind.",
        epilog="Any other flag is the server's own (python -m server --help) and sets the pipeline as it "
        "would the server's: --model-repository DIR, --rec-model-name ocr_rec_ppocrv4, "
        "--det-model-name ..., --use-angle-cls false, --providers cpu. DATALID_* variables are ignored.",
    )
    parser.add_argument("manifest", type=Path, nargs="?", help="file,expected[,printed_text,...] CSV")
    parser.add_argument("--images", type=Path, help="folder the manifest's files are relative to")
    parser.add_argument("--reference-date", type=dt.date.fromisoformat, default=REFERENCE_DATE)
    parser.add_argument("--failures", type=Path, help="write an annotated picture of each miss here")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--limit", type=int, default=0, help="first N photos only (0: all)")
    parser.add_argument(
        "--longer-side",
        type=int,
        default=0,
        metavar="PX",
        help="send each photo with its longer side brought down to PX pixels, as apps do (0: as it is)",
    )
    parser.add_argument(
        "--turn",
        type=int,
        default=0,
        choices=(0, *_TURNS),
        metavar="DEG",
        help="send each photo turned clockwise by DEG degrees (90, 180, 270) with no EXIF orientation, "
        "as a camera frame or a stripped upload shows it",
    )
    parser.add_argument("--make-synthetic", type=Path, help="write the hard synthetic set here and exit")
    parser.add_argument("--count", type=int, default=64, help="scenes in the synthetic set")
    args, server_flags = parser.parse_known_args(argv)
    if args.make_synthetic:
        manifest = write_synthetic(args.make_synthetic, args.count)
        print(f"wrote {args.count} scenes and {manifest}")
        return {"manifest": str(manifest)}
    if args.manifest is None:
        parser.error("a manifest is needed (or --make-synthetic DIR)")
    if args.longer_side < 0:
        parser.error("--longer-side must be 0 or more pixels")
    rows = read_rows(args.manifest)
    if args.limit:
        rows = rows[: args.limit]
    images = args.images or args.manifest.parent
    # The server's own parser, so a comparison runs exactly what `python -m server FLAGS` would.
    config = load_config(server_flags, {}).pipeline
    started = time.perf_counter()
    pipeline = load_pipeline(config)
    load_s = time.perf_counter() - started
    try:
        measured = measure(
            rows, images, pipeline, args.reference_date, args.failures, args.longer_side, args.turn
        )
    finally:
        pipeline.close()
    report = {
        "host": host_description(),
        "server_flags": server_flags,
        "manifest": str(args.manifest),
        "images": str(images),
        "load_s": round(load_s, 2),
        **measured,
    }
    print(markdown(report))
    misses = [p for p in report["photos_detail"] if p["outcome"] != "exact"]
    for photo in misses:
        print(
            f"  {photo['outcome']:<16} {photo['file']}: expected {photo['expected']}, best {photo['best']} "
            f"({photo['cause']}); read {' | '.join(photo['lines'])[:120]!r}"
        )
    if args.failures is not None and misses:
        print(f"{len(misses)} failure pictures in {args.failures}")
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()
