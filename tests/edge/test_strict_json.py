"""The REST door's strict check (server/rest/strict_json.py) and how the sidecar wires it into Envoy."""

from __future__ import annotations

import json
import urllib.request

import pytest
import yaml

from server.rest.sidecar import SidecarConfig, render_config
from server.rest.strict_json import (
    StrictJsonService,
    api_routes,
    check_body,
    check_query,
    match_route,
    raw_body_paths,
)


def _route(verb: str, path: str):
    route = match_route(api_routes(), verb, path)
    assert route is not None, (verb, path)
    return route


def test_routes_come_from_the_http_annotations() -> None:
    routes = api_routes()
    assert len(routes) == 15  # every google.api.http rule of the three services
    assert raw_body_paths() == ("/v1/process:upload",)
    assert _route("POST", "/v1/jobs/0a1b:cancel").message.name == "CancelJobRequest"
    assert _route("GET", "/v1/jobs/0a1b").message.name == "GetJobRequest"
    assert _route("GET", "/v1/jobs/0a1b:watch").message.name == "WatchJobRequest"
    assert _route("POST", "/v1/process?x=1").message.name == "ProcessRequest"
    assert match_route(api_routes(), "POST", "/v1/jobs/a/b:cancel") is None
    assert match_route(api_routes(), "PUT", "/v1/process") is None


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (b'{"imagee": ""}', "imagee", "unknown field; ProcessRequest has: image, options"),
        (b'{"options": {"ref_date": "2026-01-01"}}', "options.ref_date", "unknown field"),
        (b'{"options": {"dateOrder": "NOPE"}}', "options.date_order", "Invalid enum value NOPE"),
        (b'{"options": {"max_detections": 1.5}}', "options.max_detections", "expected an integer"),
        (b'{"options": {"return_crops": "yes"}}', "options.return_crops", "Expected true or false"),
        (b'{"image": 5}', "image", "expected a base64 string"),
        (b'{"image": "a%b="}', "image", "not base64 (4 characters)"),
        (b'{"image": "abcde"}', "image", "not base64"),
        (b"[1, 2]", "body", "expected a JSON object (ProcessRequest)"),
        (b'{"image": ', "body", "not valid JSON"),
        (b"\xff\xfe", "body", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "body", "JSON nested"),
    ],
)
def test_a_bad_body_is_named(body: bytes, field: str, words: str) -> None:
    error = check_body(_route("POST", "/v1/process"), body)
    assert error is not None and error.field == field, error
    assert words in error.description, error.description


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b'{"image": "aGVsbG8=", "options": {"referenceDate": "2026-01-01", "date_order": 2}}',
        b'{"image": "aGVsbG8", "options": {"max_detections": "3", "return_crops": true}}',
        b'{"image": "-_-_"}',  # URL-safe base64
    ],
)
def test_a_good_body_passes(body: bytes) -> None:
    assert check_body(_route("POST", "/v1/process"), body) is None


def test_a_batch_element_is_named_by_index_and_uploads_are_not_json() -> None:
    error = check_body(_route("POST", "/v1/process:batch"), b'[{"image": ""}, {"options": {"x": 1}}]')
    assert error is not None and error.field == "[1].options.x"
    assert check_body(_route("POST", "/v1/process:upload"), b"\xff\xd8 not json at all") is None


def test_a_megabyte_value_is_cut_in_the_error() -> None:
    error = check_body(_route("POST", "/v1/process"), json.dumps({"image": "%" * 2**20}).encode())
    assert error is not None and len(error.description) < 100
    error = check_body(
        _route("POST", "/v1/process"), json.dumps({"options": {"dateOrder": "N" * 2**20}}).encode()
    )
    assert error is not None and len(str(error)) < 300


@pytest.mark.parametrize(
    ("verb", "path", "query", "field", "words"),
    [
        ("GET", "/v1/jobs", "colour=blue", "colour", "ListJobsRequest has: state, page_size, page_token"),
        ("GET", "/v1/jobs", "page_size=x", "page_size", "expected an integer"),
        ("GET", "/v1/jobs", "state=DONE", "state", "DONE; one of JOB_STATE_UNSPECIFIED"),
        ("GET", "/v1/jobs/abc", "job_id=other", "job_id", "set by the request path"),
        ("POST", "/v1/process", "image=aGVsbG8=", "image", "takes its fields in the JSON body"),
        (
            "POST",
            "/v1/process:upload",
            "reference_date=2026-01-01",
            "reference_date",
            "options.reference_date?",
        ),
        ("POST", "/v1/process:upload", "body.data=aGVsbG8=", "body.data", "set by the request body"),
        ("POST", "/v1/process:upload", "options=1", "options", "not a scalar field"),
        ("POST", "/v1/process:upload", "options.return_crops=yes", "options.return_crops", "true or false"),
        ("GET", "/v1/info", "key=secret", "key", "GetServerInfoRequest has: none"),
    ],
)
def test_a_bad_query_parameter_is_named(verb, path, query, field, words) -> None:
    error = check_query(_route(verb, path), query)
    assert error is not None and error.field == field, error
    assert words in error.description, error.description
    assert "secret" not in str(error), "values are not echoed for an unknown parameter"


def test_good_query_parameters_pass() -> None:
    upload = _route("POST", "/v1/process:upload")
    query = "options.reference_date=2026-11-01&options.return_visualization=true&options.date_order=2"
    assert check_query(upload, query) is None
    assert check_query(upload, "options.dateOrder=DATE_ORDER_MDY&options.detection_confidence=0.5") is None
    assert check_query(_route("GET", "/v1/jobs"), "state=JOB_STATE_QUEUED&page_size=5&page_token=") is None


