"""Batches from image files through a torch DataLoader (for ImageNet-size images), behind the
same interface as the in-memory loader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from ..errors import UsageError
from .augment import normalize
from .dataset import num_batches
from .decode import decode_file
from .imagenet import eval_transform, train_transform

if TYPE_CHECKING:
    from .dataset import DataSet, Split


class FileImages(torch.utils.data.Dataset):
    """Decoded, transformed images as uint8 (3, 224, 224).

    Each image's random transform draws from the global generator seeded by (seed, index), so
    the augmented image does not depend on worker count or scheduling.
    """

    def __init__(self, files: list[str], labels: torch.Tensor, train: bool, seed: int) -> None:
        self.files, self.labels, self.train, self.seed = files, labels, train, seed
        self.transform = train_transform() if train else eval_transform()

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = decode_file(self.files[i])
        if self.train:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed((self.seed * 1_000_003 + i) % 2**63)
                image = self.transform(image)
        else:
            image = self.transform(image)
        return image, self.labels[i]


class StreamLoader:
    """One pass over a streamed split; shuffling uses a generator seeded with `seed`."""

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
        assert split.files is not None
        self.split, self.batch_size, self.train = split, batch_size, train
        self.device, self.seed, self.drop_last = device, seed, drop_last
        self.workers = data.workers
        self.mean = torch.tensor(data.mean, dtype=torch.float32, device=device)
        self.std = torch.tensor(data.std, dtype=torch.float32, device=device)

    def __len__(self) -> int:
        return num_batches(len(self.split), self.batch_size, self.drop_last)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        images = FileImages(self.split.files, self.split.labels, self.train, self.seed)
        loader = torch.utils.data.DataLoader(
            images,
            batch_size=self.batch_size,
            shuffle=self.train,
            drop_last=self.drop_last,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(int(self.seed)),
            persistent_workers=False,
        )
        try:
            for x, y in loader:
                x = x.to(self.device, non_blocking=True)
                y = y.to(self.device, non_blocking=True)
                yield normalize(x, self.mean, self.std), y
        except UsageError as exc:  # from a worker: keep the one-line message
            lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
            last = lines[-1] if lines else "cannot read an image"
            raise UsageError(last.split("UsageError: ", 1)[-1]) from None
