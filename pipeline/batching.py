"""Dynamic batching: many callers' items gathered into batches for one model, on an asyncio loop.

The batcher is pure queue logic. The model is injected as ``run_batch``, an async callable that takes
a list of items and returns one result per item, in order; the batcher knows nothing of ONNX.

    batcher = DynamicBatcher(run_batch, name="ocr_rec", max_batch_size=8, max_queue_delay_us=2000)
    text = await batcher.submit(crop, deadline=time.monotonic() + 1.0)
    ...
    await batcher.aclose()

Scheduling, per batcher:

- A batch is formed from the oldest item of the highest priority waiting (``Priority.INTERACTIVE``
  before ``Priority.JOB``), plus the items queued after it that share its ``group_key`` (items of
  other shapes never share a batch), interactive ones first.
- It is sent as soon as it holds ``max_batch_size`` items (or the largest preferred batch size), or
  when ``max_queue_delay_us`` has passed since its first item was queued, whichever comes first.
  At that point the largest preferred batch size that fits is sent, or everything there is.
- At most ``instances`` batches run at once. While all instances are busy, items keep queueing and
  the next batch is formed when one frees up, so batches grow with the load.
- The queue is bounded: ``submit`` raises :class:`~pipeline.errors.Overloaded` at once when it is
  full. An item whose deadline passes while it waits is failed with
  :class:`~pipeline.errors.DeadlineExceeded` by its own timer and never runs. A caller that is
  cancelled takes its items out of the queue.
- Every future is resolved: with its result, with the batch's error (a wrong number of results is a
  :class:`~pipeline.errors.BatchContractError`), or with ShuttingDown by :meth:`aclose`.
"""

from __future__ import annotations

import asyncio
import bisect
import enum
import itertools
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pipeline.errors import BatchContractError, DeadlineExceeded, Overloaded, ShuttingDown

__all__ = ["SECONDS_BUCKETS", "BatcherConfig", "BatcherStats", "DynamicBatcher", "Priority"]

_LOGGER = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


class Priority(enum.IntEnum):
    """Who waits first when both are queued: lower values are served first."""

    INTERACTIVE = 0  # a caller is waiting on the other end of a unary call
    JOB = 1  # asynchronous jobs and bulk work


