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
