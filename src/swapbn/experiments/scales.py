"""The three scales every experiment runs at: the paper's, a CPU-hour one and a seconds one.

A scale says which data sets stand in for the paper's, how many seeds to run and which
TrainConfig values every run shares. The experiments themselves (registry.py) only say what
varies, so one definition serves all three scales.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UsageError
from ..presets import PRESET_DATASETS


@dataclass(frozen=True)
class Scale:
    """Where and how long an experiment runs."""

    name: str
    about: str
    # The data sets that experiments spanning data sets (table1, datasets) run on.
    datasets: tuple[str, ...]
    # The data set of the single-data-set experiments (CIFAR-100 in the paper).
    main_dataset: str
    seeds: tuple[int, ...]
    # TrainConfig values shared by every run at this scale.
    base: dict = field(default_factory=dict)
    # Seeds for particular data sets (the paper ran ImageNet with one seed).
    dataset_seeds: dict = field(default_factory=dict)
    needs_data_root: bool = False

    def seeds_for(self, dataset: str) -> tuple[int, ...]:
        return tuple(self.dataset_seeds.get(dataset, self.seeds))


# The CPU scale trains for 10 epochs (LR drops at 5 and 8, i.e. half and three quarters, rounded
# up) on a stratified 20,000-image subset of CIFAR-10 at a quarter of the paper's width. One LR
# and weight decay for every order keeps the comparison fair within the short budget: lr 0.05 is
# between the paper's two grid values and trains both orders stably in a few epochs, wd 5e-4 is
# the paper's CIFAR-100 value for VGG16 Tanh in both orders (Table 3).
CPU_EPOCHS = 10
CPU_BASE: dict = {
    "width": 0.25,
    "train_subset": 20_000,
    "epochs": CPU_EPOCHS,
    "milestones": [5, 8],
    "lr": 0.05,
    "wd": 5e-4,
    "batch_size": 128,
}

# The smoke scale checks that every experiment runs end to end: seconds per run on a CPU.
SMOKE_BASE: dict = {
    "width": 1 / 16,
    "train_subset": 128,
    "epochs": 1,
    "milestones": [],
    "lr": 0.05,
    "wd": 5e-4,
    "batch_size": 64,
}

SCALES: dict[str, Scale] = {
    "paper": Scale(
        name="paper",
        about="the paper's data sets, full width, Tables 3-6 recipes (preset paper), "
              "3 seeds (ImageNet 1)",
        datasets=PRESET_DATASETS,
        main_dataset="cifar100",
        seeds=(0, 1, 2),
        dataset_seeds={"imagenet": (0,)},
        base={"preset": "paper"},
        needs_data_root=True,
    ),
    "cpu": Scale(
        name="cpu",
        about="CIFAR-10 (20,000 training images), width 0.25, 10 epochs, lr 0.05, wd 5e-4, "
              "batch 128, 1 seed",
        datasets=("cifar10",),
        main_dataset="cifar10",
        seeds=(0,),
        base=CPU_BASE,
        needs_data_root=True,
    ),
    "smoke": Scale(
        name="smoke",
        about="digits (128 training images), width 1/16, 1 epoch, 1 seed",
        datasets=("digits",),
        main_dataset="digits",
        seeds=(0,),
        base=SMOKE_BASE,
    ),
}


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        raise UsageError(f"unknown scale {name!r}; choose from {', '.join(SCALES)}")
    return SCALES[name]
