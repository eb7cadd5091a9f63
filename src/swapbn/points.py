"""Where the paper measures: the activation output and the block output of every block.

`MeasurementPoint` is the one description of a place to hook, and `Points` the one type of a
model's points, shared by `measure`, `ChannelSampler`, `gradient_probes` and `Monitor`:
`measurement_points` walks the swapbn blocks of a model, `named_points` turns points a caller
names on any model into the same type, and `swapbn.fx.find_points` finds them on the fx graph
of a model swapbn did not build (`swapbn.fx.resolve_points` picks among the three).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

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


@dataclass(frozen=True)
class Points(Sequence[MeasurementPoint]):
    """The measurement points of `model` in forward order (a slice keeps the rest). `module`
    is what a pass runs for their hooks to fire: `model` itself, or for points found on an
    fx graph, that observed graph, which shares the model's submodules and parameters."""

    items: tuple[MeasurementPoint, ...]
    model: nn.Module = field(repr=False)
    module: nn.Module = field(repr=False)

    @property
    def observed(self) -> bool:
        """The points live in an observed copy of the model's graph (find_points)."""
        return self.module is not self.model

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[MeasurementPoint]:
        return iter(self.items)

    def __getitem__(self, i):
        return replace(self, items=self.items[i]) if isinstance(i, slice) else self.items[i]


def measurement_points(model: nn.Module) -> Points:
    """One point per block of a swapbn model, in forward order (none for other models)."""
    return Points(tuple(MeasurementPoint(name, m.kind, m.channels, m.act, m.output_module,
                                         activation_bound(m.act), m.weight)
                        for name, m in model.named_modules() if isinstance(m, Block)),
                  model, model)


def _module(model: nn.Module, spec: nn.Module | str) -> nn.Module:
    if isinstance(spec, str):
        try:
            return model.get_submodule(spec)
        except AttributeError:
            raise ValueError(f"model has no submodule {spec!r}") from None
    if not isinstance(spec, nn.Module):
        raise ValueError(f"a measurement point needs modules or module names, got {type(spec).__name__}")
    return spec


def named_points(model: nn.Module, points: Iterable) -> Points:
    """Points a caller gives, as hooks on `model`'s own modules.

    Each item is a MeasurementPoint, an activation module (block output = activation output),
    or a tuple (act, output[, bound]) whose modules may be given by name; the bound defaults
    to the activation's asymptote in the registry (None for ReLU and other unbounded ones). A
    module that runs several times in one forward pass pools all its outputs.
    """
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
    return Points(tuple(out), model, model)


def activation_points(model: nn.Module,
                      types: tuple[type, ...] = ACTIVATION_MODULES) -> Points:
    """Every activation module of `types` (default: every one the registry knows) as a point
    whose block output is its own output.

    That is the convention order of torchvision / timm models (conv -> BN -> act).
    """
    return named_points(model, [m for m in model.modules() if isinstance(m, types)])
