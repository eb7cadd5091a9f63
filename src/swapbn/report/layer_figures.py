"""Per-layer metrics compared across settings: by data set (Figure 9), convention against
no BN (Figure 10), by activation (Figure 13, right) and by depth (Figure 14).

Each line is one setting's per-layer mean over its completed seeds, with a band of one
standard deviation when there are several seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .aggregate import Group, selected
from .files import save_figure

METRIC_LABEL = {"saturation": "layer saturation", "skewness": "layer skewness (mean |k|)",
                "sparsity": "layer sparsity"}


def layer_lines(ax: Axes, groups: list[Group], metric: str,
                style: Callable[[Group, int], dict]) -> bool:
    """Draw one line per group; returns whether anything was drawn."""
    drawn = False
    for i, g in enumerate(groups):
        mean, std = g.layer_mean(metric)
        if not np.isfinite(mean).any():
            continue
        x = np.arange(1, len(mean) + 1)
        kw = style(g, i)
        ax.plot(x, mean, marker="o", ms=3, **kw)
        if np.isfinite(std).any():
            ax.fill_between(x, mean - std, mean + std, color=kw.get("color"), alpha=0.12)
        drawn = True
    ax.set_xlabel("layer (block index)")
    ax.set_ylabel(METRIC_LABEL.get(metric, metric))
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize=8)
    return drawn


def seed_mean_record(g: Group, metrics: tuple[str, ...]) -> dict:
    """A measure record whose layer values are the means over the group's completed seeds."""
    names = g.layer_names()
    means = {m: g.layer_mean(m)[0] for m in metrics}
    return {"layers": [{"name": n, **{m: (None if not np.isfinite(means[m][i])
                                          else float(means[m][i])) for m in metrics}}
                       for i, n in enumerate(names)]}


def by_order(groups: list[Group], metrics: tuple[str, ...], out: Path, title: str,
             orders: tuple[str, ...] | None = None) -> Path | None:
    """One panel per metric, one line per order, drawn by `layer_plots.plot_layer_metric`
    from the seed means, with a band of one standard deviation (Figures 3, 4 and 10)."""
    from .layer_plots import plot_layer_metric

    gs = [g for g in selected(groups) if g.completed and g.layer_names()
          and (orders is None or g.keys.get("order") in orders)]
    gs = [g for g in gs if any(np.isfinite(g.layer_mean(m)[0]).any() for m in metrics)]
    if not gs:
        return None
    fig = Figure(figsize=(6.5 * len(metrics), 4.8))
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, m in zip(axes, metrics, strict=True):
        plot_layer_metric({g.setting: seed_mean_record(g, (m,)) for g in gs}, m, out, ax=ax,
                          title=METRIC_LABEL.get(m, m))
        for line, g in zip(ax.get_lines(), gs, strict=True):
            mean, std = g.layer_mean(m)
            if np.isfinite(std).any():
                x = np.arange(1, len(mean) + 1)
                ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    fig.suptitle(title)
    return save_figure(fig, out)


def by_key(groups: list[Group], key: str, metric: str, out: Path, title: str,
           panel_key: tuple[str, ...] = (), orders: tuple[str, ...] = ("swap",),
           dashed_convention: bool = False) -> Path | None:
    """One line per value of `key` (data set, activation, depth), one panel per `panel_key`
    combination; with `dashed_convention` the convention model is drawn dashed in the same
    colour as its swap model (Figure 13, right)."""
    gs = [g for g in selected(groups) if g.completed and g.keys.get("order") in orders]
    if not gs:
        return None
    panels: dict[tuple, list[Group]] = {}
    for g in gs:
        panels.setdefault(tuple(g.keys.get(k) for k in panel_key), []).append(g)
    values = sorted({g.keys.get(key) for g in gs}, key=lambda v: (str(type(v)), v))
    cmap = {v: f"C{i % 10}" if len(values) <= 10 else _viridis(i / max(len(values) - 1, 1))
            for i, v in enumerate(values)}

    def style(g: Group, i: int) -> dict:
        order = g.keys.get("order")
        label = f"{key} {g.keys.get(key)}" + (f" ({order})" if dashed_convention else "")
        return {"color": cmap[g.keys.get(key)],
                "ls": "--" if dashed_convention and order == "convention" else "-",
                "label": label}

    fig = Figure(figsize=(6.5 * len(panels), 4.8))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    drawn = []
    for ax, (pk, members) in zip(axes, panels.items(), strict=True):
        members = sorted(members, key=lambda g: (values.index(g.keys.get(key)),
                                                 str(g.keys.get("order"))))
        drawn.append(layer_lines(ax, members, metric, style))
        if panel_key:
            ax.set_title(", ".join(f"{k} {v}" for k, v in zip(panel_key, pk, strict=True)))
    if not any(drawn):
        return None
    fig.suptitle(title)
    return save_figure(fig, out)


def _viridis(t: float) -> tuple:
    from matplotlib import colormaps

    return colormaps["viridis"](t)
