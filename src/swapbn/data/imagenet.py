"""ImageNet-size data sets (train/<wnid>/*, val/<wnid>/*): always streamed from the files."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .dataset import DataSet
from .folder import descend, has_split_folders, read_class_tree, split_folders, streamed


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
