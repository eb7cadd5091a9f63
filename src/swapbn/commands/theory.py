"""`swapbn theory`: the paper's theory figures (6, 11, 12, 13 left) and their numbers."""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from ..errors import UsageError

HELP = "theory figures: BN of tanh, textbook distributions, tanh skewness grid, activations"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("theory"),
                   help="directory for figures and numbers (default: ./theory)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def run(args: argparse.Namespace) -> int:
    from ..theory.figures import write_theory  # matplotlib: only when the command runs

    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a directory")
    start = time.perf_counter()
    paths = write_theory(args.out)
    if not args.quiet:
        print(f"{'distribution':<30} {'saturation':>10} {'exact':>7} {'|skew|':>7} {'exact':>7}")
        with open(args.out / "fig11_textbook_distributions.csv", newline="") as f:
            for r in csv.DictReader(f):
                print(f"{r['distribution']:<30} {float(r['saturation']):>10.4f} "
                      f"{float(r['saturation_exact']):>7.4f} {float(r['skewness']):>7.3f} "
                      f"{abs(float(r['skewness_exact'])):>7.3f}")
        for path in paths:
            print(f"wrote {path}")
        print(f"theory: {len(paths)} files in {time.perf_counter() - start:.1f} s")
    return 0
