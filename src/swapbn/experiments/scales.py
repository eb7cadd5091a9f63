"""The three scales every experiment runs at: the paper's, a CPU-hour one and a seconds one.

A scale says which data sets stand in for the paper's, how many seeds to run and which
TrainConfig values every run shares. The experiments themselves (registry.py) only say what
varies, so one definition serves all three scales.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UsageError, quoted
from ..presets import CPU_BATCH_SIZE, CPU_EPOCHS, CPU_MILESTONES, PRESET_DATASETS
from ..training.config import CPU_WIDTH


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
    # The budget whose per-experiment overrides apply (registry.Experiment.scale_overrides).
    budget: str = ""
    # Seeds of each point of the lr x wd grid (None: the scale's seeds, as the paper ran them).
    grid_seeds: tuple[int, ...] | None = None
    # A shallower model run beside the paper's no-BN VGG16 where that does not train at this
    # budget (a labelled extra row of the nobn experiment).
    nobn_stand_in: str | None = None
    # A variant of another scale: the scale it is checked against, and the runs that check
    # takes ({experiment: settings, or () for all}, at the scale's seeds).
    reference: str | None = None
    checks: dict = field(default_factory=dict)

    def seeds_for(self, dataset: str) -> tuple[int, ...]:
        return tuple(self.dataset_seeds.get(dataset, self.seeds))


# The CPU scale trains for 10 epochs (LR drops at 5 and 8, i.e. half and three quarters, rounded
# up) on a stratified 20,000-image subset of CIFAR-10 at a quarter of the paper's width, after
# holding out 5,000 other training images as the validation split its grids choose on. lr and
# wd come from preset "cpu": each setting's choice from the paper's grid at this budget
# (presets.py, cpu_recipes.json). float32, as the paper trained (bf16: docs/results.md).
CPU_VAL_IMAGES = 5_000
CPU_BASE: dict = {
    "width": CPU_WIDTH,
    "train_subset": 20_000,
    "val_images": CPU_VAL_IMAGES,
    "epochs": CPU_EPOCHS,
    "milestones": list(CPU_MILESTONES),
    "batch_size": CPU_BATCH_SIZE,
    "preset": "cpu",
    "precision": "float32",
}
# The cpu scale's first recipe, one lr and wd for every order (lr 0.05 between the paper's two
# grid values, wd 5e-4 its CIFAR-100 value for VGG16 Tanh): kept as a sensitivity check.
SHARED_RECIPE = {"lr": 0.05, "wd": 5e-4}

# The smoke scale checks that every experiment runs end to end: seconds per run on a CPU.
SMOKE_BASE: dict = {
    "precision": "float32",
    "width": 1 / 16,
    "train_subset": 128,
    "epochs": 1,
    "milestones": [],
    "lr": 0.05,
    "wd": 5e-4,
    "batch_size": 64,
}

def cpu_variant(name: str, about: str, *, base: dict, seeds: tuple[int, ...],
                checks: dict) -> Scale:
    """A variant of the cpu scale (its data, budget and no-BN stand-in), checked against it."""
    return Scale(name=name, about=about, datasets=("cifar10",), main_dataset="cifar10",
                 seeds=seeds, base=base, needs_data_root=True, budget="cpu",
                 nobn_stand_in="vgg16_11", reference="cpu", checks=checks)


SCALES: dict[str, Scale] = {
    "paper": Scale(
        name="paper",
        about="the paper's data sets, full width, Tables 3-6 recipes (preset paper), "
              "3 seeds (ImageNet 1)",
        datasets=PRESET_DATASETS,
        main_dataset="cifar100",
        seeds=(0, 1, 2),
        dataset_seeds={"imagenet": (0,)},
        base={"preset": "paper", "precision": "float32"},
        needs_data_root=True,
    ),
    "cpu": Scale(
        name="cpu",
        about="CIFAR-10 (20,000 training images, 5,000 more held out for validation), width "
              "0.25, 10 epochs, batch 128, float32, lr and wd from its own grid (preset cpu), "
              "3 seeds (grid: 1)",
        datasets=("cifar10",),
        main_dataset="cifar10",
        seeds=(0, 1, 2),
        base=CPU_BASE,
        needs_data_root=True,
        grid_seeds=(0,),
        nobn_stand_in="vgg16_11",
    ),
    "cpu-shared": cpu_variant(
        "cpu-shared", "the cpu scale with one recipe for every setting (lr 0.05, wd 5e-4): "
        "how much the cpu scale's conclusions depend on the recipe; 1 seed",
        base={**{k: v for k, v in CPU_BASE.items() if k != "preset"}, **SHARED_RECIPE},
        seeds=(0,), checks={"table2": ()}),
    "cpu-bf16": cpu_variant(
        "cpu-bf16", "the cpu scale in bf16 autocast: whether bf16 changes the cpu scale's "
        "conclusions (fast only on CPUs with native bf16)",
        base={**CPU_BASE, "precision": "bf16"}, seeds=(0, 1, 2),
        checks={"table2": ("tanh/convention", "tanh/swap")}),
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
        raise UsageError(f"unknown scale {quoted(name)}; choose from {', '.join(SCALES)}")
    return SCALES[name]
