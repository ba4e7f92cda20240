"""Pictures for humans: an annotated copy of the image and JPEG crops of the detections."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.types import BoundingBox, DateFinding, Detection, OcrLine

__all__ = ["encode_crops", "encode_jpeg", "render_visualization"]

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


def _corners(box: BoundingBox) -> tuple[tuple[int, int], tuple[int, int]]:
    return (round(box.x1), round(box.y1)), (round(box.x2), round(box.y2))


def render_visualization(
    image: np.ndarray,
    detections: Sequence[Detection],
    lines: Sequence[OcrLine],
    best: DateFinding | None,
) -> bytes:
    """Draws detections, OCR lines with their text, and the best date on a copy of the image.

    Returns:
        The annotated image as a JPEG file.
    """
    canvas = image.copy()
    for detection in detections:
        cv2.rectangle(canvas, *_corners(detection.box), _DETECTION_BGR, 2)
    for line in lines:
        top_left, bottom_right = _corners(line.box)
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
    """Cuts each detection's box out of the image and encodes it as a JPEG file."""
    height, width = image.shape[:2]
    crops = []
    for detection in detections:
        (x1, y1), (x2, y2) = _corners(detection.box)
        x1, x2 = max(0, min(x1, width - 1)), max(1, min(x2, width))
        y1, y2 = max(0, min(y1, height - 1)), max(1, min(y2, height))
        crops.append(encode_jpeg(image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]))
    return tuple(crops)
