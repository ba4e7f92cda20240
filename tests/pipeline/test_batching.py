"""DynamicBatcher with a fake model: the batch function is gated by an asyncio.Event, as in ray serve's
tests, so each test decides exactly when a batch finishes. No assertion depends on how fast the machine is:
"not done yet" is checked with a short ``asyncio.wait``, "done" with a generous one."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from pipeline.batching import BatcherConfig, DynamicBatcher, Priority
from pipeline.errors import BatchContractError, DeadlineExceeded, Overloaded, ShuttingDown

# Long enough that nothing a test waits for happens by accident, short enough to keep the suite fast.
PENDING_S = 0.02
DONE_S = 10.0
FOREVER_US = 60_000_000


class FakeModel:
    """Records every batch; each batch waits for ``gate`` unless it is already set."""

    def __init__(self, *, gated: bool = True, fail: Exception | None = None, short_by: int = 0) -> None:
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()
        self.batches: list[list[Any]] = []
        self.started = asyncio.Event()
        self.fail = fail
        self.short_by = short_by

    async def __call__(self, items: list[Any]) -> list[Any]:
        self.batches.append(list(items))
        self.started.set()
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [f"r{item}" for item in items][: len(items) - self.short_by]


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


async def pending(*tasks: asyncio.Future[Any]) -> bool:
    done, _ = await asyncio.wait(tasks, timeout=PENDING_S)
    return not done


async def settle(*tasks: asyncio.Future[Any]) -> None:
    done, _ = await asyncio.wait(tasks, timeout=DONE_S)
    assert len(done) == len(tasks), "the batcher left a future pending"


def submit(batcher: DynamicBatcher, item: Any, **kwargs: Any) -> asyncio.Task[Any]:
    return asyncio.ensure_future(batcher.submit(item, **kwargs))


def test_config_is_validated_with_the_key_and_value() -> None:
    with pytest.raises(ValueError, match="max_batch_size must be an integer >= 1, got 0"):
        BatcherConfig(max_batch_size=0)
    with pytest.raises(ValueError, match="preferred_batch_sizes"):
        BatcherConfig(max_batch_size=4, preferred_batch_sizes=(8,))
    with pytest.raises(ValueError, match="max_queue_size"):
        BatcherConfig(max_queue_size=0)


def test_concurrent_items_form_one_batch_and_results_go_back_in_order() -> None:
    async def main() -> None:
        model = FakeModel(gated=False)
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=4, max_queue_delay_us=FOREVER_US))
        tasks = [submit(batcher, i) for i in range(4)]
        await settle(*tasks)
        assert model.batches == [[0, 1, 2, 3]]
        assert [t.result() for t in tasks] == ["r0", "r1", "r2", "r3"]
        await batcher.aclose()

    run(main)


def test_batch_waits_for_more_items_until_full() -> None:
    async def main() -> None:
        model = FakeModel(gated=False)
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=3, max_queue_delay_us=FOREVER_US))
        first = [submit(batcher, i) for i in range(2)]
        assert await pending(*first)  # two of three, and the delay is far away
        assert model.batches == []
        third = submit(batcher, 2)
        await settle(*first, third)
        assert model.batches == [[0, 1, 2]]
        await batcher.aclose()

    run(main)


def test_delay_bound_sends_a_partial_batch_counted_from_the_first_item() -> None:
    async def main() -> None:
        model = FakeModel(gated=False)
        delay_us = 30_000
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=8, max_queue_delay_us=delay_us))
        submitted = time.monotonic()
        tasks = [submit(batcher, i) for i in range(3)]
        await settle(*tasks)
        # Never early: the batch waited for the delay, and then went with what it had.
        assert time.monotonic() - submitted >= delay_us / 1e6
        assert model.batches == [[0, 1, 2]]
        await batcher.aclose()

    run(main)


def test_zero_delay_sends_at_once_and_batches_grow_while_the_instance_is_busy() -> None:
    async def main() -> None:
        model = FakeModel()
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=4, instances=1))
        first = submit(batcher, 0)
        await asyncio.wait_for(model.started.wait(), DONE_S)
        later = [submit(batcher, i) for i in range(1, 7)]
        assert await pending(*later)
        model.gate.set()
        await settle(first, *later)
        assert model.batches == [[0], [1, 2, 3, 4], [5, 6]]
        await batcher.aclose()

    run(main)


def test_instances_bound_parallel_batches() -> None:
    async def main() -> None:
        model = FakeModel()
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=1, instances=2))
        tasks = [submit(batcher, i) for i in range(3)]
        assert await pending(*tasks)
        assert model.batches == [[0], [1]]
        assert batcher.stats().running == 2
        model.gate.set()
        await settle(*tasks)
        assert model.batches == [[0], [1], [2]]
        await batcher.aclose()

    run(main)


def test_preferred_batch_size_is_sent_at_once_and_chosen_at_the_delay() -> None:
    async def main() -> None:
        model = FakeModel(gated=False)
        config = BatcherConfig(max_batch_size=8, preferred_batch_sizes=(2, 4), max_queue_delay_us=20_000)
        batcher = DynamicBatcher(model, config)
        tasks = [submit(batcher, i) for i in range(7)]
        await settle(*tasks)
        # 4 (the largest preferred) went at once; then 3 waited out the delay: 2 preferred, then 1.
        assert [len(b) for b in model.batches] == [4, 2, 1]
        await batcher.aclose()

    run(main)


def test_items_with_different_keys_never_share_a_batch() -> None:
    async def main() -> None:
        model = FakeModel(gated=False)
        batcher = DynamicBatcher(
            model, BatcherConfig(max_batch_size=4, max_queue_delay_us=10_000), group_key=lambda item: item[0]
        )
        items = ["a1", "b1", "a2", "b2", "a3"]
        tasks = [submit(batcher, item) for item in items]
        await settle(*tasks)
        assert sorted(model.batches) == [["a1", "a2", "a3"], ["b1", "b2"]]
        assert [t.result() for t in tasks] == [f"r{item}" for item in items]
        await batcher.aclose()

    run(main)


def test_interactive_items_go_before_jobs() -> None:
    async def main() -> None:
        model = FakeModel()
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=2, instances=1))
        busy = submit(batcher, "busy")
        await asyncio.wait_for(model.started.wait(), DONE_S)
        jobs = [submit(batcher, f"job{i}", priority=Priority.JOB) for i in range(2)]
        interactive = submit(batcher, "now", priority=Priority.INTERACTIVE)
        assert await pending(*jobs, interactive)
        model.gate.set()
        await settle(busy, *jobs, interactive)
        assert model.batches == [["busy"], ["now", "job0"], ["job1"]]
        await batcher.aclose()

    run(main)


def test_full_queue_rejects_at_once() -> None:
    async def main() -> None:
        model = FakeModel()
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=1, max_queue_size=2))
        running = submit(batcher, 0)
        await asyncio.wait_for(model.started.wait(), DONE_S)
        queued = [submit(batcher, 1), submit(batcher, 2)]
        assert await pending(*queued)
        assert not batcher.has_room()
        with pytest.raises(Overloaded, match="queue is full"):
            await batcher.submit(3)
        with pytest.raises(Overloaded):
            await batcher.submit_many([3, 4])
        assert batcher.stats().rejected_count == 3
        model.gate.set()
        await settle(running, *queued)
        await batcher.aclose()

    run(main)


def test_queued_item_expires_by_its_own_timer_and_never_runs() -> None:
    async def main() -> None:
        model = FakeModel()
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=4, instances=1))
        running = submit(batcher, "running")
        await asyncio.wait_for(model.started.wait(), DONE_S)
        deadline = time.monotonic() + 0.03
        expiring = submit(batcher, "late", deadline=deadline)
        patient = submit(batcher, "patient")
        # The only instance stays busy: the scheduler has no reason to wake, the timer fails the item.
        await settle(expiring)
        assert time.monotonic() >= deadline
        with pytest.raises(DeadlineExceeded):
            expiring.result()
        assert batcher.stats().expired_count == 1
        model.gate.set()
        await settle(running, patient)
        assert model.batches == [["running"], ["patient"]]
        await batcher.aclose()

    run(main)


def test_deadline_already_passed_is_refused() -> None:
    async def main() -> None:
        batcher = DynamicBatcher(FakeModel(gated=False))
        with pytest.raises(DeadlineExceeded):
            await batcher.submit(1, deadline=time.monotonic() - 1)
        await batcher.aclose()

    run(main)


def test_cancelled_caller_leaves_the_queue() -> None:
    async def main() -> None:
        model = FakeModel()
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=4, instances=1, max_queue_size=3))
        running = submit(batcher, "running")
        await asyncio.wait_for(model.started.wait(), DONE_S)
        gone = asyncio.ensure_future(batcher.submit_many(["gone1", "gone2"]))
        stays = submit(batcher, "stays")
        assert await pending(gone, stays)
        assert batcher.stats().queued == 3
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        stats = batcher.stats()
        assert (stats.queued, stats.cancelled_count) == (1, 2)
        assert batcher.has_room(2)
        model.gate.set()
        await settle(running, stays)
        assert model.batches == [["running"], ["stays"]]
        await batcher.aclose()

    run(main)


def test_caller_cancelled_while_its_batch_runs_does_not_disturb_the_others() -> None:
    async def main() -> None:
        model = FakeModel()
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=2, max_queue_delay_us=FOREVER_US))
        leaving, staying = submit(batcher, 1), submit(batcher, 2)
        await asyncio.wait_for(model.started.wait(), DONE_S)
        leaving.cancel()
        model.gate.set()
        await settle(staying)
        assert staying.result() == "r2"
        await batcher.aclose()

    run(main)


def test_batch_error_reaches_every_caller_of_the_batch() -> None:
    async def main() -> None:
        model = FakeModel(gated=False, fail=RuntimeError("model broke"))
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=2, max_queue_delay_us=FOREVER_US))
        tasks = [submit(batcher, 1), submit(batcher, 2)]
        await settle(*tasks)
        for task in tasks:
            with pytest.raises(RuntimeError, match="model broke"):
                task.result()
        # The batcher keeps serving after a failed batch.
        model.fail = None
        assert await asyncio.wait_for(batcher.submit_many([3, 4]), DONE_S) == ["r3", "r4"]
        await batcher.aclose()

    run(main)


def test_wrong_number_of_results_is_a_contract_error() -> None:
    async def main() -> None:
        model = FakeModel(gated=False, short_by=1)
        batcher = DynamicBatcher(
            model, BatcherConfig(max_batch_size=2, max_queue_delay_us=FOREVER_US), name="ocr_rec"
        )
        tasks = [submit(batcher, 1), submit(batcher, 2)]
        await settle(*tasks)
        for task in tasks:
            with pytest.raises(BatchContractError, match="ocr_rec returned 1 results for 2 items"):
                task.result()
        await batcher.aclose()

    run(main)


def test_stats_count_items_executions_and_batch_sizes() -> None:
    async def main() -> None:
        model = FakeModel(gated=False)
        batcher = DynamicBatcher(
            model, BatcherConfig(max_batch_size=3, max_queue_delay_us=FOREVER_US), name="m"
        )
        await settle(*(submit(batcher, i) for i in range(6)))
        await settle(asyncio.ensure_future(batcher.submit_many([7, 8, 9])))
        stats = batcher.stats()
        assert (stats.name, stats.inference_count, stats.execution_count) == ("m", 9, 3)
        assert stats.batch_size_counts == {3: 3}
        assert stats.queue_seconds_total >= 0 and stats.compute_seconds_total >= 0
        assert (stats.queued, stats.running) == (0, 0)
        # Cumulative histograms ending at +inf with every item (queue) and every batch (compute).
        assert stats.queue_seconds_buckets[-1] == (math.inf, 9)
        assert stats.compute_seconds_buckets[-1] == (math.inf, 3)
        counts = [count for _, count in stats.queue_seconds_buckets]
        assert counts == sorted(counts)
        await batcher.aclose()

    run(main)


def test_aclose_drains_the_queue_then_refuses_new_work() -> None:
    async def main() -> None:
        model = FakeModel()
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=1, instances=1))
        tasks = [submit(batcher, i) for i in range(3)]
        await asyncio.wait_for(model.started.wait(), DONE_S)
        closing = asyncio.ensure_future(batcher.aclose())
        assert await pending(closing)
        with pytest.raises(ShuttingDown):
            await batcher.submit(9)
        model.gate.set()
        await settle(closing, *tasks)
        assert [t.result() for t in tasks] == ["r0", "r1", "r2"]
        await batcher.aclose()  # idempotent

    run(main)


def test_aclose_timeout_fails_what_is_still_queued_with_shutting_down() -> None:
    async def main() -> None:
        model = FakeModel()
        batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=1, instances=1))
        running = submit(batcher, "running")
        await asyncio.wait_for(model.started.wait(), DONE_S)
        queued = submit(batcher, "queued")
        closing = asyncio.ensure_future(batcher.aclose(timeout_s=0.01))
        await settle(queued)
        with pytest.raises(ShuttingDown):
            queued.result()
        assert await pending(closing)  # the running batch is still awaited
        model.gate.set()
        await settle(closing, running)
        assert running.result() == "rrunning"

    run(main)
