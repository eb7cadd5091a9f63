"""An experiment's tables from the groups of its runs: one row per setting in the columns the
experiment names (`Experiment.columns`), each setting against its reference setting, the
paper's claims and the grid; markdown for the report and compare.md, aligned text for the
command line, and CSV."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from ..atomic import write_csv
from ..experiments import find_experiment
from ..experiments.registry import PAPER_COLUMNS
from ..intervals import welch
from .aggregate import MODEL_METRICS, SETTING_KEYS, Group, selected
from .directions import Check
from .published import published_value

# The measures each setting is compared with its reference setting on (final.json's names).
DIFFERENCE_METRICS = ("final_test_acc", "avg_saturation", "avg_skewness", "avg_sparsity")
DIFFERENCES_NOTE = ("Differences over seeds with their 95% Welch interval: holds (above 0), "
                    "opposite (below 0) or not resolved (contains 0).")


def paper_accuracy(g: Group) -> float | None:
    """The paper's number for this exact setting, only at paper scale (else not comparable)."""
    if g.scale != "paper":
        return None
    k, known = g.keys, find_experiment(g.experiment)
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


def layout(head: list[str], body: list[list[str]], markdown: bool = True) -> str:
    """A table as markdown, or as text in aligned columns."""
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in [head, *body])


def _setting(g: Group) -> str:
    grid = f" (lr {g.lr:g}, wd {g.wd:g})" if g.variant != g.setting and g.lr is not None \
        and g.wd is not None else ""
    return f"{g.setting}{grid}"


def _seeds(g: Group) -> str:
    return f"{len(g.completed)}/{len(g.runs)}"


def _paper(g: Group) -> str:
    paper = paper_accuracy(g)
    return "—" if paper is None else f"{paper:.2f}"


def _summary(metric: str, digits: int) -> Callable[[Group], str]:
    return lambda g: g.summary(metric).text(digits)


# Every column an experiment's table may name: its header and its cell of a group.
COLUMNS: dict[str, tuple[str, Callable[[Group], str]]] = {
    "setting": ("setting", _setting),
    "order": ("order", lambda g: g.setting),
    "seeds": ("seeds", _seeds),
    "runs": ("runs", _seeds),
    "test_acc": ("test acc (%)", _summary("test_acc", 2)),
    "paper": ("paper", _paper),
    "avg_saturation": ("avg saturation", _summary("avg_saturation", 3)),
    "max_saturation": ("max saturation", _summary("max_saturation", 3)),
    "avg_skewness": ("avg skewness", _summary("avg_skewness", 3)),
    "avg_sparsity": ("avg sparsity", _summary("avg_sparsity", 3)),
}


def summary_table(groups: list[Group], columns: Sequence[str] = PAPER_COLUMNS,
                  markdown: bool = True) -> str:
    """One row per selected setting: mean ± std over its completed seeds (the mean alone for
    one seed, "—" for none), completed/total seeds, the paper's number."""
    return layout([COLUMNS[c][0] for c in columns],
                  [[COLUMNS[c][1](g) for c in columns] for g in selected(groups)], markdown)


def differences(groups: list[Group], reference: Sequence[str],
                metrics: Sequence[str] = DIFFERENCE_METRICS) -> list[dict]:
    """Each setting minus the reference setting (the first of `reference` that ran, else the
    first setting) per metric over completed seeds: the difference, its 95% Welch interval,
    the verdict and the seeds per setting a power estimate asks for (swapbn.intervals). Rows
    as compare.json keeps them (`order`: the setting); none for an empty `reference` (an
    experiment that names none)."""
    if not reference:
        return []
    gs = selected(groups)
    by_name = {g.setting: g for g in gs}
    ref = next((by_name[r] for r in reference if r in by_name), gs[0] if gs else None)
    rows = []
    for g in gs:
        if g is ref:
            continue
        for metric in metrics:
            d = welch(g.values(metric), ref.values(metric))
            rows.append({"order": g.setting, "reference": ref.setting, "measure": metric,
                         **d.to_dict(), "interval": d.interval_text(),
                         "seeds_to_resolve": d.seeds_text()})
    return rows


def differences_table(rows: list[dict], markdown: bool = True) -> str:
    return layout(["difference", "measure", "value [95% interval]", "verdict",
                   "seeds to resolve"],
                  [[f"{r['order']} - {r['reference']}", r["measure"], r["interval"],
                    r["verdict"], r["seeds_to_resolve"]] for r in rows], markdown)


def markdown_directions(checks: list[Check]) -> str:
    """The claims with the difference over seeds, its 95% Welch interval and the verdict."""
    return layout(["paper's claim", "paper", "these runs", "difference [95% interval]",
                   "verdict", "seeds per order to resolve"],
                  [[c.claim, c.paper, c.here, c.interval or "—", c.verdict, c.seeds_to_resolve]
                   for c in checks])


def markdown_grid(groups: list[Group]) -> str | None:
    """The grid points of each setting with their mean accuracy (None when no grid was run)."""
    settings: dict[str, list[Group]] = {}
    for g in groups:
        settings.setdefault(g.setting, []).append(g)
    if all(len(v) == 1 for v in settings.values()):
        return None
    return layout(["setting", "lr", "wd", "seeds", "mean test acc (%)", "selected"],
                  [[setting, str(g.lr), str(g.wd), _seeds(g), g.summary("test_acc").text(2),
                    "**yes**" if g.selected else ""]
                   for setting, gs in settings.items() if len(gs) > 1 for g in gs])
