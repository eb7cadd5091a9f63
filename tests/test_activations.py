"""The activation registry is the one table of what an activation is: every way it lists to
compute an activation (module, function, tensor method) is recognised on a traced model with
the registry's bound, by find_points, activation_points and named points alike."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import swapbn
from swapbn.activations import (
    ACTIVATIONS,
    BY_FUNCTION,
    BY_METHOD,
    BY_MODULE,
    REGISTRY,
    ShiftedTanh,
    activation_bound,
    make_activation,
    module_spec,
)
from swapbn.metrics import activation_points, measure


class _Call(nn.Module):
    """conv -> one activation call (a module, a function with arguments, or a tensor method)."""

    def __init__(self, act: nn.Module | None = None, fn=None, method: str | None = None,
                 args: tuple = ()) -> None:
        super().__init__()
        self.conv, self.act, self.fn, self.method, self.args = (
            nn.Conv2d(1, 3, 1), act, fn, method, args)

    def forward(self, x):
        x = self.conv(x)
        if self.act is not None:
            return self.act(x)
        if self.fn is not None:
            return self.fn(x, *self.args)
        return getattr(x, self.method)()


def _module(cls: type[nn.Module]) -> nn.Module:
    """An instance with parameters unlike the defaults where the bound depends on them."""
    if cls is ShiftedTanh:
        return ShiftedTanh(dx=0.5, dy=0.25)
    if cls is nn.Hardtanh:
        return nn.Hardtanh(-2.0, 3.0)
    return cls()


MODULES = [(name, cls) for name, spec in REGISTRY.items() for cls in spec.modules]
FUNCTIONS = [(name, fn) for name, spec in REGISTRY.items() for fn in spec.functions]
METHODS = [(name, m) for name, spec in REGISTRY.items() for m in spec.methods]


def _found_bound(model: nn.Module) -> float | None:
    (point,) = swapbn.find_points(model)
    assert point.weight is model.conv and point.shared
    return point.bound


@pytest.mark.parametrize(("name", "cls"), MODULES, ids=[c.__qualname__ for _, c in MODULES])
def test_every_registered_module_is_found_with_the_registry_bound(name, cls) -> None:
    act = _module(cls)
    want = REGISTRY[name].bound_of(vars(act))
    assert module_spec(act) is REGISTRY[name] and activation_bound(act) == want
    model = _Call(act)
    assert _found_bound(model) == want
    (point,) = activation_points(model)
    assert point.act is act and point.bound == want
    record = measure(model, torch.randn(4, 1, 5, 5), points=[act]).to_dict()
    assert record["layers"][0]["bound"] == want


@pytest.mark.parametrize(("name", "fn"), FUNCTIONS, ids=[f"{n}:{f.__name__}" for n, f in FUNCTIONS])
def test_every_registered_function_is_found_with_the_registry_bound(name, fn) -> None:
    assert _found_bound(_Call(fn=fn)) == REGISTRY[name].bound_of(
        {"min_val": -1.0, "max_val": 1.0})  # F.hardtanh's defaults; other bounds are numbers


@pytest.mark.parametrize(("name", "method"), METHODS, ids=[m for _, m in METHODS])
def test_every_registered_tensor_method_is_found_with_the_registry_bound(name, method) -> None:
    assert _found_bound(_Call(method=method)) == REGISTRY[name].bound


def test_bounds_that_depend_on_the_parameters() -> None:
    assert activation_bound(ShiftedTanh(dx=0.5, dy=0.25)) == 1.25
    assert make_activation("shifted_tanh", dy=-0.5).bound == 1.5
    assert activation_bound(nn.Hardtanh(-2.0, 3.0)) == 3.0
    assert _found_bound(_Call(fn=F.hardtanh, args=(-2.0, 3.0))) == 3.0
    assert _found_bound(_Call(fn=F.hardtanh, args=(-0.5,))) == 1.0  # max_val's default
    assert activation_bound(nn.ReLU6()) == 6.0 and module_spec(nn.ReLU6()) is REGISTRY["relu6"]


def test_the_registry_is_the_only_table() -> None:
    # each module class, function and method names one activation, no two the same
    assert len(BY_MODULE) == sum(len(s.modules) for s in REGISTRY.values())
    assert len(BY_FUNCTION) == sum(len(s.functions) for s in REGISTRY.values())
    assert len(BY_METHOD) == sum(len(s.methods) for s in REGISTRY.values())
    # swapbn builds by name exactly the entries with a factory, in the command line's order
    assert list(ACTIVATIONS) == ["tanh", "lecun_tanh", "softsign", "relu", "shifted_tanh"]
    assert [n for n, s in REGISTRY.items() if s.factory is not None] == list(ACTIVATIONS)
    for name in ACTIVATIONS:
        assert module_spec(make_activation(name)) is REGISTRY[name]
    # a subclass of a registered module is that activation; anything else is none
    assert activation_bound(type("MyTanh", (nn.Tanh,), {})()) == 1.0
    assert activation_bound(nn.Softplus()) is None and module_spec(nn.Softplus()) is None
    assert len(swapbn.find_points(_Call(nn.Softplus()))) == 0
