"""`--arch torchvision:NAME` through build_model, the command line and the two experiments
beyond the paper (resnet, shifted)."""

from __future__ import annotations

import json

import pytest
import torch

from swapbn import build_model
from swapbn.activations import ShiftedTanh, Tanh
from swapbn.cli import main
from swapbn.experiments import SCALES, plan
from swapbn.experiments.runner import resolve
from swapbn.rundir import RunDir
from swapbn.training.rebuild import load_model


@pytest.mark.parametrize(("argv", "words"), [
    (["--arch", "torchvision:resnet1"], ["unknown model 'torchvision:resnet1'", "resnet18"]),
    (["--arch", "torchvision:resnet18", "--width", "0.5"], ["torchvision's width"]),
    (["--arch", "torchvision:resnet18", "--order", "nobn"], ["convention or swap", "nobn"]),
    (["--arch", "torchvision:mobilenet_v2"], ["3-channel images"]),  # digits: grey scale
])
def test_bad_torchvision_arch_is_one_line_and_exit_2(argv, words, capsys, tmp_path) -> None:
    out = tmp_path / "run"
    assert main(["train", *argv, "--epochs", "1", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(w in err for w in words), err
    assert not (out / "config.json").exists()


def test_train_and_load_a_torchvision_run(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", "--arch", "torchvision:resnet18", "--act", "shifted_tanh",
                 "--act-kwargs", "dx=0.5,dy=0.1", "--order", "swap", "--epochs", "1",
                 "--train-subset", "64", "--batch-size", "32", "--threads", "1",
                 "--out", str(out), "--quiet"]) == 0
    run = RunDir(out)
    assert run.final.status == "completed"
    stats = run.final.stats
    assert len(stats["layers"]) == 17 and stats["avg_saturation"] is not None
    assert [g["name"] for g in run.final.gradients["layers"]][:2] == ["relu", "layer1.0.relu"]
    model = load_model(out)
    assert isinstance(model.relu, ShiftedTanh) and model.relu.dx == 0.5
    assert main(["measure", str(out), "--json", "--max-samples", "40"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 40


def test_resnet_and_shifted_experiments_at_cpu_scale() -> None:
    resnet = [resolve(r) for r in plan("resnet", SCALES["cpu"], seeds=(0,))]
    assert [(c["act"], c["order"]) for c in resnet] == [("tanh", "convention"), ("tanh", "swap"),
                                                         ("relu", "convention")]
    assert all(c["arch"] == "torchvision:resnet18" and c["width"] == 1.0
               and c["dataset"] == "cifar10" and c["train_subset"] == 5000 for c in resnet)
    shifted = [resolve(r) for r in plan("shifted", SCALES["cpu"], seeds=(0,))]
    assert [c["tags"]["variant"] for c in shifted] == ["shifted_tanh/convention",
                                                       "tanh/convention", "tanh/swap"]
    assert shifted[0]["act_kwargs"] == {"dx": -1.0, "dy": 0.76}
    # the shifted Tanh is asymmetric: it passes near 0 at 0 and saturates at -0.24 and 1.76
    f = ShiftedTanh(**shifted[0]["act_kwargs"])
    x = torch.tensor([-50.0, 0.0, 50.0])
    assert f(x).tolist() == pytest.approx([-0.24, 0.76 - 0.7615942, 1.76], abs=1e-6)
    assert f.bound == pytest.approx(1.76)
    assert isinstance(build_model("torchvision:resnet18", num_classes=10, act="tanh",
                                  order="convention").relu, Tanh)
