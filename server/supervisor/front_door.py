"""The Envoy in front of a supervisor's workers: its bootstrap, and the worker endpoints it reads.

Envoy owns the public gRPC port. Per call it picks the least-loaded worker (LEAST_REQUEST), over
one HTTP/2 connection to each worker that carries as many calls at once as the worker admits
images. A unary call beyond what the workers run together is refused at once, UNAVAILABLE with a
RetryInfo, without any Python process reading it. There is no queue in front of the workers
(Envoy's pending queue only holds calls while a connection opens): the workers' own admission
queues are the queue, and a longer one would hold calls with short deadlines until useless. An
idempotent unary call (the Process methods: reading a date twice changes nothing) of at most
4 MiB that a worker refuses with UNAVAILABLE (it is stopping) or that finds a worker gone is
retried once on another worker, within a retry budget so retries cannot become a storm of their
own.

The workers are not in the bootstrap: they change (a dead worker is replaced, a reload swaps them
all), so Envoy reads them from files (EDS over the file system, ``write_endpoints``), which it
watches and applies within milliseconds, with no restart and no call dropped.

Some routes lead elsewhere than the workers: health, JobService, GetStats, ReloadModels and the v2
protocol's ModelStatistics and RepositoryModelLoad go to the supervisor's own gRPC server (the
``control`` cluster), which answers them for all workers.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from server.api.calls import ARRIVED_METADATA
from server.rest.sidecar import GRPC_RETRY_POLICY, downstream_tls, idempotent_grpc_methods

__all__ = [
    "CONTROL_PATHS",
    "STREAM_CLUSTER",
    "UNARY_CLUSTER",
    "FrontDoorConfig",
    "overflow_status",
    "render_bootstrap",
    "write_endpoints",
]

UNARY_CLUSTER = "workers_unary"
STREAM_CLUSTER = "workers_streams"
CONTROL_CLUSTER = "control"
# What the supervisor answers itself: (path, True for a prefix).
CONTROL_PATHS: tuple[tuple[str, bool], ...] = (
    ("/grpc.health.v1.Health/", True),
    ("/datalid.v1.JobService/", True),
    ("/datalid.v1.AdminService/GetStats", False),
    ("/datalid.v1.AdminService/ReloadModels", False),
    # The v2 protocol's statistics and load, for the same reasons (server/supervisor/kserve_control.py).
    ("/inference.GRPCInferenceService/ModelStatistics", False),
    ("/inference.GRPCInferenceService/RepositoryModelLoad", False),
)
# How long a refused caller is told to wait: half a second lets about half the calls in flight end
# (a photo takes about a second of a worker's time under full load here).
_RETRY_DELAY_MS = 500
# How long a caller is told to wait when no worker serves: about a worker's start.
_NO_WORKER_DELAY_MS = 1000
# A unary call's bytes Envoy keeps so it can retry the call on another worker; a larger call is
# not retried (its caller sees the UNAVAILABLE). Bounded so that the queued and running calls'
# copies stay small: typical photos are 1-4 MB.
_RETRY_BUFFER_BYTES = 4 * 1024 * 1024
_ENVOY = "type.googleapis.com/envoy."


@dataclass(frozen=True, kw_only=True)
class FrontDoorConfig:
    """What the front door's Envoy is built from.

    Attributes:
        listen_host, listen_port: the public gRPC address (port 0: a free one).
        internal_port: a plaintext loopback listener with the same routes, for the supervisor's own
            calls to its workers (job runs), whatever TLS the public one has (0: a free one).
        control_socket: the supervisor's gRPC server (a Unix socket in a private folder).
        endpoints_dir: where ``write_endpoints`` puts the workers' files, watched by Envoy.
        workers: how many workers there are.
        calls_per_worker: unary calls one worker runs at once (the images it admits): Envoy opens
            one HTTP/2 connection to each worker with this many streams at most.
        pending_calls: unary calls Envoy may hold while a connection to a worker opens (at start,
            after a worker is replaced). Calls beyond what the workers run are refused at once:
            Envoy's ``max_requests`` limit counts before its pending queue is used.
        max_stream_calls: streaming calls in flight to all workers together (camera streams and
            progress streams: long-lived, each holds one); more are refused by Envoy.
        max_connections: client connections at once.
        max_streams_per_connection: HTTP/2 streams one client connection may have open.
        idle_timeout_s: a client connection with no call for this long is closed.
        tls_cert, tls_key, tls_client_ca: TLS on the public listener (PEM files; "" for none), with
            client certificates verified when a CA is given.
    """

    listen_host: str
    listen_port: int
    internal_port: int = 0
    control_socket: Path
    endpoints_dir: Path
    workers: int
    calls_per_worker: int
    pending_calls: int
    max_stream_calls: int
    max_connections: int = 256
    max_streams_per_connection: int = 32
    idle_timeout_s: float = 300.0
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""


def overflow_status(max_calls: int) -> status_pb2.Status:
    """The google.rpc.Status Envoy sends (``grpc-status-details-bin``) with a refusal at the
    circuit breaker: UNAVAILABLE with a RetryInfo, so a client that honours it backs off."""
    retry = _retry_info(_RETRY_DELAY_MS)
    status = status_pb2.Status(
        code=code_pb2.UNAVAILABLE,
        message=f"the server is at capacity ({max_calls} calls in flight); retry after the RetryInfo delay",
    )
    status.details.add().Pack(retry)
    return status


def _route_to(cluster: str, **extra: Any) -> dict[str, Any]:
    # No fixed timeout: a call's grpc-timeout (its deadline) bounds it, as it does at the worker.
    return {
        "cluster": cluster,
        "timeout": "0s",
        "max_stream_duration": {"grpc_timeout_header_max": "0s"},
        **extra,
    }


def _routes() -> list[dict[str, Any]]:
    # When the call arrived here: a worker takes the time it waited in the queue off its deadline
    # (server/api/calls.py deadline_of), as Envoy forwards grpc-timeout unchanged.
    arrived = {
        "request_headers_to_add": [
            {
                "header": {"key": ARRIVED_METADATA, "value": "%START_TIME(%s.%6f)%"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ]
    }
    routes: list[dict[str, Any]] = []
    for path, prefix in CONTROL_PATHS:
        routes.append({"match": {"prefix" if prefix else "path": path}, "route": _route_to(CONTROL_CLUSTER)})
    for path in idempotent_grpc_methods():
        routes.append(
            {
                "match": {"path": path},
                "route": _route_to(UNARY_CLUSTER, retry_policy=GRPC_RETRY_POLICY),
                "request_body_buffer_limit": _RETRY_BUFFER_BYTES,
                **arrived,
            }
        )
    # The rest: streams, the other AdminService calls, reflection.
    routes.append({"match": {"prefix": "/"}, "route": _route_to(STREAM_CLUSTER), **arrived})
    return routes


def _local_reply(max_calls: int) -> dict[str, Any]:
    """Envoy's refusals carry a RetryInfo and gRPC's own pushback header: a call over the queue
    (response flag UO), and a call while no worker serves (UH: all restarting). Its other replies
    (a worker gone mid-call) stay as they are."""
    no_worker = status_pb2.Status(
        code=code_pb2.UNAVAILABLE, message="no worker is serving yet; retry shortly"
    )
    no_worker.details.add().Pack(_retry_info(_NO_WORKER_DELAY_MS))
    return {
        "mappers": [
            _refusal_mapper("UO", overflow_status(max_calls), _RETRY_DELAY_MS),
            _refusal_mapper("UH", no_worker, _NO_WORKER_DELAY_MS),
        ]
    }


def _refusal_mapper(flag: str, status: status_pb2.Status, delay_ms: int) -> dict[str, Any]:
    details = base64.b64encode(status.SerializeToString()).decode().rstrip("=")
    return {
        "filter": {"response_flag_filter": {"flags": [flag]}},
        "headers_to_add": [
            _header("grpc-status-details-bin", details),
            _header("grpc-retry-pushback-ms", str(delay_ms)),
        ],
        "body_format_override": {"text_format_source": {"inline_string": status.message}},
    }


def _retry_info(delay_ms: int) -> error_details_pb2.RetryInfo:
    return error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=delay_ms * 1_000_000))


def _header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def _listener(name: str, host: str, port: int, config: FrontDoorConfig) -> dict[str, Any]:
    manager = {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
            ".HttpConnectionManager",
            "stat_prefix": name,
            "codec_type": "AUTO",
            "http2_protocol_options": {"max_concurrent_streams": config.max_streams_per_connection},
            "common_http_protocol_options": {"idle_timeout": f"{config.idle_timeout_s:g}s"},
            # Camera streams may be quiet between frames; the workers' own idle limit ends them.
            "stream_idle_timeout": "0s",
            "local_reply_config": _local_reply(config.workers * config.calls_per_worker),
            "route_config": {
                "name": "datalid",
                "virtual_hosts": [{"name": "datalid", "domains": ["*"], "routes": _routes()}],
            },
            "http_filters": [
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": _ENVOY + "extensions.filters.http.router.v3.Router"},
                }
            ],
        },
    }
    limit = {
        "name": "envoy.filters.network.connection_limit",
        "typed_config": {
            "@type": _ENVOY + "extensions.filters.network.connection_limit.v3.ConnectionLimit",
            "stat_prefix": f"{name}_connections",
            "max_connections": config.max_connections,
        },
    }
    chain: dict[str, Any] = {"filters": [limit, manager]}
    if name == "grpc" and config.tls_cert:
        chain["transport_socket"] = downstream_tls(
            config.tls_cert, config.tls_key, config.tls_client_ca, ("h2",)
        )
    return {
        "name": name,
        "address": {"socket_address": {"address": host, "port_value": port}},
        "filter_chains": [chain],
    }


def _http2(options: dict[str, Any]) -> dict[str, Any]:
    """Upstream HTTP/2 (gRPC) with ``options`` (Http2ProtocolOptions)."""
    return {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": options},
        }
    }


def _worker_cluster(name: str, config: FrontDoorConfig) -> dict[str, Any]:
    if name == UNARY_CLUSTER:
        # One connection a worker, with as many streams as the worker admits images; a call beyond
        # what they run together is refused by max_requests (pending only covers a connection
        # being opened).
        protocol = _http2({"max_concurrent_streams": config.calls_per_worker})
        limits = {
            "max_requests": config.workers * config.calls_per_worker,
            "max_pending_requests": config.pending_calls,
        }
        per_host = [{"priority": "DEFAULT", "max_connections": 1}]
    else:
        # Streams live long (a camera's, a progress stream); the workers' own limits bound them.
        protocol = _http2({})
        limits = {"max_requests": config.max_stream_calls, "max_pending_requests": config.max_stream_calls}
        per_host = []
    return {
        "name": name,
        "type": "EDS",
        "connect_timeout": "1s",
        "lb_policy": "LEAST_REQUEST",
        "typed_extension_protocol_options": protocol,
        "eds_cluster_config": {
            "eds_config": {
                "path_config_source": {
                    "path": str(_endpoints_file(config.endpoints_dir, name)),
                    "watched_directory": {"path": str(config.endpoints_dir)},
                },
                "resource_api_version": "V3",
            }
        },
        "circuit_breakers": {
            "thresholds": [
                {
                    "priority": "DEFAULT",
                    **limits,
                    "max_connections": 1024,
                    # Retries at most a fifth of the calls in flight (at least 3 at once).
                    "retry_budget": {"budget_percent": {"value": 20.0}, "min_retry_concurrency": 3},
                }
            ],
            **({"per_host_thresholds": per_host} if per_host else {}),
        },
        # No health checks or outlier detection here: the supervisor publishes a worker only once
        # it serves, unpublishes it the moment its process ends, and kills one that stops
        # answering its own health checks (workers.py). Envoy's active check would hold each new
        # worker back for an interval; its outlier detection counts a caller's deadline running
        # out as the worker's failure, and could take every worker out under an overload.
        "common_lb_config": {"healthy_panic_threshold": {"value": 0.0}},
    }


def render_bootstrap(config: FrontDoorConfig) -> str:
    """Envoy's bootstrap YAML for ``config`` (admin on loopback, a free port)."""
    control = {
        "name": CONTROL_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": _http2({}),
        "load_assignment": {
            "cluster_name": CONTROL_CLUSTER,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": str(config.control_socket)}}}}]}
            ],
        },
        # Watches of jobs and of health are long-lived; the supervisor's own limits bound them.
        "circuit_breakers": {"thresholds": [{"max_requests": 100_000, "max_pending_requests": 100_000}]},
    }
    bootstrap = {
        # File-based EDS wants a node identity, though no management server ever sees it.
        "node": {"id": "datalid-front-door", "cluster": "datalid"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [
                _listener("grpc", config.listen_host, config.listen_port, config),
                _listener("internal", "127.0.0.1", config.internal_port, config),
            ],
            "clusters": [
                _worker_cluster(UNARY_CLUSTER, config),
                _worker_cluster(STREAM_CLUSTER, config),
                control,
            ],
        },
        # Envoy's process-wide cap on client connections (it warns when none is set); each
        # listener's own, far lower, is max_connections.
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": _ENVOY + "extensions.resource_monitors.downstream_connections.v3"
                        ".DownstreamConnectionsConfig",
                        "max_active_downstream_connections": 50_000,
                    },
                }
            ]
        },
    }
    return yaml.safe_dump(bootstrap, sort_keys=False)


def _endpoint(host: str, port: int) -> dict[str, Any]:
    return {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}


def _endpoints_file(directory: Path, cluster: str) -> Path:
    return directory / f"{cluster}.json"


def write_endpoints(directory: Path, ports: list[int], version: int) -> None:
    """Tells Envoy the workers now listen on loopback ``ports``: one file per worker cluster,
    each written beside and renamed into place, the atomic move Envoy's file watch acts on."""
    for cluster in (UNARY_CLUSTER, STREAM_CLUSTER):
        assignment = {
            "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
            "cluster_name": cluster,
            "endpoints": [{"lb_endpoints": [_endpoint("127.0.0.1", port) for port in ports]}],
        }
        target = _endpoints_file(directory, cluster)
        staging = directory / f".{cluster}.json.tmp"
        staging.write_text(json.dumps({"version_info": str(version), "resources": [assignment]}))
        os.replace(staging, target)
