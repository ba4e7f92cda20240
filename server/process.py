"""Child processes that do not outlive their parent."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal

__all__ = ["die_with", "die_with_parent"]

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


def die_with(parent_pid: int) -> None:
    """Called first thing by a child process: it gets SIGTERM when process ``parent_pid`` dies
    (kill -9 included), and exits now if that already happened. For children of a parent that has
    threads, where ``preexec_fn`` is unsafe (a ``--workers`` supervisor's workers)."""
    die_with_parent()
    if os.getppid() != parent_pid:
        raise SystemExit(f"the parent process {parent_pid} is gone")
