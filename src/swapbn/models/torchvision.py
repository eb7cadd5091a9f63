"""torchvision's classification models by name (`torchvision:resnet18`), with swapbn's
activations and orders, built without downloading weights.

Architectures stay torchvision's own at every image size (README, "Your own model"): on 32 px
images a ResNet's stem (7x7 stride 2, max pool) leaves 8 px maps for its first stage and 1 px
for its last. The CIFAR stem (3x3 stride 1, no max pool) would cost 16 times the compute, which
a CPU-scale sweep cannot afford. Only a ResNet's first convolution follows the data set's
number of channels (grey-scale digits).
"""

from __future__ import annotations

import functools

from torch import nn

from ..fx import replace_activations, swap_norm_act

PREFIX = "torchvision:"


@functools.cache
def torchvision_names() -> list[str]:
    """The classification models of torchvision's registry."""
    import torchvision  # heavy: only when a torchvision model is asked for

    return list(torchvision.models.list_models(module=torchvision.models))


def check_torchvision(name: str) -> str:
    arch = name[len(PREFIX):]
    if arch not in torchvision_names():
        raise ValueError(f"unknown model {name!r}; torchvision's classification models are "
                         f"{', '.join(torchvision_names())}")
    return name


def build_torchvision(name: str, *, num_classes: int, act: str, order: str,
                      width: float = 1.0, in_channels: int = 3, act_kwargs: dict | None = None) -> nn.Module:
    """torchvision model `name` (with its prefix) with `act` for its activations (gates such
    as squeeze-excitation keep theirs), in convention order (torchvision's) or swap order."""
    import torchvision

    check_torchvision(name)
    if width != 1.0:
        raise ValueError(f"{name} has torchvision's width; width {width:g} applies to "
                         "swapbn's own models")
    if order not in ("convention", "swap"):
        raise ValueError(f"{name} runs in convention or swap order, not {order!r}")
    model = torchvision.models.get_model(name[len(PREFIX):], weights=None,
                                         num_classes=num_classes)
    if in_channels != 3 and isinstance(model, torchvision.models.ResNet):
        model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    elif in_channels != 3:
        raise ValueError(f"{name} takes 3-channel images, this data set has {in_channels}")
    model = replace_activations(model, act, **(act_kwargs or {}))
    if order == "swap":
        model, _ = swap_norm_act(model)
    return model
