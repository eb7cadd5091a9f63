"""Gradient probes (paper, Appendix A.7): weight-layer inputs, weight and activation gradients.

The paper argues that swap models keep weight gradients healthy although Tanh's own
gradient vanishes, because the weight layer's input (the previous BN output) is larger.
These probes measure the three quantities of its Figure 15 over a few training batches,
without changing the model: no optimizer step, gradients cleared before and after, and
the BN running statistics that train-mode forward passes update are put back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..fx import resolve_points
from .batches import labelled_batches, model_device
from .hooks import Hooks


class _Mean:
    """Running mean of |values| over every element seen (float64)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def add(self, t: torch.Tensor) -> None:
        self.total += float(t.detach().abs().sum(dtype=torch.float64))
        self.count += t.numel()

    @property
    def value(self) -> float | None:
        return self.total / self.count if self.count else None


def gradient_probes(model: nn.Module, data, *, batches: int = 4,
                    device: torch.device | str | None = None,
                    points: Iterable | None = None,
                    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
                    batch_size: int = 64) -> dict:
    """Mean |input| of each weight layer, mean |grad| of its weight, mean |grad| at the act input.

    `data` yields (inputs, labels) batches (a training loader) or is a swapbn data set (its
    shuffled training loader). Means run over every element of every probed batch (the
    weight gradient: over its elements, averaged over batches). `points` defaults to every
    swapbn block (see `resolve_points`); each needs its `weight` layer. Returns
    {"batches", "samples", "layers": [{"name", "input_abs_mean", "weight_grad_abs_mean",
    "act_input_grad_abs_mean"}, ...]}.
    """
    if batches < 1:
        raise ValueError(f"batches must be at least 1, got {batches}")
    resolved = resolve_points(model, points)
    probes = list(resolved)
    if points is None:  # found points without a weight layer (after a residual sum) have no probe
        probes = [p for p in probes if p.weight is not None]
    if any(p.weight is None for p in probes):
        raise ValueError("gradient probes need points with a weight layer (swapbn blocks)")
    dev = torch.device(device) if device is not None else model_device(model)
    was_training = model.training
    saved_buffers = {k: b.detach().clone() for k, b in model.named_buffers()}
    stats = [(_Mean(), _Mean(), _Mean()) for _ in probes]
    model.zero_grad(set_to_none=True)
    model.train()
    seen = samples = 0
    try:
        with Hooks() as hooks:
            for p, (inp, _, act_grad) in zip(probes, stats, strict=True):
                hooks.forward_pre(p.weight, lambda m, args, inp=inp: inp.add(args[0]))

                # Before the call: an in-place activation (ReLU(inplace=True)) overwrites its
                # input, and a hook registered afterwards would see the output's gradient.
                def on_act(m, args, act_grad=act_grad):
                    if args[0].requires_grad:
                        args[0].register_hook(lambda g: act_grad.add(g))
                hooks.forward_pre(p.act, on_act)
            for x, y in labelled_batches(data, batch_size=batch_size, max_batches=batches,
                                         device=dev):
                model.zero_grad(set_to_none=True)
                loss_fn(resolved.module(x), y).backward()
                for p, s in zip(probes, stats, strict=True):
                    if p.weight.weight.grad is not None:
                        s[1].add(p.weight.weight.grad)
                seen += 1
                samples += len(x)
    finally:
        model.zero_grad(set_to_none=True)
        with torch.no_grad():
            for k, b in model.named_buffers():
                b.copy_(saved_buffers[k])
        model.train(was_training)
    if seen == 0:
        raise ValueError("no batches to probe")
    return {
        "batches": seen,
        "samples": samples,
        "layers": [{"name": p.name, "input_abs_mean": s[0].value,
                    "weight_grad_abs_mean": s[1].value, "act_input_grad_abs_mean": s[2].value}
                   for p, s in zip(probes, stats, strict=True)],
    }
