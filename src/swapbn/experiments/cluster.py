"""A sweep's run as a Ray task on a cluster: retried when its node dies, resumed from its
checkpoint, and its record sent back to the driver (README, "A cluster").

A task that Ray retries after its worker or node died finds the run directory as the last
finished epoch left it (when the output folder is on a filesystem every node sees) and
continues from that checkpoint. Without a shared filesystem the run directory stays on the
node that ran it; the task returns the run's small files (`RunDir.small_files`), the driver
writes them into the sweep's folder and says where the checkpoint stayed.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from ..rundir import FinalRecord, RunDir
from .execute import run_one

RETRIES = 3  # attempts after the first when a worker or node dies (Ray's max_retries)


def run_on_node(job: dict) -> dict:
    """The Ray task: `run_one(job)` on the node Ray chose. Returns the final record, where it
    ran, the epochs a retried attempt found already done, and the run's small files."""
    import ray

    run = RunDir(job["out_dir"])
    before = run.final
    resumed_after = (len(run.metrics()) if job.get("mode") == "resume" and run.has_checkpoint
                     and (before is None or not before.finished) else 0)
    final = run_one(job)
    return {"final": final, "node": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(), "resumed_after": resumed_after,
            "files": run.small_files(), "checkpoint": str(run.checkpoint_path.resolve())}


def collect(job: dict, result: dict, say: Callable[[str], None] | None = None) -> FinalRecord:
    """Write a finished task's small files into the driver's run directory (nothing when it
    already holds them) and say where the checkpoint is when the driver cannot see it."""
    run = RunDir(job["out_dir"])
    written = run.receive(result["files"])
    if written and say is not None and not Path(result["checkpoint"]).is_file():
        say(f"{job['run_id']}: record copied from {result['host']}; its checkpoint stays "
            f"there at {result['checkpoint']}")
    return result["final"]


__all__ = ["RETRIES", "collect", "run_on_node"]
