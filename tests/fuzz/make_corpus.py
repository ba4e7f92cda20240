"""Writes the committed seed corpus of the fuzz targets (``python -m tests.fuzz.make_corpus``).

Every seed is made here from our own pixels and strings, so the corpus is ours to commit and
regenerates byte for byte (fixed seeds, no clock). A seed's file name is its content's SHA-1, as
libFuzzer names the inputs it keeps. The date texts also take the OCR strings of
``tests/data/date_cases`` (MIT, attribution in that folder's README).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from datalid.v1 import expiry_date_service_pb2, job_service_pb2, types_pb2
from tests.fuzz.__main__ import CORPUS
from tests.fuzz.targets import REQUEST_TYPES
from tests.image_files import encode, png_chunk

_REPO = Path(__file__).resolve().parents[2]
_DATE_CASES = _REPO / "tests" / "data" / "date_cases" / "datalid_cases.json"


def _label(width: int, height: int, text: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 235, np.uint8)
    image += rng.integers(0, 12, image.shape, dtype=np.uint8)
    scale = max(0.3, height / 60)
    cv2.putText(image, text, (2, int(height * 0.7)), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 1)
    return image


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height``: a decompression bomb's header."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (min(width, 64) + 1) * min(height, 64))
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")
    )


def image_seeds() -> Iterator[bytes]:
    """Small real files of every format, damaged ones, and the shapes issue 11 found."""
    label = _label(96, 40, "EXP 12/08/27", seed=1)
    jpeg = encode(".jpg", label, (cv2.IMWRITE_JPEG_QUALITY, 70))
    png = encode(".png", label)
    yield jpeg
    yield encode(".jpg", label, (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))
    yield png
    yield encode(".webp", label, (cv2.IMWRITE_WEBP_QUALITY, 60))
    yield encode(".bmp", label)
    yield encode(".png", cv2.cvtColor(label, cv2.COLOR_BGR2GRAY))
    yield encode(".png", label.astype(np.uint16) * 257)  # 16 bits per channel
    alpha = np.dstack([label, np.where(label[..., 0] < 128, 255, 0).astype(np.uint8)])
    yield encode(".png", alpha)  # transparent background, opaque ink
    yield jpeg + b"\x00" * 64 + b"MotionPhoto_Data" + bytes(range(256))  # bytes after EOI
    yield png + b"trailing bytes after IEND"
    yield jpeg[: len(jpeg) // 2]  # truncated
    yield png[: len(png) - 20]
    yield encode(".png", np.zeros((1000, 16, 3), np.uint8))  # a thin strip
    yield _png_claiming(16, 40000)
    yield _png_claiming(30000, 30000)
    yield b"BM" + b"\x00" * 30
    yield b"RIFF\x00\x00\x00\x00WEBPVP8 "


def date_texts() -> Iterator[str]:
    """OCR-like label text: the shared cases and lines of many countries' labels."""
    yield from (case["text"] for case in json.loads(_DATE_CASES.read_text()))
    yield from (
        "USE BY\n12 AUG 2026",
        "BEST BEFORE END 08/2027 L2345 13:45",
        "EXP 07082027",
        "MFG130526EXP130527",
        "F:03/26 V:03/28",
        "유통기한 28.01.09 까지",
        "生产日期：2026.02.03 保质期至：2027.02.02",  # noqa: RUF001 (the labels' own colon)
        "تاريخ الانتهاء ٢٠٢٧/٠٩/١٥",  # noqa: RUF001 (Arabic-Indic digits, as printed)
        "ผลิต 01/02/2026 หมดอายุ 01/02/2027",
        "Годен до 12.05.2027",
        "VAL 14 ABR 2027 FAB 14 ABR 2026",
        "O1/O8/2O27",
        "31/02/2027 29/02/2028 00/00/00",
        "9" * 300,
        "/" * 200 + "12",
    )


def request_seeds() -> Iterator[bytes]:
    """Each request message the target parses, prefixed by the byte that selects it there."""
    options = types_pb2.ProcessOptions(
        detection_confidence=0.3,
        detection_iou=0.5,
        max_detections=3,
        return_visualization=True,
        full_image_fallback=False,
        reference_date="2026-11-01",
        date_order=types_pb2.DATE_ORDER_MDY,
    )
    year_one = types_pb2.ProcessOptions(reference_date="0001-01-01")
    messages = (
        types_pb2.ProcessRequest(image=b"\xff\xd8\xff", options=options),
        types_pb2.ProcessRequest(options=year_one),
        expiry_date_service_pb2.ProcessUrlRequest(url="https://a..b/x.jpg", options=options),
        expiry_date_service_pb2.Frame(stream_id="cam", frame_id=7, options=options, drop_policy=2),
        expiry_date_service_pb2.Frame(drop_policy=99),
        job_service_pb2.CreateJobRequest(image=b"x", options=options),
        job_service_pb2.ListJobsRequest(state=2, page_size=10, page_token="1" * 40),
    )
    # The byte before each message selects its type in tests.fuzz.targets.fuzz_request.
    for message in messages:
        yield bytes([REQUEST_TYPES.index(type(message))]) + message.SerializeToString()


def _write(folder: Path, seeds: Iterator[bytes]) -> int:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count = 0
    for seed in seeds:
        (folder / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        count += 1
    return count


def main() -> None:
    # The dates target reads a reference date (days after 1970-01-01) and an order (0: DMY) from
    # its first 4 bytes.
    prefix = (dt.date(2026, 11, 30) - dt.date(1970, 1, 1)).days.to_bytes(3, "little") + b"\x00"
    written = {
        "decode": _write(CORPUS / "decode", image_seeds()),
        "dates": _write(CORPUS / "dates", (prefix + text.encode() for text in date_texts())),
        "request": _write(CORPUS / "request", request_seeds()),
    }
    print(json.dumps(written))


if __name__ == "__main__":
    main()
