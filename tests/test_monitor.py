"""swapbn.Monitor: the statistics of the due training passes equal measure's of the same passes,
training is unchanged by it, windows reach a SummaryWriter or a callable, and close() leaves
no hook behind."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import swapbn
from swapbn import Monitor, build_model
from swapbn.metrics import Measurement, measure
from swapbn.metrics.measure import LayerMeasurement


class Net(nn.Module):
    """A model swapbn did not build: a functional tanh feeding a BatchNorm (swap order), a
    ReLU module after one (convention order), so find_points' observed graph is used."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.conv2, self.bn2 = nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.bn1(torch.tanh(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def swapbn_model() -> nn.Module:
    return build_model("vgg16_8", num_classes=10, act="tanh", order="swap", width=0.0625,
                       in_channels=1, image_size=16)


MODELS = {"swapbn blocks": swapbn_model, "find_points": Net}


def make(kind: str, batch_norm_in_eval: bool = False) -> nn.Module:
    """The model in float64; with `batch_norm_in_eval` its BatchNorms normalise with the batch's
    statistics in eval mode too, so measure (eval mode) sees the passes training sees."""
    torch.manual_seed(0)
    model = MODELS[kind]().double()
    if batch_norm_in_eval:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.track_running_stats = False
                m.running_mean = m.running_var = m.num_batches_tracked = None
    return model.train()


def batches(k: int = 6, n: int = 16) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(n, 1, 16, 16, generator=g, dtype=torch.float64),
             torch.randint(0, 10, (n,), generator=g)) for _ in range(k)]


def train(model: nn.Module, data, on_step=None) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for i, (x, y) in enumerate(data):
        if on_step is not None:
            on_step(i, model)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def merged(parts: list[Measurement]) -> Measurement:
    """One Measurement of several passes: each layer's statistics merged in order."""
    layers = []
    for i, first in enumerate(parts[0].layers):
        act = first.act.copy()
        block = act if first.block is first.act else first.block.copy()
        for part in parts[1:]:
            act.merge(part.layers[i].act)
            if block is not act:
                block.merge(part.layers[i].block)
        layers.append(LayerMeasurement(first.name, first.kind, first.bound, act, block))
    return Measurement(layers, sum(p.samples for p in parts))


def assert_records_close(got: dict, want: dict, tol: float = 1e-9) -> None:
    assert got["samples"] == want["samples"]
    assert [r["name"] for r in got["layers"]] == [r["name"] for r in want["layers"]]
    pairs = [(got[k], want[k], k) for k in ("avg_saturation", "avg_skewness", "avg_sparsity")]
    for g, w in zip(got["layers"], want["layers"], strict=True):
        pairs += [(g[k], w[k], f"{g['name']} {k}") for k in g if k not in ("name", "kind")]
    for a, b, what in pairs:
        if b is None or a is None:
            assert a is b, what
        else:
            assert math.isclose(a, b, rel_tol=tol, abs_tol=tol), (what, a, b)


@pytest.mark.parametrize("kind", MODELS)
def test_statistics_of_the_due_passes_equal_measure_of_the_same_passes(kind):
    data = batches()
    model = make(kind, batch_norm_in_eval=True)
    snapshots = {}  # the model as each due pass saw it, before that step's update
    with Monitor(model, every=2) as monitor:
        train(model, data, lambda i, m: snapshots.update({i: copy.deepcopy(m)}) if i % 2 == 0
              else None)
        got = monitor.read()
    assert sorted(snapshots) == [0, 2, 4] and monitor.calls == 6
    want = merged([measure(snapshots[i], data[i][0]) for i in sorted(snapshots)])
    assert_records_close(got.to_dict(), want.to_dict())
    assert got.to_dict()["samples"] == 3 * 16 and monitor.read() is None  # a new window


