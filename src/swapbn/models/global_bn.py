"""BatchNorm over the global batch of several ranks, and back to each rank's own slice.

A swap model's BN must see on N ranks what it sees on one device: the statistics of the whole
global batch. PyTorch's SyncBatchNorm does that on GPUs only; `GlobalBatchNorm` does it for
CPU tensors (gloo). `sync_batch_norm` converts a model's BN layers to whichever fits its device
and `local_batch_norm` lets rank 0 run the converted model alone; they sit beside the layers
they convert, as timm keeps `convert_sync_batchnorm` beside its norm layers.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


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


def _sum_over_ranks(x: torch.Tensor, group) -> torch.Tensor:
    return _SumOverRanks.apply(x, group)


def _cpu_sync_batch_norm(bn: GlobalBatchNorm, x: torch.Tensor, group) -> torch.Tensor:
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float64)
    dist.all_reduce(count, group=group)
    n = count.item()
    mean = _sum_over_ranks(x.sum(dims), group) / n
    d = x - mean.view(shape)
    var = _sum_over_ranks((d * d).sum(dims), group) / n
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


def sync_batch_norm(model: nn.Module, device: torch.device) -> nn.Module:
    """Every BN layer of `model` normalising over the global batch, in place: GlobalBatchNorm
    over a gloo group on the CPU, PyTorch's SyncBatchNorm on GPUs (with a group of rank 0 alone
    for `local_batch_norm`). Every rank calls it: the ranks make process groups together."""
    if device.type == "cpu":
        return convert_batch_norm(model, dist.new_group(backend="gloo"))
    nn.SyncBatchNorm.convert_sync_batchnorm(model)
    alone = dist.new_group([0])
    for layer in model.modules():
        if isinstance(layer, nn.SyncBatchNorm):
            layer.alone_group = alone
    return model


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
