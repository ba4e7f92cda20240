"""REST through a real Envoy sidecar (grpc_json_transcoder) to a real server with auth on.

Every route reaches the server and maps its status; ProcessWithProgress and WatchJob come out
as NDJSON, one message a line.
"""

from __future__ import annotations

import base64
import json
from http.client import IncompleteRead

import pytest

from pipeline.synth import render_label
from tests.edge.conftest import CORS_ORIGIN, Secrets, http

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def label_jpeg() -> bytes:
    return render_label(["Use by", "16 NOV"], seed=7)


def _key(secrets: Secrets, name: str) -> dict[str, str]:
    return {"x-api-key": secrets.keys[name]}


def _detail(body: dict, type_name: str) -> dict:
    for detail in body.get("details", []):
        if detail["@type"] == f"type.googleapis.com/{type_name}":
            return detail
    raise AssertionError(f"no {type_name} in {body}")


def test_process_json_with_base64_image(rest, secrets, label_jpeg) -> None:
    body = {"image": base64.b64encode(label_jpeg).decode(), "options": {"reference_date": "2026-11-01"}}
    response = http(
        "POST",
        rest + "/v1/process",
        json_bytes(body),
        {**_key(secrets, "app"), "content-type": "application/json"},
    )
    assert response.status == 200, response.body
    result = response.json()
    # Proto field names, as the contract says.
    assert result["best_date"]["date"] == "2026-11-16"
    assert result["best_date"]["days_until_expiry"] == 15
    # Fields at their default values are printed too: a REST client never guesses a missing key.
    assert result["best_date"]["is_expired"] is False
    assert "full_image_fallback_used" in result
    assert result["status"] == "PROCESS_STATUS_FOUND"
    assert result["request_id"]


def test_process_upload_raw_body(rest, secrets, label_jpeg) -> None:
    headers = {"authorization": f"Bearer {secrets.keys['app']}", "content-type": "image/jpeg"}
    response = http("POST", rest + "/v1/process:upload", label_jpeg, headers)
    assert response.status == 200, response.body
    assert response.json()["best_date"]["date"].endswith("-11-16")


def test_bad_image_is_400_with_bad_request_details(rest, secrets) -> None:
    body = json_bytes({"image": base64.b64encode(b"not an image").decode()})
    response = http("POST", rest + "/v1/process", body, _key(secrets, "app"))
    assert response.status == 400
    status = response.json()
    assert status["code"] == 3  # INVALID_ARGUMENT, as a google.rpc.Status JSON body
    violations = _detail(status, "google.rpc.BadRequest")["field_violations"]
    assert [v["field"] for v in violations] == ["image"]
    assert "Traceback" not in response.body.decode()


def test_no_credentials_is_401_with_json_status(rest) -> None:
    response = http("GET", rest + "/v1/info")
    assert response.status == 401
    status = response.json()
    assert status["code"] == 16
    assert _detail(status, "google.rpc.ErrorInfo")["reason"] == "UNAUTHENTICATED"


def test_unknown_key_is_401(rest) -> None:
    assert http("GET", rest + "/v1/info", headers={"x-api-key": "dlk_not-a-key"}).status == 401


def test_key_without_admin_scope_is_403(rest, secrets) -> None:
    response = http("GET", rest + "/v1/stats", headers=_key(secrets, "app"))
    assert response.status == 403
    assert _detail(response.json(), "google.rpc.ErrorInfo")["reason"] == "MISSING_SCOPE"


def test_admin_routes_with_admin_key(rest, secrets) -> None:
    info = http("GET", rest + "/v1/info", headers=_key(secrets, "ops"))
    assert info.status == 200 and info.json()["api_version"] == "datalid.v1"
    models = http("GET", rest + "/v1/models", headers=_key(secrets, "ops"))
    assert models.status == 200 and models.json()["models"]


def test_burst_gets_429_with_retry_info(rest, secrets) -> None:
    # The key's bucket holds 40 calls and refills at 2/s: a tight loop empties it long before
    # 400 calls, whatever the speed of this machine.
    for _ in range(400):
        response = http("GET", rest + "/v1/info", headers=_key(secrets, "burst"))
        if response.status != 200:
            break
    assert response.status == 429, response.body
    status = response.json()
    assert status["code"] == 8
    assert _detail(status, "google.rpc.RetryInfo")["retry_delay"].endswith("s")
    # Other principals have their own buckets.
    assert http("GET", rest + "/v1/info", headers=_key(secrets, "app")).status == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v1/process:progress", 400),
        ("POST", "/v1/process:url", 400),
        ("POST", "/v1/jobs", 400),
        ("GET", "/v1/jobs", 200),
        ("GET", "/v1/jobs/abc", 404),
        ("POST", "/v1/jobs/abc:cancel", 404),
        ("DELETE", "/v1/jobs/abc", 404),
        ("GET", "/v1/jobs/abc:watch", 404),
    ],
)
def test_stream_and_job_routes_reach_the_server(rest, secrets, method, path, status) -> None:
    body = b"{}" if method == "POST" else None
    response = http(method, rest + path, body, _key(secrets, "ops"))
    assert response.status == status, (path, response.status, response.body)


