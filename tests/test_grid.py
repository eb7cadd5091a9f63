"""Grid selection (appendix A.1): the best mean over seeds, not the best single seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from swapbn.experiments import SCALES, grid_points, plan, select_best, select_per_setting
from swapbn.rundir import FinalRecord, RunDir

STATS = {"layers": [{"name": "features.0"}]}  # a completed record's final statistics, at least


def fake_run(root: Path, run_id: str, *, setting: str, lr: float, wd: float, seed: int,
             acc: float | None, status: str = "completed", val: float | None = None) -> Path:
    """A run directory as training writes it, with only the fields selection reads (and the
    epoch line and statistics a completed record promises)."""
    variant = f"{setting}/lr={lr:g},wd={wd:g}"
    run = root / run_id
    run.mkdir(parents=True)
    config = {"arch": "vgg16_11", "act": "tanh", "order": "swap", "lr": lr, "wd": wd,
              "seed": seed, "val_images": 0 if val is None else 5000, "tags": {"experiment": "table2", "scale": "paper", "grid": True,
                                     "setting": setting, "variant": variant, "lr": lr, "wd": wd}}
    RunDir(run).write_config(config)
    RunDir(run).write_metrics([{"epoch": 1, "test_acc": acc if acc is not None else 0.0}])
    RunDir(run).write_final(FinalRecord(status=status, final_test_acc=acc, epochs_completed=1,
                                        stats=STATS, final_val_acc=val))
    return run


def test_grid_points_match_the_paper():
    points = grid_points("cifar100")
    assert len(points) == 8
    assert {p["lr"] for p in points} == {0.1, 0.01}
    assert {p["wd"] for p in points} == {5e-3, 1e-3, 5e-4, 1e-4}
    assert {p["wd"] for p in grid_points("imagenet")} == {1e-3, 5e-4, 1e-4}
    assert len(grid_points("imagenet")) == 6


def test_best_mean_beats_best_single_seed(tmp_path):
    # lr 0.1 has the best single seed (80) but mean 67; lr 0.01 is steady at 70.
    accs = {(0.1, 5e-4): [80.0, 60.0, 61.0], (0.01, 5e-4): [70.0, 69.0, 71.0],
            (0.01, 1e-3): [50.0, 52.0, 51.0]}
    dirs = [fake_run(tmp_path, f"r-{lr}-{wd}-{s}", setting="tanh/swap", lr=lr, wd=wd, seed=s,
                     acc=a)
            for (lr, wd), seeds in accs.items() for s, a in enumerate(seeds)]
    best_single = max(accs, key=lambda k: max(accs[k]))
    assert best_single == (0.1, 5e-4)
    choice = select_best(dirs)
    assert (choice.lr, choice.wd) == (0.01, 5e-4)
    assert choice.mean_test_acc == pytest.approx(70.0)
    assert choice.seeds == (0, 1, 2)
    assert choice.candidates["tanh/swap/lr=0.1,wd=0.0005"]["mean_test_acc"] == pytest.approx(67.0)
    assert len(choice.run_dirs) == 3 and all("0.01-0.0005" in d for d in choice.run_dirs)


def test_a_diverged_seed_counts_against_its_setting(tmp_path):
    runs = [fake_run(tmp_path, "a0", setting="s", lr=0.1, wd=1e-4, seed=0, acc=90.0),
            fake_run(tmp_path, "a1", setting="s", lr=0.1, wd=1e-4, seed=1, acc=None,
                     status="diverged"),
            fake_run(tmp_path, "b0", setting="s", lr=0.01, wd=1e-4, seed=0, acc=60.0),
            fake_run(tmp_path, "b1", setting="s", lr=0.01, wd=1e-4, seed=1, acc=62.0)]
    choice = select_best(runs)
    assert choice.lr == 0.01 and choice.mean_test_acc == pytest.approx(61.0)
    assert choice.candidates["s/lr=0.1,wd=0.0001"] == {"mean_test_acc": 90.0,
                                                       "mean_val_acc": None, "completed": 1,
                                                       "runs": 2}


def test_selection_per_setting_and_records(tmp_path):
    runs = [fake_run(tmp_path, f"{setting}-{lr}-{s}", setting=setting, lr=lr, wd=5e-4, seed=s,
                     acc=acc + s)
            for setting, table in {"tanh/convention": {0.1: 60.0, 0.01: 65.0},
                                   "tanh/swap": {0.1: 72.0, 0.01: 70.0}}.items()
            for lr, acc in table.items() for s in range(3)]
    choices = select_per_setting(runs)
    assert choices["tanh/convention"].lr == 0.01 and choices["tanh/swap"].lr == 0.1
    assert choices["tanh/swap"].mean_test_acc == pytest.approx(73.0)
    with pytest.raises(ValueError, match="one setting"):
        select_best(runs)
    # Records ({config, final}) work as well as folders.
    records = [{"config": RunDir(r).config, "final": RunDir(r).final.to_dict()}
               for r in runs[:6]]
    assert select_best(records).lr == 0.01


def test_grid_plan_tags_every_point():
    runs = plan("table2", SCALES["paper"], grid=True)
    assert len(runs) == 6 * 8 * 3  # the paper scale: every setting, three seeds per point
    tags = [r.tags for r in runs]
    assert all(t["grid"] and t["variant"].startswith(t["setting"] + "/lr=") for t in tags)
    one = [r for r in runs if r.tags["setting"] == "tanh/swap" and r.config["seed"] == 0]
    assert sorted((r.config["lr"], r.config["wd"]) for r in one) == sorted(
        (p["lr"], p["wd"]) for p in grid_points("cifar100"))
    assert len({r.run_id for r in runs}) == len(runs)


def test_with_a_validation_split_the_test_split_never_chooses(tmp_path):
    # lr 0.1 is better on test, lr 0.01 on validation: validation decides
    runs = [fake_run(tmp_path, "a", setting="s", lr=0.1, wd=1e-4, seed=0, acc=70.0, val=60.0),
            fake_run(tmp_path, "b", setting="s", lr=0.01, wd=1e-4, seed=0, acc=65.0, val=62.0)]
    choice = select_best(runs)
    assert (choice.lr, choice.criterion, choice.mean_val_acc) == (0.01, "val", 62.0)
    assert choice.mean_test_acc == 65.0
    assert choice.to_dict()["criterion"] == "val"
    # a run of the setting without a validation accuracy (it ended before its evaluation):
    # still chosen on validation, and that point counts as not completed
    runs.append(fake_run(tmp_path, "c", setting="s", lr=0.001, wd=5e-4, seed=0, acc=90.0))
    again = select_best(runs)
    assert (again.criterion, again.lr) == ("val", 0.01)
    assert again.candidates["s/lr=0.001,wd=0.0005"]["completed"] == 0
    # without any validation split: the paper's rule, on the test split
    plain = [fake_run(tmp_path / "p", n, setting="s", lr=lr, wd=1e-4, seed=0, acc=a)
             for n, lr, a in (("a", 0.1, 70.0), ("b", 0.01, 65.0))]
    assert (select_best(plain).criterion, select_best(plain).lr) == ("test", 0.1)
