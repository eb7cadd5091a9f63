"""The loaded data set: splits held as uint8 tensors (or image files for large images) and
the `loader` that turns a split into normalised batches on the training device."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import UsageError, quoted
from .loaders import Loader, MemoryLoader, StreamLoader


@dataclass
class Split:
    """One split: `labels` (N,) int64 and either `images` (N, C, H, W) uint8 held in memory or
    `files` (N paths) decoded while streaming."""

    labels: torch.Tensor
    images: torch.Tensor | None = None
    files: list[str] | None = None
    _on_device: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> Split:
        """The images at `index`, in that order."""
        index = torch.as_tensor(index, dtype=torch.long)
        images = self.images[index] if self.images is not None else None
        files = [self.files[i] for i in index.tolist()] if self.files is not None else None
        return Split(labels=self.labels[index], images=images, files=files)

    def images_on(self, device: torch.device) -> torch.Tensor:
        """The uint8 images on `device`, copied once and kept for later epochs."""
        assert self.images is not None
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = self.images.to(device)
        return self._on_device[key]

    def labels_on(self, device: torch.device) -> torch.Tensor:
        key = f"labels:{device}"
        if key not in self._on_device:
            self._on_device[key] = self.labels.to(device)
        return self._on_device[key]


@dataclass(frozen=True)
class Augmentation:
    """Training augmentation: translation by up to `pad` pixels (random crop with zero
    padding) and horizontal flips; streamed sets use random-resized crops instead."""

    pad: int = 0
    flip: bool = False


@dataclass
class DataSet:
    """A data set ready for training: see docs/architecture.md, section Data."""

    name: str
    classes: list[str]
    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train: Split
    test: Split
    val: Split | None = None
    augmentation: Augmentation = Augmentation()
    workers: int = 0  # DataLoader worker processes for streamed splits

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def streamed(self) -> bool:
        return self.train.images is None

    def split(self, name: str | Split) -> Split:
        if isinstance(name, Split):
            return name
        if name not in ("train", "test", "val"):
            raise UsageError(f"unknown split {quoted(name)}; choose train, test or val")
        split = getattr(self, name)
        if split is None:
            raise UsageError(f"data set {self.name} has no {name} split (set val_images > 0)")
        return split

    def loader(
        self,
        split: str | Split,
        batch_size: int,
        *,
        train: bool,
        device: str | torch.device = "cpu",
        seed: int = 0,
        drop_last: bool = False,
        shard: tuple[int, int] = (0, 1),
    ) -> Loader:
        """Batches (x float32 normalised NCHW, y int64), both on `device`.

        train=True shuffles and augments. The batches depend only on `seed` and the arguments:
        shuffling and augmentation draw from their own generator seeded with `seed`.
        `shard` = (rank, world): each batch is that rank's slice of the global batch.
        """
        if batch_size < 1:
            raise UsageError(f"batch size must be at least 1, got {batch_size}")
        part = self.split(split)
        device = torch.device(device)
        common = (batch_size, train, device, seed, drop_last, self.mean, self.std)
        if part.images is not None:
            images, labels = part.images_on(device), part.labels_on(device)
            pad, flip = self.augmentation.pad, self.augmentation.flip
            loader: Loader = MemoryLoader(images, labels, pad, flip, *common)
        else:
            loader = StreamLoader(part.files, part.labels, self.workers, *common)
        loader.shard = shard
        return loader

    def __repr__(self) -> str:
        val = f", val={len(self.val)}" if self.val is not None else ""
        return (
            f"DataSet({self.name}: {self.num_classes} classes, {self.in_channels}x"
            f"{self.image_size}x{self.image_size}, train={len(self.train)}, "
            f"test={len(self.test)}{val})"
        )
