"""What the services read off a grpc.aio call, in the form the layers below take."""

from __future__ import annotations

import time

import grpc

from pipeline import Priority
from server.edge.interceptors.rate_limit import peer_host
from server.request_context import ANONYMOUS, peer_var, principal_var

__all__ = ["ARRIVED_METADATA", "PRIORITY_METADATA", "deadline_of", "priority_of", "slot_key"]

# Set by a --workers front door (Envoy) on every call it forwards: when the call reached it, Unix
# seconds. Envoy forwards the caller's grpc-timeout unchanged, so time a call spent in its queue
# would otherwise count for nothing: a worker would start a photo whose caller has given up.
ARRIVED_METADATA = "x-datalid-arrived"
# An arrival time further back than this is no queue wait (a clock step, a bad header): ignored.
_MAX_QUEUED_S = 3600.0


def deadline_of(context: grpc.aio.ServicerContext) -> float | None:
    """The call's gRPC deadline as a ``time.monotonic()`` value (seconds), the form the pipeline
    and the job store take; None when the caller set no deadline. Behind a front door that says
    when the call arrived (``ARRIVED_METADATA``), the time since is taken off: the deadline
    counts from the caller's send, not from the worker's receipt. Anyone may send the header;
    it can only shorten the sender's own deadline."""
    remaining_s = context.time_remaining()
    if remaining_s is None:
        return None
    for key, value in context.invocation_metadata() or ():
        if key == ARRIVED_METADATA and isinstance(value, str):
            try:
                queued_s = time.time() - float(value)
            except ValueError:
                break
            if 0.0 < queued_s < _MAX_QUEUED_S:
                remaining_s -= queued_s
            break
    return time.monotonic() + remaining_s


# Metadata a caller sends to be served behind interactive calls: a --workers supervisor's job runs.
# Anyone may ask to wait longer, so it needs no credentials of its own.
PRIORITY_METADATA = "x-datalid-priority"


def priority_of(context: grpc.aio.ServicerContext) -> Priority:
    """JOB when the call asks for it (``x-datalid-priority: job``), else INTERACTIVE."""
    for key, value in context.invocation_metadata() or ():
        if key == PRIORITY_METADATA and value == "job":
            return Priority.JOB
    return Priority.INTERACTIVE


def slot_key() -> str:
    """Whose per-caller slots (camera streams, job watches) a call uses: the principal, or for
    anonymous callers their address.

    Anonymous callers all share one principal; counted together, a few cameras would lock every
    other anonymous caller out (rate limits key them by address the same way). The address is the
    one the logging interceptor read at the call's start (``peer_var``). Behind the Envoy sidecar
    every REST caller has Envoy's address, so anonymous REST callers share one count:
    x-forwarded-for is not used because the sidecar passes the caller's own header through
    unchanged (no ``use_remote_address`` in deploy/envoy/envoy.yaml.tmpl), so any caller could name
    any address. Use keys there.
    """
    principal = principal_var.get() or ANONYMOUS
    if principal.kind == "anonymous":
        return f"{principal.id}@{peer_host(peer_var.get())}"
    return principal.id
