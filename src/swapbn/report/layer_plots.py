"""Per-layer metric curves (paper Figures 3 and 4) and channel distributions (Figures 1 and 8).

Inputs are plain records, so figures can be drawn from final.json / metrics.jsonl without
the model: a measure record is `Measurement.to_dict()`, channel samples are a
`ChannelSamples`, an .npz path or a mapping of its arrays.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..atomic import atomic_write  # noqa: E402

METRICS = {
    "saturation": "Layer saturation",
    "skewness": "Layer skewness (mean |k|)",
    "skewness_signed": "Signed layer skewness",
    "sparsity": "Sparsity (block output)",
    "empirical_saturation": "Empirical saturation (block output)",
    "act_empirical_saturation": "Empirical saturation (activation output)",
}


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save a figure atomically (temporary file in the same folder, then rename) and close it."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight"))
    finally:
        plt.close(fig)


def _record(rec) -> dict:
    return rec.to_dict() if hasattr(rec, "to_dict") else rec


def layer_values(record: Mapping, metric: str) -> np.ndarray:
    """One value per layer of a measure record, NaN where undefined."""
    return np.array([math.nan if r.get(metric) is None else float(r[metric])
                     for r in _record(record)["layers"]], dtype=float)


def plot_layer_metric(records: Mapping[str, Mapping], metric: str, path: str | os.PathLike, *,
                      title: str | None = None, ax=None) -> Path | None:
    """One line per labelled measure record: x = layer index (1-based), y = `metric`.

    Pass `ax` to draw into an existing axes (nothing is saved and None is returned).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, rec in records.items():
        y = layer_values(rec, metric)
        ax.plot(np.arange(1, len(y) + 1), y, marker="o", label=label)
    ax.set_xlabel("layer")
    ax.set_ylabel(METRICS[metric])
    ax.set_title(title or METRICS[metric])
    ax.grid(alpha=0.3)
    if records:
        ax.legend()
    if metric in ("saturation", "sparsity", "empirical_saturation", "act_empirical_saturation"):
        ax.set_ylim(0, 1)
    if own:
        return save_figure(fig, path)
    return None


def plot_layer_metrics(records: Mapping[str, Mapping], directory: str | os.PathLike,
                       metrics: Sequence[str] = ("saturation", "skewness", "sparsity"),
                       *, prefix: str = "layer_") -> list[Path]:
    """plot_layer_metric for each metric into `directory`/<prefix><metric>.png."""
    directory = Path(directory)
    return [plot_layer_metric(records, m, directory / f"{prefix}{m}.png") for m in metrics]


def _samples(obj):
    if isinstance(obj, (str, os.PathLike)):
        from ..metrics.samples import ChannelSamples

        return ChannelSamples.load(obj)
    if isinstance(obj, Mapping):
        from ..metrics.samples import ChannelSamples

        return ChannelSamples(dict(obj))
    return obj


def plot_channel_distributions(samples: Mapping[str, object], path: str | os.PathLike, *,
                               layer: str | None = None, site: str = "act",
                               bins: int = 60, title: str | None = None) -> Path:
    """Histograms of one layer: the whole layer, then each sampled channel (paper Figure 1).

    `samples` maps a label (e.g. "convention", "swap") to ChannelSamples, an .npz path or its
    arrays; one row per label. `layer` defaults to the last sampled layer, `site` is "act"
    (activation output) or "block" (block output).
    """
    loaded = {label: _samples(s) for label, s in samples.items()}
    if not loaded:
        raise ValueError("no channel samples to plot")
    rows = []
    for label, s in loaded.items():
        name = layer or s.layers[-1]
        if f"{site}/{name}" not in s.arrays:
            raise ValueError(f"{label}: no {site} samples of layer {name!r}; "
                             f"layers: {', '.join(s.layers)}")
        rows.append((label, name, s.channels(name), s.values(site, name),
                     s.layer_values(site, name)))
    cols = 1 + max(len(r[2]) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.2 * cols, 2.0 * len(rows)),
                             squeeze=False)
    for i, (label, name, chans, values, whole) in enumerate(rows):
        lo = float(min(whole.min(), values.min())) if values.size else float(whole.min())
        hi = float(max(whole.max(), values.max())) if values.size else float(whole.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        axes[i, 0].hist(whole, bins=edges, color="0.4")
        axes[i, 0].set_title(f"{label}: {name}", fontsize=8)
        for j in range(1, cols):
            ax = axes[i, j]
            if j - 1 < len(chans):
                ax.hist(values[j - 1], bins=edges, color=f"C{i}")
                ax.set_title(f"channel {int(chans[j - 1])}", fontsize=8)
            else:
                ax.axis("off")
            ax.tick_params(labelsize=6)
        axes[i, 0].tick_params(labelsize=6)
    fig.suptitle(title or f"{'Activation' if site == 'act' else 'Block'} output distributions "
                 "(layer, then channels)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
