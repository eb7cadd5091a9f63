"""Per-experiment tables: one row per setting, mean and standard deviation over seeds."""

from __future__ import annotations

import math
from pathlib import Path

from ..atomic import write_csv
from ..experiments import EXPERIMENTS
from .aggregate import MODEL_METRICS, SETTING_KEYS, Group, selected
from .directions import Check
from .published import published_value


def paper_accuracy(g: Group) -> float | None:
    """The paper's number for this exact setting, only at paper scale (else not comparable)."""
    if g.scale != "paper":
        return None
    k, known = g.keys, EXPERIMENTS.get(g.experiment)
    return published_value("test_acc", known.published_in if known else None,
                           dataset=k.get("dataset"), arch=k.get("arch"), act=k.get("act"),
                           order=k.get("order"))


def csv_header() -> list[str]:
    cols = ["experiment", "setting", "variant", "scale", *SETTING_KEYS, "lr", "wd",
            "seeds_completed", "seeds_total"]
    for m in MODEL_METRICS:
        cols += [f"{m}_mean", f"{m}_std"]
        if m == "test_acc":
            cols.append("paper_test_acc")
    return cols


def _num(v: float | None) -> float | str:
    return "" if v is None or not math.isfinite(v) else round(v, 6)


def csv_row(g: Group) -> list:
    row = [g.experiment, g.setting, g.variant, g.scale or "",
           *[g.keys.get(k) for k in SETTING_KEYS], g.lr, g.wd, len(g.completed), len(g.runs)]
    for m in MODEL_METRICS:
        s = g.summary(m)
        row += [_num(s.mean), _num(s.std)]
        if m == "test_acc":
            row.append(_num(paper_accuracy(g)))
    return row


def write_experiment_csv(path: Path, groups: list[Group]) -> Path:
    return write_csv(path, csv_header(), [csv_row(g) for g in selected(groups)])


def write_directions_csv(path: Path, experiment: str, checks: list[Check]) -> Path:
    rows = []
    for c in checks:
        d = c.difference
        rows.append([experiment, c.claim, c.paper, c.here, c.verdict,
                     *([""] * 3 if d is None else [_num(d.diff), _num(d.low), _num(d.high)]),
                     "" if d is None or d.seeds_needed is None else d.seeds_needed])
    return write_csv(path, ["experiment", "claim", "paper", "here", "verdict", "difference",
                            "ci_low", "ci_high", "seeds_to_resolve"], rows)


def _pm(g: Group, metric: str, digits: int) -> str:
    return g.summary(metric).text(digits)


def markdown_table(groups: list[Group]) -> str:
    rows = ["| setting | seeds | test acc (%) | paper | avg saturation | max saturation "
            "| avg skewness | avg sparsity |",
            "|---|---|---|---|---|---|---|---|"]
    for g in selected(groups):
        paper = paper_accuracy(g)
        grid = f" (lr {g.lr:g}, wd {g.wd:g})" if g.variant != g.setting and g.lr is not None \
            and g.wd is not None else ""
        rows.append(f"| {g.setting}{grid} | {len(g.completed)}/{len(g.runs)} "
                    f"| {_pm(g, 'test_acc', 2)} | {'—' if paper is None else f'{paper:.2f}'} "
                    f"| {_pm(g, 'avg_saturation', 3)} | {_pm(g, 'max_saturation', 3)} "
                    f"| {_pm(g, 'avg_skewness', 3)} | {_pm(g, 'avg_sparsity', 3)} |")
    return "\n".join(rows)


def markdown_directions(checks: list[Check]) -> str:
    """The claims with the difference over seeds, its 95% Welch interval and the verdict."""
    rows = ["| paper's claim | paper | these runs | difference [95% interval] | verdict "
            "| seeds per order to resolve |", "|---|---|---|---|---|---|"]
    rows += [f"| {c.claim} | {c.paper} | {c.here} | {c.interval or '—'} | {c.verdict} "
             f"| {c.seeds_to_resolve} |" for c in checks]
    return "\n".join(rows)


def markdown_grid(groups: list[Group]) -> str | None:
    """The grid points of each setting with their mean accuracy (None when no grid was run)."""
    settings = {}
    for g in groups:
        settings.setdefault(g.setting, []).append(g)
    if all(len(v) == 1 for v in settings.values()):
        return None
    rows = ["| setting | lr | wd | seeds | mean test acc (%) | selected |",
            "|---|---|---|---|---|---|"]
    for setting, gs in settings.items():
        if len(gs) < 2:
            continue
        for g in gs:
            rows.append(f"| {setting} | {g.lr} | {g.wd} | {len(g.completed)}/{len(g.runs)} "
                        f"| {_pm(g, 'test_acc', 2)} | {'**yes**' if g.selected else ''} |")
    return "\n".join(rows)
