"""What a run records about its final model beyond accuracy: the paper's measures on the test
split, gradient magnitudes over a few training batches (paper, Appendix A.7), and samples of a
few channels (Figures 1 and 8). In a data-parallel run the measures are sharded across the
ranks and merged (`ChannelMoments.all_reduce`); rank 0 alone samples channels and probes
gradients."""

from __future__ import annotations

import torch
from torch import nn

from ..metrics import ChannelSampler, gradient_probes, measure
from ..rundir import RunDir
from . import distributed

EVAL_BATCH_SIZE = 256
GRADIENT_BATCHES = 4
CHANNELS_PER_LAYER = 4
VALUES_PER_CHANNEL = 4096  # keeps channels.npz near a megabyte for the paper's models


def eval_batch_size(train_batch_size: int) -> int:
    return max(train_batch_size, EVAL_BATCH_SIZE)


def measure_record(model: nn.Module, data, device: torch.device, batch_size: int,
                   also: tuple = (), fused: bool = False) -> dict:
    """measure() of the model on the whole test split, as a JSON-ready dict; `also` are hook
    sets (a ChannelSampler) that share the pass. With several ranks each measures every
    world-th test image and the statistics are merged, so every rank returns the record of
    the whole split. `fused` reduces with compiled kernels (see `measure`)."""
    size = eval_batch_size(batch_size)
    index = distributed.shard(len(data.test), size)
    if len(index) == len(data.test):
        loader = data.loader("test", size, train=False, device=device)
        return measure(model, loader, device=device, also=also, fused=fused).to_dict()
    loader = data.loader(data.test.subset(index), size, train=False, device=device)
    return measure(model, loader, device=device, also=also,
                   fused=fused).all_reduce().to_dict()


def final_records(model: nn.Module, data, device: torch.device, batch_size: int, seed: int,
                  run: RunDir, fused: bool = False) -> dict:
    """The stats, gradients and channels fields of the final record; the measures on the test
    split and the channel samples (written to channels.npz) come from one pass over it, with
    compiled statistics when `fused` (a run trained with --compile)."""
    sampler = ChannelSampler(channels=CHANNELS_PER_LAYER, max_values=VALUES_PER_CHANNEL,
                             seed=seed)
    if distributed.active():
        stats = measure_record(model, data, device, batch_size, fused=fused)
        if distributed.rank() != 0:
            return {"stats": stats}
        with distributed.local_batch_norm(model):  # rank 0 alone, as one process would
            records = final_records_alone(model, data, device, batch_size, seed, sampler, run)
        return {"stats": stats, **records}
    stats = measure_record(model, data, device, batch_size, also=(sampler,), fused=fused)
    loader = data.loader("train", batch_size, train=True, device=device, seed=seed,
                         drop_last=len(data.train) > batch_size)  # BN needs two images
    return {"stats": stats, "channels": run.save_channels(sampler.result()),
            "gradients": gradient_probes(model, loader, batches=GRADIENT_BATCHES,
                                         device=device)}


def final_records_alone(model: nn.Module, data, device: torch.device, batch_size: int,
                        seed: int, sampler: ChannelSampler, run: RunDir) -> dict:
    """Channels and gradients of one process (rank 0 of a data-parallel run)."""
    loader = data.loader("test", eval_batch_size(batch_size), train=False, device=device)
    measure(model, loader, device=device, also=(sampler,))
    train_loader = data.loader("train", batch_size, train=True, device=device, seed=seed,
                               drop_last=len(data.train) > batch_size)
    return {"channels": run.save_channels(sampler.result()),
            "gradients": gradient_probes(model, train_loader, batches=GRADIENT_BATCHES,
                                         device=device)}
