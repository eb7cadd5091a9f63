"""`swapbn report` over run directories with known numbers: aggregation, directions, figures."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from png_checks import BEYOND_PAPER_FIGURES, EVERY_FIGURE, assert_png_drawn
from report_fakes import ACC_STEP, METRIC_STEP, SEEDS, Fake, write_fake_sweep, write_run
from swapbn.cli import main
from swapbn.experiments import EXPERIMENTS
from swapbn.intervals import Summary
from swapbn.report.directions import CLAIMS
from swapbn.report.figures import COMPARE_FIGURES, FIGURES

EXPERIMENT_CSVS = ("main", "table1", "table2", "depth", "nwdbn_beta", "swap_affine", "nobn",
                   "datasets")


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def fake_report(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("fake-runs")
    made = write_fake_sweep(root)
    out = tmp_path_factory.mktemp("fake-report")
    assert main(["report", str(root), "--out", str(out), "--quiet"]) == 0
    return root, out, made


def test_every_table_and_figure_is_written(fake_report):
    _, out, made = fake_report
    for name in EVERY_FIGURE:
        assert_png_drawn(out / f"{name}.png")
    for name in EXPERIMENT_CSVS:
        rows = read_csv(out / f"{name}.csv")
        experiment = rows[0]["experiment"]
        assert {r["setting"] for r in rows} == {f.setting for f in made[experiment]}
    readme = (out / "README.md").read_text()
    for experiment, fakes in made.items():
        assert f"## {experiment}" in readme
        for f in fakes:
            assert f"| {f.setting}" in readme


def _final_values(root: Path, experiment: str, variant: str, metric: str) -> list[float]:
    """Independent reading of the fabricated final.json files of one variant."""
    values = []
    for cfg in root.glob("*/config.json"):
        config = json.loads(cfg.read_text())
        tags = config["tags"]
        final_path = cfg.parent / "final.json"
        if tags["experiment"] != experiment or tags["variant"] != variant or \
                not final_path.exists():
            continue
        final = json.loads(final_path.read_text())
        if final["status"] != "completed":
            continue
        if metric == "test_acc":
            values.append(final["final_test_acc"])
        elif metric == "max_saturation":
            sats = [la["saturation"] for la in final["stats"]["layers"]]
            if None not in sats:
                values.append(max(sats))
        elif final["stats"][metric] is not None:
            values.append(final["stats"][metric])
    return values


def test_only_an_experiment_naming_a_reference_gets_a_differences_table(fake_report):
    _, out, made = fake_report
    assert "compare" not in made and not any(e.reference for e in EXPERIMENTS.values())
    assert "Differences over seeds" not in (out / "README.md").read_text()


def test_means_and_stds_over_seeds_are_exact(fake_report):
    root, out, _ = fake_report
    checked = 0
    for name in EXPERIMENT_CSVS:
        for row in read_csv(out / f"{name}.csv"):
            for metric in ("test_acc", "avg_saturation", "max_saturation", "avg_skewness",
                           "avg_sparsity"):
                v = _final_values(root, row["experiment"], row["variant"], metric)
                if not v:
                    assert row[f"{metric}_mean"] == ""
                    continue
                assert float(row[f"{metric}_mean"]) == pytest.approx(np.mean(v), abs=1e-6)
                assert float(row[f"{metric}_std"]) == pytest.approx(np.std(v, ddof=1), abs=1e-6)
                checked += 1
    assert checked > 150
    main_rows = {r["setting"]: r for r in read_csv(out / "main.csv")}
    swap = main_rows["swap"]
    # seeds 0 and 1 completed (74, 76); seed 2 failed and stays out of the mean.
    assert (swap["seeds_completed"], swap["seeds_total"]) == ("2", "3")
    assert float(swap["test_acc_mean"]) == 75.0
    assert float(swap["test_acc_std"]) == pytest.approx(math.sqrt(2), abs=1e-6)
    assert float(swap["avg_sparsity_mean"]) == pytest.approx(0.85)
    assert float(swap["avg_sparsity_std"]) == pytest.approx(0.02 / math.sqrt(2), abs=1e-6)
    assert float(swap["max_saturation_mean"]) == pytest.approx(0.75 + 0.01 + 0.05)
    # paper scale: the published number stands beside the run.
    assert float(swap["paper_test_acc"]) == 74.11
    assert float(main_rows["nwdbn"]["paper_test_acc"]) == 72.27
    assert main_rows["convention"]["seeds_total"] == "3"  # the unfinished run is counted
    # smoke scale: no paper number beside it.
    assert all(r["paper_test_acc"] == "" for r in read_csv(out / "table2.csv"))


def test_grid_selection_keeps_the_best_mean(fake_report):
    _, out, _ = fake_report
    rows = [r for r in read_csv(out / "table2.csv") if r["setting"] == "tanh/swap"]
    assert len(rows) == 1
    assert float(rows[0]["lr"]) == 0.1
    assert float(rows[0]["test_acc_mean"]) == 67.0
    readme = (out / "README.md").read_text()
    assert "Grid selection" in readme and "64.00 ± 1.41" in readme


def test_direction_column(fake_report):
    _, out, _ = fake_report
    verdicts, rows = {}, {}
    for name in ("main", "table1", "table2", "depth", "nwdbn_beta", "swap_affine", "nobn"):
        for r in read_csv(out / f"{name}_directions.csv"):
            verdicts[(r["experiment"], r["claim"])] = (r["verdict"], r["paper"], r["here"])
            rows[(r["experiment"], r["claim"])] = r
    # Two seeds a side, both shifted by the same step: sd = step / sqrt(2) on each side, so
    # Welch's interval has 2 degrees of freedom and half-width t(0.975, 2) * step / sqrt(2).
    for key, r in rows.items():
        if r["difference"] == "":
            continue
        step = ACC_STEP if "test acc" in key[1] else METRIC_STEP
        half = stats.t.ppf(0.975, 2) * step / math.sqrt(2)
        diff = float(r["difference"])
        assert (float(r["ci_low"]), float(r["ci_high"])) == pytest.approx(
            (diff - half, diff + half), abs=2e-6), key
        expected = "holds" if diff > half else "opposite" if diff < -half else "not resolved"
        assert r["verdict"] == expected, key
    # softsign: swap 2 points below convention, within the interval of two seeds.
    softsign = rows[("table2", "softsign: swap test acc > convention")]
    assert float(softsign["difference"]) == pytest.approx(-2.0)
    assert softsign["verdict"] == "not resolved" and int(softsign["seeds_to_resolve"]) > 2
    # tanh: 6 points with sd sqrt(2) a side; 2 seeds give half-width 6.09, 3 seeds resolve it.
    tanh = rows[("table2", "tanh: swap test acc > convention")]
    assert (float(tanh["difference"]), tanh["verdict"], tanh["seeds_to_resolve"]) == (
        6.0, "not resolved", "3")
    assert rows[("table2", "lecun_tanh: swap test acc > convention")]["verdict"] == "holds"
    assert verdicts[("table2", "tanh: swap - convention avg skewness > 0")][1] == "+2.38"
    assert verdicts[("main", "swap avg sparsity > convention")] == ("holds", "0.849 vs 0.718",
                                                                   "0.85 vs 0.71")
    assert verdicts[("main", "swap max layer saturation > convention")][1] == "0.86 vs 0.45"
    # ReLU: the paper's Table 1 puts convention above swap on CIFAR-10 for VGG16.
    assert verdicts[("table1", "vgg16 relu cifar10: convention test acc > swap")][0] == \
        "not resolved"  # 2 points apart
    assert verdicts[("nwdbn-beta", "test acc rises with avg skewness")][0] == "holds"
    assert verdicts[("nwdbn-beta", "avg skewness falls as beta weight decay grows")][0] == "holds"
    assert verdicts[("swap-affine", "test acc rises with avg sparsity")][0] == "holds"
    assert verdicts[("depth", "best depth lies strictly between the shallowest and deepest")][
        :1] == ("holds",)
    assert verdicts[("depth", "vgg16_11 test acc > vgg16")][0] == "n/a"  # no depth 16 run
    assert verdicts[("nobn", "convention test acc > NoBN")][0] == "not resolved"  # 4 points
    readme = (out / "README.md").read_text()
    assert "| tanh: swap test acc > convention | 74.11 vs 69.5 | 67 vs 61 | +6 [-0.0849, +12.1] " \
        "| not resolved | ~3 |" in readme


def test_left_out_runs_are_listed(fake_report):
    _, out, _ = fake_report
    readme = (out / "README.md").read_text()
    section = readme.split("## Runs not in the means")[1]
    assert "main-swap-s2" in section and "failed" in section and "fabricated failure" in section
    assert "main-convention-s2" in section and "incomplete" in section


def test_report_defaults_to_dir_report_and_misses_become_na(tmp_path):
    fake = Fake("nobn", "convention", {"order": "convention"},
                {"arch": "vgg16", "act": "tanh", "order": "convention"}, 50.0, 0.4, 0.5, 0.6)
    write_run(tmp_path, fake, 0)
    assert main(["report", str(tmp_path), "--quiet"]) == 0
    out = tmp_path / "report"
    rows = read_csv(out / "nobn.csv")
    assert len(rows) == 1 and rows[0]["test_acc_std"] == ""  # one seed: no std
    assert {r["verdict"] for r in read_csv(out / "nobn_directions.csv")} == {"n/a"}
    assert_png_drawn(out / "fig10_nobn_layer_saturation_skewness.png")
    # a second report does not read its own output folder as runs
    assert main(["report", str(tmp_path), "--quiet"]) == 0
    assert len(read_csv(out / "nobn.csv")) == 1


def test_a_claim_on_a_setting_at_chance_reads_did_not_train(tmp_path, capsys):
    """No BN at chance (10 % and 12 % of 1,000 test images: p > 0.001 for ten classes) did not
    train at this budget: its claims are neither support nor refutation, whatever the means.
    A labelled stand-in that trains (a shallower no-BN model) is named so and stays out of them."""
    base = {"arch": "vgg16", "act": "tanh"}
    for fake in (Fake("nobn", "convention", {"order": "convention"},
                      {**base, "order": "convention"}, 60.0, 0.4, 0.5, 0.6),
                 Fake("nobn", "nobn", {"order": "nobn"}, {**base, "order": "nobn"},
                      10.0, 0.1, 0.9, 0.5),
                 Fake("nobn", "vgg16_11/nobn", {"order": "nobn", "arch": "vgg16_11",
                                                "stand_in": "true"},
                      {**base, "arch": "vgg16_11", "order": "nobn", "lr": 0.01, "wd": 5e-3},
                      40.0, 0.2, 2.0, 0.5)):
        for seed in SEEDS:
            write_run(tmp_path, fake, seed)
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    rows = {r["claim"]: r for r in read_csv(tmp_path / "out" / "nobn_directions.csv")}
    acc, skew = rows["convention test acc > NoBN"], rows["NoBN avg skewness > convention (Figure 10)"]
    assert acc["here"] == "61 vs 11" and skew["here"] == "0.91 vs 0.51"
    for r in (acc, skew):
        assert r["verdict"] == "did not train at this budget" and r["difference"] == ""
    assert "holds 0/0 (0 opposite, 0 not resolved, 2 on a setting that did not train at this " \
        "budget)" in capsys.readouterr().out
    page = (tmp_path / "out" / "README.md").read_text()
    assert "*vgg16_11/nobn* is a labelled stand-in, not in the paper: the shallower vgg16_11 " \
        "beside the paper's model, at the recipe its setting takes (lr 0.01, wd 0.005;" in page
    assert "Did not train at this budget (no seed above chance): nobn." in page


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no run directories" in err[1]


def test_summary_matches_numpy():
    values = [1.0, 2.5, None, float("nan"), 4.0]
    s = Summary.of(values)
    assert (s.mean, s.n) == (pytest.approx(7.5 / 3), 3)
    assert s.std == pytest.approx(np.std([1.0, 2.5, 4.0], ddof=1))
    # undefined is None: one value has no spread, no value no mean
    assert Summary.of([3.0]).std is None and Summary.of([]) == Summary(None, None, 0)


def test_untagged_runs_group_by_their_config(tmp_path):
    fake = Fake("x", "s", {}, {"arch": "vgg11", "act": "tanh", "order": "swap"}, 40.0, 0.5,
                1.0, 0.7, layers=3)
    for seed in (0, 1):
        path = write_run(tmp_path / "runs", fake, seed)
        config = json.loads((path / "config.json").read_text())
        del config["tags"]
        (path / "config.json").write_text(json.dumps(config))
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                 "--quiet"]) == 0
    rows = read_csv(tmp_path / "out" / "untagged.csv")
    assert [r["setting"] for r in rows] == ["vgg11/tanh/swap/digits"]
    assert (rows[0]["seeds_completed"], float(rows[0]["test_acc_mean"])) == ("2", 41.0)


def test_every_experiment_names_known_claims_and_figures():
    named = [f for e in EXPERIMENTS.values() for f in e.figures]
    assert sorted(named) == sorted([*EVERY_FIGURE, *BEYOND_PAPER_FIGURES])
    assert sorted(FIGURES) == sorted([*named, *COMPARE_FIGURES])  # compare's own, see test_compare
    assert sorted(c for e in EXPERIMENTS.values() for c in e.claims) == sorted(CLAIMS)
