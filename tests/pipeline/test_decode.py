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
