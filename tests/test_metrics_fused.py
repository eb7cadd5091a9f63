"""Fused statistics (one compiled kernel per batch): the float64 reference, the default
reductions, and the fallback when compiling fails."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from swapbn import build_model
from swapbn.metrics import ChannelMoments, measure
from swapbn.metrics import moments as moments_module
from test_metrics_moments import reference

FIELDS = ("mean", "m2", "m3", "sum_abs", "max_abs", "min", "max")


def batches(layout: torch.memory_format) -> list[torch.Tensor]:
    """Float32 batches of a saturated tanh layer (means near +-1) in `layout`."""
    g = torch.Generator().manual_seed(5)
    centre = torch.randn(1, 6, 1, 1, generator=g) * 3
    x = torch.tanh(centre + 0.5 * torch.randn(40, 6, 5, 4, generator=g))
    return [part.contiguous(memory_format=layout) for part in x.split([16, 9, 15])]


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_fused_statistics_equal_the_float64_reference(layout):
    parts = batches(layout)
    fused, block = ChannelMoments(), ChannelMoments(moments=False)
    for part in parts:
        fused.update(part, fused=True)
        block.update(part, fused=True)
    assert moments_module._FUSED.broken is None
    ref = reference(torch.cat(parts).double().numpy())
    # float64 throughout: far inside the 1e-6 the float32 reductions are held to
    np.testing.assert_allclose(fused.mean.numpy(), ref["mean"], rtol=1e-12)
    np.testing.assert_allclose(fused.m2.numpy(), ref["m2"], rtol=1e-10)
    np.testing.assert_allclose(fused.m3.numpy(), ref["m3"], rtol=0, atol=1e-10 * ref["abs3"].max())
    np.testing.assert_allclose(fused.sum_abs.numpy(), ref["sum_abs"], rtol=1e-12)
    for stats in (fused, block):
        np.testing.assert_array_equal(stats.max_abs.numpy(), ref["max_abs"])
    np.testing.assert_array_equal(fused.min.numpy(), ref["min"])
    np.testing.assert_array_equal(fused.max.numpy(), ref["max"])
    eager = ChannelMoments()
    for part in parts:
        eager.update(part)
    for f in FIELDS:
        torch.testing.assert_close(getattr(fused, f), getattr(eager, f), rtol=1e-6, atol=1e-9)


def test_fused_measure_equals_measure():
    torch.manual_seed(0)
    model = build_model("vgg16_11", num_classes=10, act="tanh", order="swap", width=0.125)
    model.to(memory_format=torch.channels_last)  # as a trained run leaves it
    x = torch.randn(48, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    plain = measure(model, x, batch_size=16).to_dict()
    fused = measure(model, x, batch_size=16, fused=True).to_dict()
    assert fused["samples"] == plain["samples"] == 48
    for a, b in zip(fused["layers"], plain["layers"], strict=True):
        for key, value in b.items():
            if isinstance(value, float):  # the signed mean skewness may cancel to ~1e-4
                assert a[key] == pytest.approx(value, rel=1e-6, abs=1e-7), (b["name"], key)
            else:
                assert a[key] == value


def test_a_compiler_failure_falls_back_to_the_default_reductions_and_says_so_once(monkeypatch):
    def broken(*args):
        raise RuntimeError("no C++ compiler\nsecond line")

    fused = moments_module._Fused()
    fused.kernels = {True: broken, False: broken}
    monkeypatch.setattr(moments_module, "_FUSED", fused)
    x = torch.randn(8, 3, 4, 4)
    with pytest.warns(UserWarning, match="no C.. compiler.*eager reductions"):
        got = ChannelMoments().update(x, fused=True)
    assert fused.broken == "RuntimeError: no C++ compiler"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once: later batches go straight to eager
        got.update(x, fused=True)
    want = ChannelMoments().update(x).update(x)
    for f in FIELDS:
        torch.testing.assert_close(getattr(got, f), getattr(want, f), rtol=0, atol=0)


def test_other_threads_and_single_images_use_the_default_reductions(monkeypatch):
    calls = []
    fused = moments_module._Fused()
    fused.kernels = {True: lambda *args: calls.append(args)}  # fails the update if called
    monkeypatch.setattr(moments_module, "_FUSED", fused)
    ChannelMoments().update(torch.randn(1, 3, 4, 4), fused=True)  # one image
    worker = threading.Thread(
        target=lambda: ChannelMoments().update(torch.randn(8, 3, 4, 4), fused=True))
    worker.start()
    worker.join()
    assert calls == []
    with pytest.raises(TypeError):  # the stand-in kernel is reached from the main thread
        ChannelMoments().update(torch.randn(8, 3, 4, 4), fused=True)


class Doubler(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x


def block_updates(monkeypatch) -> list:
    """Calls of update() on block statistics (moments=False) from now on."""
    calls = []
    update = ChannelMoments.update

    def counted(self, x, *args, **kwargs):
        if not self.moments:
            calls.append(tuple(x.shape))
        return update(self, x, *args, **kwargs)

    monkeypatch.setattr(ChannelMoments, "update", counted)
    return calls


def test_a_batchnorm_after_the_activation_is_measured_in_the_activations_read(monkeypatch):
    """Swap order: the fused kernel of the activation also sums |BN(x)|; the BatchNorm's own
    output is not read again, and the record equals measuring it directly."""
    torch.manual_seed(0)
    model = build_model("vgg16_8", num_classes=10, act="tanh", order="swap", width=0.125)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.1, 2.0)
                m.weight.uniform_(-1.5, 1.5)  # some negative scales too
                m.bias.uniform_(-0.5, 0.5)
    x = torch.randn(40, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    plain = measure(model, x, batch_size=20).to_dict()
    calls = block_updates(monkeypatch)
    fused = measure(model, x, batch_size=20, fused=True).to_dict()
    assert calls == []  # every block output came from its activation's read
    for a, b in zip(fused["layers"], plain["layers"], strict=True):
        assert a["sparsity"] == pytest.approx(b["sparsity"], rel=1e-6), a["name"]


def test_a_batchnorm_fed_something_else_measures_its_own_output(monkeypatch):
    g = torch.Generator().manual_seed(6)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), Doubler(), nn.BatchNorm2d(4)).eval()
    with torch.no_grad():
        model[3].running_mean.uniform_(-0.5, 0.5, generator=g)
    points = [(model[1], model[3], 1.0)]
    x = torch.randn(16, 3, 8, 8, generator=g)
    plain = measure(model, x, batch_size=8, points=points).to_dict()
    calls = block_updates(monkeypatch)
    fused = measure(model, x, batch_size=8, points=points, fused=True).to_dict()
    assert len(calls) == 2  # the BatchNorm saw 2 * tanh, not tanh: measured directly
    assert fused["layers"][0]["sparsity"] == pytest.approx(plain["layers"][0]["sparsity"],
                                                           rel=1e-6)
