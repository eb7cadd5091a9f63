"""Seeds of one setting combined: means and standard deviations, per model and per layer.

Within an experiment, runs are grouped by setting (tags.setting) and variant (tags.variant:
the setting plus its grid point when a grid was run). Grid selection follows the paper: the
variant with the best mean test accuracy over seeds stands for its setting
(`swapbn.experiments.select_per_setting`). Only completed runs enter the means; the others
are listed beside them. A model-level number is a `swapbn.intervals.Summary` over seeds (None
where undefined); per-layer curves are NumPy arrays, NaN where undefined.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..experiments import find_experiment, select_per_setting
from ..experiments.recipes import above_chance, test_images
from ..intervals import Summary
from .runs import Run

MODEL_METRICS = ("test_acc", "avg_saturation", "max_saturation", "avg_skewness",
                 "avg_sparsity")
SETTING_KEYS = ("arch", "act", "order", "dataset", "depth", "bn_wd", "bn_beta_wd")
FINAL_NUMBERS = ("final_test_acc", "best_test_acc")  # final.json's own model-level numbers


def model_value(run: Run, metric: str) -> float | None:
    """One model-level number of a run (None when undefined): test_acc (the final test
    accuracy), a number of final.json, max_saturation, or one of its statistics."""
    if metric == "test_acc":
        return run.test_acc
    if metric in FINAL_NUMBERS:
        value = run.final.get(metric)
        return float(value) if isinstance(value, (int, float)) else None
    stats = run.stats
    if metric == "max_saturation":
        sats = [layer.get("saturation") for layer in stats.get("layers", [])]
        sats = [s for s in sats if s is not None]
        return max(sats) if sats else None
    value = stats.get(metric)
    return float(value) if isinstance(value, (int, float)) else None


@dataclass
class Group:
    """The runs of one variant (the seeds of one setting at one grid point)."""

    experiment: str
    setting: str
    variant: str
    runs: list[Run]
    selected: bool = True  # False for grid points that lost the selection
    keys: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        first = self.runs[0]
        self.keys = {k: first.key(k) for k in SETTING_KEYS}

    @property
    def completed(self) -> list[Run]:
        return [r for r in self.runs if r.completed]

    @property
    def scale(self) -> str | None:
        return self.runs[0].scale

    @property
    def stand_in(self) -> bool:
        """A labelled stand-in (experiments/scales.py): shown beside the paper's model, never
        part of a claim."""
        return bool(self.runs[0].tags.get("stand_in"))

    @property
    def lr(self):
        return self.runs[0].config.get("lr")

    @property
    def wd(self):
        return self.runs[0].config.get("wd")

    @property
    def trained(self) -> bool:
        """Whether some completed seed's test accuracy beats chance (experiments/recipes.py);
        a variant without completed runs is not judged (True)."""
        done = self.completed
        if not done:
            return True
        config = done[0].config
        classes = int(config.get("num_classes") or 10)
        return any(above_chance(r.test_acc, test_images(config), classes) for r in done)

    def values(self, metric: str) -> list[float | None]:
        """The metric of each completed seed: the sample its mean and intervals are built on."""
        return [model_value(r, metric) for r in self.completed]

    def summary(self, metric: str) -> Summary:
        return Summary.of(self.values(metric))

    def layer_names(self) -> list[str]:
        for r in self.completed:
            layers = r.stats.get("layers")
            if layers:
                return [str(layer.get("name", i)) for i, layer in enumerate(layers)]
        return []

    def layer_mean(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """Per-layer mean and std over completed seeds (NaN where undefined)."""
        rows = []
        n_layers = len(self.layer_names())
        for r in self.completed:
            layers = r.stats.get("layers") or []
            if len(layers) != n_layers:
                continue
            rows.append([np.nan if layer.get(metric) is None else float(layer[metric])
                         for layer in layers])
        if not rows:
            return np.full(n_layers, np.nan), np.full(n_layers, np.nan)
        a = np.array(rows, float)
        with warnings.catch_warnings():  # layers undefined in every seed stay NaN, silently
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(a, axis=0)
            std = np.nanstd(a, axis=0, ddof=1) if len(rows) > 1 else np.full(n_layers, np.nan)
        return mean, std


def _select(runs: list[Run]) -> set[str]:
    """The variants that stand for their settings (paper protocol: best mean accuracy)."""
    return {c.variant for c in select_per_setting([r.record() for r in runs]).values()}


def group_runs(runs: list[Run]) -> dict[str, list[Group]]:
    """{experiment: [Group, ...]} in natural order of settings, with grid selection applied."""
    by_exp: dict[str, dict[str, list[Run]]] = {}
    for r in runs:
        by_exp.setdefault(r.experiment, {}).setdefault(r.variant, []).append(r)
    out = {}
    for exp, variants in by_exp.items():
        chosen = _select([r for rs in variants.values() for r in rs])
        groups = []
        for variant, rs in variants.items():
            rs = sorted(rs, key=lambda r: (r.seed is None, r.seed or 0, str(r.path)))
            groups.append(Group(exp, rs[0].setting, variant, rs, selected=variant in chosen))
        known = find_experiment(exp)
        swept = known.swept if known else None
        out[exp] = sorted(groups, key=lambda g: (
            g.keys.get(swept) or 0 if swept else 0, _natural(g.setting), _natural(g.variant)))
    return out


def _natural(text: str) -> list:
    """Sort key that puts vgg16_8 before vgg16_10 and 1e-05 by its digits."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text)]


def selected(groups: list[Group]) -> list[Group]:
    return [g for g in groups if g.selected]
