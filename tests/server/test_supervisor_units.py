"""The supervisor's pieces without processes: Envoy's front-door bootstrap, the job runner's
reading of a worker's errors, the workers' flags, GetStats' sums."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from datalid.v1 import admin_service_pb2
from server.config import ServerConfig
from server.supervisor.control import _not_now, add_stats
from server.supervisor.front_door import STREAM_CLUSTER, UNARY_CLUSTER, FrontDoorConfig, render_bootstrap
from server.supervisor.supervise import worker_flags


def _bootstrap(tmp_path: Path) -> dict:
    config = FrontDoorConfig(
        listen_host="127.0.0.1",
        listen_port=0,
        control_socket=tmp_path / "control.sock",
        endpoints_dir=tmp_path,
        workers=2,
        calls_per_worker=4,
        pending_calls=8,
        max_stream_calls=128,
    )
    return yaml.safe_load(render_bootstrap(config))


def test_the_front_door_runs_four_calls_a_worker_and_refuses_more_with_a_retry_hint(tmp_path) -> None:
    bootstrap = _bootstrap(tmp_path)
    clusters = {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}
    unary = clusters[UNARY_CLUSTER]
    options = unary["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert options["explicit_http_config"]["http2_protocol_options"] == {"max_concurrent_streams": 4}
    limits = unary["circuit_breakers"]["thresholds"][0]
    assert (limits["max_requests"], limits["max_pending_requests"]) == (8, 8)
    assert unary["circuit_breakers"]["per_host_thresholds"] == [{"priority": "DEFAULT", "max_connections": 1}]
    # No outlier detection: a caller's deadline running out must never take a worker out.
    assert "outlier_detection" not in unary and "health_checks" not in unary
    assert clusters[STREAM_CLUSTER]["circuit_breakers"]["thresholds"][0]["max_requests"] == 128
    manager = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][1]["typed_config"]
    mappers = manager["local_reply_config"]["mappers"]
    assert [m["filter"]["response_flag_filter"]["flags"] for m in mappers] == [["UO"], ["UH"]]
    for mapper in mappers:
        headers = {h["header"]["key"]: h["header"]["value"] for h in mapper["headers_to_add"]}
        encoded = headers["grpc-status-details-bin"]
        status = status_pb2.Status.FromString(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))
        assert _not_now(status), "a refusal a job runner tries again later"
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    process = next(r for r in routes if r["match"].get("path") == "/datalid.v1.ExpiryDateService/Process")
    assert process["request_body_buffer_limit"] == 4 * 1024 * 1024
    assert process["request_headers_to_add"][0]["header"]["key"] == "x-datalid-arrived"
    assert process["route"]["max_stream_duration"] == {"grpc_timeout_header_max": "0s"}


def test_a_worker_refusal_is_not_now_and_a_broken_call_is_not() -> None:
    overloaded = status_pb2.Status(code=8)
    overloaded.details.add().Pack(error_details_pb2.ErrorInfo(reason="OVERLOADED", domain="datalid.v1"))
    stopping = status_pb2.Status(code=14)
    stopping.details.add().Pack(error_details_pb2.ErrorInfo(reason="SHUTTING_DOWN", domain="datalid.v1"))
    hinted = status_pb2.Status(code=14)
    hinted.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1)))
    invalid = status_pb2.Status(code=3)
    invalid.details.add().Pack(error_details_pb2.ErrorInfo(reason="INVALID_INPUT", domain="datalid.v1"))
    assert _not_now(overloaded) and _not_now(stopping) and _not_now(hinted)
    assert not _not_now(status_pb2.Status(code=14, message="upstream reset: connection termination"))
    assert not _not_now(invalid)


def test_workers_get_their_share_and_room_for_the_supervisors_checks() -> None:
    flags = worker_flags(ServerConfig(rate_limit_rps=10.0, rate_limit_burst=5), 2, "dlk_secret")
    values = dict(zip(flags[::2], flags[1::2], strict=True))
    assert values["--workers"] == "1" and values["--port"] == "0" and values["--serve-jobs"] == "false"
    assert values["--rate-limit-rps"] == "5" and values["--rate-limit-burst"] == "3"
    assert values["--supervisor-key-hash"].startswith("sha256:") and "dlk_secret" not in flags
    share = 4 * int(values["--max-concurrency"])
    assert int(values["--max-pending-images"]) == 2 * share
    assert int(values["--max-concurrent-rpcs"]) > 64 + share
    assert values["--tls-cert-file"] == "" and values["--pid-file"] == ""


def test_get_stats_adds_the_workers_up() -> None:
    one = admin_service_pb2.Stats(requests_total=3, images_processed_total=2)
    one.since.FromSeconds(200)
    one.models.add(name="ocr_rec", inference_count=5, execution_count=2, batch_size_counts={1: 1, 4: 1})
    two = admin_service_pb2.Stats(requests_total=4, images_processed_total=4)
    two.since.FromSeconds(100)
    two.models.add(name="ocr_rec", inference_count=7, execution_count=3, batch_size_counts={4: 2})
    total = add_stats([one, two])
    assert (total.requests_total, total.images_processed_total, total.since.seconds) == (7, 6, 100)
    (model,) = total.models
    assert (model.inference_count, model.execution_count, dict(model.batch_size_counts)) == (
        12,
        5,
        {1: 1, 4: 3},
    )
