"""One run of a sweep, as a worker (in-process, pool process or Ray task) executes it.

`run_one` never raises for a failing run: the failure is recorded in the run directory
(final.json with status "failed" and the error line; where the folder cannot be written, only
returned) and returned, so one bad run never stops the others. Only an interrupt (Ctrl-C,
SIGTERM) and a full disk propagate (docs/faults.md), and with `fail_fast` (compare) every error.
"""

from __future__ import annotations

import errno
import sys
import time
from pathlib import Path

import torch

from ..atomic import refuse_link
from ..errors import RecordError, RunBusy
from ..rundir import FinalRecord, RunDir, error_line
from ..training import TrainConfig, train


def run_one(job: dict) -> FinalRecord:
    """Train job["config"] (a resolved TrainConfig dict) into job["out_dir"].

    job: run_id, config, out_dir, mode ("resume": continue or start; "force": start over),
    threads (torch CPU threads, None to leave as is), progress (True: training's own epoch
    lines; "epochs": one short line per epoch prefixed by the run id, for parallel workers),
    stream ("stdout" or "stderr": where those lines go), tensorboard (None, "" for the run
    directory's own folder, or a folder for this run), fail_fast (raise every error).
    """
    threads = torch.get_num_threads()
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    started = time.perf_counter()
    try:
        refuse_link(job["out_dir"])  # OUT/<run_id>: named by the sweep, never written through
        if job.get("tensorboard"):
            refuse_link(job["tensorboard"])  # DIR/<run_id>: named by the sweep, not the user
        return train(TrainConfig.from_dict(job["config"]), Path(job["out_dir"]),
                     progress=job.get("progress") is True, resume=job.get("mode") != "force",
                     force=job.get("mode") == "force", stream=_stream(job),
                     on_epoch=_epoch_printer(job) if job.get("progress") == "epochs" else None,
                     tensorboard=job.get("tensorboard"))
    except Exception as exc:  # recorded, and the sweep goes on
        if stops_sweep(exc, job):
            raise  # a full disk fails every later run too: the sweep stops with one line
        if isinstance(exc, RunBusy) or Path(job["out_dir"]).is_symlink():
            return FinalRecord.failed(exc)  # another process's run, or a link: not ours to write
        return record_failure(RunDir(job["out_dir"]), job["config"], exc,
                              time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)  # a run in the caller's process leaves it as it was


def record_failure(run: RunDir, config: dict, exc: BaseException,
                   seconds: float | None = None) -> FinalRecord:
    """final.json with status failed; config.json too when training never wrote one.

    Training records its own failures once it has started; errors before that (a data set
    that cannot be read, a bad device) or a worker that died leave no record of this error,
    so the sweep writes it.
    """
    try:
        recorded = run.final
    except RecordError:
        recorded = None
    if recorded is not None and recorded.status == "failed" and recorded.error == error_line(exc):
        return recorded  # written by training for this very error
    final = FinalRecord.failed(exc, seconds=seconds)
    try:
        run.path.mkdir(parents=True, exist_ok=True)
        try:
            has_config = run.config is not None
        except RecordError:
            has_config = True  # a broken one stays for the user to see; --force replaces it
        if not has_config:
            run.write_config(config)
        run.write_final(final)
    except OSError as write_error:
        if stops_sweep(write_error):
            raise
        # a read-only folder, a file where the folder should be: listed, not recorded
        return FinalRecord(status="failed", seconds=seconds,
                           error=f"{error_line(exc)} (not recorded: {error_line(write_error)})")
    return final


STOPS_SWEEP = (errno.ENOSPC, errno.EDQUOT)  # the disk (or quota) is full


def stops_sweep(exc: BaseException, job: dict | None = None) -> bool:
    """A full disk (or quota): every later run would fail too, so the sweep stops; so does any
    error of a job that says `fail_fast`."""
    return bool(job and job.get("fail_fast")) or \
        isinstance(exc, OSError) and exc.errno in STOPS_SWEEP


def _stream(job: dict):
    """The stream a job's progress lines go to (a name: jobs cross process boundaries)."""
    return getattr(sys, job.get("stream") or "stdout")


def _epoch_printer(job: dict):
    """One line per epoch naming the run, so lines of parallel runs can be told apart."""
    epochs = job["config"]["epochs"]

    def show(line: dict) -> None:
        print(f"[{job['run_id']}] epoch {line['epoch']}/{epochs}  loss {line['train_loss']:.4f}"
              f"  test {line['test_acc']:.2f}%  {line['seconds']:.0f}s", file=_stream(job),
              flush=True)

    return show
