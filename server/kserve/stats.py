"""Triton's per-model statistics (ModelStatistics, the ``nv_inference_*`` metrics) from our counters.

Two sources, read together at each call or scrape:

- ``InferenceLedger``: what the v2 service itself saw per model: requests that succeeded and
  failed with their durations, and for ``datalid`` the photos read and their stage times (queue,
  decode as compute_input, detect + OCR as compute_infer, parse as compute_output).
- the pipeline's batcher statistics for the ONNX models: items run (``inference_count``),
  executions (``execution_count``), queue and compute time, executions per batch size. These count
  every use of the model, the ``datalid`` pipeline's included: the model is one, whoever calls it.

Durations are nanoseconds, as in Triton's ``StatisticDuration``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tritonclient.grpc import service_pb2

from pipeline import BatcherStats
from pipeline.types import StageTimings

__all__ = ["Duration", "InferenceLedger", "ModelCounters", "model_counters", "statistics_to_pb"]


@dataclass(frozen=True)
class Duration:
    """How many, and how long all of them took together (ns)."""

    count: int = 0
    ns: int = 0

    def plus(self, count: int, ns: int) -> Duration:
        return Duration(self.count + count, self.ns + ns)


@dataclass(frozen=True)
class ModelCounters:
    """One model's statistics since the server started, as Triton reports them."""

    name: str
    last_inference_ms: int = 0
    inference_count: int = 0
    execution_count: int = 0
    success: Duration = Duration()
    fail: Duration = Duration()
    queue: Duration = Duration()
    compute_input: Duration = Duration()
    compute_infer: Duration = Duration()
    compute_output: Duration = Duration()
    # Executions by batch size: their count and compute time.
    batches: dict[int, Duration] = field(default_factory=dict)


def _ns(ms: float) -> int:
    return int(ms * 1e6)


class InferenceLedger:
    """The v2 service's own counts per model; safe to read from the metrics scrape thread.

    Args:
        clock: Unix seconds, for ``last_inference`` (injected in tests).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._models: dict[str, ModelCounters] = {}

    def record(self, model: str, *, ok: bool, duration_ns: int, timings: Iterable[StageTimings] = ()) -> None:
        """Counts one request to ``model``: its outcome and duration, and for the pipeline the
        stage timings of each photo it read (each photo counts as one inference)."""
        timings = list(timings)
        with self._lock:
            now = self._models.get(model) or ModelCounters(model)
            changes = {
                "last_inference_ms": int(self._clock() * 1000),
                "success" if ok else "fail": (now.success if ok else now.fail).plus(1, duration_ns),
            }
            if timings:
                changes.update(
                    inference_count=now.inference_count + len(timings),
                    execution_count=now.execution_count + 1,
                    queue=now.queue.plus(len(timings), sum(_ns(t.queue_ms) for t in timings)),
                    compute_input=now.compute_input.plus(
                        len(timings), sum(_ns(t.decode_ms) for t in timings)
                    ),
                    compute_infer=now.compute_infer.plus(
                        len(timings), sum(_ns(t.detect_ms + t.ocr_ms) for t in timings)
                    ),
                    compute_output=now.compute_output.plus(
                        len(timings), sum(_ns(t.parse_ms) for t in timings)
                    ),
                )
            self._models[model] = dataclasses.replace(now, **changes)

    def get(self, model: str) -> ModelCounters:
        """What was recorded for ``model`` (zeros if nothing)."""
        with self._lock:
            return self._models.get(model) or ModelCounters(model)


def model_counters(
    ledger: InferenceLedger, names: Iterable[str], batchers: Iterable[BatcherStats]
) -> list[ModelCounters]:
    """Each model of ``names``: the ledger's request counts, with the batcher's execution counts
    and times where the model has a batcher."""
    by_name = {stats.name: stats for stats in batchers}
    counters = []
    for name in names:
        seen = ledger.get(name)
        stats = by_name.get(name)
        if stats is not None:
            compute_ns = int(stats.compute_seconds_total * 1e9)
            seen = dataclasses.replace(
                seen,
                last_inference_ms=max(seen.last_inference_ms, int(stats.last_run_unix_s * 1000)),
                inference_count=stats.inference_count,
                execution_count=stats.execution_count,
                queue=Duration(stats.inference_count, int(stats.queue_seconds_total * 1e9)),
                # Counted per item, as Triton counts per request, the three alike (perf_analyzer
                # refuses statistics whose compute counts differ); a raw model's input and output
                # take no time of their own, its whole execution is compute_infer.
                compute_input=Duration(stats.inference_count, 0),
                compute_infer=Duration(stats.inference_count, compute_ns),
                compute_output=Duration(stats.inference_count, 0),
                batches={
                    size: Duration(count, int(stats.batch_size_seconds.get(size, 0.0) * 1e9))
                    for size, count in stats.batch_size_counts.items()
                },
            )
        counters.append(seen)
    return counters


def _duration(value: Duration) -> service_pb2.StatisticDuration:
    return service_pb2.StatisticDuration(count=value.count, ns=value.ns)


def statistics_to_pb(counters: ModelCounters, version: str) -> service_pb2.ModelStatistics:
    """One model's ModelStatistics message."""
    return service_pb2.ModelStatistics(
        name=counters.name,
        version=version,
        last_inference=counters.last_inference_ms,
        inference_count=counters.inference_count,
        execution_count=counters.execution_count,
        inference_stats=service_pb2.InferStatistics(
            success=_duration(counters.success),
            fail=_duration(counters.fail),
            queue=_duration(counters.queue),
            compute_input=_duration(counters.compute_input),
            compute_infer=_duration(counters.compute_infer),
            compute_output=_duration(counters.compute_output),
        ),
        batch_stats=[
            service_pb2.InferBatchStatistics(batch_size=size, compute_infer=_duration(duration))
            for size, duration in sorted(counters.batches.items())
        ],
    )
