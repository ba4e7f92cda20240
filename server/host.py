"""Holds the pipeline the services call, and whether it is loaded yet.

The server listens before the models are loaded, so that health checks can say NOT_SERVING
while they load; until then every call that needs the pipeline gets ModelNotReady.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Callable

from pipeline import BatcherStats, ModelNotReady, Pipeline

__all__ = ["PipelineHost"]

_LOGGER = logging.getLogger(__name__)


class PipelineHost:
    """Loads the pipeline off the event loop and hands it to the services once it is ready.

    Args:
        load: builds, loads and warms a pipeline; runs in a worker thread.
    """

    def __init__(self, load: Callable[[], Pipeline]) -> None:
        self._load = load
        self._pipeline: Pipeline | None = None
        self.started_at = dt.datetime.now(dt.UTC)
        # Pipelines a reload replaced: those still finishing their work, and the final batcher
        # counters of those closed, so that counts since start never go back (model_stats). The
        # lock: a metrics scrape reads them from its own thread.
        self._stats_lock = threading.Lock()
        self._draining: tuple[Pipeline, ...] = ()
        self._retired: dict[str, BatcherStats] = {}

    def model_stats(self) -> list[BatcherStats]:
        """Each model batcher's counters since the server started, reloads included, in the
        serving pipeline's order; empty while the models load. Safe from any thread."""
        with self._stats_lock:
            pipeline = self._pipeline
            if pipeline is None:
                return []
            earlier = [dict(self._retired)]
            earlier += [{s.name: s for s in old.stats().models} for old in self._draining]
        totals = []
        for stats in pipeline.stats().models:
            for part in earlier:
                if stats.name in part:
                    stats = stats.plus(part[stats.name])
            totals.append(stats)
        return totals

    @property
    def ready(self) -> bool:
        """True once the pipeline is loaded and warmed."""
        return self._pipeline is not None

    @property
    def pipeline(self) -> Pipeline:
        """The loaded pipeline.

        Raises:
            ModelNotReady: the models are still loading.
        """
        if self._pipeline is None:
            raise ModelNotReady("models are loading; retry shortly")
        return self._pipeline

    async def load(self) -> None:
        """Loads and warms the pipeline in a worker thread (ONNX session creation blocks)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._pipeline = await asyncio.to_thread(self._load)
        _LOGGER.info("models loaded and warmed in %.0f ms", (loop.time() - started) * 1000)

    async def reload(self, load: Callable[[], Pipeline]) -> None:
        """Loads and warms a new pipeline with ``load`` (in a worker thread) while the current one
        serves, swaps it in, then closes the old one once its queued work is done: calls that
        started before the swap finish on the old models, calls after it run on the new ones.

        Raises:
            Exception: whatever ``load`` raised; the current pipeline keeps serving.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        fresh = await asyncio.to_thread(load)
        with self._stats_lock:
            old, self._pipeline = self._pipeline, fresh
            if old is not None:
                self._draining += (old,)
        _LOGGER.info(
            "models reloaded and warmed in %.0f ms; the old ones finish their work",
            (loop.time() - started) * 1000,
        )
        if old is not None:
            await old.aclose(None)
            with self._stats_lock:
                self._draining = tuple(p for p in self._draining if p is not old)
                for stats in old.stats().models:
                    known = self._retired.get(stats.name)
                    self._retired[stats.name] = stats if known is None else known.plus(stats)

    async def close(self, timeout_s: float | None = None) -> None:
        """Closes the model batchers in pipeline order (each drains, then refuses), then releases
        the sessions and worker threads. Called after the server has stopped taking calls.

        Args:
            timeout_s: how long work still queued for a model may wait; then it fails with
                ShuttingDown. ``None`` lets it finish.
        """
        if self._pipeline is not None:
            pipeline, self._pipeline = self._pipeline, None
            await pipeline.aclose(timeout_s)
