"""What a run records about its model beyond accuracy: the paper's measures on the test split,
gradient magnitudes over a few training batches (A.7), and samples of a few channels
(Figures 1 and 8)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from . import rundir

GRADIENT_BATCHES = 4
CHANNELS_PER_LAYER = 4
VALUES_PER_CHANNEL = 4096  # keeps channels.npz near a megabyte for the paper's models


def measure_record(model: nn.Module, data, device: torch.device, batch_size: int,
                   also: tuple = ()) -> dict:
    """measure() of the model on the whole test split, as a JSON-ready dict; `also` are hook
    sets (a ChannelSampler) that share the pass."""
    from ..metrics import measure

    loader = data.loader("test", batch_size, train=False, device=device)
    return measure(model, loader, device=device, also=also).to_dict()


def gradient_record(model: nn.Module, data, device: torch.device, batch_size: int,
                    seed: int) -> dict:
    """Gradient probes over a few shuffled training batches (the model is left unchanged)."""
    from ..metrics import gradient_probes

    loader = data.loader("train", batch_size, train=True, device=device, seed=seed,
                         drop_last=len(data.train) > batch_size)  # BN needs two images
    return gradient_probes(model, loader, batches=GRADIENT_BATCHES, device=device)


def final_records(model: nn.Module, data, device: torch.device, train_batch_size: int,
                  eval_batch_size: int, seed: int, out: Path) -> dict:
    """final.json's stats, gradients and channels entries; the measures on the test split and
    the channel samples (written to channels.npz) come from one pass over it."""
    from ..metrics import ChannelSampler

    sampler = ChannelSampler(channels=CHANNELS_PER_LAYER, max_values=VALUES_PER_CHANNEL,
                             seed=seed)
    stats = measure_record(model, data, device, eval_batch_size, also=(sampler,))
    sampler.result().save(Path(out) / rundir.CHANNELS)
    return {"stats": stats,
            "gradients": gradient_record(model, data, device, train_batch_size, seed),
            "channels": rundir.CHANNELS}
