"""How long one photo holds the GIL, and what that means for one process on many cores.

    .venv/bin/python -m bench.gil IMAGES [--seconds 40] [--threads 2] [--limit 60]

Runs ``Pipeline.process`` on the photos in a loop from ``--threads`` caller threads for
``--seconds`` while py-spy (``py-spy record --gil``, 100 samples a second) samples this process:
with ``--gil`` it keeps only samples where some thread holds the GIL, so kept samples over all
samples is the share of wall time the GIL is held. With the photos read in the same time and the
process's CPU time, it prints:

- GIL-held seconds per photo: the floor of one process's time per photo, whatever its cores,
  since every photo needs that much time under the one lock: 1 / it is one process's ceiling in
  photos/s;
- CPU seconds per photo: with N cores fully used by N worker processes, N / it photos/s;
- the projection for 16 and 64 cores: min(cores / cpu, 1 / gil) for one process, cores / cpu for
  ``--workers`` (per-process overheads aside).

The GIL is released inside ONNX Runtime's ``run`` and inside OpenCV's heavy calls; what holds it
is Python: pre- and post-processing glue, the date parser, result assembly. Needs ``py-spy``
(``pip install py-spy``) and permission to ptrace this process (root, or ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench._common import host_description, load_images
from pipeline import load_pipeline

_RATE = 100


def _samples(raw: Path) -> int:
    """Samples in py-spy's raw (collapsed stacks) output: the count ends each line."""
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            total += int(count)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--threads", type=int, default=2, help="caller threads (default: 2)")
    parser.add_argument("--limit", type=int, default=60, help="photos to cycle through")
    args = parser.parse_args()
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("bench.gil needs py-spy: pip install py-spy")
    images = load_images(args.images, args.limit)
    print(host_description())
    with load_pipeline() as pipeline, tempfile.TemporaryDirectory() as work:
        for data in images[:4]:
            pipeline.process(data)  # warm
        done = 0
        lock = threading.Lock()
        stop = threading.Event()

        def caller(offset: int) -> None:
            nonlocal done
            index = offset
            while not stop.is_set():
                pipeline.process(images[index % len(images)])
                index += args.threads
                with lock:
                    done += 1

        gil_raw = Path(work) / "gil.txt"
        # --nonblocking: the process is never paused to be sampled, so the sampling does not slow
        # the photos it measures (a sample may then be torn; it is still counted).
        command = [spy, "record", "--pid", str(os.getpid()), "--rate", str(_RATE), "--format", "raw"]
        command += ["--nonblocking", "--gil", "--duration", str(int(args.seconds)), "-o", str(gil_raw)]
        spies = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(args.threads)]
        for thread in threads:
            thread.start()
        for spy_process in spies:
            spy_process.wait()
        wall = time.perf_counter() - started
        stop.set()
        photos = done
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        for thread in threads:
            thread.join()
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        gil_samples = _samples(gil_raw)
        wall_samples = wall * _RATE
    gil_share = min(1.0, gil_samples / wall_samples)
    gil_per_photo = gil_share * wall / photos
    cpu_per_photo = cpu / photos
    print(f"{photos} photos in {wall:.1f} s ({photos / wall:.2f} photos/s) from {args.threads} threads")
    print(f"GIL held {gil_share:.0%} of the time: {gil_per_photo * 1000:.0f} ms a photo")
    print(f"CPU {cpu:.1f} s: {cpu_per_photo * 1000:.0f} ms a photo")
    ceiling = 1 / gil_per_photo
    print(f"one process's ceiling: {ceiling:.1f} photos/s (1 / GIL-held time)")
    for cores in (2, 16, 64):
        one = min(cores / cpu_per_photo, ceiling)
        workers = cores / cpu_per_photo
        print(
            f"{cores} cores: one process <= {one:.1f} photos/s, --workers {cores} <= {workers:.1f} photos/s"
        )


if __name__ == "__main__":
    main()
