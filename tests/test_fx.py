"""swapbn.fx on models swapbn did not build: points found on the fx graph, measured through
observers, rewritten into the swap order, and torchvision models trained and measured."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from scipy import stats
from torch import nn

import swapbn
from swapbn.cli import main
from swapbn.fx import TraceError
from swapbn.metrics import measure


def _records_equal(got: dict, want: dict, rel: float = 1e-9) -> None:
    for key in ("avg_saturation", "avg_skewness", "avg_sparsity", "samples"):
        assert got[key] == (want[key] if want[key] is None else pytest.approx(want[key], rel=rel))
    for g, w in zip(got["layers"], want["layers"], strict=True):
        for key, value in w.items():
            if key == "name":
                continue
            assert g[key] == (pytest.approx(value, rel=rel, abs=1e-12)
                              if isinstance(value, float) else value), key


def _count(model: nn.Module, cls: type) -> int:
    return sum(isinstance(m, cls) for m in model.modules())


def test_resnet18_shared_relu_gives_one_point_per_call() -> None:
    model = torchvision.models.resnet18(num_classes=10)
    points = swapbn.find_points(model)
    names = [p.name for p in points]
    # the stem, then per basic block: after bn1, and after the residual sum (second call)
    blocks = [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    assert names == ["relu"] + [n for b in blocks for n in (f"{b}.relu", f"{b}.relu#2")]
    assert all(p.bound is None for p in points)
    first = points[1]
    assert first.weight is model.layer1[0].conv1 and first.channels == 64 and first.shared
    record = measure(model, torch.randn(6, 3, 32, 32), points=points).to_dict()
    assert len(record["layers"]) == 17
    assert all(r["saturation"] is None for r in record["layers"])  # undefined for ReLU, not 0
    assert record["avg_saturation"] is None and record["avg_sparsity"] > 0


def test_mobilenet_v2_and_efficientnet_b0_points_and_bounds() -> None:
    mobilenet = torchvision.models.mobilenet_v2(num_classes=10)
    points = swapbn.find_points(mobilenet)
    assert len(points) == _count(mobilenet, nn.ReLU6)
    assert {p.bound for p in points} == {6.0}
    effnet = torchvision.models.efficientnet_b0(num_classes=10)
    points = swapbn.find_points(effnet)
    assert len(points) == _count(effnet, nn.SiLU) + _count(effnet, nn.Sigmoid)
    gates = [p for p in points if p.bound == 1.0]  # squeeze-excitation's sigmoid
    assert len(gates) == _count(effnet, nn.Sigmoid) and all(p.weight is not None for p in gates)


@pytest.mark.parametrize("order", ["convention", "swap", "nobn"])
@pytest.mark.parametrize("arch", ["vgg11", "mobilenet"])
def test_own_models_points_and_statistics_equal_measurement_points(arch: str, order: str) -> None:
    torch.manual_seed(0)
    model = swapbn.build_model(arch, num_classes=10, act="tanh", order=order, width=1 / 16)
    with torch.no_grad():  # BN statistics unlike the defaults, so swap's block outputs differ
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.bias.uniform_(-0.5, 0.5)
    blocks = swapbn.measurement_points(model)
    found = swapbn.find_points(model)
    assert [p.name for p in found] == [f"{b.name}.act" for b in blocks]
    for f, b in zip(found, blocks, strict=True):
        assert (f.kind, f.channels, f.bound, f.shared) == (b.kind, b.channels, b.bound, b.shared)
        assert f.weight is b.weight
    x = torch.randn(20, 3, 32, 32)
    _records_equal(measure(model, x, points=found).to_dict(), measure(model, x).to_dict())


def test_observers_equal_hand_hooks_and_numpy() -> None:
    """Observers at the call sites give the statistics of hooks put on the modules by hand,
    and those of float64 NumPy / SciPy on the raw activation outputs."""
    torch.manual_seed(1)
    model = torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.25)
    model.eval()
    x = torch.randn(16, 3, 32, 32)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU6)]
    by_hand = measure(model, x, points=[(m, m) for m in relus]).to_dict()
    observed = measure(model, x, points=swapbn.find_points(model)).to_dict()
    _records_equal(observed, by_hand)
    outputs = []
    handle = relus[-1].register_forward_hook(lambda m, i, o: outputs.append(o.double().numpy()))
    with torch.no_grad():
        model(x)
    handle.remove()
    a = np.moveaxis(outputs[0], 1, -1).reshape(-1, outputs[0].shape[1])
    last = observed["layers"][-1]
    assert last["saturation"] == pytest.approx(np.abs(a).mean() / 6.0, rel=1e-9)
    with warnings.catch_warnings():  # constant channels: NaN, left out below as by measure
        warnings.simplefilter("ignore", RuntimeWarning)
        k = stats.skew(a, axis=0, bias=False)
    k = k[np.isfinite(k) & (a.std(axis=0) > 0)]
    assert last["skewness"] == pytest.approx(np.abs(k).mean(), rel=1e-5)


class _Convention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.fc, self.b3, self.out = nn.Linear(8 * 16, 12), nn.BatchNorm1d(12), nn.Linear(12, 5)

    def forward(self, x):
        x = torch.tanh(self.b1(self.c1(x)))
        x = F.max_pool2d(F.relu(self.b2(self.c2(x))), 2)
        return self.out(torch.tanh(self.b3(self.fc(x.flatten(1)))))


class _SwapByHand(_Convention):
    def forward(self, x):
        x = self.b1(torch.tanh(self.c1(x)))
        x = F.max_pool2d(self.b2(F.relu(self.c2(x))), 2)
        return self.out(self.b3(torch.tanh(self.fc(x.flatten(1)))))


def test_swap_norm_act_equals_the_hand_written_swap_network() -> None:
    torch.manual_seed(2)
    model = _Convention()
    swapped, report = swapbn.swap_norm_act(model)
    assert report.swapped == ["b1", "b2", "b3"] and report.kept == []
    by_hand = _SwapByHand()
    by_hand.load_state_dict(model.state_dict())
    assert swapped.state_dict().keys() == model.state_dict().keys()
    x = torch.randn(8, 3, 8, 8)
    assert torch.equal(swapped(x), by_hand(x))  # training mode: batch statistics, updated too
    assert torch.equal(swapped.b2.running_mean, by_hand.b2.running_mean)
    swapped.eval(), by_hand.eval()
    assert torch.equal(swapped(x), by_hand(x))
    assert not torch.equal(swapped(x), model.eval()(x))  # the original is left alone
    found = swapbn.find_points(swapped)
    assert [p.shared for p in found] == [False, False, False]


def test_residual_merge_is_kept_and_reported() -> None:
    model = torchvision.models.resnet18(num_classes=10)
    swapped, report = swapbn.swap_norm_act(model)
    assert "layer1.0.bn1" in report.swapped and "bn1" in report.swapped
    kept = dict(report.kept)
    assert "residual" in kept["layer1.0.bn2"]
    assert "layer2.0.downsample.1" in kept  # the shortcut's BN feeds the sum, no activation
    assert len(report.swapped) == 1 + 8  # the stem and each basic block's first BN


def test_replace_activations_keeps_gates() -> None:
    effnet = torchvision.models.efficientnet_b0(num_classes=10)
    tanh = swapbn.replace_activations(effnet, "tanh")
    assert _count(tanh, nn.SiLU) == 0 and _count(tanh, nn.Sigmoid) == _count(effnet, nn.Sigmoid)
    assert _count(tanh, swapbn.activations.Tanh) > 0
    resnet = swapbn.replace_activations(torchvision.models.resnet18(), "softsign")
    assert all(p.bound == 1.0 for p in swapbn.find_points(resnet))


def test_rewritten_resnet18_trains_saves_and_loads(tmp_path) -> None:
    torch.manual_seed(3)
    model = swapbn.build_model("torchvision:resnet18", num_classes=10, act="tanh", order="swap")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert not torch.equal(before["conv1.weight"], model.conv1.weight)
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    again = swapbn.build_model("torchvision:resnet18", num_classes=10, act="tanh", order="swap")
    again.load_state_dict(torch.load(path, weights_only=True))
    model.eval(), again.eval()
    assert torch.equal(model(x), again(x))


class _Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.act = nn.Conv2d(3, 4, 3), nn.Tanh()

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
            x = -x
        return self.act(self.conv(x))


def test_untraceable_model_names_the_call_and_the_fallback() -> None:
    with pytest.raises(TraceError) as info:
        swapbn.find_points(_Untraceable())
    message = str(info.value)
    assert "_Untraceable" in message and "if x.sum() > 0" in message
    assert "points=" in message and "\n" not in message
    model = _Untraceable()  # the fallback works
    record = measure(model, torch.randn(2, 3, 8, 8), points=[model.act]).to_dict()
    assert record["layers"][0]["bound"] == 1.0


def test_measure_command_on_a_torchvision_model_with_weights(tmp_path, capsys) -> None:
    torch.manual_seed(4)
    model = swapbn.build_model("torchvision:resnet18", num_classes=10, act="tanh",
                               order="convention", in_channels=1)
    with torch.no_grad():
        model.bn1.bias.uniform_(-1, 1)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    assert main(["measure", "--arch", "torchvision:resnet18", "--dataset", "digits", "--act",
                 "tanh", "--weights", str(tmp_path / "w.pt"), "--max-samples", "50",
                 "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    from swapbn.data import load_dataset

    want = measure(model, load_dataset("digits"), max_samples=50).to_dict()
    _records_equal(record, want)
    (tmp_path / "bad.pt").write_text("not a state dict")
    assert main(["measure", "--arch", "torchvision:resnet18", "--dataset", "digits",
                 "--weights", str(tmp_path / "bad.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.pt" in err
    assert main(["measure", "--arch", "torchvision:resnet18"]) == 2
    assert "--dataset" in capsys.readouterr().err


def test_points_of_another_model_are_refused() -> None:
    points = swapbn.find_points(_Convention())
    with pytest.raises(ValueError, match="another model"):
        measure(_Convention(), torch.randn(2, 3, 8, 8), points=points)
