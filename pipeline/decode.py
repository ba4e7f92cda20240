"""Turn untrusted image bytes into a BGR pixel array, refusing anything unsafe or unusable.

The size of the image is read from the file header before any pixel is decoded, so a
decompression bomb (a small file that claims a huge canvas) costs nothing but the header read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.config import DecodeLimits
from pipeline.errors import InvalidInput

__all__ = ["ImageHeader", "decode_image", "read_header"]

# OpenCV prints libjpeg/libpng warnings for damaged files to stderr; we report them ourselves.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers with no length field after them.
_JPEG_STANDALONE_MARKERS = frozenset(range(0xD0, 0xD9)) | {0x01}


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the file header says about an image, before any pixel is decoded."""

    format: str  # jpeg, png, webp or bmp
    width: int
    height: int


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("image", message)


def _png_header(data: bytes) -> ImageHeader:
    # The first chunk must be IHDR: length(4) "IHDR" width(4) height(4).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise _refuse("PNG header is damaged (no IHDR chunk)")
    width, height = struct.unpack(">II", data[16:24])
    return ImageHeader("png", width, height)


def _jpeg_header(data: bytes) -> ImageHeader:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise _refuse("JPEG header is damaged (bad marker)")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _JPEG_STANDALONE_MARKERS:
            pos += 2
            continue
        (segment_len,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF_MARKERS:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return ImageHeader("jpeg", width, height)
        if marker == 0xDA or segment_len < 2:  # scan data before any frame header
            break
        pos += 2 + segment_len
    raise _refuse("JPEG header is damaged (no frame header)")


def _webp_header(data: bytes) -> ImageHeader:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        # Lossy: a 3-byte frame tag, the start code 9D 01 2A, then 14-bit width and height.
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25:
        # Lossless: signature 0x2F, then width-1 and height-1 in 14 bits each.
        bits = int.from_bytes(data[21:25], "little")
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        # Extended: canvas width-1 and height-1 in 24 bits each.
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader("webp", width, height)
    raise _refuse("WebP header is damaged")


def _bmp_header(data: bytes) -> ImageHeader:
    if len(data) < 26:
        raise _refuse("BMP header is damaged")
    (info_size,) = struct.unpack("<I", data[14:18])
    if info_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    # A negative height means a top-down bitmap, not a negative size.
    return ImageHeader("bmp", abs(width), abs(height))


def read_header(data: bytes) -> ImageHeader:
    """Reads an image's format and size from its header without decoding pixels.

    Args:
        data: the encoded image file.

    Returns:
        The format and the size the header claims.

    Raises:
        InvalidInput: the bytes are not a JPEG, PNG, WebP or BMP file, or the header is damaged.
    """
    if data.startswith(_PNG_SIGNATURE):
        return _png_header(data)
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg_header(data)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp_header(data)
    if data.startswith(b"BM"):
        return _bmp_header(data)
    raise _refuse("not a supported image format (expected JPEG, PNG, WebP or BMP)")


def _is_truncated(data: bytes, image_format: str) -> bool:
    if image_format == "jpeg":
        # Trailing bytes after EOI are common (camera padding), so look near the end, not at it.
        return b"\xff\xd9" not in data[-4096:]
    if image_format == "png":
        return _PNG_IEND not in data[-64:]
    if image_format == "webp":
        (riff_len,) = struct.unpack("<I", data[4:8])
        return len(data) < riff_len + 8
    return False


def _check_size(header: ImageHeader, limits: DecodeLimits) -> None:
    pixels = header.width * header.height
    if pixels > limits.max_image_pixels:
        raise _refuse(
            f"image is {header.width}x{header.height} = {pixels} pixels, "
            f"more than the limit of {limits.max_image_pixels}"
        )
    if min(header.width, header.height) < limits.min_image_side_px:
        raise _refuse(
            f"image is {header.width}x{header.height}, a side is shorter than {limits.min_image_side_px} px"
        )


def decode_image(data: bytes, limits: DecodeLimits) -> np.ndarray:
    """Decodes a JPEG, PNG, WebP or BMP file into a BGR image with EXIF orientation applied.

    Args:
        data: the encoded image file, untrusted.
        limits: the byte, pixel and side limits to enforce.

    Returns:
        A ``(height, width, 3)`` uint8 BGR array, upright as the EXIF orientation says.

    Raises:
        InvalidInput: with field ``image``, when the bytes are empty, too large, not a supported
            format, damaged or truncated, or the image is too small or has too many pixels.
    """
    if not data:
        raise _refuse("image is empty")
    if len(data) > limits.max_image_bytes:
        raise _refuse(f"image is {len(data)} bytes, more than the limit of {limits.max_image_bytes}")
    header = read_header(data)
    _check_size(header, limits)
    if _is_truncated(data, header.format):
        raise _refuse(f"{header.format.upper()} file is truncated")
    # IMREAD_COLOR applies the EXIF orientation tag (IMREAD_IGNORE_ORIENTATION is not set).
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise _refuse(f"{header.format.upper()} file could not be decoded (damaged data)")
    return image
