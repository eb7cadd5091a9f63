"""Seeded, stratified selections from a split: training subsets and validation hold-outs."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from ..errors import UsageError


def stratified_pick(
    labels: torch.Tensor, count: int, seed: int, what: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (picked, rest): `count` images with class proportions kept, chosen by `seed`.

    Falls back to a plain seeded draw when `count` is too small to hold every class.
    """
    n = int(labels.shape[0])
    if not 0 < count < n:
        raise UsageError(f"{what} must be between 1 and {n - 1} (training images), got {count}")
    index = np.arange(n)
    y = labels.numpy()
    try:
        picked, rest = train_test_split(index, train_size=count, stratify=y, random_state=seed)
    except ValueError:  # fewer images than classes, or a class with a single image
        picked, rest = train_test_split(index, train_size=count, random_state=seed)
    return torch.from_numpy(np.sort(picked)), torch.from_numpy(np.sort(rest))
