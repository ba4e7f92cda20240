"""What one photo variant of the second chance costs on the photos that reach it.

    .venv/bin/python -m bench.variant_cost neutral PHOTO [PHOTO ...]

Each photo is read by the shipped pipeline and by the same pipeline without the named variant in
``second_chance_photo_variants``, on one set of loaded models, twice each, alternating (without,
with, without, with), so both see the same machine load. Prints each photo's four times and its
best date with the variant, then the mean of each arm. Photos that never reach the variant cost
the same either way: give it the photos that do (a ``bench.realworld`` report's misses, or the
photos whose second chance read the most variants).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import time
from pathlib import Path

from bench.realworld import REFERENCE_DATE
from pipeline import Pipeline, PipelineConfig, ProcessOptions
from pipeline.detector import load_detector
from pipeline.ocr import OcrEngine


def without(plan: str, variant: str) -> str:
    """``plan`` (comma-separated variants) less ``variant``; ValueError when it is not in it."""
    items = plan.split(",")
    if variant not in items:
        raise ValueError(f"{variant!r} is not one of the photo variants {plan!r}")
    return ",".join(item for item in items if item != variant)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("variant", help="one item of second_chance_photo_variants, e.g. neutral")
    parser.add_argument("photos", type=Path, nargs="+")
    parser.add_argument("--reference-date", type=dt.date.fromisoformat, default=REFERENCE_DATE)
    args = parser.parse_args()

    config = PipelineConfig()
    try:
        plan = without(config.second_chance_photo_variants, args.variant)
    except ValueError as error:
        parser.error(str(error))
    plain = dataclasses.replace(config, second_chance_photo_variants=plan)
    ocr = OcrEngine.load(config.ocr, config.runtime, concurrency=2)
    detector = load_detector(config, concurrency=2)
    options = ProcessOptions(reference_date=args.reference_date)
    times: dict[str, list[float]] = {"without": [], "with": []}
    with Pipeline(config, ocr, detector) as shipped, Pipeline(plain, ocr, detector) as reduced:
        for photo in args.photos:
            data = photo.read_bytes()
            found = None
            for arm, pipeline in (("without", reduced), ("with", shipped)) * 2:
                started = time.perf_counter()
                result = pipeline.process(data, options)
                times[arm].append((time.perf_counter() - started) * 1000)
                if arm == "with":
                    found = result.best_date.date if result.best_date else None
            print(
                f"{photo}: without {times['without'][-2]:.0f} {times['without'][-1]:.0f} ms, "
                f"with {times['with'][-2]:.0f} {times['with'][-1]:.0f} ms, best {found}",
                flush=True,
            )
    print(
        f"mean over {len(args.photos)} photos: without {statistics.mean(times['without']):.0f} ms, "
        f"with {statistics.mean(times['with']):.0f} ms"
    )


if __name__ == "__main__":
    main()
