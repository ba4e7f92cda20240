"""PriorityExecutor: smallest key first, FIFO among equals, errors and shutdown."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pipeline.executor import PriorityExecutor


def test_work_runs_smallest_key_first_and_fifo_among_equal_keys() -> None:
    executor = PriorityExecutor(1)
    gate = threading.Event()
    order: list[str] = []
    blocker = executor.submit_keyed((0,), gate.wait, 10)
    futures = [
        executor.submit_keyed(key, order.append, name)
        for key, name in [
            ((2, 5.0), "late"),
            ((1, 9.0), "job?"),
            ((0, 3.0), "b"),
            ((0, 3.0), "c"),
            ((0, 1.0), "a"),
        ]
    ]
    unkeyed = executor.submit(order.append, "unkeyed")
    gate.set()
    for future in [blocker, *futures, unkeyed]:
        future.result(timeout=10)
    assert order == ["a", "b", "c", "job?", "late", "unkeyed"]
    executor.shutdown()


def test_errors_reach_the_awaiting_caller() -> None:
    executor = PriorityExecutor(2)

    def boom() -> None:
        raise ValueError("boom")

    async def main() -> int:
        with pytest.raises(ValueError, match="boom"):
            await executor.run((0,), boom)
        return await executor.run((0,), sum, [1, 2, 3])

    assert asyncio.run(main()) == 6
    executor.shutdown()


def test_shutdown_finishes_queued_work_then_refuses() -> None:
    executor = PriorityExecutor(1)
    futures = [executor.submit_keyed((i,), pow, i, 2) for i in range(5)]
    executor.shutdown(wait=True)
    assert [f.result(timeout=0) for f in futures] == [0, 1, 4, 9, 16]
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(print)
    executor.shutdown()  # idempotent
    with pytest.raises(ValueError, match="max_workers"):
        PriorityExecutor(0)
