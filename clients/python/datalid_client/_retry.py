"""When to retry a call, and how long each attempt may take."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from ._errors import DeadlineExceeded

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Retries of calls that fail with UNAVAILABLE (server down, restarting or not ready yet).

    Other codes are never retried. Retries stop after ``max_attempts`` attempts in all, or earlier
    when the next backoff would end past the call's deadline; every attempt gets only the time left
    until that deadline. The n-th retry waits ``min(max_backoff_s, initial_backoff_s * multiplier**(n-1))``
    scaled by a random factor in ``[1 - jitter, 1 + jitter]``.

    Args:
        max_attempts: Attempts in all, >= 1 (1 disables retries).
        initial_backoff_s: Wait before the first retry, in seconds.
        max_backoff_s: Upper bound on one wait, in seconds.
        multiplier: Growth of the wait per retry, >= 1.
        jitter: Relative spread of each wait, 0..1.
        seed: Seed of the jitter's random numbers, for reproducible waits.

    Raises:
        ValueError: a value is out of range; the message names the field and the value.
    """

    max_attempts: int = 3
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.2
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts!r}")
        if self.initial_backoff_s < 0:
            raise ValueError(f"initial_backoff_s must be >= 0, got {self.initial_backoff_s!r}")
        if self.max_backoff_s < self.initial_backoff_s:
            raise ValueError(
                f"max_backoff_s must be >= initial_backoff_s ({self.initial_backoff_s!r}), "
                f"got {self.max_backoff_s!r}"
            )
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")

    def backoff_s(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number ``retry`` (from 1), jitter included."""
        base = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (retry - 1))
        return max(0.0, base * (1.0 + self.jitter * rng.uniform(-1.0, 1.0)))


NO_RETRIES = RetryPolicy(max_attempts=1)


class _CallPlan:
    """The attempts of one call: counts them and keeps them inside the call's deadline."""

    def __init__(
        self,
        policy: RetryPolicy,
        rng: random.Random,
        clock: Callable[[], float],
        timeout_s: float | None,
    ) -> None:
        self._policy = policy
        self._rng = rng
        self._clock = clock
        self._deadline = None if timeout_s is None else clock() + timeout_s
        self.attempts = 0

    def next_timeout_s(self) -> float | None:
        """Start an attempt: the seconds it may take (None: no deadline).

        Raises:
            DeadlineExceeded: the call's deadline has already passed.
        """
        self.attempts += 1
        if self._deadline is None:
            return None
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise DeadlineExceeded(
                f"deadline passed before attempt {self.attempts}", code=grpc.StatusCode.DEADLINE_EXCEEDED
            )
        return remaining

    def retry_delay_s(self, exc: grpc.RpcError) -> float | None:
        """The wait before the next attempt, or None when ``exc`` must be raised."""
        code_fn = getattr(exc, "code", None)
        if not callable(code_fn) or code_fn() != grpc.StatusCode.UNAVAILABLE:
            return None
        if self.attempts >= self._policy.max_attempts:
            return None
        delay = self._policy.backoff_s(self.attempts, self._rng)
        if self._deadline is not None and self._clock() + delay >= self._deadline:
            return None
        return delay
