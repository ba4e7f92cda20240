"""The supervisor's worker processes: started, watched, replaced when they die, swapped on reload.

Each worker is a whole single-process server (``python -m server --workers 1``) on a loopback port
of its own, with its own pipeline and batchers, and no job store (its supervisor keeps the jobs).
A worker counts as ready once its gRPC health says SERVING; only then is its port published to
Envoy. A worker whose process ends unexpectedly (kill -9, out of memory) is unpublished at once
and a new one started, after a pause that grows while workers keep dying young (a crash loop
must not spin the CPU). Each worker's output goes to the supervisor's stderr, each line prefixed
with the worker's name.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["Worker", "WorkerPool", "WorkerSpec", "WorkerStartFailed"]

_LOGGER = logging.getLogger(__name__)
_LISTENING = re.compile(r"^datalid listening on \S+:(\d+)$")
_METRICS = re.compile(r"metrics on (http://\S+/metrics)")
# Lines of a worker's output kept for the error when it fails to start.
_TAIL_LINES = 20
# Longest output line forwarded whole; longer ones are cut (a worker's log lines are far shorter).
_MAX_LINE_BYTES = 16 * 1024
_FIRST_RESTART_PAUSE_S = 0.5
_MAX_RESTART_PAUSE_S = 30.0
# A worker that served this long before dying was no crash loop: the next pause starts small again.
_HEALTHY_RUN_S = 60.0
# A ready worker's health is asked this often; one that fails this many checks in a row (no answer
# within the timeout, or NOT_SERVING) is stuck, and is killed to be replaced. A busy worker still
# answers health within milliseconds: its event loop is not what the models keep busy.
_PROBE_INTERVAL_S = 1.0
_PROBE_TIMEOUT_S = 2.0
_PROBE_FAILURES = 5


class WorkerStartFailed(RuntimeError):
    """A worker exited or did not become SERVING in time; the message ends with its last lines."""


@dataclass(frozen=True)
class WorkerSpec:
    """How to start a worker.

    Attributes:
        command: the whole command line (``python -m server ... --workers 1 --port 0 ...``).
        env: its environment.
        start_timeout_s: how long it may take to load and warm its models.
        gpus: on a GPU host, the GPU of each worker slot (``CUDA_VISIBLE_DEVICES``); empty on CPU.
    """

    command: tuple[str, ...]
    env: Mapping[str, str]
    start_timeout_s: float = 300.0
    gpus: tuple[str, ...] = ()

    def env_for(self, slot: int) -> dict[str, str]:
        """The environment of the worker in ``slot``: its GPU alone where there are GPUs."""
        env = {**self.env, "DATALID_PARENT_PID": str(os.getpid())}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        return env

    def with_flags(self, flags: Sequence[str]) -> WorkerSpec:
        """This spec with ``flags`` appended (later flags win over earlier ones)."""
        return replace(self, command=(*self.command, *flags))


@dataclass(eq=False)
class Worker:
    """One worker process and what the supervisor knows of it."""

    name: str
    slot: int
    process: asyncio.subprocess.Process
    port: int = 0
    metrics_url: str = ""
    started_at: float = 0.0
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=_TAIL_LINES))
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    # Set once the supervisor stops it on purpose (reload, shutdown): its exit is no crash.
    retiring: bool = False


class WorkerPool:
    """``count`` workers from ``spec``; ``publish`` is told the ready workers' ports after every
    change (it returns once Envoy routes to exactly those).

    Args:
        spec: how to start a worker.
        count: workers to keep running.
        publish: awaited with the ports of the ready workers whenever they change.
    """

    def __init__(
        self,
        spec: WorkerSpec,
        count: int,
        publish: Callable[[list[int]], Awaitable[None]],
    ) -> None:
        self._spec = spec
        self._count = count
        self._publish = publish
        self._ready: list[Worker] = []
        self._serial = 0
        self._restart_pause_s = _FIRST_RESTART_PAUSE_S
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._reloading = asyncio.Lock()
        self._publishing = asyncio.Lock()
        # True only while a ReloadModels swap runs (replacements take the lock too).
        self._swapping = False
        # Told each time a dead worker is replaced (the supervisor's restarts counter).
        self.on_restart: Callable[[], None] = lambda: None

    @property
    def ready(self) -> list[Worker]:
        """The workers serving now (published to Envoy)."""
        return list(self._ready)

    @property
    def reloading(self) -> bool:
        """Whether a reload is in progress."""
        return self._swapping

    @property
    def count(self) -> int:
        """How many workers the pool keeps running."""
        return self._count

    async def start(self) -> None:
        """Starts every worker and waits until all serve.

        Raises:
            WorkerStartFailed: one could not start (the others are stopped).
        """
        started = await self._start_many(self._spec, self._count)
        self._ready = started
        await self._publish_ready()
        for worker in started:
            self._watch(worker)

    async def reload(
        self, flags: Sequence[str], accept: Callable[[Worker], Awaitable[None]] | None = None
    ) -> list[Worker]:
        """Starts ``count`` fresh workers with ``flags`` added, waits until they all serve, moves the
        traffic to them, then drains and stops the old ones; later replacements use ``flags`` too.
        A worker that cannot start leaves the old ones serving.

        Returns:
            The new workers.

        Raises:
            WorkerStartFailed: a new worker failed to start, or ``accept`` (awaited with one of them
                before any traffic moves) refused it; the message says why.
        """
        async with self._reloading:
            self._swapping = True
            try:
                return await self._swap(flags, accept)
            finally:
                self._swapping = False

    async def _swap(
        self, flags: Sequence[str], accept: Callable[[Worker], Awaitable[None]] | None
    ) -> list[Worker]:
        spec = self._spec.with_flags(flags)
        fresh = await self._start_many(spec, self._count)
        if accept is not None:
            try:
                await accept(fresh[0])
            except BaseException:
                await asyncio.shield(asyncio.gather(*(self._retire(worker) for worker in fresh)))
                raise
        self._spec = spec
        old, self._ready = self._ready, fresh
        for worker in fresh:
            self._watch(worker)
        try:
            await self._publish_ready()
        finally:
            # The old workers go whatever happened to the publish: the new ones are the pool now.
            await asyncio.gather(*(self._retire(worker) for worker in old))
        return fresh

    async def stop(self) -> None:
        """Stops every worker gracefully (each drains its calls within its grace period)."""
        self._closing = True
        workers, self._ready = self._ready, []
        await asyncio.gather(*(self._retire(worker) for worker in workers))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _start_many(self, spec: WorkerSpec, count: int) -> list[Worker]:
        outcomes = await asyncio.gather(
            *(self._start_one(spec, slot) for slot in range(count)), return_exceptions=True
        )
        started = [o for o in outcomes if isinstance(o, Worker)]
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            await asyncio.gather(*(self._retire(worker) for worker in started))
            raise failures[0]
        return started

    async def _start_one(self, spec: WorkerSpec, slot: int) -> Worker:
        self._serial += 1
        name = f"worker-{self._serial}"
        process = await asyncio.create_subprocess_exec(
            *spec.command,
            env=spec.env_for(slot),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # Its own session: a terminal's Ctrl-C reaches only the supervisor, which stops the
            # workers in order (they must not drain before Envoy stops sending them calls).
            start_new_session=True,
        )
        loop = asyncio.get_running_loop()
        worker = Worker(name=name, slot=slot, process=process, started_at=loop.time())
        assert process.stdout is not None and process.stderr is not None
        self._spawn(self._forward(worker, process.stdout))
        self._spawn(self._forward(worker, process.stderr))
        try:
            # asyncio.timeout, not wait_for (which on Python 3.11 can lose a cancellation that
            # lands as the wait ends: a cancelled reload would wait on for this worker).
            async with asyncio.timeout(spec.start_timeout_s):
                await self._until_serving(worker)
        except BaseException as exc:
            # Whatever ends the wait (a failure, a timeout, a cancelled reload), the process goes:
            # a worker nobody watches would hold its models' memory until the supervisor exits.
            await asyncio.shield(self._retire(worker))
            if not isinstance(exc, TimeoutError | WorkerStartFailed):
                raise
            reason = str(exc) or f"not SERVING after {spec.start_timeout_s:.0f} s"
            tail = "\n".join(worker.tail)
            raise WorkerStartFailed(f"{name} did not start: {reason}; its last lines:\n{tail}") from None
        _LOGGER.info("%s (pid %d) serving on 127.0.0.1:%d", name, process.pid, worker.port)
        return worker

    async def _until_serving(self, worker: Worker) -> None:
        exited = asyncio.ensure_future(worker.process.wait())
        try:
            listening = asyncio.ensure_future(worker.listening.wait())
            await asyncio.wait({exited, listening}, return_when=asyncio.FIRST_COMPLETED)
            listening.cancel()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{worker.port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)
                while not exited.done():
                    try:
                        answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                        if answer.status == health_pb2.HealthCheckResponse.SERVING:
                            return
                    except grpc.aio.AioRpcError:
                        pass
                    await asyncio.wait({exited}, timeout=0.2)
            raise WorkerStartFailed(f"exited with code {worker.process.returncode}")
        finally:
            if not exited.done():
                exited.cancel()

    async def _forward(self, worker: Worker, stream: asyncio.StreamReader) -> None:
        """Copies a worker's output to ours, line by line with its name; notes its ports."""
        while True:
            try:
                raw = await stream.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                raw = exc.partial
            except asyncio.LimitOverrunError as exc:
                raw = await stream.read(min(exc.consumed, _MAX_LINE_BYTES)) + b"...\n"
            if not raw:
                return
            line = raw[:_MAX_LINE_BYTES].decode(errors="replace").rstrip("\n")
            worker.tail.append(line)
            if not worker.listening.is_set() and (found := _LISTENING.match(line)):
                worker.port = int(found.group(1))
                worker.listening.set()
            elif not worker.metrics_url and (metrics := _METRICS.search(line)):
                worker.metrics_url = metrics.group(1)
            print(f"[{worker.name}] {line}", file=sys.stderr, flush=True)

    def _watch(self, worker: Worker) -> None:
        self._spawn(self._on_exit(worker))
        self._spawn(self._probe(worker))

    async def _probe(self, worker: Worker) -> None:
        """Kills ``worker`` (to be replaced) once it fails ``_PROBE_FAILURES`` health checks in a row."""
        failures = 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{worker.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while worker.process.returncode is None and not worker.retiring:
                try:
                    answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=_PROBE_TIMEOUT_S)
                    serving = answer.status == health_pb2.HealthCheckResponse.SERVING
                except grpc.aio.AioRpcError:
                    serving = False
                failures = 0 if serving else failures + 1
                if failures >= _PROBE_FAILURES and not worker.retiring:
                    _LOGGER.error("%s failed %d health checks in a row; killing it", worker.name, failures)
                    with contextlib.suppress(ProcessLookupError):
                        worker.process.kill()
                    return
                await asyncio.sleep(_PROBE_INTERVAL_S)

    async def _on_exit(self, worker: Worker) -> None:
        code = await worker.process.wait()
        if worker.retiring or self._closing:
            return
        loop = asyncio.get_running_loop()
        lived_s = loop.time() - worker.started_at
        _LOGGER.error(
            "%s (pid %d) exited with code %d after %.0f s; replacing it",
            worker.name,
            worker.process.pid,
            code,
            lived_s,
        )
        if worker in self._ready:
            self._ready.remove(worker)
            await self._publish_ready()
        if lived_s >= _HEALTHY_RUN_S:
            self._restart_pause_s = _FIRST_RESTART_PAUSE_S
        await self._replace(worker.slot)

    async def _replace(self, slot: int) -> None:
        while not self._closing:
            pause_s = self._restart_pause_s
            self._restart_pause_s = min(_MAX_RESTART_PAUSE_S, pause_s * 2)
            await asyncio.sleep(pause_s)
            try:
                async with self._reloading:  # a reload in progress brings its own workers
                    if self._closing or len(self._ready) >= self._count:
                        return
                    worker = await self._start_one(self._spec, slot)
                    self._ready.append(worker)
                    self.on_restart()
                    self._watch(worker)
                    await self._publish_ready()
                    return
            except Exception as exc:  # a failed start, Envoy slow to take it, no process slots
                _LOGGER.error(
                    "replacing a worker failed; trying again in %.1f s: %s", self._restart_pause_s, exc
                )

    async def _publish_ready(self) -> None:
        # One at a time, each the set ready now: two at once (two workers dying together) would
        # each wait for Envoy to hold its own set, and the first would wait for one it never gets.
        async with self._publishing:
            await self._publish([w.port for w in self._ready])

    async def _retire(self, worker: Worker) -> None:
        """Stops ``worker`` gracefully (SIGTERM: it drains within its grace period), killing it if
        it has not exited well after that."""
        worker.retiring = True
        if worker.process.returncode is None:
            try:
                worker.process.send_signal(signal.SIGTERM)
                async with asyncio.timeout(120):
                    await worker.process.wait()
            except ProcessLookupError:
                pass
            except TimeoutError:
                worker.process.kill()
                await worker.process.wait()

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
