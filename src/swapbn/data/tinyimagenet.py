"""Tiny ImageNet: 200 classes of 64x64 images in its distributed layout.

    wnids.txt                         one class id (WordNet id) per line
    train/<wnid>/images/*.JPEG        500 per class
    val/images/*.JPEG                 50 per class, labelled by val/val_annotations.txt
    val/val_annotations.txt           <file>\t<wnid>\t<box...>

The labelled `val` images serve as the test split (the `test` images carry no labels).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError
from .dataset import DataSet
from .decode import list_images
from .folder import FileList, descend, in_memory, read_class_tree

LAYOUT = "wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG and val/val_annotations.txt"


def looks_right(root: Path) -> bool:
    return (root / "wnids.txt").is_file() and (root / "train").is_dir()


def read_val(top: Path, classes: list[str]) -> FileList:
    """The labelled validation images, in file-name order."""
    notes = top / "val" / "val_annotations.txt"
    if not notes.is_file():
        raise UsageError(f"missing {notes}; Tiny ImageNet layout: {LAYOUT}")
    label_of = {wnid: i for i, wnid in enumerate(classes)}
    wnid_of: dict[str, str] = {}
    for n, line in enumerate(notes.read_text().splitlines(), start=1):
        parts = line.split("\t")
        if not line.strip():
            continue
        if len(parts) < 2 or parts[1] not in label_of:
            raise UsageError(f"{notes} line {n}: expected <file>\\t<wnid from wnids.txt>")
        wnid_of[parts[0]] = parts[1]
    out = FileList()
    for path, size, mtime in list_images(str(top / "val" / "images")):
        name = os.path.basename(path)
        if name not in wnid_of:
            raise UsageError(f"{path} has no label in {notes}")
        out.add(top, [(path, size, mtime)], label_of[wnid_of[name]])
    if not out.files:
        raise UsageError(f"no images in {top / 'val' / 'images'}; Tiny ImageNet layout: {LAYOUT}")
    return out


def load(root: Path) -> DataSet:
    top = descend(root, looks_right)
    if top is None:
        raise UsageError(f"{root} does not hold Tiny ImageNet: expected {LAYOUT}")
    classes = sorted({w.strip() for w in (top / "wnids.txt").read_text().split() if w.strip()})
    if not (top / "val" / "images").is_dir():
        raise UsageError(f"missing {top / 'val' / 'images'}; Tiny ImageNet layout: {LAYOUT}")
    train, _ = read_class_tree(top, top / "train", classes, inner="images")
    test = read_val(top, classes)
    return in_memory("tinyimagenet", classes, train, test, 64)
