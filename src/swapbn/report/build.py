"""`swapbn report`: tables, direction checks and figures from run directories alone."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from . import figures as F
from . import layer_figures as L
from .aggregate import Group, group_runs
from .directions import BOUNDED, Check, directions
from .files import write_text_atomic
from .runs import Run, find_runs
from .tables import (
    markdown_directions,
    markdown_grid,
    markdown_table,
    write_directions_csv,
    write_experiment_csv,
)

# Reading order of the README; experiments not listed follow in the order found.
EXPERIMENT_ORDER = ("main", "table1", "table2", "depth", "nwdbn-beta", "swap-affine", "nobn",
                    "datasets")
ABOUT = {
    "main": "VGG16_11 Tanh: convention, NWDBN, swap (Figures 1, 3, 4, 8, 15-17; section 5.2)",
    "table1": "{VGG16, MobileNet} x {ReLU, Tanh} x {convention, swap} (Table 1, Figure 9)",
    "table2": "VGG16_11 x {Tanh, LeCun Tanh, Softsign} x orders (Table 2, Figure 13)",
    "depth": "swap VGG16_n, n = 8..16 (Table 7, Figure 14)",
    "nwdbn-beta": "NWDBN with beta weight decay: accuracy against avg skewness (Figure 5)",
    "swap-affine": "swap with BN affine weight decay: accuracy against sparsity "
                   "(Figures 7, 18)",
    "nobn": "convention against no BN (appendix A.2, Figure 10)",
    "datasets": "swap VGG16 Tanh per data set (Figure 9)",
}


@dataclass
class Section:
    experiment: str
    groups: list[Group]
    checks: list[Check]
    files: list[Path] = field(default_factory=list)


FigureMaker = Callable[[list[Group], Path], list[Path | None]]


def _bounded(groups: list[Group]) -> list[Group]:
    return [g for g in groups if g.keys.get("act") in BOUNDED]


def _main_figures(gs: list[Group], out: Path) -> list[Path | None]:
    from .channel_figures import channel_distributions

    return [
        L.by_order(gs, ("saturation",), out / "fig03_layer_saturation_main.png",
                   "Figure 3: layer saturation (activation output)"),
        L.by_order(gs, ("skewness",), out / "fig04_layer_skewness_main.png",
                   "Figure 4: layer skewness (activation output)"),
        L.by_order(gs, ("sparsity",), out / "sec52_layer_sparsity_main.png",
                   "Section 5.2: layer sparsity (block output)"),
        *channel_distributions(gs, out),
        F.gradients(gs, out / "fig15_gradients_main.png",
                    "Figure 15: weight-layer inputs and gradients per layer"),
        F.learning_curves(gs, "train", out / "fig16_train_curves_main.png",
                          "Figure 16: training loss and accuracy"),
        F.learning_curves(gs, "test", out / "fig17_test_curves_main.png",
                          "Figure 17: test loss and accuracy"),
        F.epoch_stats(gs, out / "fig16_17_epoch_stats_main.png",
                      "Average saturation, skewness and sparsity per epoch"),
    ]


FIGURES: dict[str, FigureMaker] = {
    "main": _main_figures,
    "table1": lambda gs, out: [L.by_key(
        _bounded(gs), "dataset", "skewness", out / "fig09_layer_skewness_by_dataset_table1.png",
        "Figure 9: layer skewness of swap models by data set", panel_key=("arch", "act"))],
    "datasets": lambda gs, out: [L.by_key(
        gs, "dataset", "skewness", out / "fig09_layer_skewness_by_dataset.png",
        "Figure 9: layer skewness of the swap model by data set", panel_key=("arch",))],
    "table2": lambda gs, out: [L.by_key(
        gs, "act", "skewness", out / "fig13_layer_skewness_by_activation_table2.png",
        "Figure 13 (right): layer skewness by activation (dashed: convention, solid: swap)",
        orders=("convention", "swap"), dashed_convention=True)],
    "depth": lambda gs, out: [L.by_key(
        gs, "depth", "skewness", out / "fig14_layer_skewness_by_depth.png",
        "Figure 14: layer skewness of swap VGG16_n by depth n")],
    "nobn": lambda gs, out: [L.by_order(
        gs, ("saturation", "skewness"), out / "fig10_nobn_layer_saturation_skewness.png",
        "Figure 10: convention against no BN, layer saturation and skewness")],
    "nwdbn-beta": lambda gs, out: [F.accuracy_against(
        gs, "avg_skewness", "bn_beta_wd", out / "fig05_accuracy_vs_skewness_nwdbn_beta.png",
        "Figure 5: NWDBN accuracy against average skewness (beta weight decay)",
        "average layer skewness")],
    "swap-affine": lambda gs, out: [
        F.accuracy_against(gs, "avg_sparsity", "bn_wd",
                           out / "fig07_accuracy_vs_sparsity_swap_affine.png",
                           "Figure 7: swap accuracy against average sparsity "
                           "(BN affine weight decay)", "average sparsity"),
        F.against_parameter(gs, "bn_wd", ("test_acc", "avg_sparsity"),
                            out / "fig18_accuracy_sparsity_vs_affine_wd.png",
                            "Figure 18: accuracy and sparsity against BN affine weight decay",
                            "BN affine weight decay (gamma and beta)",
                            ("test accuracy (%)", "average sparsity"))],
}


def _runs_outside(runs: list[Run], out: Path) -> list[Run]:
    out = out.resolve()
    return [r for r in runs if out not in r.path.resolve().parents and r.path.resolve() != out]


def build_report(root: Path, out: Path | None = None) -> tuple[Path, list[Section]]:
    """Write README.md, CSV tables and PNG figures for every experiment found under root."""
    start = time.perf_counter()
    root = Path(root)
    out = Path(out) if out is not None else root / "report"
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    runs = _runs_outside(find_runs(root), out)
    if not runs:
        raise UsageError(f"no run directories (folders with config.json) under {root}")
    out.mkdir(parents=True, exist_ok=True)
    grouped = group_runs(runs)
    names = [e for e in EXPERIMENT_ORDER if e in grouped] + sorted(
        e for e in grouped if e not in EXPERIMENT_ORDER)
    sections = []
    for exp in names:
        gs = grouped[exp]
        sec = Section(exp, gs, directions(exp, gs))
        slug = exp.replace("-", "_")
        sec.files.append(write_experiment_csv(out / f"{slug}.csv", gs))
        if sec.checks:
            sec.files.append(write_directions_csv(out / f"{slug}_directions.csv", exp, sec.checks))
        maker = FIGURES.get(exp)
        if maker is not None:
            sec.files += [p for p in maker(gs, out) if p is not None]
        sections.append(sec)
    readme = render_readme(root, out, runs, sections, time.perf_counter() - start)
    write_text_atomic(out / "README.md", readme)
    return out, sections


def render_readme(root: Path, out: Path, runs: list[Run], sections: list[Section],
                  seconds: float) -> str:
    done = sum(r.completed for r in runs)
    lines = [f"# swapbn report: {root}", "",
             f"{len(runs)} runs found, {done} completed. Values are means ± sample standard "
             "deviation (ddof 1) over completed seeds; `seeds` is completed/total. "
             "Saturation and skewness are measured at activation outputs, sparsity at block "
             "outputs, on the test split. The paper's accuracy stands beside runs at paper "
             "scale only; the direction tables check the paper's claims at any scale.", ""]
    for sec in sections:
        lines += [f"## {sec.experiment}", ""]
        if sec.experiment in ABOUT:
            lines += [ABOUT[sec.experiment], ""]
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
