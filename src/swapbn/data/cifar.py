"""CIFAR-10 and CIFAR-100 from torchvision's pickle files or from an image-folder tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import UsageError
from . import cache, safe_pickle
from .archive import is_archive
from .dataset import Augmentation, DataSet
from .folder import (
    descend,
    from_content,
    has_split_folders,
    in_memory,
    read_class_tree,
    split_folders,
)
from .stats import channel_stats

# torchvision's folder and file names for the pickle format
PICKLE = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": "batches.meta",
        "names": "label_names",
        "labels": "labels",
        "classes": 10,
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": "meta",
        "names": "fine_label_names",
        "labels": "fine_labels",
        "classes": 100,
    },
}
AUGMENTATION = Augmentation(pad=4, flip=True)


def load(name: str, root: Path | None, download: bool) -> DataSet:
    """Detect the layout under `root` (pickle files or image folders) and load it."""
    spec = PICKLE[name]
    if root is None:
        if not download:
            raise UsageError(
                f"data set {name} needs a data root (or download=True / --download to fetch it)"
            )
        root = cache.cache_dir() / "datasets"
    if download:
        fetch(name, root)
    pickle_dir = find_pickle_dir(root, spec["folder"])
    if pickle_dir is not None:
        return from_pickles(name, pickle_dir)
    top = descend(root, has_split_folders)
    if top is None:
        archives = sorted(p for p in root.iterdir() if is_archive(p))
        raise UsageError(
            f"{root} does not hold {name}: expected torchvision's {spec['folder']}/ "
            f"(or its files) or image folders train/<class>/*.jpg and test/<class>/*.jpg"
            + (f"; it holds the archive {archives[0].name}: give that file as the data root "
               "(extracted once into the cache)" if archives else "")
        )
    train_dir, test_dir = split_folders(top)
    train, classes = read_class_tree(top, train_dir)
    if len(classes) != spec["classes"]:
        raise UsageError(
            f"{train_dir} has {len(classes)} class folders; {name} has {spec['classes']}"
        )
    test, _ = read_class_tree(top, test_dir, classes)
    return in_memory(name, classes, train, test, 32)


def fetch(name: str, root: Path) -> None:
    """Download with torchvision (checks the archive's md5) into `root`."""
    import torchvision

    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    root.mkdir(parents=True, exist_ok=True)
    cls(str(root), train=True, download=True)
    cls(str(root), train=False, download=True)


def find_pickle_dir(root: Path, folder: str) -> Path | None:
    """The folder holding the pickle files: `root/<folder>`, `root` itself, or one level down."""
    for candidate in (root / folder, root, *(p / folder for p in root.iterdir() if p.is_dir())):
        if candidate.is_dir() and (candidate / PICKLE_META[folder]).is_file():
            return candidate
    return None


PICKLE_META = {spec["folder"]: spec["meta"] for spec in PICKLE.values()}


def read_pickle(path: Path) -> dict:
    """A CIFAR pickle file with str keys (the originals were written by Python 2)."""
    if not path.is_file():
        raise UsageError(f"missing CIFAR file {path}")
    try:
        with open(path, "rb") as fh:
            content = safe_pickle.load(fh, encoding="latin1")
    except safe_pickle.RefusedPickle as exc:
        raise UsageError(f"refused to read CIFAR file {path}: {exc}") from None
    except Exception as exc:
        raise UsageError(f"cannot read CIFAR file {path}: {exc}") from None
    if not isinstance(content, dict):
        raise UsageError(f"cannot read CIFAR file {path}: not a dictionary")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in content.items()}


def read_batches(name: str, folder: Path, files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    spec = PICKLE[name]
    images, labels = [], []
    for f in files:
        batch = read_pickle(folder / f)
        if "data" not in batch or spec["labels"] not in batch:
            raise UsageError(f"CIFAR file {folder / f} lacks 'data' or '{spec['labels']}'")
        images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[spec["labels"]], dtype=np.int64))
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def from_pickles(name: str, folder: Path) -> DataSet:
    """torchvision's format: uint8 rows of 3x32x32 in pickled batches."""
    spec = PICKLE[name]
    files = [folder / f for f in [*spec["train"], *spec["test"], spec["meta"]]]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UsageError(f"missing CIFAR file {missing[0]}")
    key = cache.fingerprint(cache.stat_entries(files, folder), name, "pickle")
    content = cache.load(name, key)
    if content is None:
        meta = read_pickle(folder / spec["meta"])
        classes = [str(c) for c in meta.get(spec["names"], [])]
        train_images, train_labels = read_batches(name, folder, spec["train"])
        test_images, test_labels = read_batches(name, folder, spec["test"])
        if len(classes) != spec["classes"]:
            raise UsageError(
                f"{folder / spec['meta']} names {len(classes)} classes; {name} has "
                f"{spec['classes']}"
            )
        mean, std = channel_stats(train_images)
        content = {
            "classes": classes,
            "train_images": train_images,
            "train_labels": train_labels,
            "test_images": test_images,
            "test_labels": test_labels,
            "mean": list(mean),
            "std": list(std),
        }
        cache.save(name, key, content)
    return from_content(name, content, AUGMENTATION)
