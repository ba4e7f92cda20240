"""What an image file's container says beyond its size: where the image ends, alpha, EXIF orientation.

Files often carry bytes after the image's end marker (phone "motion photos" append a video to the
JPEG, screenshot tools append metadata to the PNG). The decoders stop at the end marker, so those
bytes are ignored, as OpenCV does; only a file whose image ends before its end marker is truncated.
The end is found by walking the file's structure from the start, never by looking for a marker near
the end of the buffer: an embedded EXIF thumbnail has an end marker of its own, and appended data
may hold anything.

Every walk here does bounded work whatever the bytes hold: a file built to make it long (millions of
tiny segments or chunks, runs of fill bytes, markers where none belong) is refused after a fixed
number of Python-level steps, and what is skipped (JPEG entropy-coded data, fill runs, chunk bodies)
is skipped in C (numpy, ``re``) in one step or a few windows, not byte by byte.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_CHUNKS",
    "MAX_JPEG_SCANS",
    "MAX_JPEG_SEGMENTS",
    "PNG_SKIPPED_CHUNKS",
    "Damaged",
    "JpegSegment",
    "Layout",
    "TooCostly",
    "TooLong",
    "Truncated",
    "exif_orientation",
    "jpeg_segments",
    "png_data_size",
    "read_layout",
]

# libpng writes 8 KiB IDAT chunks (16 MiB of them is 2048), but an encoder that flushes each row
# writes a chunk per row: the tallest image the default limits accept (40 MP at 1:50) has 44,721
# rows. This bound is twice that; more is a file built to make the walk slow (100,000 chunks take
# ~30 ms to walk, ~80 ms when they are all IDAT and their data is inflated as it goes).
MAX_CHUNKS = 100_000
# PNG text chunks, which no pixel depends on, are cut out before decoding: libpng inflates every
# zTXt and iTXt chunk it meets (up to 8 MB each, 1000 chunks), so a 7.7 MB file of text chunks
# cost 33 s of CPU inside cv2.imdecode, which no deadline stops. tEXt goes with them (text too).
PNG_SKIPPED_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
# A JPEG has 10-30 segments before its first scan (APPn, DQT, SOF, DHT, DRI, SOS), about two per
# scan after it when progressive (libjpeg's default progression has 10 scans), and metadata too large
# for one segment (ICC profiles, extended XMP such as depth maps) split into 64 KiB segments, of which
# a file at the default 16 MiB byte limit holds at most 256. Four times that is refused as a file built
# to make the walk long; each segment costs a few Python steps (~1 us).
MAX_JPEG_SEGMENTS = 1024
# libjpeg's default progression has 10 scans (6 for greyscale), and optimised scripts (jpegtran,
# mozjpeg's optimize_scans) a few more: under 20. Each scan makes libjpeg revisit every block of its
# components, so scans multiply the decode's work: a 40 MP file with its last scan repeated 2000
# times (363 KB) took 54 s. Beyond this many the file is built to make decoding long.
MAX_JPEG_SCANS = 64
# A still WebP has at most six top-level chunks (VP8X, ICCP, ALPH, VP8/VP8L, EXIF, XMP); an animation
# has one ANMF per frame before its EXIF. Past this many the EXIF is not looked for (orientation 1).
_MAX_RIFF_CHUNKS = 1024
# PNG colour type -> (samples per pixel, bit depths allowed) (PNG spec 11.2.2); libpng refuses others.
_PNG_COLOUR_TYPES = {
    0: (1, (1, 2, 4, 8, 16)),  # grey
    2: (3, (8, 16)),  # RGB
    3: (1, (1, 2, 4, 8)),  # palette index
    4: (2, (8, 16)),  # grey and alpha
    6: (4, (8, 16)),  # RGBA
}
# Adam7 passes: first column, first row, column step, row step (PNG spec 8.2).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
# The IDAT stream is inflated in C, this many output bytes per call (discarded at once), from at most
# this many input bytes per call (zlib copies the unconsumed rest of its input after every call).
# Small IDAT chunks are gathered up to the input piece or this many first: one zlib call per chunk
# would triple the walk's cost for a file of 100,000 of them, and a bomb in tiny chunks is still
# refused within a few hundred chunks.
_INFLATE_OUTPUT_PIECE = 1 << 20
_INFLATE_INPUT_PIECE = 1 << 20
_INFLATE_GATHER_CHUNKS = 256
# IFD entries read when looking for the orientation tag (a camera writes a few dozen).
_MAX_IFD_ENTRIES = 512
_ORIENTATION_TAG = 0x0112
_TIFF_SHORT = 3
_JPEG_EOI = 0xD9
_JPEG_SOS = 0xDA
# 0xFF bytes before a marker are fill (ITU T.81 B.1.1.2); a run of them is skipped by one match.
_JPEG_FILL = re.compile(rb"\xff+")
# After 0xFF, bytes that start no segment: 0x00 (a stuffed 0xFF) and 0xD0-0xD7 (RSTn), which belong
# inside a scan, 0x01 (TEM, which no encoder in use writes) and 0xD8 (a second SOI, which libjpeg
# refuses too). Refusing them makes every step of the walk consume a whole segment.
_JPEG_NOT_A_SEGMENT = frozenset({0x00, 0x01, *range(0xD0, 0xD9)})
# Inside a scan, the byte after a 0xFF that ends the entropy-coded data: anything but 0x00 (stuffing),
# 0xFF (fill) and RSTn (restart markers, part of the scan). Read-only: a lookup table for numpy.
_JPEG_ENDS_SCAN = np.frombuffer(
    bytes(0 if byte in (0x00, 0xFF) or 0xD0 <= byte <= 0xD7 else 1 for byte in range(256)), dtype=np.bool_
)
# The entropy-coded data is searched in windows that start small (the next marker of a progressive
# file is often a few KiB on) and double up to 1 MiB, so each search costs a few numpy calls plus
# time linear in the bytes it passes (~1.5 ms per MiB), whatever they hold, and holds <= 3 MiB.
_SCAN_FIRST_WINDOW = 4096
_SCAN_MAX_WINDOW = 1 << 20
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
        scans: a JPEG's scans (SOS segments) before its EOI, at most ``MAX_JPEG_SCANS``; 0 for
            other formats.
        skip: ``(start, end)`` byte spans before ``end`` that the decoder must not see: a PNG's
            text chunks (see ``PNG_SKIPPED_CHUNKS``).
    """

    end: int
    has_alpha: bool = False
    orientation: int = 1
    scans: int = 0
    skip: tuple[tuple[int, int], ...] = ()

    def image_bytes(self, data: bytes) -> bytes | memoryview:
        """The bytes to decode: the file up to ``end`` without the ``skip`` spans (joined in C)."""
        view = memoryview(data)[: self.end]
        if not self.skip:
            return view
        pieces, pos = [], 0
        for start, stop in self.skip:
            pieces.append(view[pos:start])
            pos = stop
        pieces.append(view[pos:])
        return b"".join(pieces)


