"""Every figure swapbn draws: the report's paper figures, `swapbn measure --figures` and the
drawing that `swapbn.theory` shares (one label table, one `save`).

Drawing uses matplotlib's object-oriented API only (`Figure`, no pyplot, no backend switch), so
importing this module changes no global state. A paper figure is one function registered in
`FIGURES` under its file name; an experiment lists the names of its figures
(`Experiment.figures`), and each function returns the file it wrote, or None when the runs it
needs are absent, so a report draws whatever its runs support.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..atomic import atomic_write
from ..experiments import ADHOC
from ..experiments.registry import COMPARE
from ..metrics.measure import FIRST_LAYER, layer_numbers
from ..metrics.samples import ChannelSamples
from .aggregate import Group, model_value, selected
from .directions import BOUNDED

LABELS = {
    "saturation": "layer saturation",
    "skewness": "layer skewness (mean |k|)",
    "skewness_signed": "signed layer skewness",
    "sparsity": "layer sparsity (block output)",
    "empirical_saturation": "empirical saturation (block output)",
    "act_empirical_saturation": "empirical saturation (activation output)",
    "avg_saturation": "average saturation",
    "avg_skewness": "average layer skewness",
    "avg_sparsity": "average sparsity",
    "test_acc": "test accuracy (%)",
    "input_abs_mean": "mean |weight-layer input|",
    "weight_grad_abs_mean": "mean |weight gradient|",
    "act_input_grad_abs_mean": "mean |gradient at activation input|",
}
LAYER_METRICS = ("saturation", "skewness", "skewness_signed", "sparsity", "empirical_saturation",
                 "act_empirical_saturation")
FRACTIONS = ("saturation", "sparsity", "empirical_saturation", "act_empirical_saturation")
ORDER_STYLE = {"convention": ("C0", "--"), "nwdbn": ("C2", "-."), "swap": ("C3", "-"),
               "nobn": ("C1", ":")}


def save(fig: Figure, path: str | Path) -> Path:
    """Write a figure as PNG atomically (temporary file beside `path`, then rename)."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120,
                                                      bbox_inches="tight"))


def _defined(v) -> bool:
    return v is not None and math.isfinite(v)


def _std(v: float | None) -> float:
    return 0 if v is None else v


def _nan(v: float | None) -> float:
    return math.nan if v is None else v


def _order_groups(groups: list[Group]) -> list[Group]:
    rank = {o: i for i, o in enumerate(ORDER_STYLE)}
    return sorted(selected(groups), key=lambda g: rank.get(g.keys.get("order"), 99))


def _order_style(g: Group) -> dict:
    color, ls = ORDER_STYLE.get(g.keys.get("order"), ("k", "-"))
    return {"color": color, "ls": ls, "label": g.setting}


def _band(ax: Axes, x, mean, std, style: dict, **plot) -> None:
    """A line with a band of one standard deviation where the std is defined."""
    (line,) = ax.plot(x, mean, marker="o", **{"ms": 3, **plot, **style})
    if std is not None and np.isfinite(std).any():
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15)


# --- per-layer metrics -------------------------------------------------------------------------

def layer_values(record: Mapping, metric: str) -> np.ndarray:
    """One value per layer of a measure record (`Measurement.to_dict()`), NaN where undefined."""
    return np.array([math.nan if r.get(metric) is None else float(r[metric])
                     for r in record["layers"]], dtype=float)


def layer_kinds(record: Mapping) -> list[str | None]:
    """The kind of each layer of a measure record: "conv", "fc" or None (unknown)."""
    return [r.get("kind") for r in record.get("layers") or []]


def mark_kinds(ax: Axes, kinds: Sequence[str | None]) -> str:
    """Shade the fully connected layers on a 1-based layer axis; returns the axis label that
    says which layers are convolutional and which fully connected."""
    conv = [i for i, k in enumerate(kinds, FIRST_LAYER) if k == "conv"]
    fc = [i for i, k in enumerate(kinds, FIRST_LAYER) if k == "fc"]
    for i in fc:
        ax.axvspan(i - 0.5, i + 0.5, color="0.5", alpha=0.12, lw=0)
    parts = [f"{what} {idx[0]}-{idx[-1]}" if len(idx) > 1 else f"{what} {idx[0]}"
             for what, idx in (("conv", conv), ("fully connected (shaded)", fc)) if idx]
    return f"layer ({', '.join(parts)})" if parts else "layer"


