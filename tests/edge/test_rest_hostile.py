"""The REST edge against hostile callers, through a real Envoy: keys in query strings stay out of
Envoy's access log, forged request ids are replaced, an over-long path is 414."""

from __future__ import annotations

import json
import re
import socket
import uuid

import pytest

from tests.edge.conftest import SidecarProcess, http

pytestmark = pytest.mark.slow


def _access_line(sidecar: SidecarProcess, request_id: str) -> str:
    return sidecar.wait_for_log(
        re.compile(rf"^envoy access .*request_id={re.escape(request_id)} .*$"), 30
    ).group(0)


def test_a_key_in_the_query_string_never_reaches_envoys_access_log(rest, sidecar, secrets) -> None:
    secret = f"SECRET{uuid.uuid4().hex}"
    request_id = f"query-{uuid.uuid4().hex}"
    for path in (f"/v1/info?key={secret}", f"/v1/jobs?page_size=1&api_key={secret}"):
        response = http(
            "GET", rest + path, headers={"x-api-key": secrets.keys["app"], "x-request-id": request_id}
        )
        assert response.status == 400  # unknown query parameter
    line = _access_line(sidecar, request_id)
    assert "path=/v1/info " in line or "path=/v1/jobs " in line
    assert secret not in "\n".join(sidecar.log)


@pytest.mark.parametrize("request_id", ["a b c", "x" * 500, "id status=200 peer=10.0.0.1"])
def test_an_unsafe_request_id_is_replaced_at_the_edge(
    rest, sidecar, edge_server, secrets, request_id
) -> None:
    response = http(
        "GET", rest + "/v1/info", headers={"x-api-key": secrets.keys["app"], "x-request-id": request_id}
    )
    assert response.status == 200
    replaced = response.headers["x-request-id"]  # the server echoes the id Envoy forwarded
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    _access_line(sidecar, replaced)
    edge_server.wait_for_log(re.compile(rf"request_id={replaced} method=/datalid.v1.AdminService/"), 30)
    assert request_id not in "\n".join(sidecar.log + edge_server.log)


def test_a_safe_request_id_goes_through(rest, sidecar, secrets) -> None:
    request_id = f"trace-{uuid.uuid4().hex}:1.2"
    response = http(
        "GET", rest + "/v1/info", headers={"x-api-key": secrets.keys["app"], "x-request-id": request_id}
    )
    assert response.status == 200 and response.headers["x-request-id"] == request_id
    _access_line(sidecar, request_id)


def test_a_path_over_8_kib_is_414_and_one_under_is_routed(rest, sidecar, secrets) -> None:
    headers = {"x-api-key": secrets.keys["app"]}
    too_long = http("GET", rest + "/v1/jobs/" + "a" * 9 * 1024, headers=headers)
    assert too_long.status == 414
    assert "longer than 8192 bytes" in json.loads(too_long.body)["message"]
    # Just under the limit the call reaches the server, which answers for the job id (cut in the
    # message), not with a 429 from gRPC's metadata limit.
    long = http("GET", rest + "/v1/jobs/" + "a" * 8000, headers=headers)
    assert long.status == 404, long.body[:300]
    assert len(long.body) < 1024
    assert http("GET", rest + "/v1/info", headers=headers).status == 200


def test_with_the_server_down_rest_answers_503_as_a_json_status() -> None:
    """Envoy's own 503 ("no healthy upstream") is a google.rpc.Status like the server's errors."""
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    sidecar = SidecarProcess()
    sidecar.upstream = dead
    sidecar.start()
    try:
        response = http("GET", f"http://127.0.0.1:{sidecar.port}/v1/info")
        assert response.status == 503
        assert response.headers["content-type"] == "application/json"
        assert json.loads(response.body) == {"code": 14, "message": "no healthy upstream"}
        health = http("GET", f"http://127.0.0.1:{sidecar.port}/healthz")
        assert (health.status, health.headers["content-type"]) == (503, "application/json")
        assert json.loads(health.body)["status"] == "NOT_SERVING"
    finally:
        assert sidecar.stop() == 0
