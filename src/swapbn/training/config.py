"""TrainConfig: everything that defines a training run, checked before any work starts.

A config is written in two steps: what the user asked for (unset values are None) and the
resolved config (`resolve()`), where the paper preset or the small-run defaults fill every
unset value. Only resolved configs are trained and recorded in config.json. Each field is a
setting (training/settings.py): its flag, its type in config.json and whether two runs differ
by it come from the field.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..activations import ACTIVATIONS, make_activation
from ..blocks import ORDERS
from ..data import DATASETS
from ..errors import UsageError, quoted, shown_path
from ..models import OWN_ACT, check_model, is_zoo_model, model_family, zoo_of
from ..presets import (
    CPU_BATCH_SIZE,
    CPU_EPOCHS,
    CPU_MILESTONES,
    PRESET_DATASETS,
    cpu_recipe,
    paper_recipe,
)
from ..rundir import CONFIG_TYPES
from .fast import native_cpu_bf16
from .settings import HOW, LABEL, WHERE, Settings, setting

PRESETS: tuple[str, ...] = ("paper", "cpu")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bf16")
MIN_WIDTH = 1 / 32  # VGG's 64-channel layers keep 2 channels; below, layers of a single channel
MAX_SEED = 2**63 - 1  # what torch.manual_seed and the epoch seeds take
NO_DATA_ROOT = ("digits",)  # built in (scikit-learn): a --data-root is not read

# Small-run defaults (no preset), chosen on digits (vgg16_11 width 1/8, tanh, 2 seeds): lr 0.01
# reached 98-99.7% in 8 epochs and showed swap's higher skewness and sparsity; lr 0.05 and 0.2
# gave 90-97.5%. Milestones default to 50% and 75% of the epochs, as the paper's 100/150 of 200.
DEFAULT_EPOCHS = 10
DEFAULT_LR = 0.01
DEFAULT_WD = 5e-4
DEFAULT_BATCH_SIZE = 64
# The command line's width without --preset (train and compare alike): 1/8 of the paper's
# channels, a few seconds per digits epoch on a CPU. TrainConfig itself defaults to 1.
DEFAULT_WIDTH = 0.125
CPU_WIDTH = 0.25  # the cpu scale's width (experiments/scales.py)
MILESTONE_FRACTIONS = (0.5, 0.75)

# The data split (digits' test split, validation hold-out, training subset) is drawn with this
# seed for every run: run seeds vary initialisation, batch order and augmentation, so seeds of
# one configuration are trained and measured on the same images.
DATA_SEED = 0


def default_milestones(epochs: int) -> list[int]:
    """50% and 75% of the epochs (the paper's 100/150 of 200), at least epoch 1, no repeats."""
    return sorted({max(1, int(epochs * f)) for f in MILESTONE_FRACTIONS})


def scale_milestones(milestones: list[int], epochs: int, new_epochs: int) -> list[int]:
    """Milestones at the same fractions of a different number of epochs."""
    if new_epochs == epochs:
        return list(milestones)
    return sorted({max(1, round(m * new_epochs / epochs)) for m in milestones})


def parse_milestones(text: str) -> list[int]:
    """'100,150' -> [100, 150]."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--milestones needs comma-separated epoch numbers, got {quoted(text)}") from None


def parse_seeds(tokens: str | list[str]) -> list[int]:
    """`--seeds` of compare and sweep: '0,1,2', '0 1 2' (separate arguments) or a mix."""
    items = [tokens] if isinstance(tokens, str) else list(tokens)
    text = " ".join(items)
    try:
        values = [int(x) for item in items for x in item.replace(",", " ").split()]
    except ValueError:
        raise UsageError(f"--seeds needs comma-separated integers, got {quoted(text)}") from None
    if not values or min(values) < 0:
        raise UsageError(f"--seeds needs one or more non-negative integers, got {quoted(text)}")
    if len(set(values)) != len(values):
        raise UsageError(f"--seeds needs distinct seeds, got {quoted(text)}")
    return values


def parse_act_kwargs(text: str) -> dict[str, float]:
    """'dx=0.5,dy=0.1' -> {'dx': 0.5, 'dy': 0.1}."""
    out: dict[str, float] = {}
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--act-kwargs needs name=number pairs separated by commas, "
                             f"got {quoted(text)}") from None
    return out


def resolve_precision(precision: str, device: str) -> str:
    """'auto' made concrete for a device name: bf16 on a CPU whose bf16 arithmetic is native
    (training/fast.py), float32 otherwise (CUDA keeps float32 with TF32, as before bf16 came to
    the CPU). Other values are returned as given."""
    if precision != "auto":
        return precision
    cuda = str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "bf16" if not cuda and native_cpu_bf16() else "float32"


def _choose(what: str, value: object, choices: tuple[str, ...] | list[str]) -> None:
    if value not in choices:
        raise UsageError(f"unknown {what} {quoted(value)}; choose from {', '.join(choices)}")


def _check_arch(config: TrainConfig) -> None:
    """A known model; a zoo's model (models/zoo.py) has its zoo's width, no nobn order, and
    may keep its own activations (OWN_ACT)."""
    try:
        check_model(config.arch)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    zoo = zoo_of(config.arch)
    if zoo is None:
        return
    if config.order == "nobn":
        raise UsageError(f"{config.arch} runs in convention or swap order, not nobn")
    if config.width != 1.0:
        raise UsageError(f"{config.arch} has {zoo.label}'s width; --width applies to "
                         "swapbn's own models")


def _either(names) -> str:
    """'a, b or c' for a help line."""
    names = list(names)
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


@dataclass
class TrainConfig(Settings):
    """One training run. Unset (None) values are filled by `resolve()`. Each field's metadata
    (training/settings.py) gives its flag and help, and says whether two runs differ by it."""

    arch: str = setting("vgg16_11", group="model",
                        help="model name (default {default}; see `swapbn models`)")
    act: str = setting(
        "tanh", group="model",
        help=f"activation: {_either(ACTIVATIONS)} (default {{default}} for swapbn's models; "
             "a torchvision: or timm: model keeps its own unless given)")
    order: str = setting("swap", group="run", help=f"{_either(ORDERS)} (default {{default}})")
    dataset: str = setting("digits", group="data",
                           help=f"{_either(DATASETS)} (default {{default}})")
    data_root: str | None = setting(None, kind=WHERE, group="data",
                                    help="folder that holds the data set")
    act_kwargs: dict[str, float] | None = setting(
        None, group="model", metavar="K=V,...", parse=parse_act_kwargs,
        help="activation parameters, e.g. dx=0.5,dy=0.1 for shifted_tanh")
    train_subset: int | None = setting(None, group="data", metavar="N",
                                       help="train on a stratified subset of N images")
    val_images: int = setting(0, group="data", flags=("--val-images", "--val-split"),
                              metavar="N", help="hold out N training images as a validation "
                                                "split (default {default})")
    width: float = setting(
        1.0, group="model", cli_default=DEFAULT_WIDTH,
        help=f"channel multiplier (default {{default}}; {CPU_WIDTH:g} with --preset cpu; 1, "
             "the paper's models, with --preset paper or a torchvision: or timm: model)")
    bias: bool = True
    epochs: int | None = setting(None, group="recipe", recipe=True, cli_default=DEFAULT_EPOCHS,
                                 help="default {default} (or the preset's)")
    lr: float | None = setting(None, group="recipe", recipe=True, cli_default=DEFAULT_LR,
                               help="initial learning rate (default {default} or the preset's)")
    milestones: list[int] | None = setting(
        None, group="recipe", recipe=True, metavar="E1,E2", parse=parse_milestones,
        cli_default=" and ".join(f"{f:.0%}" for f in MILESTONE_FRACTIONS),
        help="epochs where the lr drops x0.1 (default {default} of the epochs)")
    momentum: float = setting(0.9, group="recipe", help="SGD momentum (default {default})")
    wd: float | None = setting(
        None, group="recipe", recipe=True, cli_default=DEFAULT_WD,
        help="weight decay of weight layers (default {default} or the preset's)")
    bn_gamma_wd: float | None = setting(None, group="recipe", recipe=True,
                                        help="weight decay of BN gamma (default --wd)")
    bn_beta_wd: float | None = setting(None, group="recipe", recipe=True,
                                       help="weight decay of BN beta (default --wd)")
    nwdbn: bool = setting(False, group="recipe",
                          help="no weight decay on BN gamma and beta (the paper's NWDBN)")
    batch_size: int | None = setting(None, group="recipe", recipe=True,
                                     cli_default=DEFAULT_BATCH_SIZE,
                                     help="default {default} (or the preset's)")
    seed: int = setting(0, group="run", help="initialisation, batch order and augmentation "
                                             "(default {default})")
    device: str = setting("auto", kind=WHERE, group="running",
                          help="auto (CUDA when available), cpu, cuda or cuda:N "
                               "(default {default})")
    # float32 or bf16 autocast; auto: bf16 on a CPU with native bf16 arithmetic, float32 on
    # other CPUs and on CUDA (with TF32 unless deterministic). Resolved before a run is recorded.
    precision: str = setting(
        "auto", group="running", consts=(("--amp", "bf16"),),
        help=f"{', '.join(PRECISIONS)}; {{default}} (default): bf16 autocast on a CPU with "
             "native bf16 arithmetic, float32 on other CPUs and on CUDA (TF32)")
    channels_last: bool = setting(
        True, kind=HOW, group="running",
        help="NHWC memory format for conv models (default {default}: 1.3x faster training on a "
             "CPU, and what cuDNN's fastest kernels want)")
    compile: bool = setting(
        False, kind=HOW, group="running",
        help="torch.compile the model for training and evaluation (CPU: needs a C++ compiler, "
             "and the first step takes about two minutes on 2 cores)")
    deterministic: bool = setting(
        False, kind=HOW, group="running",
        help="no TF32 and no cudnn.benchmark on CUDA; deterministic kernels")
    stats_every: int = setting(
        0, group="running", flags=("--stats-every", "--track-stats"), metavar="K",
        help="measure saturation, skewness and sparsity every K epochs (0: never; default "
             "{default})")
    preset: str | None = setting(
        None, group="recipe",
        help=f"'paper': the paper's Tables 3-6 recipe; 'cpu': the lr and wd the cpu scale's "
             f"grid chose (docs/results.md), width {CPU_WIDTH:g}")
    tags: dict[str, str] = setting(factory=dict, kind=LABEL)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """A config from config.json (extra keys such as num_classes are ignored)."""
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    @property
    def bf16(self) -> bool:
        """Whether the forward passes run in bf16 autocast (a resolved config)."""
        return self.precision == "bf16"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    # -- resolution and checks ----------------------------------------------------------------

    @property
    def resolved(self) -> bool:
        """Whether every recipe setting is filled (`resolve()`)."""
        return all(getattr(self, f.name) is not None for f, s in self.settings() if s.recipe)

    def resolve(self) -> TrainConfig:
        """Fill unset values from the preset (or the small-run defaults) and check everything.

        Values given explicitly always win over the preset. `nwdbn` sets the BN weight decays to
        zero unless they are given explicitly (the paper's Figure 5 varies beta's decay on NWDBN).
        """
        self.check_names()
        if self.preset is None:
            recipe = {"epochs": DEFAULT_EPOCHS, "lr": DEFAULT_LR, "wd": DEFAULT_WD,
                      "batch_size": DEFAULT_BATCH_SIZE, "milestones": None}
        elif self.preset == "cpu":
            recipe = {"epochs": CPU_EPOCHS, "batch_size": CPU_BATCH_SIZE,
                      "milestones": list(CPU_MILESTONES), "lr": self.lr, "wd": self.wd}
            if self.lr is None or self.wd is None:
                try:
                    recipe = cpu_recipe(self.arch, self.act, self.order).to_dict()
                except (KeyError, ValueError) as exc:
                    raise UsageError(str(exc.args[0])) from None
        else:
            if self.dataset not in PRESET_DATASETS:
                raise UsageError(f"--preset paper has no recipe for data set {quoted(self.dataset)}; "
                                 f"the paper's tables cover {', '.join(PRESET_DATASETS)}")
            recipe = paper_recipe(model_family(self.arch), self.act, self.order,
                                  self.dataset).to_dict()
        filled = {k: getattr(self, k) if getattr(self, k) is not None else recipe[k]
                  for k in ("epochs", "lr", "wd", "batch_size")}
        epochs = int(filled["epochs"])
        if self.milestones is not None:
            milestones = list(self.milestones)
        elif recipe["milestones"] is not None:
            # A preset with other epochs keeps the preset's milestones at the same fractions.
            milestones = scale_milestones(recipe["milestones"], recipe["epochs"], epochs)
        else:
            milestones = default_milestones(epochs)
        bn_default = 0.0 if self.nwdbn else filled["wd"]
        out = self.replace(
            precision=resolve_precision(self.precision, self.device),
            epochs=epochs, lr=float(filled["lr"]), wd=float(filled["wd"]),
            batch_size=int(filled["batch_size"]), milestones=[int(m) for m in milestones],
            bn_gamma_wd=float(bn_default if self.bn_gamma_wd is None else self.bn_gamma_wd),
            bn_beta_wd=float(bn_default if self.bn_beta_wd is None else self.bn_beta_wd),
            act_kwargs=dict(self.act_kwargs) if self.act_kwargs else None,
            tags=dict(self.tags),
        )
        out.check()
        return out

    def check_names(self) -> None:
        _check_arch(self)
        if not (self.act == OWN_ACT and is_zoo_model(self.arch)):
            _choose("activation", self.act, list(ACTIVATIONS))
        _choose("order", self.order, ORDERS)
        _choose("data set", self.dataset, list(DATASETS))
        if self.preset is not None:
            _choose("preset", self.preset, PRESETS)
        _choose("precision", self.precision, PRECISIONS)
        if self.device not in DEVICES and not re.fullmatch(r"cuda:\d+", str(self.device)):
            raise UsageError(f"unknown device {quoted(self.device)}; choose from {', '.join(DEVICES)}"
                             " (or cuda:N)")

    def check(self) -> None:
        """Raise UsageError (one line) for any value a run cannot use."""
        self.check_names()
        if not self.resolved:
            raise UsageError("the configuration is not resolved; call resolve() first")
        if not (isinstance(self.lr, float) and math.isfinite(self.lr) and self.lr > 0):
            raise UsageError(f"learning rate must be positive, got {self.lr}")
        for name in ("wd", "bn_gamma_wd", "bn_beta_wd"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UsageError(f"{name.replace('_', '-')} must be zero or positive, got {value}")
        if not 0 <= self.momentum < 1:
            raise UsageError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.epochs < 1:
            raise UsageError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise UsageError(f"batch size must be at least 1, got {self.batch_size}")
        m = self.milestones
        if any(b <= a for a, b in zip(m, m[1:], strict=False)):
            raise UsageError(f"milestones must be increasing, got {','.join(map(str, m))}")
        if m and (m[0] < 1 or m[-1] > self.epochs):
            raise UsageError(f"milestones must lie in 1..{self.epochs} (the epochs), "
                             f"got {','.join(map(str, m))}")
        if not (math.isfinite(self.width) and self.width >= MIN_WIDTH):
            raise UsageError(f"width must be a finite number of at least {MIN_WIDTH:g} (below "
                             f"it layers keep a single channel), got {self.width}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or \
                not 0 <= self.seed <= MAX_SEED:
            raise UsageError(f"seed must be an integer in 0..2**63-1, got {self.seed}")
        if self.train_subset is not None and self.train_subset < 2:
            raise UsageError(f"train subset must be at least 2 images, got {self.train_subset}")
        if self.val_images < 0:
            raise UsageError(f"validation split must be zero or positive, got {self.val_images}")
        if self.stats_every < 0:
            raise UsageError(f"stats-every must be zero (off) or a number of epochs, "
                             f"got {self.stats_every}")
        if self.data_root is not None and not Path(self.data_root).expanduser().exists():
            raise UsageError(f"data root {shown_path(self.data_root)} does not exist")
        if self.batch_size < 2 and self.order != "nobn":
            raise UsageError("batch size must be at least 2 with batch normalization")
        try:
            if self.act != OWN_ACT:
                make_activation(self.act, **(self.act_kwargs or {}))
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def warnings(self) -> list[str]:
        """Legal settings that are surely a mistake (one line each, for stderr)."""
        out = []
        if self.data_root is not None and self.dataset in NO_DATA_ROOT:
            out.append(f"--data-root {shown_path(self.data_root)} is not read: data set {self.dataset} is "
                       "built in")
        return out


# config.json's reader checks every field by the type its annotation gives.
CONFIG_TYPES.update(TrainConfig.record_types())
