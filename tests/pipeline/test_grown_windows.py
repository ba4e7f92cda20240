"""Windows that cut a slanted dated line are grown along its slant and read whole, on the real
models (pipeline.regions.grown; bench/RESULTS.md, eleventh session).

Both scenes fail with windows grown only sideways and one line height up and down: the detector's
window covers part of a code photographed at a slant, and a dated line leaves it through the bottom.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from bench.hard_set import Slot, encoded, render
from pipeline import PipelineConfig, ProcessOptions, load_pipeline

REFERENCE = dt.date(2026, 11, 30)


def _read(seed: int, slot: Slot, way: str):
    data, _ = encoded(render(slot, seed).image)
    options = ProcessOptions(reference_date=REFERENCE)
    with load_pipeline(PipelineConfig()) as pipeline:
        if way == "process":
            return pipeline.process(data, options)
        return asyncio.run(pipeline.aprocess(data, options, deadline=None))


@pytest.mark.slow
@pytest.mark.parametrize("way", ["process", "aprocess"])
def test_a_turned_code_cut_by_its_window_is_read_with_its_year(way: str) -> None:
    """``USE BY 2027.04.30`` over ``MFD2026.09.18 B``, dot-matrix turned about 30 degrees. The
    window holds ``7.04.30`` and the end of the line below, whose B reads as a lone-letter
    expiry keyword ``E``: cut, the answer was ``09.18`` (September 2018). Grown down and left as
    far as the line's slant goes, the window reads the whole code."""
    result = _read(940125, Slot("turned", "dot-matrix"), way)
    assert result.best_date is not None and result.best_date.date == dt.date(2027, 4, 30)
    assert any("2027.04.30" in line.text for line in result.ocr_lines)


@pytest.mark.slow
@pytest.mark.parametrize("way", ["process", "aprocess"])
def test_a_date_cut_at_its_last_digit_is_read_whole(way: str) -> None:
    """``BBD: 2027.02.11`` over ``PKD 2025.04.05``, slanted: the window's right edge cuts the
    last 1 (the text detector boxes the line short of the cut glyph, so it does not run off the
    side), and the cut read ``2027.02.1`` is a date, 1 February. The PKD line leaves the window
    through its bottom edge: grown both ways for it, the window reads the 11 too."""
    result = _read(980177, Slot("blur + glare", "dot-matrix"), way)
    assert result.best_date is not None and result.best_date.date == dt.date(2027, 2, 11)
