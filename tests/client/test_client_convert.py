"""_convert.py both ways: SDK options -> wire (proto3 presence kept), wire results -> SDK dataclasses."""

from __future__ import annotations

import datetime as dt

import pytest
from google.rpc import status_pb2
from hypothesis import given
from hypothesis import strategies as st

from datalid.v1 import admin_service_pb2, expiry_date_service_pb2, types_pb2
from datalid_client import (
    BoundingBox,
    DateKind,
    DateOrder,
    DatePrecision,
    DeadlineExceeded,
    ModelState,
    ProcessOptions,
    ProcessStatus,
    ProgressStage,
    StageTimings,
    _convert,
)
from tests.client.fakes import canned_response

_OPTIONAL = ("detection_confidence", "detection_iou", "max_detections", "full_image_fallback")


def test_default_options_leave_every_optional_field_unset() -> None:
    pb = _convert.options_to_pb(ProcessOptions())
    for name in _OPTIONAL:
        assert not pb.HasField(name), name
    assert pb.reference_date == ""
    assert pb.date_order == types_pb2.DATE_ORDER_UNSPECIFIED
    assert not pb.return_visualization and not pb.return_crops


def test_zero_and_false_options_are_sent_as_present() -> None:
    """0.0 and False are real values, not "unset": presence must survive them."""
    pb = _convert.options_to_pb(
        ProcessOptions(detection_confidence=0.0, detection_iou=0.0, full_image_fallback=False)
    )
    assert pb.HasField("detection_confidence") and pb.detection_confidence == 0.0
    assert pb.HasField("detection_iou") and pb.detection_iou == 0.0
    assert pb.HasField("full_image_fallback") and pb.full_image_fallback is False
    assert not pb.HasField("max_detections")


def test_every_option_is_converted() -> None:
    options = ProcessOptions(
        detection_confidence=0.25,
        detection_iou=0.5,
        max_detections=3,
        return_visualization=True,
        return_crops=True,
        full_image_fallback=True,
        reference_date=dt.date(2026, 2, 28),
        date_order="MDY",
    )
    pb = _convert.options_to_pb(options)
    assert pb.detection_confidence == 0.25
    assert pb.detection_iou == 0.5
    assert pb.max_detections == 3
    assert pb.return_visualization and pb.return_crops and pb.full_image_fallback
    assert pb.reference_date == "2026-02-28"
    assert pb.date_order == types_pb2.DATE_ORDER_MDY
    assert _convert.options_from_pb(pb) == options


def test_request_without_options_leaves_options_unset() -> None:
    assert not _convert.process_request_to_pb(b"img", None).HasField("options")
    assert _convert.process_request_to_pb(b"img", ProcessOptions()).HasField("options")


# Values a float32 field carries exactly, so the round trip can compare with ==.
_unit = st.sampled_from([0.0, 0.125, 0.25, 0.5, 0.75, 1.0])


@given(
    confidence=st.none() | _unit,
    iou=st.none() | _unit,
    max_detections=st.none() | st.integers(1, 2**31 - 1),
    visualization=st.booleans(),
    crops=st.booleans(),
    fallback=st.none() | st.booleans(),
    reference=st.none() | st.dates(dt.date(1900, 1, 1), dt.date(2999, 12, 31)),
    order=st.none() | st.sampled_from(list(DateOrder)),
)
def test_options_round_trip(
    confidence: float | None,
    iou: float | None,
    max_detections: int | None,
    visualization: bool,
    crops: bool,
    fallback: bool | None,
    reference: dt.date | None,
    order: DateOrder | None,
) -> None:
    options = ProcessOptions(
        detection_confidence=confidence,
        detection_iou=iou,
        max_detections=max_detections,
        return_visualization=visualization,
        return_crops=crops,
        full_image_fallback=fallback,
        reference_date=reference,
        date_order=order,
    )
    wire = types_pb2.ProcessOptions.FromString(_convert.options_to_pb(options).SerializeToString())
    assert _convert.options_from_pb(wire) == options


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"detection_confidence": 1.5}, "detection_confidence must be between 0 and 1, got 1.5"),
        ({"detection_iou": -0.1}, "detection_iou must be between 0 and 1, got -0.1"),
        ({"max_detections": 0}, "max_detections must be >= 1, got 0"),
        ({"date_order": "DDMMYY"}, "date_order must be one of DMY, MDY, YMD, got 'DDMMYY'"),
        ({"reference_date": "2026-01-01"}, "reference_date must be a datetime.date"),
    ],
)
def test_invalid_options_name_the_field_and_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ProcessOptions(**kwargs)  # type: ignore[arg-type]


