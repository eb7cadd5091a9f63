"""One run on several processes (torchrun): ranks, global-batch BatchNorm, rank-0 writes.

The paper's recipe is written for one device; on N devices the configured batch size stays the
global batch (each rank takes its slice of the same permuted, augmented batch: see
`data.loaders`), and BatchNorm normalises over the global batch by default, so a swap model's
BN sees what it would see on one device (README, "Several GPUs"). torchrun starts the
processes and sets RANK, WORLD_SIZE and LOCAL_RANK; this module only joins them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import UsageError
from ..rundir import RUN_FILES, RunDir


def active() -> bool:
    """Whether this process is one of several data-parallel ranks."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def shard(n: int, batch_size: int) -> torch.Tensor:
    """This rank's indices of n items taken in batches: a contiguous run of whole batches, so
    each batch holds the images it holds on one process and the merged statistics equal one
    process's up to float64 rounding. All n on a single process, or with fewer batches than
    ranks (then every rank measures everything)."""
    batches = -(-n // batch_size)
    if not active() or batches < dist.get_world_size():
        return torch.arange(n)
    rank, world = dist.get_rank(), dist.get_world_size()
    start, stop = batches * rank // world, batches * (rank + 1) // world
    return torch.arange(start * batch_size, min(stop * batch_size, n))


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
        if not active():
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
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        """(rank, world): which slice of every global batch this rank trains on."""
        return self.rank, self.world

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

    def run_dir(self, path: str | Path) -> RunDir:
        """The run directory as this rank sees it: rank 0 reads and writes it, the others
        receive what rank 0 read and write nothing."""
        return SharedRunDir(path, self) if self.world > 1 else RunDir(path)

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The model to train: DistributedDataParallel over `model` (whose BN layers become
        `GlobalBatchNorm` unless sync_bn is off); `model` itself stays the unwrapped network,
        what checkpoints hold."""
        if self.world <= 1:
            return model
        if self.sync_bn and device.type == "cpu":
            convert_batch_norm(model, dist.new_group(backend="gloo"))
        elif self.sync_bn:
            nn.SyncBatchNorm.convert_sync_batchnorm(model)
            alone = dist.new_group([0])  # every rank takes part in making a group
            for layer in model.modules():
                if isinstance(layer, nn.SyncBatchNorm):
                    layer.alone_group = alone
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


class SharedRunDir(RunDir):
    """A run directory that only rank 0 touches: every read happens on rank 0 and is
    broadcast (an error too, so all ranks raise it together), and the writers of the other
    ranks do nothing. Without a shared filesystem the other nodes need no copy of the run."""

    def __init__(self, path: str | Path, ranks: Ranks) -> None:
        super().__init__(path)
        self.ranks = ranks
        self.local = RunDir(path)  # rank 0's reads: a plain reader, whose own reads (final
        # reads config and metrics) do not broadcast again


    def _shared(self, read):
        payload = [None]
        if self.ranks.leader:
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
    def config(self) -> dict | None:
        return self._shared(lambda: self.local.config)

    @property
    def final(self):
        return self._shared(lambda: self.local.final)

    @property
    def has_checkpoint(self) -> bool:
        return self._shared(lambda: self.local.has_checkpoint)

    def metrics(self) -> list[dict]:
        return self._shared(lambda: self.local.metrics())

    def present(self) -> list[str]:
        return self._shared(lambda: self.local.present())

    def checkpoint(self, map_location="cpu") -> dict:
        return self._shared(lambda: self.local.checkpoint("cpu"))

    def start(self, config: dict, lines: list[dict]) -> None:
        if self.ranks.leader:
            super().start(config, lines)

    def write_metrics(self, lines: list[dict]) -> None:
        if self.ranks.leader:
            super().write_metrics(lines)

    def write_final(self, final) -> None:
        if self.ranks.leader:
            super().write_final(final)

    def save_checkpoint(self, state: dict) -> None:
        if self.ranks.leader:
            super().save_checkpoint(state)

    def save_channels(self, samples) -> str:
        return super().save_channels(samples) if self.ranks.leader else self.channels_path.name

    def remove(self, names: tuple[str, ...] = RUN_FILES) -> None:
        if self.ranks.leader:
            super().remove(names)


class GlobalBatchNorm(_BatchNorm):
    """SyncBatchNorm for CPU tensors (gloo), where PyTorch's own supports only GPUs: the batch
    mean and variance are sums over every rank's slice, through autograd-aware all_reduce,
    so forward and backward equal BatchNorm over the global batch. `sync = False` makes it
    plain BatchNorm over this rank's slice (used when rank 0 alone runs the model in training
    mode, e.g. the gradient probes)."""

    sync = True

    def __init__(self, *args, process_group=None) -> None:
        super().__init__(*args)
        self.process_group = process_group

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        group = self.process_group or (dist.group.WORLD if dist.is_initialized() else None)
        if not (self.training and self.sync and group is not None
                and dist.get_world_size(group) > 1):
            return super().forward(x)
        return _cpu_sync_batch_norm(self, x, group)


class _SumOverRanks(torch.autograd.Function):
    """all_reduce(sum) with its gradient: the gradient of a sum over ranks is the sum over
    ranks of the gradients that reach it."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, group) -> torch.Tensor:
        ctx.group = group
        x = x.clone()
        dist.all_reduce(x, group=group)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


