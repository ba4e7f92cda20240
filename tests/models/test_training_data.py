"""The detector's training data: synthetic scenes and the placement into the model's input.

Numpy/OpenCV only: these run without the training extra.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.date_detector.augment import random_placement
from models.date_detector.manifest import ManifestRow, is_validation, read_manifest, write_manifest
from models.date_detector.scenes import render_scene
from pipeline.letterbox import letterbox


def test_a_seed_always_renders_the_same_scene() -> None:
    first, again, other = render_scene(7), render_scene(7), render_scene(8)
    assert np.array_equal(first.image, again.image)
    assert first.box == again.box and first.date_text == again.date_text
    assert not np.array_equal(first.image, other.image)


@pytest.mark.parametrize("seed", range(12))
def test_the_date_box_lies_in_the_photo_and_holds_ink(seed: int) -> None:
    scene = render_scene(seed)
    height, width = scene.image.shape[:2]
    x1, y1, x2, y2 = scene.box
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    # A printed date is longer than it is high; scenes turn it up to 90 degrees, its box with it
    # (about 45 degrees the box of a line is about square).
    if abs(scene.angle) < 30 or abs(scene.angle) > 60:
        along, across = (x2 - x1, y2 - y1) if abs(scene.angle) < 30 else (y2 - y1, x2 - x1)
        assert along > across, "a printed date is longer than it is high"
    grey = cv2.cvtColor(scene.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    inside = grey[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2))]
    # Ink is darker or (white ink) lighter than the surface around it, even at the lowest contrast
    # and with dot-matrix print: a box on a bare surface would have no such tail.
    median = np.percentile(inside, 50)
    assert max(median - np.percentile(inside, 5), np.percentile(inside, 95) - median) > 10


def test_scenes_cover_many_date_formats() -> None:
    texts = [render_scene(seed).date_text for seed in range(40)]
    shapes = {"".join("9" if c.isdigit() else "A" if c.isalpha() else c for c in t) for t in texts}
    assert len(shapes) >= 8


def test_without_augmentation_placement_is_the_runtime_letterbox() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(640, 840, 3), dtype=np.uint8)
    placed, boxes = random_placement(rng, image, np.array([[100, 200, 300, 260]], np.float32), 320, False)
    tensor, info = letterbox(image, 320)
    assert np.array_equal(placed[:, :, ::-1].transpose(2, 0, 1), (tensor * 255).round().astype(np.uint8))
    expected = np.array([100, 200, 300, 260]) * info.scale + [info.pad_x, info.pad_y] * 2
    assert np.allclose(boxes[0], expected, atol=1e-3)


@pytest.mark.parametrize("seed", range(8))
def test_augmented_boxes_follow_the_warp(seed: int) -> None:
    image = np.zeros((640, 840, 3), dtype=np.uint8)
    cv2.rectangle(image, (300, 250), (500, 310), (255, 255, 255), -1)
    placed, boxes = random_placement(
        np.random.default_rng(seed), image, np.array([[300, 250, 500, 310]], np.float32), 320, True
    )
    bright = np.argwhere(placed[:, :, 0] > 128)
    assert len(boxes) == 1, "these seeds keep the patch in the frame"
    x1, y1, x2, y2 = boxes[0]
    ys, xs = bright[:, 0], bright[:, 1]
    assert xs.min() >= x1 - 2 and xs.max() <= x2 + 2 and ys.min() >= y1 - 2 and ys.max() <= y2 + 2
    # The hull is tight: a small rotation and shear add only a little slack.
    assert (x2 - x1) <= (xs.max() - xs.min()) * 1.3 + 4


def test_the_held_out_split_is_a_third_and_stable(tmp_path) -> None:
    files = [f"images/image{n:03d}.jpeg" for n in range(300)]
    held = [f for f in files if is_validation(f)]
    assert 0.25 < len(held) / len(files) < 0.42
    assert held == [f for f in reversed(files) if is_validation(f)][::-1]
    rows = [ManifestRow(f, "16 NOV", "11-16", (1.0, 2.0, 3.0, 4.0)) for f in held[:3]]
    write_manifest(rows, tmp_path / "m.csv")
    assert read_manifest(tmp_path / "m.csv") == rows
