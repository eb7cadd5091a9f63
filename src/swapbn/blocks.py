"""Weight layer, BatchNorm and activation in the paper's three orders.

Every block has the named children `weight`, `act` and (unless the order is `nobn`)
`bn`, so measurement hooks can find the activation output and the block output
without knowing anything else about the model.
"""

from __future__ import annotations

import torch
from torch import nn

from .activations import make_activation
from .errors import quoted

ORDERS: tuple[str, ...] = ("convention", "swap", "nobn")


def check_order(order: str) -> str:
    if order not in ORDERS:
        raise ValueError(f"unknown order {quoted(order)}; choose from {', '.join(ORDERS)}")
    return order


class Block(nn.Module):
    """weight -> BN -> act (convention), weight -> act -> BN (swap) or weight -> act (nobn)."""

    kind: str = "conv"

    def __init__(self, weight: nn.Module, bn: nn.Module | None, act: str, order: str,
                 act_kwargs: dict | None = None) -> None:
        super().__init__()
        self.order = check_order(order)
        self.weight = weight
        self.act = make_activation(act, **(act_kwargs or {}))
        if order != "nobn":
            if bn is None:
                raise ValueError(f"order {quoted(order)} needs a BatchNorm layer")
            self.bn = bn

    @property
    def channels(self) -> int:
        w = self.weight
        return w.out_channels if isinstance(w, nn.Conv2d) else w.out_features

    @property
    def output_module(self) -> nn.Module:
        """The child whose output is the block's output (BN in swap, the activation otherwise)."""
        return self.bn if self.order == "swap" else self.act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.weight(x)
        if self.order == "convention":
            return self.act(self.bn(x))
        if self.order == "swap":
            return self.bn(self.act(x))
        return self.act(x)

    def extra_repr(self) -> str:
        return f"order={self.order}"


class ConvBlock(Block):
    kind = "conv"

    def __init__(self, in_channels: int, out_channels: int, *, act: str, order: str,
                 kernel_size: int = 3, stride: int = 1, groups: int = 1, bias: bool = True,
                 act_kwargs: dict | None = None) -> None:
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                         padding=kernel_size // 2, groups=groups, bias=bias)
        bn = nn.BatchNorm2d(out_channels) if order != "nobn" else None
        super().__init__(conv, bn, act, order, act_kwargs)


class LinearBlock(Block):
    kind = "fc"

    def __init__(self, in_features: int, out_features: int, *, act: str, order: str,
                 bias: bool = True, act_kwargs: dict | None = None) -> None:
        lin = nn.Linear(in_features, out_features, bias=bias)
        bn = nn.BatchNorm1d(out_features) if order != "nobn" else None
        super().__init__(lin, bn, act, order, act_kwargs)
