"""Prometheus metrics of the server: gRPC calls, images and dates, models, jobs, streams.

``ServerMetrics`` owns its own registry (never the process-global one), so several servers in
one test process do not collide. Model and job numbers are not pushed here: they are read at
scrape time through small callables the composition root passes in (``ModelStatsSource``,
``JobCountsSource``), so the batcher and the job store need not know Prometheus exists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

__all__ = [
    "HistogramSnapshot",
    "JobCountsSource",
    "MetricsHttpServer",
    "ModelStatsSnapshot",
    "ModelStatsSource",
    "ServerMetrics",
    "pulled",
]

_LOGGER = logging.getLogger(__name__)

# Seconds; Process calls run from ~10 ms (GPU) to a few seconds (big image, CPU, queue).
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class HistogramSnapshot:
    """A histogram as Prometheus wants it: cumulative counts per upper bound, and the sum.

    Attributes:
        buckets: (upper bound, observations <= bound), increasing; the last bound is +Inf.
        sum: the sum of all observations.
    """

    buckets: Sequence[tuple[float, int]]
    sum: float

    @classmethod
    def from_counts(cls, counts: Mapping[float, int]) -> HistogramSnapshot:
        """From exact value -> count (e.g. executions per batch size): one bucket per value."""
        buckets: list[tuple[float, int]] = []
        total = 0
        for value in sorted(counts):
            total += counts[value]
            buckets.append((float(value), total))
        buckets.append((float("inf"), total))
        return cls(buckets, float(sum(v * c for v, c in counts.items())))


@dataclass(frozen=True)
class ModelStatsSnapshot:
    """One model's counters since start; what the batcher reports per model."""

    name: str
    inference_count: int
    exec_count: int
    queue_seconds: HistogramSnapshot | None = None
    compute_seconds: HistogramSnapshot | None = None
    batch_size: HistogramSnapshot | None = None


# Called at every scrape, from the scrape thread: must be cheap and thread-safe.
ModelStatsSource = Callable[[], Iterable[ModelStatsSnapshot]]
# Job state name (QUEUED, RUNNING...) -> jobs in that state now.
JobCountsSource = Callable[[], Mapping[str, int]]


def _bucket_text(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


_T = TypeVar("_T")


def pulled(source: Callable[[], Iterable[_T]], what: str) -> list[_T]:
    """What ``source`` gives at a scrape, or nothing (logged) if it fails: a scrape must never take
    the server down."""
    try:
        return list(source())
    except Exception:
        _LOGGER.exception("%s failed", what)
        return []


class _PulledCollector(Collector):
    def __init__(self, model_stats: ModelStatsSource, job_counts: JobCountsSource | None) -> None:
        self._model_stats = model_stats
        self._job_counts = job_counts

    def collect(self) -> Iterator[Any]:
        models = pulled(self._model_stats, "model stats source")
        inference = CounterMetricFamily(
            "datalid_model_inference_count", "Items run by the model (an image, a crop)", labels=["model"]
        )
        execs = CounterMetricFamily(
            "datalid_model_exec_count", "Model executions (a batch counts once)", labels=["model"]
        )
        histograms = {
            "queue_seconds": HistogramMetricFamily(
                "datalid_model_queue_seconds", "Time items waited for a batch", labels=["model"]
            ),
            "compute_seconds": HistogramMetricFamily(
                "datalid_model_compute_seconds", "Time per model execution", labels=["model"]
            ),
            "batch_size": HistogramMetricFamily(
                "datalid_model_batch_size", "Items per model execution", labels=["model"]
            ),
        }
        for model in models:
            inference.add_metric([model.name], model.inference_count)
            execs.add_metric([model.name], model.exec_count)
            for attr, family in histograms.items():
                snapshot: HistogramSnapshot | None = getattr(model, attr)
                if snapshot is not None:
                    buckets = [(_bucket_text(b), c) for b, c in snapshot.buckets]
                    family.add_metric([model.name], buckets, snapshot.sum)
        yield inference
        yield execs
        yield from histograms.values()
        if self._job_counts is not None:
            jobs = GaugeMetricFamily("datalid_jobs", "Jobs by state", labels=["state"])
            for state, count in sorted(self._job_counts().items()):
                jobs.add_metric([state], count)
            yield jobs


class ServerMetrics:
    """The server's metrics and the registry they live in.

    Args:
        model_stats: per-model counters, read at scrape time (default: no models yet).
        job_counts: jobs by state, read at scrape time; None until a job store exists.
    """

    def __init__(
        self, model_stats: ModelStatsSource = lambda: (), job_counts: JobCountsSource | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        call = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter(
            "grpc_server_started_total", "RPCs started on the server", call, registry=self.registry
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, whatever their status",
            [*call, "grpc_code"],
            registry=self.registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status",
            call,
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        where = ["grpc_service", "grpc_method"]
        self.in_flight = Gauge("grpc_server_in_flight", "RPCs running now", where, registry=self.registry)
        self.streams_open = Gauge(
            "datalid_streams_open", "Streaming RPCs open now", where, registry=self.registry
        )
        self.images_processed = Counter(
            "datalid_images_processed_total", "Images read (Process responses sent)", registry=self.registry
        )
        self.dates_found = Counter(
            "datalid_dates_found_total", "Dates parsed, by kind", ["kind"], registry=self.registry
        )
        self.registry.register(_PulledCollector(model_stats, job_counts))


class MetricsHttpServer:
    """Serves ``/metrics`` in Prometheus text format from a background thread."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.host = host

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return int(self._server.server_port)

    def close(self) -> None:
        """Stops serving and joins the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
