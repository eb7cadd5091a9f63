"""Augmentation of whole batches as tensor operations on the training device.

Per-image transforms in worker processes spend most of their time in Python; shifting and
flipping a (B, C, H, W) uint8 tensor at once costs a few index operations (the airbench trick).
"""

from __future__ import annotations

import torch


def random_translate(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Random crop of size (H, W) from `x` zero-padded by `pad`: a shift by (dx, dy) in
    [-pad, pad] per image, with the uncovered border filled with zeros.

    Equal to torchvision's RandomCrop(size, padding=pad) applied image by image; the shifts
    come from `generator` (on the CPU) so the batch does not depend on the device.
    """
    if pad <= 0:
        return x
    b, _, h, w = x.shape
    offsets = torch.randint(0, 2 * pad + 1, (2, b), generator=generator).to(x.device)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    # Every crop window as a view (B, C, 2p+1, 2p+1, H, W); pick one window per image.
    windows = padded.unfold(2, h, 1).unfold(3, w, 1)
    return windows[torch.arange(b, device=x.device), :, offsets[0], offsets[1]]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Horizontal flip of each image with probability 1/2."""
    mask = torch.rand(x.shape[0], generator=generator) < 0.5
    return torch.where(mask.to(x.device)[:, None, None, None], x.flip(3), x)


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float32 (x / 255 - mean) / std with per-channel mean and std (0..1)."""
    scale = (1.0 / (255.0 * std)).view(1, -1, 1, 1)
    shift = (mean / std).view(1, -1, 1, 1)
    return x.float().mul_(scale).sub_(shift)
