"""`swapbn report`: tables, the paper's directions and figures from run directories."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..intervals import OPPOSITE, UNTRAINED
from ..text import count

HELP = "tables (mean ± std over seeds), paper comparisons and figures from run directories"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="folder searched recursively for run directories")
    p.add_argument("--out", type=Path, default=None,
                   help="report folder (default: DIR/report), or a page ending in .md whose "
                        "tables and figures go to the folder of the same name beside it "
                        "(docs/results.md: docs/results/)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def run(args: argparse.Namespace) -> int:
    from ..report.build import build_report  # matplotlib: only when the command runs

    start = time.perf_counter()
    page, sections = build_report(args.dir, args.out)
    if not args.quiet:
        for sec in sections:
            done = sum(len(g.completed) for g in sec.groups)
            total = sum(len(g.runs) for g in sec.groups)
            held = sum(c.holds is True for c in sec.checks)
            judged = sum(c.holds is not None for c in sec.checks)
            opposite = sum(c.verdict == OPPOSITE for c in sec.checks)
            untrained = sum(c.verdict == UNTRAINED for c in sec.checks)
            figures = sum(p.suffix == ".png" for p in sec.files)
            print(f"{sec.title:<12} runs {done}/{total} completed, "
                  f"paper's direction holds {held}/{judged} ({opposite} opposite, "
                  f"{judged - held - opposite} not resolved"
                  + (f", {untrained} on a setting that {UNTRAINED}" if untrained else "")
                  + f"), {count(figures, 'figure')}")
        print(f"report: {page} ({time.perf_counter() - start:.1f} s)")
    return 0
