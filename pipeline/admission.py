"""Admission control at the pipeline's door: refuse at once what cannot be served in time.

An image is refused with Overloaded, before any work is spent on it, when

- ``max_pending`` images are already admitted (queued or running); job-priority images may fill
  only three quarters of that, so interactive callers always find room, or
- it would not finish before its deadline: the images ahead of it, at the rate the pipeline has
  been finishing images while busy, take longer than the time the caller has left.

The second rule is what keeps admitted throughput up under overload: without it the queue fills
with images whose callers give up before they are served, and every one of them costs decoding and
detection for nothing (Triton's "queue timeouts that fire late").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline.errors import Overloaded

__all__ = ["Admission"]

# Weight of the newest sample in the moving average of seconds per image.
_ALPHA = 0.2
# Photos differ (4 text lines or 26): an image is admitted only if it would finish with this much
# time to spare, since one that misses its deadline costs as much as one served.
_SAFETY = 1.25
# Bounds of the retry hint sent with a refusal.
_MIN_RETRY_AFTER_S = 0.05
_MAX_RETRY_AFTER_S = 10.0


class Admission:
    """Counts admitted images and decides whether the next one may come in. One event loop only.

    Args:
        max_pending: the most images admitted at once.
        clock: ``time.monotonic`` (injected in tests).
    """

    def __init__(self, max_pending: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending!r}")
        self.max_pending = max_pending
        self.pending = 0
        self.rejected = 0
        self._clock = clock
        # Seconds between two completions while the pipeline stayed busy: its cost per image at load.
        self.seconds_per_image: float | None = None
        self._last_busy_completion: float | None = None

    def admit(self, deadline: float | None = None, *, interactive: bool = True) -> None:
        """Admits one image; call :meth:`done` when it leaves, whatever the outcome.

        Args:
            deadline: ``time.monotonic()`` value the image must finish by; ``None``: none.
            interactive: False for job-priority work, which may not take the last quarter of the slots.

        Raises:
            Overloaded: the pipeline is full, or the image would not finish before ``deadline``.
        """
        limit = self.max_pending if interactive else max(1, self.max_pending * 3 // 4)
        if self.pending >= limit:
            self.rejected += 1
            raise Overloaded(
                f"{self.pending} images pending, the limit is {limit}; retry later", self._clear_s()
            )
        if deadline is not None and self.pending and self.seconds_per_image is not None:
            expected_s = (self.pending + 1) * self.seconds_per_image
            if self._clock() + _SAFETY * expected_s > deadline:
                self.rejected += 1
                raise Overloaded(
                    f"{self.pending} images ahead would take about {expected_s:.1f} s, past the deadline; "
                    "retry later",
                    self._clear_s(),
                )
        self.pending += 1

    def _clear_s(self) -> float | None:
        """How long the images admitted now should take to finish: the retry hint for a refusal.

        Clients that wait this long spread their retries over the time the queue needs, instead of
        each refusal (which still carries a whole photo through gRPC) taking CPU from the work.
        """
        if self.seconds_per_image is None:
            return None
        return min(_MAX_RETRY_AFTER_S, max(_MIN_RETRY_AFTER_S, self.pending * self.seconds_per_image))

    def done(self, *, served: bool) -> None:
        """One admitted image left; ``served`` when the pipeline did its work (not cancelled or refused)."""
        self.pending -= 1
        now = self._clock()
        if served and self._last_busy_completion is not None:
            sample = now - self._last_busy_completion
            previous = self.seconds_per_image
            self.seconds_per_image = sample if previous is None else (1 - _ALPHA) * previous + _ALPHA * sample
        # The next gap counts only if the pipeline has work all along it.
        self._last_busy_completion = now if served and self.pending else None
