"""`swapbn report`: tables, direction checks and figures from run directories alone."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import refuse_link, write_text
from ..errors import RecordError, UsageError
from ..experiments import EXPERIMENTS, SCALES, find_experiment, plan
from ..experiments.recipes import choose, markdown_choices
from ..experiments.registry import PAPER_COLUMNS
from ..experiments.sweeps import SWEEPS, read_sweeps
from ..intervals import INTERVALS_NOTE
from ..training import TrainConfig
from .aggregate import Group, group_runs, selected
from .directions import Check, directions
from .figures import FIGURES
from .runs import Run, find_runs
from .scale_check import MOVE_SDS, markdown_scale_check
from .tables import (
    DIFFERENCES_NOTE,
    differences,
    differences_table,
    markdown_directions,
    markdown_grid,
    summary_table,
    write_directions_csv,
    write_experiment_csv,
)


@dataclass
class Section:
    experiment: str
    groups: list[Group]
    checks: list[Check]
    files: list[Path] = field(default_factory=list)
    scale: str | None = None  # set when the experiment's runs span several scales
    differences: list[dict] = field(default_factory=list)  # from its reference setting

    @property
    def title(self) -> str:
        return self.experiment if self.scale is None else f"{self.experiment} ({self.scale})"


def _runs_outside(runs: list[Run], out: Path) -> list[Run]:
    out = out.resolve()
    return [r for r in runs if out not in r.path.resolve().parents and r.path.resolve() != out]


ABOUT = "ABOUT.md"


def page_paths(root: Path, out: Path | None) -> tuple[Path, Path]:
    """(the page, the folder of its tables and figures): OUT/README.md by default; an OUT
    ending in .md is the page itself, with its files in the folder of the same name beside it
    (docs/results.md and docs/results/)."""
    # --out may be a link; the default folder inside the sweep folder may not.
    out = Path(out) if out is not None else refuse_link(root / "report")
    if out.suffix == ".md":
        return out, out.with_suffix("")
    return out / "README.md", out


def split_grid(runs: list[Run]) -> tuple[list[Run], list[Run]]:
    """(comparison runs, grid runs that only chose recipes): at a scale whose grid runs one
    seed per point (its recipes are then run with all seeds), grid runs are not compared."""
    def recipe_only(r: Run) -> bool:
        scale = SCALES.get(r.scale or "")
        return bool(r.tags.get("grid")) and scale is not None and scale.grid_seeds is not None
    return [r for r in runs if not recipe_only(r)], [r for r in runs if recipe_only(r)]


def build_report(root: Path, out: Path | None = None) -> tuple[Path, list[Section]]:
    """Write the page (README.md), CSV tables and PNG figures for every experiment found
    under root; returns the page and its sections."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    page, out = page_paths(root, out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    found = _runs_outside(find_runs(root), out)
    if not found:
        raise UsageError(f"no run directories (folders with a run configuration) under {root}")
    out.mkdir(parents=True, exist_ok=True)
    runs, grid = split_grid(found)
    sections = []
    by_scale: dict[str, dict[str | None, list[Run]]] = {}
    for r in runs:
        by_scale.setdefault(r.experiment, {}).setdefault(r.scale, []).append(r)
    # The registry's order; experiments it does not know follow in the order found.
    names = [e for e in EXPERIMENTS if e in by_scale] + sorted(
        e for e in by_scale if e not in EXPERIMENTS)
    for exp in names:
        scales = by_scale[exp]
        for scale, rs in sorted(scales.items(), key=lambda kv: _scale_order(kv[0])):
            gs = group_runs(rs)[exp]
            known = find_experiment(exp)
            sec = Section(exp, gs, directions(exp, gs), scale=scale if len(scales) > 1 else None,
                          differences=differences(gs, known.reference if known else ()))
            slug = sec.title.replace("-", "_").replace(" (", "_").replace(")", "")
            sec.files.append(write_experiment_csv(out / f"{slug}.csv", gs))
            if sec.checks:
                sec.files.append(write_directions_csv(out / f"{slug}_directions.csv", exp,
                                                      sec.checks))
            sec.files += experiment_figures(exp, gs, out, prefix="" if sec.scale is None
                                            else f"{slug}_")
            sections.append(sec)
    write_text(page, render_readme(root, page, runs, sections, grid))
    return page, sections


