"""`swapbn.report.load_runs` / `load_layers` on fabricated run directories with known numbers:
the report's tables rebuilt in one pandas line."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from report_fakes import ACC_STEP, METRIC_STEP, write_fake_sweep
from swapbn.cli import main
from swapbn.errors import UsageError

pd = pytest.importorskip("pandas")
from swapbn.report import load_layers, load_runs  # noqa: E402


@pytest.fixture(scope="module")
def fakes(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("frames")
    return root, write_fake_sweep(root)


def test_one_row_per_run_with_config_tags_and_results(fakes):
    root, made = fakes
    runs = load_runs(root)
    n_settings = sum(len(fs) for fs in made.values())
    assert len(runs) == 2 * n_settings + 2  # two seeds each, plus main's failed and unfinished
    assert set(runs.status) == {"completed", "failed", "incomplete"}
    main_runs = runs[runs.experiment == "main"].set_index("run")
    assert main_runs.loc["main-swap-s2", "status"] == "failed"
    assert not main_runs.loc["main-convention-s2", "completed"]
    nwdbn = main_runs.loc["main-nwdbn-s1"]
    # order is the report's key (nwdbn), the config's own fields stay as recorded.
    assert (nwdbn.order, bool(nwdbn.nwdbn), nwdbn["tags.variant"]) == ("nwdbn", True, "nwdbn")
    assert nwdbn.test_acc == 72.0 + ACC_STEP and nwdbn.seed == 1
    assert nwdbn.avg_sparsity == pytest.approx(0.28 + METRIC_STEP)
    # the grid point that lost the selection is marked
    grid = runs[runs.setting == "tanh/swap"]
    assert set(grid[grid.selected].lr) == {0.1} and set(grid[~grid.selected].lr) == {0.01}


def test_the_report_table_in_one_line(fakes, tmp_path):
    root, _ = fakes
    out = tmp_path / "report"
    assert main(["report", str(root), "--out", str(out), "--quiet"]) == 0
    with (out / "table2.csv").open(newline="") as f:
        table = {r["setting"]: r for r in csv.DictReader(f)}
    runs = load_runs(root)
    ours = (runs[runs.completed & runs.selected & (runs.experiment == "table2")]
            .groupby("setting").test_acc.agg(["mean", "std", "count"]))
    assert sorted(ours.index) == sorted(table)
    for setting, row in ours.iterrows():
        assert row["mean"] == pytest.approx(float(table[setting]["test_acc_mean"]), abs=1e-6)
        assert row["std"] == pytest.approx(float(table[setting]["test_acc_std"]), abs=1e-6)
        assert row["std"] == pytest.approx(ACC_STEP / math.sqrt(2))


def test_one_row_per_run_and_layer(fakes):
    root, made = fakes
    layers = load_layers(root)
    runs = load_runs(root)
    with_stats = runs[runs.status != "incomplete"]  # the unfinished run has no final record
    expected = sum(f.layers * 2 for fs in made.values() for f in fs) + made["main"][2].layers
    assert len(layers) == expected
    assert len(with_stats) == layers.run.nunique()
    # The layers average to the model averages the runs record.
    per_run = layers.groupby("run")[["skewness", "sparsity"]].mean()
    joined = per_run.join(runs.set_index("run")[["avg_skewness", "avg_sparsity"]])
    assert np.allclose(joined.skewness, joined.avg_skewness)
    assert np.allclose(joined.sparsity, joined.avg_sparsity)
    first = layers[(layers.run == "depth-vgg16_8-s0")].sort_values("layer")
    assert list(first.name) == [f"features.{i}" for i in range(7)]


def test_a_missing_folder_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="is not a directory"):
        load_runs(tmp_path / "missing")
