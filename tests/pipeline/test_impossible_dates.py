"""Impossible whole dates read with the recogniser's second choice for a digit (impossible_dates.py)."""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np
import pytest

from pipeline import Pipeline, ProcessOptions
from pipeline.batching import Priority
from pipeline.dates import parse_dates
from pipeline.impossible_dates import repaired
from pipeline.pipeline import _ReadContext, _resolve
from pipeline.regions import Window
from pipeline.second_chance import Planned, Target
from pipeline.types import BoundingBox, OcrLine
from pipeline.variants import Step

REFERENCE = dt.date(2026, 11, 30)
BOX = BoundingBox(x1=0.0, y1=0.0, x2=100.0, y2=20.0)


def _line(text: str, *alternatives: str) -> OcrLine:
    return OcrLine(text=text, confidence=0.9, box=BOX, alternatives=alternatives)


def _dated(text: str) -> bool:
    """The parser's default year window: 15 years either side of the reference date."""
    return parse_dates(text, REFERENCE).best is not None


def _texts(lines: tuple[OcrLine, ...]) -> list[str]:
    return [line.text for line in lines]


def test_an_impossible_year_is_read_with_the_close_second_digit() -> None:
    # Hard set v3 960466: the 3 of a dot-matrix 2030 read as 5; the model ranked 3 second.
    lines = (_line("MF6t 06.10.2026", "MF6t 06.10.2028"), _line("31.10.2050", "31.10.2030", "51.10.2050"))
    fixed = repaired(lines, _dated)
    assert _texts(fixed) == ["MF6t 06.10.2026", "31.10.2030"]
    # The repaired line keeps no alternatives: it is read once, as repaired.
    assert fixed[1].alternatives == () and fixed[0] is lines[0]


def test_impossible_months_and_days_either_way_round() -> None:
    assert _texts(repaired((_line("EXP 31.13.2026", "EXP 31.12.2026"),), _dated)) == ["EXP 31.12.2026"]
    assert _texts(repaired((_line("2027-06-38", "2027-06-28"),), _dated)) == ["2027-06-28"]
    # The closest second that makes a date wins; one that does not is passed over.
    assert _texts(repaired((_line("31/13/27", "31/18/27", "31/12/27"),), _dated)) == ["31/12/27"]


def test_a_line_read_as_a_date_is_never_changed() -> None:
    # A date read right stays, whatever its alternatives (the second digit is no better a read).
    for line in (_line("06.10.2026", "06.10.2028"), _line("EXP 31.10.2030", "EXP 31.10.2050")):
        assert repaired((line,), _dated) == (line,)


def test_only_a_whole_date_is_repaired_and_only_inside_it() -> None:
    untouched = (
        # No whole numeric date: a lot number, a year alone, a date with one separator.
        _line("LOT 5050", "LOT 2050"),
        _line("2050", "2030"),
        _line("10.2050", "10.2030"),
        # The swap falls outside the impossible date.
        _line("L5 31.13.2026", "L3 31.13.2026"),
        # No alternative makes it a date.
        _line("31.10.2050", "31.10.2058"),
        # No alternatives at all.
        _line("31.10.2050"),
    )
    for line in untouched:
        assert repaired((line,), _dated) == (line,), line.text


def test_the_pipeline_repairs_its_first_read(real_pipeline: Pipeline) -> None:
    settings = _resolve(ProcessOptions(reference_date=REFERENCE), real_pipeline.config)
    lines = (_line("MF6t 06.10.2026", "MF6t 06.10.2028"), _line("31.10.2050", "31.10.2030"))
    image = np.full((64, 64, 3), 255, np.uint8)

    fixed, _, doubted = real_pipeline._after_first_read(image, False, lines, settings)

    assert _texts(fixed) == ["MF6t 06.10.2026", "31.10.2030"] and doubted is None
    best = real_pipeline._dates_in(fixed, settings).best
    # The later of two unlabelled dates is the expiry: the repaired one, not the production date.
    assert best is not None and best.date == dt.date(2030, 10, 31)


