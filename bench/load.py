"""Load test against a running server: closed-loop concurrency sweep, open-loop Poisson rates, overload.

For every level it reports throughput (successful calls per second), p50/p90/p99 latency, the codes
that came back, the server's queue and compute time per model item and its mean batch sizes (from
``AdminService.GetStats`` before and after the level), and the server's memory when it was started
here. Writes everything as JSON and draws a latency-throughput plot (PNG, with OpenCV).

    # start a server here (its memory is measured), sweep, Poisson, 4x overload:
    .venv/bin/python -m bench.load /work/shared/datasets/label-recognition/images --spawn \\
        --json bench/out/load.json --plot bench/out/load.png
    # or against a server that is already running:
    .venv/bin/python -m bench.load IMAGES --target 127.0.0.1:50051

Closed loop: N callers, each sends its next photo as soon as the previous answer is back. A caller
refused with RESOURCE_EXHAUSTED waits as the refusal's RetryInfo detail says (the server's estimate
of how long its queue needs), or ``--backoff-ms`` when there is none or with ``--ignore-retry-info``,
jittered, as a client honouring a 429's Retry-After does; without a pause a refused caller would
spin and the benchmark would measure its own busy loop. Open loop: arrivals at a Poisson rate,
whatever the answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from bench._common import host_description, latency_summary_ms, load_images, write_json
from datalid.v1 import admin_service_pb2, admin_service_pb2_grpc, expiry_date_service_pb2_grpc, types_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"datalid listening on (\S+):(\d+)")
# A server's "not now": its own admission (RESOURCE_EXHAUSTED) or, with --workers, Envoy's circuit
# breaker (UNAVAILABLE); both come with a RetryInfo.
_REFUSALS = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part]


@dataclass
class Level:
    """What happened during one load level."""

    name: str
    kind: str  # closed, poisson or overload
    load: float  # concurrency or arrivals per second
    latencies_ok_s: list[float] = field(default_factory=list)
    latencies_rejected_s: list[float] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    rss_peak_bytes: int = 0
    server_cpu_s: float = 0.0
    host_load: float = 0.0

    def record(self, code: grpc.StatusCode, latency_s: float) -> None:
        self.codes[code.name] += 1
        if code == grpc.StatusCode.OK:
            self.latencies_ok_s.append(latency_s)
        elif code in _REFUSALS:
            self.latencies_rejected_s.append(latency_s)

    def report(self) -> dict[str, Any]:
        ok = len(self.latencies_ok_s)
        rejected = latency_summary_ms(self.latencies_rejected_s)
        return {
            "name": self.name,
            "kind": self.kind,
            "load": self.load,
            "seconds": round(self.seconds, 2),
            "ok": ok,
            "throughput_ips": round(ok / self.seconds, 3) if self.seconds else 0.0,
            **latency_summary_ms(self.latencies_ok_s),
            "codes": dict(self.codes),
            "rejected_p99_ms": rejected["p99_ms"],
            "rejected_max_ms": round(max(self.latencies_rejected_s, default=0.0) * 1000, 1),
            "server": self.stats,
            "server_rss_peak_mb": round(self.rss_peak_bytes / 2**20, 1) if self.rss_peak_bytes else None,
            # CPU seconds the server spent per image served: rises with contention inside the server,
            # stays put when a noisy neighbour steals the cores.
            "server_cpu_s_per_image": round(self.server_cpu_s / ok, 3) if ok and self.server_cpu_s else None,
            "host_load_average_1m": round(self.host_load, 2),
        }


class Server:
    """A `python -m server` subprocess on a free port, for memory to be measured."""

    def __init__(self, extra_args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0", *extra_args],
            cwd=REPO_ROOT,
            # The server (and its workers and Envoy) ends with the benchmark, killed or not.
            env={**os.environ, "DATALID_PARENT_PID": str(os.getpid())},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if match := _LISTENING.search(line):
                self.target = f"127.0.0.1:{match.group(2)}"
                break
        else:
            raise SystemExit(f"server exited with code {self.process.wait()}")
        # Keep reading, or a full pipe would block the server's logging.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def _tree(self) -> list[psutil.Process]:
        """The server and every process it started (Envoy, --workers' workers)."""
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def cpu_seconds(self) -> float:
        """User + system CPU time the server's processes have used so far."""
        total = 0.0
        for process in self._tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def rss_bytes(self, key: str = "VmRSS") -> int:
        """Resident memory of the server's processes together (``VmHWM``: the sum of their peaks)."""
        total = 0
        for process in self._tree():
            with contextlib.suppress(OSError, psutil.NoSuchProcess):
                for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                    if line.startswith(key + ":"):
                        total += int(line.split()[1]) * 1024
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def _wait_ready(channel: grpc.aio.Channel, timeout_s: float = 300) -> None:
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            info = await admin.GetServerInfo(admin_service_pb2.GetServerInfoRequest(), timeout=5)
            if info.ready:
                return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.5)
    raise SystemExit("server never became ready")


