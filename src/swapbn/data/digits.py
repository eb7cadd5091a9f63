"""scikit-learn's bundled 8x8 handwritten digits, upsampled to 32x32: the offline data set."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from .dataset import Augmentation, DataSet, Split
from .stats import channel_stats

TEST_FRACTION = 0.2
IMAGE_SIZE = 32


def upsample(pixels: np.ndarray) -> torch.Tensor:
    """(N, 8, 8) values 0..16 -> (N, 1, 32, 32) uint8 0..255, bilinear."""
    x = torch.from_numpy(pixels).float().div(16.0).unsqueeze(1)
    x = torch.nn.functional.interpolate(
        x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False
    )
    return x.mul(255.0).round().clamp(0, 255).to(torch.uint8)


def load(seed: int = 0) -> DataSet:
    """1,797 digits in 10 classes; a stratified 80/20 train/test split chosen by `seed`.

    Augmentation is a random crop with 4-pixel zero padding (one pixel of the 8x8 original);
    no flips, since a mirrored digit is a different symbol.
    """
    bunch = load_digits()
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    images = upsample(bunch.images)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, stratify=bunch.target, random_state=seed
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    train = Split(labels=labels[train_idx], images=images[train_idx])
    test = Split(labels=labels[test_idx], images=images[test_idx])
    mean, std = channel_stats(train.images)
    return DataSet(
        name="digits",
        classes=[str(d) for d in range(10)],
        in_channels=1,
        image_size=IMAGE_SIZE,
        mean=mean,
        std=std,
        train=train,
        test=test,
        augmentation=Augmentation(pad=4, flip=False),
    )