def test_job_over_rest_and_progress_as_ndjson(rest, secrets, label_jpeg) -> None:
    image = base64.b64encode(label_jpeg).decode()
    created = http("POST", rest + "/v1/jobs", json_bytes({"image": image}), _key(secrets, "ops"))
    assert created.status == 200, created.body
    job = created.json()
    assert job["state"] in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING")
    watched = http("GET", rest + f"/v1/jobs/{job['job_id']}:watch", headers=_key(secrets, "ops"))
    assert watched.status == 200, watched.body
    states = [json.loads(line)["state"] for line in watched.body.decode().splitlines() if line.strip()]
    assert states[-1] == "JOB_STATE_SUCCEEDED"
    progress = http("POST", rest + "/v1/process:progress", json_bytes({"image": image}), _key(secrets, "ops"))
    assert progress.status == 200, progress.body
    events = [json.loads(line) for line in progress.body.decode().splitlines() if line.strip()]
    assert events[-1]["stage"] == "PROGRESS_STAGE_COMPLETED"
    assert events[-1]["result"]["best_date"]["date"].endswith("-11-16")


def _json_error(response, status: int, code: int) -> dict:
    """The google.rpc.Status JSON body of an error ``response``, checked for its status and code."""
    assert response.status == status, (response.status, response.body[:300])
    assert response.headers["content-type"] == "application/json", response.headers
    assert len(response.body) < 2048, "an error never echoes the input at length"
    body = response.json()
    assert body["code"] == code, body
    return body


def test_healthz_answers_from_envoys_health_check_without_a_key(rest) -> None:
    response = http("GET", rest + "/healthz")
    assert (response.status, response.headers["content-type"]) == (200, "application/json")
    assert response.json() == {"status": "SERVING"}


def test_unknown_route_is_404_with_a_json_status(rest, secrets) -> None:
    response = http("GET", rest + "/v1/nothing-here" + "x" * 7000, headers=_key(secrets, "ops"))
    body = _json_error(response, 404, 5)
    assert body["message"] == "no API method at this path (GET /openapi.json lists them)"


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("colour=blue", "colour", "unknown query parameter"),
        ("page_size=abc", "page_size", "expected an integer"),
        ("state=NOPE", "state", "Invalid enum value NOPE; one of JOB_STATE_UNSPECIFIED, JOB_STATE_QUEUED"),
        ("page_size=" + "9" * 4000, "page_size", "out of range"),
    ],
)
def test_a_bad_query_parameter_is_400_naming_it(rest, secrets, query, field, words) -> None:
    response = http("GET", rest + "/v1/jobs?" + query, headers=_key(secrets, "ops"))
    body = _json_error(response, 400, 3)
    assert _detail(body, "google.rpc.BadRequest")["field_violations"][0]["field"] == field
    assert words in body["message"]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"imagee": "aGVsbG8="}, "imagee"),
        ({"image": "aGVsbG8=", "options": {"ref_date": "2026-01-01"}}, "options.ref_date"),
        ({"image": "aGVsbG8=", "options": {"date_order": "DAY_FIRST_PLEASE"}}, "options.date_order"),
        ({"image": "%%% not base64 %%%"}, "image"),
        ({"image": "aGVsbG8=", "options": {"max_detections": "many"}}, "options.max_detections"),
        ({"image": "aGVsbG8=", "options": "none"}, "options"),
    ],
)
def test_a_json_body_naming_no_field_or_a_bad_value_is_400_naming_it(rest, secrets, document, field) -> None:
    """The transcoder alone dropped unknown fields: `options.ref_date` came back 200 with the
    verdict for today instead of the day asked for."""
    response = http("POST", rest + "/v1/process", json_bytes(document), _key(secrets, "app"))
    body = _json_error(response, 400, 3)
    assert _detail(body, "google.rpc.BadRequest")["field_violations"][0]["field"] == field
    assert body["message"].startswith(field + ": ")


def test_json_names_in_either_spelling_are_accepted(rest, secrets, label_jpeg) -> None:
    image = base64.b64encode(label_jpeg).decode()
    document = {"image": image, "options": {"referenceDate": "2026-11-01", "date_order": "DATE_ORDER_DMY"}}
    response = http("POST", rest + "/v1/process", json_bytes(document), _key(secrets, "app"))
    assert response.status == 200, response.body[:300]
    assert response.json()["best_date"]["days_until_expiry"] == 15


