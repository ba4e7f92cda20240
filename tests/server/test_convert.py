"""The conversion layer's checks of what callers send: enum numbers, reference dates, picture budgets."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from datalid.v1 import admin_service_pb2, expiry_date_service_pb2, job_service_pb2, types_pb2
from datalid_client import _convert as client_convert
from pipeline import InvalidInput
from pipeline.dates import parse_dates
from pipeline.types import ProcessResult, ProcessStatus, StageTimings
from server import convert

TODAY = dt.date(2026, 11, 1)

# Every enum field a request can carry, and the check that refuses an unknown number in it.
CHECKED_ENUM_FIELDS = {
    "ProcessOptions.date_order": lambda n: convert.options_from_pb(
        types_pb2.ProcessOptions(date_order=n), TODAY
    ),
    "Frame.drop_policy": lambda n: convert.drop_policy_from_pb(expiry_date_service_pb2.Frame(drop_policy=n)),
    "ListJobsRequest.state": convert.job_state_from_pb,
}
FIELD_NAMES = {
    "ProcessOptions.date_order": "options.date_order",
    "Frame.drop_policy": "drop_policy",
    "ListJobsRequest.state": "state",
}


def _enum_fields(message: Descriptor, seen: set[str]) -> set[str]:
    if message.full_name in seen or message.full_name.startswith("google."):
        return set()
    seen.add(message.full_name)
    found = set()
    for field in message.fields:
        if field.type == FieldDescriptor.TYPE_ENUM:
            found.add(f"{message.name}.{field.name}")
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            found |= _enum_fields(field.message_type, seen)
    return found


def test_every_enum_field_of_every_request_is_checked() -> None:
    # A new enum field in a request fails here until the conversion layer checks it.
    seen: set[str] = set()
    found: set[str] = set()
    for module in (expiry_date_service_pb2, job_service_pb2, admin_service_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found |= _enum_fields(method.input_type, seen)
    assert found == set(CHECKED_ENUM_FIELDS)


@pytest.mark.parametrize("name", sorted(CHECKED_ENUM_FIELDS))
def test_an_unknown_enum_number_is_invalid_input_naming_the_field(name: str) -> None:
    for number in (99, -1, 2**31 - 1):
        with pytest.raises(InvalidInput) as refused:
            CHECKED_ENUM_FIELDS[name](number)
        assert refused.value.field == FIELD_NAMES[name]
        assert str(number) in refused.value.description
    CHECKED_ENUM_FIELDS[name](0)  # UNSPECIFIED is a value: the default


def test_drop_policy_unspecified_reads_as_process_all() -> None:
    unspecified = expiry_date_service_pb2.Frame()
    assert convert.drop_policy_from_pb(unspecified) == expiry_date_service_pb2.DROP_POLICY_PROCESS_ALL
    latest = expiry_date_service_pb2.Frame(drop_policy=expiry_date_service_pb2.DROP_POLICY_LATEST)
    assert convert.drop_policy_from_pb(latest) == expiry_date_service_pb2.DROP_POLICY_LATEST


@pytest.mark.parametrize("text", ["20261101", "2026-W01-1", "2026-11-1", " 2026-11-01", "2026-11-01T00:00"])
def test_reference_dates_in_other_iso_forms_are_invalid_input(text: str) -> None:
    """Python's fromisoformat takes basic and week forms too; the API promises YYYY-MM-DD only."""
    with pytest.raises(InvalidInput) as refused:
        convert.options_from_pb(types_pb2.ProcessOptions(reference_date=text), TODAY)
    assert refused.value.field == "options.reference_date"
    assert "YYYY-MM-DD" in refused.value.description


@pytest.mark.parametrize("text", ["0001-01-01", "1969-12-31", "9001-01-01", "9999-12-31"])
def test_reference_dates_outside_the_range_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        convert.options_from_pb(types_pb2.ProcessOptions(reference_date=text), TODAY)
    assert refused.value.field == "options.reference_date"
    assert "1970-01-01" in refused.value.description and "9000-12-31" in refused.value.description


