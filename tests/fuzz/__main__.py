"""Runs one fuzz target under atheris (coverage-guided, libFuzzer inside).

    python -m tests.fuzz decode --seconds 60
    python -m tests.fuzz dates --runs 1000000 --jobs 2
    python -m tests.fuzz request --runs 2000 --seed 1      # the CI smoke (tests/fuzz/test_fuzz.py)

The seed corpus ``tests/fuzz/corpus/<target>/`` is read, never written: inputs the fuzzer finds
interesting go to ``--work DIR/<target>/`` (a temporary folder unless given), and a crashing input
to ``DIR/<target>/crash-*``, which reproduces with ``python -m tests.fuzz TARGET --replay FILE``.

libFuzzer's limits turn the issue's "no crash, hang or unbounded allocation" into failures:
``-timeout`` (one input taking longer is a hang), ``-rss_limit_mb`` (the process growing past it)
and ``-malloc_limit_mb`` (any single allocation larger than it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import atheris

CORPUS = Path(__file__).resolve().parent / "corpus"
DICTIONARIES = Path(__file__).resolve().parent / "dictionaries"
# One decode of the largest photo the server accepts (40 MP, 120 MB of pixels) must fit, with
# room for OpenCV's working buffers; nothing a caller sends should need more.
RSS_LIMIT_MB = 2048
MALLOC_LIMIT_MB = 512
# An input that takes longer than this is a hang: the slowest legitimate decode here (a 40 MP RGBA
# PNG of 160 KB, flattened) takes ~1.3 s under instrumentation.
TIMEOUT_S = 10
# Longer inputs only slow the search. A decodable photo fits in 64 KiB, but a walk that is slow only
# on long inputs (megabytes of tiny JPEG segments or fill bytes, issue 11) needs room to show it: at
# 1 MiB such a file took ~1 s in the old walks, against milliseconds for a 1 MiB photo. libFuzzer grows
# inputs towards this gradually (-len_control), so short runs such as the CI smoke stay small.
MAX_LEN = {"decode": 1 << 20, "dates": 4096, "request": 4096}


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=["decode", "dates", "request"])
    parser.add_argument("--seconds", type=int, default=0, help="stop after this long (0: no limit)")
    parser.add_argument("--runs", type=int, default=-1, help="stop after this many inputs (-1: no limit)")
    parser.add_argument("--seed", type=int, default=0, help="libFuzzer's random seed (0: pick one)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel fuzzing processes")
    parser.add_argument("--work", type=Path, default=None, help="where new inputs and crashes go")
    parser.add_argument("--replay", type=Path, nargs="*", default=None, help="run these inputs once")
    return parser.parse_args(argv)


def _libfuzzer_argv(args: argparse.Namespace) -> list[str]:
    work = (args.work or Path(tempfile.mkdtemp(prefix="datalid-fuzz-"))) / args.target
    work.mkdir(parents=True, exist_ok=True)
    flags = [
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-malloc_limit_mb={MALLOC_LIMIT_MB}",
        f"-timeout={TIMEOUT_S}",
        f"-max_len={MAX_LEN[args.target]}",
        f"-artifact_prefix={work}/",
        f"-seed={args.seed}",
        f"-runs={args.runs}",
        "-print_final_stats=1",
    ]
    if args.seconds:
        flags.append(f"-max_total_time={args.seconds}")
    if args.jobs > 1:
        flags += [f"-jobs={args.jobs}", f"-workers={args.jobs}"]
    dictionary = DICTIONARIES / f"{args.target}.dict"
    if dictionary.exists():
        flags.append(f"-dict={dictionary}")
    # The first folder is the one libFuzzer writes to; the seeds are only read.
    return [sys.argv[0], *flags, str(work), str(CORPUS / args.target)]


def main(argv: list[str] | None = None) -> None:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    # Coverage of our own code guides the search; the libraries' is noise. pipeline.container is
    # left uninstrumented: with it, atheris's comparison hooks grow the fuzzer's RSS by ~8 KB an
    # input (2 GB at 250,000 inputs, a false "oom" finding), while the same code run on 60,000
    # mutated inputs without atheris stays flat at 124 MB. Its code still runs on every input.
    with atheris.instrument_imports(include=["pipeline", "server"], exclude=["pipeline.container"]):
        from tests.fuzz.targets import TARGETS
    target = TARGETS[args.target]
    if args.replay is not None:
        for path in args.replay:
            target(path.read_bytes())
            print(f"{path}: ok")
        return
    atheris.Setup(_libfuzzer_argv(args), target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
