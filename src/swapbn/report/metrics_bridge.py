"""The project's metrics applied to plain sample arrays (one channel), for the theory figures.

Samples go through the same per-channel statistics and layer formulas that measure a model,
so the theory figures show exactly what the metric reports on a layer with that distribution.
"""

from __future__ import annotations

import numpy as np
import torch

from ..metrics.formulas import layer_skewness, saturation, sparsity
from ..metrics.moments import ChannelMoments


def sample_metrics(x: np.ndarray, bound: float | None) -> dict[str, float | None]:
    """Saturation (None if unbounded), |skewness|, signed skewness and sparsity of one channel."""
    stats = ChannelMoments.of(torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(-1, 1))
    skew_abs, skew_signed, _ = layer_skewness(stats)
    return {"saturation": saturation(stats, bound), "skewness": skew_abs,
            "skewness_signed": skew_signed, "sparsity": sparsity(stats)}
