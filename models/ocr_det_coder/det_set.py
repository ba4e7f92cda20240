"""The text detector's fine-tuning set: crops of rendered packaging and UK photos, as DB sees them.

    python -m models.ocr_det_coder.det_set /tmp/detset --uk-dataset ../shared/datasets/label-recognition

A sample is a ``CROP_PX`` square of a photo resized as the pipeline resizes it for the text
detector (``TextDetector.reading_scale``: the short side brought to 736 px), with:

- the wheel's detector's own probability map on it (the teacher: what it found, it should still
  find: brand words, paragraphs, the UK labels' print);
- for rendered packaging, the code's lines as DB's training targets: each printed line of the code
  (date, lot, time, price, a keyword's own line: ``Scene.code_ink``) is one text region, its
  minimum-area rectangle's core (``CORE_INSET``, ``END_INSET``) 1, a band round it free
  (``FREE_BAND``), a margin of ``MARGIN`` line heights round that 0, so lines a dot-matrix coder
  prints close together stay apart;
- the frozen front's four feature maps (the backbone's outputs at strides 4, 8, 16, 32, fp16): the
  fine-tune trains the FPN neck and DB head only (``finetune.py``), so each crop's front runs once,
  here, by ONNX Runtime.

Why crops of the reading scale, not whole photos: the network is fully convolutional and text
looks to it as it does when served only at the served scale; a fixed square keeps the memory of
the set fixed (``CROP_PX`` 512: 2.9 MB of features a sample).

Written as ``.npy`` files in ``OUT`` (memory-mapped by the trainer; ``N`` samples)::

    f0..f3    (N, C, H/s, W/s) float16  the front's outputs (C 48, 96, 192, 384; s 4, 8, 16, 32)
    teacher   (N, 512, 512)    uint8    the wheel's probability map x 255
    target    (N, 512, 512)    uint8    0, 1 or FREE where the code's lines say, IGNORE elsewhere
    keys      (N,)             int64    the scene's seed (UK photos: -1 - the photo's row)
    meta.json                           the command, the seeds, the cut names
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from models.date_detector.manifest import VALIDATION_CSV, read_manifest
from models.date_detector.scenes import render_scene
from pipeline.config import OcrConfig
from pipeline.ocr import _MEAN, _STD

# The wheel's PP-OCRv4 detector, as models/ocr_det/config.yaml names it.
WHEEL_FILE = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
# The backbone's four outputs, as the ONNX file names them: the neck (RSE-FPN) and head take these.
FRONT_CUTS = ("p2o.Add.43", "p2o.Add.71", "p2o.Add.147", "p2o.Add.215")
OUTPUT = "sigmoid_0.tmp_0"
CROP_PX = 512
# Target values beside 0 and 1: IGNORE, outside every code line's margin, where the teacher's map
# is the target; FREE, the band round a line's core, where nothing is asked.
IGNORE = 255
FREE = 254
# A line's core is its rectangle with this many line heights taken from every side: 0.3 line
# heights thick, as the wheel's map is at the served threshold (0.3) on solid print (0.25 to 0.28
# on rendered scenes), so the served box (unclip ratio 1.6) keeps the size it has. Not DBNet's
# shrink (offset A (1 - r^2) / L, r 0.4: 0.16 line heights on a long line): trained to that, the
# map is thinner than the one the served post-processing was set for, and boxes cut letters.
CORE_INSET = 0.35
# ... and this many from each end: the served unclip adds about 0.24 line heights round a core 0.3
# high, so a core inset as much at its ends gives boxes that cut the first and last letters
# (measured: "EXP: 13 MAR 2028" read "X: 3 MAR 2028").
END_INSET = 0.1
# The band of no target round the core reaches this far out of the rectangle (line heights): the
# map's soft edge.
FREE_BAND = 0.15
# Round a line, this many line heights are not text (0) whatever the teacher saw: lines a coder
# prints close together stay apart.
MARGIN = 0.6
# Lines with fewer ink pixels than this in a crop are left to the teacher (a sliver at the edge).
MIN_LINE_PIXELS = 12
# The serving short side (pipeline.config.OcrConfig.det_limit_side_len).
READ_SHORT_SIDE = OcrConfig().det_limit_side_len
# Half the scenes are printed in dots (dot-matrix, continuous inkjet): the print the wheel misses.
DOT_SHARE = 0.5


def wheel_path() -> Path:
    """The wheel's detector file (rapidocr-onnxruntime is a dependency of the server)."""
    import rapidocr_onnxruntime

    return Path(rapidocr_onnxruntime.__file__).resolve().parent.parent / WHEEL_FILE