def all_reduce(x: torch.Tensor, group) -> torch.Tensor:
    return _SumOverRanks.apply(x, group)


def _cpu_sync_batch_norm(bn: GlobalBatchNorm, x: torch.Tensor, group) -> torch.Tensor:
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float64)
    dist.all_reduce(count, group=group)
    n = count.item()
    mean = all_reduce(x.sum(dims), group) / n
    d = x - mean.view(shape)
    var = all_reduce((d * d).sum(dims), group) / n
    y = d * torch.rsqrt(var + bn.eps).view(shape)
    if bn.affine:
        y = y * bn.weight.view(shape) + bn.bias.view(shape)
    if bn.track_running_stats:
        with torch.no_grad():
            bn.num_batches_tracked.add_(1)
            factor = bn.momentum if bn.momentum is not None else 1.0 / bn.num_batches_tracked.item()
            bn.running_mean.lerp_(mean.detach(), factor)
            bn.running_var.lerp_(var.detach() * (n / max(n - 1, 1)), factor)
    return y


def convert_batch_norm(module: nn.Module, group=None) -> nn.Module:
    """Replace every BatchNorm layer under `module` with a GlobalBatchNorm that shares its
    parameters and buffers (so optimizer and checkpoint keys are unchanged), in place."""
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm) and not isinstance(child, nn.SyncBatchNorm):
            bn = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                 child.track_running_stats, process_group=group)
            if child.affine:
                bn.weight, bn.bias = child.weight, child.bias
            if child.track_running_stats:
                bn.running_mean, bn.running_var = child.running_mean, child.running_var
                bn.num_batches_tracked = child.num_batches_tracked
            bn.train(child.training)
            setattr(module, name, bn)
        else:
            convert_batch_norm(child, group)
    return module


class local_batch_norm:
    """Within this block every synchronised BN layer of `model` normalises over its own input
    only: rank 0 can run the model in training mode without the others."""

    def __init__(self, model: nn.Module) -> None:
        self.cpu = [m for m in model.modules() if isinstance(m, GlobalBatchNorm)]
        self.gpu = [m for m in model.modules() if isinstance(m, nn.SyncBatchNorm)]
        self.groups: list = []

    def __enter__(self) -> None:
        for m in self.cpu:
            m.sync = False
        self.groups = [m.process_group for m in self.gpu]
        for m in self.gpu:  # a group of rank 0 alone: PyTorch falls back to plain BN
            m.process_group = m.alone_group

    def __exit__(self, *exc) -> None:
        for m in self.cpu:
            m.sync = True
        for m, group in zip(self.gpu, self.groups, strict=True):
            m.process_group = group


def launch(nproc: int, argv: list[str]) -> int:
    """`swapbn ARGV` on `nproc` processes of this machine, started by torchrun's own launcher
    (torch.distributed.run, standalone rendezvous); returns the exit status of the first
    process that failed, else 0."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(["--standalone", "--nproc-per-node", str(nproc), "-m", "swapbn", *argv])
    except ChildFailedError as exc:
        codes = [f.exitcode for f in exc.failures.values() if f.exitcode]
        return codes[0] if codes else 1
    return 0


def without_option(argv: list[str], option: str) -> list[str]:
    """argv without `option VALUE` / `option=VALUE`."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out
