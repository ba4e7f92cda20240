"""``/metrics`` under Triton's names, so dashboards built on ``nv_inference_*`` work unchanged.

Counters per ``model`` and ``version``, read at scrape time from the same numbers ModelStatistics
gives (:mod:`server.kserve.stats`); durations in microseconds, as Triton exports them. Source:
Triton's metrics documentation ("Inference Request Metrics").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from server.edge.metrics import pulled
from server.kserve.models import VERSION
from server.kserve.stats import ModelCounters

__all__ = ["TritonMetrics"]

# name -> (help, value of one model's counters)
_FAMILIES: dict[str, tuple[str, Callable[[ModelCounters], float]]] = {
    "nv_inference_request_success": ("Number of successful inference requests", lambda c: c.success.count),
    "nv_inference_request_failure": ("Number of failed inference requests", lambda c: c.fail.count),
    "nv_inference_count": (
        "Number of inferences performed (a batch of n counts n)",
        lambda c: c.inference_count,
    ),
    "nv_inference_exec_count": (
        "Number of model executions performed (a batch counts once)",
        lambda c: c.execution_count,
    ),
    "nv_inference_request_duration_us": (
        "Cumulative inference request duration in microseconds",
        lambda c: (c.success.ns + c.fail.ns) / 1000,
    ),
    "nv_inference_queue_duration_us": (
        "Cumulative inference queuing duration in microseconds",
        lambda c: c.queue.ns / 1000,
    ),
    "nv_inference_compute_input_duration_us": (
        "Cumulative compute input duration in microseconds",
        lambda c: c.compute_input.ns / 1000,
    ),
    "nv_inference_compute_infer_duration_us": (
        "Cumulative compute inference duration in microseconds",
        lambda c: c.compute_infer.ns / 1000,
    ),
    "nv_inference_compute_output_duration_us": (
        "Cumulative inference compute output duration in microseconds",
        lambda c: c.compute_output.ns / 1000,
    ),
}


class TritonMetrics(Collector):
    """The ``nv_inference_*`` counters of every served model.

    Args:
        counters: every model's statistics now; called from the scrape thread, must be cheap.
            Empty while the models load.
    """

    def __init__(self, counters: Callable[[], Iterable[ModelCounters]]) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Any]:
        models = pulled(self._counters, "v2 model statistics")
        for name, (help_text, value) in _FAMILIES.items():
            # Untyped, not counter: prometheus_client names a counter's samples NAME_total, which
            # is not Triton's name, and a dashboard's query names the sample. rate() and
            # increase() work on untyped series alike.
            family = Metric(name, help_text, "unknown")
            for model in models:
                family.add_sample(name, {"model": model.name, "version": VERSION}, value(model))
            yield family
