"""The published evidence: docs/results.md is what `swapbn report` makes of results/cpu, and the
cpu scale's recipe table is what `swapbn recipes` chooses from the committed grid runs."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from report_fakes import _stats
from swapbn.cli import main
from swapbn.experiments.grid import grid_points
from swapbn.experiments.recipes import above_chance, choose, grid_records, recipe_table
from swapbn.presets import CPU_RECIPES_FILE
from swapbn.report.build import build_report

STATS = _stats(2, 0.5, 0.5, 0.5)
REPO = Path(__file__).resolve().parents[1]
RESULTS = Path("results/cpu")
PAGE = REPO / "docs" / "results.md"

needs_results = pytest.mark.skipif(not (REPO / "docs" / "results.md").is_file(),
                                   reason="no published results page in this checkout")


def tracked(folder: Path) -> list[str]:
    """The files of folder that git tracks (what a fresh clone holds); every file outside git."""
    try:
        out = subprocess.run(["git", "ls-files", str(folder)], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return [str(p.relative_to(REPO)) for p in (REPO / folder).rglob("*") if p.is_file()]
    return out


@needs_results
def test_the_results_page_is_rebuilt_from_the_committed_runs(tmp_path, monkeypatch):
    # the committed runs alone (runs still in progress in a working tree are not published)
    for name in tracked(RESULTS):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)  # the page names its runs by their path from the repository
    page, sections = build_report(RESULTS, tmp_path / "docs" / "results.md")
    assert page.read_text() == PAGE.read_text(), (
        "docs/results.md differs from the runs in results/cpu: rebuild it with "
        "`swapbn report results/cpu --out docs/results.md`")
    figures = {p.name for p in (tmp_path / "docs" / "results").glob("*.png")}
    assert figures == {p.name for p in (REPO / "docs" / "results").glob("*.png")}
    for png in (REPO / "docs" / "results").glob("*.png"):
        assert png.stat().st_size < 200_000, png


def test_the_cpu_recipes_are_the_committed_grids_choice(tmp_path):
    committed = json.loads(CPU_RECIPES_FILE.read_text())["recipes"]
    grid = [name for name in tracked(RESULTS / "grid")]
    if not committed:
        return  # no grid chosen yet: nothing to agree with
    assert grid, "cpu_recipes.json holds recipes but results/cpu/grid holds no grid runs"
    for name in grid:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, tmp_path / name)
    chosen = recipe_table(choose(grid_records(tmp_path / RESULTS / "grid")), "")["recipes"]
    assert committed == chosen, "rebuild with `swapbn recipes results/cpu/grid --write " \
                                "src/swapbn/cpu_recipes.json`"
    assert all(v["criterion"] == "val" for v in committed.values())


def test_committed_records_have_their_page():
    if [name for name in tracked(RESULTS) if name.endswith("config.json")]:
        assert PAGE.is_file(), "results/cpu holds records but docs/results.md is missing"


def test_published_records_are_small_and_hold_no_checkpoint():
    try:
        listed = subprocess.run(["git", "ls-files", "results"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = [REPO / p for p in listed]
    assert not [p for p in files if p.suffix == ".pt"]
    assert sum(p.stat().st_size for p in files) < 30 * 2**20


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): each term in log space (lgamma), summed in float64."""
    def log_term(i: int) -> float:
        return (math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                + i * math.log(p) + (n - i) * math.log1p(-p))
    return math.fsum(math.exp(log_term(i)) for i in range(k, n + 1))


@pytest.mark.parametrize("accuracy, images, classes", [
    (10.0, 5000, 10), (11.0, 5000, 10), (11.5, 5000, 10), (12.0, 1000, 10), (30.0, 200, 10),
    (1.2, 10000, 100), (1.4, 10000, 100)])
def test_above_chance_is_a_one_sided_binomial_test(accuracy, images, classes):
    k = round(accuracy / 100 * images)
    assert above_chance(accuracy, images, classes) == (binomial_tail(k, images, 1 / classes)
                                                        < 1e-3)


def test_no_bn_at_chance_did_not_train_and_writes_no_recipe(tmp_path, capsys):
    from swapbn.rundir import FinalRecord, RunDir

    def run(name, order, lr, wd, val=None):
        """A grid run; without `val` it is still running (no metrics, no final record)."""
        config = {"arch": "vgg16", "act": "tanh", "order": order, "lr": lr, "wd": wd,
                  "seed": 0, "val_images": 5000, "num_classes": 10, "dataset": "cifar10",
                  "tags": {"experiment": "nobn", "scale": "cpu", "grid": True,
                           "setting": order, "variant": f"{order}/lr={lr:g},wd={wd:g}"}}
        d = RunDir(tmp_path / "grid" / name)
        d.path.mkdir(parents=True)
        d.write_config(config)
        if val is None:
            return d
        d.write_metrics([{"epoch": 1, "test_acc": val}])
        d.write_final(FinalRecord("completed", final_test_acc=val, final_val_acc=val,
                                  epochs_completed=1, stats=STATS))
    for i, point in enumerate(grid_points("cifar10")):  # the convention's whole grid
        best = point == {"lr": 0.01, "wd": 1e-4}
        run(f"c{i}", "convention", point["lr"], point["wd"], 60.0 if best else 55.0)
    d = run("n0", "nobn", 0.1, 5e-3)  # no BN's grid: its first point still running
    assert main(["recipes", str(tmp_path / "grid")]) == 0
    # no finished point, so no best one yet
    assert "| nobn | nobn | vgg16/bounded/nobn | 0 of 8 | — | — | val | — |" \
        in capsys.readouterr().out
    shutil.rmtree(d.path)
    run("n1", "nobn", 0.1, 1e-4, 10.0)  # two points finished so far, both at chance
    run("n2", "nobn", 0.01, 1e-4, 10.1)
    out = tmp_path / "recipes.json"
    assert main(["recipes", str(tmp_path / "grid"), "--write", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| nobn | nobn | vgg16/bounded/nobn | 2 of 8 |" in text
    assert "not yet (grid not finished)" in text  # no verdict on a grid still running
    assert "not chosen yet (grid not finished): nobn nobn" in text
    for i, point in enumerate(grid_points("cifar10")[:6]):  # no BN's grid ends at chance
        run(f"n{i + 3}", "nobn", point["lr"], point["wd"], 9.9)
    assert main(["recipes", str(tmp_path / "grid")]) == 0
    text = capsys.readouterr().out
    # no best point at chance; its comparisons take the convention's recipe, and say so
    assert "| 8 of 8 | — | — | val | 10.10 | 10.10 | **no** (chance 10%): did not train at " \
           "this budget | lr 0.01, wd 0.0001 (nobn convention's choice) |" in text
    assert "| 8 of 8 | 0.01 | 0.0001 | val | 60.00 | 60.00 | yes | lr 0.01, wd 0.0001 (this " \
           "choice) |" in text
    table = json.loads(out.read_text())["recipes"]
    assert table == {"vgg16/bounded/convention": {
        "lr": 0.01, "wd": 1e-4, "criterion": "val", "val_acc": 60.0,
        "chosen_from": "nobn convention"}}
