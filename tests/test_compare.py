"""`swapbn compare`: runs per order and seed, the summary table, compare.json and compare.md."""

from __future__ import annotations

import json
import statistics

import torch

from png_checks import assert_png_drawn
from swapbn import cli
from swapbn.intervals import welch
from swapbn.report.figures import COMPARE_FIGURES
from swapbn.training.compare import differences, summarize

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
    (row,) = summarize(runs, ["swap"])
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
    rows = {(r["order"], r["measure"]): r for r in differences(runs, ["swap", "convention",
                                                                      "nobn"])}
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