def _require(condition: bool, name: str, value: object, rule: str) -> None:
    if not condition:
        raise ValueError(f"{name} must be {rule}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class BatcherConfig:
    """How one model's batches are formed and run.

    Attributes:
        max_batch_size: the most items in one execution.
        max_queue_delay_us: how long the first item of a batch may wait for others, microseconds.
            0 sends whatever is queued as soon as an instance is free.
        preferred_batch_sizes: batch sizes the model runs best at; a batch of the largest one is
            sent at once, and when the delay runs out the largest one that fits is sent.
        instances: how many batches of this model may run at once.
        max_queue_size: items that may wait; beyond it ``submit`` raises Overloaded.
    """

    max_batch_size: int = 1
    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    instances: int = 1
    max_queue_size: int = 64

    def __post_init__(self) -> None:
        _require(self.max_batch_size >= 1, "max_batch_size", self.max_batch_size, "an integer >= 1")
        _require(self.max_queue_delay_us >= 0, "max_queue_delay_us", self.max_queue_delay_us, ">= 0")
        _require(
            all(1 <= size <= self.max_batch_size for size in self.preferred_batch_sizes),
            "preferred_batch_sizes",
            self.preferred_batch_sizes,
            f"sizes in 1..max_batch_size ({self.max_batch_size})",
        )
        _require(self.instances >= 1, "instances", self.instances, "an integer >= 1")
        _require(self.max_queue_size >= 1, "max_queue_size", self.max_queue_size, "an integer >= 1")


@dataclass(frozen=True, kw_only=True)
class BatcherStats:
    """What one batcher has done since it was built (counters only grow).

    Attributes:
        name: the model's name.
        inference_count: items run.
        execution_count: batches run (a batch counts once).
        queue_seconds_total: the time items spent queued, summed over items.
        compute_seconds_total: the time ``run_batch`` took, summed over batches.
        batch_size_counts: batches run, by size.
        batch_size_seconds: ``run_batch`` time of those batches, summed by size.
        rejected_count: items refused because the queue was full.
        expired_count: items whose deadline passed while queued.
        cancelled_count: items whose caller went away while they were queued.
        queued: items waiting now.
        running: batches running now.
        queue_seconds_buckets: (upper bound in seconds, items that waited at most that long),
            cumulative, the last bound +inf: a Prometheus-style histogram of queue time per item.
        compute_seconds_buckets: the same for ``run_batch`` time per batch.
        last_run_unix_s: when the last batch ended, Unix seconds (0: none yet).
    """

    name: str
    inference_count: int = 0
    execution_count: int = 0
    queue_seconds_total: float = 0.0
    compute_seconds_total: float = 0.0
    batch_size_counts: dict[int, int] = field(default_factory=dict)
    batch_size_seconds: dict[int, float] = field(default_factory=dict)
    rejected_count: int = 0
    expired_count: int = 0
    cancelled_count: int = 0
    queued: int = 0
    running: int = 0
    queue_seconds_buckets: tuple[tuple[float, int], ...] = ()
    compute_seconds_buckets: tuple[tuple[float, int], ...] = ()
    last_run_unix_s: float = 0.0

    def plus(self, other: BatcherStats) -> BatcherStats:
        """These counters and ``other``'s together (the same model's, of two batchers: a reload's
        old and new); ``queued`` and ``running`` are the sum of now, histograms added by bucket."""

        def added(a: dict[int, Any], b: dict[int, Any]) -> dict[int, Any]:
            return {k: a.get(k, 0) + b.get(k, 0) for k in sorted({*a, *b})}

        def buckets(a: tuple[tuple[float, int], ...], b: tuple[tuple[float, int], ...]) -> tuple:
            if not a or not b:
                return a or b
            return tuple((bound, x + y) for (bound, x), (_, y) in zip(a, b, strict=True))

        return BatcherStats(
            name=self.name,
            inference_count=self.inference_count + other.inference_count,
            execution_count=self.execution_count + other.execution_count,
            queue_seconds_total=self.queue_seconds_total + other.queue_seconds_total,
            compute_seconds_total=self.compute_seconds_total + other.compute_seconds_total,
            batch_size_counts=added(self.batch_size_counts, other.batch_size_counts),
            batch_size_seconds=added(self.batch_size_seconds, other.batch_size_seconds),
            rejected_count=self.rejected_count + other.rejected_count,
            expired_count=self.expired_count + other.expired_count,
            cancelled_count=self.cancelled_count + other.cancelled_count,
            queued=self.queued + other.queued,
            running=self.running + other.running,
            queue_seconds_buckets=buckets(self.queue_seconds_buckets, other.queue_seconds_buckets),
            compute_seconds_buckets=buckets(self.compute_seconds_buckets, other.compute_seconds_buckets),
            last_run_unix_s=max(self.last_run_unix_s, other.last_run_unix_s),
        )


# Upper bounds of the time histograms, seconds: from a GPU batch (~1 ms) to a long CPU queue.
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf)


class _Histogram:
    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = [0] * len(SECONDS_BUCKETS)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(SECONDS_BUCKETS, value)] += 1

    def cumulative(self) -> tuple[tuple[float, int], ...]:
        return tuple(zip(SECONDS_BUCKETS, itertools.accumulate(self.counts), strict=True))


class _Request:
    """One queued item and the future its caller awaits."""

    __slots__ = ("deadline", "enqueued_at", "future", "item", "key", "priority", "timer")

    def __init__(
        self,
        item: Any,
        key: Hashable,
        priority: Priority,
        deadline: float | None,
        future: asyncio.Future[Any],
    ) -> None:
        self.item = item
        self.key = key
        self.priority = priority
        self.deadline = deadline
        self.future = future
        self.enqueued_at = time.monotonic()
        self.timer: asyncio.TimerHandle | None = None


