"""`swapbn compare`: the paper's main comparison in one command.

Trains the same recipe in several orders (convention and swap by default) over several seeds
and prints test accuracy with the average saturation, skewness and sparsity per order. With no
arguments it runs a small comparison on the offline `digits` data set in a few CPU minutes.

The runs are an experiment built from the flags (experiments/compare.py) that the sweep runner
trains into OUT/<order>-s<seed>/: finished runs with the same configuration are reused and
interrupted ones resumed; a run recorded with another configuration, or whose records cannot be
read, is refused unless `--force` starts every run over; the first run that fails stops the
comparison with its error. Its tables, compare.json, compare.md and figures are the report's
for these run directories, so `swapbn report OUT` shows the same numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..atomic import json_text, write_json, write_text
from ..errors import UsageError, shown_path
from ..experiments import ADHOC, PlannedRun, SweepOptions, check_existing, run_sweep
from ..experiments.compare import plan_compare
from ..experiments.registry import COMPARE
from ..experiments.runner import resolve
from ..report.aggregate import Group, group_runs, model_value
from ..report.runs import Run, load_run
from ..report.tables import (
    DIFFERENCES_NOTE,
    differences,
    differences_table,
    summary_table,
)
from ..text import count
from ..training.config import TrainConfig, parse_seeds
from ..training.tensorboard import summary_writer_class
from ..training.threads import apply_threads
from .train import add_training_arguments, config_from_args, describe

HELP = "train convention and swap (and nwdbn, nobn) over seeds and compare them"

DEFAULT_SEEDS = ["0", "1", "2"]
COMPARE_JSON = "compare.json"
COMPARE_MD = "compare.md"
MEASURES: tuple[str, ...] = ("avg_saturation", "avg_skewness", "avg_sparsity")
EXPERIMENT = ADHOC[COMPARE]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--orders", default="convention,swap",
                   help="comma list from convention, swap, nwdbn, nobn (default convention,swap)")
    p.add_argument("--seeds", nargs="+", default=DEFAULT_SEEDS, metavar="SEED",
                   help="seeds, as 0,1,2 or 0 1 2 (default 0,1,2)")
    p.add_argument("--out", default="runs/compare",
                   help="folder for the runs, compare.json and compare.md (default runs/compare)")
    p.add_argument("--workers", type=int, default=1,
                   help="runs at once (default 1, in this process; N: a pool of N processes "
                        "sharing the free cores, one epoch line per run and epoch)")
    add_training_arguments(p, json_help=f"print the summary and every run ({COMPARE_JSON}) "
                                        "as JSON")


def run(args: argparse.Namespace) -> int:
    seeds = parse_seeds(args.seeds)
    orders = [o.strip() for o in args.orders.split(",") if o.strip()]
    specs = plan_compare(config_from_args(args, order="convention", seed=seeds[0]), orders,
                         seeds)
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.dry_run:
        print(json.dumps({s.run_id: resolve(s) for s in specs}, indent=2))
        return 0
    if args.tensorboard is not None:
        summary_writer_class()  # a missing package is a usage error before anything is written
    out = Path(args.out)
    planned = check_existing(specs, out, force=frozenset(
        s.run_id for s in specs) if args.force else frozenset())
    if not args.force:
        refuse_to_start_over(planned, out)
    threads = apply_threads(args.threads)
    to = "stderr" if args.json else "stdout"  # progress; --json prints the record on stdout
    stream = getattr(sys, to)
    if not args.quiet:
        for p in planned[::len(seeds)]:
            print(f"{p.spec.tags['variant']}: {describe(TrainConfig.from_dict(p.config), seeds)}",
                  file=stream)
        done = sum(p.state == "done" for p in planned)
        print(f"{count(len(planned), 'run')} into {args.out}"
              + (f", {done} already done" if done else ""), file=stream, flush=True)
    started = time.perf_counter()
    run_sweep(planned, out, SweepOptions(
        workers=args.workers, cpus_per_run=threads if args.workers == 1 else args.threads,
        progress=not args.quiet, stream=to, tensorboard=args.tensorboard, fail_fast=True))
    runs = [r for r in (load_run(out / p.run_id) for p in planned) if r is not None]
    groups = group_runs(runs).get(COMPARE, [])
    record = compare_record(planned, runs, groups, orders, seeds,
                            time.perf_counter() - started)
    write_json(out / COMPARE_JSON, record)
    write_text(out / COMPARE_MD, compare_markdown(planned, groups, record))
    from ..report.build import experiment_figures  # matplotlib: only when the command runs

    figures = [p.name for p in experiment_figures(COMPARE, groups, out)]
    if args.json:
        print(json_text(record))
    elif not args.quiet:
        print()
        print(summary_table(groups, EXPERIMENT.columns, markdown=False))
        if record["differences"]:
            print()
            print(differences_table(record["differences"], markdown=False))
        files = ", ".join(f"{args.out}/{name}" for name in
                          [COMPARE_JSON, COMPARE_MD, *figures])
        print(f"\n{files} ({record['seconds']:.0f} s)")
    return 0


def refuse_to_start_over(planned: list[PlannedRun], out: Path) -> None:
    """A run recorded with another configuration, or whose records cannot be read, is never
    started over without --force."""
    for p in planned:
        if p.unreadable is not None:
            raise p.unreadable
        if p.state == "changed":
            raise UsageError(f"cannot resume {shown_path(out / p.run_id)}: its configuration "
                             f"differs in {', '.join(p.differs)}; choose another --out, or "
                             "pass --force to delete its runs and start over")


def summary_row(g: Group) -> dict:
    """One order in compare.json: accuracy mean and sample std, and the mean of the best
    accuracy and of each measure, over completed seeds (None where undefined)."""
    acc = g.summary("test_acc")
    return {"order": g.setting, "runs": len(g.runs), "completed": len(g.completed),
            "test_acc_mean": acc.mean, "test_acc_std": acc.std,
            "best_test_acc_mean": g.summary("best_test_acc").mean,
            **{m: g.summary(m).mean for m in MEASURES}}


def run_entry(run: Run) -> dict:
    """One run in compare.json."""
    return {"order": run.variant, "seed": run.seed, "dir": run.path.name, "status": run.status,
            **{k: model_value(run, k) for k in ("final_test_acc", "best_test_acc")},
            "seconds": run.final.get("seconds"), **{k: model_value(run, k) for k in MEASURES}}


def compare_record(planned: list[PlannedRun], runs: list[Run], groups: list[Group],
                   orders: list[str], seeds: list[int], seconds: float) -> dict:
    """compare.json: the shared configuration, the summary per order, each order against the
    reference order (convention where it runs, else swap, else nwdbn) and every run."""
    return {"config": {k: v for k, v in planned[0].config.items()
                       if k not in ("order", "seed", "nwdbn", "tags")},
            "orders": list(orders), "seeds": list(seeds),
            "summary": [summary_row(g) for g in groups],
            "differences": differences(groups, EXPERIMENT.reference),
            "runs": [run_entry(r) for r in runs], "seconds": seconds}


def compare_markdown(planned: list[PlannedRun], groups: list[Group], record: dict) -> str:
    """compare.md: what was run, the report's table of the orders and their differences."""
    c = TrainConfig.from_dict(planned[0].config)
    recipe = ("the paper's recipe per order" if c.preset else
              f"lr {c.lr:g}, weight decay {c.wd:g}, {c.epochs} epochs, batch {c.batch_size}")
    subset = f", {c.train_subset} training images" if c.train_subset else ""
    text = (f"# {c.arch} {c.act} on {c.dataset}: {', '.join(record['orders'])}\n\n"
            f"Width {c.width:g}, {recipe}{subset}, seeds {', '.join(map(str, record['seeds']))}; "
            "means ± std over seeds of the test accuracy and of the model averages of the "
            "paper's measures on the test split.\n\n" + summary_table(groups, EXPERIMENT.columns) + "\n")
    if record["differences"]:
        text += f"\n{DIFFERENCES_NOTE}\n\n{differences_table(record['differences'])}\n"
    return text
