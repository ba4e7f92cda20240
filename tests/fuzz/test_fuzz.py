"""The fuzz targets in CI: the committed corpus replayed, then a short seeded atheris run of each.

The long runs (10^6 inputs per target, ``make fuzz``) are recorded in bench/RESULTS.md; here each
target gets a few thousand coverage-guided inputs, enough that a regression in what a caller's
bytes reach first (decoding, the parser, the request conversion) fails a test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.__main__ import CORPUS
from tests.fuzz.make_corpus import date_texts, image_seeds, request_seeds
from tests.fuzz.targets import TARGETS

REPO_ROOT = Path(__file__).resolve().parents[2]
# Seconds of wall clock each smoke may take at most; the runs usually end in a few seconds.
SMOKE_TIMEOUT_S = 240
SMOKE_RUNS = {"decode": 3000, "dates": 20000, "request": 20000}
# The fuzzer is started by a shell that forks it, not by this process: a process started straight
# from pytest keeps pytest's peak RSS as its own (Linux carries ru_maxrss across fork and exec), and
# after the model tests that is gigabytes, which libFuzzer's -rss_limit_mb reads as out of memory
# (it did, with tests/pipeline run first). A child of the shell starts its peak afresh.
_FORKED_BY_A_SHELL = ["/bin/sh", "-c", '"$@"; exit $?', "sh"]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_corpus_replays_clean(target: str) -> None:
    seeds = sorted((CORPUS / target).iterdir())
    assert seeds, f"no seeds for {target}"
    for seed in seeds:
        TARGETS[target](seed.read_bytes())


def test_committed_corpus_is_what_make_corpus_writes() -> None:
    expected = {
        "decode": len(list(image_seeds())),
        "dates": len(list(date_texts())),
        "request": len(list(request_seeds())),
    }
    assert {target: len(list((CORPUS / target).iterdir())) for target in expected} == expected


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_smoke(target: str, tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            *_FORKED_BY_A_SHELL,
            sys.executable,
            "-m",
            "tests.fuzz",
            target,
            "--runs",
            str(SMOKE_RUNS[target]),
            "--seed",
            "1",
            "--work",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
    )
    # libFuzzer names what it found crash-, oom-, timeout-, leak- or slow-unit-<sha1>; kept inputs
    # are named by the bare hash.
    crashes = [path.name for path in (tmp_path / target).iterdir() if "-" in path.name]
    tail = completed.stderr[-3000:]
    assert completed.returncode == 0 and not crashes, f"fuzzer found {crashes}:\n{tail}"
    assert f"Done {SMOKE_RUNS[target]} runs" in completed.stderr, tail
