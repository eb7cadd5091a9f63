"""VGG11, VGG16 and the truncated VGG16_n of the paper (Section 3, Table 7).

The convolutional part follows the VGG configurations; the head is global average
pooling and two fully connected blocks in the same order as the conv blocks (no BN in
them for 64- and 224-pixel inputs, as in the paper's Figure 9), then a linear classifier.
At 224 pixels the head is torchvision's: 7x7 adaptive pooling and 4096-wide FC blocks
with dropout.
"""

from __future__ import annotations

from torch import nn

from ..blocks import ConvBlock, LinearBlock, check_order
from .common import check_common, scaled

Config = list[int | str]

VGG16: Config = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                 512, 512, 512, "M"]
VGG11: Config = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
VGG16_DEPTHS = range(8, 17)


def vgg16_n_config(n: int) -> Config:
    """The first n - 3 conv layers of VGG16, the pools between them, and a pool right after the last one."""
    if n not in VGG16_DEPTHS:
        raise ValueError(f"vgg16_n needs n in 8..16, got {n}")
    keep = n - 3
    out: Config = []
    convs = 0
    for i, item in enumerate(VGG16):
        if item == "M":
            out.append(item)
            continue
        out.append(item)
        convs += 1
        if convs == keep:
            if i + 1 < len(VGG16) and VGG16[i + 1] == "M":
                out.append("M")
            break
    return out


def head_kind(image_size: int) -> str:
    """'bn' for CIFAR-size inputs, 'plain' (FC blocks without BN) up to 223 px, 'imagenet' from 224."""
    if image_size >= 224:
        return "imagenet"
    if image_size > 32:
        return "plain"
    return "bn"


class VGG(nn.Module):
    def __init__(self, config: Config, *, num_classes: int, act: str, order: str,
                 width: float = 1.0, in_channels: int = 3, image_size: int = 32,
                 bias: bool = True, act_kwargs: dict | None = None) -> None:
        super().__init__()
        check_common(num_classes, in_channels, image_size, width)
        check_order(order)
        pools = config.count("M")
        if image_size < 2 ** pools:
            raise ValueError(f"image_size {image_size} is too small for {pools} max-pool layers")
        layers: list[nn.Module] = []
        c = in_channels
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                out = scaled(int(item), width)
                layers.append(ConvBlock(c, out, act=act, order=order, bias=bias,
                                        act_kwargs=act_kwargs))
                c = out
        self.features = nn.Sequential(*layers)
        kind = head_kind(image_size)
        fc_order = order if kind == "bn" else "nobn"
        if kind == "imagenet":
            hidden = scaled(4096, width)
            self.pool = nn.AdaptiveAvgPool2d(7)
            feat = c * 49
            self.classifier = nn.Sequential(
                LinearBlock(feat, hidden, act=act, order=fc_order, bias=bias, act_kwargs=act_kwargs),
                nn.Dropout(0.5),
                LinearBlock(hidden, hidden, act=act, order=fc_order, bias=bias, act_kwargs=act_kwargs),
                nn.Dropout(0.5),
                nn.Linear(hidden, num_classes),
            )
        else:
            hidden = scaled(512, width)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(
                LinearBlock(c, hidden, act=act, order=fc_order, bias=bias, act_kwargs=act_kwargs),
                LinearBlock(hidden, hidden, act=act, order=fc_order, bias=bias, act_kwargs=act_kwargs),
                nn.Linear(hidden, num_classes),
            )

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.classifier(x.flatten(1))


def vgg11(**kwargs) -> VGG:
    return VGG(VGG11, **kwargs)


def vgg16(**kwargs) -> VGG:
    return VGG(VGG16, **kwargs)


def vgg16_n(n: int, **kwargs) -> VGG:
    return VGG(vgg16_n_config(n), **kwargs)