def test_date_order_string_becomes_the_enum() -> None:
    assert ProcessOptions(date_order="YMD").date_order is DateOrder.YMD


def test_full_result_from_pb() -> None:
    result = _convert.result_from_pb(canned_response(visualization_jpeg=b"viz"))
    assert result.request_id == "req-1"
    assert result.status is ProcessStatus.FOUND
    best = result.best_date
    assert best is not None
    assert best.date == dt.date(2026, 12, 31)
    assert best.kind is DateKind.EXPIRY
    assert best.precision is DatePrecision.DAY
    assert best.confidence == 0.875
    assert best.text == "EXP 31/12/2026"
    assert (best.is_expired, best.days_until_expiry, best.year_inferred) == (False, 36, False)
    assert result.dates == (best,)
    assert result.detections[0].box == BoundingBox(10, 20, 110, 60)
    assert (result.detections[0].confidence, result.detections[0].class_name) == (0.75, "date")
    assert result.ocr_lines[0].text == "EXP 31/12/2026"
    assert result.ocr_lines[0].detection_index == 0
    assert result.timings == StageTimings(1.5, 0.25, 14.0, 340.5, 0.5, 357.25)
    assert (result.image_width, result.image_height) == (840, 640)
    assert result.visualization_jpeg == b"viz"
    assert result.crops_jpeg == (b"crop-0",)


def test_empty_result_has_no_best_date_and_no_visualization() -> None:
    result = _convert.result_from_pb(types_pb2.ProcessResponse(status=types_pb2.PROCESS_STATUS_NOT_FOUND))
    assert result.status is ProcessStatus.NOT_FOUND
    assert result.best_date is None
    assert result.dates == () and result.detections == () and result.crops_jpeg == ()
    assert result.visualization_jpeg is None
    assert result.timings == StageTimings()


def test_enum_numbers_from_a_newer_server_become_unspecified() -> None:
    pb = canned_response()
    pb.status = 42
    pb.best_date.kind = 42
    result = _convert.result_from_pb(pb)
    assert result.status is ProcessStatus.UNSPECIFIED
    assert result.best_date is not None and result.best_date.kind is DateKind.UNSPECIFIED


def test_results_are_frozen() -> None:
    result = _convert.result_from_pb(canned_response())
    with pytest.raises(AttributeError):
        result.status = ProcessStatus.PARTIAL  # type: ignore[misc]


def test_server_info_and_models_from_pb() -> None:
    info_pb = admin_service_pb2.ServerInfo(name="datalid", version="1.2.3", available_providers=["CPU"])
    info = _convert.server_info_from_pb(info_pb)
    assert (info.name, info.version, info.available_providers, info.started_at) == (
        "datalid",
        "1.2.3",
        ("CPU",),
        None,
    )
    info_pb.started_at.FromDatetime(dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC))
    assert _convert.server_info_from_pb(info_pb).started_at == dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)

    model = _convert.model_info_from_pb(
        admin_service_pb2.ModelInfo(
            name="rec",
            kind="ocr_rec",
            state=admin_service_pb2.MODEL_STATE_LOADING,
            outputs=[admin_service_pb2.TensorInfo(name="out", data_type="float32", shape=[-1, 40, 6625])],
        )
    )
    assert model.state is ModelState.LOADING
    assert model.outputs[0].shape == (-1, 40, 6625)


def test_a_failed_progress_event_carries_its_error() -> None:
    pb = expiry_date_service_pb2.ProgressEvent(
        stage=expiry_date_service_pb2.PROGRESS_STAGE_FAILED,
        elapsed_ms=12.5,
        message="failed",
        error=status_pb2.Status(code=4, message="the deadline passed"),
    )
    event = _convert.progress_event_from_pb(pb)
    assert event.stage is ProgressStage.FAILED and event.result is None
    assert isinstance(event.error, DeadlineExceeded) and "deadline passed" in str(event.error)
