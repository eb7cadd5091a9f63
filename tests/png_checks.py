"""Shared check for written figures: the PNG decodes and is not a blank canvas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import image


def assert_png_drawn(path: Path) -> None:
    assert path.is_file(), f"missing figure {path}"
    pixels = image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100, path
    rgb = np.round(pixels[..., :3] * 255).astype(np.uint32).reshape(-1, 3)
    assert float(rgb.std()) > 1, f"blank figure {path}"
    colours = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])
    assert len(colours) > 10, f"figure with almost no colours {path}"


# Every figure `swapbn report` draws when all eight experiments are present.
EVERY_FIGURE = (
    "fig01_channel_distributions_main", "fig03_layer_saturation_main",
    "fig04_layer_skewness_main", "sec52_layer_sparsity_main",
    "fig08_block_output_distributions_main", "fig15_gradients_main",
    "fig16_train_curves_main", "fig17_test_curves_main", "fig16_17_epoch_stats_main",
    "fig09_layer_skewness_by_dataset_table1", "fig09_layer_skewness_by_dataset",
    "fig13_layer_skewness_by_activation_table2", "fig14_layer_skewness_by_depth",
    "fig10_nobn_layer_saturation_skewness", "fig05_accuracy_vs_skewness_nwdbn_beta",
    "fig07_accuracy_vs_sparsity_swap_affine", "fig18_accuracy_sparsity_vs_affine_wd",
)
# The figures of the two experiments beyond the paper (tests/test_first_use.py draws them).
BEYOND_PAPER_FIGURES = ("layer_metrics_resnet", "layer_metrics_shifted")