async def _stats(channel: grpc.aio.Channel) -> dict[str, dict[str, float]]:
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    stats = await admin.GetStats(admin_service_pb2.GetStatsRequest(), timeout=10)
    return {
        m.name: {
            "items": m.inference_count,
            "executions": m.execution_count,
            "queue_s": m.queue_seconds_total,
            "compute_s": m.compute_seconds_total,
        }
        for m in stats.models
    }


def _stats_delta(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, Any]:
    delta = {}
    for name, now in after.items():
        was = before.get(name, {key: 0.0 for key in now})
        items = now["items"] - was["items"]
        executions = now["executions"] - was["executions"]
        delta[name] = {
            "items": int(items),
            "mean_batch_size": round(items / executions, 2) if executions else 0.0,
            "queue_ms_per_item": round((now["queue_s"] - was["queue_s"]) * 1000 / items, 2) if items else 0.0,
            "compute_ms_per_execution": (
                round((now["compute_s"] - was["compute_s"]) * 1000 / executions, 2) if executions else 0.0
            ),
        }
    return delta


def _retry_delay_s(error: grpc.aio.AioRpcError) -> float | None:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.ToNanoseconds() / 1e9
    return None


class Load:
    """Sends the photos to one server."""

    def __init__(self, channel: grpc.aio.Channel, images: list[bytes], server: Server | None) -> None:
        self._stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        self._channel = channel
        self._images = images
        self._next = 0
        self._server = server
        self.honour_retry_info = True

    def _image(self) -> bytes:
        image = self._images[self._next % len(self._images)]
        self._next += 1
        return image

    async def _call(self, level: Level | None, timeout_s: float) -> tuple[grpc.StatusCode, float | None]:
        """One Process call: its code, and the RetryInfo delay a refusal came with (seconds)."""
        started = time.perf_counter()
        retry_s = None
        try:
            await self._stub.Process(types_pb2.ProcessRequest(image=self._image()), timeout=timeout_s)
            code = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code in _REFUSALS:
                retry_s = _retry_delay_s(exc)
        if level is not None:
            level.record(code, time.perf_counter() - started)
        return code, retry_s

    async def _run(self, level: Level, body: Any, warmup_s: float, duration_s: float) -> Level:
        """Runs ``body(level_or_None, stop_at)`` for warm-up (not recorded), then for the measured part."""
        await body(None, time.monotonic() + warmup_s)
        before = await _stats(self._channel)
        sampler = asyncio.ensure_future(self._sample_memory(level))
        cpu_before = self._server.cpu_seconds() if self._server else 0.0
        started = time.monotonic()
        await body(level, started + duration_s)
        level.seconds = time.monotonic() - started
        sampler.cancel()
        level.server_cpu_s = (self._server.cpu_seconds() - cpu_before) if self._server else 0.0
        level.host_load = os.getloadavg()[0]
        level.stats = _stats_delta(before, await _stats(self._channel))
        return level

    async def _sample_memory(self, level: Level) -> None:
        while self._server is not None:
            level.rss_peak_bytes = max(level.rss_peak_bytes, self._server.rss_bytes())
            await asyncio.sleep(0.2)

    async def closed(
        self,
        concurrency: int,
        timeout_s: float,
        backoff_s: float,
        warmup_s: float,
        duration_s: float,
        name: str,
    ) -> Level:
        async def body(level: Level | None, stop_at: float) -> None:
            async def caller() -> None:
                while time.monotonic() < stop_at:
                    code, retry_s = await self._call(level, timeout_s)
                    if code in _REFUSALS:
                        pause_s = retry_s if retry_s is not None and self.honour_retry_info else backoff_s
                        await asyncio.sleep(pause_s * random.uniform(0.5, 1.5))

            await asyncio.gather(*(caller() for _ in range(concurrency)))

        kind = "overload" if name.startswith("overload") else "closed"
        return await self._run(Level(name, kind, concurrency), body, warmup_s, duration_s)

    async def poisson(self, rate: float, timeout_s: float, warmup_s: float, duration_s: float) -> Level:
        rng = random.Random(0)

        async def body(level: Level | None, stop_at: float) -> None:
            tasks = set()
            while time.monotonic() < stop_at:
                tasks.add(asyncio.ensure_future(self._call(level, timeout_s)))
                await asyncio.sleep(rng.expovariate(rate))
            await asyncio.gather(*tasks)

        return await self._run(Level(f"poisson {rate}/s", "poisson", rate), body, warmup_s, duration_s)


