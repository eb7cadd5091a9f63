"""The machine a benchmark ran on, and one appended line per benchmark in results.md, so speed
is tracked over time (ratios measured side by side in one process; absolute times vary)."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results.md"
HEADER = ("# Benchmark results\n\nOne line per benchmark run, appended by `make bench`: date, "
          "machine, what was compared and the ratios measured side by side.\n\n"
          "| date | machine | benchmark | ratios |\n|---|---|---|---|\n")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """CPU model and cores, GPU name if any, torch version and threads."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu_model()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")


def record(benchmark: str, ratios: dict[str, float], path: Path = RESULTS) -> str:
    """Append one line to results.md (created with its header when absent); returns it."""
    text = ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    line = f"| {date} | {machine()} | {benchmark} | {text} |\n"
    if not path.is_file():
        path.write_text(HEADER)
    with path.open("a") as f:
        f.write(line)
    return line
