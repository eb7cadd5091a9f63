"""`swapbn experiments`: the paper's experiments, their runs per scale and estimated times."""

from __future__ import annotations

import argparse

from ..experiments import EXPERIMENTS, SCALES, plan
from ..experiments.estimates import (
    BF16_EMULATED,
    gpu_macs_per_second,
    gpu_reference,
    human,
    run_seconds,
)
from ..experiments.runner import resolve
from ..training.fast import native_cpu_bf16

HELP = "list the paper's experiments with their runs and estimated time per scale"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid", action="store_true",
                   help="count and time the runs of the paper's lr x wd grid too")


def run(args: argparse.Namespace) -> int:
    scales = list(SCALES)
    head = f"{'experiment':<12} " + " ".join(f"{s + ' runs':>10} {'est. time':>11}"
                                            for s in scales) + "  what (paper)"
    print(head)
    for name, experiment in EXPERIMENTS.items():
        cells = []
        for s in scales:
            grid = args.grid and s == "paper" and not experiment.follows
            runs = plan(name, SCALES[s], grid=grid)
            seconds = sum(run_seconds(timed(r), s) for r in runs)
            cells.append(f"{len(runs):>10} {human(seconds):>11}")
        print(f"{name:<12} " + " ".join(cells) + f"  {experiment.what} ({experiment.paper})")
    print()
    for s, scale in SCALES.items():
        print(f"{s}: {scale.about}")
    print("Times are estimates for this machine, one run at a time on one CPU thread, from one "
          "training speed measured here (CPU) scaled by each model's multiply-accumulates"
          + ("." if native_cpu_bf16() else
             f"; this CPU emulates bf16, so a bf16 run is timed at {BF16_EMULATED:g}x of "
             "float32, as measured on such a CPU."))
    print(gpu_line(args.grid))
    return 0


def timed(spec) -> dict:
    """A run's resolved configuration for its time estimate: the recipe's lr and wd do not
    change the time, so a run whose cpu-scale recipe is not chosen yet is timed too."""
    return resolve(spec.__class__(spec.run_id, {"lr": 0.01, "wd": 0.0, **spec.config}))


def gpu_line(grid: bool) -> str:
    """The paper scale on a GPU: from a stored benchmarks/gpu_check.sh figure, or not measured."""
    ref = gpu_reference()
    if ref is None:
        return ("GPU: not measured (benchmarks/gpu_check.sh measures it; its gpu_speed.json, "
                "stored in src/swapbn/experiments/, gives the estimate)")
    speed = gpu_macs_per_second(ref)
    total = 0.0
    for name, experiment in EXPERIMENTS.items():
        runs = plan(name, SCALES["paper"], grid=grid and not experiment.follows)
        total += sum(run_seconds(timed(r), "paper", speed) for r in runs)
    return (f"GPU: the paper scale, one run at a time, {human(total)} on {ref['device']} "
            f"({ref['variant']}, {ref['train_images_per_s']:.0f} training images/s of "
            f"{ref['arch']} width {ref['width']:g}, measured by gpu_check.sh on {ref['date']})")
