"""One run on several processes (torchrun): ranks, DDP, what rank 0 alone does.

The paper's recipe is written for one device; on N devices the configured batch size stays the
global batch (each rank takes its slice of the same permuted, augmented batch: see
`data.loaders`), and BatchNorm normalises over the global batch by default
(`models.global_bn`), so a swap model's BN sees what it would see on one device (README,
"Several GPUs"). torchrun starts the processes and sets RANK, WORLD_SIZE and LOCAL_RANK; this
module only joins them. As in the anchors' scripts, `Ranks.leader` is decided once: rank 0
reads the run directory (`from_leader` sends what it read to the others) and writes it; the
other ranks train and measure their share and write nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

from ..errors import UsageError
from ..models.global_bn import sync_batch_norm

T = TypeVar("T")


def _joined() -> bool:
    """Whether this process is one of several ranks of an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@dataclass
class Ranks:
    """This process's place among the ranks of one run, and whether BN is synchronised."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    sync_bn: bool = True
    started: bool = False  # this object initialised the process group (and destroys it)

    @classmethod
    def current(cls, sync_bn: bool = True) -> Ranks:
        """The ranks of an initialised process group (one rank when there is none)."""
        if not _joined():
            return cls(sync_bn=sync_bn)
        return cls(dist.get_rank(), dist.get_world_size(),
                   int(os.environ.get("LOCAL_RANK", "0")), sync_bn)

    @classmethod
    def from_env(cls, device: torch.device, sync_bn: bool = True) -> Ranks:
        """Join the process group torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK (NCCL on
        GPUs, gloo on the CPU); a single rank when WORLD_SIZE is unset or 1."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1 or dist.is_initialized():
            return cls.current(sync_bn)
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank(), world, local, sync_bn, started=True)

    @property
    def leader(self) -> bool:
        """Rank 0: the one process that reads and writes the run directory."""
        return self.rank == 0

    def from_leader(self, read: Callable[[], T]) -> T:
        """`read()` run on rank 0 alone and its result sent to every rank (its error too, so
        all ranks raise it together): the ranks never disagree about what a file held, and
        nodes without a shared filesystem need no copy of the run."""
        if self.world <= 1:
            return read()
        payload: list = [None]
        if self.leader:
            try:
                payload[0] = ("value", read())
            except Exception as exc:  # raised on every rank below
                payload[0] = ("error", exc)
        dist.broadcast_object_list(payload, src=0)
        kind, value = payload[0]
        if kind == "error":
            raise value
        return value

    @property
    def shard(self) -> tuple[int, int]:
        """(rank, world): which slice of every global batch this rank trains on."""
        return self.rank, self.world

    def share(self, n: int, batch_size: int) -> torch.Tensor:
        """This rank's indices of n items taken in batches (a measured split): a contiguous run
        of whole batches, so each batch holds the images it holds on one process and the
        merged statistics equal one process's up to float64 rounding. All n on a single
        process, or with fewer batches than ranks (then every rank measures everything)."""
        batches = -(-n // batch_size)
        if self.world <= 1 or batches < self.world:
            return torch.arange(n)
        start = batches * self.rank // self.world
        stop = batches * (self.rank + 1) // self.world
        return torch.arange(start * batch_size, min(stop * batch_size, n))

    def device(self, device: torch.device) -> torch.device:
        """This rank's GPU (LOCAL_RANK) when the run trains on CUDA."""
        if device.type == "cuda" and self.world > 1:
            return torch.device("cuda", self.local_rank)
        return device

    def check_batch(self, batch_size: int) -> None:
        """The global batch must split evenly, so the recipe means the same on any rank count."""
        if batch_size % self.world:
            raise UsageError(f"batch size {batch_size} does not split evenly across "
                             f"{self.world} processes; give a multiple of {self.world}")

    def record(self) -> dict:
        """What config.json says about the ranks of the run."""
        backend = dist.get_backend() if self.world > 1 else None
        return {"distributed": {"world_size": self.world, "backend": backend,
                                "sync_bn": bool(self.sync_bn and self.world > 1)}}

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The model to train: DistributedDataParallel over `model` (whose BN layers normalise
        over the global batch, `sync_batch_norm`, unless sync_bn is off); `model` itself stays
        the unwrapped network, what checkpoints hold."""
        if self.world <= 1:
            return model
        if self.sync_bn:
            sync_batch_norm(model, device)
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def reduce_epoch(self, loss: float, acc: float, seen: int) -> tuple[float, float, int]:
        """(mean loss, accuracy %, images) of an epoch over all ranks."""
        if self.world <= 1:
            return loss, acc, seen
        device = torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else None
        t = torch.tensor([loss * seen, acc * seen / 100.0, float(seen)], dtype=torch.float64,
                         device=device)
        dist.all_reduce(t)
        total = int(round(t[2].item()))
        return t[0].item() / total, 100.0 * t[1].item() / total, total

    def close(self) -> None:
        if self.started and dist.is_initialized():
            dist.destroy_process_group()
            self.started = False
