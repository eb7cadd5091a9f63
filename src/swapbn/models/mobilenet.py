"""MobileNet v1 (Howard et al. 2017) with every block in the chosen order."""

from __future__ import annotations

from torch import nn

from ..blocks import ConvBlock, check_order
from .common import check_common, scaled

# (out_channels, stride) of the depthwise-separable units
UNITS: list[tuple[int, int]] = [
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
]


class MobileNet(nn.Module):
    def __init__(self, *, num_classes: int, act: str, order: str, width: float = 1.0,
                 in_channels: int = 3, image_size: int = 32, bias: bool = True,
                 act_kwargs: dict | None = None) -> None:
        super().__init__()
        check_common(num_classes, in_channels, image_size, width)
        check_order(order)
        kw = dict(act=act, order=order, bias=bias, act_kwargs=act_kwargs)
        stem_stride = 1 if image_size <= 32 else 2
        c = scaled(32, width)
        layers: list[nn.Module] = [ConvBlock(in_channels, c, stride=stem_stride, **kw)]
        for out, stride in UNITS:
            out = scaled(out, width)
            layers.append(ConvBlock(c, c, kernel_size=3, stride=stride, groups=c, **kw))
            layers.append(ConvBlock(c, out, kernel_size=1, **kw))
            c = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def mobilenet(**kwargs) -> MobileNet:
    return MobileNet(**kwargs)