def _scale_order(scale: str | None) -> tuple[int, str]:
    names = list(SCALES)
    return (names.index(scale), "") if scale in names else (len(names), str(scale))


def experiment_figures(experiment: str, groups: list[Group], out: Path,
                       prefix: str = "") -> list[Path]:
    """The figures of one experiment's runs in out (none for runs of no known experiment)."""
    known = find_experiment(experiment)
    paths = (FIGURES[name](groups, out / f"{prefix}{name}.png")
             for name in (known.figures if known else ()))
    return [p for p in paths if p is not None]


def render_readme(root: Path, page: Path, runs: list[Run], sections: list[Section],
                  grid: list[Run]) -> str:
    """The report page: nothing in it depends on when or how fast it was written, so the same
    runs always give the same page (docs/results.md is rebuilt and compared by a test)."""
    done = sum(r.completed for r in runs + grid)
    lines = [f"# swapbn report: {root}", ""]
    about = root / ABOUT
    if about.is_file():  # the folder's own account of how its runs were made
        lines += [about.read_text().strip(), ""]
    lines += [f"{len(runs) + len(grid)} runs found, {done} completed. Values are means ± "
              "sample standard deviation (ddof 1) over completed seeds; `seeds` is "
              "completed/total. Saturation and skewness are measured at activation outputs, "
              "sparsity at block outputs, on the test split. The paper's accuracy stands "
              "beside runs at paper scale only; the direction tables check the paper's claims "
              "at any scale. A setting that trains no better than chance is marked *did not "
              "train at this budget* and enters no claim.", "", INTERVALS_NOTE, ""]
    if grid:
        lines += recipes_section(grid)
    for sec in sections:
        lines += [f"## {sec.title}", ""]
        known = find_experiment(sec.experiment)
        if known is not None:
            lines += [f"{known.what} ({known.paper})", ""]
        scales = sorted({g.scale or "untagged" for g in sec.groups})
        columns = known.columns if known is not None else PAPER_COLUMNS
        lines += [f"Scale: {', '.join(scales)}.", "", summary_table(sec.groups, columns), ""]
        if sec.differences:
            lines += [DIFFERENCES_NOTE, "", differences_table(sec.differences), ""]
        untrained = [g.variant for g in selected(sec.groups) if not g.trained]
        if untrained:
            lines += [f"Did not train at this budget (no seed above chance): "
                      f"{', '.join(untrained)}.", ""]
        lines += [stand_in_note(g) for g in selected(sec.groups) if g.stand_in]
        grid_table = markdown_grid(sec.groups)
        if grid_table:
            lines += ["Grid selection (best mean accuracy over seeds, on the validation split "
                      "where the runs hold one, else on the test split as the paper did):", "",
                      grid_table, ""]
        if sec.checks:
            lines += ["Does the paper's direction hold?", "", markdown_directions(sec.checks), ""]
        links = [(p, _link(p, page)) for p in sec.files]
        lines += ["Files: " + ", ".join(f"[{p.name}]({link})" for p, link in links), ""]
        lines += [f"![{p.stem}]({link})" for p, link in links if p.suffix == ".png"]
        lines.append("")
    lines += scale_check_section(sections)
    lines += not_run_section(root, runs + grid)
    lines += compute_section(runs + grid)
    left_out = [r for r in runs + grid if not r.completed]
    if left_out:
        lines += ["## Runs not in the means", "", "| run | experiment | variant | seed | status "
                  "| error |", "|---|---|---|---|---|---|"]
        for r in left_out:
            error = str(r.final.get("error") or "").replace("|", "/")
            rel = r.path.relative_to(root) if r.path.is_relative_to(root) else r.path
            lines.append(f"| {rel} | {r.experiment} | {r.variant} | {r.seed} | {r.status} "
                         f"| {error} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def scale_check_section(sections: list[Section]) -> list[str]:
    """Each experiment run at the cpu scale and at one of its variants, compared."""
    by_key = {(s.experiment, s.scale): s for s in sections}
    lines = []
    for (exp, scale), sec in by_key.items():
        reference = SCALES[scale].reference if scale in SCALES else None
        ref = by_key.get((exp, reference)) if reference is not None else None
        if ref is None:  # a section of one scale has scale None: no variant to check
            continue
        lines += markdown_scale_check(exp, ref.groups, sec.groups, ref.checks, sec.checks,
                                      scale, reference)
    if lines:
        lines = ["## Does a variant of a scale change its conclusions?", "",
                 "A variant (another precision, one shared recipe) changes a conclusion when a "
                 "claim comes out otherwise (its verdict; with one seed, the sign of its "
                 f"difference), or a mean moves by more than {MOVE_SDS:g} standard deviations "
                 "of the reference scale's seeds.", "", *lines]
    return lines


def _link(path: Path, page: Path) -> str:
    return os.path.relpath(path, page.parent).replace(os.sep, "/")


def stand_in_note(g: Group) -> str:
    """The line that labels a stand-in row: a model the paper did not run, in the place of one
    that cannot be run at this budget (experiments/scales.py); it enters no claim."""
    return (f"*{g.variant}* is a labelled stand-in, not in the paper: the shallower "
            f"{g.keys.get('arch')} beside the paper's model, at the recipe its setting takes "
            f"(lr {g.lr:g}, wd {g.wd:g}; where its own grid ran, the recipes table gives that "
            "grid's best beside it); it enters no claim.\n")


def recipes_section(grid: list[Run]) -> list[str]:
    """Each setting's lr and wd as its grid chose them (experiments/recipes.py), then every
    grid point."""
    chosen = choose([r.record() for r in grid])
    rows = ["| experiment | setting | lr | wd | val acc (%) | test acc (%) | status |",
            "|---|---|---|---|---|---|---|"]
    for r in sorted(grid, key=lambda r: (r.experiment, r.setting, -(r.config.get("lr") or 0),
                                         -(r.config.get("wd") or 0))):
        val, test = r.final.get("final_val_acc"), r.final.get("final_test_acc")
        rows.append(f"| {r.experiment} | {r.setting} | {r.config.get('lr'):g} | "
                    f"{r.config.get('wd'):g} | {_pct(val)} | {_pct(test)} | {r.status} |")
    seeds = sorted({r.seed for r in grid if r.seed is not None})
    return ["## Recipes: the paper's grid at this budget", "",
            "Each setting's lr and wd, chosen as the paper chose them (appendix A.1) from lr "
            "{0.1, 0.01} x wd {5e-3, 1e-3, 5e-4, 1e-4}, but with one seed per point "
            f"({'seed' if len(seeds) == 1 else 'seeds'} {', '.join(map(str, seeds))}; the "
            "paper averaged three) and by final "
            "accuracy on the validation split held out of the training images, never the test "
            "split. LeCun Tanh and Softsign take Tanh's choice, NWDBN and no BN the "
            "convention's, as in the paper; no BN's own grid tells whether it trains at all, "
            "and the last column gives the recipe each setting's comparisons run at. "
            "`swapbn recipes` makes this choice and writes the recipe table.", "",
            markdown_choices(chosen), "", "Every grid point:", "", *rows, ""]


def _pct(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def not_run_section(root: Path, runs: list[Run]) -> list[str]:
    """What a reference scale found here (the cpu scale) has not run yet, with its command:
    each experiment's planned runs missing under root, and its variants' check runs
    (Scale.checks); a setting without a recipe yet names the grid it needs first."""
    lines = []
    have = {(r.path.name, r.scale) for r in runs}  # a variant's runs share the run ids
    found = {r.scale for r in runs if r.scale in SCALES}
    for name in sorted(found, key=_scale_order):
        variants = [s for s in SCALES.values() if s.reference == name]
        if not variants:
            continue
        todo = [(e, SCALES[name], ()) for e in EXPERIMENTS]
        todo += [(e, v, only) for v in variants for e, only in v.checks.items()]
        items = []
        for e, scale, only in todo:
            specs = [s for s in plan(e, scale) if not only or s.tags["setting"] in only]
            missing = [s for s in specs if (s.run_id, scale.name) not in have]
            if not missing:
                continue
            folder = e if scale.name == name else f"{e}-{scale.name}"
            flags = f" --only {' '.join(only)}" if only else ""
            item = (f"- {e} at {scale.name}: {len(specs) - len(missing)} of {len(specs)} runs; "
                    f"`swapbn sweep {e} --scale {scale.name}{flags} --data-root DIR --out "
                    f"{root}/{folder}`")
            needs = sorted({_recipe_missing(s) for s in missing} - {None})
            if needs:
                item += (f" (first the grid of {', '.join(needs)}, then `swapbn recipes "
                         f"{root}/grid --write src/swapbn/cpu_recipes.json`)")
            items.append(item)
        if items:
            lines += [f"## Not yet run at scale {name} and its variants", "", *items, ""]
    return lines


def _recipe_missing(spec) -> str | None:
    """The cpu recipe a planned run still lacks (as 'vgg16_11/bounded/swap'), or None."""
    try:
        TrainConfig(**spec.config).resolve()
    except UsageError as exc:
        found = re.search(r"no cpu-scale recipe for (\S+) yet", str(exc))
        return found.group(1) if found else None
    return None


def compute_section(runs: list[Run]) -> list[str]:
    """Compute used per experiment and scale: runs, training time, the sweeps' wall time,
    machines, code commits."""
    rows = ["| experiment | scale | runs | compute (h) | wall (h) | machine | threads | precision "
            "| commit |", "|---|---|---|---|---|---|---|---|---|"]
    by_key: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        by_key.setdefault(_compute_key(r), []).append(r)
    walls, covered = sweep_walls(runs)
    for key, rs in sorted(by_key.items()):
        exp, scale = key
        hours = sum(float(r.final.get("seconds") or 0) for r in rs) / 3600
        wall = ("—" if key not in walls else
                ("" if all(r.path in covered for r in rs) else "≥ ") + f"{walls[key] / 3600:.2f}")
        machines = sorted({str(r.config.get("device_name") or "?") for r in rs})
        threads = sorted({str(r.config.get("threads")) for r in rs if r.config.get("threads")})
        precisions = sorted({str(r.config.get("precision", "?")) for r in rs})
        commits = sorted({str(r.config.get("git_commit") or "?")[:10]
                          + (" (with changes)" if r.config.get("git_dirty") else "") for r in rs})
        rows.append(f"| {exp} | {scale} | {len(rs)} | {hours:.2f} | {wall} | "
                    f"{', '.join(machines)} | {', '.join(threads)} | {', '.join(precisions)} | "
                    f"{', '.join(commits)} |")
    return ["## Compute", "", "Compute is the training and measuring time summed over runs (one "
            "process each, from each run's final.json); wall is the time the sweeps that ran "
            "them took, summed over the sweeps recorded in each run folder's `sweeps.jsonl` "
            "(several runs at once, and a sweep stopped and continued, counted as they ran); "
            "`≥` where some of the runs finished in sweeps that kept no such record, — where "
            "none did. Machines and code are from each run's config.json.", "", *rows, ""]


def _compute_key(r: Run) -> tuple[str, str]:
    return r.experiment + (" grid" if r.tags.get("grid") else ""), r.scale or ""


def sweep_walls(runs: list[Run]) -> tuple[dict[tuple[str, str], float], set[Path]]:
    """({(experiment, scale): seconds of the recorded sweeps that ran any of its runs}, the runs
    that finished in a recorded sweep), from the sweeps.jsonl beside the runs. A sweep whose runs
    span several keys counts for each (`swapbn sweep` runs one experiment at one scale)."""
    by_path = {r.path: r for r in runs}
    walls: dict[tuple[str, str], float] = {}
    covered: set[Path] = set()
    for folder in sorted({r.path.parent for r in runs}):
        path = folder / SWEEPS
        if not path.is_file():
            continue
        try:
            sweeps = read_sweeps(path)
        except RecordError as exc:
            print(f"swapbn report: left out {exc}", file=sys.stderr)
            continue
        for sweep in sweeps:
            mine = [by_path[folder / i] for i in sweep["ran"] if folder / i in by_path]
            for key in {_compute_key(r) for r in mine}:
                walls[key] = walls.get(key, 0.0) + float(sweep["seconds"])
            covered |= {folder / i for i in sweep["finished"] if folder / i in by_path}
    return walls, covered
