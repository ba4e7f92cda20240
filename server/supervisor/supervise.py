"""``python -m server --workers N``: Envoy on the port, N worker processes behind it, and this
process in between, which starts them, replaces the ones that die, keeps the jobs and answers
health, GetStats and ReloadModels for all of them.

Order of start: Envoy first (it is forked before this process has any thread), then this process's
own gRPC server on a Unix socket Envoy routes control calls to, then the workers; the port is
announced once Envoy listens, and health turns SERVING once a worker serves. Order of stop
(SIGTERM, SIGINT): health NOT_SERVING, the job runner puts running jobs back in the queue, the
workers drain their calls (each within ``grace_s``; a call refused by a stopping worker is
retried by Envoy on another one while any is left), and Envoy goes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import Counter, Gauge
from tritonclient.grpc import service_pb2_grpc

from datalid.v1 import admin_service_pb2_grpc
from pipeline.runtime import available_providers, cpu_count
from server.api.inference import url_fetcher
from server.app import (
    add_job_service,
    bind_problem,
    new_grpc_server,
    on_hangup,
    open_job_store,
    set_health,
    start_metrics_http,
    tls_credentials,
)
from server.config import ServerConfig
from server.edge.auth import hash_key, new_key
from server.edge.interceptors.draining import DrainingInterceptor
from server.edge.parts import Edge
from server.supervisor.control import ControlAdminService, remote_job_process
from server.supervisor.envoy import FrontDoorEnvoy
from server.supervisor.front_door import FrontDoorConfig
from server.supervisor.kserve_control import ControlInferenceService
from server.supervisor.metrics import WorkersCollector
from server.supervisor.workers import WorkerPool, WorkerSpec

__all__ = ["gpu_ids", "supervise", "worker_count", "worker_flags"]

_LOGGER = logging.getLogger(__name__)
_GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
_HEALTH_POLL_S = 0.25


def gpu_ids(config: ServerConfig, environ: Mapping[str, str]) -> list[str]:
    """The GPUs the models would run on: none unless a GPU provider is both allowed and present;
    then ``CUDA_VISIBLE_DEVICES``'s list, else the GPUs ``nvidia-smi -L`` lists."""
    allowed = {name.lower().removesuffix("executionprovider") for name in config.pipeline.runtime.providers}
    present = [p for p in available_providers() if p in _GPU_PROVIDERS]
    if not any(p.lower().removesuffix("executionprovider") in allowed for p in present):
        return []
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip()]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False)
    return [str(i) for i, line in enumerate(listed.stdout.splitlines()) if line.startswith("GPU ")]


def worker_count(config: ServerConfig, gpus: list[str]) -> int:
    """``config.workers``, or when 0: one per GPU on a GPU host, else one per core."""
    if config.workers:
        return config.workers
    return len(gpus) or cpu_count()


