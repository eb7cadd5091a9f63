"""Training runs on digits: accuracy, the run directory, determinism, resume, divergence."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import swapbn
from swapbn import cli
from swapbn.errors import UsageError
from swapbn.presets import paper_recipe
from swapbn.rundir import FinalRecord, RunDir
from swapbn.training import TIMING_FIELDS, TrainConfig, train

# Measured on this configuration (vgg16_11, width 1/8, 600 digits, 2 epochs, batch 32, lr 0.05):
# seeds 0-4 reach 66-75% (convention) and 71-81% (swap); chance is 10%.
ACCURACY_FLOOR = 50.0
EPOCHS = 2


def read_metrics(run_dir: Path) -> list[dict]:
    return RunDir(run_dir).metrics()


def small_config(order: str, **changes) -> TrainConfig:
    base = dict(arch="vgg16_11", act="tanh", order=order, dataset="digits", width=0.125,
                train_subset=600, epochs=EPOCHS, batch_size=32, lr=0.05, seed=0, device="cpu")
    return TrainConfig(**{**base, **changes})


RUN_EXTRA = {"convention": {"stats_every": 2}, "swap": {}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, FinalRecord]]:
    """One 2-epoch run per order; convention also tracks the stats at epoch 2."""
    out = {}
    for order, extra in RUN_EXTRA.items():
        run_dir = tmp_path_factory.mktemp(order)
        out[order] = (run_dir, train(small_config(order, **extra), run_dir, progress=False))
    return out


def without_timing(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in line.items() if k not in TIMING_FIELDS} for line in lines]


@pytest.mark.parametrize("order", ["convention", "swap"])
def test_two_epochs_beat_chance(runs, order: str) -> None:
    final = runs[order][1]
    assert final.status == "completed" and final.epochs_completed == EPOCHS
    assert final.final_test_acc > ACCURACY_FLOOR, final.final_test_acc
    assert final.best_test_acc >= final.final_test_acc


@pytest.mark.parametrize("order", ["convention", "swap"])
def test_run_directory_holds_the_documented_fields(runs, order: str) -> None:
    run_dir, final = runs[order]
    config = json.loads((run_dir / "config.json").read_text())
    documented = {"arch", "act", "act_kwargs", "order", "dataset", "data_root", "train_subset",
                  "val_images", "width", "bias", "epochs", "lr", "milestones", "momentum", "wd",
                  "bn_gamma_wd", "bn_beta_wd", "nwdbn", "batch_size", "seed", "device", "precision",
                  "stats_every", "preset", "tags", "num_classes", "in_channels", "image_size",
                  "versions", "git_commit", "git_dirty", "device_name", "cpu",
                  "cpu_capability", "compute"}
    assert documented <= set(config)
    assert (config["num_classes"], config["in_channels"]) == (10, 1)
    assert set(config["versions"]) == {"swapbn", "torch", "python"}
    assert config["versions"]["swapbn"] == swapbn.__version__
    # config.json records the resolved configuration (milestones: half of 2 epochs) and reads back
    resolved = small_config(order, **RUN_EXTRA[order]).resolve()
    assert resolved.milestones == [1]
    assert {k: config[k] for k in resolved.to_dict()} == json.loads(json.dumps(resolved.to_dict()))
    assert TrainConfig.from_dict(config) == resolved

    lines = read_metrics(run_dir)
    assert [line["epoch"] for line in lines] == [1, 2]
    for line in lines:
        assert {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                "images_per_s", "seconds"} <= set(line)
        assert 0 <= line["test_acc"] <= 100 and line["train_loss"] > 0
    assert [line["lr"] for line in lines] == pytest.approx([0.05, 0.005])

    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert set(ckpt) == {"model", "optimizer", "scheduler", "rng", "epoch"} and ckpt["epoch"] == 2
    assert [g["name"] for g in ckpt["optimizer"]["param_groups"]] == ["weights", "bn_gamma",
                                                                      "bn_beta"]

    assert {"status", "final_test_acc", "best_test_acc", "epochs_completed", "seconds", "error",
            "stats", "gradients", "channels"} <= set(final.to_dict())
    assert final.to_dict() == json.loads((run_dir / "final.json").read_text())
    assert final.final_test_acc == lines[-1]["test_acc"]
    assert final.best_test_acc == max(line["test_acc"] for line in lines)
    assert final.error is None and final.channels == "channels.npz"
    stats = final.stats
    assert len(stats["layers"]) == 10  # 8 conv blocks and 2 FC blocks
    assert 0 < stats["avg_saturation"] < 1 and 0 < stats["avg_sparsity"] < 1
    assert stats["avg_skewness"] >= 0
    layers = stats["layers"]
    assert stats["avg_saturation"] == pytest.approx(np.mean([r["saturation"] for r in layers]))
    grads = final.gradients["layers"]
    assert len(grads) == 10 and all(g["weight_grad_abs_mean"] > 0 for g in grads)
    with np.load(run_dir / "channels.npz") as npz:
        assert "layers" in npz.files and len(npz["layers"]) == 10


def test_tracked_stats_equal_the_final_measurement(runs) -> None:
    """stats_every measures the same model on the same test split as the final record."""
    run_dir, final = runs["convention"]
    lines = read_metrics(run_dir)
    assert "stats" not in lines[0]
    tracked = lines[1]["stats"]
    for key in ("avg_saturation", "avg_skewness", "avg_sparsity"):
        assert tracked[key] == pytest.approx(final.stats[key], rel=1e-9)


def test_same_seed_gives_identical_metrics(runs, tmp_path) -> None:
    run_dir, final = runs["swap"]
    again = train(small_config("swap"), tmp_path, progress=False)
    assert without_timing(read_metrics(tmp_path)) == without_timing(read_metrics(run_dir))
    assert again.stats == final.stats
    other = train(small_config("swap", seed=1, epochs=1, milestones=[1]), tmp_path / "s1",
                  progress=False)
    assert other.final_test_acc != read_metrics(run_dir)[0]["test_acc"] or \
        read_metrics(tmp_path / "s1")[0]["train_loss"] != read_metrics(run_dir)[0]["train_loss"]


def test_resume_after_interruption_matches_uninterrupted(runs, tmp_path) -> None:
    run_dir, final = runs["swap"]

    def stop_after_first_epoch(line: dict) -> None:
        if line["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(small_config("swap"), tmp_path, progress=False, on_epoch=stop_after_first_epoch)
    interrupted = RunDir(tmp_path).final
    assert (interrupted.status, interrupted.epochs_completed) == ("interrupted", 1)
    assert interrupted.final_test_acc == read_metrics(run_dir)[0]["test_acc"]
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1
    with pytest.raises(UsageError, match="resume=True") as refused:
        train(small_config("swap"), tmp_path, progress=False)
    assert "--resume" in refused.value.cli  # the command line's wording of the same advice
    resumed = train(small_config("swap"), tmp_path, progress=False, resume=True)
    assert without_timing(read_metrics(tmp_path)) == without_timing(read_metrics(run_dir))
    for key in ("status", "final_test_acc", "best_test_acc", "epochs_completed", "stats",
                "gradients"):
        assert getattr(resumed, key) == getattr(final, key), key


def test_finished_runs_are_reused_or_refused(runs) -> None:
    run_dir, final = runs["swap"]
    with pytest.raises(UsageError, match="already holds a run .completed.; give another out_dir, or resume=True .* force=True"):
        train(small_config("swap"), run_dir, progress=False)
    # resume=True on a finished run returns its record without training; the package-level
    # swapbn.train is the same function.
    assert swapbn.train(small_config("swap"), run_dir, progress=False, resume=True) == final
    with pytest.raises(UsageError, match="differs in lr"):
        train(small_config("swap", lr=0.1), run_dir, progress=False, resume=True)


def test_divergence_exits_3_with_one_line(tmp_path, capsys) -> None:
    code = cli.main(["train", "--order", "nobn", "--act", "relu", "--width", "0.0625",
                     "--train-subset", "64", "--epochs", "1", "--batch-size", "32",
                     "--lr", "1e30", "--device", "cpu", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 3
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("swapbn train: run diverged: training loss became nan")
    final = json.loads((tmp_path / "final.json").read_text())
    assert final["status"] == "diverged" and final["epochs_completed"] == 0
    assert "epoch 1" in final["error"] and final["stats"] is None


def test_cli_train_prints_epochs_and_result(tmp_path, capsys) -> None:
    code = cli.main(["train", "--width", "0.0625", "--train-subset", "100", "--val-images", "50",
                     "--epochs", "1", "--batch-size", "50", "--device", "cpu", "--out",
                     str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].startswith("vgg16_11 width 0.0625 tanh swap on digits (100 training images): "
                             "epochs 1, lr 0.01, milestones 1, wd 0.0005")
    assert out[1].startswith("epoch   1/1  loss ") and " val " in out[1]
    final = json.loads((tmp_path / "final.json").read_text())
    assert out[-1].startswith(f"test accuracy {final['final_test_acc']:.2f}%")
    assert math.isfinite(final["stats"]["avg_skewness"])
    (line,) = read_metrics(tmp_path)
    assert 0 <= line["val_acc"] <= 100 and line["val_loss"] > 0
    # --resume on the finished run trains nothing; --quiet --json prints only final.json.
    assert cli.main(["train", "--width", "0.0625", "--train-subset", "100", "--val-images", "50",
                     "--epochs", "1", "--batch-size", "50", "--device", "cpu", "--out",
                     str(tmp_path), "--resume", "--quiet", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == final and captured.err == ""


def test_dry_run_prints_the_resolved_preset(capsys) -> None:
    code = cli.main(["train", "--preset", "paper", "--dataset", "cifar100", "--order",
                     "convention", "--nwdbn", "--epochs", "20", "--dry-run"])
    config = json.loads(capsys.readouterr().out)
    assert code == 0
    recipe = paper_recipe("vgg", "tanh", "convention", "cifar100")  # the default vgg16_11 tanh
    assert (config["lr"], config["wd"], config["batch_size"]) == (recipe.lr, recipe.wd,
                                                                  recipe.batch_size)
    # 20 epochs instead of the recipe's 200 keep its milestones at the same fractions
    assert recipe.epochs == 200 and recipe.milestones == (100, 150)
    assert (config["epochs"], config["milestones"]) == (20, [10, 15])
    assert (config["bn_gamma_wd"], config["bn_beta_wd"]) == (0.0, 0.0)  # --nwdbn
    assert TrainConfig.from_dict(config).resolve().to_dict() == config
    assert cli.main(["train", "--act", "shifted_tanh", "--act-kwargs", "dx=0.5, dy=-0.1",
                     "--epochs", "4", "--dry-run"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["act_kwargs"] == {"dx": 0.5, "dy": -0.1}
    assert (config["epochs"], config["milestones"], config["lr"]) == (4, [2, 3], 0.01)
