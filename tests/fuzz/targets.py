"""Fuzz targets: what a caller's bytes reach before any model runs.

Each target takes one fuzzer input (bytes) and raises only when it finds a bug. What the code under
test may do with hostile input is refuse it the documented way (``pipeline.InvalidInput``, which the
server answers INVALID_ARGUMENT); any other exception is what the server would answer INTERNAL, so
it escapes and the fuzzer reports it as a crash. Hangs and unbounded allocations are caught by the
fuzzer's own limits (``-timeout``, ``-rss_limit_mb``, ``-malloc_limit_mb``; see ``tests/fuzz/__main__.py``).

- ``decode``: ``pipeline.decode.decode_image``, the first thing an uploaded photo meets. Inputs are
  raw file bytes; the seed corpus holds small real JPEG, PNG, WebP and BMP files, damaged ones and
  files with bytes after their end marker.
- ``dates``: ``pipeline.dates.parse_dates`` over arbitrary Unicode text (what OCR could return)
  with a reference date in the range the server accepts, in every date order. Besides not raising,
  every date found must lie inside the parser's year window and the best date must be one of the
  candidates.
- ``request``: the wire-to-pipeline conversion of ``server.convert``: the bytes are parsed as each
  request message a caller sends (a protobuf ``DecodeError`` is the gRPC layer's refusal) and the
  result is converted as the services do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from google.protobuf.message import DecodeError

from datalid.v1 import expiry_date_service_pb2, job_service_pb2, types_pb2
from pipeline import DateOrder, InvalidInput
from pipeline.config import DecodeLimits
from pipeline.dates import parse_dates
from pipeline.decode import decode_image
from server import convert

__all__ = ["REQUEST_TYPES", "TARGETS", "fuzz_dates", "fuzz_decode", "fuzz_request"]

# The server's defaults (pipeline.config.DecodeLimits), so the fuzzer explores what a caller can reach.
_LIMITS = DecodeLimits()
# The reference dates a caller may send (server.convert); the parser is only ever called inside it.
_REFERENCE_MIN = dt.date(1970, 1, 1)
_REFERENCE_SPAN_DAYS = (dt.date(9000, 12, 31) - _REFERENCE_MIN).days
_ORDERS = tuple(DateOrder)
# The server's "today" for conversions: fixed, so a crash reproduces.
_TODAY = dt.date(2026, 11, 30)


def fuzz_decode(data: bytes) -> None:
    """Decodes ``data`` as an uploaded photo; refusals are fine, anything else is a bug."""
    try:
        image = decode_image(data, _LIMITS)
    except InvalidInput:
        return
    height, width, channels = image.shape
    if channels != 3 or height * width > _LIMITS.max_image_pixels:
        raise AssertionError(f"decoded {image.shape}, outside the limits")


def _reference_date(seed: bytes) -> dt.date:
    days = int.from_bytes(seed, "little") % (_REFERENCE_SPAN_DAYS + 1)
    return _REFERENCE_MIN + dt.timedelta(days=days)


def fuzz_dates(data: bytes) -> None:
    """Parses the text in ``data[4:]`` with a reference date and order drawn from ``data[:4]``."""
    if len(data) < 4:
        return
    reference = _reference_date(data[:3])
    order = _ORDERS[data[3] % len(_ORDERS)]
    text = data[4:].decode("utf-8", errors="replace")
    result = parse_dates(text, reference, order)
    earliest, latest = reference.year - 15, reference.year + 15
    for candidate in result.candidates:
        # Year-less dates may roll into the next year; printed ones must lie in the window.
        if not earliest <= candidate.date.year <= latest + 1:
            raise AssertionError(f"{candidate.date} outside the window of {reference}: {text!r}")
    if result.best is not None and result.best not in result.candidates:
        raise AssertionError(f"best date {result.best} is not a candidate: {text!r}")


def _convert_process(message: types_pb2.ProcessRequest) -> None:
    convert.options_from_pb(message.options, _TODAY)


def _convert_url(message: expiry_date_service_pb2.ProcessUrlRequest) -> None:
    convert.options_from_pb(message.options, _TODAY)


def _convert_frame(message: expiry_date_service_pb2.Frame) -> None:
    convert.options_from_pb(message.options, _TODAY)
    convert.check_enum(message.drop_policy, expiry_date_service_pb2.DropPolicy, "drop_policy")


def _convert_job(message: job_service_pb2.CreateJobRequest) -> None:
    convert.options_from_pb(message.options, _TODAY)


def _convert_list(message: job_service_pb2.ListJobsRequest) -> None:
    convert.job_state_from_pb(message.state)


_REQUESTS: tuple[tuple[type, Callable], ...] = (
    (types_pb2.ProcessRequest, _convert_process),
    (expiry_date_service_pb2.ProcessUrlRequest, _convert_url),
    (expiry_date_service_pb2.Frame, _convert_frame),
    (job_service_pb2.CreateJobRequest, _convert_job),
    (job_service_pb2.ListJobsRequest, _convert_list),
)

REQUEST_TYPES: tuple[type, ...] = tuple(message_type for message_type, _ in _REQUESTS)


def fuzz_request(data: bytes) -> None:
    """Parses ``data[1:]`` as the request message ``data[0]`` picks and converts it as its service does."""
    if not data:
        return
    message_type, convert_one = _REQUESTS[data[0] % len(_REQUESTS)]
    try:
        message = message_type.FromString(data[1:])
    except DecodeError:
        return
    try:
        convert_one(message)
    except InvalidInput as refusal:
        if len(str(refusal)) > 1024:
            raise AssertionError(f"refusal echoes {len(str(refusal))} characters") from None


TARGETS: dict[str, Callable[[bytes], None]] = {
    "decode": fuzz_decode,
    "dates": fuzz_dates,
    "request": fuzz_request,
}