@pytest.mark.parametrize("reference", convert.REFERENCE_DATE_RANGE)
def test_the_parser_stays_in_range_at_both_ends_of_the_reference_range(reference: dt.date) -> None:
    options = convert.options_from_pb(types_pb2.ProcessOptions(reference_date=reference.isoformat()), TODAY)
    assert options.reference_date == reference
    # Year inference (29 February looks up to eight years ahead), printed years at the window's
    # edges and month-only dates: every date step the parser takes from the reference.
    years = (reference.year - 15, reference.year + 15, reference.year)
    texts = ["USE BY 12 AUG", "BEST BEFORE 29 FEB", "EXP 01/01", "EXP 31.12"]
    texts += [f"EXP {y:04d}-12-31" for y in years] + [f"EXP 12/{y:04d}" for y in years] + ["EXP 0000-01-01"]
    for text in texts:
        parse_dates(text, reference)  # must not raise


def _response(picture_bytes: int) -> types_pb2.ProcessResponse:
    return types_pb2.ProcessResponse(
        request_id="r",
        best_date=types_pb2.ParsedDate(date="2026-11-16"),
        visualization_jpeg=b"v" * picture_bytes,
        crops_jpeg=[b"c" * picture_bytes],
    )


def test_pictures_past_the_budget_are_left_out_and_said_so_earliest_first() -> None:
    batch = expiry_date_service_pb2.ProcessBatchResponse(
        items=[expiry_date_service_pb2.ProcessBatchItem(index=i, result=_response(10_000)) for i in range(20)]
    )
    limit = 65_536
    convert.fit_pictures(batch, limit)
    assert batch.ByteSize() <= limit
    kept = [not item.result.pictures_omitted for item in batch.items]
    assert kept == [True] * 3 + [False] * 17  # each item carries 20 KB of pictures
    assert all(item.result.best_date.date == "2026-11-16" for item in batch.items)
    assert all(not item.result.visualization_jpeg for item in batch.items[3:])


def test_a_message_that_fits_is_left_alone() -> None:
    response = _response(10_000)
    convert.fit_pictures(response, 65_536)
    assert not response.pictures_omitted and len(response.visualization_jpeg) == 10_000
    convert.fit_pictures(response, 1024)
    assert response.pictures_omitted and not response.crops_jpeg


def _old_fit_pictures(message, responses, limit_bytes: int) -> None:
    """The reference: ByteSize() after each response, as fit_pictures did before it computed sizes."""

    def omit(response: types_pb2.ProcessResponse) -> None:
        if response.visualization_jpeg or response.crops_jpeg:
            response.ClearField("visualization_jpeg")
            response.ClearField("crops_jpeg")
            response.pictures_omitted = True

    if message.ByteSize() <= limit_bytes:
        return
    pictures = [(r.visualization_jpeg, tuple(r.crops_jpeg)) for r in responses]
    for response in responses:
        omit(response)
    for response, (visualization, crops) in zip(responses, pictures, strict=True):
        if not (visualization or crops):
            continue
        response.visualization_jpeg = visualization
        response.crops_jpeg.extend(crops)
        response.pictures_omitted = False
        if message.ByteSize() > limit_bytes:
            omit(response)


# Lengths around the varint steps (127/128, 16383/16384) of a field's length and of the lengths of
# the messages around it, where a size computed off by one byte would show.
_LENGTHS = (0, 1, 100, 126, 127, 128, 129, 16_250, 16_383, 16_384, 16_500, 70_000)


def _random_response(rng: random.Random) -> types_pb2.ProcessResponse:
    response = types_pb2.ProcessResponse(
        request_id="r" * rng.choice((0, 1, 30)),
        best_date=types_pb2.ParsedDate(date="2026-11-16", text="x" * rng.choice(_LENGTHS[:6])),
        ocr_lines=[types_pb2.OcrLine(text="t" * rng.choice(_LENGTHS[:8])) for _ in range(rng.randrange(3))],
    )
    if rng.random() < 0.8:
        response.visualization_jpeg = b"v" * rng.choice(_LENGTHS)
    response.crops_jpeg.extend(b"c" * rng.choice(_LENGTHS) for _ in range(rng.randrange(4)))
    return response


