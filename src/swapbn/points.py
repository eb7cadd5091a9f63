"""Where the paper measures: the activation output and the block output of every block.

`MeasurementPoint` is the one description of a place to hook, shared by `measure`,
`ChannelSampler` and `gradient_probes`: `measurement_points` walks the swapbn blocks of a
model, `resolve_points` also turns points a caller names on any model into the same type.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from torch import nn

from .activations import ACTIVATION_MODULES, activation_bound
from .blocks import Block


@dataclass(frozen=True)
class MeasurementPoint:
    """Hooks on `act` see the activation output, hooks on `output` the block output (the same
    module is fine). `kind` ("conv" / "fc") and `channels` are None for points a caller names
    (measure infers them from the tensor); `weight` is the block's weight layer, which
    gradient probes need (None for named points)."""

    name: str
    kind: str | None
    channels: int | None
    act: nn.Module
    output: nn.Module
    bound: float | None
    weight: nn.Module | None = None

    @property
    def bounded(self) -> bool:
        return self.bound is not None

    @property
    def shared(self) -> bool:
        """Block output is the activation output (convention and nobn orders)."""
        return self.act is self.output


def measurement_points(model: nn.Module) -> list[MeasurementPoint]:
    """One entry per block of a swapbn model, in forward order."""
    return [MeasurementPoint(name, m.kind, m.channels, m.act, m.output_module,
                             activation_bound(m.act), m.weight)
            for name, m in model.named_modules() if isinstance(m, Block)]


def _module(model: nn.Module, spec: nn.Module | str) -> nn.Module:
    if isinstance(spec, str):
        try:
            return model.get_submodule(spec)
        except AttributeError:
            raise ValueError(f"model has no submodule {spec!r}") from None
    if not isinstance(spec, nn.Module):
        raise ValueError(f"a measurement point needs modules or module names, got {type(spec).__name__}")
    return spec


def resolve_points(model: nn.Module, points: Iterable | None = None) -> list[MeasurementPoint]:
    """Turn the `points` argument of measure() into hook targets.

    None: every block of a swapbn model. Otherwise each item is a MeasurementPoint, an
    activation module (block output = activation output), or a tuple
    (act, output[, bound]) whose modules may be given by name; the bound defaults to the
    activation's asymptote in the registry (None for ReLU and other unbounded ones). A module that
    runs several times in one forward pass pools all its outputs.
    """
    if points is None:
        found = measurement_points(model)
        if not found:
            raise ValueError("model has no swapbn blocks; pass points=activation_points(model) "
                             "(from swapbn.metrics, for conv -> BN -> act layers) or "
                             "points=[(act, output, bound), ...]")
        return found
    names = {id(m): n for n, m in model.named_modules()}
    out = []
    for i, item in enumerate(points):
        if isinstance(item, MeasurementPoint):
            out.append(item)
            continue
        if isinstance(item, (nn.Module, str)):
            item = (item, item)
        if not isinstance(item, Sequence) or len(item) not in (2, 3):
            raise ValueError("a measurement point is (act, output) or (act, output, bound), "
                             f"got {item!r}")
        act, output = _module(model, item[0]), _module(model, item[1])
        bound = activation_bound(act) if len(item) == 2 else item[2]
        if bound is not None and not bound > 0:
            raise ValueError(f"bound must be positive or None, got {bound}")
        name = item[0] if isinstance(item[0], str) else names.get(id(act), f"point{i}")
        out.append(MeasurementPoint(name, None, None, act, output,
                                    None if bound is None else float(bound)))
    if not out:
        raise ValueError("no measurement points given")
    return out


def activation_points(model: nn.Module, types: tuple[type, ...] = ACTIVATION_MODULES,
                      ) -> list[MeasurementPoint]:
    """Every activation module of `types` (default: every one the registry knows) as a point
    whose block output is its own output.

    That is the convention order of torchvision / timm models (conv -> BN -> act).
    """
    return resolve_points(model, [m for m in model.modules() if isinstance(m, types)])


class PointSet(list):
    """Measurement points that live in an observed copy of a model (swapbn.fx.find_points):
    `module` is an fx GraphModule that shares `source`'s submodules and parameters and holds
    observer modules at the points, so a pass over `module` measures `source`."""

    def __init__(self, points: Iterable[MeasurementPoint], module: nn.Module,
                 source: nn.Module) -> None:
        super().__init__(points)
        self.module = module
        self.source = source


def points_module(model: nn.Module, points: Iterable | None) -> nn.Module:
    """The module a pass must run for hooks on `points` to fire: the observed graph of a
    PointSet found on `model`, else the model itself."""
    if not isinstance(points, PointSet):
        return model
    if model is not points.source and model is not points.module:
        raise ValueError("these points were found on another model; call find_points(model)")
    points.module.training = points.source.training  # evaluating() restores this flag
    return points.module
