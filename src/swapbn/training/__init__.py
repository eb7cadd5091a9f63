"""Training: TrainConfig, the loop that writes a run directory, and order comparisons."""

from .config import TrainConfig
from .loop import TIMING_FIELDS, train
from .reproduce import epoch_seed, resolve_device

__all__ = ["TIMING_FIELDS", "TrainConfig", "epoch_seed", "resolve_device", "train"]
