"""Report figures that relate runs to each other: accuracy against a metric, learning curves,
gradients. Each function takes the groups of one experiment and returns the files it wrote
([] when the runs needed are absent), so a report draws whatever its runs support.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .aggregate import Group, model_value, selected
from .files import save_figure

ORDER_STYLE = {"convention": ("C0", "--"), "nwdbn": ("C2", "-."), "swap": ("C3", "-"),
               "nobn": ("C1", ":")}


def _label(g: Group) -> str:
    return g.setting


def _order_groups(groups: list[Group]) -> list[Group]:
    rank = {o: i for i, o in enumerate(ORDER_STYLE)}
    return sorted(selected(groups), key=lambda g: rank.get(g.keys.get("order"), 99))


def _defined(v) -> bool:
    return v is not None and math.isfinite(v)


def accuracy_against(groups: list[Group], metric: str, param: str, out: Path, title: str,
                     xlabel: str) -> Path | None:
    """Test accuracy against a model metric: every seed as a dot, setting means with error bars,
    coloured by the swept parameter (Figures 5 and 7)."""
    gs = [g for g in selected(groups) if g.completed]
    points = [(g, [(model_value(r, metric), r.test_acc) for r in g.completed]) for g in gs]
    points = [(g, [(x, y) for x, y in p if _defined(x) and _defined(y)]) for g, p in points]
    points = [(g, p) for g, p in points if p]
    if not points:
        return None
    fig = Figure(figsize=(7.5, 5.5))
    ax = fig.subplots()
    params = [g.keys.get(param) for g, _ in points]
    for i, (g, p) in enumerate(points):
        color = f"C{i % 10}"
        xs, ys = zip(*p, strict=True)
        ax.scatter(xs, ys, color=color, alpha=0.45, s=18)
        sx, sy = g.summary(metric), g.summary("test_acc")
        ax.errorbar(sx.mean, sy.mean, xerr=0 if math.isnan(sx.std) else sx.std,
                    yerr=0 if math.isnan(sy.std) else sy.std, fmt="o", color=color,
                    markersize=7, capsize=3, label=f"{param} = {params[i]:g}"
                    if isinstance(params[i], (int, float)) else _label(g))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    return save_figure(fig, out)


def against_parameter(groups: list[Group], param: str, metrics: tuple[str, str], out: Path,
                      title: str, xlabel: str, labels: tuple[str, str]) -> Path | None:
    """Two metrics (left and right axis) against a swept parameter, log scale with 0 placed
    left of the smallest positive value (Figure 18)."""
    gs = sorted((g for g in selected(groups) if g.completed and _defined(g.keys.get(param))),
                key=lambda g: g.keys[param])
    if len(gs) < 2:
        return None
    xs = np.array([g.keys[param] for g in gs], float)
    positive = xs[xs > 0]
    zero_at = positive.min() / 10 if positive.size else 1.0
    xs_plot = np.where(xs > 0, xs, zero_at)
    fig = Figure(figsize=(7.5, 5))
    ax = fig.subplots()
    twin = ax.twinx()
    for axis, metric, label, color in ((ax, metrics[0], labels[0], "C0"),
                                       (twin, metrics[1], labels[1], "C3")):
        s = [g.summary(metric) for g in gs]
        axis.errorbar(xs_plot, [v.mean for v in s], yerr=[0 if math.isnan(v.std) else v.std
                                                          for v in s],
                      color=color, marker="o", capsize=3, label=label)
        axis.set_ylabel(label, color=color)
    ax.set_xscale("log")
    ticks = list(xs_plot)
    ax.set_xticks(ticks, [("0" if x == 0 else f"{x:g}") for x in xs], rotation=45)
    ax.minorticks_off()
    fig.legend(loc="upper right", fontsize=8, bbox_to_anchor=(0.88, 0.88))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return save_figure(fig, out)


def _epoch_series(g: Group, field: Callable[[dict], float | None]) -> tuple[np.ndarray, ...]:
    """Mean and std over completed seeds of one per-epoch quantity, on the shared epochs."""
    per_seed = []
    for r in g.completed:
        pts = {int(e["epoch"]): field(e) for e in r.epochs if "epoch" in e}
        per_seed.append({k: v for k, v in pts.items() if _defined(v)})
    if not per_seed:
        return np.array([]), np.array([]), np.array([])
    epochs = sorted(set.intersection(*(set(p) for p in per_seed)))
    a = np.array([[p[e] for e in epochs] for p in per_seed], float).reshape(len(per_seed), -1)
    std = a.std(axis=0, ddof=1) if len(per_seed) > 1 else np.zeros(len(epochs))
    return np.array(epochs), a.mean(axis=0), std


def learning_curves(groups: list[Group], split: str, out: Path, title: str) -> Path | None:
    """Loss and accuracy per epoch of one split for every order (Figures 16 and 17)."""
    gs = [g for g in _order_groups(groups) if g.completed and any(r.epochs for r in g.completed)]
    if not gs:
        return None
    fig = Figure(figsize=(12, 4.8))
    ax_loss, ax_acc = fig.subplots(1, 2)
    drawn = False
    for g in gs:
        color, ls = ORDER_STYLE.get(g.keys.get("order"), ("k", "-"))
        for ax, key in ((ax_loss, f"{split}_loss"), (ax_acc, f"{split}_acc")):
            epochs, mean, std = _epoch_series(g, lambda e, key=key: e.get(key))
            if not len(epochs):
                continue
            drawn = True
            ax.plot(epochs, mean, color=color, ls=ls, marker="o", ms=3, label=_label(g))
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.15)
    if not drawn:
        return None
    ax_loss.set_ylabel(f"{split} loss")
    ax_acc.set_ylabel(f"{split} accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, out)


def epoch_stats(groups: list[Group], out: Path, title: str) -> Path | None:
    """Average saturation, skewness and sparsity per epoch (track_stats epochs)."""
    metrics = ("avg_saturation", "avg_skewness", "avg_sparsity")
    gs = [g for g in _order_groups(groups) if g.completed]
    series = {}
    for g in gs:
        for m in metrics:
            epochs, mean, std = _epoch_series(
                g, lambda e, m=m: (e.get("stats") or {}).get(m))
            if len(epochs):
                series[(g.variant, m)] = (g, epochs, mean, std)
    if not series:
        return None
    fig = Figure(figsize=(15, 4.5))
    axes = fig.subplots(1, len(metrics))
    for ax, m in zip(axes, metrics, strict=True):
        for (_, metric), (g, epochs, mean, std) in series.items():
            if metric != m:
                continue
            color, ls = ORDER_STYLE.get(g.keys.get("order"), ("k", "-"))
            ax.plot(epochs, mean, color=color, ls=ls, marker="o", ms=3, label=_label(g))
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.15)
        ax.set_xlabel("epoch")
        ax.set_ylabel(m.replace("_", " "))
        ax.set_title(m.replace("avg_", "average ").replace("_", " "))
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, out)


GRADIENT_FIELDS = (("input_abs_mean", "mean |weight-layer input|"),
                   ("weight_grad_abs_mean", "mean |weight gradient|"),
                   ("act_input_grad_abs_mean", "mean |gradient at activation input|"))


def gradients(groups: list[Group], out: Path, title: str) -> Path | None:
    """Figure 15: per layer, mean |input| of the weight layer, mean |grad| of its weight and at
    the activation input, averaged over seeds (log scale)."""
    rows = []
    for g in _order_groups(groups):
        per_seed = [r.final.get("gradients") for r in g.completed]
        per_seed = [p for p in per_seed if p and p.get("layers")]
        if per_seed:
            rows.append((g, per_seed))
    if not rows:
        return None
    fig = Figure(figsize=(16, 4.8))
    axes = fig.subplots(1, len(GRADIENT_FIELDS), gridspec_kw={"wspace": 0.4})
    for ax, (key, label) in zip(axes, GRADIENT_FIELDS, strict=True):
        for g, per_seed in rows:
            n = min(len(p["layers"]) for p in per_seed)
            a = np.array([[np.nan if layer.get(key) is None else layer[key]
                           for layer in p["layers"][:n]] for p in per_seed], float)
            color, ls = ORDER_STYLE.get(g.keys.get("order"), ("k", "-"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ax.plot(np.arange(1, n + 1), np.nanmean(a, axis=0), color=color, ls=ls,
                        marker="o", ms=4, label=_label(g))
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, out)
