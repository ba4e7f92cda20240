"""decode_image: every kind of bad input is refused with InvalidInput naming ``image``."""

from __future__ import annotations

import io
import os
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import cv2
import numpy as np
import pytest
from PIL import Image

import pipeline
from pipeline.config import DecodeLimits
from pipeline.container import MAX_CHUNKS, MAX_JPEG_SCANS, MAX_JPEG_SEGMENTS, png_data_size, read_layout
from pipeline.decode import decode_image, decode_photo, read_header
from pipeline.errors import InvalidInput
from tests.image_files import encode, png_chunk, progressive_jpeg_with_repeated_scan

LIMITS = DecodeLimits()


def _image(width: int = 64, height: int = 48) -> np.ndarray:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, : width // 2] = (0, 0, 255)  # left half red, right half black
    return image


def _encode(ext: str, image: np.ndarray | None = None) -> bytes:
    return encode(ext, _image() if image is None else image)


def _png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas; its pixel data is never there."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".bmp"])
def test_decodes_every_supported_format(ext: str) -> None:
    image = decode_image(_encode(ext), LIMITS)
    assert image.shape == (48, 64, 3)
    assert image.dtype == np.uint8
    # BGR order: the left half is red.
    assert image[24, 5, 2] > 200 and image[24, 5, 0] < 60


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".bmp"])
def test_header_reader_agrees_with_opencv(ext: str) -> None:
    header = read_header(_encode(ext, _image(123, 45)))
    assert (header.width, header.height) == (123, 45)


def test_header_reader_reads_lossless_and_extended_webp() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (77, 33)).save(buffer, "WEBP", lossless=True)
    assert (read_header(buffer.getvalue()).width, read_header(buffer.getvalue()).height) == (77, 33)
    buffer = io.BytesIO()
    Image.new("RGBA", (90, 20), (1, 2, 3, 128)).save(buffer, "WEBP")  # alpha forces VP8X
    assert buffer.getvalue()[12:16] == b"VP8X"
    assert (read_header(buffer.getvalue()).width, read_header(buffer.getvalue()).height) == (90, 20)


