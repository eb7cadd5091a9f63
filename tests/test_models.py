"""Models in every order: shapes, block order seen by hooks, depth, parameter counts."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from swapbn import build_model, measurement_points
from swapbn.activations import ACTIVATIONS, make_activation
from swapbn.blocks import Block
from swapbn.models import MODELS
from swapbn.models.vgg import VGG16, vgg16_n_config

ORDERS = ["convention", "swap", "nobn"]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("image_size", [32, 64])
def test_every_model_order_activation_runs(name: str, image_size: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, image_size, image_size)
    for order in ORDERS:
        for act in ACTIVATIONS:
            model = build_model(name, num_classes=7, act=act, order=order, width=1 / 16,
                                image_size=image_size).eval()
            with torch.no_grad():
                out = model(x)
            assert out.shape == (2, 7), (name, order, act)
            assert torch.isfinite(out).all()


def test_imagenet_head_is_torchvision_layout() -> None:
    model = build_model("vgg16_11", num_classes=5, act="tanh", order="swap", width=1 / 16,
                        image_size=224)
    assert model.pool.output_size == 7
    fc = [m for m in model.classifier if isinstance(m, Block)]
    assert [b.weight.out_features for b in fc] == [256, 256]
    assert sum(isinstance(m, nn.Dropout) for m in model.classifier) == 2
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 5)


def _fire_order(block: Block) -> list[str]:
    fired: list[str] = []
    handles = [getattr(block, n).register_forward_hook(lambda *_, n=n: fired.append(n))
               for n in ("weight", "act", "bn") if hasattr(block, n)]
    block(torch.randn(2, block.weight.in_channels if hasattr(block.weight, "in_channels")
                      else block.weight.in_features, *([4, 4] if block.kind == "conv" else [])))
    for h in handles:
        h.remove()
    return fired


@pytest.mark.parametrize("name", ["vgg16_11", "vgg11", "mobilenet"])
def test_hooks_fire_in_block_order(name: str) -> None:
    expected = {"swap": ["weight", "act", "bn"], "convention": ["weight", "bn", "act"],
                "nobn": ["weight", "act"]}
    for order, fire in expected.items():
        model = build_model(name, num_classes=3, act="tanh", order=order, width=1 / 16)
        blocks = [m for m in model.modules() if isinstance(m, Block)]
        assert blocks
        for block in blocks:
            assert _fire_order(block) == fire
        if order == "nobn":
            assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_whole_model_hook_order_swap() -> None:
    model = build_model("vgg16_11", num_classes=3, act="tanh", order="swap", width=1 / 16)
    fired: list[type] = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) or m.__class__.__name__ == "Tanh":
            m.register_forward_hook(lambda mod, *_: fired.append(type(mod).__name__))
    model(torch.randn(2, 3, 32, 32))
    assert fired[:6] == ["Conv2d", "Tanh", "BatchNorm2d"] * 2


def _count(model: nn.Module, cls: type) -> int:
    return sum(isinstance(m, cls) for m in model.modules())


def test_vgg16_n_depths() -> None:
    m = build_model("vgg16_11", num_classes=10, act="tanh", order="swap", width=1 / 16)
    assert _count(m, nn.Conv2d) == 8 and _count(m, nn.Linear) == 3
    for n in range(8, 17):
        m = build_model(f"vgg16_{n}", num_classes=10, act="tanh", order="swap", width=1 / 16)
        assert _count(m, nn.Conv2d) == n - 3
        assert _count(m, nn.Linear) == 3
    assert _count(build_model("vgg11", num_classes=10, width=1 / 16), nn.Conv2d) == 8


def test_vgg16_n_pools_follow_the_paper() -> None:
    assert vgg16_n_config(11) == [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512]
    assert vgg16_n_config(10) == [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"]
    assert vgg16_n_config(16) == VGG16


def test_vgg16_parameter_count_by_hand() -> None:
    convs = [c for c in VGG16 if c != "M"]
    total, cin = 0, 3
    for c in convs:
        total += cin * c * 9 + c  # conv weight + bias
        total += 2 * c  # BN gamma + beta
        cin = c
    total += (512 * 512 + 512 + 2 * 512) * 2  # two FC blocks with BN1d
    total += 512 * 100 + 100  # classifier
    model = build_model("vgg16", num_classes=100, act="tanh", order="swap", width=1.0)
    assert sum(p.numel() for p in model.parameters()) == total == 15_301_796


def test_mobilenet_depthwise_and_stem() -> None:
    for size, stride in [(32, 1), (64, 2), (224, 2)]:
        m = build_model("mobilenet", num_classes=10, act="tanh", order="swap", width=0.25,
                        image_size=size)
        convs = [c for c in m.modules() if isinstance(c, nn.Conv2d)]
        assert convs[0].stride == (stride, stride)
        depthwise = [c for c in convs if c.groups > 1]
        assert len(depthwise) == 13
        for c in depthwise:
            assert c.groups == c.in_channels == c.out_channels
            assert c.kernel_size == (3, 3)
        assert len(convs) == 1 + 13 * 2


@pytest.mark.parametrize("x", [-30.0, -3.0, -0.5, 0.0, 0.2, 1.0, 4.0, 50.0])
def test_activation_values_and_bounds(x: float) -> None:
    t = torch.tensor([x], dtype=torch.float64)
    refs = {
        "tanh": (math.tanh(x), 1.0),
        "lecun_tanh": (1.7159 * math.tanh(2 * x / 3), 1.7159),
        "softsign": (x / (1 + abs(x)), 1.0),
        "relu": (max(0.0, x), None),
    }
    for name, (value, bound) in refs.items():
        act = make_activation(name)
        assert act(t).item() == pytest.approx(value, rel=1e-12, abs=1e-15)
        assert act.bound == bound
        if bound is not None:
            assert abs(act(t).item()) <= bound
    shifted = make_activation("shifted_tanh", dx=0.5, dy=0.25)
    assert shifted(t).item() == pytest.approx(math.tanh(x + 0.5) + 0.25, rel=1e-12, abs=1e-15)
    assert shifted.bound == 1.25


def test_saturating_inputs_reach_the_bound() -> None:
    big = torch.tensor([1e4, -1e4], dtype=torch.float64)
    assert make_activation("tanh")(big).tolist() == [1.0, -1.0]
    assert make_activation("lecun_tanh")(big).tolist() == pytest.approx([1.7159, -1.7159])
    assert make_activation("softsign")(big).tolist() == pytest.approx([1.0, -1.0], abs=1e-3)


@pytest.mark.parametrize("name", list(MODELS))
def test_measurement_points_one_per_block_in_forward_order(name: str) -> None:
    model = build_model(name, num_classes=4, act="tanh", order="swap", width=1 / 16)
    points = measurement_points(model)
    blocks = [m for m in model.modules() if isinstance(m, Block)]
    assert len(points) == len(blocks)
    seen: list[nn.Module] = []
    for p in points:
        p.output.register_forward_hook(lambda mod, *_: seen.append(mod))
    model(torch.randn(2, 3, 32, 32))
    assert seen == [p.output for p in points]
    for p, b in zip(points, blocks, strict=True):
        assert p.act is b.act and p.output is b.bn and p.bound == 1.0
        assert p.channels == (b.weight.out_channels if p.kind == "conv" else b.weight.out_features)
    kinds = [p.kind for p in points]
    if name.startswith("vgg"):
        assert kinds[-2:] == ["fc", "fc"]
    else:
        assert set(kinds) == {"conv"}


def test_unknown_names_list_choices() -> None:
    with pytest.raises(ValueError, match="choose from .*vgg16_11"):
        build_model("resnet50", num_classes=10)
    with pytest.raises(ValueError, match="choose from .*softsign"):
        build_model("vgg11", num_classes=10, act="gelu")
    with pytest.raises(ValueError, match="choose from convention, swap, nobn"):
        build_model("vgg11", num_classes=10, order="after")