def test_a_bad_element_of_a_batch_is_named_by_its_index(rest, secrets) -> None:
    items = [{"image": "aGVsbG8="}, {"image": "aGVsbG8=", "options": {"colour": 1}}]
    response = http("POST", rest + "/v1/process:batch", json_bytes(items), _key(secrets, "app"))
    body = _json_error(response, 400, 3)
    assert body["message"].startswith("[1].options.colour: unknown field")


def test_not_json_and_a_megabyte_of_bad_base64_are_short_400s(rest, secrets) -> None:
    body = _json_error(http("POST", rest + "/v1/process", b'{"image": ', _key(secrets, "app")), 400, 3)
    assert "not valid JSON" in body["message"]
    data_uri = json_bytes({"image": "data:image/jpeg;base64," + "A" * 2**20})
    body = _json_error(http("POST", rest + "/v1/process", data_uri, _key(secrets, "app")), 400, 3)
    assert body["message"] == "image: a data: URI; send only the base64 after its comma"
    bad = json_bytes({"image": "%" * 2**20})
    body = _json_error(http("POST", rest + "/v1/process", bad, _key(secrets, "app")), 400, 3)
    assert body["message"] == f"image: not base64 ({2**20} characters)"


def test_a_body_over_the_limit_is_413_stating_it(rest, secrets) -> None:
    headers = {**_key(secrets, "app"), "content-type": "image/jpeg"}
    response = http("POST", rest + "/v1/process:upload", b"\xff" * (16 * 2**20 + 1), headers)
    body = _json_error(response, 413, 8)
    assert body["message"] == f"the request body is larger than 16 MiB ({16 * 2**20} bytes)"


def test_upload_takes_the_options_as_query_parameters(rest, secrets, label_jpeg) -> None:
    headers = {**_key(secrets, "app"), "content-type": "image/jpeg"}
    url = rest + "/v1/process:upload?options.reference_date=2026-11-20&options.return_visualization=true"
    response = http("POST", url, label_jpeg, headers)
    assert response.status == 200, response.body[:300]
    result = response.json()
    assert result["best_date"]["date"] == "2026-11-16"
    assert result["best_date"]["is_expired"] is True and result["best_date"]["days_until_expiry"] == -4
    assert base64.b64decode(result["visualization_jpeg"])[:2] == b"\xff\xd8"
    short = http("POST", rest + "/v1/process:upload?reference_date=2026-11-20", label_jpeg, headers)
    assert "did you mean options.reference_date?" in _json_error(short, 400, 3)["message"]


def test_cors_preflight_allows_only_configured_origins(rest) -> None:
    def preflight(origin: str):
        headers = {
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type",
        }
        return http("OPTIONS", rest + "/v1/process", headers=headers)

    allowed = preflight(CORS_ORIGIN)
    assert allowed.headers.get("access-control-allow-origin") == CORS_ORIGIN
    assert allowed.headers.get("access-control-allow-credentials") == "true"
    assert "x-api-key" in allowed.headers.get("access-control-allow-headers", "")
    assert "access-control-allow-origin" not in preflight("https://evil.example.com").headers


def json_bytes(value: object) -> bytes:
    import json

    return json.dumps(value).encode()


@pytest.mark.parametrize("timeout", ["20m", "60m", "120m"])
def test_a_progress_stream_never_ends_looking_finished_when_it_failed(
    rest, secrets, label_jpeg, timeout
) -> None:
    """Past its deadline a progress call answered 200, two lines and a clean end. Now it either fails
    before its first line (an HTTP error status), or its last line is COMPLETED or FAILED with the
    status. Which one depends on the machine's speed; none may end silently."""
    headers = {**_key(secrets, "ops"), "grpc-timeout": timeout}
    image = base64.b64encode(label_jpeg).decode()
    try:
        response = http("POST", rest + "/v1/process:progress", json_bytes({"image": image}), headers)
    except IncompleteRead as cut:
        # On a loaded machine gRPC's own deadline can end the call (RST_STREAM) before the server's
        # loop writes its FAILED line; Envoy then cuts the HTTP/1.1 response before its last chunk,
        # which every HTTP client reports as an error (urllib: IncompleteRead, curl: exit 18,
        # fetch: a network error): loud, never a finished-looking stream.
        assert all(json.loads(line)["stage"] for line in cut.partial.decode().splitlines()[:-1])
        return
    if response.status != 200:
        assert response.json()["code"] == 4, response.body  # DEADLINE_EXCEEDED
        return
    events = [json.loads(line) for line in response.body.decode().splitlines() if line.strip()]
    last = events[-1]
    if "stage" not in last:
        # gRPC itself ended the call at its deadline, after its headers but before the server
        # wrote a message: Envoy's transcoder then writes the status as the line.
        assert last["code"] == 4 and len(events) == 1, events
        return
    assert last["stage"] in ("PROGRESS_STAGE_COMPLETED", "PROGRESS_STAGE_FAILED"), events
    if last["stage"] == "PROGRESS_STAGE_FAILED":
        assert last["error"]["code"] == 4 and last["error"]["message"]