@dataclass(frozen=True, slots=True)
class Crop:
    """One sample before the front runs: pixels and DB's targets."""

    image: np.ndarray  # (CROP_PX, CROP_PX, 3) uint8 BGR
    target: np.ndarray  # (CROP_PX, CROP_PX) uint8: 0, 1 or IGNORE
    key: int


def line_rectangle(points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float], float] | None:
    """A line's ink pixels ``(P, 2)`` (x, y) to its minimum-area rectangle (OpenCV's ``RotatedRect``
    tuple: centre, size, angle); None for a line under 2 px high."""
    rect = cv2.minAreaRect(points.astype(np.float32))
    return rect if min(rect[1]) >= 2 else None


def _grown(
    rect: tuple[tuple[float, float], tuple[float, float], float], across: float, along: float
) -> np.ndarray | None:
    """``rect``'s corners ``(4, 2)`` int32 with ``across`` px added on its long sides and
    ``along`` px at its ends (negative: taken)."""
    (width, height), angle = rect[1], rect[2]
    if width >= height:
        width, height = width + 2 * along, height + 2 * across
    else:
        width, height = width + 2 * across, height + 2 * along
    if width < 1 or height < 1:
        return None
    return cv2.boxPoints((rect[0], (width, height), angle)).round().astype(np.int32)