def _bad_inputs() -> dict[str, tuple[bytes, DecodeLimits, str]]:
    jpeg = _encode(".jpg", _image(320, 240))
    rng = np.random.default_rng(7)
    return {
        "empty": (b"", LIMITS, "empty"),
        "random bytes": (rng.bytes(4096), LIMITS, "not a supported image format"),
        "pdf": (
            b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n",
            LIMITS,
            "not a supported",
        ),
        "truncated jpeg": (jpeg[: len(jpeg) // 2], LIMITS, "truncated"),
        "truncated png": (_encode(".png")[:-30], LIMITS, "truncated"),
        "1x1 image": (_encode(".png", _image(1, 1)), LIMITS, "shorter than"),
        "png bomb 30000x30000": (_png_bomb(30_000, 30_000), LIMITS, "more than the limit"),
        "too many bytes": (jpeg, DecodeLimits(max_image_bytes=len(jpeg) - 1), "bytes, more than the limit"),
        "damaged png data": (_png_bomb(64, 64), LIMITS, "could not be decoded"),
    }


@pytest.mark.parametrize("case", sorted(_bad_inputs()))
def test_bad_input_is_refused_naming_image(case: str) -> None:
    data, limits, message = _bad_inputs()[case]
    with pytest.raises(InvalidInput) as raised:
        decode_image(data, limits)
    assert raised.value.field == "image"
    assert message in raised.value.description


def test_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object) -> None:
        raise AssertionError("imdecode must not run on a decompression bomb")

    monkeypatch.setattr(cv2, "imdecode", fail)
    with pytest.raises(InvalidInput, match="more than the limit"):
        decode_image(_png_bomb(30_000, 30_000), LIMITS)


def test_exif_orientation_is_applied() -> None:
    # Stored 60 wide x 40 tall, red on the left; EXIF orientation 6 means "rotate 90 degrees clockwise
    # to display", so the upright image is 40 wide x 60 tall with red on top.
    stored = Image.new("RGB", (60, 40), (0, 0, 0))
    stored.paste((255, 0, 0), (0, 0, 30, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif.tobytes(), quality=95)

    image = decode_image(buffer.getvalue(), LIMITS)

    assert image.shape == (60, 40, 3)
    assert image[5, 20, 2] > 200  # top: red
    assert image[55, 20, 2] < 60  # bottom: black


# -- extreme aspect ratios: refused from the header, before decoding


@pytest.mark.parametrize(("width", "height"), [(16, 40_000), (40_000, 16), (16, 1000), (1000, 16)])
def test_strips_beyond_the_aspect_limit_are_refused_before_decoding(
    width: int, height: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _encode(".png", np.zeros((height, width, 3), np.uint8))

    def fail(*_: object) -> None:
        raise AssertionError("imdecode must not run on a refused strip")

    monkeypatch.setattr(cv2, "imdecode", fail)
    with pytest.raises(InvalidInput, match="times its short side") as raised:
        decode_image(data, LIMITS)
    assert raised.value.field == "image"


@pytest.mark.parametrize(("width", "height"), [(16, 800), (800, 16), (20, 1000)])
def test_strips_within_the_aspect_limit_decode(width: int, height: int) -> None:
    assert decode_image(_encode(".png", np.zeros((height, width, 3), np.uint8)), LIMITS).shape == (
        height,
        width,
        3,
    )


# -- alpha: flattened onto a background that keeps the ink visible


def _text_on_transparent(ink: tuple[int, int, int]) -> np.ndarray:
    image = np.zeros((80, 320, 4), np.uint8)  # transparent black, as most editors store it
    cv2.putText(image, "EXP 12/08/2027", (10, 55), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (*ink, 255), 3, cv2.LINE_AA)
    return image


def test_dark_ink_on_transparent_png_is_flattened_onto_white() -> None:
    rgba = _text_on_transparent((20, 20, 20))
    image = decode_image(_encode(".png", rgba), LIMITS)
    assert image.shape == (80, 320, 3)
    assert (image[2, 2] == 255).all()  # the transparent background is white
    ink = rgba[..., 3] == 255
    assert image[ink].max() <= 20  # the ink is still dark


def test_light_ink_on_transparent_png_is_flattened_onto_black() -> None:
    rgba = _text_on_transparent((240, 240, 240))
    image = decode_image(_encode(".png", rgba), LIMITS)
    assert (image[2, 2] == 0).all()
    assert image[rgba[..., 3] == 255].min() >= 240


def test_half_transparent_pixels_are_blended() -> None:
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:, :16] = (0, 0, 0, 255)  # dark content: white background
    rgba[:, 16:] = (0, 0, 0, 128)
    image = decode_image(_encode(".png", rgba), LIMITS)
    assert image[5, 5].tolist() == [0, 0, 0]
    assert image[5, 20].tolist() == [127, 127, 127]  # 255 * (1 - 128/255), rounded


@pytest.mark.parametrize("mode", ["LA", "RGBA", "P", "RGBA16"])
def test_every_png_kind_with_transparency_is_flattened(mode: str) -> None:
    buffer = io.BytesIO()
    if mode == "RGBA16":
        rgba16 = np.zeros((40, 60, 4), np.uint16)
        rgba16[10:30, 10:50] = (5000, 5000, 5000, 65535)
        buffer.write(_encode(".png", rgba16))
    elif mode == "P":
        image = Image.new("P", (60, 40), 0)
        image.putpalette([0, 0, 0, 10, 10, 10])
        image.paste(1, (10, 10, 50, 30))
        image.save(buffer, "PNG", transparency=0)  # palette entry 0 is transparent (a tRNS chunk)
    else:
        image = Image.new(mode, (60, 40), (0, 0) if mode == "LA" else (0, 0, 0, 0))
        image.paste((10, 255) if mode == "LA" else (10, 10, 10, 255), (10, 10, 50, 30))
        image.save(buffer, "PNG")
    decoded = decode_image(buffer.getvalue(), LIMITS)
    assert decoded.shape == (40, 60, 3)
    assert (decoded[2, 2] == 255).all() and (decoded[20, 30] < 30).all()


def test_webp_with_alpha_is_flattened() -> None:
    buffer = io.BytesIO()
    image = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
    image.paste((10, 10, 10, 255), (10, 10, 50, 30))
    image.save(buffer, "WEBP", lossless=True)
    decoded = decode_image(buffer.getvalue(), LIMITS)
    assert (decoded[2, 2] == 255).all() and (decoded[20, 30] < 30).all()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_exif_orientation_of_images_with_alpha_matches_opencv(orientation: int, fmt: str) -> None:
    # An opaque RGBA image goes through the alpha path; OpenCV's own EXIF handling (IMREAD_COLOR,
    # which drops alpha) is the reference. Quadrants of different colours tell every turn apart.
    stored = Image.new("RGBA", (60, 40), (0, 0, 0, 255))
    stored.paste((255, 0, 0, 255), (0, 0, 30, 20))
    stored.paste((0, 255, 0, 255), (30, 0, 60, 20))
    stored.paste((0, 0, 255, 255), (0, 20, 30, 40))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, fmt, exif=exif.tobytes(), lossless=True)
    data = buffer.getvalue()
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(decode_image(data, LIMITS), expected)


# -- bytes after the end marker are not part of the image; a truncated image is still refused


def _with_comment(jpeg: bytes, comment: bytes) -> bytes:
    """The JPEG with a COM segment right after SOI (as an EXIF thumbnail, it may hold FF D9)."""
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + jpeg[2:]


def _junk() -> bytes:
    return np.random.default_rng(11).bytes(1024)


@pytest.mark.parametrize(
    "trailer",
    [
        pytest.param(_junk(), id="1KB junk"),
        pytest.param(b"\x00" * 8192, id="8KB zeros"),
        pytest.param(b"\x00\x00\x00\x18ftypmp42" + b"\xff\xd9" + _junk(), id="motion photo video"),
    ],
)
@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_bytes_after_the_end_marker_are_ignored(ext: str, trailer: bytes) -> None:
    data = _encode(ext, _image(320, 240))
    np.testing.assert_array_equal(decode_image(data + trailer, LIMITS), decode_image(data, LIMITS))


def test_an_end_marker_inside_a_segment_does_not_end_the_jpeg() -> None:
    jpeg = _with_comment(_encode(".jpg", _image(320, 240)), b"thumbnail \xff\xd9 end")
    assert decode_image(jpeg, LIMITS).shape == (240, 320, 3)
    with pytest.raises(InvalidInput, match="truncated"):
        decode_image(jpeg[: len(jpeg) // 2], LIMITS)


def test_progressive_jpeg_with_trailing_bytes_decodes() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 120), (200, 30, 30)).save(buffer, "JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    assert decode_image(data + _junk(), LIMITS).shape == (120, 200, 3)
    with pytest.raises(InvalidInput, match="truncated"):
        decode_image(data[:-200], LIMITS)


def test_png_with_a_chunk_cut_off_is_truncated_even_with_trailing_bytes() -> None:
    png = _encode(".png", _image(320, 240))
    iend = png.index(b"IEND") - 4
    with pytest.raises(InvalidInput, match="truncated"):
        decode_image(png[: iend - 10], LIMITS)


def test_png_with_too_many_chunks_is_refused() -> None:
    png = _encode(".png", _image(64, 48))
    idat = png.index(b"IDAT") - 4
    filler = png_chunk(b"teXt", b"") * (_ADVERSARIAL_BYTES // 12)  # 1.3 million 12-byte chunks
    with pytest.raises(InvalidInput, match=f"damaged \\(more than {MAX_CHUNKS} chunks") as raised:
        decode_image(png[:idat] + filler + png[idat:], LIMITS)
    assert raised.value.field == "image"


# -- every walk over a caller's bytes takes a bounded number of Python steps, whatever they hold

# As large as the default byte limit allows: the walks that stepped through such files in Python
# took seconds (holding the GIL) where a photo's decode takes 0.13 s.
_ADVERSARIAL_BYTES = 15 * 1024 * 1024
# Python lines run in pipeline/ by one decode. A photo's takes about 300; a JPEG walk that reaches
# MAX_JPEG_SEGMENTS about 20 per segment (22,653 in all for the costliest shape below, empty comment
# segments). A walk that steps through 15 MB byte by byte, or tiny segment by tiny segment, runs
# millions and is stopped after this many.
_LINE_BUDGET = 32 * MAX_JPEG_SEGMENTS
_PIPELINE_DIR = str(Path(pipeline.__file__).resolve().parent)


class _OverBudget(Exception):
    """Raised from the line tracer: the code under test ran more Python lines than allowed."""


@dataclass
class _LineCount:
    lines: int = 0


@contextmanager
def _pipeline_lines(budget: int) -> Iterator[_LineCount]:
    """Counts the Python lines run in ``pipeline/`` in the block; raises ``_OverBudget`` past ``budget``.

    A count, not a clock: the same input runs the same lines on any machine. Raising from the tracer
    stops the code under test at once, so a walk that would take seconds fails in milliseconds.
    """
    count = _LineCount()

    def trace_line(frame: FrameType, event: str, arg: object) -> Callable | None:
        if event == "line":
            count.lines += 1
            if count.lines > budget:
                raise _OverBudget(f"more than {budget} Python lines run in pipeline/")
        return trace_line

    def trace_call(frame: FrameType, event: str, arg: object) -> Callable | None:
        return trace_line if frame.f_code.co_filename.startswith(_PIPELINE_DIR) else None

    previous = sys.gettrace()
    sys.settrace(trace_call)
    try:
        yield count
    finally:
        sys.settrace(previous)


def _jpeg_before_and_from_scan() -> tuple[bytes, bytes]:
    """A real JPEG cut before its scan header: (SOI, tables and frame header; SOS, scan, EOI)."""
    jpeg = _encode(".jpg", _image(320, 240))
    assert jpeg.count(b"\xff\xda") == 1
    sos = jpeg.index(b"\xff\xda")
    return jpeg[:sos], jpeg[sos:]


def _repeated(unit: bytes) -> bytes:
    return unit * (_ADVERSARIAL_BYTES // len(unit))


def _webp_with_empty_chunks() -> bytes:
    """An extended WebP claiming alpha and EXIF, whose chunks are all empty and nameless."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0x18, 0, 0, 0]) + (63).to_bytes(3, "little") * 2
    body = b"WEBP" + vp8x + _repeated(b"\x00" * 8)
    return b"RIFF" + struct.pack("<I", len(body)) + body


_SEGMENT_CAP = f"more than {MAX_JPEG_SEGMENTS} segments"
# Each shape that made a walk slow, built from a real JPEG's parts (before its scan, from its scan
# header) and 15 MB of the repeated unit, and how it is refused (None: it decodes).
_ADVERSARIAL: dict[str, tuple[Callable[[bytes, bytes], bytes], str | None]] = {
    # The walk stops at the first of these; libjpeg then judges the file (in C) and refuses it.
    "TEM markers after the frame header": (
        lambda head, scan: head + _repeated(b"\xff\x01"),
        "could not be decoded",
    ),
    "restart markers outside a scan": (
        lambda head, scan: head + _repeated(b"\xff\xd0"),
        "could not be decoded",
    ),
    "zero-length DHT segments": (
        lambda head, scan: head + _repeated(b"\xff\xc4\x00\x00"),
        "could not be decoded",
    ),
    "empty comment segments": (lambda head, scan: head + _repeated(b"\xff\xfe\x00\x02") + scan, _SEGMENT_CAP),
    "empty scans": (
        lambda head, scan: head + _repeated(b"\xff\xda\x00\x02"),
        f"JPEG has more than {MAX_JPEG_SCANS} scans",
    ),
    "fill bytes to the end of the header": (
        lambda head, scan: head[:2] + _repeated(b"\xff"),
        "ends in fill bytes",
    ),
    "fill bytes before the first marker": (
        lambda head, scan: head[:2] + _repeated(b"\xff") + head[2:] + scan,
        None,
    ),
    "fill bytes in a scan": (
        lambda head, scan: head + scan[:-2] + _repeated(b"\xff"),
        "no end-of-image marker",
    ),
    "stuffed bytes in a scan": (
        lambda head, scan: head + scan[:-2] + _repeated(b"\xff\x00"),
        "no end-of-image marker",
    ),
    "restart markers in a scan": (
        lambda head, scan: head + scan[:-2] + _repeated(b"\xff\xd0") + b"\xff\xd9",
        None,
    ),
    "empty WebP chunks before EXIF": (lambda head, scan: _webp_with_empty_chunks(), "could not be decoded"),
}


@pytest.mark.parametrize("case", sorted(_ADVERSARIAL))
def test_walks_are_bounded_whatever_the_bytes_hold(case: str) -> None:
    build, refusal = _ADVERSARIAL[case]
    data = build(*_jpeg_before_and_from_scan())
    assert len(data) >= _ADVERSARIAL_BYTES - 16
    with _pipeline_lines(_LINE_BUDGET) as count:
        try:
            image = decode_image(data, LIMITS)
        except InvalidInput as refused:
            assert refused.field == "image"
            assert refusal is not None and refusal in refused.description, refused.description
        else:
            assert refusal is None, f"decoded, expected a refusal with {refusal!r}"
            assert image.shape == (240, 320, 3)
    assert 0 < count.lines <= _LINE_BUDGET


def test_a_photo_runs_far_fewer_lines_than_the_budget() -> None:
    # The budget is meaningful only if a real decode sits well below it.
    head, scan = _jpeg_before_and_from_scan()
    with _pipeline_lines(_LINE_BUDGET) as count:
        decode_image(head + scan, LIMITS)
    assert 0 < count.lines < _LINE_BUDGET // 20


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"progressive": True, "quality": 90}, id="progressive"),
        pytest.param(
            {"progressive": True, "subsampling": 0, "icc_profile": bytes(300_000)}, id="ICC in 5 segments"
        ),
        pytest.param({"quality": 95, "exif": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00"}, id="EXIF"),
    ],
)
def test_real_encoders_files_walk_and_decode(options: dict[str, object]) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (120, 200, 3), np.uint8)).save(
        buffer, "JPEG", **options
    )
    assert decode_image(buffer.getvalue(), LIMITS).shape == (120, 200, 3)


@pytest.mark.parametrize("restart_interval", [1, 4])
def test_jpeg_with_restart_markers_decodes(restart_interval: int) -> None:
    image = np.random.default_rng(5).integers(0, 256, (120, 200, 3), np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_RST_INTERVAL, restart_interval])
    assert ok and b"\xff\xd0" in data.tobytes()
    np.testing.assert_array_equal(decode_image(data.tobytes(), LIMITS), cv2.imdecode(data, cv2.IMREAD_COLOR))


_LABEL_PHOTOS = (
    Path(
        os.environ.get(
            "DATALID_LABEL_DATASET", Path(__file__).resolve().parents[3] / "shared/datasets/label-recognition"
        )
    )
    / "images"
)


# Decoding all 300 takes seconds; the walks over every file take a fraction of that.
_PHOTOS_DECODED = 20


@pytest.mark.skipif(not _LABEL_PHOTOS.is_dir(), reason=f"no label photos at {_LABEL_PHOTOS}")
def test_real_photos_walk_and_decode_as_opencv_decodes_them() -> None:
    # Phone and camera JPEGs (EXIF, thumbnails, maker notes) from the label dataset that
    # tests/pipeline/test_label_photos.py reads: the walks must accept every one.
    photos = sorted(_LABEL_PHOTOS.iterdir())
    assert photos
    for index, photo in enumerate(photos):
        data = photo.read_bytes()
        header = read_header(data)
        with Image.open(io.BytesIO(data)) as reference:
            assert (header.width, header.height) == reference.size, photo.name
        assert read_layout(data, header.format).end <= len(data)
        if index < _PHOTOS_DECODED:
            expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            np.testing.assert_array_equal(decode_image(data, LIMITS), expected, err_msg=photo.name)


def test_a_jpeg_with_stray_bytes_between_segments_is_read_as_libjpeg_reads_it() -> None:
    """Bytes that start no segment between the tables and the scan: the strict walk calls the file
    damaged, libjpeg skips them with a warning, and the photo is read, not refused."""
    head, scan = _jpeg_before_and_from_scan()
    clean = decode_image(head + scan, LIMITS)
    stray = decode_image(head + b"\x00\x13\x37 stray bytes" + scan, LIMITS)
    assert stray.shape == clean.shape
    assert np.array_equal(stray, clean)


# -- image data that makes the decoder work far beyond the image's size is refused before decoding


def _pack_rows(samples: np.ndarray, bit_depth: int) -> bytes:
    """PNG scanlines of ``samples`` (rows, columns, channels), each after filter byte 0 (none)."""
    rows, columns = samples.shape[:2]
    if bit_depth == 16:
        packed = samples.astype(">u2").reshape(rows, -1).view(np.uint8).reshape(rows, -1)
    elif bit_depth == 8:
        packed = samples.astype(np.uint8).reshape(rows, -1)
    else:  # 1, 2 or 4 bits, one channel: the first pixel in the high bits, rows padded to whole bytes
        per_byte = 8 // bit_depth
        values = np.zeros((rows, -(-columns // per_byte) * per_byte), np.uint8)
        values[:, :columns] = samples[..., 0]
        shifts = np.arange(per_byte - 1, -1, -1, dtype=np.uint8) * bit_depth
        packed = (values.reshape(rows, -1, per_byte) << shifts).sum(axis=2, dtype=np.uint8)
    return np.hstack([np.zeros((rows, 1), np.uint8), packed]).tobytes()


def _png_pixel_data(samples: np.ndarray, bit_depth: int, interlaced: bool) -> bytes:
    """The bytes a PNG's IDAT stream inflates to, Adam7-interlaced or not (PNG spec 7.2, 8.2)."""
    if not interlaced:
        return _pack_rows(samples, bit_depth)
    passes = (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    )
    reduced = [samples[row::row_step, column::column_step] for column, row, column_step, row_step in passes]
    return b"".join(_pack_rows(image, bit_depth) for image in reduced if image.size)


def _png_file(
    width: int,
    height: int,
    idat: bytes,
    *,
    bit_depth: int = 8,
    colour_type: int = 2,
    interlaced: bool = False,
    palette: bytes = b"",
    idat_chunk_bytes: int = 1 << 30,
) -> bytes:
    """A PNG with this IHDR and zlib stream, cut into IDAT chunks of ``idat_chunk_bytes``."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, int(interlaced))
    chunks = [idat[start : start + idat_chunk_bytes] for start in range(0, len(idat), idat_chunk_bytes)]
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + (png_chunk(b"PLTE", palette) if palette else b"")
        + b"".join(png_chunk(b"IDAT", chunk) for chunk in chunks)
        + png_chunk(b"IEND", b"")
    )


def _fixed_huffman(data: bytes) -> bytes:
    """A zlib stream of ``data`` as literals in one fixed-Huffman block, as stb_image_write writes
    noise: 8 or 9 bits a byte, larger than zlib's stored blocks (RFC 1951 3.2.6)."""
    bits: list[int] = [1, 1, 0]  # BFINAL, then BTYPE 01 least significant bit first
    for byte in data:
        code, length = (0x30 + byte, 8) if byte < 144 else (0x190 + byte - 144, 9)
        bits.extend((code >> shift) & 1 for shift in range(length - 1, -1, -1))  # codes go MSB first
    bits.extend([0] * 7)  # end of block: code 256 is seven zero bits
    bits.extend([0] * (-len(bits) % 8))
    packed = np.packbits(np.array(bits, np.uint8), bitorder="little").tobytes()
    return b"\x78\x01" + packed + struct.pack(">I", zlib.adler32(data))


@dataclass(frozen=True)
class _PngKind:
    colour_type: int
    bit_depth: int
    channels: int


_PNG_KINDS = {
    "grey 1-bit": _PngKind(0, 1, 1),
    "grey 2-bit": _PngKind(0, 2, 1),
    "grey 4-bit": _PngKind(0, 4, 1),
    "grey 8-bit": _PngKind(0, 8, 1),
    "grey 16-bit": _PngKind(0, 16, 1),
    "palette 1-bit": _PngKind(3, 1, 1),
    "palette 2-bit": _PngKind(3, 2, 1),
    "palette 4-bit": _PngKind(3, 4, 1),
    "palette 8-bit": _PngKind(3, 8, 1),
    "grey+alpha 8-bit": _PngKind(4, 8, 2),
    "grey+alpha 16-bit": _PngKind(4, 16, 2),
    "RGB 8-bit": _PngKind(2, 8, 3),
    "RGB 16-bit": _PngKind(2, 16, 3),
    "RGBA 8-bit": _PngKind(6, 8, 4),
    "RGBA 16-bit": _PngKind(6, 16, 4),
}


def _png_of_kind(
    kind: _PngKind, width: int, height: int, interlaced: bool, compress: Callable[[bytes], bytes]
) -> bytes:
    """Noise of this kind (opaque where there is alpha), its IDAT in 100-byte chunks."""
    samples = np.random.default_rng(13).integers(0, 1 << kind.bit_depth, (height, width, kind.channels))
    if kind.channels in (2, 4):
        samples[..., -1] = (1 << kind.bit_depth) - 1  # opaque: the flattened image is the colour image
    palette = (
        bytes(np.random.default_rng(17).integers(0, 256, 3 << kind.bit_depth, np.uint8))
        if kind.colour_type == 3
        else b""
    )
    pixel_data = _png_pixel_data(samples, kind.bit_depth, interlaced)
    assert len(pixel_data) == png_data_size(width, height, kind.bit_depth * kind.channels, interlaced)
    return _png_file(
        width,
        height,
        compress(pixel_data),
        bit_depth=kind.bit_depth,
        colour_type=kind.colour_type,
        interlaced=interlaced,
        palette=palette,
        idat_chunk_bytes=100,
    )


@pytest.mark.parametrize("compress", [zlib.compress, _fixed_huffman], ids=["zlib", "fixed Huffman"])
@pytest.mark.parametrize("interlaced", [False, True], ids=["sequential", "Adam7"])
@pytest.mark.parametrize("kind", sorted(_PNG_KINDS))
def test_every_kind_of_png_decodes_as_opencv_decodes_it(
    kind: str, interlaced: bool, compress: Callable[[bytes], bytes]
) -> None:
    # Sizes that leave partial bytes in rows and empty Adam7 passes (a 3-pixel-wide image has none
    # in pass 2), as well as a plain one.
    for width, height in ((37, 23), (3, 17), (64, 48)):
        data = _png_of_kind(_PNG_KINDS[kind], width, height, interlaced, compress)
        expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert expected is not None and expected.shape == (height, width, 3)
        decoded = decode_image(data, DecodeLimits(min_image_side_px=1))
        np.testing.assert_array_equal(decoded, expected, err_msg=f"{width}x{height}")


def test_pngs_from_real_encoders_decode_as_opencv_decodes_them() -> None:
    noise = np.random.default_rng(19).integers(0, 256, (90, 130, 3), np.uint8)
    for data in (_encode(".png", noise), _encode(".png", cv2.cvtColor(noise, cv2.COLOR_BGR2GRAY))):
        expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(decode_image(data, LIMITS), expected)
    buffer = io.BytesIO()
    Image.fromarray(noise).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(buffer, "PNG", bits=4)
    expected = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(decode_image(buffer.getvalue(), LIMITS), expected)


@dataclass
class _Inflated:
    bytes: int = 0


@pytest.fixture
def inflated(monkeypatch: pytest.MonkeyPatch) -> _Inflated:
    """Counts the bytes every zlib decompressor made in the test hands out; imdecode must not run."""
    count = _Inflated()
    real = zlib.decompressobj

    class Counting:
        def __init__(self) -> None:
            self._inner = real()

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out = self._inner.decompress(data, max_length)
            count.bytes += len(out)
            return out

    def fail(*_: object) -> None:
        raise AssertionError("imdecode must not run on image data that inflates beyond its size")

    monkeypatch.setattr(zlib, "decompressobj", Counting)
    monkeypatch.setattr(cv2, "imdecode", fail)
    return count


# 200 x 100 RGB: 100 rows of a filter byte and 600 bytes.
_SMALL_PNG_DATA = 100 * (1 + 200 * 3)


def _zeros_stream(size: int) -> bytes:
    compressor = zlib.compressobj(9)
    return compressor.compress(bytes(size)) + compressor.flush()


@pytest.mark.parametrize("chunk_bytes", [1 << 30, 1024, 7], ids=["one IDAT", "1 KiB IDATs", "7-byte IDATs"])
@pytest.mark.parametrize("interlaced", [False, True], ids=["sequential", "Adam7"])
def test_png_data_inflating_beyond_its_size_is_refused_before_decoding(
    inflated: _Inflated, interlaced: bool, chunk_bytes: int
) -> None:
    data = _png_file(200, 100, _zeros_stream(50 * 10**6), interlaced=interlaced, idat_chunk_bytes=chunk_bytes)
    with _pipeline_lines(_LINE_BUDGET), pytest.raises(InvalidInput) as raised:
        decode_image(data, LIMITS)
    assert raised.value.field == "image"
    assert raised.value.description == "PNG image data inflates beyond its 200 x 100 size"
    # Inflating stopped within one 1 MiB piece past the size, not at 50 MB.
    assert _SMALL_PNG_DATA < inflated.bytes <= png_data_size(200, 100, 24, interlaced) + (1 << 20)


def test_png_data_that_cannot_fit_its_size_compressed_is_refused_without_inflating(
    inflated: _Inflated,
) -> None:
    # Stored blocks of twice the size: more bytes than any encoder writes for it.
    stream = zlib.compressobj(0).compress(bytes(2 * _SMALL_PNG_DATA)) + zlib.compressobj(0).flush()
    with pytest.raises(InvalidInput, match="PNG image data is more bytes than its 200 x 100 size can take"):
        decode_image(_png_file(200, 100, stream), LIMITS)
    assert inflated.bytes == 0


def test_png_data_of_exactly_its_size_decodes_and_one_byte_more_is_refused() -> None:
    rows = _pack_rows(np.random.default_rng(23).integers(0, 256, (100, 200, 3)), 8)
    assert len(rows) == _SMALL_PNG_DATA
    exact = _png_file(200, 100, zlib.compress(rows))
    np.testing.assert_array_equal(
        decode_image(exact, LIMITS), cv2.imdecode(np.frombuffer(exact, np.uint8), cv2.IMREAD_COLOR)
    )
    with pytest.raises(InvalidInput, match="inflates beyond its 200 x 100 size"):
        decode_image(_png_file(200, 100, zlib.compress(rows + b"\x00")), LIMITS)


def test_png_with_an_ihdr_libpng_refuses_is_damaged() -> None:
    data = _png_file(200, 100, zlib.compress(bytes(_SMALL_PNG_DATA)), bit_depth=4, colour_type=2)
    with pytest.raises(
        InvalidInput, match="PNG file is damaged \\(IHDR has bit depth 4 with colour type 2\\)"
    ):
        decode_image(data, LIMITS)


def _progressive_jpeg(width: int, height: int, extra_scans: int) -> bytes:
    """A progressive JPEG (libjpeg's 10 scans) with its last scan, a refinement, repeated."""
    image = np.random.default_rng(29).integers(0, 256, (height, width, 3), np.uint8)
    return progressive_jpeg_with_repeated_scan(image, extra_scans)


def test_progressive_jpeg_with_the_most_scans_decodes_as_opencv_decodes_it() -> None:
    data = _progressive_jpeg(64, 48, MAX_JPEG_SCANS - 10)
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(decode_image(data, LIMITS), expected)


@pytest.mark.parametrize("stray", [b"", b"\x00 stray bytes "], ids=["clean", "stray bytes before the scans"])
def test_progressive_jpeg_with_more_scans_is_refused_before_decoding(
    stray: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _progressive_jpeg(64, 48, 2000)
    first_scan = data.index(b"\xff\xda")
    data = data[:first_scan] + stray + data[first_scan:]

    def fail(*_: object) -> None:
        raise AssertionError("imdecode must not run on a JPEG with too many scans")

    monkeypatch.setattr(cv2, "imdecode", fail)
    with _pipeline_lines(_LINE_BUDGET), pytest.raises(InvalidInput) as raised:
        decode_image(data, LIMITS)
    assert raised.value.field == "image"
    assert raised.value.description.startswith(f"JPEG has more than {MAX_JPEG_SCANS} scans")


def test_a_large_jpeg_may_have_fewer_scans() -> None:
    # With a pixel limit of twice 64 x 48, a 64x48 image may cost what one at the limit with 24 scans
    # costs: 48 scans.
    limits = DecodeLimits(max_image_pixels=2 * 64 * 48)
    allowed = 48
    assert decode_image(_progressive_jpeg(64, 48, allowed - 10), limits).shape == (48, 64, 3)
    with pytest.raises(InvalidInput, match=f"JPEG has more than {allowed} scans \\(the most a 64 x 48 image"):
        decode_image(_progressive_jpeg(64, 48, allowed - 9), limits)


def _with_text_chunks(png: bytes, chunks: list[bytes]) -> bytes:
    """``png`` with ``chunks`` inserted right after its IHDR chunk (8 + 25 bytes in)."""
    return png[:33] + b"".join(chunks) + png[33:]


def test_png_text_chunks_never_reach_the_decoder() -> None:
    """libpng inflates every zTXt/iTXt chunk it meets (up to 8 MB each, 1000 chunks): a 7.7 MB file
    of them cost 33 s of CPU inside cv2.imdecode. Text chunks hold no pixel, so they are cut out
    before decoding, and the image decodes as it does without them."""
    clean = _encode(".png", _image(64, 48))
    bomb_text = zlib.compress(b"\0" * (1 << 20), 9)  # 1 MiB of text each, ~1 KB compressed
    chunks = [
        png_chunk(b"zTXt", b"Comment\0\0" + bomb_text),
        png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\x01\0\0\0" + bomb_text),
        png_chunk(b"tEXt", b"Title\0label"),
    ] * 20
    bombed = _with_text_chunks(clean, chunks)
    layout = read_layout(bombed, "png")
    assert len(layout.skip) == 60
    kept = bytes(layout.image_bytes(bombed))
    assert b"zTXt" not in kept and b"iTXt" not in kept and b"tEXt" not in kept
    assert kept == clean
    assert np.array_equal(decode_image(bombed, LIMITS), decode_image(clean, LIMITS))


# -- photos over max_image_pixels: read smaller, not refused


def _spy_imdecode(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    flags: list[int] = []
    real = cv2.imdecode

    def spy(buffer: np.ndarray, flag: int) -> np.ndarray | None:
        flags.append(flag)
        return real(buffer, flag)

    monkeypatch.setattr(cv2, "imdecode", spy)
    return flags


def test_a_jpeg_over_the_pixel_limit_is_decoded_reduced_by_libjpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 48 MP phone photo was refused; now libjpeg decodes it at 1/2 (here: 256x192 at 1/4 to fit
    64x48) without ever holding the full size, and the true size is kept for the boxes."""
    flags = _spy_imdecode(monkeypatch)
    photo = decode_photo(_encode(".jpg", _image(256, 192)), DecodeLimits(max_image_pixels=64 * 48))
    assert flags == [cv2.IMREAD_REDUCED_COLOR_4]
    assert photo.pixels.shape == (48, 64, 3)
    assert (photo.width, photo.height, photo.scale_x, photo.scale_y) == (256, 192, 4.0, 4.0)
    assert photo.pixels[24, 5, 2] > 200 and photo.pixels[24, 60, 2] < 60  # still red | black


def test_the_smallest_reduction_that_fits_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    flags = _spy_imdecode(monkeypatch)
    # 2 x 64 x 48 pixels: 1/2 gives a quarter of them, within the limit; 1/1 does not fit.
    limits = DecodeLimits(max_image_pixels=2 * 64 * 48)
    photo = decode_photo(_encode(".jpg", _image(128, 96)), limits)
    assert flags == [cv2.IMREAD_REDUCED_COLOR_2] and photo.pixels.shape == (48, 64, 3)
    flags.clear()
    assert decode_photo(_encode(".jpg", _image(64, 48)), limits).pixels.shape == (48, 64, 3)
    assert flags == [cv2.IMREAD_COLOR]


def test_a_turned_photo_keeps_its_upright_true_size() -> None:
    stored = Image.new("RGB", (256, 128), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display: upright 128 wide x 256 tall
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif.tobytes())
    photo = decode_photo(buffer.getvalue(), DecodeLimits(max_image_pixels=64 * 32))
    assert photo.pixels.shape == (64, 32, 3)
    assert (photo.width, photo.height) == (128, 256)


@pytest.mark.parametrize("ext", [".png", ".webp", ".bmp"])
def test_another_format_over_the_limit_is_resized_after_its_decode(ext: str) -> None:
    limits = DecodeLimits(max_image_pixels=100 * 75)
    photo = decode_photo(_encode(ext, _image(120, 90)), limits)  # 1.44 times the limit
    height, width = photo.pixels.shape[:2]
    assert width * height <= 100 * 75 and abs(width / height - 120 / 90) < 0.03
    assert (photo.width, photo.height) == (120, 90)


def test_beyond_what_a_format_may_be_decoded_at_the_image_is_refused_stating_the_limits() -> None:
    limits = DecodeLimits(max_image_pixels=100 * 75, max_source_pixels=40 * 100 * 75)
    with pytest.raises(InvalidInput, match=r"more than the limit of 11250 for a PNG; a JPEG may have 300000"):
        decode_photo(_encode(".png", _image(130, 90)), limits)
    with pytest.raises(InvalidInput, match=r"more than the limit of 300000 for a JPEG"):
        decode_photo(_encode(".jpg", _image(700, 480)), limits)
    # Past what 1/8 brings within the limit, a JPEG is reduced by 8 and then resized.
    photo = decode_photo(_encode(".jpg", _image(640, 440)), limits)
    assert photo.pixels.shape[0] * photo.pixels.shape[1] <= 100 * 75 and photo.width == 640


def test_the_source_limit_may_not_be_below_the_read_limit() -> None:
    with pytest.raises(ValueError, match="max_source_pixels must be >= max_image_pixels"):
        DecodeLimits(max_image_pixels=1000, max_source_pixels=999)
