"""Batches from a split, normalised on the training device, behind one interface: from images
held as one uint8 tensor (shuffling, crops, flips and normalisation run on whole batches), or
from image files decoded through a torch DataLoader (ImageNet-size images)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from ..errors import UsageError
from .augment import normalize, random_flip, random_translate
from .decode import decode_file

IMAGE_SIZE = 224  # streamed images: resized to RESIZE, cropped to IMAGE_SIZE
RESIZE = 256


def num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


def rank_slice(m: int, shard: tuple[int, int]) -> slice:
    """The part of a batch of m images that rank `shard[0]` of `shard[1]` takes (the whole
    batch on one rank): every rank slices the same global batch, so the ranks together train
    on exactly the images, in the order and with the augmentation, of a single process."""
    rank, world = shard
    return slice(m * rank // world, m * (rank + 1) // world)


def eval_transform():
    """Resize 256, center crop 224: what the network sees of a streamed image at evaluation."""
    from torchvision.transforms import v2

    return v2.Compose([v2.Resize(RESIZE, antialias=True), v2.CenterCrop(IMAGE_SIZE)])


def train_transform():
    """Random-resized crop 224 and horizontal flip."""
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomResizedCrop(IMAGE_SIZE, antialias=True), v2.RandomHorizontalFlip()])


class Loader:
    """One pass over a split, made by `DataSet.loader` (whose arguments these are, with the
    split's `labels` and the data set's `mean` and `std`); iterate it once per epoch (a new
    loader per epoch seed). Shuffling and augmentation draw only from generators seeded with
    `seed`. `shard` = (rank, world): each batch is this rank's slice of the global batch of
    `batch_size` images (data-parallel training)."""

    shard: tuple[int, int] = (0, 1)

    def __init__(
        self,
        labels: torch.Tensor,
        batch_size: int,
        train: bool,
        device: torch.device,
        seed: int,
        drop_last: bool,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        self.labels, self.batch_size, self.train = labels, batch_size, train
        self.device, self.seed, self.drop_last = device, seed, drop_last
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device)
        self.std = torch.tensor(std, dtype=torch.float32, device=device)

    def __len__(self) -> int:
        return num_batches(len(self.labels), self.batch_size, self.drop_last)

    @property
    def image_count(self) -> int:
        """How many images one pass yields (this rank's share of each batch)."""
        n, size = len(self.labels), self.batch_size
        batches = [min(size, n - i) for i in range(0, size * len(self), size)]
        return sum(len(range(m)[rank_slice(m, self.shard)]) for m in batches)


class MemoryLoader(Loader):
    """Batches from `images` (N, C, H, W) uint8 and `labels`, both already on the device;
    training batches are shifted by up to `pad` pixels and, with `flip`, mirrored."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, pad: int, flip: bool, *common):
        super().__init__(labels, *common)
        self.images, self.pad, self.flip = images, pad, flip

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        images, labels, n = self.images, self.labels, len(self.labels)
        generator = torch.Generator().manual_seed(int(self.seed))
        order = torch.randperm(n, generator=generator) if self.train else None
        for b in range(len(self)):
            start = b * self.batch_size
            stop = min(start + self.batch_size, n)
            if order is None:
                x, y = images[start:stop], labels[start:stop]
            else:
                index = order[start:stop].to(self.device)
                x, y = images.index_select(0, index), labels.index_select(0, index)
                x = random_translate(x, self.pad, generator)
                if self.flip:
                    x = random_flip(x, generator)
            if self.shard[1] > 1:  # augment the global batch, then slice: same random draws
                part = rank_slice(len(y), self.shard)
                x, y = x[part], y[part]
            yield normalize(x, self.mean, self.std), y


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


class StreamLoader(Loader):
    """Batches from image `files` with their `labels` (on the CPU), decoded by `workers`
    DataLoader processes (0: in this process)."""

    def __init__(self, files: list[str], labels: torch.Tensor, workers: int, *common):
        super().__init__(labels, *common)
        self.files, self.workers = files, workers

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        images = FileImages(self.files, self.labels, self.train, self.seed)
        loader = torch.utils.data.DataLoader(
            images,
            batch_sampler=self.batches(),
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
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

    def batches(self) -> list[list[int]]:
        """Image indices of each batch: this rank's slice of the global batches of one
        permutation drawn from `seed` (the order DataLoader's shuffle draws from that
        generator)."""
        n = len(self.labels)
        order = (torch.randperm(n, generator=torch.Generator().manual_seed(int(self.seed)))
                 if self.train else torch.arange(n))
        out = []
        for b in range(len(self)):
            batch = order[b * self.batch_size:(b + 1) * self.batch_size]
            out.append(batch[rank_slice(len(batch), self.shard)].tolist())
        return out
