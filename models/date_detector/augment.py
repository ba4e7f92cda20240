"""Places training images into the detector's square input, with random geometry and colour.

Numpy and OpenCV only, so tests check it without the training extra. Without augmentation the
placement is the runtime's own :func:`pipeline.letterbox.letterbox`, so validation inputs are
exactly what the server feeds the model.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.letterbox import PAD_VALUE, letterbox

__all__ = ["photometric", "random_placement", "to_tensor"]


def _hull(boxes: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Moves ``(M, 4)`` boxes by a 2x3 affine ``matrix``: the axis-aligned hull of their moved corners.

    A box left less than 70% inside the frame is dropped: a date cut mostly off is no longer a
    readable date, so it counts as background.
    """
    if boxes.size == 0:
        return boxes.reshape(0, 4).astype(np.float32)
    corners = np.stack([boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [2, 3]], boxes[:, [0, 3]]], axis=1)
    moved = corners @ matrix[:, :2].T + matrix[:, 2]
    hull = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)
    clipped = hull.clip(0, size)
    area = (hull[:, 2] - hull[:, 0]) * (hull[:, 3] - hull[:, 1])
    kept_area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    return clipped[kept_area >= 0.7 * np.maximum(area, 1e-6)].astype(np.float32)


def random_placement(
    rng: np.random.Generator, image: np.ndarray, boxes: np.ndarray, size: int, augment: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Puts a BGR image into the ``size`` square input; boxes (``(M, 4)`` x1 y1 x2 y2) follow.

    With ``augment``: one random affine warp (scale 0.6-1.5 of the letterbox fit, shift up to 30%
    of the side, rotation up to 6 degrees, shear up to 0.08), grey outside the image. Without:
    the runtime's letterbox, pixel for pixel.
    """
    if not augment:
        tensor, info = letterbox(image, size)
        placed = np.ascontiguousarray((tensor * 255).round().astype(np.uint8).transpose(1, 2, 0)[:, :, ::-1])
        matrix = np.array([[info.scale, 0, info.pad_x], [0, info.scale, info.pad_y]], dtype=np.float64)
        return placed, _hull(boxes, matrix, size)
    height, width = image.shape[:2]
    scale = min(size / height, size / width) * rng.uniform(0.6, 1.5)
    matrix = cv2.getRotationMatrix2D((0.0, 0.0), rng.uniform(-6, 6), scale)
    matrix[0, 1] += rng.uniform(-0.08, 0.08) * scale
    shift = rng.uniform(-0.3, 0.3, size=2) * size
    matrix[:, 2] = size / 2 + shift - matrix[:, :2] @ np.array([width / 2, height / 2])
    warped = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(PAD_VALUE,) * 3)
    return warped, _hull(boxes, matrix, size)


def photometric(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Colour, contrast, blur, noise and greyscale jitter."""
    out = image.astype(np.float32)
    out = out * rng.uniform(0.6, 1.4) + rng.uniform(-40, 40)
    out = out * rng.uniform(0.85, 1.15, size=3)
    if rng.random() < 0.15:
        out[:] = out.mean(axis=2, keepdims=True)
    out = np.clip(out + rng.normal(0, rng.uniform(0, 6), size=out.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (3, 3), 0)
    return out


def to_tensor(image_bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 -> RGB float 0..1, channels first: the runtime's letterbox output format."""
    return np.ascontiguousarray(image_bgr[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32) / 255.0