def test_a_variant_s_read_is_repaired_too(real_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    # Hard set v4 980261: the first read turned a dot-matrix 08/08/25 upside down (80/80), and four
    # second-chance variants read 08/68/25, the model ranking the month's 0 close behind the 6.
    settings = _resolve(ProcessOptions(reference_date=REFERENCE), real_pipeline.config)
    read = [_line("BB: 08/68/25", "BB: 08/08/25")]
    monkeypatch.setattr(real_pipeline._ocr, "read", lambda image, **kwargs: list(read))
    image = np.full((64, 64, 3), 255, np.uint8)

    found = real_pipeline._read_variant(image, [], None, Planned(Target.PHOTO, (Step.CONTRAST,)), settings)

    assert found is not None and _texts(found.lines) == ["BB: 08/08/25"] and found.repaired
    assert found.best is not None and found.best.date == dt.date(2025, 8, 8)


def test_a_variant_s_read_through_the_batchers_is_repaired_too(real_pipeline: Pipeline) -> None:
    # The same read as above, on aprocess's path (_aread_variant): the batchers' OCR stands in with
    # its read's lines, the executor and the parse are the pipeline's own.
    settings = _resolve(ProcessOptions(reference_date=REFERENCE), real_pipeline.config)

    class Read:
        async def read(self, image: np.ndarray, **kwargs: object) -> list[OcrLine]:
            return [_line("BB: 08/68/25", "BB: 08/08/25")]

    context = _ReadContext((float(Priority.INTERACTIVE), 0.0), Priority.INTERACTIVE, None, {})
    image = np.full((64, 64, 3), 255, np.uint8)
    planned = Planned(Target.PHOTO, (Step.CONTRAST,))

    found = asyncio.run(real_pipeline._aread_variant(Read(), image, [], None, planned, settings, context))

    assert found is not None and _texts(found.lines) == ["BB: 08/08/25"] and found.repaired
    assert found.best is not None and found.best.date == dt.date(2025, 8, 8)


@pytest.mark.parametrize("way", ["process", "aprocess"])
@pytest.mark.parametrize(
    ("first", "dated"), [("BB: 08/08/25", True), ("BB: 08/68/25", True), ("LOT 0868", False)]
)
def test_a_text_window_s_read_is_compared_with_the_first_read_after_its_repair(
    real_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, way: str, first: str, dated: bool
) -> None:
    # A text window's read counts only where it reads a numbered line of the first read again
    # (_reads_again). The first read repaired 08/68/25 to 08/08/25; the window misreads it alike,
    # and its read, repaired in turn, is the same line read again. Or the first read kept 08/68/25
    # (no alternative made it a date) and the window reads it the same, then repairs it. A line it
    # does not read again (the lot) still leaves it no date.
    settings = _resolve(ProcessOptions(reference_date=REFERENCE), real_pipeline.config)
    read = [_line("BB: 08/68/25", "BB: 08/08/25")]
    image = np.random.default_rng(7).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    windows = [Window(0, 0, 64, 64, -1)]
    planned = Planned(Target.TEXT, (Step.CONTRAST,))
    if way == "process":
        monkeypatch.setattr(real_pipeline._ocr, "read", lambda image, **kwargs: list(read))
        found = real_pipeline._read_variant(image, windows, None, planned, settings, (_line(first),))
    else:

        class Read:
            async def read(self, image: np.ndarray, **kwargs: object) -> list[OcrLine]:
                return list(read)

        context = _ReadContext((float(Priority.INTERACTIVE), 0.0), Priority.INTERACTIVE, None, {})
        reading = real_pipeline._aread_variant(
            Read(), image, windows, None, planned, settings, context, (_line(first),)
        )
        found = asyncio.run(reading)

    assert found is not None and _texts(found.lines) == ["BB: 08/08/25"]
    assert (found.best is not None and found.best.date == dt.date(2025, 8, 8)) is dated
