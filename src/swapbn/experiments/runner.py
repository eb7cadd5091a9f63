"""The sweep runner: run every run of an experiment into OUT/<run_id>/, skipping finished ones.

A run is *done* when its folder holds a final.json with status completed or diverged (a
diverged run is a result of its setting, not an accident) and a config.json equal to the
planned, resolved configuration. The comparison covers every TrainConfig field, tags included,
except `device` and `data_root`: those say where a run was made, not what it is, so runs made on
other machines (copied in) count. Failed and unfinished runs are run again, continuing from
their last checkpoint when their configuration is unchanged; a run whose configuration changed
starts over.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ..training import TrainConfig, rundir
from .backends import run_local, run_ray
from .registry import RunSpec

# Fields that say where a run was made rather than what it is.
WHERE_FIELDS = ("device", "data_root")
FINAL_STATES = ("completed", "diverged")


@dataclass
class PlannedRun:
    spec: RunSpec
    config: dict  # resolved TrainConfig
    state: str  # new | done | resume | changed
    result: dict | None = None

    @property
    def run_id(self) -> str:
        return self.spec.run_id


def config_differences(recorded: dict, config: dict, *, ignore: tuple[str, ...] = ()) -> list[str]:
    """TrainConfig fields (tags included) where config.json differs from a resolved config."""
    return [k for k in TrainConfig.fields()
            if k not in ignore and recorded.get(k) != config.get(k)]


def resolve(spec: RunSpec) -> dict:
    return TrainConfig(**spec.config).resolve().to_dict()


def prepare(specs: list[RunSpec], out: str | Path) -> list[PlannedRun]:
    """Resolve every run's configuration and compare it with what OUT already holds."""
    out = Path(out)
    planned = []
    for spec in specs:
        config = resolve(spec)
        run_dir = out / spec.run_id
        recorded = rundir.read_json(run_dir / rundir.CONFIG)
        final = rundir.read_json(run_dir / rundir.FINAL)
        if recorded is None:
            state = "new"
        elif config_differences(recorded, config, ignore=WHERE_FIELDS):
            state = "changed"
        elif final and final.get("status") in FINAL_STATES:
            state = "done"
        elif config_differences(recorded, config):
            state = "changed"  # same run elsewhere, unfinished: its checkpoint cannot continue
        else:
            state = "resume"
        run = PlannedRun(spec, config, state)
        if state == "done":
            run.result = {"run_id": spec.run_id, "status": final["status"],
                          "final_test_acc": final.get("final_test_acc"),
                          "seconds": final.get("seconds"), "error": final.get("error")}
        planned.append(run)
    return planned


@dataclass
class SweepOptions:
    backend: str = "local"
    workers: int = 1
    address: str | None = None
    cpus_per_run: float | None = None
    gpus_per_run: float = 0
    progress: bool = True
    stream: TextIO | None = None
    extra: dict = field(default_factory=dict)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_sweep(planned: list[PlannedRun], out: str | Path, options: SweepOptions) -> float:
    """Run every planned run that is not done; fills each PlannedRun.result. Returns seconds."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stream = options.stream or sys.stdout
    todo = [p for p in planned if p.state != "done"]
    workers = max(1, options.workers)
    sequential = options.backend == "local" and workers == 1
    cpus = options.cpus_per_run or max(1, cpu_count() // workers)
    # Runs in this process keep torch's thread count unless told; parallel ones share the cores.
    threads = None if sequential and not options.cpus_per_run else max(1, int(cpus))
    jobs = [{"run_id": p.run_id, "config": p.config, "out_dir": str(out / p.run_id),
             "mode": "force" if p.state == "changed" else "resume", "threads": threads,
             "progress": (True if sequential else "epochs") if options.progress else False}
            for p in todo]
    by_id = {p.run_id: p for p in todo}
    finished = 0
    started = time.perf_counter()

    def on_result(result: dict) -> None:
        nonlocal finished
        finished += 1
        by_id[result["run_id"]].result = result
        if options.progress:
            print(f"[{finished}/{len(todo)}] {result_line(result)}", file=stream, flush=True)

    if sequential:
        for job in jobs:
            if options.progress:
                print(f"--- {job['run_id']}", file=stream, flush=True)
            run_local([job], workers=1, on_result=on_result)
    elif options.backend == "local":
        run_local(jobs, workers=workers, on_result=on_result)
    elif options.backend == "ray":
        if jobs:
            run_ray(jobs, address=options.address,
                    num_cpus=None if options.address else int(cpus * workers),
                    cpus_per_run=cpus, gpus_per_run=options.gpus_per_run,
                    on_result=on_result)
    else:
        from ..errors import UsageError

        raise UsageError(f"unknown backend {options.backend!r}; choose from local, ray")
    return time.perf_counter() - started


def result_line(result: dict) -> str:
    acc = result.get("final_test_acc")
    text = f"{result['run_id']}  {result.get('status')}"
    if acc is not None:
        text += f"  test {acc:.2f}%"
    if result.get("seconds") is not None:
        text += f"  {result['seconds']:.1f}s"
    if result.get("error"):
        text += f"  ({result['error']})"
    return text


def summary(planned: list[PlannedRun]) -> str:
    """A table of every run of the sweep: what was done now, what was already there."""
    width = max([len(p.run_id) for p in planned] + [6])
    lines = [f"{'run':<{width}}  {'state':<8} {'status':<10} {'test acc':>9} {'seconds':>9}  error"]
    for p in planned:
        r = p.result or {}
        acc = r.get("final_test_acc")
        seconds = r.get("seconds")
        lines.append(f"{p.run_id:<{width}}  {('skipped' if p.state == 'done' else 'ran'):<8} "
                     f"{str(r.get('status')):<10} "
                     f"{(f'{acc:.2f}' if acc is not None else '-'):>9} "
                     f"{(f'{seconds:.1f}' if seconds is not None else '-'):>9}  "
                     f"{r.get('error') or ''}".rstrip())
    return "\n".join(lines)


def all_completed(planned: list[PlannedRun]) -> bool:
    return all(p.result is not None and p.result.get("status") == "completed" for p in planned)
