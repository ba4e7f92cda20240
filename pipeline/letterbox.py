"""Letterboxing for YOLO-style detectors: resize keeping the aspect ratio, pad to a square, map back.

The forward step and its inverse share one :class:`LetterboxInfo`, so a box predicted in the
model's input pixels lands exactly on the original image's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["PAD_VALUE", "LetterboxInfo", "letterbox", "unletterbox_boxes"]

# Ultralytics pads with grey 114, so exported models have seen this border in training.
PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class LetterboxInfo:
    """How an image was placed in the square model input.

    Attributes:
        scale: model input pixels per original pixel (the same on both axes).
        pad_x: columns of padding left of the resized image.
        pad_y: rows of padding above the resized image.
    """

    scale: float
    pad_x: int
    pad_y: int


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, LetterboxInfo]:
    """Resizes a BGR image to fit ``size x size`` without distortion and centres it on grey padding.

    Args:
        image: ``(H, W, 3)`` uint8 BGR.
        size: the model's square input side in pixels.

    Returns:
        A ``(3, size, size)`` float32 RGB tensor in 0..1, and how to map boxes back.
    """
    height, width = image.shape[:2]
    scale = min(size / height, size / width)
    # Rounded sizes never exceed the square; the inverse uses ``scale`` itself, so the mapping
    # error from this rounding stays below one input pixel.
    new_w = min(size, max(1, round(width * scale)))
    new_h = min(size, max(1, round(height * scale)))
    pad_x = (size - new_w) // 2
    pad_y = (size - new_h) // 2
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = cv2.resize(
        image, (new_w, new_h), interpolation=interpolation
    )
    tensor = canvas[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0
    return np.ascontiguousarray(tensor), LetterboxInfo(scale=scale, pad_x=pad_x, pad_y=pad_y)


def unletterbox_boxes(boxes: np.ndarray, info: LetterboxInfo, image_shape: tuple[int, ...]) -> np.ndarray:
    """Maps ``(N, 4)`` x1, y1, x2, y2 boxes from model input pixels to original pixels, clipped to the image.

    Args:
        boxes: boxes in the letterboxed input.
        info: what :func:`letterbox` returned for this image.
        image_shape: the original image's shape, ``(H, W, ...)``.
    """
    height, width = image_shape[:2]
    offset = np.array([info.pad_x, info.pad_y, info.pad_x, info.pad_y], dtype=np.float64)
    mapped = (boxes.astype(np.float64) - offset) / info.scale
    mapped[:, [0, 2]] = mapped[:, [0, 2]].clip(0, width)
    mapped[:, [1, 3]] = mapped[:, [1, 3]].clip(0, height)
    return mapped
