"""The fast path of the training step: memory format, compilation and backend settings.

Each setting changes how a step runs, never what it computes beyond float rounding, so they
are recorded in config.json but never make two runs differ (their TrainConfig fields are of
kind HOW, training/settings.py). channels_last (NHWC) lets cuDNN and oneDNN pick their fastest
convolutions; cudnn.benchmark times the candidate kernels once per shape; TF32 matmuls and
convolutions use the tensor cores of Ampere and later GPUs at about float32 accuracy (off with
--deterministic, which also asks for deterministic kernels). bf16 autocast (--precision bf16)
does change what is computed, so precision is part of what makes two runs the same; on a CPU
`--precision auto` picks it only where the CPU has native bf16 arithmetic (AVX512-BF16 or
AMX): elsewhere oneDNN emulates it, and a training step ran about 12x slower than float32 on
an AVX2-only EPYC (benchmarks/results.md, 2026-12-06). `compute_mode` names what ran.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import nn


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (x86 AVX512-BF16 or AMX tiles), as PyTorch
    reports it; False where PyTorch cannot tell."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in checks:
        check = getattr(cpu, name, None)
        try:
            if check is not None and check():
                return True
        except (RuntimeError, AttributeError):
            continue
    return False


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on the run's device when the run's precision is bf16."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)


def has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def prepare_model(model: nn.Module, *, channels_last: bool, compile: bool,
                  wrap: Callable[[nn.Module], nn.Module] | None = None) -> nn.Module:
    """The module the training step calls: the model in channels_last (conv models only; the
    parameters are converted in place, so the optimizer and checkpoints see the same tensors),
    then `wrap`ped (DistributedDataParallel in a data-parallel run) and, with `compile`,
    wrapped by torch.compile (the state dict stays the model's own)."""
    if channels_last and has_conv(model):
        model.to(memory_format=torch.channels_last)
    net = wrap(model) if wrap is not None else model
    return torch.compile(net) if compile else net


class in_memory_format:  # noqa: N801 - used like a function around a loader
    """A loader whose image batches come in channels_last when the model is (unchanged
    otherwise); keeps the loader's len() for progress bars."""

    def __init__(self, loader, channels_last: bool) -> None:
        self.loader, self.channels_last = loader, channels_last

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for x, *rest in self.loader:
            if self.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            yield (x, *rest)


def compute_mode(device: torch.device, *, bf16: bool, deterministic: bool) -> str:
    """What the training step computes in: bf16 autocast, TF32 (CUDA) or float32."""
    if bf16:
        return "bf16 autocast"
    if device.type == "cuda" and not deterministic:
        return "tf32"
    return "float32"


@contextmanager
def backend_settings(device: torch.device, *, deterministic: bool):
    """cudnn.benchmark and TF32 on CUDA unless `deterministic`; deterministic kernels on the
    CPU always (same seed, same machine, same numbers) and on CUDA with `deterministic`; the
    previous settings come back afterwards."""
    before = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32,
              torch.backends.cuda.matmul.allow_tf32, torch.are_deterministic_algorithms_enabled())
    cuda = device.type == "cuda"
    try:
        torch.backends.cudnn.benchmark = cuda and not deterministic
        torch.backends.cudnn.allow_tf32 = cuda and not deterministic
        torch.backends.cuda.matmul.allow_tf32 = cuda and not deterministic
        if deterministic or not cuda:
            torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = before[:3]
        torch.use_deterministic_algorithms(before[3])
