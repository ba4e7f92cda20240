"""One process against ``--workers``, under calm load and under a retry storm, in one run.

Each round measures the in-process ceiling (``Pipeline.process`` from 2 threads, the best setting
here) and then, for each server setup in turn (started fresh, measured, stopped), four levels:

- ``c1``: one caller at a time (its p50 is the latency a lone caller sees);
- ``c8``: eight callers, each sending its next photo when the last is answered;
- ``storm``: 64 callers whose calls have a 2 s deadline and who send again at once after any
  refusal, ignoring RetryInfo (issue 14's retry storm);
- ``polite``: the same 64 callers, each waiting after a refusal as its RetryInfo says;
- ``storm, remote`` and ``polite, remote``: the same, the callers held to a fifth of one core by a
  CPU cgroup: on this 2-core machine the storm's own spinning otherwise takes a core from the
  server, which callers on other machines would not. Their latencies include up to 8 ms of the
  cgroup's throttling. Needs root.

It reports admitted throughput (photos answered OK per second) against the ceiling, refusal
latency (p50, p95), the status codes, and the peak memory of the server's whole process tree
(Envoy and workers included).

    .venv/bin/python -m bench.storm /work/shared/datasets/label-recognition/images --rounds 1 \\
        --json bench/out/storm.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from bench._common import host_description, latency_summary_ms, load_images, write_json
from bench.inprocess import _measure
from bench.load import Load, Server, _wait_ready

_SETUPS: dict[str, list[str]] = {
    "one process": ["--workers", "1"],
    "--workers 2": ["--workers", "2"],
}
_STORM_CALLERS = 64
_STORM_DEADLINE_S = 2.0
# The callers' share of one core in the "remote" levels (a CPU cgroup's quota over a 10 ms period):
# callers on other machines would take none of the server's cores; here they share two.
_REMOTE_CPU_SHARE = 0.2
_CGROUP_PERIOD_US = 10_000
# name, callers, deadline (s), whether a refused caller waits as its RetryInfo says, CPU-limited.
_LEVELS: tuple[tuple[str, int, float, bool, bool], ...] = (
    ("c1", 1, 60.0, True, False),
    ("c8", 8, 60.0, True, False),
    ("storm", _STORM_CALLERS, _STORM_DEADLINE_S, False, False),
    ("polite", _STORM_CALLERS, _STORM_DEADLINE_S, True, False),
    ("storm, remote", _STORM_CALLERS, _STORM_DEADLINE_S, False, True),
    ("polite, remote", _STORM_CALLERS, _STORM_DEADLINE_S, True, True),
)
_RATIOS = ("c8", "storm", "polite", "storm, remote", "polite, remote")


@contextlib.contextmanager
def _cpu_limited() -> Iterator[None]:
    """This process (the callers) in a CPU cgroup with ``_REMOTE_CPU_SHARE`` of a core, then back.
    cgroup v2 (``cpu.max``) or v1 (``cpu.cfs_quota_us``); needs root.

    Raises:
        SystemExit: no CPU cgroup can be made here.
    """
    quota_us = int(_REMOTE_CPU_SHARE * _CGROUP_PERIOD_US)
    v2, v1 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpu")
    if (v2 / "cgroup.controllers").exists():
        root, group = v2, v2 / "datalid-bench-callers"
        group.mkdir(exist_ok=True)
        (group / "cpu.max").write_text(f"{quota_us} {_CGROUP_PERIOD_US}")
    elif (v1 / "cpu.cfs_quota_us").exists():
        root, group = v1, v1 / "datalid-bench-callers"
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text(str(_CGROUP_PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(quota_us))
    else:
        raise SystemExit("no CPU cgroup here for the remote levels")
    (group / "cgroup.procs").write_text(str(os.getpid()))
    try:
        yield
    finally:
        (root / "cgroup.procs").write_text(str(os.getpid()))


async def _levels(server: Server, images: list[bytes], seconds: float) -> list[dict[str, Any]]:
    options = [("grpc.max_send_message_length", 64 * 2**20)]
    async with grpc.aio.insecure_channel(server.target, options=options) as channel:
        await _wait_ready(channel)
        load = Load(channel, images, server)
        reports = []
        for name, callers, deadline_s, honour, limited in _LEVELS:
            load.honour_retry_info = honour
            # A storm's caller does not pause at all after a refusal; the others wait as told.
            backoff_s = 0.0 if not honour else 0.25
            cpu_before = time.process_time()
            with _cpu_limited() if limited else contextlib.nullcontext():
                level = await load.closed(callers, deadline_s, backoff_s, 5.0, seconds, name)
            report = level.report()
            report["client_cpu_s"] = round(time.process_time() - cpu_before, 1)
            report["rejected"] = latency_summary_ms(level.latencies_rejected_s)
            reports.append(report)
            print(
                f"  {name:>6}: {report['throughput_ips']:6.2f} photos/s  p50 {report['p50_ms']} ms  "
                f"codes {report['codes']}  refusals p50 {report['rejected']['p50_ms']} "
                f"p95 {report['rejected']['p95_ms']} ms  rss {report['server_rss_peak_mb']} MB  "
                f"server cpu s/photo {report['server_cpu_s_per_image']}  "
                f"client cpu {report['client_cpu_s']} s",
                flush=True,
            )
    return reports


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="One process vs --workers, calm and under a retry storm.")
    parser.add_argument("images", type=Path)
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds of each level")
    parser.add_argument(
        "--setups", default=",".join(_SETUPS), help=f"comma-separated, of: {', '.join(_SETUPS)}"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    setups_run = {name: _SETUPS[name] for name in args.setups.split(",")}
    images = load_images(args.images, args.limit)
    rounds = []
    for number in range(1, args.rounds + 1):
        ceiling = _measure(images, 2, 1, 1, ("cpu",))
        print(f"round {number}: in-process ceiling {ceiling['throughput_ips']:.2f} photos/s", flush=True)
        setups = {}
        for name, flags in setups_run.items():
            print(f" {name}", flush=True)
            server = Server([*flags, "--metrics-port", "-1", "--job-db-path", ":memory:"])
            try:
                levels = asyncio.run(_levels(server, images, args.seconds))
                peak_mb = round(server.rss_bytes("VmHWM") / 2**20, 1)
            finally:
                server.stop()
            by_name = {level["name"]: level for level in levels}
            setups[name] = {
                "levels": levels,
                "peak_rss_sum_mb": peak_mb,
                "ratios": {
                    level: round(by_name[level]["throughput_ips"] / ceiling["throughput_ips"], 3)
                    for level in _RATIOS
                },
            }
            print(f"  ratios to the ceiling: {setups[name]['ratios']}, peak memory {peak_mb} MB", flush=True)
        rounds.append({"round": number, "inprocess": ceiling, "setups": setups})
    summary = {
        name: {
            level: statistics.median(r["setups"][name]["ratios"][level] for r in rounds) for level in _RATIOS
        }
        for name in setups_run
    }
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    report = {"host": host_description(), "settings": settings, "rounds": rounds, "median_ratios": summary}
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()
