"""Errors the pipeline raises: a small tree with no framework imports.

    PipelineError
    ├── InvalidInput        the caller sent something unusable (names the field)
    ├── ModelNotReady       a model is not loaded or not warmed yet
    ├── Overloaded          a bounded queue is full; retry later
    ├── DeadlineExceeded    the caller's deadline passed before the work could start
    ├── ShuttingDown        the pipeline is closing and takes no new work
    └── BatchContractError  a batch function returned the wrong number of results (a bug)

The server maps each class to a gRPC status code in one table (server/errors.py).
"""

from __future__ import annotations

__all__ = [
    "BatchContractError",
    "DeadlineExceeded",
    "InvalidInput",
    "ModelNotReady",
    "Overloaded",
    "PipelineError",
    "ShuttingDown",
]


class PipelineError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class InvalidInput(PipelineError):
    """Raised when a request field holds a value the pipeline cannot use.

    Args:
        field: the request field at fault, as the API names it (``image``, ``options.reference_date``).
        message: what is wrong with it, for the caller.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.description = message


class ModelNotReady(PipelineError):
    """Raised when work arrives before the models are loaded and warmed."""


class Overloaded(PipelineError):
    """Raised when a bounded queue is full; the caller should retry after a pause.

    Args:
        message: what is full.
        retry_after_s: how long the work already queued should take to clear, when known; the
            server sends it as a RetryInfo detail so that clients back off that long.
    """

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DeadlineExceeded(PipelineError):
    """Raised when a request's deadline passes while its work is still queued; the work never runs."""


class ShuttingDown(PipelineError):
    """Raised for work submitted after shutdown began."""


class BatchContractError(PipelineError):
    """Raised when a batch function returns a different number of results than it was given."""
