"""Model registry: every model is built by name through `build_model`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from .mobilenet import MobileNet, mobilenet
from .torchvision import PREFIX as TORCHVISION
from .torchvision import build_torchvision, check_torchvision
from .vgg import VGG, VGG16_DEPTHS, vgg11, vgg16, vgg16_n

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


def check_model(name: str) -> str:
    if name.startswith(TORCHVISION):
        return check_torchvision(name)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return name


def build_model(name: str, *, num_classes: int, act: str = "tanh", order: str = "swap",
                width: float = 1.0, in_channels: int = 3, image_size: int = 32,
                bias: bool = True, act_kwargs: dict | None = None) -> nn.Module:
    """Build a model of the paper by name (see `MODELS`), in convention, swap or nobn order,
    or any torchvision classification model as `torchvision:NAME` (models/torchvision.py)."""
    check_model(name)
    if name.startswith(TORCHVISION):
        return build_torchvision(name, num_classes=num_classes, act=act, order=order,
                                 width=width, in_channels=in_channels, act_kwargs=act_kwargs)
    return MODELS[name](num_classes=num_classes, act=act, order=order, width=width,
                        in_channels=in_channels, image_size=image_size, bias=bias,
                        act_kwargs=act_kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["MODELS", "TORCHVISION", "VGG", "MobileNet", "build_model", "check_model", "count_parameters",
           "model_family"]
