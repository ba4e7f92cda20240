"""Token buckets per key: ``rate_per_s`` tokens flow in, up to ``burst``; a call takes one."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TokenBuckets"]


@dataclass
class _Bucket:
    tokens: float
    updated_s: float


class TokenBuckets:
    """One token bucket per key (a principal, or a peer address), bounded in number.

    Args:
        rate_per_s: sustained calls per second per key.
        burst: bucket size: calls a key may make at once after being idle.
        max_keys: buckets kept; the least recently used go first (a key that comes back
            starts full again, which only ever errs towards letting a call through).
        clock: seconds, monotonic (injected for tests).
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate_per_s = rate_per_s
        self._burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Takes a token for ``key``: 0.0 if the call may go, else seconds until a token is there."""
        now = self._clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
        else:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated_s) * self._rate_per_s)
            bucket.updated_s = now
        self._buckets[key] = bucket
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate_per_s
