"""The sweep runner: run every run of an experiment into OUT/<run_id>/, skipping finished ones.

A run is *done* when its folder holds a final.json with status completed or diverged (a
diverged run is a result of its setting, not an accident) and a config.json equal to the
planned, resolved configuration (`TrainConfig.differences`: every field, tags included, except
how a step ran and where the run was made, `device` and `data_root`, so runs made on other
machines (copied in) count). Failed and unfinished runs are run again, continuing from their
last checkpoint when their configuration is unchanged (where they were made included); a run
whose configuration changed starts over. A run whose records cannot be read (a corrupt
config.json or final.json) is left out and listed as failed with the reason, until `--force
RUN_ID` or `--retry-failed` starts it over (docs/faults.md).

`swapbn sweep` runs the paper's experiments through it, and `swapbn compare` the runs it builds
from its flags, which stop at the first error (`SweepOptions.fail_fast`) as one run would.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from ..atomic import refuse_link
from ..errors import Interrupted, RecordError, UsageError, quoted, shown_path
from ..rundir import FINAL, FINISHED, FinalRecord, RunDir
from ..training import TrainConfig
from ..training.progress import eta_text, overall_text
from ..training.threads import free_cores
from .backends import BACKENDS, run_local, run_ray
from .registry import RunSpec
from .sweeps import SweepRecord, append_sweep


@dataclass
class PlannedRun:
    spec: RunSpec
    config: dict  # resolved TrainConfig
    state: str  # new | done | resume | changed | broken (unreadable records: left out)
    result: FinalRecord | None = None
    differs: tuple[str, ...] = ()  # changed: the fields its recorded configuration differs in
    unreadable: RecordError | None = None  # broken: why its records cannot be read

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    @property
    def label(self) -> str:
        """How progress lines name the run."""
        return self.spec.label or self.spec.run_id


def resolve(spec: RunSpec) -> dict:
    return TrainConfig(**spec.config).resolve().to_dict()


def check_existing(specs: list[RunSpec], out: str | Path, *,
                   force: frozenset[str] = frozenset(),
                   retry_failed: bool = False) -> list[PlannedRun]:
    """Resolve every run's configuration and compare it with what OUT already holds; runs in
    `force` (and with `retry_failed`, failed and unreadable ones) start over."""
    out = Path(out)
    planned = []
    for spec in specs:
        config = resolve(spec)
        run = RunDir(out / spec.run_id)
        unreadable = None
        try:
            refuse_link(run.path)  # a link copied in would have the run written elsewhere
            final = run.final
            recorded = run.config
        except RecordError as exc:
            final, recorded, unreadable = FinalRecord.failed(exc), False, exc
        differs: list[str] = []
        if spec.run_id in force or retry_failed and final is not None and \
                final.status == "failed":
            state = "changed"  # start over
        elif recorded is False:
            planned.append(PlannedRun(spec, config, "broken", final, unreadable=unreadable))
            continue
        elif recorded is None:
            state = "new"
        elif differs := TrainConfig.differences(recorded, config,
                                                finished=final is not None and final.finished):
            state = "changed"  # another run, or an unfinished one made elsewhere
        elif final is not None and final.finished:
            state = "done"
        else:
            state = "resume"
        planned.append(PlannedRun(spec, config, state, final if state == "done" else None,
                                  differs=tuple(differs)))
    return planned


@dataclass
class SweepOptions:
    backend: str = "local"
    workers: int = 1
    address: str | None = None
    cpus_per_run: float | None = None
    gpus_per_run: float = 0
    progress: bool = True
    stream: str = "stdout"  # where progress goes, in this process and in the workers: or stderr
    tensorboard: str | None = None  # "" inside each run directory, DIR: DIR/<run_id>
    # The first run that fails stops the sweep with its error (the failure recorded as a run
    # records it), instead of being recorded and listed while the others run.
    fail_fast: bool = False


def run_sweep(planned: list[PlannedRun], out: str | Path, options: SweepOptions) -> float:
    """Run every planned run that is not done; fills each PlannedRun.result. Returns seconds.
    However it ends, a sweep that runs anything appends its line to OUT/sweeps.jsonl
    (experiments/sweeps.py)."""
    if options.backend not in BACKENDS:
        raise UsageError(f"unknown backend {quoted(options.backend)}; choose from "
                         f"{', '.join(BACKENDS)}")
    todo = [p for p in planned if p.state not in ("done", "broken")]
    now = datetime.now(timezone.utc)
    started_at = now.isoformat(timespec="seconds")
    started = time.perf_counter()
    ended = "failed"
    try:
        _run(todo, out, options, started)
        ended = "finished"
    except (Interrupted, KeyboardInterrupt):
        ended = "interrupted"
        raise
    finally:
        if todo and Path(out).is_dir():
            append_sweep(out, SweepRecord(
                started=started_at, seconds=round(time.perf_counter() - started, 1),
                ended=ended, backend=options.backend, workers=max(1, options.workers),
                cpus_per_run=options.cpus_per_run, ran=[p.run_id for p in todo],
                finished=[p.run_id for p in todo
                          if _ended_with_result(p, Path(out), now.timestamp())]))
    return time.perf_counter() - started


def _ended_with_result(p: PlannedRun, out: Path, since: float) -> bool:
    """Whether this sweep ended the run completed or diverged. Its own record on disk decides
    where the driver did not collect the result: a worker can finish a run between the driver's
    SIGTERM and its collecting the result, and the next sweep then skips the run as done."""
    if p.result is not None:
        return p.result.status in FINISHED
    run = RunDir(out / p.run_id)
    try:
        written = (run.path / FINAL).stat().st_mtime
        final = run.final
    except (OSError, RecordError):
        return False
    return written >= since - 2 and final is not None and final.finished  # 2 s: coarse mtimes


def _run(todo: list[PlannedRun], out: str | Path, options: SweepOptions,
         started: float) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stream = getattr(sys, options.stream)
    workers = max(1, options.workers)
    sequential = options.backend == "local" and workers == 1
    free = free_cores()
    cpus = options.cpus_per_run or max(1, free // workers)
    # Runs in this process use the free cores (training/threads.py); parallel ones share them.
    threads = (min(torch.get_num_threads(), free) if sequential and not options.cpus_per_run
               else max(1, int(cpus)))
    jobs = [{"run_id": p.run_id, "config": p.config, "out_dir": str(out / p.run_id),
             "mode": "force" if p.state == "changed" else "resume", "threads": threads,
             "progress": (True if sequential else "epochs") if options.progress else False,
             "tensorboard": (None if options.tensorboard is None else
                             str(Path(options.tensorboard) / p.run_id) if options.tensorboard
                             else ""),
             "stream": options.stream, "fail_fast": options.fail_fast}
            for p in todo]
    by_id = {p.run_id: p for p in todo}
    finished = 0

    def on_result(run_id: str, final: FinalRecord) -> None:
        nonlocal finished
        finished += 1
        done = by_id[run_id]
        done.result = final
        if not options.progress:
            return
        if sequential:  # below its epoch lines, under the line that announced it
            print(f"      {done.label}: {outcome(final)}", file=stream, flush=True)
            return
        elapsed = time.perf_counter() - started
        eta = eta_text(elapsed / finished * (len(todo) - finished))
        print(f"[{finished}/{len(todo)}] {result_line(run_id, final)}  eta {eta}",
              file=stream, flush=True)

    if sequential:
        for k, (job, p) in enumerate(zip(jobs, todo, strict=True), 1):
            if options.progress:
                print(overall_text(k, len(jobs), f"{p.label} -> {shown_path(job['out_dir'])}",
                                   time.perf_counter() - started, k - 1), file=stream,
                      flush=True)
            run_local([job], workers=1, on_result=on_result)
    elif options.backend == "local":
        run_local(jobs, workers=workers, on_result=on_result)
    elif options.backend == "ray":
        if jobs:
            run_ray(jobs, address=options.address,
                    num_cpus=None if options.address else int(cpus * workers),
                    cpus_per_run=cpus, gpus_per_run=options.gpus_per_run,
                    on_result=on_result, say=lambda text: print(text, file=stream, flush=True))


def outcome(final: FinalRecord) -> str:
    """'test 98.33% (12.7 s)', or the status with its time and error."""
    text = (f"test {final.final_test_acc:.2f}%" if final.status == "completed"
            and final.final_test_acc is not None else final.status)
    if final.seconds is not None:
        text += f" ({final.seconds:.1f} s)"
    return text + (f": {final.error}" if final.error else "")


def result_line(run_id: str, final: FinalRecord) -> str:
    text = f"{run_id}  {final.status}"
    if final.final_test_acc is not None:
        text += f"  test {final.final_test_acc:.2f}%"
    if final.seconds is not None:
        text += f"  {final.seconds:.1f}s"
    if final.error:
        text += f"  ({final.error})"
    return text


def summary(planned: list[PlannedRun]) -> str:
    """A table of every run of the sweep: what was done now, what was already there."""
    width = max([len(p.run_id) for p in planned] + [6])
    lines = [f"{'run':<{width}}  {'state':<8} {'status':<10} {'test acc':>9} {'seconds':>9}  error"]
    for p in planned:
        r = p.result or FinalRecord(status="None")
        acc, seconds = r.final_test_acc, r.seconds
        state = {"done": "skipped", "broken": "left out"}.get(p.state, "ran")
        if (r.error or "").startswith("RunBusy"):
            state = "in use"  # another process (a second sweep) is running it
        lines.append(f"{p.run_id:<{width}}  {state:<8} "
                     f"{r.status:<10} "
                     f"{(f'{acc:.2f}' if acc is not None else '-'):>9} "
                     f"{(f'{seconds:.1f}' if seconds is not None else '-'):>9}  "
                     f"{r.error or ''}".rstrip())
    return "\n".join(lines)


def all_completed(planned: list[PlannedRun]) -> bool:
    return all(p.result is not None and p.result.status == "completed" for p in planned)
