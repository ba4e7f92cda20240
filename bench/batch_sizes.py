"""Per-item cost of each model (OCR and the shipped date detector) by batch size, on this host's
providers: the measurement behind the ``max_batch_size`` of each ``models/<name>/config.yaml``.

    .venv/bin/python bench/batch_sizes.py [--providers cpu] [--threads 1] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from pipeline.config import RuntimeConfig
from pipeline.detector import DETECTOR_NAME
from pipeline.ocr import default_model_paths
from pipeline.repository import DEFAULT_REPOSITORY
from pipeline.runtime import OnnxModel

SHAPES = {
    DETECTOR_NAME: (3, 320, 320),
    "ocr_det": (3, 736, 960),
    "ocr_cls": (3, 48, 192),
    "ocr_rec": (3, 48, 320),
}
SIZES = {
    DETECTOR_NAME: (1, 2, 4, 8),
    "ocr_det": (1, 2, 4),
    "ocr_cls": (1, 4, 8, 16, 32),
    "ocr_rec": (1, 4, 8, 16, 32),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per session")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    config = RuntimeConfig(providers=tuple(args.providers.split(",")), intra_op_threads=args.threads)
    report = {}
    paths = {DETECTOR_NAME: DEFAULT_REPOSITORY / DETECTOR_NAME / "model.onnx", **default_model_paths()}
    for name, path in paths.items():
        model = OnnxModel(name, name, path, config)
        rows = {}
        for size in SIZES[name]:
            batch = np.random.default_rng(0).uniform(0, 1, (size, *SHAPES[name])).astype(np.float32)
            model.run_single_input(batch)
            repeats = max(2, args.repeats // size) if name == "ocr_det" else args.repeats
            started = time.perf_counter()
            for _ in range(repeats):
                model.run_single_input(batch)
            per_item_ms = (time.perf_counter() - started) * 1000 / repeats / size
            rows[size] = round(per_item_ms, 2)
            print(
                f"{name} {model.info().providers[0]} batch {size:3d}: {per_item_ms:7.2f} ms/item", flush=True
            )
        report[name] = rows
    print(json.dumps(report))


if __name__ == "__main__":
    main()
