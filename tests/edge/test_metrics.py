"""Prometheus metrics of the real edge server move after calls (scraped and parsed)."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import time
import typing
import urllib.request
from unittest import mock

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from datalid.v1 import expiry_date_service_pb2, expiry_date_service_pb2_grpc, types_pb2
from pipeline.synth import render_label
from server.edge.interceptors.metrics import _CountingContext, _declared_streaming
from server.edge.metrics import HistogramSnapshot, ModelStatsSnapshot, ServerMetrics
from tests.edge.conftest import http

pytestmark = pytest.mark.slow


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _get(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_and_histograms_move_after_calls(edge_server, metrics_url, secrets) -> None:
    process = {"grpc_type": "unary", "grpc_service": "datalid.v1.ExpiryDateService", "grpc_method": "Process"}
    before = _scrape(metrics_url)
    with grpc.insecure_channel(edge_server.target) as channel:
        stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        image = render_label(["Use by", "16 NOV"], seed=7)
        metadata = [("x-api-key", secrets.keys["metrics"])]
        stub.Process(types_pb2.ProcessRequest(image=image), metadata=metadata, timeout=60)
        with pytest.raises(grpc.RpcError):
            stub.Process(types_pb2.ProcessRequest(image=image), timeout=60)  # no key
    # A refused call's status reaches the client before the server's interceptors unwind and
    # count it: scrape until the last count is in (bounded), then check everything.
    deadline = time.monotonic() + 30
    while True:
        after = _scrape(metrics_url)
        if (
            _get(after, "grpc_server_handling_seconds_count", **process)
            >= _get(before, "grpc_server_handling_seconds_count", **process) + 2
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.05)

    def delta(name: str, **labels: str) -> float:
        return _get(after, name, **labels) - _get(before, name, **labels)

    assert delta("grpc_server_started_total", **process) == 2
    assert delta("grpc_server_handled_total", **process, grpc_code="OK") == 1
    assert delta("grpc_server_handled_total", **process, grpc_code="UNAUTHENTICATED") == 1
    assert delta("grpc_server_handling_seconds_count", **process) == 2
    assert delta("grpc_server_handling_seconds_sum", **process) > 0
    assert delta("grpc_server_handling_seconds_bucket", **process, le="+Inf") == 2
    assert delta("datalid_images_processed_total") == 1
    assert delta("datalid_dates_found_total", kind="expiry") >= 1
    assert (
        _get(after, "grpc_server_in_flight", grpc_service=process["grpc_service"], grpc_method="Process") == 0
    )
    # The model batchers' own counters come through the composition root's stats source.
    for model in ("ocr_det", "ocr_rec"):
        assert delta("datalid_model_inference_count_total", model=model) >= 1
        assert delta("datalid_model_exec_count_total", model=model) >= 1
        assert delta("datalid_model_batch_size_count", model=model) >= 1
        assert delta("datalid_model_compute_seconds_sum", model=model) > 0


def test_streams_written_by_their_handler_are_counted(edge_server, metrics_url, secrets) -> None:
    """ProcessWithProgress and StreamFrames send with ``context.write``, not by yielding: their
    results count as images, and the calls are labelled as the streams they are."""
    progress = {
        "grpc_type": "server_stream",
        "grpc_service": "datalid.v1.ExpiryDateService",
        "grpc_method": "ProcessWithProgress",
    }
    frames = {**progress, "grpc_type": "bidi_stream", "grpc_method": "StreamFrames"}
    image = render_label(["Use by", "16 NOV"], seed=7)
    metadata = [("x-api-key", secrets.keys["metrics"])]
    before = _scrape(metrics_url)
    with grpc.insecure_channel(edge_server.target) as channel:
        stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
        events = list(
            stub.ProcessWithProgress(types_pb2.ProcessRequest(image=image), metadata=metadata, timeout=60)
        )
        camera = iter([expiry_date_service_pb2.Frame(frame_id=n, image=image) for n in (1, 2)])
        results = list(stub.StreamFrames(camera, metadata=metadata, timeout=60))
    assert events[-1].HasField("result") and len(results) == 2
    deadline = time.monotonic() + 30
    while True:
        after = _scrape(metrics_url)
        done = _get(after, "grpc_server_handled_total", **frames, grpc_code="OK") > _get(
            before, "grpc_server_handled_total", **frames, grpc_code="OK"
        )
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert _get(after, "datalid_images_processed_total") - _get(before, "datalid_images_processed_total") == 3
    for labels in (progress, frames):
        delta = _get(after, "grpc_server_handled_total", **labels, grpc_code="OK") - _get(
            before, "grpc_server_handled_total", **labels, grpc_code="OK"
        )
        assert delta == 1, labels
        assert (
            _get(
                after,
                "datalid_streams_open",
                grpc_service=labels["grpc_service"],
                grpc_method=labels["grpc_method"],
            )
            == 0
        )


def test_rest_calls_are_counted_too(rest, metrics_url, secrets) -> None:
    info = {"grpc_type": "unary", "grpc_service": "datalid.v1.AdminService", "grpc_method": "GetServerInfo"}
    before = _scrape(metrics_url)
    body = json.dumps({"image": base64.b64encode(b"nope").decode()}).encode()
    assert http("POST", rest + "/v1/process", body, {"x-api-key": secrets.keys["metrics"]}).status == 400
    assert http("GET", rest + "/v1/info", headers={"x-api-key": secrets.keys["metrics"]}).status == 200
    after = _scrape(metrics_url)
    key = ("grpc_server_handled_total", tuple(sorted({**info, "grpc_code": "OK"}.items())))
    assert after[key] - before.get(key, 0.0) == 1


def test_model_stats_are_read_through_the_source() -> None:
    from prometheus_client import generate_latest

    snapshot = ModelStatsSnapshot(
        name="ocr_rec",
        inference_count=12,
        exec_count=5,
        queue_seconds=HistogramSnapshot([(0.001, 3), (0.01, 5), (float("inf"), 5)], 0.02),
        batch_size=HistogramSnapshot.from_counts({1: 2, 4: 2, 8: 1}),
    )
    metrics = ServerMetrics(model_stats=lambda: [snapshot], job_counts=lambda: {"QUEUED": 2, "RUNNING": 1})
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for s in family.samples
    }
    assert _get(samples, "datalid_model_inference_count_total", model="ocr_rec") == 12
    assert _get(samples, "datalid_model_exec_count_total", model="ocr_rec") == 5
    assert _get(samples, "datalid_model_queue_seconds_bucket", model="ocr_rec", le="0.01") == 5
    assert _get(samples, "datalid_model_batch_size_sum", model="ocr_rec") == 1 * 2 + 4 * 2 + 8
    assert _get(samples, "datalid_model_batch_size_count", model="ocr_rec") == 5
    assert _get(samples, "datalid_jobs", state="QUEUED") == 2


def test_declared_streaming_is_looked_up_once_per_method() -> None:
    _declared_streaming.cache_clear()
    for _ in range(3):
        assert _declared_streaming("datalid.v1.ExpiryDateService", "ProcessWithProgress") == (False, True)
    assert _declared_streaming("datalid.v1.ExpiryDateService", "StreamFrames") == (True, True)
    assert _declared_streaming("datalid.v1.ExpiryDateService", "NoSuchMethod") is None
    info = _declared_streaming.cache_info()
    assert (info.misses, info.hits) == (3, 2)
    assert info.maxsize is not None  # bounded, whatever is served


def test_the_counting_context_is_a_servicer_context_delegating_every_method() -> None:
    """It stands in for the call's context: every method of grpc.aio.ServicerContext reaches the
    call's own with the same arguments and answers what it answers; ``write`` counts first."""
    counted: list[object] = []
    inner = mock.create_autospec(grpc.aio.ServicerContext, instance=True)
    proxy = _CountingContext(inner, counted.append)
    assert isinstance(proxy, grpc.aio.ServicerContext)
    names = sorted(name for name in dir(grpc.aio.ServicerContext) if not name.startswith("_"))
    assert len(names) >= 22
    for name in names:
        signature = inspect.signature(getattr(grpc.aio.ServicerContext, name))
        args = [getattr(mock.sentinel, f"{name}_{param}") for param in list(signature.parameters)[1:]]
        answer = getattr(proxy, name)(*args)
        if inspect.isawaitable(answer):
            answer = asyncio.run(answer)
        delegate = getattr(inner, name)
        delegate.assert_called_once_with(*args)
        if signature.return_annotation not in (None, typing.NoReturn):
            assert answer is delegate.return_value, name
    assert counted == [mock.sentinel.write_message]
