"""Recognisers on dot-matrix date lines of a renderer they were not trained on.

    python -m bench.dot_lines --rec-model-name ocr_rec_ppocrv6_small --rec-model-name ocr_rec

The coder-print recogniser (``models/ocr_rec/``, the default) is trained on the dot fonts of
``models/date_detector/scenes.py``, and hard set v2 is drawn by that renderer too; this bench reads
lines of another one (``pipeline.synth.render_dot_line``: Hershey glyphs on a coarse grid of large
dots) through the OCR engine of each recogniser, upright and turned 180 degrees, and counts the
lines read exactly (spaces and case ignored). A wrong date is the worst answer, so misreads are
listed, and those that differ from the printed line in digits only (a date that looks right and is
not) counted. Deterministic: the dates and formats come from ``--seed``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config import OcrConfig, RuntimeConfig
from pipeline.ocr import OcrEngine
from pipeline.synth import render_dot_line

# Date formats coders print (strftime), each with and without a keyword before it.
FORMATS = ("%d.%m.%Y", "%d/%m/%y", "%Y-%m-%d", "%d %b %Y", "%d%m%y", "%Y.%m.%d")
KEYWORDS = ("", "BB ", "EXP ", "USE BY ")
HEIGHTS = (30, 36, 48, 64)


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    height: int


def lines(count: int, seed: int) -> list[Line]:
    """``count`` date lines, each at every height of ``HEIGHTS``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 7)))
        text = KEYWORDS[int(rng.integers(len(KEYWORDS)))] + day.strftime(
            FORMATS[int(rng.integers(len(FORMATS)))]
        )
        out += [Line(text.upper(), height) for height in HEIGHTS]
    return out


def _compact(text: str) -> str:
    return text.replace(" ", "").upper()


def same_shape(read: str, printed: str) -> bool:
    """Whether ``read`` differs from ``printed`` in digits only: a wrong date that looks right."""
    return re.sub(r"\d", "#", _compact(read)) == re.sub(r"\d", "#", _compact(printed))


def measure(engine: OcrEngine, items: list[Line]) -> dict[str, object]:
    exact = {height: 0 for height in HEIGHTS}
    total = {height: 0 for height in HEIGHTS}
    misreads = []
    wrong_digits = upside_down = 0
    for line in items:
        image = render_dot_line(line.text, line.height)
        for way, turned in (("", image), (" upside down", np.ascontiguousarray(image[::-1, ::-1]))):
            read = " | ".join(found.text for found in engine.read(turned))
            total[line.height] += 1
            if _compact(read) == _compact(line.text):
                exact[line.height] += 1
                upside_down += bool(way)
            else:
                misreads.append(f"{line.text} @ {line.height} px{way}: {read!r}")
                wrong_digits += same_shape(read, line.text)
    return {
        "exact": sum(exact.values()),
        "upside_down": upside_down,
        "reads": sum(total.values()),
        "wrong_digits": wrong_digits,
        "by_height": {str(h): f"{exact[h]}/{total[h]}" for h in HEIGHTS},
        "misreads": misreads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rec-model-name", action="append", help="a recogniser entry; repeat to compare")
    parser.add_argument("--rec-model-path", type=Path, action="append", help="a recogniser ONNX file")
    parser.add_argument("--count", type=int, default=24, help="date lines (each at 4 heights, 2 ways up)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    configs = [(name, OcrConfig(rec_model_name=name)) for name in args.rec_model_name or []]
    configs += [(str(path), OcrConfig(rec_model_path=path)) for path in args.rec_model_path or []]
    if not configs:
        configs = [("ocr_rec", OcrConfig())]
    items = lines(args.count, args.seed)
    report = {}
    print(
        "| recogniser | exact | upside down | digits wrong, shape right | "
        + " | ".join(f"{h} px" for h in HEIGHTS)
        + " |"
    )
    print("| --- | --- | --- | --- | " + " | ".join("---" for _ in HEIGHTS) + " |")
    for name, config in configs:
        engine = OcrEngine.load(config, RuntimeConfig(providers=("cpu",)))
        result = measure(engine, items)
        report[name] = result
        heights = " | ".join(result["by_height"].values())  # type: ignore[union-attr]
        exact, wrong = f"{result['exact']}/{result['reads']}", result["wrong_digits"]
        upside_down = f"{result['upside_down']}/{result['reads'] // 2}"  # type: ignore[operator]
        print(f"| {name} | {exact} | {upside_down} | {wrong} | {heights} |", flush=True)
    for name, result in report.items():
        print(f"\n{name} misreads:")
        for miss in result["misreads"]:  # type: ignore[union-attr]
            print(f"  {miss}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
