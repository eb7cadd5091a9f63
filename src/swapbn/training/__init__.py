"""Training: TrainConfig, the loop that writes a run directory, and order comparisons."""

from .config import TrainConfig
from .loop import TIMING_FIELDS, epoch_seed, resolve_device, train
from .rundir import read_json, read_metrics

__all__ = ["TIMING_FIELDS", "TrainConfig", "epoch_seed", "read_json", "read_metrics",
           "resolve_device", "train"]
