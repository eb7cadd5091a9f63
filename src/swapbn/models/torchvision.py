"""torchvision's classification models (`torchvision:resnet18`, built by models/zoo.py).

Architectures stay torchvision's own at every image size (docs/guide.md, "Your own model"): on 32 px
images a ResNet's stem (7x7 stride 2, max pool) leaves 8 px maps for its first stage and 1 px
for its last. The CIFAR stem (3x3 stride 1, no max pool) would cost 16 times the compute, which
a CPU-scale sweep cannot afford. Only a ResNet's first convolution follows the data set's
number of channels (grey-scale digits).
"""

from __future__ import annotations

import functools

from torch import nn


@functools.cache
def names() -> list[str]:
    """The classification models of torchvision's registry."""
    import torchvision  # heavy: only when a torchvision model is asked for

    return list(torchvision.models.list_models(module=torchvision.models))


def create(arch: str, num_classes: int, in_channels: int) -> nn.Module:
    """torchvision model `arch`, no weights."""
    import torchvision

    model = torchvision.models.get_model(arch, weights=None, num_classes=num_classes)
    if in_channels != 3 and isinstance(model, torchvision.models.ResNet):
        model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    elif in_channels != 3:
        raise ValueError(f"torchvision:{arch} takes 3-channel images, this data set has "
                         f"{in_channels}")
    return model
