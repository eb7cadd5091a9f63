"""OUT/sweeps.jsonl: one line per sweep into OUT, so the wall time an experiment took can be
told from the records (docs/results.md's Compute table).

Each run's final.json gives the seconds that run took, but not the wall time of the sweep:
runs overlap when several run at once, and a sweep stopped and continued later spans several
sittings. Every `swapbn sweep` (and `swapbn compare`) appends one line when it ends, however it
ends: when it started (UTC), its seconds, how it ran (backend, workers, cores per run), the runs
it started and the runs that ended with a result (completed or diverged).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..atomic import json_text, refuse_link
from ..errors import RecordError
from ..rundir import check_fields, read_json_lines

SWEEPS = "sweeps.jsonl"
NUMBER = (int, float)
TYPES: dict[str, tuple] = {
    "started": (str, type(None)), "seconds": NUMBER, "ended": (str,), "backend": (str,),
    "workers": (int,), "cpus_per_run": (*NUMBER, type(None)), "ran": (list,),
    "finished": (list,), "note": (str, type(None)),
}
REQUIRED = ("seconds", "ran", "finished")


@dataclass
class SweepRecord:
    started: str | None  # UTC, ISO 8601; None where it was not recorded
    seconds: float
    ended: str  # finished | interrupted | failed
    backend: str
    workers: int
    cpus_per_run: float | None
    ran: list[str] = field(default_factory=list)  # run ids it started (new or continued)
    finished: list[str] = field(default_factory=list)  # run ids it ended completed or diverged
    note: str | None = None


def append_sweep(out: str | Path, record: SweepRecord) -> None:
    """Append the record to OUT/sweeps.jsonl; a failed write is one warning line, never the
    sweep's failure (its runs' own records are complete without it)."""
    path = Path(out) / SWEEPS
    try:
        refuse_link(path)
        with path.open("a", encoding="utf-8") as f:  # one short line: an atomic append
            f.write(json_text(asdict(record), indent=None) + "\n")
    except (OSError, RecordError) as exc:
        print(f"swapbn: warning: could not record the sweep in {path}: {exc}", file=sys.stderr)


def read_sweeps(path: str | Path) -> list[dict]:
    """Every line of a sweeps.jsonl, checked; RecordError (one line) for anything else."""
    lines = []
    for where, value in read_json_lines(Path(path)):
        check_fields(value, TYPES, REQUIRED, where)
        if value["seconds"] < 0 or not all(isinstance(r, str) for r in
                                           value["ran"] + value["finished"]):
            raise RecordError(f"{where}: seconds must be at least 0 and runs are run ids")
        lines.append(value)
    return lines
