"""measure(): every metric of the paper in one pass over the data."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from ..fx import resolve_points
from ..points import MeasurementPoint
from ..text import count
from . import formulas
from .batches import evaluating, input_batches, known_images
from .hooks import Hooks
from .moments import ChannelMoments, collective_device, release_scratch


@dataclass
class LayerMeasurement:
    """Statistics of one measurement point: activation output and block output."""

    name: str
    kind: str | None
    bound: float | None
    act: ChannelMoments
    block: ChannelMoments

    @property
    def channels(self) -> int | None:
        return self.act.channels

    def record(self) -> dict:
        """The layer's metrics; None where undefined (e.g. saturation of an unbounded activation)."""
        if self.act.count == 0:
            skew = signed = None
            constant = 0
        else:
            skew, signed, constant = formulas.layer_skewness(self.act)
        sparsity = formulas.sparsity(self.block)
        return {
            "name": self.name,
            "kind": self.kind,
            "channels": self.channels,
            "saturation": formulas.saturation(self.act, self.bound),
            "skewness": skew,
            "skewness_signed": signed,
            "constant_channels": constant,
            "sparsity": sparsity,
            "empirical_saturation": None if sparsity is None else 1.0 - sparsity,
            "act_empirical_saturation": formulas.empirical_saturation(self.act),
            "bound": self.bound,
        }


@dataclass
class Measurement:
    """Per-layer statistics of a model over a data set; `to_dict()` is the JSON record."""

    layers: list[LayerMeasurement]
    samples: int = 0
    _records: list[dict] | None = field(default=None, repr=False)

    def records(self) -> list[dict]:
        if self._records is None:
            self._records = [layer.record() for layer in self.layers]
        return self._records

    def to_dict(self) -> dict:
        recs = self.records()
        return {
            "layers": recs,
            "avg_saturation": formulas.average(r["saturation"] for r in recs),
            "avg_skewness": formulas.average(r["skewness"] for r in recs),
            "avg_sparsity": formulas.average(r["sparsity"] for r in recs),
            "samples": self.samples,
        }

    def all_reduce(self, group=None) -> Measurement:
        """Merge the statistics of every data-parallel rank (no-op without torch.distributed)."""
        if dist.is_available() and dist.is_initialized():
            count = torch.tensor([self.samples], dtype=torch.float64,
                                 device=collective_device(group))
            dist.all_reduce(count, group=group)
            self.samples = int(count.item())
        for layer in self.layers:
            layer.act.all_reduce(group)
            if layer.block is not layer.act:
                layer.block.all_reduce(group)
        self._records = None
        return self

    def table(self) -> str:
        """Plain-text per-layer table with the model averages underneath."""
        return format_table(self.to_dict())


# Layers are numbered in forward order from 1 (the paper's figures count so) in tables,
# figures and data frames alike.
FIRST_LAYER = 1


def layer_numbers(n: int) -> range:
    """The numbers of n layers in forward order."""
    return range(FIRST_LAYER, FIRST_LAYER + n)


def _fmt(v, width: int = 10) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}.4f}"


def format_table(record: dict) -> str:
    """Render a measure record (Measurement.to_dict()) as a text table."""
    head = (f"{'#':>3} {'layer':<24} {'kind':<4} {'ch':>5} {'saturation':>10} {'skewness':>10} "
            f"{'signed':>10} {'const':>5} {'sparsity':>10} {'emp.sat':>10}")
    lines = [head]
    for i, r in zip(layer_numbers(len(record["layers"])), record["layers"], strict=True):
        lines.append(f"{i:>3} {r['name']:<24} {r['kind'] or '':<4} {r['channels'] or 0:>5} "
                     f"{_fmt(r['saturation'])} {_fmt(r['skewness'])} {_fmt(r['skewness_signed'])} "
                     f"{r['constant_channels']:>5} {_fmt(r['sparsity'])} "
                     f"{_fmt(r['empirical_saturation'])}")
    lines.append(f"{'':>3} {'average':<24} {'':<4} {'':>5} {_fmt(record['avg_saturation'])} "
                 f"{_fmt(record['avg_skewness'])} {'':>10} {'':>5} {_fmt(record['avg_sparsity'])}")
    return "\n".join(lines)


def _kind(x: torch.Tensor) -> str:
    return "conv" if x.dim() >= 3 else "fc"


