"""Channel distributions of the main experiment (Figures 1 and 8) from channels.npz files.

One run per order (its first completed seed) supplies the samples; `layer_plots` draws them.
The paper shows the 8th layer's activation outputs (Figure 1) and the 5th block's outputs
(Figure 8); smaller models fall back to their last sampled layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .aggregate import Group
from .figures import ORDER_STYLE
from .runs import Run

FIGURE1_LAYER = 7   # 8th block, activation output
FIGURE8_LAYER = 4   # 5th block, block output


def channels_file(run: Run) -> Path | None:
    path = run.path / str(run.final.get("channels") or "channels.npz")
    return path if path.is_file() else None


def _layer(path: Path, index: int) -> str | None:
    with np.load(path, allow_pickle=False) as data:
        if "layers" not in data.files:
            return None
        layers = [str(n) for n in data["layers"]]
    return layers[index] if index < len(layers) else (layers[-1] if layers else None)


def channel_distributions(groups: list[Group], out: Path) -> list[Path | None]:
    from .layer_plots import plot_channel_distributions

    rank = {o: i for i, o in enumerate(ORDER_STYLE)}
    files = {}
    for g in sorted(groups, key=lambda g: rank.get(g.keys.get("order"), 99)):
        if not g.selected:
            continue
        path = next((p for p in map(channels_file, g.completed) if p is not None), None)
        if path is not None:
            files[g.setting] = path
    if not files:
        return []
    written = []
    for index, site, name, title in (
            (FIGURE1_LAYER, "act", "fig01_channel_distributions_main.png",
             "Figure 1: activation outputs of one layer (left) and of single channels"),
            (FIGURE8_LAYER, "block", "fig08_block_output_distributions_main.png",
             "Figure 8: block outputs of one layer (left) and of single channels")):
        layer = _layer(next(iter(files.values())), index)
        if layer is None:
            continue
        written.append(plot_channel_distributions(files, out / name, layer=layer, site=site,
                                                  title=f"{title} ({layer})"))
    return written
