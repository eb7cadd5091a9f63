"""`swapbn compare`: the paper's main comparison in one command.

Trains the same recipe in several orders (convention and swap by default) over several seeds
and prints test accuracy with the average saturation, skewness and sparsity per order. With no
arguments it runs a small comparison on the offline `digits` data set in a few CPU minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..text import count
from ..training.compare import (
    COMPARE_JSON,
    COMPARE_MD,
    check_orders,
    compare,
    differences_table,
    order_config,
    table,
)
from ..training.config import parse_seeds
from ..training.tensorboard import summary_writer_class
from ..training.threads import apply_threads
from .train import add_training_arguments, config_from_args, describe

HELP = "train convention and swap (and nwdbn, nobn) over seeds and compare them"

DEFAULT_SEEDS = ["0", "1", "2"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--orders", default="convention,swap",
                   help="comma list from convention, swap, nwdbn, nobn (default convention,swap)")
    p.add_argument("--seeds", nargs="+", default=DEFAULT_SEEDS, metavar="SEED",
                   help="seeds, as 0,1,2 or 0 1 2 (default 0,1,2)")
    p.add_argument("--out", default="runs/compare",
                   help="folder for the runs, compare.json and compare.md (default runs/compare)")
    add_training_arguments(p, json_help=f"print the summary and every run ({COMPARE_JSON}) "
                                        "as JSON")


def run(args: argparse.Namespace) -> int:
    orders = check_orders([o.strip() for o in args.orders.split(",") if o.strip()])
    seeds = parse_seeds(args.seeds)
    base = config_from_args(args, order="convention", seed=seeds[0])
    if args.dry_run:
        print(json.dumps({f"{o}-s{s}": order_config(base, o, s).to_dict()
                          for o in orders for s in seeds}, indent=2))
        return 0
    if args.tensorboard is not None:
        summary_writer_class()  # a missing package is a usage error before anything is written
    apply_threads(args.threads)
    stream = sys.stderr if args.json else sys.stdout
    if not args.quiet:
        for order in orders:
            print(f"{order}: {describe(order_config(base, order, seeds[0]), seeds)}",
                  file=stream)
        print(f"{count(len(orders) * len(seeds), 'run')} into {args.out}", file=stream, flush=True)
    record = compare(base, orders, seeds, args.out, progress=not args.quiet, force=args.force,
                     stream=stream, tensorboard=args.tensorboard)
    from ..report.build import compare_figures  # matplotlib: only when the command runs

    figures = [p.name for p in compare_figures(Path(args.out), record)]
    if args.json:
        print(json.dumps(record, indent=2))
    elif not args.quiet:
        print()
        print(table(record["summary"]))
        if record["differences"]:
            print()
            print(differences_table(record["differences"]))
        files = ", ".join(f"{args.out}/{name}" for name in
                          [COMPARE_JSON, COMPARE_MD, *figures])
        print(f"\n{files} ({record['seconds']:.0f} s)")
    return 0
