"""ImageNet-size data sets (train/<class>/*, val/<class>/*): images stay on disk and stream
through a DataLoader; mean and std come from a seeded sample of training images."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UsageError
from . import cache
from .dataset import Augmentation, DataSet, Split
from .decode import decode_file
from .folder import FileList, descend, has_split_folders, read_class_tree, split_folders
from .stats import merge_stats

IMAGE_SIZE = 224
RESIZE = 256
STATS_SAMPLE = 1000  # training images whose pixels give mean and std


def eval_transform():
    """Resize 256, center crop 224: what the network sees at evaluation."""
    from torchvision.transforms import v2

    return v2.Compose([v2.Resize(RESIZE, antialias=True), v2.CenterCrop(IMAGE_SIZE)])


def train_transform():
    """Random-resized crop 224 and horizontal flip."""
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomResizedCrop(IMAGE_SIZE, antialias=True), v2.RandomHorizontalFlip()])


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
    """A streamed data set; the sampled statistics are cached under the file-list key."""
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
        workers=default_workers(),
    )


def default_workers() -> int:
    import os

    return min(8, max(0, (os.cpu_count() or 1) - 1))


def load(name: str, root: Path, seed: int) -> DataSet:
    top = descend(root, has_split_folders)
    if top is None:
        raise UsageError(
            f"{root} does not hold ImageNet: expected train/<wnid>/*.JPEG and val/<wnid>/*.JPEG"
        )
    train_dir, test_dir = split_folders(top)
    train, classes = read_class_tree(top, train_dir)
    test, _ = read_class_tree(top, test_dir, classes)
    return streamed(name, classes, train, test, seed)
