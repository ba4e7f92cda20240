"""Trains the date-region detector and exports it as ``model.onnx`` in the YOLOv8 output layout.

    python -m models.date_detector.train --dataset ../shared/datasets/label-recognition

Needs the ``train`` extra (PyTorch, CPU build). Nothing in ``server/`` or ``pipeline/`` imports this.

The network is ours (no third-party trainer, so no licence beyond the project's): a small CNN with
a feature pyramid folded into one stride-8 head, anchor-free. Each cell predicts the distances to
the four box sides and a score trained to equal the IoU of its own box with the truth (quality
focal loss), so the highest-scoring box is also the best placed one and NMS keeps it. The exported
graph decodes its boxes itself and returns ``(N, 5, cells)``: centre x, centre y, width, height in
input pixels and the ``date`` score, exactly what an Ultralytics export gives, so
:mod:`pipeline.detector` runs ours and any user's YOLOv8/YOLO11 export the same way.

Data: the photos of the ``label-recognition`` folder minus a held-out validation split (chosen by a
hash of the file name, written to ``validation.csv`` beside the model), plus synthetic scenes from
:mod:`models.date_detector.scenes`. Every sample is placed into the square input by one random
affine warp (scale, shift, small rotation and shear) that reduces to the runtime's letterbox when
all random parts are zero.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.date_detector.augment import photometric, random_placement, to_tensor
from models.date_detector.manifest import ManifestRow, is_validation, read_manifest, write_manifest
from models.date_detector.scenes import render_scene

HERE = Path(__file__).resolve().parent
INPUT_PX = 320
STRIDE = 8


# Synthetic scenes are kept JPEG-encoded at this long side (quality 95): 4,000 decoded scenes
# would hold 6 GB; encoded they hold about 0.3 GB and decode in 2 ms. The augmentation never scales
# a photo past 1.5x the 320 px letterbox fit, so 640 px loses nothing the network sees.
_SCENE_SIDE = 640
# Seeds of held-out scenes for the trainer's own report; training draws from seed * 100_000 on.
_HELD_OUT_SCENE_SEED = 800_000


@dataclass(frozen=True, slots=True)
class Sample:
    """A training image (BGR, or a 1-D array of JPEG bytes) and its date boxes (x1, y1, x2, y2)."""

    image: np.ndarray
    boxes: np.ndarray  # (M, 4) float32

    def pixels(self) -> np.ndarray:
        """The image as BGR pixels, decoding it if it is kept encoded."""
        if self.image.ndim == 1:
            return cv2.imdecode(self.image, cv2.IMREAD_COLOR)
        return self.image


def _conv(c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out), nn.SiLU()
    )


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(channels, channels), _conv(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DateNet(nn.Module):
    """Backbone to stride 32, top-down pyramid back to stride 8, one head there.

    ``forward`` returns raw ``(N, 5, H, W)`` maps (4 side distances, 1 score logit) for training;
    :class:`Exported` wraps it with the decoding that ONNX carries.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(_conv(3, w // 2, 2), _conv(w // 2, w, 2), _Residual(w))  # /4
        self.c3 = nn.Sequential(_conv(w, 2 * w, 2), _Residual(2 * w), _Residual(2 * w))  # /8
        self.c4 = nn.Sequential(_conv(2 * w, 4 * w, 2), _Residual(4 * w), _Residual(4 * w))  # /16
        self.c5 = nn.Sequential(_conv(4 * w, 6 * w, 2), _Residual(6 * w))  # /32
        self.lat5 = _conv(6 * w, 2 * w, kernel=1)
        self.lat4 = _conv(4 * w, 2 * w, kernel=1)
        self.lat3 = _conv(2 * w, 2 * w, kernel=1)
        self.fuse4 = _conv(2 * w, 2 * w)
        self.fuse3 = nn.Sequential(_conv(2 * w, 2 * w), _Residual(2 * w))
        self.box = nn.Sequential(_conv(2 * w, 2 * w), nn.Conv2d(2 * w, 4, 1))
        self.score = nn.Sequential(_conv(2 * w, 2 * w), nn.Conv2d(2 * w, 1, 1))
        # Start every cell at a low score (focal-loss practice): the background dominates.
        nn.init.constant_(self.score[-1].bias, -4.6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.c3(self.stem(x))
        p4 = self.c4(p3)
        p5 = self.c5(p4)
        top = F.interpolate(self.lat5(p5), size=p4.shape[-2:], mode="nearest")
        mid = self.fuse4(self.lat4(p4) + top)
        mid = F.interpolate(mid, size=p3.shape[-2:], mode="nearest")
        feature = self.fuse3(self.lat3(p3) + mid)
        return torch.cat([self.box(feature), self.score(feature)], dim=1)


def cell_centres(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Input-pixel centres of the stride-8 cells, flattened row by row."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return ((xs.flatten() + 0.5) * STRIDE).float(), ((ys.flatten() + 0.5) * STRIDE).float()


def side_distances(raw: torch.Tensor) -> torch.Tensor:
    """Raw box channels -> non-negative distances to the left, top, right, bottom sides in pixels."""
    return F.softplus(raw) * STRIDE


def predicted_corners(raw: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """Raw box channels ``(N, 4, cells)`` -> ``(N, cells, 4)`` x1, y1, x2, y2 in input pixels."""
    ltrb = side_distances(raw)
    return torch.stack([cx - ltrb[:, 0], cy - ltrb[:, 1], cx + ltrb[:, 2], cy + ltrb[:, 3]], dim=-1)


class Exported(nn.Module):
    """The network plus decoding: ``(N, 3, S, S)`` -> ``(N, 5, cells)`` as cx, cy, w, h, score."""

    def __init__(self, net: DateNet) -> None:
        super().__init__()
        self.net = net
        side = INPUT_PX // STRIDE
        cx, cy = cell_centres(side, side)
        self.register_buffer("cx", cx)
        self.register_buffer("cy", cy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x).flatten(2)  # (N, 5, cells)
        x1, y1, x2, y2 = predicted_corners(out[:, :4], self.cx, self.cy).unbind(dim=-1)
        boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=1)
        return torch.cat([boxes, torch.sigmoid(out[:, 4:])], dim=1)


def box_iou_giou(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Element-wise IoU and generalised IoU of ``(K, 4)`` x1, y1, x2, y2 boxes."""
    lt, rb = torch.max(pred[:, :2], target[:, :2]), torch.min(pred[:, 2:], target[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area_p = (pred[:, 2:] - pred[:, :2]).clamp(min=0).prod(dim=1)
    area_t = (target[:, 2:] - target[:, :2]).clamp(min=0).prod(dim=1)
    union = area_p + area_t - inter + 1e-6
    iou = inter / union
    hull = (torch.max(pred[:, 2:], target[:, 2:]) - torch.min(pred[:, :2], target[:, :2])).prod(dim=1)
    return iou, iou - (hull - union) / (hull + 1e-6)


def assign(boxes: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """For each cell, the index of the box it learns (-1: background).

    Positives are the cells whose centre lies in the box and near its middle (within 30% of the
    width and half the height, at least one cell), plus the cell holding the box's centre; a cell
    in two boxes learns the smaller.
    """
    owner = torch.full(cx.shape, -1, dtype=torch.long)
    if boxes.numel() == 0:
        return owner
    x1, y1, x2, y2 = boxes.unbind(dim=1)
    bx, by, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    dx = (cx[None] - bx[:, None]).abs()
    dy = (cy[None] - by[:, None]).abs()
    near = (dx <= torch.clamp(0.3 * bw, min=STRIDE)[:, None]) & (
        dy <= torch.clamp(0.5 * bh, min=STRIDE)[:, None]
    )
    inside = (
        (cx[None] > x1[:, None])
        & (cx[None] < x2[:, None])
        & (cy[None] > y1[:, None])
        & (cy[None] < y2[:, None])
    )
    positive = near & inside
    centre_cell = ((dx <= STRIDE / 2) & (dy <= STRIDE / 2)).float().argmax(dim=1)
    positive[torch.arange(len(boxes)), centre_cell] = True
    area = (bw * bh)[:, None].expand_as(positive)
    cost = torch.where(positive, area, torch.full_like(area, float("inf")))
    best_cost, best = cost.min(dim=0)
    assigned = torch.isfinite(best_cost)
    owner[assigned] = best[assigned]
    return owner


def detection_loss(
    out: torch.Tensor, targets: list[torch.Tensor], cx: torch.Tensor, cy: torch.Tensor
) -> torch.Tensor:
    """Quality focal loss on the score plus GIoU loss on positive cells' boxes."""
    batch = out.shape[0]
    flat = out.flatten(2)  # (N, 5, cells)
    logits = flat[:, 4]  # (N, cells)
    pred_boxes = predicted_corners(flat[:, :4], cx, cy)  # (N, cells, 4)
    score_target = torch.zeros_like(logits)
    box_losses = []
    positives = 0
    for i in range(batch):
        owner = assign(targets[i], cx, cy)
        cells = torch.nonzero(owner >= 0).flatten()
        if cells.numel() == 0:
            continue
        iou, giou = box_iou_giou(pred_boxes[i, cells], targets[i][owner[cells]])
        score_target[i, cells] = iou.detach().clamp(min=0.05)
        box_losses.append((1 - giou).sum())
        positives += cells.numel()
    prob = torch.sigmoid(logits)
    bce = F.binary_cross_entropy_with_logits(logits, score_target, reduction="none")
    quality = (bce * (prob - score_target).abs().pow(2)).sum() / max(1, positives)
    box = torch.stack(box_losses).sum() / max(1, positives) if box_losses else logits.sum() * 0
    return quality + 2.0 * box


class ModelEma:
    """Exponential moving average of the weights; the average is what gets exported."""

    def __init__(self, model: nn.Module, decay: float = 0.998) -> None:
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = self.decay * (1 - math.exp(-self.updates / 200))
        for ema_value, value in zip(
            self.model.state_dict().values(), model.state_dict().values(), strict=True
        ):
            if ema_value.dtype.is_floating_point:
                ema_value.mul_(decay).add_(value.detach(), alpha=1 - decay)
            else:
                ema_value.copy_(value)


def _module_path(node_name: str) -> str:
    """``/net/stem/stem.2/body/body.0/body.0.0/Conv`` -> ``stem.2.body.0.0``: each scope of an
    exported node names one module, sequence members by their parent's name plus an index."""
    path, previous = "", ""
    for scope in node_name.strip("/").split("/")[1:-1]:  # without "net" and the op
        path += scope[len(previous) :] if previous and scope.startswith(previous + ".") else f".{scope}"
        previous = scope
    return path.lstrip(".")


@torch.no_grad()
def load_exported_weights(model: DateNet, path: Path) -> None:
    """Starts ``model`` from an exported ``model.onnx`` of the same width (fine-tuning).

    The export folds each BatchNorm into the convolution before it, so the convolutions take the
    folded weights and biases and every BatchNorm becomes the identity (mean 0, variance 1, scale
    1, shift 0); train with :func:`freeze_batchnorm`, or the first batch's statistics would undo
    the folding. The ONNX node names carry the module paths (``/net/stem/stem.0/stem.0.0/Conv``).

    Raises:
        SystemExit: a convolution of the file has no counterpart of the same shape in ``model``.
    """
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    weights = {item.name: numpy_helper.to_array(item) for item in proto.graph.initializer}
    modules = dict(model.named_modules())
    for node in (n for n in proto.graph.node if n.op_type == "Conv"):
        name = _module_path(node.name)
        conv = modules.get(name)
        weight = torch.from_numpy(weights[node.input[1]].copy())
        if not isinstance(conv, nn.Conv2d) or conv.weight.shape != weight.shape:
            raise SystemExit(f"{path}: {node.name} {tuple(weight.shape)} does not fit this network")
        conv.weight.copy_(weight)
        bias = torch.from_numpy(weights[node.input[2]].copy())
        if conv.bias is not None:
            conv.bias.copy_(bias)
            continue
        norm = modules[name.rsplit(".", 1)[0] + ".1"]
        assert isinstance(norm, nn.BatchNorm2d)
        norm.running_mean.zero_()
        norm.running_var.fill_(1 - norm.eps)
        norm.weight.fill_(1)
        norm.bias.copy_(bias)


def freeze_batchnorm(model: nn.Module) -> None:
    """Keeps every BatchNorm on its running statistics (eval mode) while the rest trains."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()


def load_photos(dataset: Path, rows: list[ManifestRow]) -> list[Sample]:
    """Decodes the manifest's photos once."""
    samples = []
    for row in rows:
        image = cv2.imread(str(dataset / row.file), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read {dataset / row.file}")
        samples.append(Sample(image, row.xyxy()))
    return samples


def synthetic_samples(count: int, seed: int) -> list[Sample]:
    """Renders ``count`` scenes with consecutive seeds from ``seed``: every date line is a box."""
    samples = []
    for index in range(count):
        scene = render_scene(seed + index)
        image, boxes = scene.image, scene.boxes
        factor = _SCENE_SIDE / max(image.shape[:2])
        if factor < 1:
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
            boxes = boxes * factor
        encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
        samples.append(Sample(encoded.reshape(-1), boxes.astype(np.float32)))
    return samples


def make_batch(
    rng: np.random.Generator, samples: list[Sample], augment: bool
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    images, targets = [], []
    for sample in samples:
        placed, boxes = random_placement(rng, sample.pixels(), sample.boxes, INPUT_PX, augment)
        if augment:
            placed = photometric(rng, placed)
        images.append(to_tensor(placed))
        targets.append(torch.from_numpy(boxes))
    return torch.from_numpy(np.stack(images)), targets


@torch.no_grad()
def evaluate(model: nn.Module, samples: list[Sample]) -> dict[str, float]:
    """Top-scoring box per letterboxed photo against the truth: recall at IoU 0.5 and mean IoU."""
    exported = Exported(model).eval()
    rng = np.random.default_rng(0)
    ious = []
    for start in range(0, len(samples), 16):
        batch, targets = make_batch(rng, samples[start : start + 16], augment=False)
        out = exported(batch)  # (N, 5, cells)
        for i, target in enumerate(targets):
            best = out[i, 4].argmax()
            cx, cy, w, h = out[i, :4, best]
            pred = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])[None]
            ious.append(float(box_iou_giou(pred, target[:1])[0][0]))
    values = np.array(ious)
    return {"recall_iou50": float((values >= 0.5).mean()), "mean_iou": float(values.mean())}


@torch.no_grad()
def line_recall(model: nn.Module, samples: list[Sample], min_score: float = 0.25) -> float:
    """Share of all date lines that some cell scoring ``min_score`` or more boxes at IoU >= 0.5.

    Every line counts, not only the top box: the synthetic scenes print several. NMS is left out
    (it keeps one of two boxes only when they overlap at IoU > 0.45, i.e. on the same line).
    """
    exported = Exported(model).eval()
    rng = np.random.default_rng(0)
    found = total = 0
    for start in range(0, len(samples), 16):
        batch, targets = make_batch(rng, samples[start : start + 16], augment=False)
        out = exported(batch)
        for i, target in enumerate(targets):
            keep = out[i, 4] >= min_score
            cx, cy, w, h = out[i, :4, keep]
            boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=1)
            for truth in target:
                total += 1
                if len(boxes):
                    iou, _ = box_iou_giou(boxes, truth[None].expand_as(boxes))
                    found += bool((iou >= 0.5).any())
    return found / max(1, total)


def export_onnx(model: DateNet, path: Path) -> None:
    """Writes the decoding graph with a dynamic batch and Ultralytics-style ``names`` metadata."""
    import onnx

    exported = Exported(model).eval()
    dummy = torch.zeros(1, 3, INPUT_PX, INPUT_PX)
    torch.onnx.export(
        exported,
        (dummy,),
        str(path),
        input_names=["images"],
        output_names=["output0"],
        dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    proto = onnx.load(str(path))
    for key, value in {"names": "{0: 'date'}", "imgsz": f"[{INPUT_PX}, {INPUT_PX}]", "stride": "8"}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def train(args: argparse.Namespace) -> dict[str, object]:
    """Trains, exports, and returns the training record written to ``training.json``."""
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    torch.set_num_threads(args.threads)
    rows = read_manifest(args.dataset / "manifest.csv")
    train_rows = [row for row in rows if not is_validation(row.file)]
    validation_rows = [row for row in rows if is_validation(row.file)]
    write_manifest(validation_rows, args.out / "validation.csv")
    photos = load_photos(args.dataset, train_rows)
    held_out = load_photos(args.dataset, validation_rows)
    rendering = time.perf_counter()
    synthetic = synthetic_samples(args.synthetic, seed=args.seed * 100_000)
    held_out_scenes = synthetic_samples(args.held_out_scenes, seed=_HELD_OUT_SCENE_SEED)
    print(
        f"rendered {len(synthetic) + len(held_out_scenes)} scenes in {time.perf_counter() - rendering:.0f} s"
    )
    print(
        f"train photos {len(photos)}, validation photos {len(held_out)}, synthetic {len(synthetic)}",
        flush=True,
    )

    model = DateNet(args.width)
    if args.init is not None:
        load_exported_weights(model, args.init)
    ema = ModelEma(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    per_epoch = len(photos) + min(args.synthetic_per_epoch, len(synthetic))
    steps_per_epoch = math.ceil(per_epoch / args.batch)
    total = steps_per_epoch * args.epochs
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=total, pct_start=0.05)
    side = INPUT_PX // STRIDE
    cx, cy = cell_centres(side, side)
    history = []
    started = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        if args.init is not None:
            freeze_batchnorm(model)
        # Every photo each epoch, and a fresh draw of the synthetic scenes.
        drawn = rng.choice(len(synthetic), min(args.synthetic_per_epoch, len(synthetic)), replace=False)
        pool = photos + [synthetic[i] for i in drawn]
        order = rng.permutation(len(pool))
        losses = []
        for step in range(steps_per_epoch):
            chosen = [pool[i] for i in order[step * args.batch : (step + 1) * args.batch]]
            images, targets = make_batch(rng, chosen, augment=True)
            loss = detection_loss(model(images), targets, cx, cy)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            schedule.step()
            ema.update(model)
            losses.append(loss.item())
        record = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "seconds": time.perf_counter() - started,
        }
        if (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs:
            record.update(evaluate(ema.model, held_out))
            if held_out_scenes:
                record["scene_line_recall"] = line_recall(ema.model, held_out_scenes)
        history.append(record)
        print(json.dumps(record), flush=True)
        torch.save(ema.model.state_dict(), args.out / "checkpoint.pt")

    export_onnx(ema.model, args.out / "model.onnx")
    summary = {
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "train_photos": len(photos),
        "validation_photos": len(held_out),
        "synthetic_scenes": len(synthetic),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(time.perf_counter() - started, 1),
        "final": history[-1],
    }
    (args.out / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, required=True, help="folder with manifest.csv and images/")
    parser.add_argument("--out", type=Path, default=HERE, help="where model.onnx and the records go")
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=32, help="channels of the first stage")
    parser.add_argument("--synthetic", type=int, default=1200, help="synthetic scenes rendered once")
    parser.add_argument("--synthetic-per-epoch", type=int, default=150)
    parser.add_argument(
        "--held-out-scenes", type=int, default=96, help="scenes (seeds 800000+) for line recall"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init",
        type=Path,
        help="fine-tune from this exported model.onnx (BatchNorm frozen) instead of from scratch",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=5)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(train(args), indent=2))


if __name__ == "__main__":
    main()
