"""The paper's experiments as data: what each one varies, turned into run specs at any scale.

An experiment is a list of *variants* (one setting of the model and training: e.g. Tanh in swap
order); a scale adds the shared values and the seeds. Every run carries `tags` in its config
(stored in config.json) so that reports group runs without knowing the experiments:

    tags = {"experiment", "scale", "variant", "setting", <the keys that vary>}

`variant` names one setting and groups its seeds; `setting` is the variant without the
hyperparameter grid point (equal to `variant` when no grid is run), so grid selection picks one
variant per setting.

An experiment also says how `swapbn report` treats its runs: its table's columns, the parameter
its rows are ordered by, the paper's table its accuracy column comes from, the sets of the
paper's claims checked on it (swapbn.report.directions), the settings the others are compared
with and its figures (swapbn.report.figures), so adding an experiment means adding one entry
here.

`swapbn compare` is an experiment too (`ADHOC`): its runs come from the command's flags
(experiments/compare.py) rather than from a scale, so it is none of the paper's experiments
(`swapbn experiments` and `swapbn sweep` know only `EXPERIMENTS`), but the report treats its
runs as it treats theirs (`find_experiment`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError, quoted
from ..presets import activation_family
from .grid import grid_points
from .scales import SHARED_RECIPE, Scale

# Table 2: the paper's bounded activations (the shifted Tanh goes beyond the paper).
TABLE2_ACTIVATIONS = ("tanh", "lecun_tanh", "softsign")
DEPTHS = tuple(range(8, 17))
# Figure 5: beta weight decay 0, 1e-4, ..., 1e-3 on NWDBN.
BETA_WDS = tuple(round(i * 1e-4, 6) for i in range(11))
# Figures 7 and 18: weight decay on both BN affine parameters of the swap model.
AFFINE_WDS = (0.0, 1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4)
# The columns of an experiment's table (swapbn.report.tables.COLUMNS): the paper's numbers
# beside each setting's mean ± std over seeds.
PAPER_COLUMNS = ("setting", "seeds", "test_acc", "paper", "avg_saturation", "max_saturation",
                 "avg_skewness", "avg_sparsity")


@dataclass(frozen=True)
class Variant:
    """One setting of an experiment: TrainConfig overrides and the tags that name it."""

    label: str
    overrides: dict
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its directory name and its (unresolved) TrainConfig values."""

    run_id: str
    config: dict
    label: str = ""  # how progress lines name it (default: the run id)

    @property
    def tags(self) -> dict:
        return self.config["tags"]


@dataclass(frozen=True)
class Experiment:
    name: str
    what: str
    paper: str
    variants: Callable[[Scale], list[Variant]]
    # The model whose selected hyperparameters this experiment takes (no grid of its own).
    follows: str | None = None
    # Extra TrainConfig values (measurements the figures need).
    extra: dict = field(default_factory=dict)
    # The numeric setting key the experiment sweeps: the report orders its rows by it.
    swept: str | None = None
    # Where the paper publishes this experiment's accuracies (for settings published twice).
    published_in: str | None = None
    # Names of the paper's claim sets checked on it (swapbn.report.directions.CLAIMS).
    claims: tuple[str, ...] = ()
    # Its figures, by file name (swapbn.report.figures.FIGURES).
    figures: tuple[str, ...] = ()
    # TrainConfig values per scale name, over the scale's own (a model the scale's width and
    # budget do not fit); `about` says them in words.
    scale_overrides: dict = field(default_factory=dict)
    # Its table's columns (swapbn.report.tables.COLUMNS).
    columns: tuple[str, ...] = PAPER_COLUMNS
    # The settings every other one is compared with, in order of preference (the first that
    # ran, else the first setting): each measure's difference over seeds with its 95% Welch
    # interval (swapbn.report.tables.differences). Empty: no such table.
    reference: tuple[str, ...] = ()


def _table1(scale: Scale) -> list[Variant]:
    out = []
    for dataset in scale.datasets:
        for arch in ("vgg16", "mobilenet"):
            for act in ("relu", "tanh"):
                for order in ("convention", "swap"):
                    label = f"{arch}/{act}/{order}/{dataset}"
                    keys = {"arch": arch, "act": act, "order": order, "dataset": dataset}
                    out.append(Variant(label, dict(keys), dict(keys)))
    return out


