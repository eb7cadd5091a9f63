"""Input batches from whatever the caller has: a DataLoader, an iterable, a tensor, a data set."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def input_batches(data, *, batch_size: int = 256, max_samples: int | None = None,
                  device: torch.device | None = None, split: str = "test") -> Iterator[torch.Tensor]:
    """Yield input tensors on `device`, stopping after `max_samples` samples.

    `data` is one tensor of inputs (cut into batches), an iterable of input tensors or of
    (inputs, labels, ...) tuples (a DataLoader, `load_dataset(...).loader(...)`), or a
    swapbn data set (its `split` is read with the evaluation loader).
    """
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"max_samples must be at least 1, got {max_samples}")
    if hasattr(data, "loader") and callable(data.loader):
        data = data.loader(split, batch_size, train=False, device=device or "cpu")
    elif isinstance(data, torch.Tensor):
        data = data.split(batch_size)
    seen = 0
    for item in data:
        x = _inputs(item)
        if max_samples is not None:
            if seen >= max_samples:
                break
            x = x[: max_samples - seen]
        seen += len(x)
        yield x if device is None else x.to(device, non_blocking=True)


def known_images(data, *, max_samples: int | None = None, split: str = "test") -> int | None:
    """How many inputs `input_batches(data, ...)` yields, where that is known before the pass
    (a tensor, a list of batches, a swapbn loader or data set); None otherwise."""
    if hasattr(data, "loader") and callable(data.loader) and hasattr(data, "split"):
        n = len(data.split(split))
    elif isinstance(data, torch.Tensor):
        n = len(data)
    elif isinstance(getattr(data, "image_count", None), int):
        n = data.image_count  # a swapbn loader
    elif isinstance(data, (list, tuple)):
        try:
            n = sum(len(_inputs(item)) for item in data)
        except ValueError:
            return None
    else:
        return None
    return n if max_samples is None else min(n, max_samples)


def labelled_batches(data, *, batch_size: int = 64, max_batches: int | None = None,
                     device: torch.device | None = None, split: str = "train"):
    """Yield (inputs, labels) pairs; a data set is read with its shuffling training loader."""
    if hasattr(data, "loader") and callable(data.loader):
        data = data.loader(split, batch_size, train=True, device=device or "cpu")
    for i, item in enumerate(data):
        if max_batches is not None and i >= max_batches:
            break
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ValueError("gradient probes need (inputs, labels) batches")
        x, y = item[0], item[1]
        if device is not None:
            x, y = x.to(device), y.to(device)
        yield x, y


def _inputs(item) -> torch.Tensor:
    if isinstance(item, torch.Tensor):
        return item
    if isinstance(item, (tuple, list)) and item and isinstance(item[0], torch.Tensor):
        return item[0]
    raise ValueError("data must yield input tensors or (inputs, labels) pairs, "
                     f"got {type(item).__name__}")


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


@contextmanager
def evaluating(model: nn.Module, device: torch.device | str | None = None):
    """Eval mode and no_grad for the body; afterwards each submodule is back in its own
    previous mode (a model may keep some in eval mode, and the flag of an observed graph that
    shares a model's modules can be stale) and the model on its device."""
    modes = [(m, m.training) for m in model.modules()]
    before = model_device(model)
    target = torch.device(device) if device is not None else before
    if target != before:
        model.to(target)
    model.eval()
    try:
        with torch.no_grad():
            yield target
    finally:
        for m, training in modes:
            m.training = training
        if target != before:
            model.to(before)