class Damaged(ValueError):
    """The file's structure is not one an encoder writes (or is built to make the walk long)."""


class TooLong(Damaged):
    """The file has more segments or chunks than any encoder writes: built to make the walk long."""


class Truncated(Damaged):
    """The file ends before its image does."""


class TooCostly(Damaged):
    """Decoding the file would take far more work than its header's size implies: image data that
    inflates beyond the image, more scans than any encoder writes. Its message is the whole reason."""


@dataclass(frozen=True, slots=True)
class JpegSegment:
    """One marker of a JPEG file and the segment it starts.

    Attributes:
        marker: the byte after 0xFF (0xC0 is SOF0, 0xDA is SOS, 0xD9 is EOI).
        start: offset of the marker's 0xFF, after any fill bytes.
        end: offset just after the segment: after its length-counted header, or after the marker for
            EOI. The entropy-coded data of a scan follows its SOS segment.
    """

    marker: int
    start: int
    end: int


def read_layout(data: bytes, image_format: str) -> Layout:
    """Walks a JPEG, PNG, WebP or BMP file's structure (its header already read by the caller).

    Args:
        data: the whole file.
        image_format: ``jpeg``, ``png``, ``webp`` or ``bmp``, as the header said.

    Raises:
        Truncated: the file ends before the image's end marker.
        TooCostly: the file would make its decoder work far beyond its size: more than
            ``MAX_JPEG_SCANS`` JPEG scans, or PNG image data that inflates (or could only inflate)
            beyond the size its IHDR implies (``png_data_size``).
        Damaged: the file's structure is damaged (see ``jpeg_segments``, or a PNG IHDR libpng
            refuses) or built to make the walk long: more than ``MAX_JPEG_SEGMENTS`` JPEG segments or
            ``MAX_CHUNKS`` PNG chunks.
    """
    if image_format == "jpeg":
        return _jpeg_layout(data)
    if image_format == "png":
        return _png_layout(data)
    if image_format == "webp":
        return _webp_layout(data)
    return Layout(len(data))