def _plot(levels: list[dict[str, Any]], path: Path, ceiling_ips: float | None) -> None:
    """Latency (p50, p99) against throughput for the closed-loop levels, drawn with OpenCV."""
    import cv2
    import numpy as np

    points = [lv for lv in levels if lv["kind"] == "closed" and lv["ok"]]
    if not points:
        return
    width, height, margin = 900, 600, 80
    canvas = np.full((height, width, 3), 255, np.uint8)
    max_x = max([lv["throughput_ips"] for lv in points] + [ceiling_ips or 0]) * 1.15 or 1
    max_y = max(lv["p99_ms"] for lv in points) * 1.15 or 1

    def xy(x: float, y: float) -> tuple[int, int]:
        return (
            int(margin + x / max_x * (width - 2 * margin)),
            int(height - margin - y / max_y * (height - 2 * margin)),
        )

    black, font = (0, 0, 0), cv2.FONT_HERSHEY_SIMPLEX
    cv2.line(canvas, xy(0, 0), xy(max_x, 0), black, 1)
    cv2.line(canvas, xy(0, 0), xy(0, max_y), black, 1)
    for i in range(6):
        x_value, y_value = max_x * i / 5, max_y * i / 5
        cv2.putText(
            canvas, f"{x_value:.2f}", (xy(x_value, 0)[0] - 15, height - margin + 20), font, 0.4, black
        )
        cv2.putText(canvas, f"{y_value:.0f}", (10, xy(0, y_value)[1] + 4), font, 0.4, black)
    cv2.putText(canvas, "throughput (images/s)", (width // 2 - 90, height - 25), font, 0.5, black)
    cv2.putText(canvas, "latency (ms)", (10, margin - 30), font, 0.5, black)
    cv2.putText(canvas, "datalid closed-loop sweep: p50 (blue), p99 (red)", (margin, 30), font, 0.6, black)
    if ceiling_ips:
        top, bottom = xy(ceiling_ips, max_y), xy(ceiling_ips, 0)
        cv2.line(canvas, top, bottom, (0, 160, 0), 1)
        cv2.putText(canvas, "in-process ceiling", (top[0] - 60, top[1] + 15), font, 0.4, (0, 160, 0))
    for key, color in (("p50_ms", (200, 80, 0)), ("p99_ms", (0, 0, 200))):
        previous = None
        for lv in points:
            point = xy(lv["throughput_ips"], lv[key])
            cv2.circle(canvas, point, 4, color, -1)
            cv2.putText(canvas, f"c{int(lv['load'])}", (point[0] + 6, point[1] - 6), font, 0.4, color)
            if previous is not None:
                cv2.line(canvas, previous, point, color, 1)
            previous = point
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), canvas)
    print(f"wrote {path}")


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    images = load_images(args.images, args.limit)
    server = Server(args.server_arg) if args.spawn else None
    target = server.target if server else args.target
    levels: list[Level] = []
    try:
        async with grpc.aio.insecure_channel(
            target, options=[("grpc.max_send_message_length", 64 * 2**20)]
        ) as channel:
            await _wait_ready(channel)
            load = Load(channel, images, server)
            load.honour_retry_info = not args.ignore_retry_info
            backoff_s = args.backoff_ms / 1000
            for concurrency in args.concurrency:
                level = await load.closed(
                    concurrency,
                    args.timeout_s,
                    backoff_s,
                    args.warmup_s,
                    args.duration_s,
                    f"closed c{concurrency}",
                )
                levels.append(level)
                _print(level)
            for rate in args.poisson:
                level = await load.poisson(rate, args.timeout_s, args.warmup_s, args.duration_s)
                levels.append(level)
                _print(level)
            if args.overload_concurrency:
                level = await load.closed(
                    args.overload_concurrency,
                    args.overload_timeout_s,
                    backoff_s,
                    args.warmup_s,
                    args.duration_s,
                    f"overload c{args.overload_concurrency} deadline {args.overload_timeout_s}s",
                )
                levels.append(level)
                _print(level)
        peak = server.rss_bytes("VmHWM") if server else 0
    finally:
        if server:
            server.stop()
    return {
        "host": host_description(),
        "target": target,
        "images": len(images),
        "settings": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("json", "plot")
        },
        "levels": [level.report() for level in levels],
        "server_rss_peak_mb": round(peak / 2**20, 1) if peak else None,
    }


