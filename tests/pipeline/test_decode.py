"""decode_image: every kind of bad input is refused with InvalidInput naming ``image``."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.config import DecodeLimits
from pipeline.decode import decode_image, read_header
from pipeline.errors import InvalidInput

LIMITS = DecodeLimits()


def _image(width: int = 64, height: int = 48) -> np.ndarray:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, : width // 2] = (0, 0, 255)  # left half red, right half black
    return image


def _encode(ext: str, image: np.ndarray | None = None) -> bytes:
    ok, data = cv2.imencode(ext, _image() if image is None else image)
    assert ok
    return data.tobytes()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas; its pixel data is never there."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
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
    filler = _png_chunk(b"teXt", b"") * 100_001
    with pytest.raises(InvalidInput, match="chunks") as raised:
        decode_image(png[:idat] + filler + png[idat:], LIMITS)
    assert raised.value.field == "image"
