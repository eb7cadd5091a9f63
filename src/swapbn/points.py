"""Where the paper measures: the activation output and the block output of every block."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .blocks import Block


@dataclass(frozen=True)
class MeasurementPoint:
    """One block: hooks on `act` see the activation output, hooks on `output` the block output."""

    name: str
    kind: str  # "conv" or "fc"
    channels: int
    act: nn.Module
    output: nn.Module
    bound: float | None

    @property
    def bounded(self) -> bool:
        return self.bound is not None


def measurement_points(model: nn.Module) -> list[MeasurementPoint]:
    """One entry per block of a swapbn model, in forward order."""
    points = []
    for name, module in model.named_modules():
        if isinstance(module, Block):
            points.append(MeasurementPoint(name=name, kind=module.kind, channels=module.channels,
                                           act=module.act, output=module.output_module,
                                           bound=getattr(module.act, "bound", None)))
    return points
