"""The whole pipeline on the CUDA provider under variants of its provider options, warm.

Each variant loads the shipped pipeline (``load_pipeline(PipelineConfig())`` with the CUDA
provider) with some CUDA provider options replaced, reads the same photos one at a time twice
(the second pass sees only shapes the first already ran), and reports milliseconds per photo for
each pass. It is the table of bench/RESULTS.md, "GPU: the first run on a device machine"
(cuDNN's convolution algorithm search, the memory arena's growth), measured on a host with
onnxruntime-gpu:

    python -m bench.cuda_options /path/to/photos --limit 8 --json bench/out/cuda_options.json

The options are replaced for this process only, where ``pipeline.runtime`` builds them; the
shipped ones are what ``pipeline/runtime.py`` says. Without a CUDA provider it exits with a
message (on CPU every variant would measure the same thing).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench._common import host_description, load_images, write_json
from pipeline import PipelineConfig, RuntimeConfig, load_pipeline, runtime

# Each variant: the CUDA provider options it sets over the shipped ones.
VARIANTS: dict[str, dict[str, str]] = {
    "as shipped": {},
    "cudnn_conv_algo_search=HEURISTIC": {"cudnn_conv_algo_search": "HEURISTIC"},
    "arena_extend_strategy=kNextPowerOfTwo": {"arena_extend_strategy": "kNextPowerOfTwo"},
    "cudnn_conv_use_max_workspace=1": {"cudnn_conv_use_max_workspace": "1"},
}


def measure(images: list[bytes], extra: dict[str, str], passes: int) -> list[float]:
    """Milliseconds per photo of each pass over ``images``, the CUDA options updated by ``extra``."""
    shipped = runtime._provider_options

    def options(short_name: str, config: RuntimeConfig, cache_prefix: str) -> dict[str, str]:
        chosen = shipped(short_name, config, cache_prefix)
        return {**chosen, **extra} if short_name == "cuda" else chosen

    runtime._provider_options = options
    try:
        config = PipelineConfig(runtime=RuntimeConfig(providers=("cuda",), intra_op_threads=1))
        with load_pipeline(config) as pipeline:
            per_pass = []
            for _ in range(passes):
                started = time.perf_counter()
                for data in images:
                    pipeline.process(data)
                per_pass.append(round((time.perf_counter() - started) / len(images) * 1000, 1))
    finally:
        runtime._provider_options = shipped
    return per_pass


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path, help="folder of photos (never committed)")
    parser.add_argument("--limit", type=int, default=8, help="photos read (0: all)")
    parser.add_argument("--passes", type=int, default=2, help="passes over the photos per variant")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    if "CUDAExecutionProvider" not in runtime.available_providers():
        raise SystemExit("no CUDA provider here (onnxruntime-gpu and a GPU are needed)")
    images = load_images(args.images, args.limit)
    rows = []
    for name, extra in VARIANTS.items():
        per_pass = measure(images, extra, args.passes)
        print(
            f"{name}: " + ", ".join(f"pass {n + 1} {ms} ms/photo" for n, ms in enumerate(per_pass)),
            flush=True,
        )
        rows.append({"variant": name, "options": extra, "ms_per_photo": per_pass})
    report = {"host": host_description(), "photos": len(images), "variants": rows}
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()
