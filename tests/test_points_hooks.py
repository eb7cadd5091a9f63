"""One points type for every way to name points, the observers that hold each point's
statistics, and Hooks, which takes its hooks off on exit even when the body raises."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import swapbn
from swapbn.fx import resolve_points
from swapbn.metrics import (
    Hooks,
    Measurement,
    PointObserver,
    Points,
    activation_points,
    channel_samples,
    gradient_probes,
    measure,
)
from swapbn.points import named_points


def tiny(order: str = "swap") -> nn.Module:
    torch.manual_seed(0)
    model = swapbn.build_model("vgg16_8", num_classes=10, act="tanh", order=order,
                               width=0.0625, in_channels=1, image_size=16)
    with torch.no_grad():  # running statistics unlike the defaults: BN is not the identity
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
    return model


class Net(nn.Module):
    """No swapbn blocks: a functional tanh into a BatchNorm (swap order), a ReLU module."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.relu = nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = self.relu(self.conv2(self.bn1(torch.tanh(self.conv1(x)))))
        return self.fc(x.mean((2, 3)))


def inputs(n: int = 24) -> torch.Tensor:
    return torch.randn(n, 1, 16, 16, generator=torch.Generator().manual_seed(0))


def no_hooks(*models: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks
               for model in models for m in model.modules())


def test_every_way_to_name_points_gives_one_type() -> None:
    model, net = tiny(), Net()
    blocks = swapbn.measurement_points(model)
    found = swapbn.find_points(net)
    given = [blocks, activation_points(net), named_points(net, [net.relu]), found,
             resolve_points(model), resolve_points(net), resolve_points(net, [(net.relu, "relu")])]
    assert all(isinstance(p, Points) for p in given)
    assert blocks.module is model and not blocks.observed
    assert found.model is net and found.observed and isinstance(found.module, torch.fx.GraphModule)
    assert resolve_points(model) == blocks and resolve_points(net).module is not net  # found
    head = found[:1]  # a slice keeps the model and the graph it runs
    assert isinstance(head, Points) and (head.model, head.module) == (net, found.module)
    assert found[0] is head[0] and len(head) == 1 and list(found) == list(found.items)
    x = inputs()
    assert (measure(net, x, points=head).to_dict()["layers"]
            == measure(net, x, points=found).to_dict()["layers"][:1])


def test_points_on_modules_run_with_the_model_that_is_passed() -> None:
    """Points hooked on a model's own modules measure a wrapper that runs it (as DDP does);
    points in an observed graph belong to their model only."""
    model, x = tiny(), inputs()
    wrapper = nn.Sequential(model)
    assert (measure(wrapper, x, points=swapbn.measurement_points(model)).to_dict()
            == measure(model, x).to_dict())
    net = Net()
    with pytest.raises(ValueError, match="another model"):
        resolve_points(nn.Sequential(net), swapbn.find_points(net))


def test_measure_puts_every_module_back_in_its_own_mode() -> None:
    model, x = tiny(), inputs()
    model.train()
    model.features[0].bn.eval()  # a model may keep some modules in eval mode
    modes = [m.training for m in model.modules()]
    measure(model, x)
    assert [m.training for m in model.modules()] == modes
    net = Net()
    found = swapbn.find_points(net)  # found in train mode; the graph's own flag stays so
    net.eval()
    measure(net, x, points=found)
    assert not any(m.training for m in net.modules())


@pytest.mark.parametrize("kind", ["blocks", "found"])
def test_observers_hold_what_measure_returns(kind: str) -> None:
    model = tiny() if kind == "blocks" else Net()
    points = resolve_points(model)
    x = inputs()
    observers = [PointObserver(p) for p in points]
    model.eval()
    with torch.no_grad(), Hooks() as hooks:
        for o in observers:
            o.attach(hooks)
        for xb in x.split(8):
            points.module(xb)
    assert not any(o.empty for o in observers)
    got = Measurement([o.take() for o in observers], len(x)).to_dict()
    assert got == measure(model, x, batch_size=8).to_dict()
    assert all(o.empty for o in observers)  # take() starts new statistics
    assert no_hooks(model, points.module)


def test_hooks_come_off_when_the_body_raises_and_can_be_used_again() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    seen = []
    with pytest.raises(RuntimeError, match="boom"), Hooks() as hooks:
        hooks.forward(model[1], lambda m, i, o: seen.append("after"))
        hooks.forward_pre(model[0], lambda m, i: seen.append("before"))
        model(torch.zeros(1, 2))
        assert len(hooks) == 2
        raise RuntimeError("boom")
    assert seen == ["before", "after"] and len(hooks) == 0 and no_hooks(model)
    hooks.forward(model[0], lambda m, i, o: seen.append("again"))
    model(torch.zeros(1, 2))
    hooks.remove()
    hooks.remove()
    model(torch.zeros(1, 2))
    assert seen[2:] == ["again"] and no_hooks(model)


class Failing(nn.Module):
    """Runs `model`, and raises on its `fail_at`-th call."""

    def __init__(self, model: nn.Module, fail_at: int) -> None:
        super().__init__()
        self.model, self.calls, self.fail_at = model, 0, fail_at

    def forward(self, x):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        return self.model(x)


@pytest.mark.parametrize("run", ["measure", "channel_samples", "gradient_probes"])
def test_a_failing_pass_leaves_no_hook_behind(run: str) -> None:
    inner = tiny()
    model = Failing(inner, fail_at=2)
    points = swapbn.measurement_points(inner)
    x = inputs(16)
    batches = [(xb, torch.zeros(len(xb), dtype=torch.long)) for xb in x.split(8)]
    with pytest.raises(RuntimeError, match="boom"):
        if run == "measure":
            measure(model, x, points=points, batch_size=8)
        elif run == "channel_samples":
            channel_samples(model, x, points=points, batch_size=8)
        else:
            gradient_probes(model, batches, batches=2, points=points)
    assert model.calls == 2 and no_hooks(model)
