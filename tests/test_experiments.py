"""The experiment registry: the paper's runs at each scale, and every experiment run at smoke
scale end to end."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn

from swapbn.cli import main
from swapbn.experiments import EXPERIMENTS, SCALES, dataset_root, plan
from swapbn.experiments.estimates import count_macs
from swapbn.experiments.runner import resolve
from swapbn.models import build_model
from swapbn.presets import paper_recipe


@pytest.mark.parametrize("scale", list(SCALES))
def test_every_run_is_tagged_and_resolves(scale, monkeypatch):
    # every model, activation family and order with a chosen cpu-scale recipe
    recipes = {f"{arch}/{family}/{order}": {"lr": 0.01, "wd": 1e-3}
               for arch in ("vgg16", "vgg16_11", "mobilenet") for family in ("bounded", "relu")
               for order in ("convention", "swap")}
    monkeypatch.setattr("swapbn.presets.cpu_recipes", lambda: recipes)
    for name in EXPERIMENTS:
        runs = plan(name, SCALES[scale])
        assert runs and len({r.run_id for r in runs}) == len(runs)
        for r in runs:
            tags = r.tags
            assert tags["experiment"] == name and tags["scale"] == scale
            assert r.run_id.startswith(f"{name}-") and r.run_id.endswith(f"-s{r.config['seed']}")
            assert tags["setting"] == tags["variant"]  # no grid
            config = resolve(r)
            assert config["tags"] == tags
        # Seeds of one variant differ only in the seed.
        by_variant = {}
        for r in runs:
            by_variant.setdefault(r.tags["variant"], []).append(r)
        for group in by_variant.values():
            configs = [{k: v for k, v in g.config.items() if k != "seed"} for g in group]
            assert all(c == configs[0] for c in configs)


def test_paper_scale_follows_the_paper():
    paper = SCALES["paper"]
    table1 = plan("table1", paper)
    assert len(table1) == 8 * (3 + 3 + 3 + 1)  # 8 models x seeds; ImageNet has one seed
    assert {r.config["dataset"] for r in table1} == {"cifar10", "cifar100", "tinyimagenet",
                                                      "imagenet"}
    assert all(r.config["seed"] == 0 for r in table1 if r.config["dataset"] == "imagenet")
    table2 = plan("table2", paper)
    assert len(table2) == 18 and {r.config["arch"] for r in table2} == {"vgg16_11"}
    assert {r.config["dataset"] for r in table2} == {"cifar100"}
    # Table 3 recipes: convention lr 0.01, swap lr 0.1 on CIFAR-100, 200 epochs, drops 100/150.
    for r in table2:
        config = resolve(r)
        recipe = paper_recipe("vgg", config["act"], config["order"], "cifar100")
        assert (config["lr"], config["wd"], config["epochs"], config["milestones"],
                config["batch_size"]) == (recipe.lr, recipe.wd, 200, [100, 150], 128)
    depth = plan("depth", paper)
    assert sorted({r.tags["depth"] for r in depth}) == list(range(8, 17))


def test_weight_decay_experiments():
    beta = [resolve(r) for r in plan("nwdbn-beta", SCALES["smoke"])]
    assert [c["bn_beta_wd"] for c in beta] == pytest.approx([i * 1e-4 for i in range(11)])
    assert all(c["bn_gamma_wd"] == 0 and c["order"] == "convention" and c["nwdbn"]
               and c["tags"]["order"] == "nwdbn" for c in beta)
    affine = [resolve(r) for r in plan("swap-affine", SCALES["smoke"])]
    assert [c["bn_gamma_wd"] for c in affine] == [0, 1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4]
    assert all(c["bn_beta_wd"] == c["bn_gamma_wd"] and c["order"] == "swap" for c in affine)
    # Learning rate and conv weight decay follow the NWDBN / swap model (section 4.2, 5.3).
    paper_beta = resolve(plan("nwdbn-beta", SCALES["paper"])[0])
    nwdbn = resolve(next(r for r in plan("main", SCALES["paper"]) if r.tags["order"] == "nwdbn"))
    assert (paper_beta["lr"], paper_beta["wd"]) == (nwdbn["lr"], nwdbn["wd"])
    followed = plan("swap-affine", SCALES["paper"], follow={"lr": 0.01, "wd": 1e-3})
    assert all(r.config["lr"] == 0.01 and r.config["wd"] == 1e-3 for r in followed)


def test_main_tracks_statistics_every_epoch():
    for scale in SCALES.values():
        runs = plan("main", scale)
        orders = [r.tags["order"] for r in runs]
        assert sorted(set(orders), key=orders.index) == ["convention", "nwdbn", "swap"]
        assert all(r.config["stats_every"] == 1 for r in runs)


def test_data_root_rule(tmp_path):
    (tmp_path / "cifar100").mkdir()
    assert dataset_root(str(tmp_path), "cifar100") == str(tmp_path / "cifar100")
    assert dataset_root(str(tmp_path), "cifar10") == str(tmp_path)  # the root is the data set
    assert dataset_root(str(tmp_path), "digits") is None
    assert dataset_root(None, "cifar10") is None
    runs = plan("table1", SCALES["paper"], data_root=str(tmp_path))
    roots = {r.config["dataset"]: r.config["data_root"] for r in runs}
    assert roots["cifar100"] == str(tmp_path / "cifar100") and roots["imagenet"] == str(tmp_path)


def test_experiments_command_lists_every_experiment(capsys):
    assert main(["experiments"]) == 0
    out = capsys.readouterr().out
    for name in EXPERIMENTS:
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        counts = [len(plan(name, SCALES[s])) for s in SCALES]
        cells = re.findall(r"(\d+) +[\d.]+ (?:s|min|h|days|years)\b", line)
        assert [int(c) for c in cells] == counts
    assert "estimates" in out


def test_every_experiment_runs_at_smoke_scale(smoke_sweeps):
    for name in EXPERIMENTS:
        for r in plan(name, SCALES["smoke"]):
            run = smoke_sweeps / r.run_id
            final = json.loads((run / "final.json").read_text())
            config = json.loads((run / "config.json").read_text())
            assert final["status"] == "completed", (r.run_id, final.get("error"))
            assert config["tags"] == r.tags
            assert 0 <= final["final_test_acc"] <= 100
            assert final["stats"]["layers"]


def test_main_records_curves_channels_and_gradients(smoke_sweeps):
    for r in plan("main", SCALES["smoke"]):
        run = smoke_sweeps / r.run_id
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        assert len(lines) == r.config["epochs"] and all("stats" in x for x in lines)
        final = json.loads((run / "final.json").read_text())
        layers = len(final["stats"]["layers"])
        assert final["channels"] == "channels.npz" and len(final["gradients"]["layers"]) == layers
        with np.load(run / final["channels"]) as channels:
            assert len(channels["layers"]) == layers


@pytest.mark.parametrize("arch, size", [("vgg16_11", 32), ("mobilenet", 32), ("vgg16", 64),
                                        ("vgg16_8", 32)])
def test_mac_count_matches_a_forward_pass(arch, size):
    model = build_model(arch, num_classes=10, width=1 / 16, image_size=size).eval()
    seen = 0

    def hook(module, inputs, output):
        nonlocal seen
        if isinstance(module, nn.Conv2d):
            weight = module.weight
            seen += output[0].numel() * weight.shape[1] * weight.shape[2] * weight.shape[3]
        else:
            seen += module.weight.numel()

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    assert count_macs(model, size) == seen > 0
