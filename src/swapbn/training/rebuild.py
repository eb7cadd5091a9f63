"""A run's model and data, built from what its config.json records.

Training builds its model from the record it is about to write, resuming loads the checkpoint
into that model, and `swapbn measure RUN_DIR` rebuilds the same model and data from the record
written: one way, so a measured model is always the one that trained.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..data import load_dataset
from ..data.dataset import DataSet
from ..errors import RecordError, UsageError
from ..models import build_model
from ..models.weights import load_weights
from ..rundir import CHECKPOINT, CONFIG, RunDir
from .config import DATA_SEED

MODEL_KEYS = ("arch", "act", "order", "num_classes")  # what rebuilding the model needs


def data_fields(data: DataSet) -> dict:
    """What config.json records about the data set: the shape a model is built for."""
    return {"num_classes": data.num_classes, "in_channels": data.in_channels,
            "image_size": data.image_size, "test_images": len(data.test)}


def run_data(config: dict, data_root: str | Path | None = None) -> DataSet:
    """The data set a run's configuration names, split as it was in training (the split
    depends on DATA_SEED, never on the run's seed); `data_root` replaces the recorded folder."""
    return load_dataset(config.get("dataset", "digits"), data_root or config.get("data_root"),
                        train_subset=config.get("train_subset"),
                        val_images=config.get("val_images") or 0, seed=DATA_SEED)


def run_model(config: dict) -> nn.Module:
    """The untrained model a run's configuration describes: architecture, activation, order,
    width and the data set's shape (`data_fields`); records of older versions without a field
    get the value they were trained with."""
    return build_model(config["arch"], num_classes=config["num_classes"], act=config["act"],
                       order=config["order"], width=config.get("width", 1.0),
                       in_channels=config.get("in_channels", 3),
                       image_size=config.get("image_size", 32), bias=config.get("bias", True),
                       act_kwargs=config.get("act_kwargs"))


def load_checkpoint_weights(run: RunDir, model: nn.Module, weights: dict) -> nn.Module:
    """A checkpoint's model state loaded into the model the run's config.json builds; weights
    of another model are a RecordError naming both files and the first parameter that does
    not fit."""
    return load_weights(model, weights, f"{run.path / CHECKPOINT} does not fit the model of "
                                        f"{run.path / CONFIG}")


def load_model(path: str | Path | RunDir, device: str | torch.device = "cpu") -> nn.Module:
    """The trained model of a run directory: config.json's model with checkpoint.pt's weights.
    UsageError (one line) for a folder that is not a run with a saved model."""
    run = path if isinstance(path, RunDir) else RunDir(path)
    config = model_config(run)
    try:
        model = run_model(config)
    except ValueError as exc:  # a model config.json names but cannot build
        raise RecordError(f"{run.path / CONFIG}: {exc}") from None
    load_checkpoint_weights(run, model, run.checkpoint(device)["model"])
    return model.to(device)


def model_config(run: RunDir) -> dict:
    """config.json, checked for what rebuilding the model needs (UsageError otherwise)."""
    if not run.path.is_dir():
        raise UsageError(f"{run.path} is not a directory; give a run directory of "
                         "`swapbn train`")
    path = run.path / CONFIG
    if not path.is_file():
        raise UsageError(f"{run.path} has no {CONFIG}; give a run directory of "
                         "`swapbn train`")
    config = run.config
    missing = [k for k in MODEL_KEYS if k not in config]
    if missing:
        raise UsageError(f"{path} lacks {', '.join(missing)}")
    if not run.has_checkpoint:
        raise UsageError(f"{run.path} has no {CHECKPOINT} (the run never saved a model)")
    return config
