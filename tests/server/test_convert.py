"""The conversion layer's checks of what callers send: enum numbers, reference dates, picture budgets."""

from __future__ import annotations

import datetime as dt

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from datalid.v1 import admin_service_pb2, expiry_date_service_pb2, job_service_pb2, types_pb2
from pipeline import InvalidInput
from pipeline.dates import parse_dates
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
    convert.fit_pictures(batch, [item.result for item in batch.items], limit)
    assert batch.ByteSize() <= limit
    kept = [not item.result.pictures_omitted for item in batch.items]
    assert kept == [True] * 3 + [False] * 17  # each item carries 20 KB of pictures
    assert all(item.result.best_date.date == "2026-11-16" for item in batch.items)
    assert all(not item.result.visualization_jpeg for item in batch.items[3:])


def test_a_message_that_fits_is_left_alone() -> None:
    response = _response(10_000)
    convert.fit_pictures(response, [response], 65_536)
    assert not response.pictures_omitted and len(response.visualization_jpeg) == 10_000
    convert.fit_pictures(response, [response], 1024)
    assert response.pictures_omitted and not response.crops_jpeg
