"""Triton's perf_analyzer against Datalid's v2 protocol, beside bench/load.py at the same concurrency.

For each concurrency, in one run against one server: perf_analyzer's closed loop on the model
``datalid`` over gRPC (each request one photo of IMAGES, cycled), then bench/load.py's closed loop
with the same photos over ``datalid.v1`` Process. Both count successful calls per second and the
latency percentiles the caller saw, so the two protocols' overheads can be compared, and
perf_analyzer's own server-side breakdown (queue, compute) comes from ModelStatistics.

    make perf-analyzer            # installs the tool under .tools/perf_analyzer (Makefile says why 2.51)
    .venv/bin/python -m bench.perf_analyzer ../shared/datasets/label-recognition/images --spawn \\
        --concurrency 1,2,4,8 --json bench/out/perf_analyzer.json

perf_analyzer's measurement: windows of ``--window-ms`` until three in a row agree within
``--stability-percent`` (at most ``--max-trials`` windows); its latencies are per request.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import tritonclient.grpc as triton_grpc
from tritonclient.utils import InferenceServerException

from bench import load
from bench._common import host_description, load_images, write_json

__all__ = [
    "PerfAnalyzerMissing",
    "perf_analyzer_command",
    "run_perf_analyzer",
    "wait_ready",
    "write_input_data",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
# Where `make perf-analyzer` installs it.
TOOL_DIR = REPO_ROOT / ".tools" / "perf_analyzer"


class PerfAnalyzerMissing(RuntimeError):
    """perf_analyzer is not installed (``make perf-analyzer``), or cannot run here."""


def perf_analyzer_command() -> tuple[list[str], dict[str, str]]:
    """The perf_analyzer command and the environment it runs in (its CUDA runtime library's folder
    on the loader's path); ``$PERF_ANALYZER`` names another binary.

    Raises:
        PerfAnalyzerMissing: not installed, or it does not start (a missing libb64).
    """
    binary = Path(os.environ.get("PERF_ANALYZER", TOOL_DIR / "bin" / "perf_analyzer"))
    if not binary.is_file():
        raise PerfAnalyzerMissing(f"no perf_analyzer at {binary}: run `make perf-analyzer`")
    # The wheel beside it (make perf-analyzer installs both into one folder).
    libraries = binary.parent.parent / "nvidia" / "cuda_runtime" / "lib"
    paths = [str(libraries), *filter(None, [os.environ.get("LD_LIBRARY_PATH")])]
    env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(paths)}
    probe = subprocess.run([str(binary), "--version"], env=env, capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        raise PerfAnalyzerMissing(f"perf_analyzer does not run here: {probe.stderr.strip()[:300]}")
    return [str(binary)], env


def _serialized(photo: bytes) -> bytes:
    return len(photo).to_bytes(4, "little") + photo


def write_input_data(photos: list[bytes], path: Path) -> Path:
    """perf_analyzer's ``--input-data`` file: one request per photo, ``image`` BYTES [1]. perf_analyzer
    sends a ``b64`` value's bytes as the tensor's raw contents, so each is the serialized tensor
    (the photo after its 4-byte length), not the photo alone."""
    entries = [
        {"image": {"b64": base64.b64encode(_serialized(photo)).decode(), "shape": [1]}} for photo in photos
    ]
    path.write_text(json.dumps({"data": entries}))
    return path


def run_perf_analyzer(
    target: str,
    model: str,
    concurrency: int,
    *,
    extra: list[str] = (),
    window_ms: int = 10_000,
    stability_percent: int = 25,
    max_trials: int = 6,
    timeout_s: float = 900,
) -> dict[str, Any]:
    """One perf_analyzer measurement at ``concurrency``; its CSV row, numbers as numbers
    (latencies in microseconds, as perf_analyzer writes them).

    Raises:
        PerfAnalyzerMissing: not installed.
        RuntimeError: perf_analyzer failed; its output's end says why.
    """
    command, env = perf_analyzer_command()
    with tempfile.TemporaryDirectory(prefix="perf-analyzer-") as work:
        report = Path(work) / "report.csv"
        args = [
            *command,
            "-m",
            model,
            "-u",
            target,
            "-i",
            "grpc",
            "--concurrency-range",
            f"{concurrency}:{concurrency}",
            "--measurement-interval",
            str(window_ms),
            "--stability-percentage",
            str(stability_percent),
            "--max-trials",
            str(max_trials),
            "-f",
            str(report),
            *extra,
        ]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0 or not report.is_file():
            raise RuntimeError(
                f"perf_analyzer failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}"
            )
        with report.open() as rows:
            row = next(csv.DictReader(rows))
    return {key: float(value) for key, value in row.items() if value}


def wait_ready(target: str, timeout_s: float = 300) -> None:
    """Blocks until the server at ``target`` says it is ready (v2 ServerReady).

    Raises:
        TimeoutError: it did not in time.
    """
    client = triton_grpc.InferenceServerClient(target)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if client.is_server_ready():
                return
        except InferenceServerException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{target} was not ready after {timeout_s:.0f} s")


def _main(args: argparse.Namespace) -> dict[str, Any]:
    photos = load_images(args.images, args.limit)
    server = load.Server(args.server_arg) if args.spawn else None
    target = server.target if server else args.target
    levels = []
    try:
        wait_ready(target)
        with tempfile.TemporaryDirectory(prefix="perf-analyzer-data-") as work:
            data = write_input_data(photos, Path(work) / "photos.json")
            # perf_analyzer first at each level: the server is warm from the previous level either way.
            for concurrency in args.concurrency:
                row = run_perf_analyzer(
                    target,
                    "datalid",
                    concurrency,
                    extra=["--input-data", str(data), "--shape", "image:1"],
                    window_ms=args.window_ms,
                )
                triton = {
                    "throughput_ips": round(row["Inferences/Second"], 2),
                    "p50_ms": round(row["p50 latency"] / 1000, 1),
                    "p90_ms": round(row["p90 latency"] / 1000, 1),
                    "p99_ms": round(row["p99 latency"] / 1000, 1),
                    "server_queue_ms": round(row["Server Queue"] / 1000, 1),
                    "server_compute_ms": round(
                        (
                            row["Server Compute Input"]
                            + row["Server Compute Infer"]
                            + row["Server Compute Output"]
                        )
                        / 1000,
                        1,
                    ),
                }
                measured = load.main(
                    [
                        str(args.images),
                        "--target",
                        target,
                        "--limit",
                        str(args.limit),
                        "--concurrency",
                        str(concurrency),
                        "--overload-concurrency",
                        "0",
                        "--duration-s",
                        str(args.window_ms * 3 / 1000),
                    ]
                )["levels"][0]
                ours = {k: measured[k] for k in ("throughput_ips", "p50_ms", "p90_ms", "p99_ms")}
                levels.append(
                    {"concurrency": concurrency, "perf_analyzer_v2_grpc": triton, "bench_load_v1": ours}
                )
                print(f"c{concurrency}: perf_analyzer {triton}  bench.load {ours}", flush=True)
    finally:
        if server:
            server.stop()
    return {"host": host_description(), "target": target, "photos": len(photos), "levels": levels}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description="perf_analyzer beside bench/load.py (see the module docstring)."
    )
    parser.add_argument("images", type=Path, help="folder of photos (never committed)")
    parser.add_argument("--target", default="127.0.0.1:50051", help="server address (without --spawn)")
    parser.add_argument("--spawn", action="store_true", help="start `python -m server` here")
    parser.add_argument("--server-arg", action="append", default=[], help="extra server flag (repeatable)")
    parser.add_argument("--limit", type=int, default=60, help="photos used (0: all)")
    parser.add_argument("--concurrency", type=load._ints, default=[1, 2, 4, 8])
    parser.add_argument("--window-ms", type=int, default=10_000, help="perf_analyzer's measurement window")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    report = _main(args)
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()
