"""One run of a sweep, as a worker (in-process, pool process or Ray task) executes it.

`run_one` never raises for a failing run: the failure is recorded in the run directory
(final.json with status "failed" and the error line) and returned, so one bad run never stops
the others. Only an interrupt (Ctrl-C) propagates.
"""

from __future__ import annotations

import time
from pathlib import Path

# Imported at module level so tests can replace it (monkeypatch) to inject failures.
from ..training import TrainConfig, rundir, train


def error_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def run_one(job: dict) -> dict:
    """Train job["config"] (a resolved TrainConfig dict) into job["out_dir"].

    job: run_id, config, out_dir, mode ("resume": continue or start; "force": start over),
    threads (torch CPU threads, None to leave as is), progress (True: training's own epoch
    lines; "epochs": one short line per epoch prefixed by the run id, for parallel workers).
    Returns {run_id, status, final_test_acc, seconds, error}.
    """
    import torch

    threads = torch.get_num_threads()
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    out = Path(job["out_dir"])
    config = TrainConfig.from_dict(job["config"])
    started, wall = time.perf_counter(), time.time()
    try:
        final = train(config, out, progress=job.get("progress") is True,
                      resume=job.get("mode") != "force", force=job.get("mode") == "force",
                      on_epoch=_epoch_printer(job) if job.get("progress") == "epochs" else None)
    except Exception as exc:  # recorded, and the sweep goes on
        final = record_failure(out, job["config"], exc, time.perf_counter() - started, wall)
    finally:
        torch.set_num_threads(threads)  # a run in the caller's process leaves it as it was
    return {"run_id": job["run_id"], "status": final.get("status"),
            "final_test_acc": final.get("final_test_acc"),
            "seconds": final.get("seconds"), "error": final.get("error")}


def record_failure(out: Path, config: dict, exc: Exception, seconds: float,
                    since: float) -> dict:
    """final.json with status failed; config.json too when training never wrote one.

    Training records its own failures once it has started; errors before that (a data set
    that cannot be read, a bad device) leave no final.json, so the sweep writes it.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / rundir.FINAL
    final = rundir.read_json(path)
    if (final is not None and final.get("status") == "failed" and final.get("error")
            and path.stat().st_mtime >= since - 1):
        return final  # written by this attempt
    if rundir.read_json(out / rundir.CONFIG) is None:
        rundir.write_json(out / rundir.CONFIG, config)
    final = {"status": "failed", "final_test_acc": None, "best_test_acc": None,
             "epochs_completed": 0, "seconds": seconds, "error": error_line(exc),
             "stats": None, "gradients": None, "channels": None}
    rundir.write_json(out / rundir.FINAL, final)
    return final


def _epoch_printer(job: dict):
    """One line per epoch naming the run, so lines of parallel runs can be told apart."""
    epochs = job["config"]["epochs"]

    def show(line: dict) -> None:
        print(f"[{job['run_id']}] epoch {line['epoch']}/{epochs}  loss {line['train_loss']:.4f}"
              f"  test {line['test_acc']:.2f}%  {line['seconds']:.0f}s", flush=True)

    return show