def line_targets(code_ink: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 targets of one crop's code lines (values of ``Scene.code_ink``): 1 on each
    line's core, FREE round it, 0 in its margin, IGNORE elsewhere (see the module docstring)."""
    target = np.full(code_ink.shape, IGNORE, dtype=np.uint8)
    rects = []
    for value in np.unique(code_ink):
        if value == 0:
            continue
        ys, xs = np.nonzero(code_ink == value)
        if len(xs) >= MIN_LINE_PIXELS and (rect := line_rectangle(np.column_stack([xs, ys]))) is not None:
            rects.append(rect)
    for value, across, along in (
        (0, MARGIN, MARGIN),
        (FREE, FREE_BAND, FREE_BAND),
        (1, -CORE_INSET, -END_INSET),
    ):
        for rect in rects:
            corners = _grown(rect, across * min(rect[1]), along * min(rect[1]))
            if corners is not None:
                cv2.fillPoly(target, [corners], value)
    return target


def _reading_resize(image: np.ndarray, factor: float) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    scale = READ_SHORT_SIDE / min(height, width) * factor
    size = (max(CROP_PX, round(width * scale)), max(CROP_PX, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR), scale


def _crop_at(
    shape: tuple[int, ...], centre: tuple[float, float], rng: np.random.Generator
) -> tuple[int, int]:
    """The top-left of a CROP_PX square near ``centre`` (x, y), inside ``shape``."""
    height, width = shape[:2]
    jitter = rng.uniform(-0.3, 0.3, size=2) * CROP_PX
    x = int(np.clip(centre[0] - CROP_PX / 2 + jitter[0], 0, width - CROP_PX))
    y = int(np.clip(centre[1] - CROP_PX / 2 + jitter[1], 0, height - CROP_PX))
    return x, y


def scene_crop(seed: int) -> Crop:
    """A crop round the code of rendered scene ``seed``, at the reading scale (x0.7 to x1.4)."""
    rng = np.random.default_rng(seed + 17)
    style = str(rng.choice(("dot-matrix", "cij"))) if rng.random() < DOT_SHARE else None
    scene = render_scene(seed, with_ink=True, style=style)
    assert scene.code_ink is not None
    image, _ = _reading_resize(scene.image, float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))))
    ink = cv2.resize(scene.code_ink, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    ys, xs = np.nonzero(ink)
    x, y = _crop_at(image.shape, (float(xs.mean()), float(ys.mean())), rng)
    window = (slice(y, y + CROP_PX), slice(x, x + CROP_PX))
    return Crop(np.ascontiguousarray(image[window]), line_targets(ink[window]), seed)


def uk_crops(dataset: Path, per_photo: int, seed: int) -> Iterator[Crop]:
    """Crops of the UK label photos outside the date detector's validation split (teacher only)."""
    validation = {row.file for row in read_manifest(VALIDATION_CSV)}
    rows = [row for row in read_manifest(dataset / "manifest.csv") if row.file not in validation]
    rng = np.random.default_rng(seed)
    for index, row in enumerate(rows):
        photo = cv2.imread(str(dataset / row.file))
        if photo is None:
            raise ValueError(f"{dataset / row.file}: not an image")
        image, scale = _reading_resize(photo, float(rng.uniform(0.8, 1.2)))
        x, y, w, h = row.box
        label = (x + w / 2, y + h / 2)
        for k in range(per_photo):
            centre = (
                (label[0] * scale, label[1] * scale) if k == 0 else tuple(rng.uniform(0, image.shape[1::-1]))
            )
            x, y = _crop_at(image.shape, centre, rng)
            pixels = np.ascontiguousarray(image[y : y + CROP_PX, x : x + CROP_PX])
            yield Crop(pixels, np.full((CROP_PX, CROP_PX), IGNORE, dtype=np.uint8), -index - 1)


def front_session(path: Path) -> ort.InferenceSession:
    """The wheel's detector with the front's four outputs added (the teacher's map first)."""
    model = onnx.load(str(path))
    for name in FRONT_CUTS:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def detector_input(image: np.ndarray) -> np.ndarray:
    """``(1, 3, H, W)`` float32: BGR pixels normalised as the served detector's (mean, std 0.5)."""
    mean = np.asarray(_MEAN, dtype=np.float32) * 255
    std = np.asarray(_STD, dtype=np.float32) * 255
    return ((image.astype(np.float32) - mean) / std).transpose(2, 0, 1)[None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scenes", type=int, default=1200)
    parser.add_argument(
        "--first-seed", type=int, default=5_000_000, help="far from the hard sets' 940000/960000"
    )
    parser.add_argument("--uk-dataset", type=Path, help="label-recognition layout; omitted: scenes only")
    parser.add_argument("--uk-per-photo", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    session = front_session(wheel_path())
    crops: Iterator[Crop]
    seeds = range(args.first_seed, args.first_seed + args.scenes)
    pool = Pool(args.workers)
    scene_crops = pool.imap(scene_crop, seeds, chunksize=8)
    uk = list(uk_crops(args.uk_dataset, args.uk_per_photo, args.first_seed)) if args.uk_dataset else []
    total = args.scenes + len(uk)
    crops = (crop for source in (scene_crops, iter(uk)) for crop in source)
    args.out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    started = time.monotonic()
    for index, crop in enumerate(crops):
        outputs = session.run(None, {"x": detector_input(crop.image)})
        if not arrays:
            for k, feature in enumerate(outputs[1:]):
                arrays[f"f{k}"] = np.lib.format.open_memmap(
                    args.out / f"f{k}.npy", "w+", np.float16, (total, *feature.shape[1:])
                )
            for name in ("teacher", "target"):
                arrays[name] = np.lib.format.open_memmap(
                    args.out / f"{name}.npy", "w+", np.uint8, (total, CROP_PX, CROP_PX)
                )
            keys = np.zeros(total, dtype=np.int64)
        for k, feature in enumerate(outputs[1:]):
            arrays[f"f{k}"][index] = feature[0].astype(np.float16)
        arrays["teacher"][index] = np.clip(outputs[0][0, 0] * 255 + 0.5, 0, 255).astype(np.uint8)
        arrays["target"][index] = crop.target
        keys[index] = crop.key
        if index % 100 == 0:
            print(f"{index}/{total} {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    pool.close()
    for array in arrays.values():
        array.flush()
    np.save(args.out / "keys.npy", keys)
    meta = {"argv": sys.argv, "front_cuts": FRONT_CUTS, "samples": total, "scenes": args.scenes}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
