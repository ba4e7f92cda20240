"""The throughput target measured in alternating rounds, for a shared, noisy machine.

Each round runs the in-process ceiling (``Pipeline.process`` from N threads) and then the server at
closed-loop concurrency 8, back to back, so that both see the same neighbours; the report gives
each round's ratio and the median. The server is started once (``python -m server``) and stays
idle while the in-process side runs.

    .venv/bin/python -m bench.paired /work/shared/datasets/label-recognition/images --rounds 3 \\
        --json bench/out/paired.json
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path
from typing import Any

import grpc

from bench._common import host_description, load_images, write_json
from bench.inprocess import _measure
from bench.load import Load, Server, _wait_ready


async def _server_round(
    target: str, images: list[bytes], server: Server, concurrency: int, seconds: float
) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(target) as channel:
        await _wait_ready(channel)
        level = await Load(channel, images, server).closed(
            concurrency, 60.0, 0.25, 8.0, seconds, f"closed c{concurrency}"
        )
    return level.report()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="In-process ceiling and server c8, alternating.")
    parser.add_argument("images", type=Path)
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="in-process caller threads (best setting)")
    parser.add_argument("--intra-op", type=int, default=1, help="in-process intra-op threads (best setting)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds of each server round")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    images = load_images(args.images, args.limit)
    server = Server([])
    rounds = []
    try:
        for number in range(1, args.rounds + 1):
            ceiling = _measure(images, args.threads, args.intra_op, 1, ("cpu",))
            served = asyncio.run(_server_round(server.target, images, server, args.concurrency, args.seconds))
            ratio = served["throughput_ips"] / ceiling["throughput_ips"]
            rounds.append({"round": number, "inprocess": ceiling, "server": served, "ratio": round(ratio, 3)})
            print(
                f"round {number}: in-process {ceiling['throughput_ips']:.2f} images/s, server "
                f"c{args.concurrency} {served['throughput_ips']:.2f} images/s: {ratio:.0%} "
                f"(cpu s/image {ceiling['cpu_s_per_image']} vs {served['server_cpu_s_per_image']}, "
                f"load {served['host_load_average_1m']})",
                flush=True,
            )
    finally:
        server.stop()
    median = statistics.median(r["ratio"] for r in rounds)
    print(f"median ratio: {median:.0%}")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    report = {"host": host_description(), "settings": settings, "rounds": rounds, "median_ratio": median}
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()
