"""Per-channel mean and standard deviation of uint8 images on the 0..1 scale."""

from __future__ import annotations

import torch


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel over all pixels of `images` (N, C, H, W) uint8.

    Computed exactly from a 256-bin histogram per channel: no float copy of the images, no
    rounding error that grows with the number of pixels.
    """
    c = images.shape[1]
    values = torch.arange(256, dtype=torch.float64)
    sums = torch.zeros(c, dtype=torch.float64)
    sums_sq = torch.zeros(c, dtype=torch.float64)
    for k in range(c):
        counts = torch.bincount(images[:, k].reshape(-1), minlength=256).to(torch.float64)
        sums[k] = (counts * values).sum()
        sums_sq[k] = (counts * values.square()).sum()
    count = images.shape[0] * images.shape[2] * images.shape[3]
    return merge_stats(sums, sums_sq, count)


def merge_stats(
    sums: torch.Tensor, sums_sq: torch.Tensor, count: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) on the 0..1 scale from per-channel sums of 0..255 values over `count`
    pixels (population std, as torchvision's references compute it)."""
    mean = sums.double() / count
    var = (sums_sq.double() / count - mean.square()).clamp_min(0.0)
    return tuple((mean / 255.0).tolist()), tuple((var.sqrt() / 255.0).tolist())
