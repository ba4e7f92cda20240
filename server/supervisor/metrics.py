"""One ``/metrics`` for a supervisor and all its workers.

At each scrape the supervisor reads every ready worker's own ``/metrics`` (loopback) and serves
their samples beside its own, each with a ``worker`` label (``supervisor`` for its own: jobs and
their calls), one family per metric name as the exposition format requires. ``sum without
(worker) (...)`` in PromQL gives the server's totals. A worker that is replaced takes its counts
with it; Prometheus' ``rate`` and ``increase`` treat that as the counter reset it is.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from server.supervisor.workers import Worker

__all__ = ["WorkersCollector"]

_LOGGER = logging.getLogger(__name__)
_SCRAPE_TIMEOUT_S = 2.0
# A worker's page is tens of kilobytes; more than this is no metrics page of ours.
_MAX_PAGE_BYTES = 8 * 1024 * 1024


class WorkersCollector(Collector):
    """The supervisor's ``own`` metrics and its ``workers``' together.

    Attributes:
        registry: a registry holding only this collector: the one to serve.
    """

    def __init__(self, own: CollectorRegistry, workers: Callable[[], list[Worker]]) -> None:
        self._own = own
        self._workers = workers
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        _merge(families, self._own.collect(), "supervisor")
        for worker in self._workers():
            if not worker.metrics_url:
                continue
            try:
                with urllib.request.urlopen(worker.metrics_url, timeout=_SCRAPE_TIMEOUT_S) as response:
                    page = response.read(_MAX_PAGE_BYTES).decode()
                _merge(families, text_string_to_metric_families(page), worker.name)
            except (OSError, ValueError) as exc:
                # A worker that just died or is being replaced: its samples are left out this once.
                _LOGGER.warning("could not read %s's metrics: %s", worker.name, exc)
        yield from families.values()


def _merge(families: dict[str, Metric], found: Iterable[Any], worker: str) -> None:
    for family in found:
        # A counter's ``_created`` samples come back from the text parser as a gauge family of
        # their own, which would clash with the counter's in the exposition; they only say when
        # each process started counting, so they are left out.
        if family.name.endswith("_created"):
            continue
        merged = families.get(family.name)
        if merged is None:
            merged = Metric(family.name, family.documentation, family.type, family.unit)
            families[family.name] = merged
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = {**sample.labels, "worker": worker}
            merged.samples.append(sample._replace(labels=labels))
