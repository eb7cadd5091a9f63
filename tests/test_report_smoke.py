"""`swapbn report` on real run directories: every experiment trained at smoke scale."""

from __future__ import annotations

import csv
import math

import pytest

from png_checks import assert_png_drawn
from swapbn.cli import main
from swapbn.experiments import EXPERIMENTS, SCALES, plan

SMOKE_FIGURES = (
    "fig01_channel_distributions_main", "fig03_layer_saturation_main",
    "fig04_layer_skewness_main", "sec52_layer_sparsity_main",
    "fig08_block_output_distributions_main", "fig15_gradients_main",
    "fig16_train_curves_main", "fig17_test_curves_main", "fig16_17_epoch_stats_main",
    "fig09_layer_skewness_by_dataset_table1", "fig09_layer_skewness_by_dataset",
    "fig13_layer_skewness_by_activation_table2", "fig14_layer_skewness_by_depth",
    "fig10_nobn_layer_saturation_skewness", "fig05_accuracy_vs_skewness_nwdbn_beta",
    "fig07_accuracy_vs_sparsity_swap_affine", "fig18_accuracy_sparsity_vs_affine_wd",
)


@pytest.fixture(scope="module")
def smoke_report(smoke_sweeps, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("smoke-report")
    assert main(["report", str(smoke_sweeps), "--out", str(out), "--quiet"]) == 0
    return out


def test_smoke_report_has_every_figure(smoke_report):
    for name in SMOKE_FIGURES:
        assert_png_drawn(smoke_report / f"{name}.png")


def test_smoke_report_tables_have_every_setting(smoke_report):
    readme = (smoke_report / "README.md").read_text()
    for name in EXPERIMENTS:
        settings = {spec.tags["setting"] for spec in plan(name, SCALES["smoke"])}
        with (smoke_report / f"{name.replace('-', '_')}.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        assert {r["setting"] for r in rows} == settings, name
        for r in rows:
            assert r["seeds_completed"] == r["seeds_total"] == "1"
            assert 0 <= float(r["test_acc_mean"]) <= 100
            assert 0 <= float(r["avg_sparsity_mean"]) <= 1
            assert math.isfinite(float(r["avg_skewness_mean"]))
        assert f"## {name}" in readme
    assert "Runs not in the means" not in readme
