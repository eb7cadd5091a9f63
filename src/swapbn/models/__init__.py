"""Model registry: every model is built by name through `build_model`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from ..errors import quoted
from .mobilenet import MobileNet, mobilenet
from .vgg import VGG, VGG16_DEPTHS, vgg11, vgg16, vgg16_n
from .zoo import OWN_ACT, ZOOS, build_zoo, check_zoo, zoo_alternatives, zoo_of

MODELS: dict[str, Callable[..., nn.Module]] = {
    "vgg11": vgg11,
    "vgg16": vgg16,
    **{f"vgg16_{n}": partial(vgg16_n, n) for n in VGG16_DEPTHS},
    "mobilenet": mobilenet,
}


def model_family(name: str) -> str:
    """'vgg' or 'mobilenet': the paper's presets are keyed by family."""
    check_model(name)
    return "mobilenet" if name.startswith("mobilenet") else "vgg"


def is_zoo_model(name: str) -> bool:
    """A name of a model zoo (`torchvision:NAME`, `timm:NAME`), not one of swapbn's models."""
    return ":" in name


def check_model(name: str) -> str:
    if is_zoo_model(name):
        return check_zoo(name)
    if name not in MODELS:
        elsewhere = zoo_alternatives(name)
        raise ValueError(f"unknown model {quoted(name)}; choose from {', '.join(MODELS)}"
                         + (f", or {' or '.join(elsewhere)}" if elsewhere else
                            f", or a zoo's as {' or '.join(z.prefix + 'NAME' for z in ZOOS.values())}"))
    return name


def build_model(name: str, *, num_classes: int, act: str = "tanh", order: str = "swap",
                width: float = 1.0, in_channels: int = 3, image_size: int = 32,
                bias: bool = True, act_kwargs: dict | None = None) -> nn.Module:
    """Build a model of the paper by name (see `MODELS`), in convention, swap or nobn order,
    or a zoo's model as `torchvision:NAME` or `timm:NAME` (models/zoo.py), whose activations
    stay its own with act=OWN_ACT."""
    check_model(name)
    if is_zoo_model(name):
        return build_zoo(name, num_classes=num_classes, act=act, order=order,
                         width=width, in_channels=in_channels, act_kwargs=act_kwargs)
    return MODELS[name](num_classes=num_classes, act=act, order=order, width=width,
                        in_channels=in_channels, image_size=image_size, bias=bias,
                        act_kwargs=act_kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["MODELS", "OWN_ACT", "VGG", "ZOOS", "MobileNet", "build_model", "check_model", "count_parameters",
           "is_zoo_model", "model_family", "zoo_of"]
