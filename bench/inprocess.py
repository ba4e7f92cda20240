"""The in-process ceiling: ``Pipeline.process`` on the same photos, no server, no batcher.

Measures single-image latency (one image at a time, as a caller at concurrency 1 sees it) and throughput
with N caller threads for each configuration tried; the best throughput is the ceiling that
``bench/load.py`` is compared with.

    .venv/bin/python -m bench.inprocess /work/shared/datasets/label-recognition/images \\
        --threads 1,2,4 --intra-op 1,2 --json bench/out/inprocess.json
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._common import host_description, latency_summary_ms, load_images, write_json
from pipeline import PipelineConfig, RuntimeConfig, load_pipeline


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _measure(
    images: list[bytes], threads: int, intra_op: int, passes: int, providers: tuple[str, ...]
) -> dict[str, Any]:
    config = PipelineConfig(
        runtime=RuntimeConfig(providers=providers, intra_op_threads=intra_op), max_concurrency=threads
    )
    with load_pipeline(config) as pipeline:
        latencies: list[float] = []

        def one(data: bytes) -> None:
            started = time.perf_counter()
            pipeline.process(data)
            latencies.append(time.perf_counter() - started)

        # One unmeasured pass over a few images: caches, allocator, first-shape costs.
        for data in images[:4]:
            pipeline.process(data)
        work = images * passes
        started = time.perf_counter()
        cpu_started = time.process_time()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, work))
        elapsed = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
    row = {
        "threads": threads,
        "intra_op_threads": intra_op,
        "images": len(work),
        "seconds": round(elapsed, 2),
        "throughput_ips": round(len(work) / elapsed, 3),
        **latency_summary_ms(latencies),
        # CPU seconds per image, all threads: unlike throughput, barely moved by noisy neighbours.
        "cpu_s_per_image": round(cpu_s / len(work), 3),
        "host_load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(
        f"threads {threads} intra-op {intra_op}: {row['throughput_ips']:.2f} images/s, "
        f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, cpu {row['cpu_s_per_image']} s/image, "
        f"load {row['host_load_average_1m']}",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="In-process pipeline ceiling on a folder of photos.")
    parser.add_argument("images", type=Path, help="folder of photos (never committed)")
    parser.add_argument("--limit", type=int, default=60, help="photos used (0: all)")
    parser.add_argument("--passes", type=int, default=1, help="times each photo is processed")
    parser.add_argument("--threads", type=_ints, default=[1, 2, 4], help="caller threads to try")
    parser.add_argument("--intra-op", type=_ints, default=[1, 2], help="ONNX intra-op threads to try")
    parser.add_argument("--providers", default="cpu", help="execution providers, best first")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)

    images = load_images(args.images, args.limit)
    rows = [
        _measure(images, threads, intra_op, args.passes, tuple(args.providers.split(",")))
        for intra_op in args.intra_op
        for threads in args.threads
    ]
    best = max(rows, key=lambda row: row["throughput_ips"])
    # Single-image latency as the server's default configuration sees it: one caller, the
    # default thread split (intra-op = cores / max_concurrency).
    single = [row for row in rows if row["threads"] == 1]
    report = {
        "host": host_description(),
        "rows": rows,
        "ceiling": best,
        "single_image": single,
    }
    print(
        f"ceiling: {best['throughput_ips']:.2f} images/s "
        f"(threads {best['threads']}, intra-op {best['intra_op_threads']})"
    )
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()
