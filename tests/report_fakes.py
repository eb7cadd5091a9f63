"""Run directories written by hand in the documented format, with known numbers.

Every run's accuracy and model averages are chosen so that means and standard deviations over
seeds are known exactly: seed s adds s * step to a setting's base value (two seeds: mean
base + step / 2, sample std step / sqrt(2)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swapbn.metrics import ChannelSamples
from swapbn.report.aggregate import Group, group_runs
from swapbn.report.runs import Run
from swapbn.rundir import FinalRecord, RunDir

SEEDS = (0, 1)
ACC_STEP = 2.0      # test accuracy: base, base + 2  -> mean base + 1, std sqrt(2)
METRIC_STEP = 0.02  # model averages: base, base + 0.02 -> mean base + 0.01, std 0.02 / sqrt(2)


@dataclass
class Fake:
    experiment: str
    setting: str
    tags: dict
    config: dict
    acc: float
    sat: float | None
    skew: float
    sparsity: float
    layers: int = 6
    scale: str = "smoke"
    variant: str | None = None
    extra_tags: dict = field(default_factory=dict)


def _layers(n: int, sat: float | None, skew: float, sparsity: float) -> list[dict]:
    # A zero-mean pattern over layers keeps the model averages equal to the given values.
    pattern = np.linspace(-0.05, 0.05, n)
    out = []
    for i in range(n):
        s = None if sat is None else float(sat + pattern[i])
        k = float(skew + pattern[::-1][i])
        out.append({"name": f"features.{i}", "kind": "conv" if i < n - 2 else "fc",
                    "channels": 8, "saturation": s, "skewness": k, "skewness_signed": -k,
                    "constant_channels": 0, "sparsity": float(sparsity + pattern[i]),
                    "empirical_saturation": float(1 - sparsity - pattern[i])})
    return out


def _stats(n: int, sat: float | None, skew: float, sparsity: float) -> dict:
    layers = _layers(n, sat, skew, sparsity)
    return {"layers": layers,
            "avg_saturation": None if sat is None else float(np.mean(
                [la["saturation"] for la in layers])),
            "avg_skewness": float(np.mean([la["skewness"] for la in layers])),
            "avg_sparsity": float(np.mean([la["sparsity"] for la in layers]))}


def write_run(root: Path, f: Fake, seed: int, status: str | None = "completed",
              epochs: int = 3, channels: bool = False) -> Path:
    variant = f.variant or f.setting
    path = root / f"{f.experiment}-{variant.replace('/', '-').replace('=', '')}-s{seed}"
    path.mkdir(parents=True)
    run = RunDir(path)
    tags = {"experiment": f.experiment, "scale": f.scale, "setting": f.setting,
            "variant": variant, **f.tags, **f.extra_tags}
    config = {"act": "tanh", "order": "swap", "dataset": "digits", "epochs": epochs,
              "lr": 0.1, "wd": 5e-4, "nwdbn": False, **f.config, "seed": seed, "tags": tags}
    run.write_config(config)
    d = seed * METRIC_STEP
    sat = None if f.sat is None else f.sat + d
    acc = f.acc + seed * ACC_STEP
    lines = []
    for e in range(1, epochs + 1):
        lines.append({"epoch": e, "train_loss": 2.0 / e, "train_acc": acc * e / epochs,
                      "test_loss": 2.2 / e, "test_acc": acc * e / epochs, "lr": 0.1,
                      "images_per_s": 1000.0, "seconds": 1.0,
                      "stats": _stats(f.layers, sat, f.skew * e / epochs, f.sparsity)})
    run.write_metrics(lines)
    if status is None:  # still running: no final.json
        return path
    samples = None
    if channels:
        rng = np.random.default_rng(seed)
        names = [f"features.{i}" for i in range(f.layers)]
        arrays = {"layers": np.array(names)}
        for name in names:
            arrays[f"channels/{name}"] = np.arange(3)
            for site, shift in (("act", f.skew), ("block", 0.0)):
                v = np.tanh(rng.normal(shift * 0.5, 1.0, size=(3, 400))).astype(np.float32)
                arrays[f"{site}/{name}"] = v
                arrays[f"{site}_layer/{name}"] = v.reshape(-1)
        samples = run.save_channels(ChannelSamples(arrays))
    run.write_final(FinalRecord(
        status=status, final_test_acc=acc, best_test_acc=acc, epochs_completed=epochs,
        seconds=3.0, error=None if status == "completed" else "RuntimeError: fabricated failure",
        stats=_stats(f.layers, sat, f.skew + d, f.sparsity + d),
        gradients={"batches": 2, "samples": 64, "layers": [
            {"name": f"features.{i}", "input_abs_mean": 0.5 + 0.1 * i + d,
             "weight_grad_abs_mean": 1e-3 * (i + 1), "act_input_grad_abs_mean": 1e-2 / (i + 1)}
            for i in range(f.layers)]},
        channels=samples))
    return path


def _main() -> list[Fake]:
    base = {"arch": "vgg16_11", "act": "tanh", "dataset": "cifar100"}
    return [
        Fake("main", "convention", {"order": "convention"}, {**base, "order": "convention"},
             69.0, 0.40, 0.30, 0.70, layers=10, scale="paper"),
        Fake("main", "nwdbn", {"order": "nwdbn"}, {**base, "order": "convention", "nwdbn": True},
             72.0, 0.55, 0.80, 0.28, layers=10, scale="paper"),
        Fake("main", "swap", {"order": "swap"}, {**base, "order": "swap"},
             74.0, 0.75, 2.00, 0.84, layers=10, scale="paper"),
    ]


def _table1() -> list[Fake]:
    out = []
    accs = {("tanh", "convention"): 50.0, ("tanh", "swap"): 55.0,
            ("relu", "convention"): 60.0, ("relu", "swap"): 58.0}
    for dataset in ("digits", "cifar10"):
        for (act, order), acc in accs.items():
            keys = {"arch": "vgg16", "act": act, "order": order, "dataset": dataset}
            out.append(Fake("table1", f"vgg16/{act}/{order}/{dataset}", keys, keys, acc,
                            None if act == "relu" else (0.7 if order == "swap" else 0.4),
                            1.5 if order == "swap" else 0.4 + (0.1 if dataset == "cifar10" else 0),
                            0.8 if order == "swap" else 0.6))
    return out


def _table2() -> list[Fake]:
    out = []
    # softsign: swap 2 points below convention (not resolved with two seeds).
    accs = {"tanh": (60.0, 66.0), "lecun_tanh": (58.0, 65.0), "softsign": (64.0, 62.0)}
    for act, (conv, swap) in accs.items():
        for order, acc in (("convention", conv), ("swap", swap)):
            keys = {"act": act, "order": order, "arch": "vgg16_11"}
            out.append(Fake("table2", f"{act}/{order}", keys, keys, acc,
                            0.7 if order == "swap" else 0.4,
                            2.0 if order == "swap" else 0.5, 0.8 if order == "swap" else 0.6))
    # tanh/swap was run on a grid: lr 0.1 (mean 67) beats lr 0.01 (mean 64).
    for f in out:
        if f.setting == "tanh/swap":
            f.variant = "tanh/swap/lr=0.1,wd=0.0005"
            f.extra_tags = {"lr": 0.1, "wd": 5e-4, "grid": True}
    keys = {"act": "tanh", "order": "swap", "arch": "vgg16_11"}
    out.append(Fake("table2", "tanh/swap", keys, {**keys, "lr": 0.01}, 63.0, 0.5, 1.0, 0.7,
                    variant="tanh/swap/lr=0.01,wd=0.0005",
                    extra_tags={"lr": 0.01, "wd": 5e-4, "grid": True}))
    return out


def _depth() -> list[Fake]:
    accs = {8: 50.0, 9: 52.0, 10: 55.0, 11: 54.0, 12: 51.0}
    return [Fake("depth", f"vgg16_{n}", {"arch": f"vgg16_{n}", "depth": n, "order": "swap"},
                 {"arch": f"vgg16_{n}", "order": "swap"}, acc, 0.7, 2.0 - 0.1 * n, 0.8,
                 layers=n - 1) for n, acc in accs.items()]


def _nwdbn_beta() -> list[Fake]:
    out = []
    for i, wd in enumerate((0.0, 2e-4, 5e-4, 1e-3)):
        out.append(Fake("nwdbn-beta", f"beta_wd={wd:g}", {"order": "nwdbn", "bn_beta_wd": wd},
                        {"order": "convention", "nwdbn": True, "bn_beta_wd": wd,
                         "bn_gamma_wd": 0.0}, 72.0 - 1.5 * i, 0.5, 1.2 - 0.25 * i, 0.3))
    return out


def _swap_affine() -> list[Fake]:
    out = []
    for i, wd in enumerate((0.0, 1e-5, 1e-4, 5e-4)):
        out.append(Fake("swap-affine", f"bn_wd={wd:g}", {"order": "swap", "bn_wd": wd},
                        {"order": "swap", "bn_gamma_wd": wd, "bn_beta_wd": wd},
                        74.0 - 2.0 * i, 0.7, 1.5, 0.85 - 0.1 * i))
    return out


def _nobn() -> list[Fake]:
    base = {"arch": "vgg16", "act": "tanh"}
    return [Fake("nobn", "convention", {"order": "convention"}, {**base, "order": "convention"},
                 64.0, 0.45, 0.5, 0.6, layers=15),
            Fake("nobn", "nobn", {"order": "nobn"}, {**base, "order": "nobn"},
                 60.0, 0.65, 1.1, 0.4, layers=15)]


def _datasets() -> list[Fake]:
    return [Fake("datasets", ds, {"dataset": ds, "arch": "vgg16", "order": "swap"},
                 {"arch": "vgg16", "order": "swap", "dataset": ds}, 70.0, 0.7, sk, 0.8,
                 layers=15) for ds, sk in (("digits", 1.0), ("cifar10", 1.6))]


ALL = (_main, _table1, _table2, _depth, _nwdbn_beta, _swap_affine, _nobn, _datasets)


def write_fake_sweep(root: Path) -> dict[str, list[Fake]]:
    """Two completed seeds of every setting; main also has a failed and an unfinished run."""
    made = {}
    for make in ALL:
        fakes = make()
        for f in fakes:
            for seed in SEEDS:
                write_run(root, f, seed, channels=f.experiment == "main")
        made[fakes[0].experiment] = fakes
    main = {f.setting: f for f in made["main"]}
    write_run(root, main["swap"], 2, status="failed")
    write_run(root, main["convention"], 2, status=None)
    return made


def compare_groups(runs: list[dict]) -> list[Group]:
    """The report's groups of in-memory `swapbn compare` runs, one per order, given as rows of
    order, status, final_test_acc, best_test_acc and the three model averages."""
    made = [Run(path=Path(f"{r['order']}-s{i}"),
                config={"seed": i, "tags": {"experiment": "compare", "variant": r["order"]}},
                final={"status": r["status"], "final_test_acc": r["final_test_acc"],
                       "best_test_acc": r["best_test_acc"],
                       "stats": {k: r[k] for k in ("avg_saturation", "avg_skewness",
                                                   "avg_sparsity")}})
            for i, r in enumerate(runs)]
    return group_runs(made)["compare"]
