"""Per-call values that code deep in a call may need, carried in context variables."""

from __future__ import annotations

import contextvars

__all__ = ["request_id_var"]

# Set by the logging interceptor for every call; "-" outside a call.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
