"""Units of the edge: token buckets, the sidecar's rendered Envoy config, the descriptor set."""

from __future__ import annotations

import pytest
import yaml
from google.protobuf import descriptor_pb2

from server.edge.ratelimit import TokenBuckets
from server.rest.sidecar import SidecarConfig, SidecarError, build_descriptor_set, parse_args, render_config


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_token_bucket_bursts_then_refills_per_key() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate_per_s=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == 0.5  # one token needs half a second at 2/s
    assert buckets.take("b") == 0.0  # another key has its own bucket
    clock.now_s += 0.5
    assert buckets.take("a") == 0.0
    clock.now_s += 100
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refills to the burst, no further


def test_token_buckets_are_bounded_in_number() -> None:
    buckets = TokenBuckets(rate_per_s=1.0, burst=1, max_keys=2, clock=FakeClock())
    for key in ("a", "b", "c"):
        buckets.take(key)
    assert buckets.take("a") == 0.0  # evicted, so it starts full again


def _filters(rendered: str) -> dict:
    config = yaml.safe_load(rendered)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return {"hcm": hcm, "vhost": hcm["route_config"]["virtual_hosts"][0], "config": config}


def test_rendered_config_transcodes_the_three_services(tmp_path) -> None:
    rendered = render_config(SidecarConfig(upstream_port=50099, listen_port=8081), tmp_path / "d.pb")
    parts = _filters(rendered)
    transcoder = next(
        f["typed_config"] for f in parts["hcm"]["http_filters"] if f["name"].endswith("grpc_json_transcoder")
    )
    assert transcoder["services"] == [
        "datalid.v1.ExpiryDateService",
        "datalid.v1.JobService",
        "datalid.v1.AdminService",
    ]
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["max_request_body_size"] == 16 * 1024 * 1024
    assert transcoder["print_options"] == {
        "preserve_proto_field_names": True,
        "always_print_primitive_fields": True,
        "stream_newline_delimited": True,
    }
    assert transcoder["request_validation_options"] == {
        "reject_unknown_method": True,
        "reject_unknown_query_parameters": True,
    }
    clusters = {c["name"]: c for c in parts["config"]["static_resources"]["clusters"]}
    cluster = clusters["datalid_grpc"]
    assert cluster["health_checks"][0]["grpc_health_check"] == {}
    assert parts["config"]["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    assert parts["vhost"]["typed_per_filter_config"] == {}  # no origins, no CORS


def test_cors_never_allows_any_origin_with_credentials(tmp_path) -> None:
    exact = _filters(render_config(SidecarConfig(cors_origins=("https://a.test",)), tmp_path / "d.pb"))
    policy = exact["vhost"]["typed_per_filter_config"]["envoy.filters.http.cors"]
    assert policy["allow_origin_string_match"] == [{"exact": "https://a.test"}]
    assert policy["allow_credentials"] is True
    wildcard = _filters(render_config(SidecarConfig(cors_origins=("*",)), tmp_path / "d.pb"))
    assert (
        wildcard["vhost"]["typed_per_filter_config"]["envoy.filters.http.cors"]["allow_credentials"] is False
    )


def test_args_and_descriptor_set(tmp_path) -> None:
    config = parse_args(
        ["--upstream", "10.0.0.5:6000", "--listen", "0"], {"DATALID_CORS_ORIGINS": "https://x.test"}
    )
    assert (config.upstream_host, config.upstream_port, config.listen_host, config.listen_port) == (
        "10.0.0.5",
        6000,
        "127.0.0.1",
        0,
    )
    assert config.cors_origins == ("https://x.test",)
    descriptors = descriptor_pb2.FileDescriptorSet.FromString(
        build_descriptor_set(tmp_path / "d.pb").read_bytes()
    )
    names = {f.name for f in descriptors.file}
    assert {
        "datalid/v1/expiry_date_service.proto",
        "google/rpc/error_details.proto",
        "google/api/httpbody.proto",
    } <= names


def test_tls_flags_go_together() -> None:
    for argv in (
        ["--tls-cert", "c.pem"],
        ["--tls-client-ca", "ca.pem"],
        ["--upstream-tls-cert", "c", "--upstream-tls-key", "k"],
    ):
        with pytest.raises(SidecarError):
            parse_args(argv, {})


def test_rendered_tls_on_the_listener_and_to_the_server(tmp_path) -> None:
    config = parse_args(
        ["--upstream", "127.0.0.1:6000",
         "--tls-cert", "s.pem", "--tls-key", "s.key", "--tls-client-ca", "ca.pem",
         "--upstream-tls-ca", "ca.pem", "--upstream-tls-cert", "c.pem", "--upstream-tls-key", "c.key"],
        {},
    )  # fmt: skip
    parts = _filters(render_config(config, tmp_path / "d.pb"))
    listener = parts["config"]["static_resources"]["listeners"][0]["filter_chains"][0]
    downstream = listener["transport_socket"]["typed_config"]
    assert downstream["require_client_certificate"] is True
    assert downstream["common_tls_context"]["validation_context"]["trusted_ca"] == {"filename": "ca.pem"}
    clusters = {c["name"]: c for c in parts["config"]["static_resources"]["clusters"]}
    upstream = clusters["datalid_grpc"]["transport_socket"]["typed_config"]
    validation = upstream["common_tls_context"]["validation_context"]
    assert validation["match_typed_subject_alt_names"] == [
        {"san_type": "IP_ADDRESS", "matcher": {"exact": "127.0.0.1"}}
    ]
    assert "sni" not in upstream  # an address is no server name
    assert upstream["common_tls_context"]["alpn_protocols"] == ["h2"]
    assert "transport_socket" not in clusters["strict_json"], "the check service stays on loopback, plain"


def test_several_upstreams_are_balanced_and_grpc_callers_pass_through(tmp_path) -> None:
    config = parse_args(["--upstream", "10.0.0.5:6000", "--upstream", "10.0.0.6:6000"], {})
    assert config.extra_upstreams == (("10.0.0.6", 6000),)
    assert parse_args([], {"DATALID_SIDECAR_UPSTREAM": "a:1,b:2"}).extra_upstreams == (("b", 2),)
    parts = _filters(render_config(config, tmp_path / "d.pb"))
    cluster = next(c for c in parts["config"]["static_resources"]["clusters"] if c["name"] == "datalid_grpc")
    hosts = [
        e["endpoint"]["address"]["socket_address"]
        for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    ]
    assert [(h["address"], h["port_value"]) for h in hosts] == [("10.0.0.5", 6000), ("10.0.0.6", 6000)]
    health = next(f for f in parts["hcm"]["http_filters"] if f["name"].endswith("health_check"))
    assert health["typed_config"]["cluster_min_healthy_percentages"]["datalid_grpc"]["value"] == 49.99
    routes = parts["vhost"]["routes"]
    grpc = [r for r in routes if any(h["name"] == "content-type" for h in r["match"].get("headers", []))]
    assert routes[: len(grpc)] == grpc, "gRPC callers are routed before any REST route"
    process = next(r for r in grpc if r["match"].get("path") == "/datalid.v1.ExpiryDateService/Process")
    assert "unavailable" in process["route"]["retry_policy"]["retry_on"]
    assert grpc[-1]["match"]["prefix"] == "/" and "retry_policy" not in grpc[-1]["route"]
    assert all(r["typed_per_filter_config"]["envoy.filters.http.ext_authz"]["disabled"] for r in grpc)
