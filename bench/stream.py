"""Camera streams: N StreamFrames calls, each sending F frames/s for T seconds; per-frame latency.

    .venv/bin/python -m bench.stream --streams 4 --fps 5 --seconds 60 --policy latest [--target HOST:PORT]

Without ``--target`` a server subprocess is started on a free port (and stopped after). Frames are
synthetic labels (840x640 JPEG). Latency is measured for each processed frame from the moment the
client hands it to gRPC to the moment its FrameResult arrives. Prints a JSON report: p50/p99 over
the whole run and over the first and last 10 s, processed vs skipped, errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from bench._common import host_description, latency_summary_ms, write_json
from bench.load import Server, _wait_ready
from datalid.v1 import expiry_date_service_pb2, expiry_date_service_pb2_grpc
from pipeline.synth import render_label

_POLICIES = {
    "latest": expiry_date_service_pb2.DROP_POLICY_LATEST,
    "all": expiry_date_service_pb2.DROP_POLICY_PROCESS_ALL,
}


async def _camera(
    stub: expiry_date_service_pb2_grpc.ExpiryDateServiceStub,
    index: int,
    images: list[bytes],
    fps: float,
    seconds: float,
    policy: int,
    t0: float,
) -> list[dict[str, Any]]:
    sent_at: dict[int, float] = {}
    period_s = 1.0 / fps

    async def frames() -> AsyncIterator[expiry_date_service_pb2.Frame]:
        count = int(seconds * fps)
        for n in range(count):
            # Paced on the schedule, not after the previous send: a camera does not wait.
            await asyncio.sleep(max(0.0, t0 + n * period_s - time.perf_counter()))
            sent_at[n + 1] = time.perf_counter()
            yield expiry_date_service_pb2.Frame(
                stream_id=f"cam-{index}", frame_id=n + 1, image=images[n % len(images)], drop_policy=policy
            )

    records = []
    async for result in stub.StreamFrames(frames()):
        now = time.perf_counter()
        sent = sent_at[result.frame_id]
        records.append(
            {
                "t_s": sent - t0,
                "latency_s": now - sent,
                "skipped": result.skipped,
                "error": result.error.message if result.HasField("error") else "",
            }
        )
    return records


def _summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    processed = [r["latency_s"] for r in records if not r["skipped"] and not r["error"]]
    return {
        "frames": len(records),
        "processed": len(processed),
        "skipped": sum(r["skipped"] for r in records),
        "errors": sum(bool(r["error"]) for r in records),
        **latency_summary_ms(processed),
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    server = None if args.target else Server([])
    target = args.target or server.target  # type: ignore[union-attr]
    images = [render_label(["Use by", f"{day} NOV"], seed=day) for day in range(10, 18)]
    try:
        async with grpc.aio.insecure_channel(target) as channel:
            await _wait_ready(channel)
            stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
            t0 = time.perf_counter() + 0.5
            per_stream = await asyncio.gather(
                *(
                    _camera(stub, i, images, args.fps, args.seconds, _POLICIES[args.policy], t0)
                    for i in range(args.streams)
                )
            )
    finally:
        if server is not None:
            server.stop()
    records = [r for stream in per_stream for r in stream]
    first = [r for r in records if r["t_s"] < 10]
    last = [r for r in records if r["t_s"] >= args.seconds - 10]
    report = {
        "streams": args.streams,
        "fps": args.fps,
        "seconds": args.seconds,
        "policy": args.policy,
        "all": _summary(records),
        "first_10s": _summary(first),
        "last_10s": _summary(last),
        "host": host_description(),
    }
    first_p50, last_p50 = report["first_10s"]["p50_ms"], report["last_10s"]["p50_ms"]
    report["last_vs_first_p50"] = round(last_p50 / first_p50, 3) if first_p50 else None
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", default="", help="host:port of a running server (default: start one)")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--policy", choices=sorted(_POLICIES), default="latest")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    report = asyncio.run(_main(args))
    print(json.dumps(report, indent=2))
    write_json(args.json, report)


if __name__ == "__main__":
    main()