def _eval_affine(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(scale, bias) per channel with module(x) = scale * x + bias: an eval-mode BatchNorm
    that normalises with its running statistics; None for any other module."""
    if (not isinstance(module, nn.modules.batchnorm._BatchNorm) or module.training
            or module.running_mean is None):
        return None
    scale = torch.rsqrt(module.running_var.double() + module.eps)
    bias = -module.running_mean.double() * scale
    if module.affine:
        scale = scale * module.weight.double()
        bias = bias * module.weight.double() + module.bias.double()
    return scale.detach(), bias.detach()


class PointObserver:
    """The observer at one measurement point: its hooks at the activation output and the
    block output feed the statistics it holds, `layer` (PyTorch's observers hold theirs so),
    until `take()` hands them over and starts new ones. The block output's statistics are the
    activation's when the two outputs are one.

    With fused kernels, a block output that is an eval-mode BatchNorm of the activation output
    (the swap order) is measured in the same read as the activation: the BatchNorm's hook
    checks that it received exactly that tensor, and measures its own output otherwise."""

    def __init__(self, point: MeasurementPoint, *, fused: bool = False) -> None:
        self.point, self.fused = point, fused
        self.layer = self._empty()
        self._affine: tuple[torch.Tensor, torch.Tensor] | None = None
        self._folded: dict = {}

    def _empty(self) -> LayerMeasurement:
        act = ChannelMoments()
        block = act if self.point.shared else ChannelMoments(moments=False)
        return LayerMeasurement(self.point.name, self.point.kind, self.point.bound, act, block)

    @property
    def empty(self) -> bool:
        """No value has reached the statistics since they started."""
        return not (self.layer.act.count or self.layer.block.count)

    def attach(self, hooks: Hooks) -> None:
        """Hook the point for the passes to come (the BatchNorm's running statistics, for the
        fused read of both outputs, are those of now)."""
        self._affine = (_eval_affine(self.point.output)
                        if self.fused and not self.point.shared else None)
        hooks.forward(self.point.act, self._on_act)
        if not self.point.shared:
            hooks.forward(self.point.output, self._on_output)

    def _on_act(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        layer = self.layer
        if layer.kind is None:
            layer.kind = _kind(output)
        if self._affine is None:
            layer.act.update(output, fused=self.fused)
            return
        self._folded.clear()
        block = layer.act.update_affine(output, *(t.to(output.device) for t in self._affine))
        if block is not None:
            self._folded["input"], self._folded["block"] = output, block

    def _on_output(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        folded = self._folded
        if folded and inputs and inputs[0] is folded["input"]:
            self.layer.block.merge(folded["block"])
        else:
            self.layer.block.update(output, fused=self.fused)
        folded.clear()  # returns nothing: a hook's return value replaces the output

    def take(self) -> LayerMeasurement:
        """The statistics so far, moved to the CPU (results live there, whatever device
        measured them); new, empty ones start."""
        layer, self.layer = self.layer, self._empty()
        shared = layer.block is layer.act
        if layer.act.sum_abs is not None:
            layer.act = layer.act.to("cpu")
        if shared:
            layer.block = layer.act
        elif layer.block.sum_abs is not None:
            layer.block = layer.block.to("cpu")
        return layer


class UntrainedNormWarning(UserWarning):
    """measure() on a model whose BatchNorm layers never saw a batch."""


def fresh_norms(model: nn.Module) -> list[str]:
    """BatchNorm layers that never saw data: no batch counted and the initial running
    statistics (mean 0, variance 1), so in eval mode they are the identity (up to eps) and
    the convention and swap orders of one model measure alike."""
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
            and m.num_batches_tracked is not None and int(m.num_batches_tracked) == 0
            and not m.running_mean.any() and bool((m.running_var == 1).all())]


def measure(model: nn.Module, data, *, device: torch.device | str | None = None,
            max_samples: int | None = None, points: Iterable | None = None,
            batch_size: int = 256, also: Iterable = (), fused: bool = False) -> Measurement:
    """Saturation, channel skewness and sparsity of every layer in one pass (paper eqs. 1-2, 4
    and Section 5.2).

    The model runs in eval mode under no_grad (its mode, and its device when `device` moves
    it, are restored afterwards); forward hooks at the activation output and the block output
    feed mergeable per-channel statistics and are removed even if the pass fails. `data` is a
    DataLoader, an iterable of inputs or (inputs, labels), one input tensor or a swapbn data set
    (its test split); `points` defaults to every swapbn block (see `resolve_points`), or on
    other models to `swapbn.fx.find_points`.
    `also` takes further hook sets (objects with `attach(points, hooks, images)` that put
    their hooks in `hooks`, a `Hooks`, such as `ChannelSampler`; `images` is the pass's length
    where known, else None) that ride along in the same pass instead of reading the data again.
    `fused=True` reduces each batch with one compiled kernel (see `ChannelMoments.update`):
    a few seconds of compilation per process buy a pass close to a plain evaluation's cost
    (docs/speed.md has the measured break-even).
    """
    fresh = fresh_norms(model)
    if fresh:
        warnings.warn(f"{count(len(fresh), 'BatchNorm layer')} of the model never saw data "
                      f"({fresh[0]}{', ...' if len(fresh) > 1 else ''}): with fresh running "
                      "statistics an eval-mode BatchNorm is the identity, so both orders "
                      "measure alike; train the model or load its weights first",
                      UntrainedNormWarning, stacklevel=2)
    points = resolve_points(model, points)
    observers = [PointObserver(p, fused=fused) for p in points]
    samples = 0
    with evaluating(points.module, device) as dev, Hooks() as hooks:
        for observer in observers:
            observer.attach(hooks)
        if also:
            images = known_images(data, max_samples=max_samples)
            for extra in also:
                extra.attach(points, hooks, images)
        try:
            for x in input_batches(data, batch_size=batch_size, max_samples=max_samples,
                                   device=dev):
                points.module(x)
                samples += len(x)
        finally:
            release_scratch()
    if samples == 0:
        raise ValueError("no data to measure")
    return Measurement([o.take() for o in observers], samples)
