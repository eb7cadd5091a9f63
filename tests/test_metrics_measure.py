"""measure(): hooks, data forms, metric edge cases, points on non-swapbn models, gradient probes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn
from torchvision.ops import Conv2dNormActivation

import swapbn
from swapbn import MeasurementPoint, build_model, measurement_points
from swapbn.metrics import (
    ChannelSamples,
    activation_points,
    channel_samples,
    gradient_probes,
    measure,
    resolve_points,
)


def tiny(order="swap", act="tanh", seed=0):
    torch.manual_seed(seed)
    return build_model("vgg16_8", num_classes=10, act=act, order=order, width=0.0625,
                       in_channels=1, image_size=16)


def inputs(n=48, seed=0):
    return torch.randn(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed))


def capture(model, x, modules, batch_size=None):
    """Outputs of `modules` for x in float64, run in the same batches measure() uses
    (float32 convolutions round differently for different batch sizes)."""
    out = {k: [] for k in range(len(modules))}
    hs = [m.register_forward_hook(lambda mod, i, o, k=k: out[k].append(o.double()))
          for k, m in enumerate(modules)]
    model.eval()
    with torch.no_grad():
        for xb in x.split(batch_size or len(x)):
            model(xb)
    for h in hs:
        h.remove()
    return [torch.cat(out[k]) for k in range(len(modules))]


def flat(t):
    return t.transpose(0, 1).reshape(t.shape[1], -1).numpy()


def reference_record(act: torch.Tensor, block: torch.Tensor, bound):
    a, b = flat(act), flat(block)
    var = a.var(axis=1)
    keep = var > 1e-12 * a.mean(axis=1) ** 2 + 1e-30
    k = scipy.stats.skew(a[keep], axis=1, bias=False)
    peak = np.abs(b).max(axis=1, keepdims=True)
    norm = np.divide(np.abs(b), peak, out=np.zeros_like(b), where=peak > 0)
    return {"saturation": None if bound is None else np.abs(a).mean() / bound,
            "skewness": np.abs(k).mean() if keep.any() else None,
            "constant_channels": int((~keep).sum()), "sparsity": 1 - norm.mean()}


@pytest.mark.parametrize("order", ["swap", "convention", "nobn"])
def test_every_layer_matches_whole_array_reference(order):
    model, x = tiny(order), inputs()
    got = measure(model, x, batch_size=10).to_dict()
    points = measurement_points(model)
    acts = capture(model, x, [p.act for p in points], 10)
    blocks = capture(model, x, [p.output for p in points], 10)
    assert [r["name"] for r in got["layers"]] == [p.name for p in points]
    for r, p, a, b in zip(got["layers"], points, acts, blocks, strict=True):
        e = reference_record(a, b, p.bound)
        assert r["kind"] == p.kind and r["channels"] == p.channels
        assert r["saturation"] == pytest.approx(e["saturation"], rel=1e-7)
        assert r["skewness"] == pytest.approx(e["skewness"], rel=1e-6)
        assert r["sparsity"] == pytest.approx(e["sparsity"], rel=1e-7)
        assert r["constant_channels"] == e["constant_channels"]
    sats = [r["saturation"] for r in got["layers"]]
    assert got["avg_saturation"] == pytest.approx(np.mean(sats), rel=1e-12)
    assert got["avg_sparsity"] == pytest.approx(np.mean([r["sparsity"] for r in got["layers"]]))
    assert set(got) == {"layers", "avg_saturation", "avg_skewness", "avg_sparsity", "samples"}
    assert set(got["layers"][0]) == {"name", "kind", "channels", "saturation", "skewness",
                                     "skewness_signed", "constant_channels", "sparsity",
                                     "empirical_saturation", "act_empirical_saturation", "bound"}


def test_data_forms_and_batch_sizes_agree_and_max_samples_limits():
    model, x = tiny(), inputs(40)
    y = torch.zeros(40, dtype=torch.long)
    # Same batches in every form (float32 convolutions round differently per batch size).
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    records = [measure(model, x, batch_size=8).to_dict(),
               measure(model, list(x.split(8))).to_dict(),
               measure(model, loader).to_dict(),
               measure(model, list(zip(x.split(8), y.split(8), strict=True))).to_dict()]
    for r in records[1:]:
        assert r == records[0]
    assert records[0]["samples"] == 40
    limited = measure(model, loader, max_samples=10).to_dict()
    assert limited["samples"] == 10
    assert limited["layers"][0]["saturation"] == pytest.approx(
        measure(model, x[:10]).to_dict()["layers"][0]["saturation"], rel=1e-12)
    with pytest.raises(ValueError, match="data must yield"):
        measure(model, ["not a tensor"])
    with pytest.raises(ValueError, match="no data"):
        measure(model, [])


def test_mode_restored_and_hooks_removed_even_on_error():
    model = tiny()
    model.train()
    measure(model, inputs(8))
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())

    def broken():
        yield inputs(4)
        raise RuntimeError("data source failed")

    with pytest.raises(RuntimeError, match="data source failed"):
        measure(model, broken())
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_relu_layers_have_no_saturation_but_empirical_saturation():
    model, x = tiny("swap", "relu"), inputs()
    got = measure(model, x).to_dict()
    assert got["avg_saturation"] is None
    for r in got["layers"]:
        assert r["saturation"] is None and r["bound"] is None
        assert 0 < r["act_empirical_saturation"] <= 1
        assert r["empirical_saturation"] == pytest.approx(1 - r["sparsity"])
    assert got["avg_skewness"] == pytest.approx(np.mean([r["skewness"] for r in got["layers"]]))
    assert got["avg_sparsity"] == pytest.approx(np.mean([r["sparsity"] for r in got["layers"]]))


def test_constant_and_all_zero_channels_in_conv_and_fc_layers():
    """Channel 0: all zero (fully sparse, constant); channel 1: constant 0.5; others vary."""
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 4, 3, padding=1)
    fc = nn.Linear(4, 3)
    with torch.no_grad():
        for layer in (conv, fc):
            layer.weight[:2] = 0
            layer.bias[0] = 0
            layer.bias[1] = 0.5493061443340549  # atanh(0.5)
    model = nn.Sequential(conv, nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc, nn.Tanh())
    x = inputs(30)
    got = measure(model, x, points=[model[1], model[5]]).to_dict()
    conv_r, fc_r = got["layers"]
    assert (conv_r["kind"], conv_r["channels"]) == ("conv", 4)
    assert (fc_r["kind"], fc_r["channels"]) == ("fc", 3)
    assert (conv_r["name"], fc_r["name"]) == ("1", "5")
    for r, t in zip(got["layers"], capture(model, x, [model[1], model[5]]), strict=True):
        e = reference_record(t, t, 1.0)
        assert r["constant_channels"] == 2 == e["constant_channels"]
        assert r["skewness"] == pytest.approx(e["skewness"], rel=1e-6)
        assert r["sparsity"] == pytest.approx(e["sparsity"], rel=1e-7)
        # the constant 0.5 channel is its own maximum everywhere: it adds 1 per element
        a = flat(t)
        others = np.abs(a[2:]) / np.abs(a[2:]).max(axis=1, keepdims=True)
        assert r["sparsity"] == pytest.approx(1 - (a.shape[1] + others.sum()) / a.size, rel=1e-7)
    # Every channel constant: layer skewness undefined, the model average ignores the layer.
    with torch.no_grad():
        fc.weight.zero_()
    got = measure(model, x, points=[model[1], model[5]]).to_dict()
    assert got["layers"][1]["skewness"] is None and got["layers"][1]["constant_channels"] == 3
    assert got["avg_skewness"] == pytest.approx(got["layers"][0]["skewness"])


def test_points_on_torchvision_blocks_and_a_swap_sequential():
    torch.manual_seed(0)
    conventional = nn.Sequential(
        Conv2dNormActivation(1, 6, activation_layer=nn.Tanh, inplace=None),
        Conv2dNormActivation(6, 8, activation_layer=nn.ReLU),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    points = activation_points(conventional)
    assert [p.name for p in points] == ["0.2", "1.2"] and [p.bound for p in points] == [1.0, None]
    x = inputs(20)
    got = measure(conventional, x, points=points).to_dict()
    s = got["layers"][0]["saturation"]
    assert 0 < s < 1 and got["avg_saturation"] == s and got["layers"][1]["saturation"] is None
    # The swap order written by hand: conv -> tanh -> BN, points as (act, output, bound).
    swap = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.Tanh(), nn.BatchNorm2d(6),
                         nn.Conv2d(6, 6, 3, padding=1), nn.Softsign(), nn.BatchNorm2d(6))
    with torch.no_grad():
        for bn in (swap[2], swap[5]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.1, 1.0)
    by_module = measure(swap, x, points=[(swap[1], swap[2], 1.0), (swap[4], swap[5])]).to_dict()
    by_name = measure(swap, x, points=[("1", "2", 1.0), ("4", "5")]).to_dict()
    assert by_module["layers"] == by_name["layers"]
    acts = capture(swap, x, [swap[1], swap[4]])
    blocks = capture(swap, x, [swap[2], swap[5]])
    for r, a, b in zip(by_module["layers"], acts, blocks, strict=True):
        e = reference_record(a, b, 1.0)
        assert r["saturation"] == pytest.approx(e["saturation"], rel=1e-7)
        assert r["sparsity"] == pytest.approx(e["sparsity"], rel=1e-7)
        assert r["skewness"] == pytest.approx(e["skewness"], rel=1e-6)
    with pytest.raises(ValueError, match="no submodule"):
        measure(swap, x, points=[("1", "nope")])
    # Without points, a model with no swapbn blocks is measured at swapbn.find_points' sites.
    assert measure(swap, x).to_dict()["layers"] == by_name["layers"]


def test_channel_samples_are_seeded_bounded_and_round_trip(tmp_path):
    model, x = tiny(), inputs(64)
    a = channel_samples(model, x, channels=3, max_values=500, seed=1, batch_size=16)
    b = channel_samples(model, x, channels=3, max_values=500, seed=1, batch_size=16)
    first = a.layers[0]
    assert a.values("act", first).shape == (3, 500)
    np.testing.assert_array_equal(a.values("act", first), b.values("act", first))
    # every sampled value really occurs in its channel
    act = flat(capture(model, x, [model.features[0].act])[0])
    for c, row in zip(a.channels(first), a.values("act", first), strict=True):
        assert np.isin(row, act[c].astype(np.float32)).all()
    # a small layer keeps all its values
    fc = a.layers[-1]
    assert a.values("block", fc).shape == (3, 64)
    path = a.save(tmp_path / "channels.npz")
    back = ChannelSamples.load(path)
    assert back.layers == a.layers
    np.testing.assert_array_equal(back.layer_values("block", fc), a.layer_values("block", fc))
    picked = channel_samples(model, x, channels=[1, 0], max_values=10)
    assert picked.channels(first).tolist() == [1, 0]


def test_gradient_probes_match_autograd_and_leave_the_model_unchanged():
    model = tiny()
    x, y = inputs(32), torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    got = gradient_probes(model, [(x[:16], y[:16]), (x[16:], y[16:])], batches=2)
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    # Reference: the same two batches by hand.
    block = model.features[0]
    sums = {"inp": [], "wgrad": [], "agrad": []}
    model.train()
    for xb, yb in ((x[:16], y[:16]), (x[16:], y[16:])):
        model.zero_grad()
        pre = block.weight(xb)
        pre.retain_grad()
        h = block.bn(block.act(pre))
        rest = model.features[1:](h)
        logits = model.classifier(model.pool(rest).flatten(1))
        torch.nn.functional.cross_entropy(logits, yb).backward()
        sums["inp"].append(xb.abs().mean())
        sums["wgrad"].append(block.weight.weight.grad.abs().mean())
        sums["agrad"].append(pre.grad.abs().mean())
    model.load_state_dict(before)
    r = got["layers"][0]
    assert got["batches"] == 2 and got["samples"] == 32
    assert r["input_abs_mean"] == pytest.approx(float(torch.stack(sums["inp"]).mean()), rel=1e-6)
    assert r["weight_grad_abs_mean"] == pytest.approx(float(torch.stack(sums["wgrad"]).mean()),
                                                      rel=1e-5)
    assert r["act_input_grad_abs_mean"] == pytest.approx(float(torch.stack(sums["agrad"]).mean()),
                                                         rel=1e-5)
    assert [layer["name"] for layer in got["layers"]][:2] == ["features.0", "features.1"]
    # The same points as measure(); a subset probes only those layers, named points cannot.
    one = gradient_probes(model, [(x[:16], y[:16]), (x[16:], y[16:])], batches=2,
                          points=measurement_points(model)[:1])
    assert one["layers"] == got["layers"][:1]
    with pytest.raises(ValueError, match="weight layer"):
        gradient_probes(model, [(x, y)], points=["features.0.act"])


def test_one_point_type_for_blocks_and_named_modules():
    model = tiny("convention")
    blocks = measurement_points(model)
    assert resolve_points(model) == blocks and resolve_points(model, blocks[:2]) == blocks[:2]
    p = blocks[0]
    assert isinstance(p, MeasurementPoint) and p.shared and p.bounded
    assert (p.kind, p.weight) == ("conv", model.features[0].weight)
    named = resolve_points(model, ["features.0.act"])[0]
    assert isinstance(named, MeasurementPoint)
    assert (named.name, named.act, named.kind, named.channels, named.bound, named.weight) == (
        "features.0.act", p.act, None, None, 1.0, None)


def test_measure_is_exported_from_the_package():
    assert swapbn.measure is measure


def test_gradient_probes_see_the_input_gradient_of_an_in_place_activation():
    """ReLU(inplace=True) overwrites its input: the probe must still record dL/d(input)."""
    def net(inplace: bool) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(inplace=inplace),
                             nn.Flatten(), nn.Linear(4 * 6 * 6, 2))

    torch.manual_seed(1)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 2, (8,))
    got = []
    for inplace in (False, True):
        m = net(inplace)
        point = MeasurementPoint("0", "conv", 4, m[2], m[2], None, m[0])
        got.append(gradient_probes(m, [(x, y)], batches=1, points=[point])["layers"][0])
    assert got[1]["act_input_grad_abs_mean"] == pytest.approx(got[0]["act_input_grad_abs_mean"],
                                                              rel=1e-6)
