"""`swapbn compare`: the paper's main comparison in one command.

Trains the same recipe in several orders (convention and swap by default) over several seeds
and prints test accuracy with the average saturation, skewness and sparsity per order. With no
arguments it runs a small comparison on the offline `digits` data set in a few CPU minutes.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import UsageError
from ..models import TORCHVISION
from ..training.compare import check_orders, compare, order_config, table
from .train import add_training_arguments, apply_threads, config_from_args, describe

HELP = "train convention and swap (and nwdbn, nobn) over seeds and compare them"

# The no-argument comparison: small enough for a few minutes on two CPU cores, large enough
# that the orders differ in skewness and sparsity (README, Training).
DEFAULTS = {"width": 0.125}
DEFAULT_SEEDS = "0,1,2"


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{what} needs comma-separated integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise UsageError(f"{what} needs one or more non-negative integers, got {text!r}")
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--orders", default="convention,swap",
                   help="comma list from convention, swap, nwdbn, nobn (default convention,swap)")
    p.add_argument("--seeds", default=DEFAULT_SEEDS, help=f"comma list (default {DEFAULT_SEEDS})")
    p.add_argument("--out", default="runs/compare",
                   help="folder for the runs, compare.json and compare.md (default runs/compare)")
    add_training_arguments(p)
    p.set_defaults(**DEFAULTS)


def run(args: argparse.Namespace) -> int:
    orders = check_orders([o.strip() for o in args.orders.split(",") if o.strip()])
    seeds = _ints(args.seeds, "--seeds")
    if args.arch.startswith(TORCHVISION) and args.width == DEFAULTS["width"]:
        args.width = 1.0  # the small default width is for swapbn's own models
    base = config_from_args(args, order="convention", seed=seeds[0])
    if args.dry_run:
        print(json.dumps({f"{o}-s{s}": order_config(base, o, s).to_dict()
                          for o in orders for s in seeds}, indent=2))
        return 0
    apply_threads(args)
    stream = sys.stderr if args.json else sys.stdout
    if not args.quiet:
        for order in orders:
            print(f"{order}: {describe(order_config(base, order, seeds[0]))}", file=stream)
        print(f"{len(orders) * len(seeds)} runs into {args.out}", file=stream, flush=True)
    record = compare(base, orders, seeds, args.out, progress=not args.quiet, force=args.force,
                     stream=stream)
    if args.json:
        print(json.dumps(record, indent=2))
    elif not args.quiet:
        print()
        print(table(record["summary"]))
        print(f"\n{args.out}/compare.json, {args.out}/compare.md "
              f"({record['seconds']:.0f} s)")
    return 0