# What an empty panel of a metric says: when every value is undefined, why.
UNDEFINED = {"saturation": "saturation is undefined for an unbounded activation (ReLU):\n"
                           "it has no asymptote to saturate towards"}


def layer_panel(ax: Axes, metric: str, lines: Iterable[tuple[np.ndarray, np.ndarray | None, dict]],
                title: str | None = None, kinds: Sequence[str | None] = ()) -> bool:
    """One line per (per-layer mean, std or None, plot style) against the layer number
    (from 1), fully connected layers shaded when `kinds` are known; returns whether anything
    was drawn. A panel with nothing to draw keeps the layer axis and says why it is empty
    (saturation has no value for an unbounded activation such as ReLU)."""
    lines = list(lines)
    drawn = False
    for mean, std, style in lines:
        if np.isfinite(mean).any():
            _band(ax, np.array(layer_numbers(len(mean))), mean, std, style, ms=4)
            drawn = True
    n = max([len(kinds), *(len(mean) for mean, _, _ in lines)])
    if n:
        ax.set_xlim(FIRST_LAYER - 0.5, FIRST_LAYER + n - 0.5)
    if not drawn:
        ax.text(0.5, 0.5, UNDEFINED.get(metric, "no values"), transform=ax.transAxes,
                ha="center", va="center", wrap=True, color="0.35")
    ax.set_xlabel(mark_kinds(ax, kinds))
    ax.set_ylabel(LABELS[metric])
    ax.set_title(title or LABELS[metric])
    if metric in FRACTIONS:
        ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize=8)
    return drawn


def layer_metric_figures(records: Mapping[str, Mapping], directory: str | Path,
                         metrics: Sequence[str] = ("saturation", "skewness", "sparsity"),
                         *, prefix: str = "layer_") -> list[Path]:
    """One figure per metric, `directory`/<prefix><metric>.png, with one line per labelled
    measure record (`swapbn measure --figures`)."""
    paths = []
    for metric in metrics:
        if metric not in LAYER_METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(LAYER_METRICS)}")
        fig = Figure(figsize=(6.4, 3.6))
        layer_panel(fig.subplots(), metric, [(layer_values(rec, metric), None, {"label": label})
                                             for label, rec in records.items()],
                    kinds=layer_kinds(next(iter(records.values()))) if records else ())
        paths.append(save(fig, Path(directory) / f"{prefix}{metric}.png"))
    return paths


def by_order(groups: list[Group], metrics: tuple[str, ...], path: Path, title: str) -> Path | None:
    """One panel per metric, one line per order: the per-layer mean over seeds with a band of
    one standard deviation (Figures 3, 4 and 10)."""
    gs = [g for g in _order_groups(groups) if g.completed and g.layer_names()]
    gs = [g for g in gs if any(np.isfinite(g.layer_mean(m)[0]).any() for m in metrics)]
    if not gs:
        return None
    kinds = _group_kinds(gs[0])
    fig = Figure(figsize=(6.5 * len(metrics), 4.8))
    for ax, m in zip(np.atleast_1d(fig.subplots(1, len(metrics))), metrics, strict=True):
        layer_panel(ax, m, [(*g.layer_mean(m), _order_style(g)) for g in gs], kinds=kinds)
    fig.suptitle(title)
    return save(fig, path)


def by_variant(groups: list[Group], metrics: tuple[str, ...], path: Path,
               title: str) -> Path | None:
    """One panel per metric, one line per variant (its own colour; convention dashed): for
    experiments whose variants differ in activation as well as order (resnet, shifted)."""
    gs = [g for g in _order_groups(groups) if g.completed and g.layer_names()]
    if not gs:
        return None
    kinds = _group_kinds(gs[0])
    fig = Figure(figsize=(6.5 * len(metrics), 4.8))
    for ax, m in zip(np.atleast_1d(fig.subplots(1, len(metrics))), metrics, strict=True):
        layer_panel(ax, m, [(*g.layer_mean(m), {
            "color": f"C{i % 10}", "label": g.setting,
            "ls": "--" if g.keys.get("order") == "convention" else "-"})
            for i, g in enumerate(gs)], kinds=kinds)
    fig.suptitle(title)
    return save(fig, path)


