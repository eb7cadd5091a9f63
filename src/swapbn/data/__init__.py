"""Data sets held in memory as uint8 tensors with batched augmentation on the device
(ImageNet-size sets stream from files); one entry point, `load_dataset`."""

from .dataset import Augmentation, DataSet, Split
from .registry import DATASETS, load_dataset

__all__ = ["DATASETS", "Augmentation", "DataSet", "Split", "load_dataset"]
