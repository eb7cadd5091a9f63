"""timm's models (`timm:efficientnet_b0`, built by models/zoo.py; pip install 'swapbn[timm]').

Built with `pretrained=False` (nothing is downloaded) and timm's own `in_chans`, so grey-scale
digits work with every architecture. Many of them fuse BatchNorm and activation in one module
(`BatchNormAct2d`); swapbn.fx reads it as norm then activation (fx/sites.py).
"""

from __future__ import annotations

import functools

from torch import nn


@functools.cache
def names() -> list[str]:
    """Every model timm can build (ImportError without timm)."""
    import timm  # optional, and slow to import: only when a timm model is asked for

    return list(timm.list_models())


def create(arch: str, num_classes: int, in_channels: int) -> nn.Module:
    """timm model `arch`, no weights."""
    import timm

    return timm.create_model(arch, pretrained=False, num_classes=num_classes,
                             in_chans=in_channels)
