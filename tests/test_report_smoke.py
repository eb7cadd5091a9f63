"""`swapbn report` on real run directories: every experiment trained at smoke scale."""

from __future__ import annotations

import csv
import math

import pytest

from png_checks import EVERY_FIGURE, assert_png_drawn
from swapbn.cli import main
from swapbn.experiments import EXPERIMENTS, SCALES, plan

pytestmark = pytest.mark.slow  # reports on smoke_sweeps (every experiment, ~47 runs)


@pytest.fixture(scope="module")
def smoke_report(smoke_sweeps, tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke-report")
    assert main(["report", str(smoke_sweeps), "--out", str(out), "--quiet"]) == 0
    return out


def test_smoke_report_has_every_figure(smoke_report):
    for name in EVERY_FIGURE:
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
