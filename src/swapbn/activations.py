"""Activation functions, the asymptote each one saturates towards, and how to recognise them.

The saturation metric (paper eq. 1-2) divides absolute activation outputs by the activation's
bound, so every activation carries its bound with it. One registry, `REGISTRY`, says of every
activation swapbn knows: its bound, the module classes, functions and tensor methods that
compute it (how the call sites of a traced model are recognised), and for swapbn's own the
module to build by name (`ACTIVATIONS`, `make_activation`, `--act`). Everything else that
asks what an activation is, or its bound, derives the answer from this registry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import quoted, shorten_quotes

LECUN_SCALE = 1.7159
LECUN_SLOPE = 2.0 / 3.0


class Activation(nn.Module):
    """Base class of swapbn's own activations: `bound` is the registry's asymptote of this
    instance, the largest absolute value it approaches (None: unbounded, as ReLU)."""

    @property
    def bound(self) -> float | None:
        return activation_bound(self)


class Tanh(Activation):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x)


class LeCunTanh(Activation):
    """1.7159 tanh(2x/3) (LeCun et al., Efficient BackProp)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return LECUN_SCALE * torch.tanh(LECUN_SLOPE * x)


class Softsign(Activation):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / (1.0 + x.abs())


class ReLU(Activation):
    """Unbounded: saturation is undefined, only empirical saturation applies."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


class ShiftedTanh(Activation):
    """tanh(x + dx) + dy: an asymmetric Tanh, for exploring beyond the paper."""

    def __init__(self, dx: float = 0.0, dy: float = 0.0) -> None:
        super().__init__()
        self.dx = float(dx)
        self.dy = float(dy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x + self.dx) + self.dy

    def extra_repr(self) -> str:
        return f"dx={self.dx}, dy={self.dy}"


Bound = float | None | Callable[..., float]


@dataclass(frozen=True)
class ActivationSpec:
    """One activation. `bound` is a number, None (unbounded: saturation undefined), or a
    function of the activation's parameters, named as the module's attributes and the
    function's arguments are (Hardtanh's min_val and max_val). `modules`, `functions` and
    `methods` compute it; `factory` builds swapbn's own, by name (None: an activation that
    swapbn recognises in models it did not build but never builds)."""

    bound: Bound
    formula: str
    modules: tuple[type[nn.Module], ...]
    functions: tuple[Callable, ...] = ()
    methods: tuple[str, ...] = ()
    factory: Callable[..., Activation] | None = None

    @property
    def bounded(self) -> bool:
        return self.bound is not None

    def bound_of(self, params: Mapping[str, object]) -> float | None:
        """The bound for these parameter values (a module's attributes, a call's arguments)."""
        if not callable(self.bound):
            return self.bound
        return self.bound(**{k: params[k] for k in inspect.signature(self.bound).parameters})


def _hardtanh_bound(min_val: float, max_val: float) -> float:
    return max(abs(min_val), abs(max_val))


def _shifted_tanh_bound(dy: float) -> float:
    return max(abs(1.0 + dy), abs(-1.0 + dy))


REGISTRY: dict[str, ActivationSpec] = {
    # swapbn's own, in the order `--act` lists them
    "tanh": ActivationSpec(1.0, "tanh(x)", (Tanh, nn.Tanh), (torch.tanh, F.tanh),
                           ("tanh", "tanh_"), Tanh),
    "lecun_tanh": ActivationSpec(LECUN_SCALE, "1.7159 tanh(2x/3)", (LeCunTanh,),
                                 factory=LeCunTanh),
    "softsign": ActivationSpec(1.0, "x / (1 + |x|)", (Softsign, nn.Softsign), (F.softsign,),
                               factory=Softsign),
    "relu": ActivationSpec(None, "max(0, x)", (ReLU, nn.ReLU), (F.relu, torch.relu, torch.relu_),
                           ("relu", "relu_"), ReLU),
    "shifted_tanh": ActivationSpec(_shifted_tanh_bound, "tanh(x + dx) + dy", (ShiftedTanh,),
                                   factory=ShiftedTanh),
    # torch's, as models swapbn did not build use them
    "relu6": ActivationSpec(6.0, "min(max(0, x), 6)", (nn.ReLU6,), (F.relu6,)),
    "hardtanh": ActivationSpec(_hardtanh_bound, "min(max(x, min_val), max_val)",
                               (nn.Hardtanh,), (F.hardtanh,)),
    "sigmoid": ActivationSpec(1.0, "1 / (1 + exp(-x))", (nn.Sigmoid,), (torch.sigmoid, F.sigmoid),
                              ("sigmoid", "sigmoid_")),
    "hardsigmoid": ActivationSpec(1.0, "min(max(0, x / 6 + 1/2), 1)", (nn.Hardsigmoid,),
                                  (F.hardsigmoid,)),
    "silu": ActivationSpec(None, "x sigmoid(x)", (nn.SiLU,), (F.silu,)),
    "gelu": ActivationSpec(None, "x Phi(x)", (nn.GELU,), (F.gelu,)),
    "elu": ActivationSpec(None, "x if x > 0 else alpha (exp(x) - 1)", (nn.ELU,), (F.elu,)),
    "leaky_relu": ActivationSpec(None, "max(0, x) + slope min(0, x)", (nn.LeakyReLU,),
                                 (F.leaky_relu,)),
    "mish": ActivationSpec(None, "x tanh(softplus(x))", (nn.Mish,), (F.mish,)),
    "hardswish": ActivationSpec(None, "x min(max(0, x + 3), 6) / 6", (nn.Hardswish,),
                                (F.hardswish,)),
    "prelu": ActivationSpec(None, "max(0, x) + a min(0, x)", (nn.PReLU,)),
}

# Derived from REGISTRY: the activations swapbn builds by name, and each way to recognise one.
ACTIVATIONS: dict[str, ActivationSpec] = {
    name: spec for name, spec in REGISTRY.items() if spec.factory is not None}
BY_MODULE: dict[type[nn.Module], ActivationSpec] = {
    cls: spec for spec in REGISTRY.values() for cls in spec.modules}
BY_FUNCTION: dict[Callable, ActivationSpec] = {
    fn: spec for spec in REGISTRY.values() for fn in spec.functions}
BY_METHOD: dict[str, ActivationSpec] = {
    name: spec for spec in REGISTRY.values() for name in spec.methods}
ACTIVATION_MODULES: tuple[type[nn.Module], ...] = tuple(BY_MODULE)


def module_spec(module: nn.Module) -> ActivationSpec | None:
    """The registry entry of an activation module: that of its class or of the nearest
    registered class above it (nn.ReLU6 is a Hardtanh, but its own entry comes first)."""
    for cls in type(module).__mro__:
        if cls in BY_MODULE:
            return BY_MODULE[cls]
    return None


def activation_bound(module: nn.Module) -> float | None:
    """The asymptote of an activation module; None for unbounded and unknown modules."""
    spec = module_spec(module)
    return None if spec is None else spec.bound_of(vars(module))


def make_activation(name: str, **kwargs: float) -> Activation:
    """Build an activation by name; keyword arguments go to parametrised ones (shifted_tanh)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {quoted(name)}; choose from {', '.join(ACTIVATIONS)}")
    try:
        return ACTIVATIONS[name].factory(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad parameters for activation {quoted(name)}: "
                         f"{shorten_quotes(str(exc))}") from None
