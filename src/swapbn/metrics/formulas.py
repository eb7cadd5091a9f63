"""The paper's layer metrics (eqs. 1-2 and 4, Section 5.2) from per-channel statistics."""

from __future__ import annotations

import math

from .moments import ChannelMoments


def saturation(act: ChannelMoments, bound: float | None) -> float | None:
    """Eq. 1-2: mean over all activation outputs of |a| / bound; None when unbounded."""
    if bound is None or act.count == 0:
        return None
    return float(act.sum_abs.sum()) / (act.count * act.channels * bound)


def layer_skewness(act: ChannelMoments) -> tuple[float | None, float | None, int]:
    """Eq. 4: (mean |k_c|, mean k_c, number of constant channels left out of both means)."""
    k = act.skewness()
    valid = ~k.isnan()
    constant = int((~valid).sum())
    if not bool(valid.any()):
        return None, None, constant
    kv = k[valid]
    return float(kv.abs().mean()), float(kv.mean()), constant


def empirical_saturation(stats: ChannelMoments) -> float | None:
    """Mean over all elements of |x| / max_c |x| (max over the element's channel)."""
    if stats.count == 0:
        return None
    return float(stats.normalised_mass().sum()) / (stats.count * stats.channels)


def sparsity(block: ChannelMoments) -> float | None:
    """Section 5.2: 1 - empirical saturation of the block output (all-zero channels fully sparse)."""
    t = empirical_saturation(block)
    return None if t is None else 1.0 - t


def average(values) -> float | None:
    """Mean over layers, ignoring undefined (None / NaN) entries; None if nothing is defined."""
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return sum(kept) / len(kept) if kept else None
