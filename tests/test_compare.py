"""`swapbn compare`: runs per order and seed, the summary table, compare.json and compare.md,
which are the report's summary of the same run directories."""

from __future__ import annotations

import csv
import json
import re
import statistics

import pytest
import torch

from png_checks import assert_png_drawn
from report_fakes import compare_groups
from swapbn import cli
from swapbn.commands.compare import EXPERIMENT, summary_row
from swapbn.experiments import EXPERIMENTS, find_experiment
from swapbn.intervals import welch
from swapbn.report.build import build_report
from swapbn.report.figures import COMPARE_FIGURES
from swapbn.report.tables import differences

FAST = ["--width", "0.0625", "--train-subset", "80", "--epochs", "1", "--batch-size", "40",
        "--device", "cpu"]


def test_compare_prints_table_and_writes_records(tmp_path, capsys) -> None:
    out = tmp_path / "cmp"
    argv = ["compare", "--orders", "swap,nwdbn", "--seeds", "0,1", *FAST,
            "--out", str(out)]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("order "))
    assert lines[header].split() == ["order", "test", "acc", "(%)", "avg", "saturation", "avg",
                                     "skewness", "avg", "sparsity", "runs"]
    rows = {line.split()[0]: line for line in lines[header + 1:header + 3]}
    assert set(rows) == {"swap", "nwdbn"}

    record = json.loads((out / "compare.json").read_text())
    assert record["orders"] == ["swap", "nwdbn"] and record["seeds"] == [0, 1]
    assert len(record["runs"]) == 4
    for order in record["orders"]:
        finals = [json.loads((out / f"{order}-s{seed}" / "final.json").read_text())
                  for seed in (0, 1)]
        configs = [json.loads((out / f"{order}-s{seed}" / "config.json").read_text())
                   for seed in (0, 1)]
        assert [c["seed"] for c in configs] == [0, 1]
        assert all(c["order"] == ("convention" if order == "nwdbn" else order) for c in configs)
        assert all(c["nwdbn"] == (order == "nwdbn") for c in configs)
        accs = [f["final_test_acc"] for f in finals]
        row = next(r for r in record["summary"] if r["order"] == order)
        assert row["test_acc_mean"] == statistics.mean(accs)
        assert row["test_acc_std"] == statistics.stdev(accs)
        sat = statistics.mean(f["stats"]["avg_saturation"] for f in finals)
        assert row["avg_saturation"] == sat
        assert row["completed"] == row["runs"] == 2
        assert f"{row['test_acc_mean']:.2f} ± {row['test_acc_std']:.2f}" in rows[order]
        assert f"{sat:.3f}" in rows[order]
    nwdbn = json.loads((out / "nwdbn-s0" / "config.json").read_text())
    assert (nwdbn["bn_gamma_wd"], nwdbn["bn_beta_wd"]) == (0.0, 0.0)
    assert nwdbn["threads"] == torch.get_num_threads() >= 1  # how the run was made

    # Progress: the overall line before each run, then that run's epoch lines.
    assert [line.split()[0] for line in lines if line.startswith("[")] == [
        "[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert "eta -" in lines[lines.index(next(x for x in lines if x.startswith("[1/4]")))]
    assert "eta " in next(x for x in lines if x.startswith("[2/4]"))
    assert sum(line.startswith("epoch   1/1") for line in lines) == 4

    # The figures next to compare.md, and `swapbn report` on the folder draws the same ones.
    for name in COMPARE_FIGURES:
        assert_png_drawn(out / f"{name}.png")
        assert f"{name}.png" in text
    assert cli.main(["report", str(out), "--quiet"]) == 0
    for name in COMPARE_FIGURES:
        assert_png_drawn(out / "report" / f"{name}.png")

    md = (out / "compare.md").read_text()
    assert "| order | test acc (%) | avg saturation | avg skewness | avg sparsity | runs |" in md
    orders_table, differences_md = md.split("Differences over seeds")
    assert orders_table.count("\n| ") == 3  # header row and one row per order
    # nwdbn minus swap (no convention run: the first order is the reference), 4 measures.
    diffs = {d["measure"]: d for d in record["differences"]}
    assert [(d["order"], d["reference"]) for d in record["differences"]] == [("nwdbn", "swap")] * 4
    by_order = {o: [r for r in record["runs"] if r["order"] == o] for o in ("swap", "nwdbn")}
    for key, d in diffs.items():
        a, b = ([r[key] for r in by_order[o]] for o in ("nwdbn", "swap"))
        assert d["diff"] == statistics.mean(a) - statistics.mean(b)
        if d["low"] is not None:
            assert d["low"] <= d["diff"] <= d["high"]
        assert d["verdict"] in ("holds", "opposite", "not resolved")
        assert f"| nwdbn - swap | {key} | {d['interval']} | {d['verdict']} |" in differences_md
    assert "nwdbn - swap" in text and "final_test_acc" in text
    capsys.readouterr()

    # A second call reuses the finished runs: same table, nothing retrained.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/final.json")}
    assert cli.main(argv) == 0
    again = capsys.readouterr().out.splitlines()
    start = again.index(lines[header])
    assert again[start:start + 3] == lines[header:header + 3]
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/final.json")}


def test_compare_dry_run_lists_every_resolved_run(capsys) -> None:
    assert cli.main(["compare", "--orders", "convention,nwdbn,nobn", "--seeds", "3,4",
                     "--dry-run"]) == 0
    configs = json.loads(capsys.readouterr().out)
    assert list(configs) == ["convention-s3", "convention-s4", "nwdbn-s3", "nwdbn-s4",
                             "nobn-s3", "nobn-s4"]
    assert configs["nwdbn-s4"]["order"] == "convention" and configs["nwdbn-s4"]["nwdbn"]
    assert configs["nwdbn-s4"]["bn_beta_wd"] == 0.0 and configs["nwdbn-s4"]["seed"] == 4
    assert configs["nobn-s3"]["width"] == 0.125 and configs["nobn-s3"]["epochs"] == 10


def test_summary_counts_diverged_runs_but_averages_completed_ones() -> None:
    runs = [
        {"order": "swap", "status": "completed", "final_test_acc": 80.0, "best_test_acc": 81.0,
         "avg_saturation": 0.5, "avg_skewness": 1.0, "avg_sparsity": 0.2},
        {"order": "swap", "status": "completed", "final_test_acc": 90.0, "best_test_acc": 90.0,
         "avg_saturation": 0.7, "avg_skewness": 2.0, "avg_sparsity": 0.4},
        {"order": "swap", "status": "diverged", "final_test_acc": None, "best_test_acc": None,
         "avg_saturation": None, "avg_skewness": None, "avg_sparsity": None},
    ]
    (row,) = [summary_row(g) for g in compare_groups(runs)]
    assert (row["runs"], row["completed"]) == (3, 2)
    assert row["test_acc_mean"] == 85.0
    assert abs(row["test_acc_std"] - 50 ** 0.5) < 1e-12  # sample std of 80 and 90
    assert abs(row["avg_saturation"] - 0.6) < 1e-12 and row["best_test_acc_mean"] == 85.5


def test_differences_are_welch_intervals_against_convention() -> None:
    def run(order: str, acc: float, skew: float, status: str = "completed") -> dict:
        return {"order": order, "status": status, "final_test_acc": acc, "best_test_acc": acc,
                "avg_saturation": 0.5, "avg_skewness": skew, "avg_sparsity": 0.3}

    runs = [run("swap", 70.0, 2.0), run("swap", 72.0, 2.2), run("swap", 71.0, 2.1),
            run("convention", 60.0, 0.5), run("convention", 61.0, 0.6),
            run("convention", 62.0, 0.4), run("convention", None, 9.0, status="diverged"),
            run("nobn", 50.0, 1.0)]
    rows = {(r["order"], r["measure"]): r
            for r in differences(compare_groups(runs), EXPERIMENT.reference)}
    assert {r["reference"] for r in rows.values()} == {"convention"}
    acc = rows[("swap", "final_test_acc")]
    ref = welch([70.0, 72.0, 71.0], [60.0, 61.0, 62.0])
    assert (acc["diff"], acc["low"], acc["high"]) == (10.0, ref.low, ref.high)
    assert acc["verdict"] == "holds" and acc["seeds_to_resolve"] == ""
    # The diverged convention run stays out; equal saturation on every run: exact tie.
    sat = rows[("swap", "avg_saturation")]
    assert (sat["diff"], sat["low"], sat["high"], sat["verdict"]) == (0.0, 0.0, 0.0,
                                                                     "not resolved")
    one = rows[("nobn", "final_test_acc")]  # one nobn seed
    assert one["diff"] == -11.0 and one["low"] is None and one["verdict"] == "not resolved"
    assert one["interval"] == "-11 (1 seed: no interval)"


def _cells(line: str, markdown: bool) -> list[str]:
    """The cells of a table row: markdown's between bars, aligned text's between 2+ spaces."""
    return [c.strip() for c in line.strip("| ").split(" | ")] if markdown else \
        re.split(r"\s{2,}", line.strip())


def test_compare_tables_are_the_reports_summary_of_its_runs(tmp_path, capsys) -> None:
    out = tmp_path / "cmp"
    assert cli.main(["compare", "--orders", "swap,convention", "--seeds", "0,1", *FAST,
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out.splitlines()
    page, (section,) = build_report(out)
    readme = page.read_text()
    md = (out / "compare.md").read_text()
    orders_md, differences_md = md.split("Differences over seeds")
    tables = [line for line in orders_md.splitlines() if line.startswith("|")]
    diff_rows = [line for line in differences_md.splitlines() if line.startswith("|")]
    assert len(tables) == 4 and len(diff_rows) == 2 + 4
    # The report's page holds compare.md's tables line for line: the same means ± std, the
    # same differences, intervals and verdicts (convention is the reference: swap - convention).
    for line in tables + diff_rows:
        assert f"\n{line}\n" in readme
    assert "Does a variant of a scale" not in readme  # runs of no scale are checked against none
    # The printed tables hold the same cells.
    for rows in (tables, diff_rows):
        head = _cells(rows[0], markdown=True)
        start = next(i for i, line in enumerate(text) if _cells(line, False) == head)
        for line, printed in zip(rows[2:], text[start + 1:], strict=False):
            assert _cells(printed, markdown=False) == _cells(line, markdown=True)
    # compare.json's numbers are the report's CSV numbers.
    record = json.loads((out / "compare.json").read_text())
    with (page.parent / "compare.csv").open(newline="") as f:
        csv_rows = {r["setting"]: r for r in csv.DictReader(f)}
    assert [r["order"] for r in record["summary"]] == ["convention", "swap"] == list(csv_rows)
    for row in record["summary"]:
        mine = csv_rows[row["order"]]
        assert float(mine["test_acc_mean"]) == round(row["test_acc_mean"], 6)
        assert float(mine["test_acc_std"]) == round(row["test_acc_std"], 6)
        for key in ("avg_saturation", "avg_skewness", "avg_sparsity"):
            assert float(mine[f"{key}_mean"]) == round(row[key], 6)
    assert [(d["order"], d["reference"]) for d in record["differences"]] == [
        ("swap", "convention")] * 4
    assert section.differences == record["differences"]


def test_one_seed_has_a_mean_and_no_spread_or_interval(tmp_path, capsys) -> None:
    out = tmp_path / "one"
    argv = ["compare", "--orders", "convention,swap", "--seeds", "0", *FAST, "--out", str(out)]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    record = json.loads((out / "compare.json").read_text())
    for row in record["summary"]:  # undefined is null (None), never NaN
        assert row["completed"] == 1 and row["test_acc_mean"] is not None
        assert row["test_acc_std"] is None
        cells = f"| {row['order']} | {row['test_acc_mean']:.2f} | {row['avg_saturation']:.3f} |"
        assert cells in (out / "compare.md").read_text()
    md_rows = [line for line in (out / "compare.md").read_text().splitlines()
               if line.startswith("|")]
    assert "±" not in text and not any("±" in line for line in md_rows)
    for d in record["differences"]:
        assert (d["low"], d["high"], d["verdict"]) == (None, None, "not resolved")
        assert d["interval"].endswith("(1 seed: no interval)")
        assert d["seeds_to_resolve"] == "needs 2 seeds to estimate"
    page, _ = build_report(out)
    with (page.parent / "compare.csv").open(newline="") as f:
        assert {r["test_acc_std"] for r in csv.DictReader(f)} == {""}
    section = page.read_text().split("## compare")[1]
    assert not any("±" in line for line in section.splitlines() if line.startswith("|"))

    # Another recipe in the same folder is refused in one line, nothing touched; --force
    # would start over.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/final.json")}
    assert cli.main([*argv, "--epochs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differs in epochs" in err[0] and "--force" in err[0]
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/final.json")}


@pytest.mark.parametrize("force", [False, True])
def test_a_link_where_a_compare_run_belongs_is_one_line(tmp_path, capsys, force) -> None:
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "cmp"
    elsewhere.mkdir()
    out.mkdir()
    (out / "swap-s0").symlink_to(elsewhere, target_is_directory=True)
    argv = ["compare", "--orders", "swap", "--seeds", "0", *FAST, "--out", str(out), "--quiet"]
    assert cli.main(argv + ["--force"] * force) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "symbolic link" in err[0]
    assert list(elsewhere.iterdir()) == []


@pytest.mark.slow  # starts a pool of two processes
def test_workers_run_the_orders_in_a_pool(tmp_path, capsys) -> None:
    out = tmp_path / "cmp"
    assert cli.main(["compare", "--orders", "convention,swap", "--seeds", "0", *FAST,
                     "--workers", "2", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # One line per finished run, in the order they finish.
    done = sorted(line.split()[1] for line in lines if re.match(r"\[\d/2\] ", line))
    assert done == ["convention-s0", "swap-s0"]
    record = json.loads((out / "compare.json").read_text())
    assert [r["status"] for r in record["runs"]] == ["completed", "completed"]
    assert [r["completed"] for r in record["summary"]] == [1, 1]


def test_zero_workers_is_one_line(tmp_path, capsys) -> None:
    assert cli.main(["compare", "--workers", "0", "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["swapbn compare: error: --workers must be at least 1, got 0"]
    assert not (tmp_path / "cmp").exists()


def test_compare_is_reported_but_not_one_of_the_papers_experiments(capsys) -> None:
    assert "compare" not in EXPERIMENTS and find_experiment("compare") is EXPERIMENT
    assert cli.main(["experiments"]) == 0
    assert not any(line.startswith("compare") for line in capsys.readouterr().out.splitlines())
    assert cli.main(["sweep", "compare", "--out", "x", "--dry-run"]) == 2
    assert "unknown experiment 'compare'" in capsys.readouterr().err
