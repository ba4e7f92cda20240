"""The composition root: builds the gRPC server from the configuration and runs its lifecycle."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry
from tritonclient.grpc import service_pb2_grpc

from datalid.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    expiry_date_service_pb2,
    expiry_date_service_pb2_grpc,
    job_service_pb2,
    job_service_pb2_grpc,
)
from pipeline import Pipeline, load_pipeline
from server.api.admin import AdminService
from server.api.inference import ExpiryDateService, url_fetcher
from server.api.jobs import JobService
from server.config import ServerConfig, default_job_db_path
from server.edge.auth import Authenticator, load_keys
from server.edge.interceptors.access_log import AccessLogInterceptor
from server.edge.interceptors.auth import AuthInterceptor
from server.edge.interceptors.draining import DrainingInterceptor
from server.edge.interceptors.malformed import MalformedRequestInterceptor
from server.edge.interceptors.metrics import MetricsInterceptor
from server.edge.interceptors.rate_limit import RateLimitInterceptor, caller_key
from server.edge.interceptors.tracing import TracingInterceptor
from server.edge.metrics import HistogramSnapshot, MetricsHttpServer, ModelStatsSnapshot
from server.edge.parts import Edge
from server.fetch.fetcher import UrlFetcher
from server.host import PipelineHost
from server.jobs.postgres import PostgresJobStore
from server.jobs.records import JobQuota
from server.jobs.runner import JobProcess, JobRunner, local_job_process
from server.jobs.sqlite import JobStore
from server.kserve.metrics import TritonMetrics
from server.kserve.service import SERVICE_NAME as KSERVE_SERVICE
from server.kserve.service import InferenceService, Reload
from server.kserve.stats import InferenceLedger, ModelCounters, model_counters

__all__ = [
    "SERVICE_NAMES",
    "Running",
    "add_job_service",
    "add_kserve_service",
    "bind_problem",
    "build_server",
    "load_models",
    "model_snapshots",
    "new_grpc_server",
    "on_hangup",
    "open_job_store",
    "reload_keys",
    "serve",
    "set_health",
    "shutdown",
    "start_metrics_http",
    "tls_credentials",
]

_LOGGER = logging.getLogger(__name__)

SERVICE_NAMES: tuple[str, ...] = (
    expiry_date_service_pb2.DESCRIPTOR.services_by_name["ExpiryDateService"].full_name,
    job_service_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    # The KServe v2 / Triton protocol (server/kserve/), on the same port.
    KSERVE_SERVICE,
)


@dataclass(frozen=True)
class Running:
    """A started server with the parts its lifecycle needs."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    host: PipelineHost
    draining: DrainingInterceptor
    edge: Edge
    # None in a supervisor's worker (serve_jobs false): the supervisor keeps the jobs.
    job_store: JobStore | PostgresJobStore | None
    job_runner: JobRunner | None
    # Shared by ProcessUrl and URL jobs; shutdown abandons its fetches once the grace period is over.
    fetcher: UrlFetcher


async def set_health(servicer: health.aio.HealthServicer, status: int) -> None:
    """Sets ``status`` for the whole server ("", as grpc-health-probe and Envoy ask by default)
    and for each service."""
    await asyncio.gather(*(servicer.set(name, status) for name in ("", *SERVICE_NAMES)))


def model_snapshots(host: PipelineHost) -> list[ModelStatsSnapshot]:
    """Each model batcher's counters for the metrics scrape; none while the models load."""
    if not host.ready:
        return []
    return [
        ModelStatsSnapshot(
            name=model.name,
            inference_count=model.inference_count,
            exec_count=model.execution_count,
            queue_seconds=HistogramSnapshot(model.queue_seconds_buckets, model.queue_seconds_total),
            compute_seconds=HistogramSnapshot(model.compute_seconds_buckets, model.compute_seconds_total),
            batch_size=HistogramSnapshot.from_counts(model.batch_size_counts),
        )
        for model in host.pipeline.stats().models
    ]


