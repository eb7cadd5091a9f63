"""SGD with the paper's weight-decay groups and its two-step learning-rate schedule.

The paper's NWDBN model differs from convention only in the weight decay on BatchNorm's affine
parameters, and its Figures 5 and 7 sweep the decay on BN beta and on BN gamma/beta alone, so
the optimizer keeps three named groups: weight-layer parameters (conv / linear weights and
biases, the classifier included), BN gamma and BN beta.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

MOMENTUM = 0.9
LR_DECAY = 0.1


def parameter_groups(model: nn.Module, *, wd: float, bn_gamma_wd: float | None = None,
                     bn_beta_wd: float | None = None) -> list[dict]:
    """Every trainable parameter in exactly one named group, each with its own weight decay.

    BN parameters are found by module type (any `_BatchNorm`), so the grouping does not depend
    on parameter names. BN decays default to `wd`.
    """
    bn_gamma_wd = wd if bn_gamma_wd is None else bn_gamma_wd
    bn_beta_wd = wd if bn_beta_wd is None else bn_beta_wd
    gamma: list[nn.Parameter] = []
    beta: list[nn.Parameter] = []
    bn_ids: set[int] = set()
    for module in model.modules():
        if isinstance(module, _BatchNorm) and module.affine:
            gamma.append(module.weight)
            beta.append(module.bias)
            bn_ids.update((id(module.weight), id(module.bias)))
    weights = [p for p in model.parameters() if id(p) not in bn_ids]
    groups = [
        {"name": "weights", "params": weights, "weight_decay": wd},
        {"name": "bn_gamma", "params": gamma, "weight_decay": bn_gamma_wd},
        {"name": "bn_beta", "params": beta, "weight_decay": bn_beta_wd},
    ]
    for g in groups:
        g["params"] = [p for p in g["params"] if p.requires_grad]
    return [g for g in groups if g["params"]]


def make_optimizer(model: nn.Module, *, lr: float, wd: float, bn_gamma_wd: float | None = None,
                   bn_beta_wd: float | None = None,
                   momentum: float = MOMENTUM) -> torch.optim.SGD:
    """SGD with momentum (0.9 in the paper) over `parameter_groups`."""
    groups = parameter_groups(model, wd=wd, bn_gamma_wd=bn_gamma_wd, bn_beta_wd=bn_beta_wd)
    return torch.optim.SGD(groups, lr=lr, momentum=momentum)


def make_scheduler(optimizer: torch.optim.Optimizer,
                   milestones: Sequence[int]) -> torch.optim.lr_scheduler.MultiStepLR:
    """Learning rate x0.1 at each milestone epoch (the scheduler steps once per epoch)."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones),
                                                gamma=LR_DECAY)

