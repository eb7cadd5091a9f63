"""The paper's recipes (appendix A.1, Tables 3-6) against the project's preset code, cell by cell.

The tables below are copied from the paper's text (columns: convention CIFAR-10, CIFAR-100,
Tiny ImageNet, ImageNet, then swap in the same order), independently of swapbn.presets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swapbn.data import DATASETS
from swapbn.errors import UsageError
from swapbn.presets import PAPER, PRESET_DATASETS, paper_recipe
from swapbn.training.config import TrainConfig

PAPER_TABLES = {
    # Table 3: Training hyperparameters of the VGG16 Tanh models
    ("vgg", "bounded"): """
Training Epochs | 200 | 200 | 200 | 100 | 200 | 200 | 200 | 100
Learning Rate | 0.1 | 0.01 | 0.01 | 0.01 | 0.01 | 0.1 | 0.01 | 0.01
Learning Rate Drop | 100, 150 | 100, 150 | 100, 150 | 30, 60 | 100, 150 | 100, 150 | 100, 150 | 60, 90
Weight Decay | 0.0001 | 0.0005 | 0.001 | 0.0001 | 0.001 | 0.0005 | 0.001 | 0.001
Batch Size | 128 | 128 | 128 | 256 | 128 | 128 | 128 | 256
""",
    # Table 4: Training hyperparameters of the VGG16 ReLU models
    ("vgg", "relu"): """
Training Epochs | 200 | 200 | 200 | 100 | 200 | 200 | 200 | 100
Learning Rate | 0.01 | 0.01 | 0.1 | 0.1 | 0.01 | 0.01 | 0.01 | 0.01
Learning Rate Drop | 100, 150 | 100, 150 | 100, 150 | 30, 60 | 100, 150 | 100, 150 | 100, 150 | 60, 90
Weight Decay | 0.001 | 0.005 | 0.0001 | 0.0001 | 0.001 | 0.005 | 0.001 | 0.0005
Batch Size | 128 | 128 | 128 | 256 | 128 | 128 | 128 | 256
""",
    # Table 5: Training hyperparameters of the MobileNet Tanh models
    ("mobilenet", "bounded"): """
Training Epochs | 200 | 200 | 200 | 100 | 200 | 200 | 200 | 100
Learning Rate | 0.1 | 0.1 | 0.01 | 0.1 | 0.1 | 0.1 | 0.1 | 0.1
Learning Rate Drop | 100, 150 | 100, 150 | 100, 150 | 30, 60 | 100, 150 | 100, 150 | 100, 150 | 60, 90
Weight Decay | 0.0001 | 0.0005 | 0.0001 | 0.0001 | 0.0001 | 0.0005 | 0.0001 | 0.0001
Batch Size | 128 | 128 | 128 | 256 | 128 | 128 | 128 | 256
""",
    # Table 6: Training hyperparameters of the MobileNet ReLU models
    ("mobilenet", "relu"): """
