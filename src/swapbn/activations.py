"""Activation functions and the asymptote each one saturates towards.

The saturation metric (paper eq. 1-2) divides absolute activation outputs by the
activation's bound, so every activation carries its bound with it. One registry
holds them all; `make_activation` is the only way the models build one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .errors import quoted, shorten_quotes

LECUN_SCALE = 1.7159
LECUN_SLOPE = 2.0 / 3.0


class BoundedActivation(nn.Module):
    """Base class: `bound` is the largest absolute value the activation approaches (None if unbounded)."""

    bound: float | None = None


class Tanh(BoundedActivation):
    bound = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x)


class LeCunTanh(BoundedActivation):
    """1.7159 tanh(2x/3) (LeCun et al., Efficient BackProp)."""

    bound = LECUN_SCALE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return LECUN_SCALE * torch.tanh(LECUN_SLOPE * x)


class Softsign(BoundedActivation):
    bound = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / (1.0 + x.abs())


class ReLU(BoundedActivation):
    """Unbounded: saturation is undefined, only empirical saturation applies."""

    bound = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


class ShiftedTanh(BoundedActivation):
    """tanh(x + dx) + dy: an asymmetric Tanh, for exploring beyond the paper."""

    def __init__(self, dx: float = 0.0, dy: float = 0.0) -> None:
        super().__init__()
        self.dx = float(dx)
        self.dy = float(dy)
        self.bound = max(abs(1.0 + self.dy), abs(-1.0 + self.dy))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x + self.dx) + self.dy

    def extra_repr(self) -> str:
        return f"dx={self.dx}, dy={self.dy}"


@dataclass(frozen=True)
class ActivationSpec:
    factory: Callable[..., BoundedActivation]
    bounded: bool
    formula: str


ACTIVATIONS: dict[str, ActivationSpec] = {
    "tanh": ActivationSpec(Tanh, True, "tanh(x)"),
    "lecun_tanh": ActivationSpec(LeCunTanh, True, "1.7159 tanh(2x/3)"),
    "softsign": ActivationSpec(Softsign, True, "x / (1 + |x|)"),
    "relu": ActivationSpec(ReLU, False, "max(0, x)"),
    "shifted_tanh": ActivationSpec(ShiftedTanh, True, "tanh(x + dx) + dy"),
}


def make_activation(name: str, **kwargs: float) -> BoundedActivation:
    """Build an activation by name; keyword arguments go to parametrised ones (shifted_tanh)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {quoted(name)}; choose from {', '.join(ACTIVATIONS)}")
    try:
        return ACTIVATIONS[name].factory(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad parameters for activation {quoted(name)}: "
                         f"{shorten_quotes(str(exc))}") from None