def _table2(scale: Scale) -> list[Variant]:
    return [Variant(f"{act}/{order}",
                    {"arch": "vgg16_11", "act": act, "order": order,
                     "dataset": scale.main_dataset},
                    {"act": act, "order": order, "arch": "vgg16_11"})
            for act in TABLE2_ACTIVATIONS for order in ("convention", "swap")]


def _depth(scale: Scale) -> list[Variant]:
    return [Variant(f"vgg16_{n}",
                    {"arch": f"vgg16_{n}", "act": "tanh", "order": "swap",
                     "dataset": scale.main_dataset},
                    {"arch": f"vgg16_{n}", "depth": n, "order": "swap"})
            for n in DEPTHS]


def _main(scale: Scale) -> list[Variant]:
    base = {"arch": "vgg16_11", "act": "tanh", "dataset": scale.main_dataset}
    return [
        Variant("convention", {**base, "order": "convention"}, {"order": "convention"}),
        Variant("nwdbn", {**base, "order": "convention", "nwdbn": True}, {"order": "nwdbn"}),
        Variant("swap", {**base, "order": "swap"}, {"order": "swap"}),
    ]


def _nwdbn_beta(scale: Scale) -> list[Variant]:
    base = {"arch": "vgg16_11", "act": "tanh", "dataset": scale.main_dataset,
            "order": "convention", "nwdbn": True, "bn_gamma_wd": 0.0}
    return [Variant(f"beta_wd={wd:g}", {**base, "bn_beta_wd": wd},
                    {"order": "nwdbn", "bn_beta_wd": wd})
            for wd in BETA_WDS]


def _swap_affine(scale: Scale) -> list[Variant]:
    base = {"arch": "vgg16_11", "act": "tanh", "dataset": scale.main_dataset, "order": "swap"}
    return [Variant(f"bn_wd={wd:g}", {**base, "bn_gamma_wd": wd, "bn_beta_wd": wd},
                    {"order": "swap", "bn_wd": wd})
            for wd in AFFINE_WDS]


def _nobn(scale: Scale) -> list[Variant]:
    base = {"arch": "vgg16", "act": "tanh", "dataset": scale.main_dataset}
    out = [Variant(order, {**base, "order": order}, {"order": order})
           for order in ("convention", "nobn")]
    if scale.nobn_stand_in:
        arch = scale.nobn_stand_in
        out.append(Variant(f"{arch}/nobn", {**base, "arch": arch, "order": "nobn"},
                           {"order": "nobn", "arch": arch, "stand_in": "true"}))
    return out


# Beyond the paper: torchvision's ResNet-18 (models/torchvision.py) with Tanh in both orders,
# ReLU convention as the reference.
RESNET = "torchvision:resnet18"
# The asymmetric Tanh: tanh(x - 1) + 0.76 passes near 0 at 0 (tanh(1) = 0.7616) and saturates
# at -0.24 and 1.76, an asymmetry like the one swap's BN-after-Tanh outputs show.
SHIFTED_TANH = {"dx": -1.0, "dy": 0.76}
# CPU budget of the two: about 10-15 minutes per sweep of three runs on one core.
# Their budgets differ from the cpu scale's grid, so they keep the shared recipe.
RESNET_CPU = {"width": 1.0, "train_subset": 5000, "epochs": 2, "milestones": [],
              **SHARED_RECIPE}
SHIFTED_CPU = {"train_subset": 5000, "epochs": 3, "milestones": [2], **SHARED_RECIPE}


def _resnet(scale: Scale) -> list[Variant]:
    return [Variant(f"{act}/{order}", {"arch": RESNET, "act": act, "order": order,
                                       "dataset": scale.main_dataset},
                    {"arch": RESNET, "act": act, "order": order})
            for act, order in (("tanh", "convention"), ("tanh", "swap"), ("relu", "convention"))]


def _shifted(scale: Scale) -> list[Variant]:
    base = {"arch": "vgg16_11", "dataset": scale.main_dataset}
    return [
        Variant("shifted_tanh/convention", {**base, "act": "shifted_tanh", "order": "convention",
                                            "act_kwargs": dict(SHIFTED_TANH)},
                {"act": "shifted_tanh", "order": "convention"}),
        Variant("tanh/convention", {**base, "act": "tanh", "order": "convention"},
                {"act": "tanh", "order": "convention"}),
        Variant("tanh/swap", {**base, "act": "tanh", "order": "swap"},
                {"act": "tanh", "order": "swap"}),
    ]


