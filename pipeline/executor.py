"""A thread pool that runs the oldest request's work first.

With a plain FIFO pool every admitted image advances a little at a time: the text detection of a
new image takes a worker while the recognition batches of an older one wait, so under load every
image's latency stretches to (images pending) x (cost of one image), and all of them near their
deadlines together. Ordering the work by (priority, when its request arrived) runs requests to
completion in arrival order instead: the same throughput, and an image admitted k-th finishes about
k image-times later, which is what admission control (pipeline/admission.py) predicts.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["PriorityExecutor"]

_T = TypeVar("_T")
Key = tuple[float, ...]


class PriorityExecutor:
    """``max_workers`` threads taking work smallest key first (FIFO among equal keys).

    Args:
        max_workers: worker threads.
        thread_name_prefix: names the threads, for debuggers and profilers.
    """

    def __init__(self, max_workers: int, thread_name_prefix: str = "datalid-worker") -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers!r}")
        self._heap: list[tuple[Key, int, Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._shutdown = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{thread_name_prefix}-{i}", daemon=True)
            for i in range(max_workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit_keyed(self, key: Key, fn: Callable[..., _T], *args: Any) -> Future[_T]:
        """Queues ``fn(*args)``; smaller keys run first.

        Raises:
            RuntimeError: the executor is shut down.
        """
        future: Future[_T] = Future()
        with self._condition:
            if self._shutdown:
                raise RuntimeError("cannot schedule new work after shutdown")
            heapq.heappush(self._heap, (key, next(self._sequence), future, fn, args))
            self._condition.notify()
        return future

    def submit(self, fn: Callable[..., _T], *args: Any) -> Future[_T]:
        """Queues ``fn(*args)`` behind everything keyed (the ``concurrent.futures.Executor`` call)."""
        return self.submit_keyed((float("inf"),), fn, *args)

    async def run(self, key: Key, fn: Callable[..., _T], *args: Any) -> _T:
        """Runs ``fn(*args)`` on a worker and awaits its result from the event loop."""
        return await asyncio.wrap_future(self.submit_keyed(key, fn, *args))

    def shutdown(self, wait: bool = True) -> None:
        """Lets the queued work finish, then stops the threads. Idempotent."""
        with self._condition:
            self._shutdown = True
            self._condition.notify_all()
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _work(self) -> None:
        while True:
            with self._condition:
                while not self._heap and not self._shutdown:
                    self._condition.wait()
                if not self._heap:
                    return
                _, _, future, fn, args = heapq.heappop(self._heap)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