def jpeg_segments(data: bytes) -> Iterator[JpegSegment]:
    """The segments of a JPEG file after its SOI, up to and including its EOI.

    Outside a scan each marker must follow the previous segment (fill bytes aside); after a scan
    header, the entropy-coded data is skipped by a search in C for the marker that ends it. Each
    segment costs a bounded number of Python steps and at most ``MAX_JPEG_SEGMENTS`` are walked, so
    the walk is bounded whatever the bytes hold. Lazy: a caller that stops early reads no further.

    Args:
        data: the whole file, starting with SOI (0xFF 0xD8).

    Raises:
        Truncated: the file ends before its EOI.
        TooCostly: more than ``MAX_JPEG_SCANS`` scans.
        Damaged: no marker where one must be, a marker that starts no segment there (stuffing or
            RSTn outside a scan, TEM, a second SOI), a length below 2, or more than
            ``MAX_JPEG_SEGMENTS`` segments.
    """
    view = np.frombuffer(data, dtype=np.uint8)
    pos = 2  # after SOI
    in_scan = False
    scans = 0
    for _ in range(MAX_JPEG_SEGMENTS):
        start = _jpeg_scan_end(view, pos) if in_scan else _jpeg_marker_at(data, pos)
        marker = data[start + 1]
        if marker == _JPEG_EOI:
            yield JpegSegment(marker, start, start + 2)
            return
        if marker in _JPEG_NOT_A_SEGMENT:
            raise Damaged(f"0xFF 0x{marker:02X} at byte {start} starts no segment there")
        if start + 4 > len(data):
            raise Truncated("a segment header is cut off")
        (length,) = struct.unpack_from(">H", data, start + 2)
        if length < 2:  # the length counts its own two bytes
            raise Damaged(f"segment 0x{marker:02X} at byte {start} has length {length}")
        end = start + 2 + length
        if end > len(data):
            raise Truncated("a segment is cut off")
        yield JpegSegment(marker, start, end)
        # Skipping each segment by its length steps over EXIF thumbnails and their own end markers.
        in_scan = marker == _JPEG_SOS
        scans += in_scan
        if scans > MAX_JPEG_SCANS:
            raise TooCostly(f"JPEG has more than {MAX_JPEG_SCANS} scans")
        pos = end
    raise TooLong(f"more than {MAX_JPEG_SEGMENTS} segments")


def _jpeg_marker_at(data: bytes, pos: int) -> int:
    """Offset of the 0xFF of the marker at ``pos``, after any run of fill bytes."""
    fill = _JPEG_FILL.match(data, pos)
    if fill is None:
        if pos >= len(data):
            raise Truncated("no end-of-image marker")
        raise Damaged(f"no marker at byte {pos}")
    if fill.end() >= len(data):
        raise Truncated("the file ends in fill bytes")
    return fill.end() - 1


