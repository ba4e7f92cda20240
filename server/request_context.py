"""Per-call values that code deep in a call may need, carried in context variables."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

__all__ = ["ANONYMOUS", "REQUEST_ID_HEADER", "Principal", "peer_var", "principal_var", "request_id_var"]

# The metadata key of a call's request id: the caller's, if safe to log, else one the server made.
REQUEST_ID_HEADER = "x-request-id"


@dataclass(frozen=True)
class Principal:
    """Who makes a call: an API key's name or a JWT's subject, with the scopes it holds.

    Attributes:
        kind: "api_key", "jwt" or "anonymous" (auth disabled).
        name: the key's name or the token's ``sub``.
        scopes: what it may call (``process``, ``jobs``, ``admin``).
    """

    kind: str
    name: str
    scopes: frozenset[str]

    @property
    def id(self) -> str:
        """Unique across kinds: the owner of jobs, the rate-limit bucket, the log field."""
        return f"{self.kind}:{self.name}"


ANONYMOUS = Principal("anonymous", "-", frozenset({"process", "jobs", "admin"}))

# Set by the logging interceptor for every call; "-" outside a call.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# The caller's address as gRPC names it (``ipv4:1.2.3.4:5678``), set by the logging interceptor at
# the call's start: reading ``context.peer()`` later, on a call that has ended, reads freed memory
# (see interceptors/access_log.py). "" outside a call.
peer_var: contextvars.ContextVar[str] = contextvars.ContextVar("peer", default="")
# Set by the auth interceptor once the caller is known; None before (or for public methods).
principal_var: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)
