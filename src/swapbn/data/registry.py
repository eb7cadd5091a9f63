"""`load_dataset`: one entry point for every data set by name."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import UsageError, quoted, shown_path
from . import cifar, digits, folder, imagenet, tinyimagenet
from .archive import extract_hint, extracted, is_archive
from .dataset import DataSet
from .splits import stratified_pick
from .stats import channel_stats


def _digits(root: Path | None, seed: int, download: bool) -> DataSet:
    return digits.load(seed)


def _cifar10(root: Path | None, seed: int, download: bool) -> DataSet:
    return cifar.load("cifar10", root, download)


def _cifar100(root: Path | None, seed: int, download: bool) -> DataSet:
    return cifar.load("cifar100", root, download)


def _tinyimagenet(root: Path | None, seed: int, download: bool) -> DataSet:
    return tinyimagenet.load(_need_root("tinyimagenet", root, download))


def _imagenet(root: Path | None, seed: int, download: bool) -> DataSet:
    return imagenet.load("imagenet", _need_root("imagenet", root, download), seed)


def _folder(root: Path | None, seed: int, download: bool) -> DataSet:
    return folder.load(_need_root("folder", root, download), seed)


DATASETS: dict[str, Callable[[Path | None, int, bool], DataSet]] = {
    "digits": _digits,
    "cifar10": _cifar10,
    "cifar100": _cifar100,
    "tinyimagenet": _tinyimagenet,
    "imagenet": _imagenet,
    "folder": _folder,
}


# Data sets whose archive may be given as the root (small enough to extract into the cache).
ARCHIVED = ("cifar10", "cifar100")


def _need_root(name: str, root: Path | None, download: bool) -> Path:
    if download:
        raise UsageError(f"data set {name} cannot be downloaded; pass the folder that holds it")
    if root is None:
        raise UsageError(f"data set {name} needs a data root (the folder that holds it)")
    return root


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    train_subset: int | None = None,
    val_images: int = 0,
    seed: int = 0,
    download: bool = False,
) -> DataSet:
    """Load data set `name` (see `DATASETS`) ready for `data.loader(...)`.

    `val_images=N` holds out N training images (stratified, chosen by `seed`) as `data.val`;
    `train_subset=N` then keeps a stratified, seeded subset of N of the remaining training
    images. Mean and std describe the training images actually used.
    """
    if name not in DATASETS:
        raise UsageError(f"unknown data set {quoted(name)}; choose from {', '.join(DATASETS)}")
    if root is not None:
        root = Path(root).expanduser()
        if download and name in ("cifar10", "cifar100"):
            root.mkdir(parents=True, exist_ok=True)
        if not root.exists():
            raise UsageError(f"data root {shown_path(root)} does not exist")
        if is_archive(root) and name in ARCHIVED:
            root = extracted(root)
        elif not root.is_dir():
            raise UsageError(f"data root {shown_path(root)} is not a folder"
                             + (f"; {extract_hint(root)}" if is_archive(root) else ""))
    data = DATASETS[name](root, seed, download)
    return check_classes(_select(data, train_subset, int(val_images), seed))


def check_classes(data: DataSet) -> DataSet:
    """A data set a classifier can learn from: two classes or more, each with training images
    (a one-class folder reports 100% accuracy; a class without images is never learned)."""
    if data.num_classes < 2:
        raise UsageError(f"data set {data.name} has {data.num_classes} class; a classifier "
                         "needs at least 2")
    counts = torch.bincount(data.train.labels, minlength=data.num_classes)
    empty = [data.classes[i] for i in torch.nonzero(counts == 0).flatten().tolist()]
    if empty:
        raise UsageError(f"data set {data.name}: {len(empty)} of {data.num_classes} classes have "
                         f"no training images (e.g. {quoted(empty[0])}); give a larger "
                         "--train-subset or add images")
    return data


def _select(data: DataSet, train_subset: int | None, val_images: int, seed: int) -> DataSet:
    """Hold out `val_images` training images as the validation split, then take the training
    subset."""
    if not val_images and train_subset is None:
        return data
    train, val = data.train, None
    if val_images:
        held, rest = stratified_pick(train.labels, val_images, seed, "val_images")
        train, val = train.subset(rest), train.subset(held)
    if train_subset is not None and int(train_subset) != len(train):
        picked, _ = stratified_pick(train.labels, int(train_subset), seed, "train_subset")
        train = train.subset(picked)
    changes: dict = {"train": train, "val": val}
    if train.images is not None:
        changes["mean"], changes["std"] = channel_stats(train.images)
    return dataclasses.replace(data, **changes)
