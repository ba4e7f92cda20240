"""Per-item cost of each model (OCR and the shipped date detector) by batch size, on this host's
providers: the measurement behind the ``max_batch_size`` of each ``models/<name>/config.yaml``.

    .venv/bin/python bench/batch_sizes.py [--providers cpu] [--threads 1] [--repeats 20] \
        [--models date_detector,ocr_det,ocr_cls,ocr_rec,ocr_rec_ppocrv4]

Each model is a model repository entry (``--model-repository``, default ``models/``): its
``path``, else the rapidocr wheel's PP-OCRv4 file for its kind; inputs are shaped by its kind.
``--alternate ROUNDS`` compares models on a busy machine: they take turns, run by run, and the
fastest run of each is reported (bench/RESULTS.md, "OCR models").
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from pipeline.config import RuntimeConfig
from pipeline.detector import DETECTOR_NAME
from pipeline.ocr import default_model_paths
from pipeline.repository import DEFAULT_REPOSITORY, load_model_config
from pipeline.runtime import OnnxModel

# By kind.
SHAPES = {
    "yolo_detector": (3, 320, 320),
    "ocr_det": (3, 736, 960),
    "ocr_cls": (3, 48, 192),
    "ocr_rec": (3, 48, 320),
}
SIZES = {
    "yolo_detector": (1, 2, 4, 8),
    "ocr_det": (1, 2, 4),
    "ocr_cls": (1, 4, 8, 16, 32),
    "ocr_rec": (1, 4, 8, 16, 32),
}


def _load(names: list[str], repository: Path, config: RuntimeConfig) -> list[OnnxModel]:
    """The repository entries' models: each entry's ``path``, else the rapidocr file of its kind."""
    fallback = {"yolo_detector": repository / DETECTOR_NAME / "model.onnx", **default_model_paths()}
    models = []
    for name in names:
        entry = load_model_config(name, "yolo_detector" if name == DETECTOR_NAME else name, repository)
        models.append(OnnxModel(name, entry.kind, entry.path or fallback[entry.kind], config))
    return models


def _batch(model: OnnxModel, size: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, (size, *SHAPES[model.kind])).astype(np.float32)


def _one_after_another(models: list[OnnxModel], repeats: int) -> dict[str, dict[int, float]]:
    """Each model's mean ms per item by batch size, one model after the other."""
    report: dict[str, dict[int, float]] = {}
    for model in models:
        rows = {}
        for size in SIZES[model.kind]:
            batch = _batch(model, size)
            model.run_single_input(batch)
            runs = max(2, repeats // size) if model.kind == "ocr_det" else repeats
            started = time.perf_counter()
            for _ in range(runs):
                model.run_single_input(batch)
            rows[size] = round((time.perf_counter() - started) * 1000 / runs / size, 2)
            print(f"{model.name} {model.info().providers[0]} batch {size:3d}: {rows[size]:7.2f} ms/item")
        report[model.name] = rows
    return report


def _alternately(models: list[OnnxModel], rounds: int) -> dict[str, dict[int, float]]:
    """Each model's fastest ms per item by batch size, the models taking turns run by run: on a
    shared machine, load that comes and goes then weighs on every model alike."""
    report: dict[str, dict[int, float]] = {model.name: {} for model in models}
    for size in sorted({size for model in models for size in SIZES[model.kind]}):
        taking_part = [model for model in models if size in SIZES[model.kind]]
        batches = {model.name: _batch(model, size) for model in taking_part}
        times: dict[str, list[float]] = {model.name: [] for model in taking_part}
        for model in taking_part:
            model.run_single_input(batches[model.name])
        for _ in range(rounds):
            for model in taking_part:
                started = time.perf_counter()
                model.run_single_input(batches[model.name])
                times[model.name].append((time.perf_counter() - started) * 1000 / size)
        for model in taking_part:
            fastest, median = min(times[model.name]), statistics.median(times[model.name])
            report[model.name][size] = round(fastest, 2)
            print(f"{model.name} batch {size:3d}: fastest {fastest:7.2f}, median {median:7.2f} ms/item")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per session")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--models", default=f"{DETECTOR_NAME},ocr_det,ocr_cls,ocr_rec", help="entries to measure"
    )
    parser.add_argument("--model-repository", type=Path, default=DEFAULT_REPOSITORY)
    parser.add_argument(
        "--alternate", type=int, default=0, help="ROUNDS: the models take turns, fastest of ROUNDS reported"
    )
    args = parser.parse_args()
    config = RuntimeConfig(providers=tuple(args.providers.split(",")), intra_op_threads=args.threads)
    models = _load(args.models.split(","), args.model_repository, config)
    if args.alternate:
        report = _alternately(models, args.alternate)
    else:
        report = _one_after_another(models, args.repeats)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