def _print(level: Level) -> None:
    r = level.report()
    batches = ", ".join(f"{name} {s['mean_batch_size']}" for name, s in r["server"].items())
    queue = ", ".join(f"{name} {s['queue_ms_per_item']}" for name, s in r["server"].items())
    print(
        f"{r['name']:>32}: {r['throughput_ips']:6.2f} images/s  "
        f"p50 {r['p50_ms']:7.1f}  p90 {r['p90_ms']:7.1f}  p99 {r['p99_ms']:7.1f} ms  codes {r['codes']}  "
        f"rejected p99 {r['rejected_p99_ms']} ms  "
        f"mean batch [{batches}]  queue ms/item [{queue}]  rss {r['server_rss_peak_mb']} MB  "
        f"cpu s/image {r['server_cpu_s_per_image']}  load {r['host_load_average_1m']}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Load test of a datalid server (see the module docstring).")
    parser.add_argument("images", type=Path, help="folder of photos (never committed)")
    parser.add_argument("--target", default="127.0.0.1:50051", help="server address (without --spawn)")
    parser.add_argument("--spawn", action="store_true", help="start `python -m server` here and measure it")
    parser.add_argument("--server-arg", action="append", default=[], help="extra server flag (repeatable)")
    parser.add_argument("--limit", type=int, default=60, help="photos used (0: all)")
    parser.add_argument("--concurrency", type=_ints, default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--poisson", type=_floats, default=[], help="open-loop arrival rates, per second")
    parser.add_argument("--duration-s", type=float, default=30.0, help="measured seconds per level")
    parser.add_argument("--warmup-s", type=float, default=5.0, help="unmeasured seconds before each level")
    parser.add_argument("--timeout-s", type=float, default=60.0, help="deadline of each call")
    parser.add_argument(
        "--backoff-ms", type=float, default=250.0, help="pause after RESOURCE_EXHAUSTED without RetryInfo"
    )
    parser.add_argument(
        "--ignore-retry-info", action="store_true", help="always pause --backoff-ms, whatever RetryInfo says"
    )
    parser.add_argument("--overload-concurrency", type=int, default=64, help="0 skips the overload level")
    parser.add_argument(
        "--overload-timeout-s", type=float, default=3.0, help="deadline in the overload level"
    )
    parser.add_argument("--ceiling-ips", type=float, help="in-process ceiling, drawn on the plot")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--plot", type=Path, help="draw the latency-throughput plot here (PNG)")
    args = parser.parse_args(argv)
    report = asyncio.run(_main(args))
    write_json(args.json, report)
    if args.plot:
        _plot(report["levels"], args.plot, args.ceiling_ips)
    return report


if __name__ == "__main__":
    main()
