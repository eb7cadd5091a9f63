"""Image-folder trees (`train/<class>/*`, `test/<class>/*` or `val/<class>/*`): small square
images (<= 64 px) are decoded once into uint8 tensors and cached; larger ones stream."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import UsageError, shown_path
from . import cache
from .dataset import Augmentation, DataSet, Split
from .decode import class_folders, decode_file, decode_files, image_size, list_images
from .loaders import IMAGE_SIZE, eval_transform
from .stats import channel_stats, merge_stats

MAX_IN_MEMORY = 64  # larger images stream from files through a DataLoader
STATS_SAMPLE = 1000  # training images of a streamed set whose pixels give mean and std


@dataclass
class FileList:
    """Image files with their labels, and (relative path, size, mtime) for the cache key."""

    files: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    entries: list[tuple[str, int, int]] = field(default_factory=list)

    def add(self, root: Path, found: list[tuple[str, int, int]], label: int) -> None:
        cut = len(str(root)) + 1
        for path, size, mtime in found:
            self.files.append(path)
            self.labels.append(label)
            self.entries.append((path[cut:], size, mtime))


def descend(root: Path, looks_right: Callable[[Path], bool]) -> Path | None:
    """`root` if it has the layout, else its only subfolder if that has it (an archive
    extracted into its own folder, such as cifar10-jpeg/)."""
    if looks_right(root):
        return root
    subs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(subs) == 1 and looks_right(subs[0]):
        return subs[0]
    return None


def has_split_folders(root: Path) -> bool:
    return (root / "train").is_dir() and ((root / "test").is_dir() or (root / "val").is_dir())


def split_folders(root: Path) -> tuple[Path, Path]:
    """(train folder, test folder); `val/` stands in for a missing `test/`."""
    test = root / "test" if (root / "test").is_dir() else root / "val"
    return root / "train", test


def read_class_tree(
    top: Path, folder: Path, classes: list[str] | None = None, inner: str = ""
) -> tuple[FileList, list[str]]:
    """Images in `folder/<class>/<inner>/` for every class (classes sorted by folder name)."""
    if classes is None:
        classes = class_folders(str(folder))
    if not classes:
        raise UsageError(f"{shown_path(folder)} has no class folders; expected "
                         f"{shown_path(folder)}/<class>/<images>")
    out = FileList()
    for label, name in enumerate(classes):
        class_dir = folder / name / inner if inner else folder / name
        if not class_dir.is_dir():
            raise UsageError(f"missing class folder {shown_path(class_dir)}")
        out.add(top, list_images(str(class_dir)), label)
    if not out.files:
        raise UsageError(f"no image files under {shown_path(folder)}")
    return out, classes


def build(
    name: str, root: Path, classes: list[str], train: FileList, test: FileList, seed: int
) -> DataSet:
    """A data set from file lists: in memory when the images are small and square."""
    h, w = image_size(train.files[0])
    if h == w <= MAX_IN_MEMORY:
        return in_memory(name, classes, train, test, h)
    return streamed(name, classes, train, test, seed)


def in_memory(name: str, classes: list[str], train: FileList, test: FileList, size: int) -> DataSet:
    """Decode every image once (or read the cache) into uint8 tensors."""
    key = cache.fingerprint(train.entries + test.entries, name, classes)
    content = cache.load(name, key)
    if content is None:
        train_images = decode_files(train.files)
        test_images = decode_files(test.files)
        if train_images.shape[1:] != test_images.shape[1:]:
            raise UsageError(
                f"test images are {tuple(test_images.shape[1:])} but training images are "
                f"{tuple(train_images.shape[1:])}"
            )
        mean, std = channel_stats(train_images)
        content = {
            "classes": classes,
            "train_images": train_images,
            "train_labels": torch.tensor(train.labels, dtype=torch.int64),
            "test_images": test_images,
            "test_labels": torch.tensor(test.labels, dtype=torch.int64),
            "mean": list(mean),
            "std": list(std),
        }
        cache.save(name, key, content)
    return from_content(name, content, Augmentation(pad=size // 8, flip=True))


def from_content(name: str, content: dict, augmentation: Augmentation) -> DataSet:
    """A DataSet from a cache entry (see `in_memory`)."""
    train_images = content["train_images"]
    return DataSet(
        name=name,
        classes=list(content["classes"]),
        in_channels=int(train_images.shape[1]),
        image_size=int(train_images.shape[2]),
        mean=tuple(content["mean"]),
        std=tuple(content["std"]),
        train=Split(labels=content["train_labels"], images=train_images),
        test=Split(labels=content["test_labels"], images=content["test_images"]),
        augmentation=augmentation,
    )


def sample_stats(files: list[str], seed: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std over a seeded sample of training images after the eval
    transform."""
    generator = torch.Generator().manual_seed(int(seed))
    pick = torch.randperm(len(files), generator=generator)[:STATS_SAMPLE].tolist()
    transform = eval_transform()
    sums = torch.zeros(3, dtype=torch.float64)
    sums_sq = torch.zeros(3, dtype=torch.float64)
    count = 0
    for i in sorted(pick):
        x = transform(decode_file(files[i])).to(torch.float64)
        sums += x.sum(dim=(1, 2))
        sums_sq += x.square().sum(dim=(1, 2))
        count += x.shape[1] * x.shape[2]
    return merge_stats(sums, sums_sq, count)


def streamed(name: str, classes: list[str], train: FileList, test: FileList, seed: int) -> DataSet:
    """Images stay on disk and stream through a DataLoader; mean and std come from a seeded
    sample of training images, cached under the file-list key."""
    key = cache.fingerprint(train.entries, name, "stats", STATS_SAMPLE, seed)
    content = cache.load(f"{name}-stats", key)
    if content is None:
        mean, std = sample_stats(train.files, seed)
        content = {"mean": list(mean), "std": list(std)}
        cache.save(f"{name}-stats", key, content)
    return DataSet(
        name=name,
        classes=classes,
        in_channels=3,
        image_size=IMAGE_SIZE,
        mean=tuple(content["mean"]),
        std=tuple(content["std"]),
        train=Split(labels=torch.tensor(train.labels, dtype=torch.int64), files=train.files),
        test=Split(labels=torch.tensor(test.labels, dtype=torch.int64), files=test.files),
        augmentation=Augmentation(pad=0, flip=True),
        workers=min(8, max(0, (os.cpu_count() or 1) - 1)),
    )


def load(root: Path, seed: int) -> DataSet:
    """The generic `folder` data set: train/<class>/* and test/<class>/* (or val/<class>/*)."""
    top = descend(root, has_split_folders)
    if top is None:
        raise UsageError(
            f"{shown_path(root)} is not an image-folder tree: expected train/<class>/<images> and "
            "test/<class>/<images> (or val/<class>/<images>)"
        )
    train_dir, test_dir = split_folders(top)
    train, classes = read_class_tree(top, train_dir)
    test, _ = read_class_tree(top, test_dir, classes)
    return build("folder", top, classes, train, test, seed)
