"""Turn untrusted image bytes into a BGR pixel array, refusing anything unsafe or unusable.

The size of the image is read from the file header before any pixel is decoded, so a
decompression bomb (a small file that claims a huge canvas) costs nothing but the header read, and
a strip too thin to hold a readable line is refused before it costs anything either.

A photo larger than ``max_image_pixels`` is read, not refused: a JPEG (every phone photo) is
decoded by libjpeg at 1/2, 1/4 or 1/8 scale, the IDCT of fewer pixels, never holding the full
size; another format is decoded whole (up to 1.5 x ``max_image_pixels``) and then resized with
area averaging. ``DecodedImage`` keeps the true size, so boxes come back in the photo's own pixels.

Memory: decoding holds the file (at most ``max_image_bytes``) and the decoded image, at most
``max_image_pixels`` x 3 bytes (120 MB at the 40 MP default); a non-JPEG over that is decoded at up
to 1.5 times it before the resize (180 MB). An image with alpha is decoded with its alpha and
possibly 16 bits per channel first: up to 8 bytes per pixel (480 MB at 60 MP) until it is
flattened, band by band, onto the 3-byte image.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.config import DecodeLimits
from pipeline.container import (
    MAX_JPEG_SCANS,
    Damaged,
    JpegSegment,
    Layout,
    TooCostly,
    TooLong,
    Truncated,
    jpeg_segments,
    read_layout,
)
from pipeline.errors import InvalidInput

__all__ = [
    "DecodedImage",
    "ImageHeader",
    "apply_orientation",
    "decode_image",
    "decode_photo",
    "flatten_alpha",
    "read_header",
]

# OpenCV prints libjpeg/libpng warnings for damaged files to stderr; we report them ourselves.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# A frame header must come before the first scan (SOS) and the end of the image (EOI).
_JPEG_NO_FRAME_AFTER = frozenset({0xDA, 0xD9})
# Bytes of a SOF segment up to the end of its width: marker 2, length 2, precision 1, height 2, width 2.
_JPEG_SOF_SIZE_END = 9
_JPEG_SOS = b"\xff\xda"
# A progressive decode's work grows with pixels x scans: each scan revisits every block of its
# components (a flat 40 MP file: 0.75 s with libjpeg's 10 scans, then ~30 ms more per extra scan).
# A JPEG may cost what an image at the pixel limit with this many scans costs (optimised scripts
# have under 20), at most 1.5 times a normal decode: a 40 MP file may have 24 scans, a 15 MP
# one (or smaller) MAX_JPEG_SCANS.
_JPEG_SCANS_AT_PIXEL_LIMIT = 24
# A format other than JPEG has no reduced decode: it is decoded whole, then resized, so it may have
# at most this many times max_image_pixels (60 MP at the default: a 48 or 50 MP photo saved as PNG
# or WebP).
_FULL_DECODE_FACTOR = 1.5
# libjpeg's DCT scaling: the reduced decodes OpenCV offers, by factor.
_JPEG_REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the file header says about an image, before any pixel is decoded."""

    format: str  # jpeg, png, webp or bmp
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An image decoded for reading.

    ``pixels`` is ``(h, w, 3)`` uint8 BGR, upright, at most ``max_image_pixels``; ``width`` and
    ``height`` are the image's true upright size in pixels, larger than ``pixels`` when the photo
    was decoded smaller. ``scale_x``/``scale_y``: true pixels per decoded pixel (1.0 when not).
    """

    pixels: np.ndarray
    width: int
    height: int

    @property
    def scale_x(self) -> float:
        return self.width / self.pixels.shape[1]

    @property
    def scale_y(self) -> float:
        return self.height / self.pixels.shape[0]


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("image", message)


def _png_header(data: bytes) -> ImageHeader:
    # The first chunk must be IHDR: length(4) "IHDR" width(4) height(4).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise _refuse("PNG header is damaged (no IHDR chunk)")
    width, height = struct.unpack(">II", data[16:24])
    return ImageHeader("png", width, height)


def _jpeg_header(data: bytes) -> ImageHeader:
    # The same bounded walk as the layout's (pipeline.container), stopped at the frame header.
    try:
        for segment in jpeg_segments(data):
            if segment.marker in _JPEG_SOF_MARKERS:
                return _jpeg_frame_size(data, segment)
            if segment.marker in _JPEG_NO_FRAME_AFTER:
                break
    except Damaged as exc:
        raise _refuse(f"JPEG header is damaged ({exc})") from None
    raise _refuse("JPEG header is damaged (no frame header)")


def _jpeg_frame_size(data: bytes, frame: JpegSegment) -> ImageHeader:
    if frame.end < frame.start + _JPEG_SOF_SIZE_END:
        raise _refuse("JPEG header is damaged (frame header too short)")
    height, width = struct.unpack_from(">HH", data, frame.start + 5)
    return ImageHeader("jpeg", width, height)


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


def _source_limit(header: ImageHeader, limits: DecodeLimits) -> int:
    """The most pixels an image of this format may have (see ``DecodeLimits.max_source_pixels``)."""
    if header.format == "jpeg":
        return limits.max_source_pixels
    return min(limits.max_source_pixels, int(limits.max_image_pixels * _FULL_DECODE_FACTOR))


def _check_size(header: ImageHeader, limits: DecodeLimits) -> None:
    pixels = header.width * header.height
    limit = _source_limit(header, limits)
    if pixels > limit:
        jpeg_too = f"; a JPEG may have {limits.max_source_pixels}" if header.format != "jpeg" else ""
        raise _refuse(
            f"image is {header.width}x{header.height} = {pixels} pixels, "
            f"more than the limit of {limit} for a {header.format.upper()}{jpeg_too}"
        )
    if min(header.width, header.height) < limits.min_image_side_px:
        raise _refuse(
            f"image is {header.width}x{header.height}, a side is shorter than {limits.min_image_side_px} px"
        )
    aspect = max(header.width, header.height) / min(header.width, header.height)
    if aspect > limits.max_image_aspect_ratio:
        raise _refuse(
            f"image is {header.width}x{header.height}, its long side is {aspect:.0f} times its short side, "
            f"more than the limit of {limits.max_image_aspect_ratio:g}"
        )


def _check_scans(header: ImageHeader, scans: int, limits: DecodeLimits) -> None:
    """Refuses a JPEG with more scans than its size may have (``_JPEG_SCANS_AT_PIXEL_LIMIT``)."""
    budget = _JPEG_SCANS_AT_PIXEL_LIMIT * limits.max_image_pixels
    # One scan (baseline) always: its cost is bounded by max_source_pixels.
    allowed = max(1, min(MAX_JPEG_SCANS, budget // (header.width * header.height)))
    if scans > allowed:
        raise _refuse(
            f"JPEG has more than {allowed} scans (the most a {header.width} x {header.height} image may have)"
        )


def decode_image(data: bytes, limits: DecodeLimits) -> np.ndarray:
    """``decode_photo(data, limits).pixels``: the BGR image, at most ``max_image_pixels``."""
    return decode_photo(data, limits).pixels


def decode_photo(data: bytes, limits: DecodeLimits) -> DecodedImage:
    """Decodes a JPEG, PNG, WebP or BMP file into a BGR image with EXIF orientation applied.

    Bytes after the image's end marker (a motion photo's video, appended metadata) are ignored,
    as the decoders do. Transparent pixels are flattened onto white when the visible content is
    dark and onto black when it is light, so ink stays readable either way.

    Args:
        data: the encoded image file, untrusted.
        limits: the byte, pixel, side and aspect limits to enforce.

    Returns:
        The image upright as the EXIF orientation says, with at most ``max_image_pixels``: a larger
        one is decoded smaller (a JPEG by libjpeg's scaling, another format resized after its
        decode), its true size kept in ``DecodedImage.width``/``height``.

    Raises:
        InvalidInput: with field ``image``, when the bytes are empty, too large, not a supported
            format, damaged or truncated, or the image is too small, too thin or has more pixels
            than ``max_source_pixels`` (a non-JPEG: 1.5 x ``max_image_pixels``),
            or decoding it would cost far more than its size implies: PNG image data that inflates
            beyond its size, a JPEG with more scans than its size may have (``_check_scans``).
    """
    if not data:
        raise _refuse("image is empty")
    if len(data) > limits.max_image_bytes:
        raise _refuse(f"image is {len(data)} bytes, more than the limit of {limits.max_image_bytes}")
    header = read_header(data)
    _check_size(header, limits)
    try:
        layout = read_layout(data, header.format)
    except Truncated as exc:
        raise _refuse(f"{header.format.upper()} file is truncated ({exc})") from None
    except TooCostly as exc:
        raise _refuse(str(exc)) from None
    except Damaged as exc:
        if header.format != "jpeg" or isinstance(exc, TooLong):
            raise _refuse(f"{header.format.upper()} file is damaged ({exc})") from None
        # Stray bytes between segments, a marker where none belongs: libjpeg reads past these with
        # a warning, and a photo it can read must not be refused. It judges the whole file, in C;
        # every SOS it can find is a 0xFF 0xDA in it, so their count bounds its scans.
        layout = Layout(len(data), scans=data.count(_JPEG_SOS))
    reduction = 1
    if header.format == "jpeg":
        _check_scans(header, layout.scans, limits)
        reduction = _jpeg_reduction(header, limits)
    buffer = np.frombuffer(layout.image_bytes(data), dtype=np.uint8)
    image = _decode_pixels(buffer, layout, _JPEG_REDUCED_FLAGS[reduction])
    if image is None:
        raise _refuse(f"{header.format.upper()} file could not be decoded (damaged data)")
    # EXIF orientations 5 to 8 turn the image a quarter: its upright size is the header's turned.
    turned = header.width != header.height and (image.shape[1] > image.shape[0]) != (
        header.width > header.height
    )
    width, height = (header.height, header.width) if turned else (header.width, header.height)
    return DecodedImage(_fit(image, limits.max_image_pixels), width, height)


def _jpeg_reduction(header: ImageHeader, limits: DecodeLimits) -> int:
    """The smallest of libjpeg's scale factors (1, 2, 4, 8) that brings the image within
    ``max_image_pixels``; 8 when none does (``_fit`` resizes the rest)."""
    for factor in _JPEG_REDUCED_FLAGS:
        # libjpeg rounds a reduced side up.
        if math.ceil(header.width / factor) * math.ceil(header.height / factor) <= limits.max_image_pixels:
            return factor
    return max(_JPEG_REDUCED_FLAGS)


def _fit(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """``image`` resized with area averaging (the resize that keeps thin strokes) to at most
    ``max_pixels``, keeping its aspect; as it is when it fits."""
    height, width = image.shape[:2]
    if height * width <= max_pixels:
        return image
    ratio = math.sqrt(max_pixels / (height * width))
    size = (max(1, math.floor(width * ratio)), max(1, math.floor(height * ratio)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _decode_pixels(buffer: np.ndarray, layout: Layout, color_flag: int) -> np.ndarray | None:
    if not layout.has_alpha:
        # IMREAD_COLOR (and its reduced forms) applies the EXIF orientation tag
        # (IMREAD_IGNORE_ORIENTATION is not set).
        return cv2.imdecode(buffer, color_flag)
    # IMREAD_COLOR would drop the alpha channel and show what lies under transparent pixels (most
    # often black, so dark ink vanishes). IMREAD_UNCHANGED keeps it, but skips EXIF orientation.
    raw = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if raw is None:
        return None
    if raw.dtype == np.uint16:
        raw = (raw >> 8).astype(np.uint8)
    if raw.ndim == 2:
        raw = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
    image = flatten_alpha(raw) if raw.shape[2] == 4 else raw
    return apply_orientation(image, layout.orientation)


# Alpha is blended this many pixels at a time, so the 16-bit intermediates stay a few MB whatever
# the image size; the background is chosen from at most this many sampled pixels.
_FLATTEN_BAND_PX = 1 << 20
_BACKGROUND_SAMPLE_PX = 1 << 18
# Pixels at least this opaque count as the visible content when choosing the background.
_OPAQUE_ALPHA = 128
_MID_GREY = 128


def _background(bgra: np.ndarray) -> int:
    """White (255) behind dark visible content, black (0) behind light content."""
    height, width = bgra.shape[:2]
    step = max(1, math.ceil(math.sqrt(height * width / _BACKGROUND_SAMPLE_PX)))
    sample = bgra[::step, ::step]
    opaque = sample[..., 3] >= _OPAQUE_ALPHA
    if not opaque.any():
        return 255
    grey = cv2.cvtColor(np.ascontiguousarray(sample[..., :3]), cv2.COLOR_BGR2GRAY)
    return 255 if float(grey[opaque].mean()) < _MID_GREY else 0


def flatten_alpha(bgra: np.ndarray) -> np.ndarray:
    """Composites a ``(H, W, 4)`` uint8 BGRA image onto a plain background that keeps its ink visible.

    Returns:
        ``(H, W, 3)`` uint8 BGR: ``colour * alpha + background * (1 - alpha)``, with the background
        white when the opaque pixels are dark on average and black when they are light.
    """
    height, width = bgra.shape[:2]
    background = _background(bgra)
    out = np.empty((height, width, 3), dtype=np.uint8)
    rows = max(1, _FLATTEN_BAND_PX // width)
    for top in range(0, height, rows):
        band = bgra[top : top + rows]
        alpha = band[..., 3:4].astype(np.uint16)
        # At most 255 * 255 + 127 = 65152: uint16 holds it; + 127 rounds the division.
        mixed = band[..., :3] * alpha + background * (255 - alpha) + 127
        out[top : top + rows] = mixed // 255
    return out


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turns an image stored with EXIF ``orientation`` (1..8) upright, as OpenCV's IMREAD_COLOR does."""
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(image), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image