def _jpeg_scan_end(view: np.ndarray, pos: int) -> int:
    """Offset of the 0xFF of the first marker at or after ``pos`` that ends a scan's data."""
    window = _SCAN_FIRST_WINDOW
    while pos + 1 < len(view):
        stop = min(pos + window, len(view) - 1)
        ends = (view[pos:stop] == 0xFF) & _JPEG_ENDS_SCAN[view[pos + 1 : stop + 1]]
        first = int(ends.argmax())
        if ends[first]:
            return pos + first
        pos, window = stop, min(2 * window, _SCAN_MAX_WINDOW)
    raise Truncated("no end-of-image marker")


def _jpeg_layout(data: bytes) -> Layout:
    scans = 0
    for segment in jpeg_segments(data):
        scans += segment.marker == _JPEG_SOS
        if segment.marker == _JPEG_EOI:
            return Layout(segment.end, scans=scans)
    raise Truncated("no end-of-image marker")  # not reached: the walk ends at EOI or raises


def png_data_size(width: int, height: int, bits_per_pixel: int, interlaced: bool) -> int:
    """Bytes a PNG's IDAT stream inflates to, exactly, from its IHDR.

    Each row is a filter byte and ``ceil(width x bits_per_pixel / 8)`` bytes (PNG spec 7.2); an
    Adam7-interlaced image is seven reduced images one after the other, a pass with no column or
    no row having no bytes at all (8.2). ``bits_per_pixel`` is the bit depth times the samples per
    pixel (1 grey or palette, 2 grey and alpha, 3 RGB, 4 RGBA).
    """
    if not interlaced:
        return height * (1 + math.ceil(width * bits_per_pixel / 8))
    total = 0
    for first_column, first_row, column_step, row_step in _ADAM7:
        columns = math.ceil(max(0, width - first_column) / column_step)
        rows = math.ceil(max(0, height - first_row) / row_step)
        if columns and rows:
            total += rows * (1 + math.ceil(columns * bits_per_pixel / 8))
    return total


@dataclass(frozen=True, slots=True)
class _PngImage:
    """What a PNG's IHDR says about its image data."""

    width: int
    height: int
    colour_type: int
    bits_per_pixel: int
    interlaced: bool


def _png_ihdr(data: bytes) -> _PngImage:
    """The IHDR chunk (the first, as the header reader checked) of a PNG file."""
    if len(data) < 33:  # signature 8, length 4, type 4, body 13, CRC 4
        raise Truncated("the IHDR chunk is cut off")
    width, height, depth, colour_type, _, _, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    samples, depths = _PNG_COLOUR_TYPES.get(colour_type, (0, ()))
    if depth not in depths:
        raise Damaged(f"IHDR has bit depth {depth} with colour type {colour_type}")
    if interlace > 1:
        raise Damaged(f"IHDR has interlace method {interlace}")
    return _PngImage(width, height, colour_type, samples * depth, interlace == 1)


def _max_deflated_size(inflated: int, height: int) -> int:
    """The most bytes an encoder's zlib stream of ``inflated`` bytes of image data takes, unpadded.

    zlib stores what it cannot compress: 5 bytes a block of at most 65535. Encoders with their own
    deflate (stb_image_write) write fixed Huffman codes even for noise, 8 or 9 bits a byte, so 9/8 of
    the data is allowed, plus 5 bytes for each row flushed on its own (an Adam7 image has at most
    2 x height + 7 rows over its passes), 6 for the zlib header and Adler-32, and a margin.
    """
    return inflated + inflated // 8 + 5 * (inflated // 65535 + 2 * height + 8) + 6 + 1024


