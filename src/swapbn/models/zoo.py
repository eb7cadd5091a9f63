"""Model zoos swapbn did not build, by name: `torchvision:resnet18`, `timm:efficientnet_b0`.

One mechanism for every zoo (docs/guide.md, "Your own model"): the zoo's own architecture with no
weights downloaded, its own activations unless an activation is asked for
(`replace_activations`), and the swap order by `swap_norm_act`; width and the nobn order are
swapbn's own models' knobs. Each zoo module says only how to list its names and build one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..errors import quoted
from ..fx import replace_activations, swap_norm_act
from . import timm as timm_zoo
from . import torchvision as torchvision_zoo

# The activation name that keeps a zoo model's own activations (ReLU, SiLU, ...).
OWN_ACT = "own"


@dataclass(frozen=True)
class Zoo:
    """A source of models: `names()` lists them, `create(name, num_classes, in_channels)`
    builds one untrained; `install` says how to get the package when it is missing."""

    label: str
    names: Callable[[], list[str]]
    create: Callable[[str, int, int], nn.Module]
    install: str

    @property
    def prefix(self) -> str:
        return f"{self.label}:"


ZOOS: dict[str, Zoo] = {
    "torchvision": Zoo("torchvision", torchvision_zoo.names, torchvision_zoo.create,
                       "pip install torchvision"),
    "timm": Zoo("timm", timm_zoo.names, timm_zoo.create, "pip install 'swapbn[timm]'"),
}


def zoo_of(name: str) -> Zoo | None:
    """The zoo of a prefixed name (`timm:resnet18`), None for swapbn's own names."""
    prefix, sep, _ = name.partition(":")
    return ZOOS.get(prefix) if sep else None


def check_zoo(name: str) -> str:
    """`name` when its zoo has it, else ValueError naming the close ones."""
    zoo = zoo_of(name)
    if zoo is None:
        raise ValueError(f"unknown model zoo in {quoted(name)}; prefixes are "
                         f"{', '.join(z.prefix for z in ZOOS.values())}")
    try:
        names = zoo.names()
    except ImportError:
        raise ValueError(f"{quoted(name)} needs {zoo.label}: {zoo.install}") from None
    arch = name[len(zoo.prefix):]
    if arch not in names:
        close = difflib.get_close_matches(arch, names, n=5)
        raise ValueError(f"unknown model {quoted(name)}; "
                         + (f"close: {', '.join(zoo.prefix + c for c in close)}" if close
                            else f"{zoo.label} has {len(names)} others"))
    return name


def zoo_alternatives(name: str) -> list[str]:
    """`name` as it is spelled in each installed zoo that has it (`resnet18` ->
    `torchvision:resnet18`, `timm:resnet18`), for an unknown swapbn model name."""
    found = []
    for zoo in ZOOS.values():
        try:
            if name in zoo.names():
                found.append(zoo.prefix + name)
        except ImportError:
            continue
    return found


def build_zoo(name: str, *, num_classes: int, act: str | None, order: str, width: float = 1.0,
              in_channels: int = 3, act_kwargs: dict | None = None) -> nn.Module:
    """Zoo model `name` (with its prefix), untrained; `act` (None or OWN_ACT: its own) for its
    activations (gates such as squeeze-excitation keep theirs), in convention order (the
    zoo's) or swap order."""
    zoo = zoo_of(check_zoo(name))
    assert zoo is not None
    if width != 1.0:
        raise ValueError(f"{name} has {zoo.label}'s width; width {width:g} applies to "
                         "swapbn's own models")
    if order not in ("convention", "swap"):
        raise ValueError(f"{name} runs in convention or swap order, not {quoted(order)}")
    model = zoo.create(name[len(zoo.prefix):], num_classes, in_channels)
    if act not in (None, OWN_ACT):
        model = replace_activations(model, act, **(act_kwargs or {}))
    if order == "swap":
        model, _ = swap_norm_act(model)
    return model
