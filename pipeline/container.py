"""What an image file's container says beyond its size: where the image ends, alpha, EXIF orientation.

Files often carry bytes after the image's end marker (phone "motion photos" append a video to the
JPEG, screenshot tools append metadata to the PNG). The decoders stop at the end marker, so those
bytes are ignored, as OpenCV does; only a file whose image ends before its end marker is truncated.
The end is found by walking the file's structure from the start, never by looking for a marker near
the end of the buffer: an embedded EXIF thumbnail has an end marker of its own, and appended data
may hold anything.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

__all__ = ["Layout", "exif_orientation", "read_layout"]

# A PNG from any encoder has a few thousand chunks at most (16 MiB of 8 KiB IDAT chunks is 2048);
# more is a file built to make the walk slow, refused with this bound.
MAX_CHUNKS = 100_000
# IFD entries read when looking for the orientation tag (a camera writes a few dozen).
_MAX_IFD_ENTRIES = 512
_ORIENTATION_TAG = 0x0112
_TIFF_SHORT = 3
# After the first scan header a JPEG marker is 0xFF then a byte other than 0x00 (a stuffed 0xFF in
# the entropy-coded data), 0xFF (fill) or 0xD0-0xD7 (restart markers, which have no length).
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xff\xd0-\xd7]")
_JPEG_EOI = 0xD9
_JPEG_SOS = 0xDA
# Markers with no length field after them.
_JPEG_STANDALONE = frozenset({0x01, 0xD8})
# WebP VP8X flags: the image has an alpha channel; the file has an EXIF chunk.
_VP8X_ALPHA = 0x10
_VP8X_EXIF = 0x08
# VP8L: the alpha_is_used bit of the 32-bit size field after the signature byte.
_VP8L_ALPHA_BIT = 28
_EXIF_PREFIX = b"Exif\x00\x00"


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the image data ends and how it must be decoded.

    Attributes:
        end: bytes from the start of the file up to and including the image's end marker (the
            whole file for formats that have none); bytes after it are not part of the image.
        has_alpha: the image may hold transparent pixels (PNG colour types 4 and 6 or a tRNS
            chunk, WebP with alpha), so it must be flattened onto a background, not have its
            alpha dropped.
        orientation: the EXIF orientation (1..8, 1 = upright) found in the container; only read
            for images with alpha, the only ones decoded without OpenCV's own EXIF handling.
    """

    end: int
    has_alpha: bool = False
    orientation: int = 1


class Truncated(ValueError):
    """The file ends before its image does."""


def read_layout(data: bytes, image_format: str) -> Layout:
    """Walks a JPEG, PNG, WebP or BMP file's structure (its header already read by the caller).

    Args:
        data: the whole file.
        image_format: ``jpeg``, ``png``, ``webp`` or ``bmp``, as the header said.

    Raises:
        Truncated: the file ends before the image's end marker (or, for PNG, has more than
            ``MAX_CHUNKS`` chunks).
    """
    if image_format == "jpeg":
        return Layout(_jpeg_end(data))
    if image_format == "png":
        return _png_layout(data)
    if image_format == "webp":
        return _webp_layout(data)
    return Layout(len(data))


def _jpeg_end(data: bytes) -> int:
    pos = 2  # after SOI
    while True:
        match = _JPEG_MARKER.search(data, pos)
        if match is None:
            raise Truncated("no end-of-image marker")
        start = match.start()
        marker = data[start + 1]
        if marker == _JPEG_EOI:
            return match.end()
        if marker in _JPEG_STANDALONE:
            pos = match.end()
            continue
        if start + 4 > len(data):
            raise Truncated("a segment header is cut off")
        (segment_len,) = struct.unpack(">H", data[start + 2 : start + 4])
        # Skipping each segment by its length steps over EXIF thumbnails and their own end markers;
        # after a scan header the search runs through the entropy-coded data to the next marker.
        pos = start + 2 + max(segment_len, 2)
        if pos > len(data):
            raise Truncated("a segment is cut off")


def _png_layout(data: bytes) -> Layout:
    colour_type = data[25] if len(data) > 25 else 0
    has_alpha = colour_type in (4, 6)
    exif = b""
    pos = 8  # after the signature
    for _ in range(MAX_CHUNKS):
        if pos + 12 > len(data):
            break
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length  # length, type, data, CRC
        if end > len(data):
            break
        if kind == b"tRNS":
            has_alpha = True
        elif kind == b"eXIf":
            exif = data[pos + 8 : pos + 8 + length]
        elif kind == b"IEND":
            return Layout(end, has_alpha, exif_orientation(exif) if has_alpha else 1)
        pos = end
    else:
        raise Truncated(f"more than {MAX_CHUNKS} chunks before IEND")
    raise Truncated("no IEND chunk")


def _webp_layout(data: bytes) -> Layout:
    (riff_len,) = struct.unpack("<I", data[4:8])
    end = riff_len + 8
    if len(data) < end:
        raise Truncated("shorter than its RIFF size")
    chunk = data[12:16]
    if chunk == b"VP8X":
        flags = data[20]
        if not flags & _VP8X_ALPHA:
            return Layout(end)
        exif = _riff_chunk(data[:end], b"EXIF") if flags & _VP8X_EXIF else b""
        return Layout(end, True, exif_orientation(exif.removeprefix(_EXIF_PREFIX)))
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return Layout(end, bool(bits >> _VP8L_ALPHA_BIT & 1))
    return Layout(end)


def _riff_chunk(data: bytes, wanted: bytes) -> bytes:
    """The body of the first RIFF chunk of this type after the WEBP form type, or b""."""
    pos = 12
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(data):
            break
        kind, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if kind == wanted:
            return data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)  # chunks are padded to even sizes
    return b""


def exif_orientation(tiff: bytes) -> int:
    """The orientation tag (1..8) of an EXIF block in TIFF layout; 1 when absent or unreadable."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    endian = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(endian + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(endian + "H", tiff[ifd : ifd + 2])
    for index in range(min(count, _MAX_IFD_ENTRIES)):
        entry = ifd + 2 + 12 * index
        if entry + 12 > len(tiff):
            break
        tag, kind = struct.unpack(endian + "HH", tiff[entry : entry + 4])
        if tag == _ORIENTATION_TAG and kind == _TIFF_SHORT:
            (value,) = struct.unpack(endian + "H", tiff[entry + 8 : entry + 10])
            return value if 1 <= value <= 8 else 1
    return 1