def _no_key(item: object) -> Hashable:
    return None


class DynamicBatcher(Generic[In, Out]):
    """Gathers items submitted by many callers into batches and runs them with ``run_batch``.

    Must be used from one event loop; the dispatcher task starts with the first ``submit``.

    Args:
        run_batch: ``async (items) -> results``, one result per item in the same order. It must
            not block the loop: run the model in an executor.
        config: batch size, delay, instances and queue bound.
        name: the model's name, for stats and logs.
        group_key: items with different keys never share a batch (e.g. their input shape).
    """

    def __init__(
        self,
        run_batch: Callable[[list[In]], Awaitable[Sequence[Out]]],
        config: BatcherConfig | None = None,
        *,
        name: str = "",
        group_key: Callable[[In], Hashable] = _no_key,
    ) -> None:
        self.config = config or BatcherConfig()
        self.name = name
        self._run_batch = run_batch
        self._group_key = group_key
        self._queues: dict[Priority, deque[_Request]] = {p: deque() for p in Priority}
        self._queued = 0
        self._running: set[asyncio.Task[None]] = set()
        self._wakeup: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._closing = False
        # Sent at once when this many items share the head's key.
        preferred = self.config.preferred_batch_sizes
        self._target_size = max(preferred) if preferred else self.config.max_batch_size
        self._delay_s = self.config.max_queue_delay_us / 1e6
        # Stats. Updated on the loop, read by stats() from any thread (a metrics scrape): the lock
        # keeps a snapshot consistent.
        self._stats_lock = threading.Lock()
        self._queue_hist = _Histogram()
        self._compute_hist = _Histogram()
        self._inference_count = 0
        self._execution_count = 0
        self._queue_s = 0.0
        self._compute_s = 0.0
        self._batch_sizes: Counter[int] = Counter()
        self._batch_seconds: dict[int, float] = {}
        self._rejected = 0
        self._expired = 0
        self._cancelled = 0
        self._last_run_unix_s = 0.0

    # ----------------------------------------------------------------- public API

    async def submit(
        self, item: In, *, priority: Priority = Priority.INTERACTIVE, deadline: float | None = None
    ) -> Out:
        """Queues one item and returns its result once its batch has run.

        Args:
            item: one model input (an image tensor, a crop).
            priority: INTERACTIVE items are batched before JOB items.
            deadline: ``time.monotonic()`` value after which the item must not start; ``None``: none.

        Raises:
            Overloaded: the queue is full.
            DeadlineExceeded: the deadline passed before the item's batch started.
            ShuttingDown: the batcher is closing.
            BatchContractError: ``run_batch`` returned the wrong number of results.
            Exception: whatever ``run_batch`` raised for the batch.
        """
        (result,) = await self.submit_many([item], priority=priority, deadline=deadline)
        return result

    async def submit_many(
        self, items: Sequence[In], *, priority: Priority = Priority.INTERACTIVE, deadline: float | None = None
    ) -> list[Out]:
        """Queues several items of one caller at once (all or none) and returns their results in order.

        The items may be batched with each other and with other callers' items. Raises as
        :meth:`submit`; the queue must have room for all of them.
        """
        if not items:
            return []
        requests = self._enqueue(items, priority, deadline)
        try:
            return list(await asyncio.gather(*(r.future for r in requests)))
        except BaseException:
            # The caller was cancelled, or one item failed: nothing of this call may run any more.
            self._withdraw(requests)
            raise

    def has_room(self, count: int = 1) -> bool:
        """True when ``count`` more items would be accepted now."""
        return not self._closing and self._queued + count <= self.config.max_queue_size

    def stats(self) -> BatcherStats:
        """A consistent snapshot of the counters; cheap, and safe to call from any thread."""
        with self._stats_lock:
            return BatcherStats(
                name=self.name,
                inference_count=self._inference_count,
                execution_count=self._execution_count,
                queue_seconds_total=self._queue_s,
                compute_seconds_total=self._compute_s,
                batch_size_counts=dict(sorted(self._batch_sizes.items())),
                batch_size_seconds=dict(sorted(self._batch_seconds.items())),
                rejected_count=self._rejected,
                expired_count=self._expired,
                cancelled_count=self._cancelled,
                queued=self._queued,
                running=len(self._running),
                queue_seconds_buckets=self._queue_hist.cumulative(),
                compute_seconds_buckets=self._compute_hist.cumulative(),
                last_run_unix_s=self._last_run_unix_s,
            )

    async def aclose(self, timeout_s: float | None = None) -> None:
        """Stops taking items, lets queued and running batches finish, then stops the dispatcher.

        Args:
            timeout_s: how long queued items may still wait to run; after it they fail with
                ShuttingDown. Running batches are always awaited (a model call cannot be
                interrupted). ``None`` waits for everything. Idempotent.
        """
        self._closing = True
        self._wake()
        loop_deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._queued and (loop_deadline is None or time.monotonic() < loop_deadline):
            if self._dispatcher is None or self._dispatcher.done():
                break
            waiter = asyncio.ensure_future(self._drained())
            remaining = None if loop_deadline is None else max(0.0, loop_deadline - time.monotonic())
            await asyncio.wait({waiter}, timeout=remaining)
            waiter.cancel()
        for queue in self._queues.values():
            while queue:
                request = queue.popleft()
                self._queued -= 1
                self._settle(request, exc=ShuttingDown(f"{self.name or 'model'} is shutting down"))
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
            self._dispatcher = None

    # ----------------------------------------------------------------- queueing

    def _enqueue(self, items: Sequence[In], priority: Priority, deadline: float | None) -> list[_Request]:
        if self._closing:
            raise ShuttingDown(f"{self.name or 'model'} is shutting down")
        if deadline is not None and deadline <= time.monotonic():
            self._expired += len(items)
            raise DeadlineExceeded(f"deadline passed before {self.name or 'the model'} was queued")
        if self._queued + len(items) > self.config.max_queue_size:
            self._rejected += len(items)
            waiting = f"{self._queued} of {self.config.max_queue_size} waiting"
            raise Overloaded(f"{self.name or 'model'} queue is full ({waiting})")
        loop = asyncio.get_running_loop()
        self._start(loop)
        requests = []
        for item in items:
            request = _Request(item, self._group_key(item), priority, deadline, loop.create_future())
            if deadline is not None:
                # Its own timer, so an expired item is failed on time even while the dispatcher
                # waits for an instance or for the rest of a batch.
                request.timer = loop.call_later(deadline - time.monotonic(), self._expire, request)
            self._queues[priority].append(request)
            requests.append(request)
        self._queued += len(requests)
        self._wake()
        return requests

    def _expire(self, request: _Request) -> None:
        request.timer = None
        if self._remove(request):
            self._expired += 1
            self._settle(request, exc=DeadlineExceeded(f"deadline passed while queued for {self.name}"))

    def _withdraw(self, requests: list[_Request]) -> None:
        for request in requests:
            if self._remove(request):
                self._cancelled += 1
            # A batch that already took it drops its result (``_settle`` skips done futures).
            request.future.cancel()

    def _remove(self, request: _Request) -> bool:
        """Takes a request out of its queue; False when it already left (dispatched or settled)."""
        queue = self._queues[request.priority]
        try:
            queue.remove(request)
        except ValueError:
            return False
        self._queued -= 1
        if request.timer is not None:
            request.timer.cancel()
            request.timer = None
        self._wake()
        return True

    @staticmethod
    def _settle(request: _Request, *, result: Any = None, exc: BaseException | None = None) -> None:
        if request.timer is not None:
            request.timer.cancel()
            request.timer = None
        if request.future.done():  # the caller went away; nobody wants it
            return
        if exc is not None:
            request.future.set_exception(exc)
        else:
            request.future.set_result(result)

    # ----------------------------------------------------------------- dispatching

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            self._wakeup = asyncio.Event()
            self._dispatcher = loop.create_task(self._dispatch_forever(), name=f"batcher-{self.name}")

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def _drained(self) -> None:
        while self._queued:
            await self._wait_for_change(None)

    async def _wait_for_change(self, timeout_s: float | None) -> None:
        assert self._wakeup is not None
        if timeout_s is not None and timeout_s <= 0:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await self._wakeup.wait()
        except TimeoutError:
            pass

    def _head(self) -> _Request | None:
        for priority in Priority:
            if self._queues[priority]:
                return self._queues[priority][0]
        return None

    def _count_like(self, key: Hashable, limit: int) -> int:
        count = 0
        for priority in Priority:
            for request in self._queues[priority]:
                if request.key == key:
                    count += 1
                    if count >= limit:
                        return count
        return count

    def _batch_size_to_send(self, available: int) -> int:
        fitting = [size for size in self.config.preferred_batch_sizes if size <= available]
        return max(fitting) if fitting else min(available, self.config.max_batch_size)

    async def _dispatch_forever(self) -> None:
        assert self._wakeup is not None
        while True:
            # Clear first, then look: a change after the look sets the event again.
            self._wakeup.clear()
            if len(self._running) >= self.config.instances:
                await self._wait_for_change(None)
                continue
            head = self._head()
            if head is None:
                await self._wait_for_change(None)
                continue
            available = self._count_like(head.key, self._target_size)
            wait_s = head.enqueued_at + self._delay_s - time.monotonic()
            if available < self._target_size and wait_s > 0 and not self._closing:
                # Wait for more items like the head, for the head's delay to run out, or for the
                # head to leave (deadline, cancellation).
                await self._wait_for_change(wait_s)
                continue
            batch = self._take(head.key, self._batch_size_to_send(available))
            task = asyncio.get_running_loop().create_task(self._execute(batch))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _take(self, key: Hashable, size: int) -> list[_Request]:
        batch: list[_Request] = []
        for priority in Priority:
            queue = self._queues[priority]
            kept: deque[_Request] = deque()
            while queue:
                request = queue.popleft()
                if len(batch) < size and request.key == key:
                    batch.append(request)
                else:
                    kept.append(request)
            self._queues[priority] = kept
        self._queued -= len(batch)
        for request in batch:
            if request.timer is not None:  # it starts now: its deadline no longer applies
                request.timer.cancel()
                request.timer = None
        return batch

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake()

    async def _execute(self, batch: list[_Request]) -> None:
        started = time.monotonic()
        try:
            results = await self._run_batch([request.item for request in batch])
            if len(results) != len(batch):
                raise BatchContractError(
                    f"{self.name or 'run_batch'} returned {len(results)} results for {len(batch)} items"
                )
            for request, result in zip(batch, results, strict=True):
                self._settle(request, result=result)
        except BaseException as exc:
            # Otherwise these callers would wait forever. CancelledError here means the loop is
            # going away: the callers get ShuttingDown rather than a bare cancellation.
            error = exc if isinstance(exc, Exception) else ShuttingDown(f"{self.name} batch was cancelled")
            if isinstance(exc, Exception) and not isinstance(exc, BatchContractError):
                _LOGGER.debug("batch of %d for %s failed", len(batch), self.name, exc_info=exc)
            for request in batch:
                self._settle(request, exc=error)
            if not isinstance(exc, Exception):
                raise
        finally:
            compute_s = time.monotonic() - started
            with self._stats_lock:
                self._execution_count += 1
                self._inference_count += len(batch)
                self._batch_sizes[len(batch)] += 1
                self._batch_seconds[len(batch)] = self._batch_seconds.get(len(batch), 0.0) + compute_s
                # Wall-clock time, for statistics only (Triton's last_inference); never scheduling.
                self._last_run_unix_s = time.time()
                self._compute_s += compute_s
                self._compute_hist.observe(compute_s)
                for request in batch:
                    waited_s = started - request.enqueued_at
                    self._queue_s += waited_s
                    self._queue_hist.observe(waited_s)