# The HTTP/2 window of a stream whose message no call reads yet (gRPC's own default is 64 KiB, but
# its BDP probe raises it to 4 MiB or more, up to twice the measured bandwidth-delay product).
_STREAM_WINDOW_BYTES = 64 * 1024
# Frames as large as the BDP probe would allow: fewer frames for a photo, and no memory either way,
# since the windows bound what a caller may send.
_MAX_FRAME_BYTES = 4 * 1024 * 1024


def _transport_options(config: ServerConfig) -> list[tuple[str, int]]:
    """gRPC core settings that bound the request bytes held for calls no handler has finished.

    gRPC reads a unary call's whole request message, and grows the stream's window to the size its
    5-byte header declares, before any interceptor or handler runs; a stream no call reads yet
    holds at most its window. So, whoever sends them (with or without credentials), the server holds
    at most, in request bytes:

        max_concurrent_rpcs x max_message_bytes                                 (calls reading)
        + max_connections x max_streams_per_connection x _STREAM_WINDOW_BYTES   (streams waiting)

    1 GiB + 512 MiB with the defaults (64 x 16 MiB + 256 x 32 x 64 KiB). Streams waiting are
    short-lived: grpc.aio answers each new call beyond ``max_concurrent_rpcs`` RESOURCE_EXHAUSTED
    at once. A call whose message never ends is closed with its connection at most
    ``max_connection_age_s`` (+10% jitter) + ``max_connection_age_grace_s`` after the connection
    opened. Without these, a caller without credentials ran a 6 GiB server out of memory with
    unfinished 16 MiB messages (issue 11). Our BDP-probe-free windows cost no
    measurable time: a 2 MB request over loopback, and a Process call, take as long as before.
    """
    return [
        ("grpc.max_concurrent_streams", config.max_streams_per_connection),
        ("grpc.max_allowed_incoming_connections", config.max_connections),
        # The BDP probe would raise every stream's window to 4 MiB and more; a window that fits a
        # message still opens as soon as a call reads it (gRPC sizes it from the message header).
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", _STREAM_WINDOW_BYTES),
        ("grpc.http2.max_frame_size", _MAX_FRAME_BYTES),
        ("grpc.max_connection_age_ms", int(config.max_connection_age_s * 1000)),
        ("grpc.max_connection_age_grace_ms", int(config.max_connection_age_grace_s * 1000)),
        ("grpc.max_connection_idle_ms", int(config.max_connection_idle_s * 1000)),
    ]


# 2 x the 8 KiB REST path Envoy lets through, plus 16 KiB for every other header (keys, JWTs,
# trace context, Envoy's own).
_MAX_METADATA_BYTES = 32 * 1024


def new_grpc_server(config: ServerConfig, edge: Edge, draining: DrainingInterceptor) -> grpc.aio.Server:
    """A gRPC server (no services, no port yet) with the configured transport limits and the edge's
    interceptors: what a serving process and a ``--workers`` supervisor both answer calls with."""
    message_limits = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        # Camera clients ping to keep streams open through NATs; accept that, even between calls.
        ("grpc.keepalive_permit_without_calls", 1),
        (
            "grpc.http2.min_recv_ping_interval_without_data_ms",
            int(config.keepalive_min_ping_interval_s * 1000),
        ),
        ("grpc.http2.max_ping_strikes", 0),
        # gRPC sets SO_REUSEPORT by default: a second server on a taken port would start silently
        # and the kernel would split the calls between the two. Off unless asked for.
        ("grpc.so_reuseport", 1 if config.reuse_port else 0),
        # Request metadata: one limit, not gRPC's soft 8 KiB and hard 16 KiB between which calls are
        # refused at random (RESOURCE_EXHAUSTED, HTTP 429 through Envoy). Envoy forwards a REST path
        # twice (:path and x-envoy-original-path) and refuses paths over 8 KiB itself (414), so
        # what it forwards stays under this; a gRPC caller over it is always refused, never sometimes.
        ("grpc.max_metadata_size", _MAX_METADATA_BYTES),
        ("grpc.absolute_max_metadata_size", _MAX_METADATA_BYTES),
        *_transport_options(config),
    ]
    # Outermost first. The observers (log, metrics, tracing) wrap everything, so refused calls
    # (UNAVAILABLE while draining, UNAUTHENTICATED, RESOURCE_EXHAUSTED) are logged, counted and
    # traced too. Then the cheap refusals, before any work: draining, auth, and rate limiting,
    # which needs the principal that auth sets. Innermost, the check that the request bytes parse:
    # an unauthenticated caller's garbage is UNAUTHENTICATED, an authenticated one's INVALID_ARGUMENT.
    interceptors: list[grpc.aio.ServerInterceptor] = [
        AccessLogInterceptor(),
        MetricsInterceptor(edge.metrics),
        *([TracingInterceptor(edge.tracer_provider.get_tracer("datalid"))] if edge.tracer_provider else []),
        draining,
        AuthInterceptor(edge.authenticator),
        *([RateLimitInterceptor(edge.buckets)] if edge.buckets else []),
        MalformedRequestInterceptor(),
    ]
    server = grpc.aio.server(
        interceptors=interceptors,
        options=message_limits,
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
    )
    return server


