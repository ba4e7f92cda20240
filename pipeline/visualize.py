"""Pictures for humans: an annotated copy of the image and JPEG crops of the detections.

Both are scaled down to a bounded size first: a 40 MP photo's annotated copy at full size would take
120 MB to draw on and several MB of response, and a person looking at it needs neither.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.types import BoundingBox, DateFinding, Detection, OcrLine

__all__ = [
    "CROP_JPEG_MAX_SIDE_PX",
    "VISUALIZATION_MAX_SIDE_PX",
    "encode_crops",
    "encode_jpeg",
    "render_visualization",
]

# The annotated image's long side: a screen's width, and about 1 MB of JPEG at most.
VISUALIZATION_MAX_SIDE_PX = 2048
# A detection crop's long side: a printed date fills far fewer pixels; a box over a whole photo
# (a detector's mistake) stays a small picture.
CROP_JPEG_MAX_SIDE_PX = 1024

_DETECTION_BGR = (255, 128, 0)
_LINE_BGR = (0, 200, 0)
_BANNER_BGR = (0, 0, 200)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """Encodes a BGR image as a JPEG file."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return encoded.tobytes()


def _corners(box: BoundingBox, scale: float = 1.0) -> tuple[tuple[int, int], tuple[int, int]]:
    return (round(box.x1 * scale), round(box.y1 * scale)), (round(box.x2 * scale), round(box.y2 * scale))


def _fit(image: np.ndarray, max_side_px: int) -> tuple[np.ndarray, float]:
    """The image scaled down (never up) so that its long side is at most ``max_side_px``, and the
    factor; the image itself when it already fits (copy it before drawing on it)."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side_px / max(height, width))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def render_visualization(
    image: np.ndarray,
    detections: Sequence[Detection],
    lines: Sequence[OcrLine],
    best: DateFinding | None,
) -> bytes:
    """Draws detections, OCR lines with their text, and the best date on a copy of the image.

    Returns:
        The annotated image as a JPEG file, at most ``VISUALIZATION_MAX_SIDE_PX`` on its long side
        (the image's own size when smaller).
    """
    canvas, scale = _fit(image, VISUALIZATION_MAX_SIDE_PX)
    if scale == 1.0:
        canvas = canvas.copy()  # drawn on below: never on the caller's image
    for detection in detections:
        cv2.rectangle(canvas, *_corners(detection.box, scale), _DETECTION_BGR, 2)
    for line in lines:
        top_left, bottom_right = _corners(line.box, scale)
        cv2.rectangle(canvas, top_left, bottom_right, _LINE_BGR, 2)
        # Hershey fonts draw ASCII only; other characters would come out as '?'.
        label = line.text.encode("ascii", "replace").decode("ascii")
        cv2.putText(
            canvas, label, (top_left[0], max(12, top_left[1] - 4)), _FONT, 0.5, _LINE_BGR, 1, cv2.LINE_AA
        )
    banner = f"best: {best.date.isoformat()} ({best.kind.value})" if best else "best: none"
    cv2.rectangle(canvas, (0, 0), (canvas.shape[1], 28), (255, 255, 255), -1)
    cv2.putText(canvas, banner, (6, 20), _FONT, 0.6, _BANNER_BGR, 2, cv2.LINE_AA)
    return encode_jpeg(canvas)


def encode_crops(image: np.ndarray, detections: Sequence[Detection]) -> tuple[bytes, ...]:
    """Cuts each detection's box out of the image and encodes it as a JPEG file, scaled down to at
    most ``CROP_JPEG_MAX_SIDE_PX`` on its long side."""
    height, width = image.shape[:2]
    crops = []
    for detection in detections:
        (x1, y1), (x2, y2) = _corners(detection.box)
        x1, x2 = max(0, min(x1, width - 1)), max(1, min(x2, width))
        y1, y2 = max(0, min(y1, height - 1)), max(1, min(y2, height))
        crop, _ = _fit(image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)], CROP_JPEG_MAX_SIDE_PX)
        crops.append(encode_jpeg(crop))
    return tuple(crops)