def _rendered(tmp_path) -> dict:
    config = yaml.safe_load(render_config(SidecarConfig(), tmp_path / "d.pb", strict_json_port=4321))
    listener = config["static_resources"]["listeners"][0]
    return {"config": config, "hcm": listener["filter_chains"][0]["filters"][0]["typed_config"]}


def test_envoys_own_replies_are_json_statuses(tmp_path) -> None:
    mappers = _rendered(tmp_path)["hcm"]["local_reply_config"]["mappers"]
    # The check's own 400 (response flag UAEX) keeps its body: the first mapper formats nothing.
    assert "body_format_override" not in mappers[0]
    assert "UAEX" in json.dumps(mappers[0]["filter"])
    by_status = {
        m["filter"]["status_code_filter"]["comparison"]["value"]["default_value"]: m["body_format_override"]
        for m in mappers[4:-1]
    }
    assert by_status[404]["json_format"]["code"] == 5
    assert "%" not in by_status[404]["json_format"]["message"], "the path is not echoed"
    assert by_status[503]["json_format"]["code"] == 14
    assert by_status[413]["json_format"] == {
        "code": 8,
        "message": f"the request body is larger than 16 MiB ({16 * 2**20} bytes)",
    }
    assert all(f["content_type"] == "application/json" for f in by_status.values())
    assert mappers[-1]["filter"]["status_code_filter"]["comparison"]["op"] == "GE"


def test_the_check_sees_json_bodies_and_query_strings_only(tmp_path) -> None:
    rendered = _rendered(tmp_path)
    routes = rendered["hcm"]["route_config"]["virtual_hosts"][0]["routes"]
    # gRPC callers' routes come first, and the check never sees them (test_edge_units.py).
    grpc = [r for r in routes if any(h["name"] == "content-type" for h in r["match"].get("headers", []))]
    assert routes[: len(grpc)] == grpc and all(
        r["typed_per_filter_config"]["envoy.filters.http.ext_authz"]["disabled"] for r in grpc
    )
    routes = routes[len(grpc) :]
    # Then the v2 protocol's REST side: its own gateway, neither checked nor transcoded.
    v2, routes = routes[:2], routes[2:]
    assert [r["route"]["cluster"] for r in v2] == ["kserve_rest", "kserve_rest"]
    assert all(r["typed_per_filter_config"]["envoy.filters.http.ext_authz"]["disabled"] for r in v2)
    per_route = [r.get("typed_per_filter_config", {}).get("envoy.filters.http.ext_authz", {}) for r in routes]
    static = [r for r in routes if "direct_response" in r]
    files = [r["match"]["path"] for r in static if r["direct_response"]["status"] == 200]
    assert files == ["/", "/app.js", "/style.css", "/openapi.json"]  # the page and the document
    assert {r["direct_response"]["status"] for r in static[len(files) :]} == {405}  # other methods
    first = len(static)
    # Upload with a query string: the query is checked, the image is not buffered for it.
    assert routes[first]["match"]["path"] == "/v1/process:upload"
    assert per_route[first]["check_settings"] == {"disable_request_body_buffering": True}
    assert (
        routes[first + 1]["match"] == {"path": "/v1/process:upload"}
        and per_route[first + 1]["disabled"] is True
    )
    assert per_route[first + 2] == {} and per_route[first + 3] == {}  # bodies, query strings
    assert per_route[-1]["disabled"] is True  # a GET without a query string never waits for it
    assert all(r["route"] == {"cluster": "datalid_grpc", "timeout": "0s"} for r in routes[first:])
    filters = [f["name"] for f in rendered["hcm"]["http_filters"]]
    assert filters.index("envoy.filters.http.ext_authz") < filters.index(
        "envoy.filters.http.grpc_json_transcoder"
    )
    clusters = {c["name"]: c for c in rendered["config"]["static_resources"]["clusters"]}
    endpoint = clusters["strict_json"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 4321}


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "HEAD", "GET"])
def test_the_check_service_answers_every_method(method: str) -> None:
    """It answered 501 to methods it had no handler for, which Envoy passed on as a server error."""
    service = StrictJsonService(max_body_bytes=1024).start()
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{service.port}/v1/jobs?page_size=2", method=method
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        service.stop()


def test_what_a_caller_gets_wrong_is_answered_in_their_terms() -> None:
    """From a new user's trial: a nested query typo, a data: URI, a lone object for a batch, and
    a 5000-character key that pushed the useful part out of the message."""
    upload = _route("POST", "/v1/process:upload")
    error = check_query(upload, "options.ref_date=2026-01-01")
    assert error is not None and "ProcessOptions has: detection_confidence" in error.description
    error = check_body(_route("POST", "/v1/process"), b'{"image": "data:image/jpeg;base64,QUJD"}')
    assert error is not None and error.description == "a data: URI; send only the base64 after its comma"
    error = check_body(_route("POST", "/v1/process:batch"), b'{"image": "QUJD"}')
    assert error is not None and error.description == "expected a JSON array of ProcessRequest (one a photo)"
    error = check_body(_route("POST", "/v1/process"), json.dumps({"x" * 5000: 1}).encode())
    assert error is not None and len(error.field) < 80
    assert str(error).endswith("unknown field; ProcessRequest has: image, options")