def _datasets(scale: Scale) -> list[Variant]:
    return [Variant(dataset, {"arch": "vgg16", "act": "tanh", "order": "swap",
                              "dataset": dataset},
                    {"dataset": dataset, "arch": "vgg16", "order": "swap"})
            for dataset in scale.datasets]


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("main", "VGG16_11 Tanh: convention, NWDBN, swap, with per-epoch statistics, "
               "channel samples and gradient probes",
               "Figures 1, 3, 4, 8, 15-17; section 5.2", _main,
               extra={"stats_every": 1}, claims=("convention_nwdbn_swap",),
               figures=("fig03_layer_saturation_main", "fig04_layer_skewness_main",
                        "sec52_layer_sparsity_main", "fig01_channel_distributions_main",
                        "fig08_block_output_distributions_main", "fig15_gradients_main",
                        "fig16_train_curves_main", "fig17_test_curves_main",
                        "fig16_17_epoch_stats_main")),
    Experiment("table1", "{VGG16, MobileNet} x {ReLU, Tanh} x {convention, swap} per data set",
               "Table 1, Figure 9", _table1, published_in="Table 1",
               claims=("orders_per_model",), figures=("fig09_layer_skewness_by_dataset_table1",)),
    Experiment("table2", "VGG16_11 x {Tanh, LeCun Tanh, Softsign} x {convention, swap}",
               "Table 2, Figure 13", _table2, published_in="Table 2",
               claims=("orders_per_activation",),
               figures=("fig13_layer_skewness_by_activation_table2",)),
    Experiment("depth", "swap VGG16_n, n = 8..16 (Tanh)", "Table 7, Figure 14", _depth,
               published_in="Table 7", claims=("best_depth",),
               figures=("fig14_layer_skewness_by_depth",)),
    Experiment("nwdbn-beta", "NWDBN with beta weight decay 0, 1e-4, ..., 1e-3",
               "Figure 5", _nwdbn_beta, follows="nwdbn", swept="bn_beta_wd",
               claims=("skewness_drives_accuracy",),
               figures=("fig05_accuracy_vs_skewness_nwdbn_beta",)),
    Experiment("swap-affine", "swap with BN affine weight decay 0, 1e-6, ..., 5e-4",
               "Figures 7, 18", _swap_affine, follows="swap", swept="bn_wd",
               claims=("sparsity_drives_accuracy",),
               figures=("fig07_accuracy_vs_sparsity_swap_affine",
                        "fig18_accuracy_sparsity_vs_affine_wd")),
    Experiment("nobn", "VGG16 Tanh: convention against no BN", "A.2, Figure 10", _nobn,
               published_in="Table 1", claims=("bn_against_nobn",),
               figures=("fig10_nobn_layer_saturation_skewness",)),
    Experiment("datasets", "swap VGG16 Tanh per data set (layer skewness)", "Figure 9",
               _datasets, figures=("fig09_layer_skewness_by_dataset",)),
    Experiment("resnet", "torchvision ResNet-18: Tanh convention against swap, ReLU convention "
               "as reference (cpu scale: width 1, 5,000 training images, 2 epochs)",
               "beyond the paper (README, Your own model)", _resnet,
               claims=("resnet_orders",), figures=("layer_metrics_resnet",),
               scale_overrides={"cpu": RESNET_CPU, "smoke": {"width": 1.0}}),
    Experiment("shifted", "VGG16_11: asymmetric Tanh tanh(x - 1) + 0.76 in convention order "
               "against Tanh convention and swap (cpu scale: 5,000 training images, 3 epochs)",
               "beyond the paper (its later version's asymmetric Tanh)", _shifted,
               claims=("shifted_asymmetry",), figures=("layer_metrics_shifted",),
               scale_overrides={"cpu": SHIFTED_CPU}),
)}


COMPARE = "compare"
COMPARE_ORDERS = ("convention", "swap", "nwdbn", "nobn")


def order_variants(scale: Scale | None = None) -> list[Variant]:
    """compare's variants, one per order (NWDBN: the convention order with no weight decay on
    BN); its recipe comes from the command's flags, whatever the scale."""
    return [Variant(order, {"order": "convention", "nwdbn": True} if order == "nwdbn"
                    else {"order": order}) for order in COMPARE_ORDERS]


