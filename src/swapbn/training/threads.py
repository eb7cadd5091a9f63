"""How many CPU threads a run computes with: no more than the cores other work leaves free.

With more compute threads than free cores, the threads of PyTorch's pool wait on each other at
every operator: on a 2-core machine held by another job, a digits run took 2-8x longer with
PyTorch's default (one thread per core) than with one thread (benchmarks/threads.py, README
"Speed on a busy CPU"). The load average tells how many cores other processes keep busy.
"""

from __future__ import annotations

import math
import os

import torch

from ..errors import UsageError


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's or taskset's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def free_cores() -> int:
    """Usable cores minus those the last minute's load average keeps busy; at least 1."""
    cores = usable_cores()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this system: assume idle
        busy = 0.0
    return max(1, min(cores, cores - math.floor(busy + 0.5)))


def default_threads() -> int:
    """The thread count a run gets without --threads: the free cores, at most torch's own."""
    return max(1, min(torch.get_num_threads(), free_cores()))


def apply_threads(threads: int | None) -> int:
    """Set PyTorch's intra-op threads (`threads`, or the default when None); returns the count."""
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")
    count = default_threads() if threads is None else threads
    torch.set_num_threads(count)
    return count
