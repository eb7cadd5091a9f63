"""The training recipes as data: the paper's (appendix A.1, Tables 3-6) and the cpu scale's.

A recipe is chosen by model family (VGG / MobileNet), activation family (ReLU / bounded),
order (convention / swap) and data set. The paper tuned only Tanh among the bounded
activations, so LeCun Tanh, Softsign and the shifted Tanh use the Tanh table; the no-BN
models (paper A.2) and NWDBN use the convention column (NWDBN then drops BN weight decay).

The cpu scale's recipes (preset "cpu", cpu_recipes.json) were chosen the paper's way at the
cpu scale's budget: the paper's lr x wd grid per model, activation family and order, one seed
per point, selected by accuracy on a validation split (docs/results.md shows the grid).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from .activations import ACTIVATIONS
from .errors import quoted


@dataclass(frozen=True)
class Recipe:
    epochs: int
    lr: float
    milestones: tuple[int, int]
    wd: float
    batch_size: int

    def to_dict(self) -> dict:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d


# The paper's data sets (also those of the paper scale, experiments/scales.py).
PRESET_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "tinyimagenet", "imagenet")

# One row per table column: (epochs, lr, (milestones), weight decay, batch size), in the order of
# PRESET_DATASETS. Keys: (model family, activation family, order).
_CIFAR = (100, 150)
_IN_CONV = (30, 60)
_IN_SWAP = (60, 90)
_ROWS: dict[tuple[str, str, str], tuple[tuple, ...]] = {
    # Table 3: VGG16 Tanh
    ("vgg", "bounded", "convention"): (
        (200, 0.1, _CIFAR, 1e-4, 128), (200, 0.01, _CIFAR, 5e-4, 128),
        (200, 0.01, _CIFAR, 1e-3, 128), (100, 0.01, _IN_CONV, 1e-4, 256)),
    ("vgg", "bounded", "swap"): (
        (200, 0.01, _CIFAR, 1e-3, 128), (200, 0.1, _CIFAR, 5e-4, 128),
        (200, 0.01, _CIFAR, 1e-3, 128), (100, 0.01, _IN_SWAP, 1e-3, 256)),
    # Table 4: VGG16 ReLU
    ("vgg", "relu", "convention"): (
        (200, 0.01, _CIFAR, 1e-3, 128), (200, 0.01, _CIFAR, 5e-3, 128),
        (200, 0.1, _CIFAR, 1e-4, 128), (100, 0.1, _IN_CONV, 1e-4, 256)),
    ("vgg", "relu", "swap"): (
        (200, 0.01, _CIFAR, 1e-3, 128), (200, 0.01, _CIFAR, 5e-3, 128),
        (200, 0.01, _CIFAR, 1e-3, 128), (100, 0.01, _IN_SWAP, 5e-4, 256)),
    # Table 5: MobileNet Tanh
    ("mobilenet", "bounded", "convention"): (
        (200, 0.1, _CIFAR, 1e-4, 128), (200, 0.1, _CIFAR, 5e-4, 128),
        (200, 0.01, _CIFAR, 1e-4, 128), (100, 0.1, _IN_CONV, 1e-4, 256)),
    ("mobilenet", "bounded", "swap"): (
        (200, 0.1, _CIFAR, 1e-4, 128), (200, 0.1, _CIFAR, 5e-4, 128),
        (200, 0.1, _CIFAR, 1e-4, 128), (100, 0.1, _IN_SWAP, 1e-4, 256)),
    # Table 6: MobileNet ReLU
    ("mobilenet", "relu", "convention"): (
        (200, 0.01, _CIFAR, 1e-3, 128), (200, 0.01, _CIFAR, 5e-3, 128),
        (200, 0.01, _CIFAR, 5e-3, 128), (100, 0.01, _IN_CONV, 1e-4, 256)),
    ("mobilenet", "relu", "swap"): (
        (200, 0.01, _CIFAR, 1e-3, 128), (200, 0.01, _CIFAR, 5e-3, 128),
        (200, 0.01, _CIFAR, 5e-3, 128), (100, 0.1, _IN_SWAP, 1e-4, 256)),
}

PAPER: dict[tuple[str, str, str, str], Recipe] = {
    (family, act_family, order, dataset): Recipe(e, lr, tuple(m), wd, bs)
    for (family, act_family, order), rows in _ROWS.items()
    for dataset, (e, lr, m, wd, bs) in zip(PRESET_DATASETS, rows, strict=True)
}


def activation_family(act: str) -> str:
    """'relu' for ReLU, 'bounded' for every bounded activation (they share the Tanh table)."""
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {quoted(act)}; choose from {', '.join(ACTIVATIONS)}")
    return "bounded" if ACTIVATIONS[act].bounded else "relu"


def preset_order(order: str) -> str:
    """The table column an order uses: nobn (and NWDBN, which is convention) use convention."""
    return "swap" if order == "swap" else "convention"


def paper_recipe(family: str, act: str, order: str, dataset: str) -> Recipe:
    """The paper's recipe for a model family, activation, order and data set."""
    if dataset not in PRESET_DATASETS:
        raise ValueError(f"the paper has no recipe for data set {quoted(dataset)}; "
                         f"--preset paper covers {', '.join(PRESET_DATASETS)}")
    return PAPER[(family, activation_family(act), preset_order(order), dataset)]


# -- the cpu scale ------------------------------------------------------------------------------

CPU_RECIPES_FILE = Path(__file__).with_name("cpu_recipes.json")
CPU_EPOCHS = 10
CPU_MILESTONES = (5, 8)
CPU_BATCH_SIZE = 128
# The depth experiment's VGG16_n (n < 16) take VGG16_11's cpu recipe, as the paper's take
# VGG16's; every other model needs a grid of its own.
DEPTH_MODEL = re.compile(r"vgg16_\d+")
CPU_STAND_IN = "vgg16_11"


def recipe_key(arch: str, act: str, order: str) -> str:
    """The name of a recipe in a recipe table: 'vgg16_11/bounded/swap'. LeCun Tanh and Softsign
    share Tanh's ('bounded'), NWDBN and no BN the convention's, as in the paper."""
    return f"{arch}/{activation_family(act)}/{preset_order(order)}"


@cache
def cpu_recipes() -> dict[str, dict]:
    """{recipe key: {"lr", "wd", ...}}: the committed choices of the cpu scale's grids."""
    try:
        table = json.loads(CPU_RECIPES_FILE.read_text())
    except FileNotFoundError:
        return {}
    return dict(table.get("recipes", {}))


def cpu_recipe_models(arch: str) -> tuple[str, ...]:
    """The models whose cpu recipe `arch` takes, in the order they are looked up."""
    return (arch, CPU_STAND_IN) if DEPTH_MODEL.fullmatch(arch) else (arch,)


def cpu_recipe(arch: str, act: str, order: str) -> Recipe:
    """The cpu scale's recipe; KeyError (naming the grid to run) when none was chosen yet."""
    table = cpu_recipes()
    for model in cpu_recipe_models(arch):
        entry = table.get(recipe_key(model, act, order))
        if entry is not None:
            return Recipe(CPU_EPOCHS, float(entry["lr"]), CPU_MILESTONES, float(entry["wd"]),
                          CPU_BATCH_SIZE)
    key = recipe_key(cpu_recipe_models(arch)[-1], act, order)
    raise KeyError(f"no cpu-scale recipe for {key} yet: run the "
                   "paper's grid for it (swapbn sweep NAME --scale cpu --grid) and choose with "
                   "swapbn recipes")
