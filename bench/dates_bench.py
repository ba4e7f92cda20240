"""The date parser's benchmark: calibration (reliability table, ECE) and speed (lines per second).

    .venv/bin/python -m bench.dates_bench calibration [--cases 3000 --seed 7]
    .venv/bin/python -m bench.dates_bench speed [--runs 7]
    .venv/bin/python -m bench.dates_bench fit [--seed 123 --cases 6000 --held-out-seed 7]
    .venv/bin/python -m bench.dates_bench answers [--json OUT]

Calibration reads the shared cases (tests/data/date_cases) and seeded generated labels with OCR
noise (bench/dates_cases.py); for each case the parser's best date is right or wrong, and the
table compares the stated confidence with how often it is right. Speed parses typical label lines
on one core and reports the median of several runs. Both print what ``bench/RESULTS.md`` records.
Fit regenerates the confidence weights (``pipeline/dates/confidence.py``) from seeded cases and
prints them in the form committed there, with the ECE they give on held-out cases. Answers counts
the parser's right answers on the whole date corpus (9,061 cases) and writes each, so that two
versions of the parser can be compared case by case.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.dates_cases import LabelCase, generate_cases
from pipeline.dates import MAX_TEXT_CHARS, parse_dates
from pipeline.dates.confidence import BIAS, HAND_SET, WEIGHTS, Evidence
from pipeline.dates.parser import parse_with_evidence
from pipeline.dates.years import YearWindow

_SHARED_CASES = Path(__file__).resolve().parents[1] / "tests" / "data" / "date_cases" / "datalid_cases.json"
# The reference date the shared cases' expectations were written against.
_SHARED_REFERENCE = dt.date(2025, 6, 1)
_BINS = 10
# The fit: cases and seed the committed weights come from, a light ridge (so that a fact that is
# always right on generated labels gets a finite weight) and a fixed number of Newton steps.
FIT_SEED = 123
FIT_CASES = 6000
_RIDGE = 1.0
_NEWTON_STEPS = 25


@dataclass(frozen=True, slots=True)
class Bin:
    """Cases whose best date had confidence in [low, high): how many, how sure, how often right."""

    low: float
    high: float
    count: int
    mean_confidence: float
    accuracy: float


def shared_cases() -> list[LabelCase]:
    """The shared, hand-labelled cases."""
    raw = json.loads(_SHARED_CASES.read_text(encoding="utf-8"))
    return [LabelCase(c["text"], _SHARED_REFERENCE, dt.date.fromisoformat(c["expected"])) for c in raw]


def reliability(cases: list[LabelCase]) -> tuple[list[Bin], float, int]:
    """The reliability table, the expected calibration error, and how many cases gave no date."""
    scored: list[tuple[float, bool]] = []
    for case in cases:
        best = parse_dates(case.text, case.reference_date).best
        if best is not None:
            scored.append((best.confidence, best.date == case.expected))
    bins, ece = _binned(scored)
    return bins, ece, len(cases) - len(scored)


def _binned(scored: list[tuple[float, bool]]) -> tuple[list[Bin], float]:
    bins = []
    ece = 0.0
    for index in range(_BINS):
        low, high = index / _BINS, (index + 1) / _BINS
        inside = [(c, ok) for c, ok in scored if low <= c < high or (index == _BINS - 1 and c == 1.0)]
        if not inside:
            continue
        mean = statistics.fmean(c for c, _ in inside)
        accuracy = sum(ok for _, ok in inside) / len(inside)
        bins.append(Bin(low, high, len(inside), mean, accuracy))
        ece += len(inside) / len(scored) * abs(mean - accuracy)
    return bins, ece


def _best_evidence(cases: list[LabelCase]) -> tuple[np.ndarray, np.ndarray]:
    """For each case with a best date: its evidence (one row) and whether it is right."""
    rows, right = [], []
    for case in cases:
        best = parse_dates(case.text, case.reference_date).best
        if best is None:
            continue
        window = YearWindow(case.reference_date)
        candidates, evidence = parse_with_evidence(case.text[:MAX_TEXT_CHARS], None, window, 30)
        # The first equal candidate is the one parse_dates picks.
        rows.append(evidence[candidates.index(best)])
        right.append(best.date == case.expected)
    return np.array(rows, dtype=np.float64), np.array(right, dtype=np.float64)


def fit_weights(seed: int = FIT_SEED, count: int = FIT_CASES) -> tuple[float, dict[str, float]]:
    """The bias and weights that ``confidence.py`` commits, fitted on the shared and seeded cases.

    Logistic regression of "best date right" on the evidence, by a fixed number of Newton steps
    (deterministic, numpy only). Weights in ``HAND_SET`` are held at their committed values.
    Returns the bias and every weight, rounded to two places.
    """
    x, y = _best_evidence(shared_cases() + generate_cases(count, seed))
    names = Evidence._fields
    free = [i for i, name in enumerate(names) if name not in HAND_SET]
    fixed = np.array([0.0 if i in free else WEIGHTS[name] for i, name in enumerate(names)])
    offset = x @ fixed
    design = np.hstack([np.ones((len(x), 1)), x[:, free]])
    ridge = np.diag([0.0] + [_RIDGE] * len(free))  # the bias is not shrunk
    beta = np.zeros(design.shape[1])
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(design @ beta + offset)))
        gradient = design.T @ (y - p) - ridge @ beta
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design + ridge
        beta += np.linalg.solve(hessian, gradient)
    weights = {name: WEIGHTS[name] for name in names}
    for column, index in enumerate(free, start=1):
        weights[names[index]] = round(float(beta[column]), 2)
    return round(float(beta[0]), 2), weights


def _fit(seed: int, count: int, held_out_seed: int) -> None:
    bias, weights = fit_weights(seed, count)
    print(f"# Printed by `python -m bench.dates_bench fit --seed {seed}`; HAND_SET ones: priors (see above).")
    print(f"BIAS = {bias}")
    print("WEIGHTS: dict[str, float] = {")
    for name, weight in weights.items():
        print(f'    "{name}": {weight},')
    print("}")
    x, y = _best_evidence(shared_cases() + generate_cases(3000, held_out_seed))
    score = bias + x @ np.array(list(weights.values()))
    scored = [(round(float(c), 3), bool(ok)) for c, ok in zip(1.0 / (1.0 + np.exp(-score)), y, strict=True)]
    _, ece = _binned(scored)
    committed = bias == BIAS and weights == WEIGHTS
    print(f"# held out (shared + 3,000 generated, seed {held_out_seed}): ECE {ece:.4f}")
    print(f"# committed weights in pipeline/dates/confidence.py: {'the same' if committed else 'DIFFERENT'}")


def _calibration(count: int, seed: int) -> None:
    cases = shared_cases() + generate_cases(count, seed)
    bins, ece, missing = reliability(cases)
    print(
        f"cases: {len(cases)} (shared {len(cases) - count}, generated {count}, seed {seed});"
        f" no date: {missing}"
    )
    print("| confidence | cases | mean confidence | accuracy |")
    print("| --- | --- | --- | --- |")
    for b in bins:
        print(f"| {b.low:.1f}-{b.high:.1f} | {b.count} | {b.mean_confidence:.3f} | {b.accuracy:.3f} |")
    right = sum(round(b.accuracy * b.count) for b in bins)
    print(f"accuracy of dates given: {right / sum(b.count for b in bins):.3f}; ECE: {ece:.4f}")


def _speed(runs: int) -> None:
    lines = [case.text.replace("\n", " ") for case in shared_cases() + generate_cases(2000, 11, noisy=False)]
    lines = [line for line in lines if len(line) <= 80]  # typical label lines, not whole-label dumps
    reference = dt.date(2026, 1, 1)
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for line in lines:
            parse_dates(line, reference)
        rates.append(len(lines) / (time.perf_counter() - started))
    print(
        f"{len(lines)} lines x {runs} runs on one core ({platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()})"
    )
    print(f"lines/s: median {statistics.median(rates):,.0f}, min {min(rates):,.0f}, max {max(rates):,.0f}")


def _answers(out: Path | None) -> None:
    """The parser's answer to every case of the date corpus (the shared cases, the fit's generated
    cases and 3,000 more of seed 7: 9,061), how many are right, and each answer as JSON
    (``[text, expected, answer]``) to compare two versions of the parser case by case."""
    cases = shared_cases() + generate_cases(FIT_CASES, FIT_SEED) + generate_cases(3000, 7)
    rows = []
    for case in cases:
        best = parse_dates(case.text, case.reference_date).best
        rows.append([case.text, str(case.expected), None if best is None else str(best.date)])
    right = sum(1 for _, expected, answer in rows if expected == answer)
    print(f"date corpus: {right} of {len(rows)} answers right")
    if out is not None:
        out.write_text(json.dumps(rows, ensure_ascii=False))


def main() -> None:
    """Command line entry: ``calibration``, ``speed``, ``fit`` or ``answers``."""
    parser = argparse.ArgumentParser(prog="python -m bench.dates_bench")
    sub = parser.add_subparsers(dest="command", required=True)
    calibration = sub.add_parser("calibration")
    calibration.add_argument("--cases", type=int, default=3000)
    calibration.add_argument("--seed", type=int, default=7)
    speed = sub.add_parser("speed")
    speed.add_argument("--runs", type=int, default=7)
    fit = sub.add_parser("fit")
    fit.add_argument("--seed", type=int, default=FIT_SEED)
    fit.add_argument("--cases", type=int, default=FIT_CASES)
    fit.add_argument("--held-out-seed", type=int, default=7)
    answers = sub.add_parser("answers")
    answers.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "answers":
        _answers(args.json)
    elif args.command == "calibration":
        _calibration(args.cases, args.seed)
    elif args.command == "fit":
        _fit(args.seed, args.cases, args.held_out_seed)
    else:
        _speed(args.runs)


if __name__ == "__main__":
    main()
