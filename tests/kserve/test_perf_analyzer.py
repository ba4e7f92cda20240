"""Triton's perf_analyzer (``make perf-analyzer``) measures the server through the v2 protocol: it
reads the model's metadata and configuration, runs its load, and reads ModelStatistics before and
after each window, refusing statistics it cannot make sense of."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.perf_analyzer import (
    PerfAnalyzerMissing,
    perf_analyzer_command,
    run_perf_analyzer,
    write_input_data,
)
from pipeline.synth import render_label
from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _installed() -> None:
    try:
        perf_analyzer_command()
    except PerfAnalyzerMissing as exc:
        pytest.skip(str(exc))


def test_perf_analyzer_measures_a_raw_model(server: ServerProcess) -> None:
    row = run_perf_analyzer(
        server.target, "date_detector", 2, window_ms=1500, max_trials=4, stability_percent=100
    )
    assert row["Concurrency"] == 2 and row["Inferences/Second"] > 0
    # Its server-side columns come from ModelStatistics: the detector's batcher's own times.
    assert row["Server Compute Infer"] > 0


def test_perf_analyzer_measures_datalid_with_photos(server: ServerProcess, tmp_path: Path) -> None:
    labels = [render_label(["Use by", f"{day} NOV 2026"], seed=day) for day in (3, 16)]
    data = write_input_data(labels, tmp_path / "photos.json")
    row = run_perf_analyzer(
        server.target,
        "datalid",
        1,
        extra=["--input-data", str(data), "--shape", "image:1"],
        window_ms=2000,
        max_trials=4,
        stability_percent=100,
    )
    assert row["Inferences/Second"] > 0
    assert row["Server Compute Input"] > 0 and row["Server Compute Infer"] > row["Server Compute Input"]
