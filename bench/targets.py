"""Checks the issue's targets from one ``bench/inprocess.py`` report and one ``bench/load.py`` report.

.venv/bin/python -m bench.targets bench/out/inprocess.json bench/out/load.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def check(inprocess: dict[str, Any], load: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: what was required, what was measured, and whether it was met."""
    ceiling = inprocess["ceiling"]["throughput_ips"]
    # The single-image latency the server is held to: one caller, the default thread split.
    single = min(row["p50_ms"] for row in inprocess["single_image"])
    levels = {level["name"]: level for level in load["levels"]}
    c8 = levels.get("closed c8")
    c1 = levels.get("closed c1")
    overload = next((lv for lv in load["levels"] if lv["kind"] == "overload"), None)
    rows = []
    if c8:
        rows.append(
            {
                "target": "throughput at concurrency 8 >= 90% of the in-process ceiling",
                "required": f">= {0.9 * ceiling:.2f} images/s (ceiling {ceiling:.2f})",
                "measured": f"{c8['throughput_ips']:.2f} images/s ({c8['throughput_ips'] / ceiling:.0%})",
                "met": c8["throughput_ips"] >= 0.9 * ceiling,
            }
        )
    if c1:
        limit = single * 1.1 + 5
        rows.append(
            {
                "target": "p50 at concurrency 1 within 10% + 5 ms of in-process single-image latency",
                "required": f"<= {limit:.0f} ms (in-process p50 {single:.0f} ms)",
                "measured": f"{c1['p50_ms']:.0f} ms",
                "met": c1["p50_ms"] <= limit,
            }
        )
    if overload:
        share = overload["throughput_ips"] / ceiling
        rows.append(
            {
                "target": "overload: admitted throughput >= 85% of the ceiling",
                "required": f">= {0.85 * ceiling:.2f} images/s",
                "measured": f"{overload['throughput_ips']:.2f} images/s ({share:.0%})",
                "met": overload["throughput_ips"] >= 0.85 * ceiling,
            }
        )
        rejected = overload["codes"].get("RESOURCE_EXHAUSTED", 0)
        rows.append(
            {
                "target": "overload: rejections come back within 50 ms",
                "required": "p99 <= 50 ms",
                "measured": f"p99 {overload['rejected_p99_ms']} ms, max {overload['rejected_max_ms']} ms "
                f"({rejected} rejected)",
                "met": bool(rejected) and overload["rejected_p99_ms"] <= 50,
            }
        )
        peak = load.get("server_rss_peak_mb")
        rows.append(
            {
                "target": "overload: server memory under 2 GB",
                "required": "< 2048 MB",
                "measured": f"peak RSS {peak} MB" if peak else "not measured (use --spawn)",
                "met": bool(peak) and peak < 2048,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Checks the benchmark targets.")
    parser.add_argument("inprocess", type=Path)
    parser.add_argument("load", type=Path)
    args = parser.parse_args(argv)
    rows = check(json.loads(args.inprocess.read_text()), json.loads(args.load.read_text()))
    print("| target | required | measured | met |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['target']} | {row['required']} | {row['measured']} | {'yes' if row['met'] else 'NO'} |"
        )


if __name__ == "__main__":
    main()
