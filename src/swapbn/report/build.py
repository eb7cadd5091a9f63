"""`swapbn report`: tables, direction checks and figures from run directories alone."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import refuse_link, write_text
from ..errors import UsageError
from ..experiments import EXPERIMENTS
from ..intervals import INTERVALS_NOTE
from ..training.compare import COMPARE
from .aggregate import Group, group_runs
from .directions import Check, directions
from .figures import COMPARE_FIGURES, FIGURES
from .runs import Run, find_runs, load_run
from .tables import (
    markdown_directions,
    markdown_grid,
    markdown_table,
    write_directions_csv,
    write_experiment_csv,
)


@dataclass
class Section:
    experiment: str
    groups: list[Group]
    checks: list[Check]
    files: list[Path] = field(default_factory=list)


def _runs_outside(runs: list[Run], out: Path) -> list[Run]:
    out = out.resolve()
    return [r for r in runs if out not in r.path.resolve().parents and r.path.resolve() != out]


def build_report(root: Path, out: Path | None = None) -> tuple[Path, list[Section]]:
    """Write README.md, CSV tables and PNG figures for every experiment found under root."""
    start = time.perf_counter()
    root = Path(root)
    # --out may be a link; the default folder inside the sweep folder may not.
    out = Path(out) if out is not None else refuse_link(root / "report")
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    runs = _runs_outside(find_runs(root), out)
    if not runs:
        raise UsageError(f"no run directories (folders with a run configuration) under {root}")
    out.mkdir(parents=True, exist_ok=True)
    grouped = group_runs(runs)
    # The registry's order; experiments it does not know follow in the order found.
    names = [e for e in EXPERIMENTS if e in grouped] + sorted(
        e for e in grouped if e not in EXPERIMENTS)
    sections = []
    for exp in names:
        gs = grouped[exp]
        sec = Section(exp, gs, directions(exp, gs))
        slug = exp.replace("-", "_")
        sec.files.append(write_experiment_csv(out / f"{slug}.csv", gs))
        if sec.checks:
            sec.files.append(write_directions_csv(out / f"{slug}_directions.csv", exp, sec.checks))
        sec.files += experiment_figures(exp, gs, out)
        sections.append(sec)
    readme = render_readme(root, out, runs, sections, time.perf_counter() - start)
    write_text(out / "README.md", readme)
    return out, sections


def experiment_figures(experiment: str, groups: list[Group], out: Path) -> list[Path]:
    """The figures of one experiment's runs (a `swapbn compare` folder counts as one) in out."""
    names = (EXPERIMENTS[experiment].figures if experiment in EXPERIMENTS
             else COMPARE_FIGURES if experiment == COMPARE else ())
    paths = (FIGURES[name](groups, out / f"{name}.png") for name in names)
    return [p for p in paths if p is not None]


def compare_figures(folder: Path, record: dict) -> list[Path]:
    """Draw the compare figures next to compare.md from the runs its record lists (one group
    per order), so they show what compare.json and compare.md show."""
    folder = Path(folder)
    groups = []
    for order in record["orders"]:
        runs = [load_run(folder / r["dir"]) for r in record["runs"] if r["order"] == order]
        runs = [r for r in runs if r is not None]
        if runs:
            groups.append(Group(COMPARE, order, order, runs))
    return experiment_figures(COMPARE, groups, folder)


def render_readme(root: Path, out: Path, runs: list[Run], sections: list[Section],
                  seconds: float) -> str:
    done = sum(r.completed for r in runs)
    lines = [f"# swapbn report: {root}", "",
             f"{len(runs)} runs found, {done} completed. Values are means ± sample standard "
             "deviation (ddof 1) over completed seeds; `seeds` is completed/total. "
             "Saturation and skewness are measured at activation outputs, sparsity at block "
             "outputs, on the test split. The paper's accuracy stands beside runs at paper "
             "scale only; the direction tables check the paper's claims at any scale.", "",
             INTERVALS_NOTE, ""]
    for sec in sections:
        lines += [f"## {sec.experiment}", ""]
        known = EXPERIMENTS.get(sec.experiment)
        if known is not None:
            lines += [f"{known.what} ({known.paper})", ""]
        scales = sorted({g.scale or "untagged" for g in sec.groups})
        lines += [f"Scale: {', '.join(scales)}.", "", markdown_table(sec.groups), ""]
        grid = markdown_grid(sec.groups)
        if grid:
            lines += ["Grid selection (best mean test accuracy over seeds):", "", grid, ""]
        if sec.checks:
            lines += ["Does the paper's direction hold?", "", markdown_directions(sec.checks), ""]
        lines += ["Files: " + ", ".join(f"[{p.name}]({p.name})" for p in sec.files), ""]
        lines += [f"![{p.stem}]({p.name})" for p in sec.files if p.suffix == ".png"]
        lines.append("")
    left_out = [r for r in runs if not r.completed]
    if left_out:
        lines += ["## Runs not in the means", "", "| run | experiment | variant | seed | status "
                  "| error |", "|---|---|---|---|---|---|"]
        for r in left_out:
            error = str(r.final.get("error") or "").replace("|", "/")
            rel = r.path.relative_to(root) if r.path.is_relative_to(root) else r.path
            lines.append(f"| {rel} | {r.experiment} | {r.variant} | {r.seed} | {r.status} "
                         f"| {error} |")
        lines.append("")
    lines.append(f"Written by `swapbn report` in {seconds:.1f} s.")
    return "\n".join(lines) + "\n"