@pytest.mark.parametrize("kind", MODELS)
def test_a_model_trains_to_the_same_weights_with_and_without_it(kind):
    data = batches()
    plain, watched = make(kind), make(kind)
    train(plain, data)
    with Monitor(watched, every=2) as monitor:
        train(watched, data)
        assert monitor.read().samples == 48
    for (name, a), b in zip(plain.state_dict().items(), watched.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name


def test_windows_reach_a_callable_at_their_steps():
    seen = []
    model = make("swapbn blocks")
    with Monitor(model, every=2, writer=lambda m, step: seen.append((step, m))):
        train(model, batches())
    assert [s for s, _ in seen] == [0, 2, 4]
    assert all(isinstance(m, Measurement) and m.samples == 16 for _, m in seen)
    seen.clear()
    model = make("find_points")
    with Monitor(model, every=2, writer=lambda m, step: seen.append((step, m)), window=2):
        train(model, batches())
    assert [(s, m.samples) for s, m in seen] == [(2, 32), (4, 16)]  # close writes the last


def test_windows_reach_a_summary_writer(tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    from torch.utils.tensorboard import SummaryWriter

    model = make("swapbn blocks")
    writer = SummaryWriter(str(tmp_path))
    with Monitor(model, every=3, writer=writer) as monitor:
        train(model, batches())
        last = monitor.read()  # step 3's window was written already: nothing left
    writer.close()
    assert last is None
    acc = event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"stats/avg_saturation", "stats/avg_skewness", "stats/avg_sparsity",
            "skewness/features.0", "sparsity/features.0"} <= set(tags)
    assert [e.step for e in acc.Scalars("stats/avg_skewness")] == [0, 3]


@pytest.mark.parametrize("kind", MODELS)
def test_close_removes_every_hook_and_the_routed_forward(kind):
    model = make(kind)
    x = batches(1)[0][0]
    before = model(x)
    monitor = Monitor(model, every=1)
    model(x)
    assert all(not m._forward_hooks for m in model.modules() if m is not model)  # disarmed
    monitor.close()
    monitor.close()
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks, m
    assert "forward" not in model.__dict__
    assert monitor.read().samples == 16  # what was measured stays readable
    torch.manual_seed(0)
    model.eval()
    assert torch.equal(model(x), model(x)) and before.shape == model(x).shape


def test_a_deep_copy_of_a_watched_model_runs_its_own_weights():
    model = make("find_points").eval()
    x = batches(1)[0][0]
    with Monitor(model, every=1):
        twin = copy.deepcopy(model)  # an EMA copy or a snapshot taken while watched
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        routed = twin(x)
        assert torch.equal(routed, type(twin).forward(twin, x))  # the twin's weights
        assert not torch.equal(routed, model(x))


def test_hooks_are_removed_when_the_loop_fails():
    model = make("find_points")
    with pytest.raises(RuntimeError, match="boom"), Monitor(model, every=1):
        model(batches(1)[0][0])
        raise RuntimeError("boom")
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert "forward" not in model.__dict__


def test_eval_passes_are_not_counted_but_measuring_measures_them():
    model = make("swapbn blocks")
    x = batches(1)[0][0]
    monitor = Monitor(model, every=2)
    model.eval()
    with torch.no_grad():
        model(x)
        assert monitor.calls == 0 and monitor.read() is None
        with monitor.measuring():
            model(x)
            model(x)
    eval_window = monitor.read()
    assert eval_window.samples == 32
    assert eval_window.to_dict()["avg_skewness"] == pytest.approx(
        measure(model, torch.cat([x, x]), batch_size=16).to_dict()["avg_skewness"], abs=1e-12)
    nothing = Monitor(make("swapbn blocks"), every=None)
    nothing.model(x)
    assert nothing.calls == 1 and nothing.read() is None
    monitor.close()
    nothing.close()


def test_given_points_and_bad_arguments():
    model = make("swapbn blocks")
    points = swapbn.measurement_points(model)[:2]
    with Monitor(model, points=points) as monitor:
        model(batches(1)[0][0])
        assert [r["name"] for r in monitor.read().records()] == [p.name for p in points]
    with pytest.raises(ValueError, match="every"):
        Monitor(model, every=0)
    with pytest.raises(TypeError, match="writer"):
        Monitor(model, writer="runs/tb")
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_monitor_is_exported():
    assert swapbn.Monitor is Monitor and "Monitor" in swapbn.__all__
