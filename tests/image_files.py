"""Building image files byte by byte, for tests, the fuzz corpus and bench/hostile.py.

The pieces a hostile or damaged file is made of: a PNG chunk with its CRC, an encoded image, a
progressive JPEG with its last scan repeated. One place, so every builder agrees on the format.
"""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import Image

__all__ = ["encode", "png_chunk", "progressive_jpeg_with_repeated_scan"]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body and the CRC of type and body (PNG spec 5.3)."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode(ext: str, image: np.ndarray, params: tuple[int, ...] = ()) -> bytes:
    """``image`` (BGR uint8) encoded by OpenCV as ``ext`` (".png", ".jpg", ...) with ``params``."""
    ok, data = cv2.imencode(ext, image, list(params))
    assert ok, ext
    return data.tobytes()


def progressive_jpeg_with_repeated_scan(image: np.ndarray, extra_scans: int) -> bytes:
    """``image`` (RGB uint8) saved as a progressive JPEG (libjpeg's 10 scans) whose last scan, a
    refinement, is repeated ``extra_scans`` more times before the end marker."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    assert data.count(b"\xff\xda") == 10
    last = data.rindex(b"\xff\xda")  # entropy-coded data holds no 0xFF 0xDA: SOS headers only
    return data[:-2] + data[last:-2] * extra_scans + data[-2:]
