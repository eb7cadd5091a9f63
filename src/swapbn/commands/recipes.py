"""`swapbn recipes GRID_DIR`: each setting's lr and wd chosen from its grid runs, and whether it
trained at all; `--write FILE` saves them as a recipe table (the cpu scale's is
src/swapbn/cpu_recipes.json, read by `--preset cpu`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ..experiments.recipes import (
    choose,
    conflicts,
    grid_records,
    markdown_choices,
    recipe_table,
    write_recipes,
)

HELP = "choose each setting's lr and wd from grid runs (swapbn sweep NAME --grid)"
ABOUT = ("lr and wd per model / activation family / order, chosen from the scale's lr x wd "
         "grid (one seed per point) by final validation accuracy; see docs/results.md")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("grid_dir", help="folder holding the grid's run directories")
    p.add_argument("--write", default=None, metavar="FILE",
                   help="save the chosen recipes as JSON (the cpu scale's table: "
                        "src/swapbn/cpu_recipes.json)")


def run(args: argparse.Namespace) -> int:
    root = Path(args.grid_dir)
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder")
    if args.write is not None and Path(args.write).is_dir():
        raise UsageError(f"--write {args.write} is a folder; give a file name")
    records = grid_records(root)
    chosen = choose(records)
    if not chosen:
        raise UsageError(f"no grid runs (swapbn sweep NAME --grid) under {root}")
    print(markdown_choices(chosen))
    running = [c for c in chosen if not c.complete]
    if running:
        print(f"not chosen yet (grid not finished): "
              f"{', '.join(f'{c.experiment} {c.setting}' for c in running)}")
    for line in conflicts(chosen):
        print(f"two grids disagree: {line}")
    if args.write is not None:
        table = recipe_table(chosen, ABOUT)
        path = write_recipes(args.write, table)
        print(f"{len(table['recipes'])} recipes written to {path}")
    return 0
