"""Images that used to take the server down or read wrong, against a real server under its memory cap.

- Strips: a 16x40000 PNG (80 KB) once drove the server past 20 GB, because the text detector
  scaled its short side up to 736 px with no cap on the long side. Strips beyond the 1:50 aspect
  limit are refused from the header (INVALID_ARGUMENT naming ``image``); strips at the limit and
  the largest accepted photos are read with every resize capped.
- A PNG with dark text on a transparent background decoded to all black.
- A JPEG or PNG with bytes after its end marker was refused as truncated.
- A 1 MB PNG whose image data inflates to 1 GiB (840x640 in its header) was decoded for 2 s, past
  its last row, and a few at once stalled every other caller. It is refused once its data passes
  the 840x640 size.

After each, the server is still serving.
"""

from __future__ import annotations

import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import grpc
import numpy as np
import pytest

from datalid.v1 import expiry_date_service_pb2_grpc, types_pb2
from pipeline.synth import render_label, render_label_image
from tests.conftest import bad_request_fields
from tests.hostile.conftest import assert_still_serving
from tests.image_files import png_chunk

pytestmark = pytest.mark.slow

_DATE_TEXT = "EXP 12/08/2027"
_DATE = "2027-08-12"  # day first: the server's default date order
_REFERENCE = types_pb2.ProcessOptions(reference_date="2026-11-01")
# A refusal from the header takes milliseconds; a read of the largest accepted photo a few seconds
# on two busy cores. Both far below what an unbounded resize took (minutes, then the OOM killer).
_REFUSE_TIMEOUT_S = 10
_READ_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def inference(hostile_channel: grpc.Channel) -> expiry_date_service_pb2_grpc.ExpiryDateServiceStub:
    return expiry_date_service_pb2_grpc.ExpiryDateServiceStub(hostile_channel)


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def _strip(height: int, width: int) -> np.ndarray:
    """A light strip with dark marks along it, like a thin label (no noise: a 40 MP one must still
    compress under the 16 MiB message limit)."""
    strip = np.full((height, width, 3), 230, np.uint8)
    long_side = max(height, width)
    for start in range(0, long_side, max(1, long_side // 40)):
        if height >= width:
            strip[start : start + 4, 2 : width - 2] = 20
        else:
            strip[2 : height - 2, start : start + 4] = 20
    return strip


@pytest.mark.parametrize(("width", "height"), [(16, 40_000), (40_000, 16), (16, 1000), (1000, 16)])
def test_strips_beyond_the_aspect_limit_are_refused_naming_image(
    inference, hostile_channel: grpc.Channel, width: int, height: int
) -> None:
    data = _png(_strip(height, width))
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        inference.Process(types_pb2.ProcessRequest(image=data), timeout=_REFUSE_TIMEOUT_S)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    assert bad_request_fields(raised.value) == ["image"]
    assert "times its short side" in (raised.value.details() or "")
    assert time.monotonic() - started < _REFUSE_TIMEOUT_S
    assert_still_serving(hostile_channel)


@pytest.mark.parametrize(
    ("width", "height"),
    [
        pytest.param(20, 1000, id="20x1000 at the aspect limit"),
        pytest.param(1000, 20, id="1000x20 at the aspect limit"),
        pytest.param(44_700, 894, id="40 MP at the aspect limit"),
        pytest.param(894, 44_700, id="40 MP portrait at the aspect limit"),
    ],
)
def test_strips_at_the_limits_are_read_with_bounded_resizes(
    inference, hostile_channel: grpc.Channel, width: int, height: int
) -> None:
    response = inference.Process(
        types_pb2.ProcessRequest(image=_png(_strip(height, width)), options=_REFERENCE),
        timeout=_READ_TIMEOUT_S,
    )
    assert (response.image_width, response.image_height) == (width, height)
    assert_still_serving(hostile_channel)


def test_a_date_on_a_strip_at_the_aspect_limit_is_read(inference, hostile_channel: grpc.Channel) -> None:
    strip = np.full((48, 2400, 3), 255, np.uint8)
    cv2.putText(strip, _DATE_TEXT, (20, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 3, cv2.LINE_AA)
    response = inference.Process(
        types_pb2.ProcessRequest(image=_png(strip), options=_REFERENCE), timeout=_READ_TIMEOUT_S
    )
    assert response.best_date.date == _DATE
    assert_still_serving(hostile_channel)


def test_dark_text_on_a_transparent_png_is_read(inference, hostile_channel: grpc.Channel) -> None:
    rgba = np.zeros((240, 640, 4), np.uint8)  # transparent black, as most editors store it
    cv2.putText(rgba, _DATE_TEXT, (40, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.8, (30, 30, 30, 255), 4, cv2.LINE_AA)
    response = inference.Process(
        types_pb2.ProcessRequest(image=_png(rgba), options=_REFERENCE), timeout=_READ_TIMEOUT_S
    )
    assert response.status == types_pb2.PROCESS_STATUS_FOUND
    assert response.best_date.date == _DATE
    assert_still_serving(hostile_channel)


def _junk() -> bytes:
    return np.random.default_rng(11).bytes(1024)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_an_image_with_1kb_after_its_end_marker_is_read_as_normal(
    inference, hostile_channel: grpc.Channel, fmt: str
) -> None:
    if fmt == "jpeg":
        data = render_label(["Use by", _DATE_TEXT], seed=4)
    else:
        data = _png(render_label_image(["Use by", _DATE_TEXT], seed=4))
    plain = inference.Process(
        types_pb2.ProcessRequest(image=data, options=_REFERENCE), timeout=_READ_TIMEOUT_S
    )
    padded = inference.Process(
        types_pb2.ProcessRequest(image=data + _junk(), options=_REFERENCE), timeout=_READ_TIMEOUT_S
    )
    assert padded.best_date.date == plain.best_date.date == _DATE
    assert [line.text for line in padded.ocr_lines] == [line.text for line in plain.ocr_lines]
    assert_still_serving(hostile_channel)


def _png_inflating_to_1_gib() -> bytes:
    """An 840x640 RGB PNG (1.6 MB of image data) whose one IDAT chunk, 1 MB, inflates to 1 GiB of zeros.

    Built in a fraction of a second: after a full flush the compressor starts afresh, so each 16 MiB
    of zeros compresses to the same bytes, written 64 times between a zlib header and trailer.
    """
    zeros = bytes(16 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: the zlib framing is added here
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(64):
        adler = zlib.adler32(zeros, adler)
    stream = b"\x78\xda" + block * 64 + compressor.flush() + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", 840, 640, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")
    )


def test_pngs_inflating_to_1_gib_are_refused_and_a_normal_call_is_still_served(
    inference, hostile_channel: grpc.Channel
) -> None:
    bomb = _png_inflating_to_1_gib()
    assert len(bomb) < 1_100_000

    def send() -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as raised:
            inference.Process(types_pb2.ProcessRequest(image=bomb), timeout=_REFUSE_TIMEOUT_S)
        return raised.value

    with ThreadPoolExecutor(max_workers=3) as pool:  # three at once stalled a normal call for 13 s
        refusals = list(pool.map(lambda _: send(), range(3)))
    for refusal in refusals:
        assert refusal.code() == grpc.StatusCode.INVALID_ARGUMENT, refusal.details()
        assert bad_request_fields(refusal) == ["image"]
        assert "PNG image data inflates beyond its 840 x 640 size" in (refusal.details() or "")
    response = inference.Process(
        types_pb2.ProcessRequest(image=render_label(["Use by", _DATE_TEXT], seed=4), options=_REFERENCE),
        timeout=_READ_TIMEOUT_S,
    )
    assert response.best_date.date == _DATE
    assert_still_serving(hostile_channel)