def _group_kinds(g: Group) -> list[str | None]:
    return next((layer_kinds(r.stats) for r in g.completed if r.stats.get("layers")), [])


def by_key(groups: list[Group], key: str, metric: str, path: Path, title: str,
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
    colors = {v: f"C{i % 10}" if len(values) <= 10 else
              colormaps["viridis"](i / max(len(values) - 1, 1)) for i, v in enumerate(values)}

    def style(g: Group) -> dict:
        order = g.keys.get("order")
        return {"color": colors[g.keys.get(key)],
                "ls": "--" if dashed_convention and order == "convention" else "-",
                "label": f"{key} {g.keys.get(key)}" + (f" ({order})" if dashed_convention else "")}

    fig = Figure(figsize=(6.5 * len(panels), 4.8))
    drawn = []
    for ax, (pk, members) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels.items(),
                                 strict=True):
        members = sorted(members, key=lambda g: (values.index(g.keys.get(key)),
                                                 str(g.keys.get("order"))))
        drawn.append(layer_panel(ax, metric, [(*g.layer_mean(metric), style(g)) for g in members],
                                 ", ".join(f"{k} {v}" for k, v in zip(panel_key, pk, strict=True))
                                 or None, kinds=_group_kinds(members[0])))
    if not any(drawn):
        return None
    fig.suptitle(title)
    return save(fig, path)


# --- channel distributions ---------------------------------------------------------------------

