"""timm models (`--arch timm:NAME`): fused BatchNorm + activation read as norm then activation,
the swap order on three families (ResNet, EfficientNet, RegNet), training and loading."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import swapbn
from swapbn.cli import main
from swapbn.rundir import RunDir
from swapbn.training.rebuild import load_model

timm = pytest.importorskip("timm")


def _timm(name: str) -> nn.Module:
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=10)
    _random_running_stats(model)
    return model


def _random_running_stats(model: nn.Module) -> None:
    """Running statistics and affine parameters unlike a fresh BN's, so that an eval-mode BN
    is not the identity and a norm in the wrong place shows in the output."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def _bn(bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """An eval-mode BatchNorm of `bn`'s parameters alone (without a fused activation)."""
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0,
                        bn.eps)


def _resnet_block(b, x):  # timm BasicBlock: act1 then bn1; bn2 merges with the shortcut
    y = _bn(b.bn1, b.act1(b.conv1(x)))
    return b.act2(_bn(b.bn2, b.conv2(y)) + x)


def _efficientnet_block(b, x):  # InvertedResidual, stride 2: no shortcut, bn3 has no act
    y = _bn(b.bn1, b.bn1.act(b.conv_pw(x)))
    y = _bn(b.bn2, b.bn2.act(b.conv_dw(y)))
    return _bn(b.bn3, b.conv_pwl(b.se(y)))


def _regnet_block(b, x):  # Bottleneck: conv + bn (fused act) twice, se, conv3 merges
    y = _bn(b.conv1.bn, b.conv1.bn.act(b.conv1.conv(x)))
    y = _bn(b.conv2.bn, b.conv2.bn.act(b.conv2.conv(y)))
    y = _bn(b.conv3.bn, b.conv3.conv(b.se(y)))
    return b.act3(y + _bn(b.downsample.bn, b.downsample.conv(x)))


# name, points, swapped, kept, (block, its first module, its last module), the block by hand
FAMILIES = {
    "resnet18": (17, 9, 11, ("layer1.0", "conv1", "act2"), _resnet_block),
    "efficientnet_b0": (65, 33, 16, ("blocks.1.0", "conv_pw", "bn3"), _efficientnet_block),
    "regnety_002": (66, 27, 17, ("s1.b1", "conv1.conv", "act3"), _regnet_block),
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_points_swap_report_and_one_block_by_hand(name: str) -> None:
    n_points, n_swapped, n_kept, (block, first, last), by_hand = FAMILIES[name]
    model = _timm(name)
    points = swapbn.find_points(model)
    assert len(points) == n_points
    assert sum(p.weight is not None for p in points) >= n_swapped  # conv -> BN -> act found
    swapped, report = swapbn.swap_norm_act(model)
    assert (len(report.swapped), len(report.kept)) == (n_swapped, n_kept), report
    norms = {n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert set(report.swapped) | {n for n, _ in report.kept} == norms  # every norm accounted
    assert all(why for _, why in report.kept)
    # The swapped model's block, run on what reaches it, is the block swapped by hand.
    swapped.eval()
    seen = {}
    hooks = [swapped.get_submodule(f"{block}.{first}").register_forward_pre_hook(
                 lambda m, a: seen.__setitem__("in", a[0].clone())),
             swapped.get_submodule(f"{block}.{last}").register_forward_hook(
                 lambda m, a, out: seen.__setitem__("out", out.clone()))]
    with torch.no_grad():
        swapped(torch.randn(2, 3, 64, 64))
    for h in hooks:
        h.remove()
    with torch.no_grad():
        expected = by_hand(model.eval().get_submodule(block), seen["in"].clone())
        unswapped = model.get_submodule(block)(seen["in"].clone())
    torch.testing.assert_close(seen["out"], expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(unswapped, expected, atol=1e-2)  # the swap changes the block


@pytest.mark.parametrize("name", list(FAMILIES))
def test_swapped_model_trains_and_keeps_its_state_dict_keys(name: str) -> None:
    model = _timm(name)
    swapped, _ = swapbn.swap_norm_act(model)
    assert swapped.state_dict().keys() == model.state_dict().keys()
    swapped.load_state_dict(model.state_dict())  # strict both ways
    model.load_state_dict(swapped.state_dict())
    swapped.train()
    opt = torch.optim.SGD(swapped.parameters(), lr=0.1)
    before = {k: v.clone() for k, v in swapped.state_dict().items()}
    loss = F.cross_entropy(swapped(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    after = swapped.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.endswith("running_mean") for k in changed)  # the BNs ran in train mode
    assert any(k.endswith(".weight") and "bn" not in k for k in changed)


def test_rewrites_follow_train_and_eval_mode() -> None:
    """The fused module's train/eval branch is not frozen into the graph: a rewrite that
    changes nothing (ReLU for ReLU) gives the model's own output in both modes."""
    model = _timm("regnety_002")
    same = swapbn.replace_activations(model, "relu")
    x = torch.randn(4, 3, 32, 32)
    for train in (False, True):
        model.train(train), same.train(train)
        torch.testing.assert_close(same(x), model(x), rtol=0, atol=0)


def test_replace_activations_reaches_the_fused_activation() -> None:
    model = _timm("efficientnet_b0")
    tanh = swapbn.replace_activations(model, "tanh")
    sites = swapbn.find_points(tanh)
    gates = [p for p in sites if p.name.endswith(".gate")]  # squeeze-excitation keeps sigmoid
    assert gates and all(p.bound == 1.0 for p in sites)
    assert isinstance(tanh.get_submodule("blocks.1.0.bn1.act"), swapbn.activations.Tanh)
    assert isinstance(model.get_submodule("blocks.1.0.bn1.act"), nn.SiLU)  # original kept


def test_find_points_shares_the_model_and_its_mode() -> None:
    model = _timm("efficientnet_b0")
    points = swapbn.find_points(model)
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(points.module(x), model(x), rtol=0, atol=0)
    before = model.bn1.running_mean.clone()
    model.train()
    points.module(x)  # train mode: the model's own running statistics move
    assert not torch.equal(model.bn1.running_mean, before)


def test_build_model_and_the_command_line(tmp_path, capsys) -> None:
    own = swapbn.build_model("timm:regnety_002", num_classes=10, act="own", order="swap",
                             in_channels=1)
    assert isinstance(own.get_submodule("s1.b1.conv1.bn.act"), nn.ReLU)
    out = tmp_path / "run"
    assert main(["train", "--arch", "timm:resnet18", "--order", "swap", "--epochs", "1",
                 "--train-subset", "64", "--batch-size", "32", "--threads", "1",
                 "--out", str(out), "--quiet"]) == 0
    run = RunDir(out)
    assert run.config["act"] == "own" and run.final.status == "completed"
    assert isinstance(load_model(out).act1, nn.ReLU)  # its own activation, swapped order
    assert main(["measure", str(out), "--json", "--max-samples", "32"]) == 0
    assert len(json.loads(capsys.readouterr().out)["layers"]) == 17


@pytest.mark.parametrize(("arch", "words"), [
    ("timm:resnet81", ["unknown model 'timm:resnet81'", "timm:resnet18"]),
    ("resnet18", ["torchvision:resnet18", "timm:resnet18"]),
])
def test_unknown_names_suggest_the_zoos(arch, words, tmp_path, capsys) -> None:
    assert main(["train", "--arch", arch, "--out", str(tmp_path / "r"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(w in err for w in words), err
