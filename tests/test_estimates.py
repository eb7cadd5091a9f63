"""Estimates say where they come from: the CPU speed measured here, and a GPU speed only from
a stored gpu_check.sh result (otherwise "not measured")."""

from __future__ import annotations

import json

import pytest

from swapbn.cli import main
from swapbn.experiments import estimates
from swapbn.experiments.estimates import (
    OVERHEAD_S,
    TRAIN_COST,
    gpu_macs_per_second,
    gpu_reference,
    macs,
    run_seconds,
)

STORED = {"device": "NVIDIA H200", "torch": "2.5.0", "arch": "vgg16_11", "width": 1.0,
          "dataset": "cifar10", "image_size": 32, "batch_size": 128, "steps": 100,
          "date": "2026-11-30",
          "results": [{"variant": "tf32", "precision": "tf32", "images_per_s": 9000.0},
                      {"variant": "bf16", "precision": "bf16 autocast", "images_per_s": 15000.0}]}


def test_without_a_stored_gpu_figure_the_gpu_is_not_measured(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(estimates, "GPU_SPEED", tmp_path / "absent.json")
    assert main(["experiments"]) == 0
    out = capsys.readouterr().out
    assert "GPU: not measured" in out and "measured here (CPU)" in out


def test_a_stored_gpu_figure_gives_the_gpu_estimate(tmp_path, monkeypatch, capsys):
    path = tmp_path / "gpu_speed.json"
    path.write_text(json.dumps(STORED))
    monkeypatch.setattr(estimates, "GPU_SPEED", path)
    ref = gpu_reference()
    assert ref["variant"] == "bf16" and ref["train_images_per_s"] == 15000.0  # the fastest
    speed = gpu_macs_per_second(ref)
    assert speed == TRAIN_COST * 15000.0 * macs("vgg16_11", 1.0, 32, 10)
    # the paper's CIFAR-10 run of the measured model: 200 epochs of 50,000 training and
    # 10,000 test images at the measured speed (test images cost a third of a training one)
    config = {"dataset": "cifar10", "arch": "vgg16_11", "width": 1.0, "epochs": 200}
    expected = 200 * (50_000 + 10_000 / TRAIN_COST) / 15000.0
    assert run_seconds(config, "paper", speed) - OVERHEAD_S["paper"] == pytest.approx(expected)
    assert main(["experiments"]) == 0
    out = capsys.readouterr().out
    assert "on NVIDIA H200 (bf16, 15000 training images/s" in out and "2026-11-30" in out


@pytest.mark.parametrize("text", ["not json", "{}", '{"results": []}',
                                  json.dumps({**STORED, "results": [{"variant": "tf32",
                                              "precision": "tf32", "images_per_s": -1}]}),
                                  json.dumps({**STORED, "arch": "__import__('os')"})])
def test_an_unreadable_gpu_figure_counts_as_not_measured(tmp_path, text):
    path = tmp_path / "gpu_speed.json"
    path.write_text(text)
    assert gpu_reference(path) is None


@pytest.mark.parametrize("native", [False, True])
def test_a_bf16_run_is_timed_at_the_speed_measured_for_its_cpu(monkeypatch, capsys, native):
    """Where the CPU emulates bf16 a bf16 run is slower than float32 by the measured factor;
    where bf16 is native it is timed as float32, the one speed measured (no guessed speed-up)."""
    from swapbn.commands import experiments as command
    monkeypatch.setattr(estimates, "native_cpu_bf16", lambda: native)
    monkeypatch.setattr(command, "native_cpu_bf16", lambda: native)
    config = {"dataset": "cifar10", "arch": "vgg16_11", "width": 0.25, "epochs": 10,
              "train_subset": 20_000}
    float32 = run_seconds({**config, "precision": "float32"}, "cpu") - OVERHEAD_S["cpu"]
    bf16 = run_seconds({**config, "precision": "bf16"}, "cpu") - OVERHEAD_S["cpu"]
    work = 10 * (20_000 + 10_000 / TRAIN_COST) / estimates.REFERENCE["train_images_per_s"]
    assert float32 == pytest.approx(work)
    assert bf16 == pytest.approx(work if native else work / estimates.BF16_EMULATED)
    assert main(["experiments"]) == 0
    out = capsys.readouterr().out
    assert ("this CPU emulates bf16" in out) is not native
