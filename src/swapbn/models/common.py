"""Pieces shared by the model families."""

from __future__ import annotations


def scaled(channels: int, width: float) -> int:
    """Channel count under the width multiplier; never below one channel."""
    return max(1, int(round(channels * width)))


def check_common(num_classes: int, in_channels: int, image_size: int, width: float) -> None:
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be at least 1, got {in_channels}")
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}")