async def build_server(config: ServerConfig, host: PipelineHost, edge: Edge | None = None) -> Running:
    """Builds and starts the server (health NOT_SERVING until ``host`` loads); returns it with its port.

    Raises:
        RuntimeError: the address could not be bound.
        StoreInUse: another process serves the job file's jobs.
    """
    draining = DrainingInterceptor()
    job_store = await open_job_store(config) if config.serve_jobs else None
    edge = edge or Edge.from_config(
        config,
        model_stats=lambda: model_snapshots(host),
        job_counts=job_store.counts_by_state if job_store else None,
    )
    server = new_grpc_server(config, edge, draining)
    fetcher = url_fetcher(config)
    inference = ExpiryDateService(host, config, fetcher)
    expiry_date_service_pb2_grpc.add_ExpiryDateServiceServicer_to_server(inference, server)
    job_runner = None
    if job_store is not None:
        process = local_job_process(host, max_detections_limit=config.max_detections_limit)
        job_runner = add_job_service(server, config, job_store, fetcher, process)
    admin = AdminService(config, host)
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(admin, server)
    add_kserve_service(server, config, host, edge, admin.reload)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    try:
        port = _bind(server, config)
    except RuntimeError:
        if job_store is not None:
            await job_store.close()
        raise
    await set_health(health_servicer, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.start()
    return Running(
        server=server,
        port=port,
        health=health_servicer,
        host=host,
        draining=draining,
        edge=edge,
        job_store=job_store,
        job_runner=job_runner,
        fetcher=fetcher,
    )


def add_kserve_service(
    server: grpc.aio.Server, config: ServerConfig, host: PipelineHost, edge: Edge, reload: Reload
) -> InferenceService:
    """Serves the v2 protocol on ``server`` from ``host``, its statistics also on ``/metrics``
    under Triton's names."""
    ledger = InferenceLedger()
    buckets = edge.buckets
    # Each request of a ModelStreamInfer stream past its first takes a token, as a call does.
    limit = (lambda context: buckets.take(caller_key(context))) if buckets is not None else None
    service = InferenceService(host, config, ledger, reload, limit=limit)
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(service, server)

    def counters() -> list[ModelCounters]:
        # From the scrape thread: names and counters only, nothing that needs the event loop.
        names = service.served_names()
        return model_counters(ledger, names, host.model_stats()) if names else []

    edge.metrics.registry.register(TritonMetrics(counters))
    return service


async def open_job_store(config: ServerConfig) -> JobStore | PostgresJobStore:
    """The job store the configuration names: PostgreSQL at ``job_store_url``, shared by replicas,
    or else the SQLite file (``job_db_path``, or the default file per port).

    Raises:
        StoreInUse: another process serves the SQLite file's jobs.
        StoreBusy: the PostgreSQL database cannot be reached.
    """
    quota = JobQuota(
        max_jobs=config.job_max_unfinished_per_principal,
        max_bytes=config.job_max_unfinished_bytes_per_principal,
    )
    if config.job_store_url:
        store = await PostgresJobStore.open(
            config.job_store_url,
            max_attempts=config.job_max_attempts,
            lease_s=config.job_lease_s,
            quota=quota,
        )
        _LOGGER.info("jobs in PostgreSQL (replica %s)", store.replica)
        return store
    return await JobStore.open(
        config.job_db_path or default_job_db_path(config.port),
        max_attempts=config.job_max_attempts,
        quota=quota,
    )


def add_job_service(
    server: grpc.aio.Server,
    config: ServerConfig,
    job_store: JobStore | PostgresJobStore,
    fetcher: UrlFetcher,
    process: JobProcess,
) -> JobRunner:
    """Serves JobService on ``server`` from ``job_store``; returns the runner (not started) that
    runs the jobs with ``process``."""
    # A list page's bytes stay a quarter of the message limit: the jobs' other fields fit beside.
    jobs = JobService(
        job_store,
        fetcher,
        max_image_bytes=config.pipeline.decode.max_image_bytes,
        max_page_bytes=config.max_message_bytes // 4,
        max_watches_per_principal=config.job_max_watches_per_principal,
        max_detections_limit=config.max_detections_limit,
    )
    job_service_pb2_grpc.add_JobServiceServicer_to_server(jobs, server)
    return JobRunner(
        job_store,
        process,
        fetcher,
        concurrency=config.job_concurrency,
        ttl_s=config.job_ttl_s,
        queued_ttl_s=config.job_queued_ttl_s,
        max_message_bytes=config.max_message_bytes,
        max_attempts=config.job_max_attempts,
    )


def _bind(server: grpc.aio.Server, config: ServerConfig) -> int:
    """Adds the listening port; returns the bound one.

    Raises:
        RuntimeError: the address cannot be bound (taken, or not this machine's), with the reason.
    """
    address = f"{config.host}:{config.port}"
    credentials = tls_credentials(config)
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:
        port = 0
    if port == 0:
        hint = "" if config.reuse_port else " (another server on this port? --reuse-port true shares it)"
        problem = bind_problem(config.host, config.port) or "gRPC could not bind it"
        raise RuntimeError(f"cannot listen on {address}: {problem}{hint}")
    return port


def tls_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """The gRPC port's TLS (mutual with a client CA), or None for plaintext.

    Raises:
        RuntimeError: a certificate, key or CA file cannot be read, naming it.
    """
    if config.tls_cert_file is None or config.tls_key_file is None:
        return None

    def read(name: str, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise RuntimeError(f"cannot read {name} {path}: {exc.strerror or exc}") from None

    chain = read("tls_cert_file", config.tls_cert_file)
    key = read("tls_key_file", config.tls_key_file)
    ca = read("tls_client_ca_file", config.tls_client_ca_file) if config.tls_client_ca_file else None
    mutual = ca is not None
    return grpc.ssl_server_credentials([(key, chain)], root_certificates=ca, require_client_auth=mutual)


def bind_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound, in the system's words (gRPC's and Envoy's own errors only
    say that it failed), or None if a throwaway socket binds it now."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return str(exc)
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                return exc.strerror or str(exc)
    return None


async def load_models(running: Running) -> None:
    """Loads and warms the models, then switches health to SERVING."""
    await running.host.load()
    if running.job_runner is not None:
        running.job_runner.start()
    await set_health(running.health, health_pb2.HealthCheckResponse.SERVING)
    _LOGGER.info("serving on port %d", running.port)


async def serve(
    config: ServerConfig,
    load: Callable[[], Pipeline] | None = None,
    on_listening: Callable[[int], None] = lambda port: None,
) -> None:
    """Runs the server until SIGTERM or SIGINT, then shuts down in order.

    Shutdown: health goes NOT_SERVING (load balancers stop sending), the server refuses new
    calls and gives in-flight ones ``grace_s`` to finish, then the models are released.

    Args:
        config: the server's settings.
        load: builds the pipeline (default: ``load_pipeline(config.pipeline)``).
        on_listening: told the bound port as soon as the server listens, before models load.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        # A second signal during shutdown must not kill the process mid-drain: the grace period
        # is the operator's promise to in-flight callers, so it is only logged.
        if stop.is_set():
            _LOGGER.warning("shutdown already in progress; in-flight calls get up to %.1f s", config.grace_s)
        stop.set()

    # Handlers go in before the port is announced, so a signal right after start-up is graceful too.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    # SIGHUP too, whatever the configuration: its default action kills the process, and an
    # operator's or supervisor's "reload" must never take the server down.
    loop.add_signal_handler(signal.SIGHUP, _LOGGER.info, "SIGHUP while starting: nothing to reload yet")
    running = await build_server(config, PipelineHost(load or (lambda: load_pipeline(config.pipeline))))
    loop.add_signal_handler(signal.SIGHUP, on_hangup(config, running.edge.authenticator))
    on_listening(running.port)
    loading = asyncio.create_task(load_models(running))
    metrics_http: MetricsHttpServer | None = None
    try:
        metrics_http = start_metrics_http(config, running.edge.metrics.registry)
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({loading, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if loading.done():
            loading.result()
        await stopped
    finally:
        await shutdown(running, config.grace_s, loading)
        if metrics_http is not None:
            metrics_http.close()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)


def on_hangup(config: ServerConfig, authenticator: Authenticator | None) -> Callable[[], None]:
    """What SIGHUP does: re-read the API keys file when keys are in use, else log that there is
    nothing to reload (JWT keys and every other setting are read only at start)."""
    keys_file = config.api_keys_file
    if authenticator is not None and keys_file is not None:
        return lambda: reload_keys(keys_file, authenticator)
    return lambda: _LOGGER.info("SIGHUP: no API keys file in use, nothing to reload")


def reload_keys(path: Path, authenticator: Authenticator) -> None:
    """Re-reads the API keys file (on SIGHUP): keys added or revoked with ``python -m server.edge.keys``
    take effect without a restart. A file that cannot be read or parsed changes nothing: the keys in
    force stay, so a half-written edit never locks every caller out."""
    try:
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing")
        keys = load_keys(path)
    except (OSError, ValueError) as exc:
        # One log line: YAML errors span several.
        reason = " ".join(str(exc).split())
        _LOGGER.error("API keys not reloaded, the %d keys in force stay: %s", authenticator.key_count, reason)
        return
    authenticator.replace_keys(keys)
    _LOGGER.info("reloaded %d API keys from %s", len(keys), path)


def start_metrics_http(config: ServerConfig, registry: CollectorRegistry) -> MetricsHttpServer | None:
    """Serves ``registry`` on ``metrics_host:metrics_port`` (None when the port is -1).

    Raises:
        RuntimeError: the port cannot be bound, naming it.
    """
    if config.metrics_port < 0:
        return None
    try:
        metrics_http = MetricsHttpServer(registry, config.metrics_host, config.metrics_port)
    except OSError as exc:
        where = f"{config.metrics_host}:{config.metrics_port}"
        raise RuntimeError(f"cannot serve metrics on {where}: {exc}") from exc
    _LOGGER.info("metrics on http://%s:%d/metrics", config.metrics_host, metrics_http.port)
    return metrics_http


async def shutdown(running: Running, grace_s: float, loading: asyncio.Task[None]) -> None:
    """Stops serving gracefully: NOT_SERVING, refuse new calls, drain in-flight ones, release models,
    flush traces. The metrics endpoint, started by :func:`serve`, is closed there."""
    running.draining.start_draining()
    await running.health.enter_graceful_shutdown()
    # Logged only now: once this line is out, every new call is refused with UNAVAILABLE.
    _LOGGER.info(
        "shutting down: health NOT_SERVING, new calls refused, %d in flight get %.1f s",
        running.draining.in_flight,
        grace_s,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    if not await running.draining.wait_idle(grace_s):
        _LOGGER.warning(
            "grace period over with %d calls in flight; cancelling them", running.draining.in_flight
        )
    await running.server.stop(max(0.0, deadline - loop.time()))
    if not loading.done():
        loading.cancel()
    await asyncio.gather(loading, return_exceptions=True)
    # Jobs still running go back to QUEUED for the next start (their claim given back). Before the
    # fetcher closes: a URL job whose fetch the fetcher ended would see ShuttingDown, not the stop.
    if running.job_runner is not None:
        await running.job_runner.close()
    # The grace period is over: URL fetches still in flight close their sockets now instead of
    # running on to url_timeout_s.
    await running.fetcher.aclose()
    if running.job_store is not None:
        await running.job_store.close()
    await running.host.close()
    # Last: spans of the calls drained above are flushed before the exporter stops.
    running.edge.close()
    _LOGGER.info("stopped")
