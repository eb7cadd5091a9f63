"""What a run records about its final model beyond accuracy: the paper's measures on the test
split, gradient magnitudes over a few training batches (paper, Appendix A.7), and samples of a
few channels (Figures 1 and 8). In a data-parallel run the measures are sharded across the
ranks and merged (`ChannelMoments.all_reduce`); rank 0 alone samples channels and probes
gradients. Nothing here writes: the training loop's leader writes what these return."""

from __future__ import annotations

import torch
from torch import nn

from ..metrics import ChannelSampler, ChannelSamples, gradient_probes, measure
from ..models.global_bn import local_batch_norm
from .distributed import Ranks

EVAL_BATCH_SIZE = 256
GRADIENT_BATCHES = 4
CHANNELS_PER_LAYER = 4
VALUES_PER_CHANNEL = 4096  # keeps channels.npz near a megabyte for the paper's models


def eval_batch_size(train_batch_size: int) -> int:
    return max(train_batch_size, EVAL_BATCH_SIZE)


def measure_record(model: nn.Module, data, device: torch.device, batch_size: int,
                   ranks: Ranks, also: tuple = (), fused: bool = False) -> dict:
    """measure() of the model on the whole test split, as a JSON-ready dict; `also` are hook
    sets (a ChannelSampler) that share the pass. With several ranks each measures its share
    of the test batches (`Ranks.share`) and the statistics are merged, so every rank returns
    the record of the whole split. `fused` reduces with compiled kernels (see `measure`)."""
    size = eval_batch_size(batch_size)
    index = ranks.share(len(data.test), size)
    if len(index) == len(data.test):
        loader = data.loader("test", size, train=False, device=device)
        return measure(model, loader, device=device, also=also, fused=fused).to_dict()
    loader = data.loader(data.test.subset(index), size, train=False, device=device)
    return measure(model, loader, device=device, also=also,
                   fused=fused).all_reduce().to_dict()


def final_records(model: nn.Module, data, device: torch.device, batch_size: int, seed: int,
                  ranks: Ranks, fused: bool = False) -> tuple[dict, ChannelSamples | None]:
    """The stats and gradients fields of the final record, and the channel samples for
    channels.npz (rank 0's; None on the other ranks, whose record holds the stats only). On one
    process the measures and the channel samples come from one pass over the test split, with
    compiled statistics when `fused` (a run trained with --compile)."""
    sampler = ChannelSampler(channels=CHANNELS_PER_LAYER, max_values=VALUES_PER_CHANNEL,
                             seed=seed)
    if ranks.world <= 1:
        stats = measure_record(model, data, device, batch_size, ranks, also=(sampler,),
                               fused=fused)
        return ({"stats": stats, "gradients": probe_gradients(model, data, device, batch_size,
                                                              seed)}, sampler.result())
    stats = measure_record(model, data, device, batch_size, ranks, fused=fused)
    if not ranks.leader:
        return {"stats": stats}, None
    with local_batch_norm(model):  # rank 0 alone, as one process would
        loader = data.loader("test", eval_batch_size(batch_size), train=False, device=device)
        measure(model, loader, device=device, also=(sampler,))
        gradients = probe_gradients(model, data, device, batch_size, seed)
    return {"stats": stats, "gradients": gradients}, sampler.result()


def probe_gradients(model: nn.Module, data, device: torch.device, batch_size: int,
                    seed: int) -> dict:
    """The gradient probe record over the first training batches of the run's seed."""
    loader = data.loader("train", batch_size, train=True, device=device, seed=seed,
                         drop_last=len(data.train) > batch_size)  # BN needs two images
    return gradient_probes(model, loader, batches=GRADIENT_BATCHES, device=device)