def _random_message(rng: random.Random):
    shape = rng.randrange(4)
    if shape == 0:
        return _random_response(rng)
    if shape == 1:
        return expiry_date_service_pb2.FrameResult(
            frame_id=rng.randrange(10**6), result=_random_response(rng)
        )
    if shape == 2:
        return expiry_date_service_pb2.ProgressEvent(
            message="m" * rng.choice(_LENGTHS[:5]), result=_random_response(rng)
        )
    items = []
    for index in range(rng.randrange(1, 12)):
        if rng.random() < 0.2:
            error = convert.status_pb2.Status(code=3, message="e" * rng.choice(_LENGTHS[:8]))
            items.append(expiry_date_service_pb2.ProcessBatchItem(index=index, error=error))
        else:
            items.append(expiry_date_service_pb2.ProcessBatchItem(index=index, result=_random_response(rng)))
    return expiry_date_service_pb2.ProcessBatchResponse(items=items)


def _responses_of(message) -> list[types_pb2.ProcessResponse]:
    if isinstance(message, types_pb2.ProcessResponse):
        return [message]
    if isinstance(message, expiry_date_service_pb2.ProcessBatchResponse):
        return [item.result for item in message.items if item.HasField("result")]
    return [message.result]


def test_fit_pictures_keeps_what_sizing_by_byte_size_keeps_on_random_messages() -> None:
    rng = random.Random(11)
    for _ in range(400):
        message = _random_message(rng)
        full = message.ByteSize()
        # Limits at, around and between every size the message can take while pictures come back.
        limit = rng.choice((full, full - 1, full + 1, rng.randrange(1, full + 2), rng.randrange(1, 400)))
        expected = type(message)()
        expected.CopyFrom(message)
        _old_fit_pictures(expected, _responses_of(expected), limit)
        convert.fit_pictures(message, limit)
        assert message == expected, (limit, full)
        assert message.ByteSize() == expected.ByteSize()


def test_fit_pictures_exact_at_the_limit() -> None:
    # Two items, each 20 KB of pictures: a limit one byte short of both is one item's pictures.
    batch = expiry_date_service_pb2.ProcessBatchResponse(
        items=[expiry_date_service_pb2.ProcessBatchItem(index=i, result=_response(10_000)) for i in range(2)]
    )
    full = batch.ByteSize()
    convert.fit_pictures(batch, full)
    assert not any(item.result.pictures_omitted for item in batch.items)
    convert.fit_pictures(batch, full - 1)
    assert [item.result.pictures_omitted for item in batch.items] == [False, True]


@pytest.mark.parametrize("turned", [0, 90, 270])
def test_a_photo_read_turned_says_so_on_the_wire_and_in_the_sdk(turned: int) -> None:
    result = ProcessResult(ProcessStatus.NOT_FOUND, 640, 480, StageTimings(), read_turned_deg=turned)
    response = convert.result_to_pb(result, "req-1")
    assert response.read_turned_deg == turned
    assert client_convert.result_from_pb(response).read_turned_deg == turned


def test_max_detections_above_the_limit_is_invalid_argument_naming_the_field() -> None:
    limit = convert.MAX_DETECTIONS_LIMIT
    options = convert.options_from_pb(types_pb2.ProcessOptions(max_detections=limit), TODAY)
    assert options.max_detections == limit
    for asked in (limit + 1, 1_000_000, 2**31 - 1, 0, -1):
        with pytest.raises(InvalidInput) as refused:
            convert.options_from_pb(types_pb2.ProcessOptions(max_detections=asked), TODAY)
        assert refused.value.field == "options.max_detections"
        assert str(limit) in refused.value.description
    with pytest.raises(InvalidInput):
        convert.options_from_pb(types_pb2.ProcessOptions(max_detections=6), TODAY, max_detections_limit=5)
    assert (
        convert.options_from_pb(types_pb2.ProcessOptions(), TODAY, max_detections_limit=5).max_detections
        is None
    )
