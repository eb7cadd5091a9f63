"""How many CPU threads a run computes with: no more than the cores other work leaves free.

With more compute threads than free cores, the threads of PyTorch's pool wait on each other at
every operator: on a 2-core machine held by another job, a digits run took 2-8x longer with
PyTorch's default (one thread per core) than with one thread (benchmarks/threads.py,
docs/speed.md). How busy the cores are *now* is read from /proc/stat twice, 0.2 s apart: the
load average (used only where /proc/stat is missing) still counts work that ended up to a
minute ago, so a run started right after another command took 1 thread on an idle 2-core
machine and trained at half speed.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import torch

from ..errors import UsageError


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's or taskset's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


PROC_STAT = Path("/proc/stat")
SAMPLE_SECONDS = 0.2


def cpu_times(stat: Path = PROC_STAT) -> dict[int, tuple[float, float]] | None:
    """{cpu: (busy, total) jiffies} of each CPU from /proc/stat's cpuN lines; None without it."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines:
        fields = line.split()
        if not fields or not fields[0].startswith("cpu") or fields[0] == "cpu":
            continue
        try:
            cpu, values = int(fields[0][3:]), [float(v) for v in fields[1:9]]
        except ValueError:
            return None
        if len(values) < 4:
            return None
        idle = sum(values[3:5])  # idle + iowait; guest time is already counted in user and nice
        out[cpu] = (sum(values) - idle, sum(values))
    return out or None


def busy_cores(seconds: float = SAMPLE_SECONDS, stat: Path = PROC_STAT) -> float | None:
    """How many of this process's usable CPUs other work keeps busy now: each CPU's busy share
    of the time over `seconds`, summed; None where /proc/stat is unavailable."""
    first = cpu_times(stat)
    if first is None:
        return None
    time.sleep(seconds)
    second = cpu_times(stat)
    if second is None:
        return None
    try:
        mine = os.sched_getaffinity(0)
    except AttributeError:
        mine = set(second)
    if not mine & set(second) and len(second) == len(mine):
        mine = set(second)  # a container's /proc/stat (lxcfs) numbers its own CPUs from 0
    busy = 0.0
    for cpu in mine & set(first) & set(second):
        used, total = (b - a for a, b in zip(first[cpu], second[cpu], strict=True))
        if total > 0:
            busy += min(1.0, max(0.0, used / total))
    return busy


def free_cores() -> int:
    """Usable cores minus those other work keeps busy now (/proc/stat; elsewhere the last
    minute's load average); at least 1."""
    cores = usable_cores()
    busy = busy_cores()
    if busy is None:
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
