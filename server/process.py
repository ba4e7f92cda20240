"""Child processes that do not outlive their parent."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal

__all__ = ["die_with_parent"]

# From <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For ``Popen(preexec_fn=...)``: the child gets SIGTERM when its parent dies, kill -9 included
    (Linux ``PR_SET_PDEATHSIG``), so a launcher or sidecar that dies never leaves a server or an
    Envoy behind holding its ports. Elsewhere it does nothing. It runs in the child between fork
    and exec: call it only from a process that has started no threads yet, or that forks with
    ``posix_spawn``-unsafe care (see tests/conftest.py on preexec_fn and gRPC's threads)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