Training Epochs | 200 | 200 | 200 | 100 | 200 | 200 | 200 | 100
Learning Rate | 0.01 | 0.01 | 0.01 | 0.01 | 0.01 | 0.01 | 0.01 | 0.1
Learning Rate Drop | 100, 150 | 100, 150 | 100, 150 | 30, 60 | 100, 150 | 100, 150 | 100, 150 | 60, 90
Weight Decay | 0.001 | 0.005 | 0.005 | 0.0001 | 0.001 | 0.005 | 0.005 | 0.0001
Batch Size | 128 | 128 | 128 | 256 | 128 | 128 | 128 | 256
""",
}

COLUMNS = [(order, dataset) for order in ("convention", "swap")
           for dataset in ("cifar10", "cifar100", "tinyimagenet", "imagenet")]
TABLES_JSON = Path(__file__).resolve().parents[2] / "shared" / "paper" / "tables.json"


def parse(table: str) -> dict[tuple[str, str], dict]:
    """{(order, dataset): {epochs, lr, milestones, wd, batch_size}} from one literal table."""
    rows = {}
    for line in table.strip().splitlines():
        label, *cells = [c.strip() for c in line.split("|")]
        rows[label] = cells
    assert all(len(cells) == 8 for cells in rows.values())
    return {col: {"epochs": int(rows["Training Epochs"][i]),
                  "lr": float(rows["Learning Rate"][i]),
                  "milestones": [int(m) for m in rows["Learning Rate Drop"][i].split(",")],
                  "wd": float(rows["Weight Decay"][i]),
                  "batch_size": int(rows["Batch Size"][i])}
            for i, col in enumerate(COLUMNS)}


CELLS = [(family, act_family, order, dataset, expected)
         for (family, act_family), table in PAPER_TABLES.items()
         for (order, dataset), expected in parse(table).items()]


def test_the_presets_hold_exactly_the_papers_cells() -> None:
    """No recipe missing and none the paper does not have (a stray or misspelt key)."""
    paper_cells = {(family, act_family, order, dataset)
                   for family, act_family, order, dataset, _ in CELLS}
    assert len(paper_cells) == 4 * 8
    assert set(PAPER) == paper_cells


@pytest.mark.parametrize(("family", "act_family", "order", "dataset", "expected"), CELLS)
def test_preset_equals_paper_cell(family, act_family, order, dataset, expected) -> None:
    assert PAPER[(family, act_family, order, dataset)].to_dict() == expected


@pytest.mark.parametrize("act", ["tanh", "lecun_tanh", "softsign", "shifted_tanh"])
def test_bounded_activations_use_the_tanh_table(act: str) -> None:
    expected = parse(PAPER_TABLES[("vgg", "bounded")])
    for order, dataset in COLUMNS:
        assert paper_recipe("vgg", act, order, dataset).to_dict() == expected[(order, dataset)]
    relu = parse(PAPER_TABLES[("mobilenet", "relu")])
    assert paper_recipe("mobilenet", "relu", "swap", "imagenet").to_dict() == \
        relu[("swap", "imagenet")]


def test_nobn_and_nwdbn_use_the_convention_column() -> None:
    expected = parse(PAPER_TABLES[("vgg", "bounded")])[("convention", "cifar100")]
    for order, nwdbn in (("nobn", False), ("convention", True)):
        config = TrainConfig(arch="vgg16_11", act="tanh", order=order, dataset="cifar100",
                             preset="paper", nwdbn=nwdbn).resolve()
        got = {k: getattr(config, k) for k in expected}
        assert got == expected
    nwdbn = TrainConfig(order="convention", dataset="cifar100", preset="paper", nwdbn=True)
    assert (nwdbn.resolve().bn_gamma_wd, nwdbn.resolve().bn_beta_wd) == (0.0, 0.0)


def test_explicit_values_override_the_preset() -> None:
    config = TrainConfig(arch="vgg16", act="tanh", order="swap", dataset="cifar10",
                         preset="paper", lr=0.05, batch_size=64).resolve()
    assert (config.lr, config.batch_size, config.epochs, config.wd) == (0.05, 64, 200, 1e-3)
    assert config.milestones == [100, 150]
    # Fewer epochs keep the milestones at the paper's fractions (ImageNet swap: 60% and 90%).
    short = TrainConfig(arch="mobilenet", act="relu", order="swap", dataset="imagenet",
                        preset="paper", epochs=10).resolve()
    assert short.milestones == [6, 9] and short.lr == 0.1


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_the_preset_resolves_exactly_for_the_papers_data_sets(dataset: str) -> None:
    """Every data set the project loads: the paper's four get their table column, any other
    is a usage error naming the four (the set of data sets comes from the tables above)."""
    paper_datasets = [d for _, d in COLUMNS[:4]]
    config = TrainConfig(arch="vgg16", act="tanh", order="swap", dataset=dataset, preset="paper")
    if dataset in paper_datasets:
        expected = parse(PAPER_TABLES[("vgg", "bounded")])[("swap", dataset)]
        resolved = config.resolve()
        assert {k: getattr(resolved, k) for k in expected} == expected
    else:
        with pytest.raises(UsageError, match=", ".join(paper_datasets)):
            config.resolve()
    assert set(PRESET_DATASETS) <= set(DATASETS)  # every preset data set can be loaded


def test_matches_the_shared_transcription() -> None:
    if not TABLES_JSON.is_file():
        pytest.skip(f"{TABLES_JSON} is absent")
    hyper = json.loads(TABLES_JSON.read_text())["hyperparameters"]
    names = {("vgg", "bounded"): "vgg16_tanh", ("vgg", "relu"): "vgg16_relu",
             ("mobilenet", "bounded"): "mobilenet_tanh", ("mobilenet", "relu"): "mobilenet_relu"}
    for (family, act_family), name in names.items():
        for order, dataset in COLUMNS:
            epochs, lr, milestones, wd, bs = hyper[name][order][dataset]
            recipe = PAPER[(family, act_family, order, dataset)].to_dict()
            assert recipe == {"epochs": epochs, "lr": lr, "milestones": milestones, "wd": wd,
                              "batch_size": bs}