def worker_flags(config: ServerConfig, count: int, key: str) -> list[str]:
    """The flags each worker gets after the supervisor's own: it serves alone on a free loopback
    port with no TLS, pid file or jobs of its own, its share of the cores, and of the rate limit
    (each worker keeps its own buckets, so together they allow about what one server would)."""
    cores, concurrency, share = _worker_share(config, count)
    flags = [
        "--workers", "1",
        "--host", "127.0.0.1",
        "--port", "0",
        "--metrics-host", "127.0.0.1",
        "--metrics-port", "0" if config.metrics_port >= 0 else "-1",
        "--pid-file", "",
        "--tls-cert-file", "",
        "--tls-key-file", "",
        "--tls-client-ca-file", "",
        "--serve-jobs", "false",
        "--reuse-port", "false",
        "--max-concurrency", str(concurrency),
    ]  # fmt: skip
    if not config.pipeline.runtime.intra_op_threads:
        flags += ["--intra-op-threads", str(max(1, cores // concurrency))]
    # Room for what Envoy sends a worker (its unary calls and its share of the streams) and for
    # the supervisor's health checks beside them: a worker at its call limit refuses those too.
    flags += ["--max-concurrent-rpcs", str(config.max_concurrent_rpcs + 2 * share + 8)]
    flags += ["--max-streams-per-connection", str(max(config.max_streams_per_connection, 2 * share))]
    if not config.pipeline.max_pending_images:
        # Twice its share of Envoy's limit: Envoy's least-request choice can hand one worker a
        # call or two beyond its share, and those must not be refused by the worker (costly, in
        # Python) while Envoy's own limit (cheap, in C++) is what bounds the whole.
        flags += ["--max-pending-images", str(2 * share)]
    if key:
        flags += ["--supervisor-key-hash", hash_key(key)]
    if config.rate_limit_rps > 0:
        flags += ["--rate-limit-rps", f"{config.rate_limit_rps / count:g}"]
        flags += ["--rate-limit-burst", str(math.ceil(config.rate_limit_burst / count))]
    return flags


def _worker_share(config: ServerConfig, count: int) -> tuple[int, int, int]:
    """One worker's share of the machine: (cores, pipeline threads, images it admits at once:
    its pipeline's ``max_pending_images``, what Envoy sends it at most)."""
    cores = max(1, cpu_count() // count)
    concurrency = config.pipeline.max_concurrency or cores
    return cores, concurrency, config.pipeline.max_pending_images or 4 * concurrency


async def supervise(
    config: ServerConfig,
    argv: list[str],
    on_listening: Callable[[int], None] = lambda port: None,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """Runs the front door, the workers and the control server until SIGTERM or SIGINT.

    Args:
        config: the configuration (of the supervisor; workers get ``argv`` plus ``worker_flags``).
        argv: the command-line flags this process was started with.
        on_listening: told Envoy's port once it listens.

    Raises:
        RuntimeError: Envoy or the first workers could not start; the job store is in use.
    """
    # Asked before Envoy tries: its own errors are a page of log lines.
    problem = bind_problem(config.host, config.port) if config.port else None
    if problem:
        raise RuntimeError(f"cannot listen on {config.host}:{config.port}: {problem}")
    tls_credentials(config)  # raises, naming the file, if a certificate or key cannot be read
    gpus = gpu_ids(config, environ)
    count = worker_count(config, gpus)
    key = new_key() if config.auth_required else ""
    share = _worker_share(config, count)[2]
    with tempfile.TemporaryDirectory(prefix="datalid-supervisor-") as work:
        control_socket = Path(work) / "control.sock"
        front = FrontDoorEnvoy(
            FrontDoorConfig(
                listen_host=config.host,
                listen_port=config.port,
                control_socket=control_socket,
                endpoints_dir=Path(work),
                workers=count,
                calls_per_worker=share,
                pending_calls=count * share,
                max_stream_calls=count * config.max_concurrent_rpcs,
                max_connections=config.max_connections,
                max_streams_per_connection=config.max_streams_per_connection,
                idle_timeout_s=config.max_connection_idle_s,
                tls_cert=str(config.tls_cert_file or ""),
                tls_key=str(config.tls_key_file or ""),
                tls_client_ca=str(config.tls_client_ca_file or ""),
            )
        )
        front.start()
        try:
            port, internal_port = await front.listening()
            spec = WorkerSpec(
                command=(sys.executable, "-m", "server", *argv, *worker_flags(config, count, key)),
                env=dict(environ),
                gpus=tuple(gpus),
            )
            await _serve(
                config, front, spec, count, key, control_socket, internal_port, lambda: on_listening(port)
            )
        finally:
            front.stop()


async def _serve(
    config: ServerConfig,
    front: FrontDoorEnvoy,
    spec: WorkerSpec,
    count: int,
    key: str,
    control_socket: Path,
    internal_port: int,
    announce: Callable[[], None],
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Undone in reverse order on the way out, whatever fails on the way in.
    async with contextlib.AsyncExitStack() as cleanup:
        cleanup.callback(_remove_signal_handlers, loop)
        job_store = await open_job_store(config)
        cleanup.push_async_callback(job_store.close)
        # Jobs and admin callers are authenticated here as a worker would; the supervisor's own
        # calls to its workers carry its key.
        edge = Edge.from_config(config, job_counts=job_store.counts_by_state)
        cleanup.callback(edge.close)
        draining = DrainingInterceptor()
        server = new_grpc_server(config, edge, draining)
        limits = [("grpc.max_receive_message_length", config.max_message_bytes)]
        limits.append(("grpc.max_send_message_length", config.max_message_bytes))
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{internal_port}", options=limits)
        cleanup.push_async_callback(channel.close)
        fetcher = url_fetcher(config)
        cleanup.push_async_callback(fetcher.aclose)
        runner = add_job_service(server, config, job_store, fetcher, remote_job_process(channel, key))
        pool = WorkerPool(spec, count, front.publish)
        admin = ControlAdminService(pool, key)
        admin_service_pb2_grpc.add_AdminServiceServicer_to_server(admin, server)
        inference = ControlInferenceService(pool, key, admin)
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(inference, server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        server.add_insecure_port(f"unix:{control_socket}")
        await server.start()
        cleanup.push_async_callback(server.stop, 1.0)
        # Workers stop after the runner: jobs they were reading go back to the queue first.
        cleanup.push_async_callback(pool.stop)
        cleanup.push_async_callback(runner.close)
        registry = edge.metrics.registry
        Gauge("datalid_workers_ready", "worker processes serving now", registry=registry).set_function(
            lambda: len(pool.ready)
        )
        restarts = Counter(
            "datalid_worker_restarts", "workers that died and were replaced", registry=registry
        )
        pool.on_restart = restarts.inc
        metrics_http = start_metrics_http(config, WorkersCollector(registry, lambda: pool.ready).registry)
        if metrics_http is not None:
            cleanup.callback(metrics_http.close)
        loop.add_signal_handler(signal.SIGHUP, _forward_hangup(config, edge, pool))
        announce()
        starting = asyncio.create_task(pool.start())
        watching = asyncio.create_task(_health(health_servicer, pool, starting))
        stopped = asyncio.create_task(stop.wait())
        envoy_exit = asyncio.create_task(asyncio.to_thread(front.process.wait))
        try:
            await asyncio.wait({starting, stopped, envoy_exit}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                starting.result()  # the first workers failed: raise
                runner.start()
                _LOGGER.info("serving with %d workers", count)
                await asyncio.wait({stopped, envoy_exit}, return_when=asyncio.FIRST_COMPLETED)
            if envoy_exit.done() and not stop.is_set():
                raise RuntimeError(f"the front door's Envoy exited with code {front.process.returncode}")
        finally:
            await set_health(health_servicer, health_pb2.HealthCheckResponse.NOT_SERVING)
            draining.start_draining()
            _LOGGER.info("shutting down: workers drain their calls (up to %.1f s)", config.grace_s)
            for task in (starting, watching, stopped):
                task.cancel()
            await asyncio.gather(starting, watching, stopped, return_exceptions=True)
    _LOGGER.info("stopped")


def _remove_signal_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.remove_signal_handler(signum)


async def _health(
    servicer: health.aio.HealthServicer, pool: WorkerPool, starting: asyncio.Task[None]
) -> None:
    """SERVING while a worker serves (and the first ones have all started), else NOT_SERVING."""
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    current = None
    while True:
        wanted = serving if starting.done() and not starting.exception() and pool.ready else not_serving
        if wanted != current:
            await set_health(servicer, wanted)
            current = wanted
        await asyncio.sleep(_HEALTH_POLL_S)


def _forward_hangup(config: ServerConfig, edge: Edge, pool: WorkerPool) -> Callable[[], None]:
    """SIGHUP reloads the API keys here and in every worker."""
    reload_here = on_hangup(config, edge.authenticator)

    def hangup() -> None:
        reload_here()
        for worker in pool.ready:
            if worker.process.returncode is None:
                worker.process.send_signal(signal.SIGHUP)

    return hangup
