"""Batches from a split held in memory: the whole split is one uint8 tensor on the device;
shuffling, crops, flips and normalisation run on whole batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from .augment import normalize, random_flip, random_translate
from .dataset import num_batches

if TYPE_CHECKING:
    from .dataset import DataSet, Split


class MemoryLoader:
    """One pass over a split; iterate it once per epoch (a new loader per epoch seed)."""

    def __init__(
        self,
        data: DataSet,
        split: Split,
        batch_size: int,
        train: bool,
        device: torch.device,
        seed: int,
        drop_last: bool,
    ) -> None:
        self.data, self.split, self.batch_size = data, split, batch_size
        self.train, self.device, self.seed, self.drop_last = train, device, seed, drop_last
        self.mean = torch.tensor(data.mean, dtype=torch.float32, device=device)
        self.std = torch.tensor(data.std, dtype=torch.float32, device=device)

    def __len__(self) -> int:
        return num_batches(len(self.split), self.batch_size, self.drop_last)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        images = self.split.images_on(self.device)
        labels = self.split.labels_on(self.device)
        n = len(self.split)
        generator = torch.Generator().manual_seed(int(self.seed))
        order = torch.randperm(n, generator=generator) if self.train else None
        aug = self.data.augmentation
        for b in range(len(self)):
            start = b * self.batch_size
            stop = min(start + self.batch_size, n)
            if order is None:
                x, y = images[start:stop], labels[start:stop]
            else:
                index = order[start:stop].to(self.device)
                x, y = images.index_select(0, index), labels.index_select(0, index)
                x = random_translate(x, aug.pad, generator)
                if aug.flip:
                    x = random_flip(x, generator)
            yield normalize(x, self.mean, self.std), y