def channel_distributions(samples: Mapping[str, ChannelSamples], path: str | Path, *,
                          layer: str | None = None, site: str = "act", bins: int = 60,
                          title: str | None = None) -> Path:
    """Histograms of one layer: the whole layer, then each sampled channel (Figures 1 and 8),
    one row per label. `layer` defaults to the last sampled layer; `site` is "act"
    (activation output) or "block" (block output)."""
    if not samples:
        raise ValueError("no channel samples to plot")
    rows = []
    for label, s in samples.items():
        name = layer or s.layers[-1]
        if f"{site}/{name}" not in s.arrays:
            raise ValueError(f"{label}: no {site} samples of layer {name!r}; "
                             f"layers: {', '.join(s.layers)}")
        rows.append((label, name, s.channels(name), s.values(site, name),
                     s.layer_values(site, name)))
    cols = 1 + max(len(r[2]) for r in rows)
    fig = Figure(figsize=(2.2 * cols, 2.0 * len(rows)))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for i, (label, name, chans, values, whole) in enumerate(rows):
        lo = float(min(whole.min(), values.min())) if values.size else float(whole.min())
        hi = float(max(whole.max(), values.max())) if values.size else float(whole.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        axes[i, 0].hist(whole, bins=edges, color="0.4")
        axes[i, 0].set_title(f"{label}: layer {name}, all channels", fontsize=8)
        axes[i, 0].set_ylabel("count", fontsize=7)
        for j, ax in enumerate(axes[i]):
            ax.tick_params(labelsize=6)
            if 0 < j <= len(chans):
                ax.hist(values[j - 1], bins=edges, color=f"C{i}")
                ax.set_title(f"{label}: channel {int(chans[j - 1])}", fontsize=8)
            elif j:
                ax.axis("off")
            if i == len(rows) - 1 and (j == 0 or j <= len(chans)):
                ax.set_xlabel(f"{'activation' if site == 'act' else 'block'} output value",
                              fontsize=7)
    fig.suptitle(title or f"{'Activation' if site == 'act' else 'Block'} output distributions "
                 "(layer, then channels)", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def _order_channels(groups: list[Group], index: int, site: str, path: Path,
                    title: str) -> Path | None:
    """Channel distributions of layer `index` (the last sampled layer of smaller models),
    one row per order from its first completed seed with channel samples."""
    samples = {}
    for g in _order_groups(groups):
        found = next((c for c in (run.channels() for run in g.completed) if c is not None),
                     None)
        if found is not None:
            samples[g.setting] = found
    layers = next(iter(samples.values())).layers if samples else []
    if not layers:
        return None
    layer = layers[min(index, len(layers) - 1)]
    return channel_distributions(samples, path, layer=layer, site=site,
                                 title=f"{title} ({layer})")


# --- across runs -------------------------------------------------------------------------------

def accuracy_against(groups: list[Group], metric: str, param: str, path: Path,
                     title: str) -> Path | None:
    """Test accuracy against a model metric: every seed as a dot, setting means with error bars,
    coloured by the swept parameter (Figures 5 and 7)."""
    points = [(g, [(x, y) for x, y in ((model_value(r, metric), r.test_acc) for r in g.completed)
                   if _defined(x) and _defined(y)]) for g in selected(groups)]
    points = [(g, p) for g, p in points if p]
    if not points:
        return None
    fig = Figure(figsize=(7.5, 5.5))
    ax = fig.subplots()
    for i, (g, p) in enumerate(points):
        xs, ys = zip(*p, strict=True)
        ax.scatter(xs, ys, color=f"C{i % 10}", alpha=0.45, s=18)
        sx, sy, value = g.summary(metric), g.summary("test_acc"), g.keys.get(param)
        ax.errorbar(sx.mean, sy.mean, xerr=_std(sx.std), yerr=_std(sy.std), fmt="o",
                    color=f"C{i % 10}", markersize=7, capsize=3,
                    label=f"{param} = {value:g}" if isinstance(value, (int, float)) else g.setting)
    ax.set_xlabel(LABELS[metric])
    ax.set_ylabel(LABELS["test_acc"])
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    return save(fig, path)


def against_parameter(groups: list[Group], param: str, metrics: tuple[str, str], path: Path,
                      title: str, xlabel: str) -> Path | None:
    """Two metrics (left and right axis) against a swept parameter, log scale with 0 placed
    left of the smallest positive value (Figure 18)."""
    gs = sorted((g for g in selected(groups) if g.completed and _defined(g.keys.get(param))),
                key=lambda g: g.keys[param])
    if len(gs) < 2:
        return None
    xs = np.array([g.keys[param] for g in gs], float)
    positive = xs[xs > 0]
    xs_plot = np.where(xs > 0, xs, positive.min() / 10 if positive.size else 1.0)
    fig = Figure(figsize=(7.5, 5))
    ax = fig.subplots()
    for axis, metric, color in ((ax, metrics[0], "C0"), (ax.twinx(), metrics[1], "C3")):
        s = [g.summary(metric) for g in gs]
        axis.errorbar(xs_plot, [_nan(v.mean) for v in s], yerr=[_std(v.std) for v in s],
                      color=color, marker="o", capsize=3, label=LABELS[metric])
        axis.set_ylabel(LABELS[metric], color=color)
    ax.set_xscale("log")
    ax.set_xticks(list(xs_plot), [("0" if x == 0 else f"{x:g}") for x in xs], rotation=45)
    ax.minorticks_off()
    fig.legend(loc="upper right", fontsize=8, bbox_to_anchor=(0.88, 0.88))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return save(fig, path)


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


def per_epoch(groups: list[Group], fields: Sequence[tuple[str, Callable[[dict], float | None]]],
              path: Path, title: str, width: float) -> Path | None:
    """One panel per (label, per-epoch field), one line per order, mean over seeds with a band
    of one standard deviation (Figures 16 and 17, statistics per epoch)."""
    gs = [g for g in _order_groups(groups) if g.completed]
    fig = Figure(figsize=(width * len(fields), 4.8))
    drawn = False
    for ax, (label, field) in zip(np.atleast_1d(fig.subplots(1, len(fields))), fields,
                                  strict=True):
        for g in gs:
            epochs, mean, std = _epoch_series(g, field)
            if len(epochs):
                _band(ax, epochs, mean, std, _order_style(g))
                drawn = True
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return save(fig, path) if drawn else None


def gradients(groups: list[Group], path: Path, title: str) -> Path | None:
    """Per layer, mean |input| of the weight layer, mean |grad| of its weight and at the
    activation input, averaged over seeds (log scale; Figure 15)."""
    rows = []
    for g in _order_groups(groups):
        per_seed = [p for p in (r.final.get("gradients") for r in g.completed)
                    if p and p.get("layers")]
        if per_seed:
            rows.append((g, per_seed))
    if not rows:
        return None
    keys = ("input_abs_mean", "weight_grad_abs_mean", "act_input_grad_abs_mean")
    fig = Figure(figsize=(16, 4.8))
    for ax, key in zip(fig.subplots(1, len(keys), gridspec_kw={"wspace": 0.4}), keys,
                       strict=True):
        for g, per_seed in rows:
            n = min(len(p["layers"]) for p in per_seed)
            a = np.array([[np.nan if layer.get(key) is None else layer[key]
                           for layer in p["layers"][:n]] for p in per_seed], float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ax.plot(np.array(layer_numbers(n)), np.nanmean(a, axis=0), marker="o", ms=4,
                        **_order_style(g))
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_ylabel(LABELS[key])
        ax.set_title(LABELS[key])
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return save(fig, path)


# --- the paper's figures, by file name ---------------------------------------------------------

FigureMaker = Callable[[list[Group], Path], Path | None]
FIGURES: dict[str, FigureMaker] = {}


def figure(name: str) -> Callable[[FigureMaker], FigureMaker]:
    """Register a paper figure under its file name (without .png)."""
    def register(make: FigureMaker) -> FigureMaker:
        FIGURES[name] = make
        return make
    return register


@figure("fig01_channel_distributions_main")
def _fig01(gs: list[Group], path: Path) -> Path | None:
    return _order_channels(gs, 7, "act", path, "Figure 1: activation outputs of one layer "
                           "(left) and of single channels")   # 8th block


@figure("fig03_layer_saturation_main")
def _fig03(gs: list[Group], path: Path) -> Path | None:
    return by_order(gs, ("saturation",), path, "Figure 3: layer saturation (activation output)")


@figure("fig04_layer_skewness_main")
def _fig04(gs: list[Group], path: Path) -> Path | None:
    return by_order(gs, ("skewness",), path, "Figure 4: layer skewness (activation output)")


@figure("fig05_accuracy_vs_skewness_nwdbn_beta")
def _fig05(gs: list[Group], path: Path) -> Path | None:
    return accuracy_against(gs, "avg_skewness", "bn_beta_wd", path,
                            "Figure 5: NWDBN accuracy against average skewness "
                            "(beta weight decay)")


@figure("fig07_accuracy_vs_sparsity_swap_affine")
def _fig07(gs: list[Group], path: Path) -> Path | None:
    return accuracy_against(gs, "avg_sparsity", "bn_wd", path,
                            "Figure 7: swap accuracy against average sparsity "
                            "(BN affine weight decay)")


@figure("fig08_block_output_distributions_main")
def _fig08(gs: list[Group], path: Path) -> Path | None:
    return _order_channels(gs, 4, "block", path, "Figure 8: block outputs of one layer "
                           "(left) and of single channels")   # 5th block


@figure("fig09_layer_skewness_by_dataset_table1")
def _fig09_table1(gs: list[Group], path: Path) -> Path | None:
    return by_key([g for g in gs if g.keys.get("act") in BOUNDED], "dataset", "skewness", path,
                  "Figure 9: layer skewness of swap models by data set", panel_key=("arch", "act"))


@figure("fig09_layer_skewness_by_dataset")
def _fig09(gs: list[Group], path: Path) -> Path | None:
    return by_key(gs, "dataset", "skewness", path,
                  "Figure 9: layer skewness of the swap model by data set", panel_key=("arch",))


@figure("fig10_nobn_layer_saturation_skewness")
def _fig10(gs: list[Group], path: Path) -> Path | None:
    return by_order(gs, ("saturation", "skewness"), path,
                    "Figure 10: convention against no BN, layer saturation and skewness")


@figure("fig13_layer_skewness_by_activation_table2")
def _fig13(gs: list[Group], path: Path) -> Path | None:
    return by_key(gs, "act", "skewness", path, "Figure 13 (right): layer skewness by activation "
                  "(dashed: convention, solid: swap)", orders=("convention", "swap"),
                  dashed_convention=True)


@figure("fig14_layer_skewness_by_depth")
def _fig14(gs: list[Group], path: Path) -> Path | None:
    return by_key(gs, "depth", "skewness", path,
                  "Figure 14: layer skewness of swap VGG16_n by depth n")


@figure("fig15_gradients_main")
def _fig15(gs: list[Group], path: Path) -> Path | None:
    return gradients(gs, path, "Figure 15: weight-layer inputs and gradients per layer")


def _learning_curves(gs: list[Group], split: str, path: Path, title: str) -> Path | None:
    return per_epoch(gs, [(f"{split} loss", lambda e: e.get(f"{split}_loss")),
                          (f"{split} accuracy (%)", lambda e: e.get(f"{split}_acc"))],
                     path, title, 6)


@figure("fig16_train_curves_main")
def _fig16(gs: list[Group], path: Path) -> Path | None:
    return _learning_curves(gs, "train", path, "Figure 16: training loss and accuracy")


@figure("fig17_test_curves_main")
def _fig17(gs: list[Group], path: Path) -> Path | None:
    return _learning_curves(gs, "test", path, "Figure 17: test loss and accuracy")


@figure("fig16_17_epoch_stats_main")
def _fig16_17(gs: list[Group], path: Path) -> Path | None:
    return per_epoch(gs, [(LABELS[m], lambda e, m=m: (e.get("stats") or {}).get(m))
                          for m in ("avg_saturation", "avg_skewness", "avg_sparsity")],
                     path, "Average saturation, skewness and sparsity per epoch", 5)


@figure("fig18_accuracy_sparsity_vs_affine_wd")
def _fig18(gs: list[Group], path: Path) -> Path | None:
    return against_parameter(gs, "bn_wd", ("test_acc", "avg_sparsity"), path,
                             "Figure 18: accuracy and sparsity against BN affine weight decay",
                             "BN affine weight decay (gamma and beta)")


# `swapbn compare` and `swapbn report` on a compare folder: the figures a reader of the paper
# looks at first (Figures 3 and 4 and Section 5.2's sparsity in one row; Figure 1's layer).
COMPARE_FIGURES = ADHOC[COMPARE].figures


@figure("compare_layer_metrics")
def _compare_layers(gs: list[Group], path: Path) -> Path | None:
    return by_order(gs, ("saturation", "skewness", "sparsity"), path,
                    "Per-layer saturation, skewness (activation output) and sparsity (block "
                    "output) by order; band: ± 1 std over seeds")


@figure("compare_channel_distributions")
def _compare_channels(gs: list[Group], path: Path) -> Path | None:
    return _order_channels(gs, 7, "act", path, "Activation outputs of one layer per order "
                           "(as Figure 1), first seed: the layer, then single channels")


@figure("layer_metrics_resnet")
def _layers_resnet(gs: list[Group], path: Path) -> Path | None:
    return by_variant(gs, ("saturation", "skewness", "sparsity"), path,
                      "ResNet-18: per-layer saturation, skewness (activation output) and "
                      "sparsity (block output) per variant; band: ± 1 std over seeds")


@figure("layer_metrics_shifted")
def _layers_shifted(gs: list[Group], path: Path) -> Path | None:
    return by_variant(gs, ("saturation", "skewness", "sparsity"), path,
                      "VGG16_11, shifted Tanh against Tanh: per-layer saturation, skewness "
                      "(activation output) and sparsity (block output); band: ± 1 std over "
                      "seeds")


@figure("sec52_layer_sparsity_main")
def _sec52(gs: list[Group], path: Path) -> Path | None:
    return by_order(gs, ("sparsity",), path, "Section 5.2: layer sparsity (block output)")