# Experiments whose runs a command builds from its flags: reported like the paper's, never
# listed or swept as one of them.
ADHOC: dict[str, Experiment] = {e.name: e for e in (
    Experiment(COMPARE, "the same recipe in several orders over seeds (`swapbn compare`)",
               "Figures 1, 3 and 4 and section 5.2 for any model and data set", order_variants,
               columns=("order", "test_acc", "avg_saturation", "avg_skewness", "avg_sparsity",
                        "runs"),
               reference=COMPARE_ORDERS,
               figures=("compare_layer_metrics", "compare_channel_distributions")),
)}


def find_experiment(name: str) -> Experiment | None:
    """The experiment a run's tags name: one of the paper's or an ad-hoc one (compare); None
    for runs of neither (untagged or hand-tagged)."""
    return EXPERIMENTS.get(name) or ADHOC.get(name)


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise UsageError(f"unknown experiment {quoted(name)}; choose from {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def slug(text: str) -> str:
    """A readable folder-name fragment: 'tanh/swap' -> 'tanh-swap', 'beta_wd=1e-4' -> ..."""
    return re.sub(r"[^a-z0-9._]+", "-", text.lower().replace("=", "")).strip("-")


def dataset_root(data_root: str | None, dataset: str) -> str | None:
    """The folder of one data set: DATA_ROOT/<dataset> when that folder exists, else DATA_ROOT.

    So one root serves every data set (cifar10/, cifar100/, tinyimagenet/, imagenet/ beside
    each other), and a root that is itself the data set works for single-data-set sweeps.
    """
    if data_root is None or dataset == "digits":
        return None
    sub = Path(data_root).expanduser() / dataset
    return str(sub if sub.is_dir() else Path(data_root).expanduser())


def grid_variants(variants: list[Variant]) -> list[Variant]:
    """The variants that get a grid of their own: one per model, activation family and order,
    as the paper tuned them (LeCun Tanh and Softsign take Tanh's choice, NWDBN the
    convention's); no BN gets its own, to tell whether it trains at any grid point."""
    out, seen = [], set()
    for v in variants:
        o = v.overrides
        key = (o.get("arch"), activation_family(o.get("act", "tanh")), o.get("order"),
               o.get("dataset"), o.get("bn_beta_wd"), o.get("bn_gamma_wd"))
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def plan(name: str, scale: Scale, *, grid: bool = False, seeds: tuple[int, ...] | None = None,
         data_root: str | None = None, device: str | None = None,
         follow: dict | None = None) -> list[RunSpec]:
    """Every run of experiment `name` at `scale`, in a stable order.

    `grid` multiplies each variant by the paper's lr x wd grid; `follow` (lr and wd, e.g. the
    selected NWDBN or swap setting) overrides the hyperparameters of experiments that follow
    another model's.
    """
    experiment = get_experiment(name)
    runs: list[RunSpec] = []
    variants = experiment.variants(scale)
    if grid and scale.grid_seeds is not None:  # a recipe per setting, then all seeds
        variants = grid_variants(variants)
    for variant in variants:
        dataset = variant.overrides.get("dataset", scale.main_dataset)
        points = grid_points(dataset) if grid else [None]
        for point in points:
            config = {**scale.base, **experiment.extra,
                      **experiment.scale_overrides.get(scale.budget or scale.name, {}),
                      **variant.overrides}
            label = variant.label
            tags = {"experiment": name, "scale": scale.name, "setting": variant.label,
                    **variant.tags}
            if point is not None:
                config.update(point)
                label = f"{variant.label}/lr={point['lr']:g},wd={point['wd']:g}"
                tags.update({"lr": point["lr"], "wd": point["wd"], "grid": True})
            elif follow:
                config.update(follow)
                tags.update({k: follow[k] for k in ("lr", "wd") if k in follow})
            tags["variant"] = label
            root = dataset_root(data_root, dataset)
            if root is not None:
                config["data_root"] = root
            if device is not None:
                config["device"] = device
            default_seeds = scale.grid_seeds if grid and scale.grid_seeds else \
                scale.seeds_for(dataset)
            for seed in (seeds if seeds is not None else default_seeds):
                run_id = f"{name}-{slug(label)}-s{seed}"
                runs.append(RunSpec(run_id, {**config, "seed": int(seed), "tags": dict(tags)}))
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        raise AssertionError(f"experiment {name} has repeated run ids")
    return runs
