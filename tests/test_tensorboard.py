"""`--tensorboard`: event files read back with TensorBoard's own EventAccumulator hold every
metrics line, the per-layer measures of tracked epochs and histograms of channel values."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from swapbn import cli
from swapbn.errors import UsageError
from swapbn.rundir import RunDir
from swapbn.training import TrainConfig, train
from swapbn.training.tensorboard import (
    SCALARS,
    TENSORBOARD_DIR,
    open_log,
    summary_writer_class,
)

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def read_events(log_dir: Path):
    acc = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={event_accumulator.SCALARS: 0,
                                     event_accumulator.HISTOGRAMS: 0})
    acc.Reload()
    return acc


def tiny(**changes) -> TrainConfig:
    base = dict(arch="vgg16_11", act="tanh", order="swap", dataset="digits", width=0.0625,
                train_subset=100, epochs=3, batch_size=25, lr=0.05, seed=0, device="cpu",
                stats_every=2)
    return TrainConfig(**{**base, **changes})


def test_events_hold_the_metrics_lines_and_tracked_statistics(tmp_path):
    run_dir = tmp_path / "run"
    train(tiny(), run_dir, progress=False, tensorboard="")
    lines = RunDir(run_dir).metrics()
    acc = read_events(run_dir / TENSORBOARD_DIR)
    tags = acc.Tags()
    for key, tag in SCALARS.items():
        if key not in lines[0]:
            assert tag not in tags["scalars"]
            continue
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [1, 2, 3]
        assert [e.value for e in events] == pytest.approx([line[key] for line in lines],
                                                          rel=1e-6)
    # Epoch 2 is the only tracked one (stats_every 2): its layer measures, nothing else.
    stats = lines[1]["stats"]
    for layer in stats["layers"]:
        for key in ("saturation", "skewness", "sparsity"):
            if layer[key] is None:
                continue
            (event,) = acc.Scalars(f"{key}/{layer['name']}")
            assert event.step == 2 and event.value == pytest.approx(layer[key], rel=1e-6)
    (avg,) = acc.Scalars("stats/avg_skewness")
    assert avg.value == pytest.approx(stats["avg_skewness"], rel=1e-6)
    names = [layer["name"] for layer in stats["layers"]]
    hist_tags = set(tags["histograms"])
    assert {f"act/{n}/layer" for n in names} <= hist_tags
    assert {f"block/{n}/channel0" for n in names} <= hist_tags
    (h,) = acc.Histograms(f"act/{names[0]}/layer")
    # tanh outputs: every sampled value lies in [-1, 1], and there are as many as sampled.
    assert h.step == 2 and -1.0 <= h.histogram_value.min <= h.histogram_value.max <= 1.0
    assert 0 < h.histogram_value.num <= 4096
    assert np.isclose(sum(h.histogram_value.bucket), h.histogram_value.num)


def test_compare_writes_one_tensorboard_run_per_order_and_seed(tmp_path, capsys):
    out, board = tmp_path / "cmp", tmp_path / "tb"
    assert cli.main(["compare", "--orders", "convention,swap", "--seeds", "0,1",
                     "--width", "0.0625", "--train-subset", "80", "--epochs", "1",
                     "--batch-size", "40", "--device", "cpu", "--out", str(out),
                     "--tensorboard", str(board), "--quiet"]) == 0
    runs = sorted(p.name for p in board.iterdir())
    assert runs == ["convention-s0", "convention-s1", "swap-s0", "swap-s1"]
    for name in runs:
        final = RunDir(out / name).metrics()[-1]
        (event,) = read_events(board / name).Scalars("accuracy/test")
        assert event.value == pytest.approx(final["test_acc"], rel=1e-6)


def test_missing_tensorboard_is_one_line_before_anything_is_written(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(UsageError, match="pip install 'swapbn\\[tensorboard\\]'"):
        summary_writer_class()
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", "digits", "--out", str(out), "--tensorboard"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "swapbn[tensorboard]" in err[0]
    assert not out.exists()


def test_sweep_writes_events_inside_each_run_directory(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert cli.main(["sweep", "nobn", "--scale", "smoke", "--out", str(out), "--cpus-per-run",
                     "1", "--tensorboard", "--quiet"]) == 0
    run_dirs = sorted(p for p in out.iterdir() if (p / "config.json").exists())
    assert [p.name for p in run_dirs] == ["nobn-convention-s0", "nobn-nobn-s0"]
    for run_dir in run_dirs:
        lines = RunDir(run_dir).metrics()
        events = read_events(run_dir / TENSORBOARD_DIR).Scalars("loss/train")
        assert [e.value for e in events] == pytest.approx([x["train_loss"] for x in lines],
                                                          rel=1e-6)


def test_only_rank_zero_writes(tmp_path):
    assert open_log("", tmp_path, None, torch.device("cpu"), 3, leader=False) is None
    log = open_log("", tmp_path, None, torch.device("cpu"), 3, leader=True)
    assert log is not None and log.log_dir == tmp_path / TENSORBOARD_DIR
    assert open_log(None, tmp_path, None, torch.device("cpu"), 3) is None


def test_an_interrupted_and_resumed_run_has_one_event_per_epoch(tmp_path):
    run_dir = tmp_path / "run"

    def stop_after_second_epoch(line: dict) -> None:
        if line["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(stats_every=0), run_dir, progress=False, tensorboard="",
              on_epoch=stop_after_second_epoch)
    # Event files are read in name order: a second-resolution time, then a per-process counter
    # compared as text (…9 after …10). A resume within the same second as a tiny run's start
    # could sort first and have TensorBoard drop its epoch; a real epoch takes longer.
    time.sleep(1.1)
    final = train(tiny(stats_every=0), run_dir, progress=False, resume=True, tensorboard="")
    assert final.epochs_completed == 3
    lines = RunDir(run_dir).metrics()
    events = read_events(run_dir / TENSORBOARD_DIR).Scalars("loss/train")
    assert [e.step for e in events] == [1, 2, 3]
    assert [e.value for e in events] == pytest.approx([x["train_loss"] for x in lines], rel=1e-6)


def test_watching_does_not_change_the_run(tmp_path):
    """The histogram pass and the writer touch no RNG and no BN statistics: same metrics."""
    def untimed(run_dir: Path) -> list[dict]:
        return [{k: v for k, v in line.items() if k not in ("seconds", "images_per_s")}
                for line in RunDir(run_dir).metrics()]

    train(tiny(), tmp_path / "plain", progress=False)
    train(tiny(), tmp_path / "watched", progress=False, tensorboard="")
    assert untimed(tmp_path / "plain") == untimed(tmp_path / "watched")