class _IdatCheck:
    """Inflates a PNG's IDAT stream as the walk reaches each chunk, keeping only a count of bytes.

    libpng inflates all of it, even past the last row ("Too much image data" is only a warning): an
    840x640 image whose IDAT inflates to 4 GiB took 9.3 s. Here the stream is refused the moment it
    passes ``png_data_size``, so the work is bounded by the image's size (which the pixel limit
    bounds) and done in C, 1 MiB of output per call.
    """

    def __init__(self, image: _PngImage) -> None:
        self._expected = png_data_size(image.width, image.height, image.bits_per_pixel, image.interlaced)
        self._max_compressed = _max_deflated_size(self._expected, image.height)
        self._size = f"{image.width} x {image.height}"
        self._compressed = 0
        self._inflated = 0
        self._inflater = zlib.decompressobj()
        self._done = False
        self._gathered: list[memoryview] = []  # chunk bodies not inflated yet
        self._gathered_bytes = 0

    def feed(self, body: memoryview) -> None:
        """Takes the next IDAT chunk's data; raises ``TooCostly`` once the stream is too large."""
        self._compressed += len(body)
        if self._compressed > self._max_compressed:
            # Free: no encoder needs this many bytes for the image, whatever they inflate to.
            raise TooCostly(
                f"PNG image data is more bytes than its {self._size} size can take "
                f"({self._max_compressed} at most)"
            )
        self._gathered.append(body)
        self._gathered_bytes += len(body)
        if self._gathered_bytes >= _INFLATE_INPUT_PIECE or len(self._gathered) >= _INFLATE_GATHER_CHUNKS:
            self.finish()

    def finish(self) -> None:
        """Inflates what was fed and not inflated yet (called at IEND); raises ``TooCostly`` too."""
        data = memoryview(b"".join(self._gathered))
        self._gathered.clear()
        self._gathered_bytes = 0
        for start in range(0, len(data), _INFLATE_INPUT_PIECE):
            if self._done:
                return
            self._inflate(data[start : start + _INFLATE_INPUT_PIECE])

    def _inflate(self, piece: memoryview) -> None:
        try:
            produced = self._count(self._inflater.decompress(piece, _INFLATE_OUTPUT_PIECE))
            # A full piece of output holds back the rest of the input (unconsumed_tail) or, with the
            # input used up, the rest of a match: the next call brings it. Each round adds a full
            # piece to the count, which is refused past the expected size: at most that / 1 MiB rounds.
            while produced == _INFLATE_OUTPUT_PIECE or self._inflater.unconsumed_tail:
                tail = self._inflater.unconsumed_tail
                produced = self._count(self._inflater.decompress(tail, _INFLATE_OUTPUT_PIECE))
        except zlib.error:
            # libpng stops at the same byte and the decoder reports the damage; the count so far
            # stays within the size.
            self._done = True
            return
        # After the stream's end libpng reads no further (extra data is a warning), nor does this.
        self._done = self._inflater.eof

    def _count(self, output: bytes) -> int:
        self._inflated += len(output)
        if self._inflated > self._expected:
            raise TooCostly(f"PNG image data inflates beyond its {self._size} size")
        return len(output)


def _png_layout(data: bytes) -> Layout:
    image = _png_ihdr(data)
    idat = _IdatCheck(image)
    view = memoryview(data)  # chunk bodies go to zlib without a copy
    has_alpha = image.colour_type in (4, 6)
    exif = b""
    skip: list[tuple[int, int]] = []
    pos = 8  # after the signature
    for _ in range(MAX_CHUNKS):
        if pos + 12 > len(data):
            break
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length  # length, type, data, CRC
        if end > len(data):
            break
        if kind == b"IDAT":
            idat.feed(view[pos + 8 : end - 4])
        elif kind == b"tRNS":
            has_alpha = True
        elif kind == b"eXIf":
            exif = data[pos + 8 : pos + 8 + length]
        elif kind in PNG_SKIPPED_CHUNKS:
            skip.append((pos, end))
        elif kind == b"IEND":
            idat.finish()
            orientation = exif_orientation(exif) if has_alpha else 1
            return Layout(end, has_alpha, orientation, skip=tuple(skip))
        pos = end
    else:
        raise TooLong(f"more than {MAX_CHUNKS} chunks before IEND")
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
    """The body of the first RIFF chunk of this type after the WEBP form type, or b"".

    Only the first ``_MAX_RIFF_CHUNKS`` chunks are looked at; a wanted chunk past them is not found.
    """
    pos = 12
    for _ in range(_MAX_RIFF_CHUNKS):
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
