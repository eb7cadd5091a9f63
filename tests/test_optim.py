"""Optimizer groups: every parameter in exactly one group, BN gamma / beta with their decays."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from swapbn import build_model
from swapbn.optim import make_optimizer, make_scheduler, parameter_groups
from swapbn.training.config import TrainConfig


def _model(arch: str = "vgg16_11", order: str = "convention") -> nn.Module:
    return build_model(arch, num_classes=10, act="tanh", order=order, width=1 / 16)


def _bn_params(model: nn.Module) -> tuple[set[int], set[int]]:
    """Independent reference: BN affine parameters found through the modules' class names."""
    gammas, betas = set(), set()
    for m in model.modules():
        if type(m).__name__ in ("BatchNorm1d", "BatchNorm2d"):
            gammas.add(id(m.weight))
            betas.add(id(m.bias))
    return gammas, betas


@pytest.mark.parametrize("arch", ["vgg16_11", "vgg11", "mobilenet"])
@pytest.mark.parametrize("order", ["convention", "swap", "nobn"])
def test_every_parameter_in_exactly_one_group(arch: str, order: str) -> None:
    model = _model(arch, order)
    opt = make_optimizer(model, lr=0.1, wd=5e-4, bn_gamma_wd=1e-5, bn_beta_wd=2e-5)
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    by_name = {g["name"]: g for g in opt.param_groups}
    gammas, betas = _bn_params(model)
    if order == "nobn":
        assert list(by_name) == ["weights"] and not gammas
    else:
        assert {id(p) for p in by_name["bn_gamma"]["params"]} == gammas
        assert {id(p) for p in by_name["bn_beta"]["params"]} == betas
        assert by_name["bn_gamma"]["weight_decay"] == 1e-5
        assert by_name["bn_beta"]["weight_decay"] == 2e-5
    weights = {id(p) for p in by_name["weights"]["params"]}
    assert weights == {id(p) for p in model.parameters()} - gammas - betas
    assert by_name["weights"]["weight_decay"] == 5e-4
    # The classifier's weight and bias are weight-layer parameters.
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    assert {id(last.weight), id(last.bias)} <= weights
    assert {g["lr"] for g in opt.param_groups} == {0.1}


def test_sgd_uses_the_papers_momentum_by_default() -> None:
    """Two steps with the same gradient g (no weight decay): plain SGD momentum 0.9 moves a
    parameter by lr * g, then by lr * (0.9 g + g); no dampening, no Nesterov."""
    torch.manual_seed(0)
    model = _model()
    opt = make_optimizer(model, lr=0.1, wd=0.0, bn_gamma_wd=0.0, bn_beta_wd=0.0)
    grads = {id(p): torch.randn_like(p) for p in model.parameters()}
    moved = []
    for _ in range(2):
        before = {id(p): p.detach().clone() for p in model.parameters()}
        for p in model.parameters():
            p.grad = grads[id(p)].clone()
        opt.step()
        moved.append({id(p): before[id(p)] - p.detach() for p in model.parameters()})
    for p in model.parameters():
        g = grads[id(p)]
        torch.testing.assert_close(moved[0][id(p)], 0.1 * g)
        torch.testing.assert_close(moved[1][id(p)], 0.1 * (0.9 * g + g))


def test_bn_decays_default_to_wd_and_nwdbn_zeroes_them() -> None:
    model = _model()
    groups = {g["name"]: g["weight_decay"] for g in parameter_groups(model, wd=1e-3)}
    assert groups == {"weights": 1e-3, "bn_gamma": 1e-3, "bn_beta": 1e-3}

    plain = TrainConfig(wd=1e-3, epochs=4).resolve()
    assert (plain.bn_gamma_wd, plain.bn_beta_wd) == (1e-3, 1e-3)
    nwdbn = TrainConfig(order="convention", wd=1e-3, epochs=4, nwdbn=True).resolve()
    assert (nwdbn.wd, nwdbn.bn_gamma_wd, nwdbn.bn_beta_wd) == (1e-3, 0.0, 0.0)
    opt = make_optimizer(model, lr=nwdbn.lr, wd=nwdbn.wd, bn_gamma_wd=nwdbn.bn_gamma_wd,
                         bn_beta_wd=nwdbn.bn_beta_wd)
    decays = {g["name"]: g["weight_decay"] for g in opt.param_groups}
    assert decays == {"weights": 1e-3, "bn_gamma": 0.0, "bn_beta": 0.0}
    # The paper's Figure 5 keeps NWDBN's gamma at zero and varies beta's decay.
    beta = TrainConfig(order="convention", wd=1e-3, epochs=4, nwdbn=True, bn_beta_wd=3e-4)
    assert (beta.resolve().bn_gamma_wd, beta.resolve().bn_beta_wd) == (0.0, 3e-4)


def test_weight_decay_acts_only_on_its_group() -> None:
    """One SGD step with zero gradients moves only parameters whose group has weight decay."""
    torch.manual_seed(0)
    model = _model()
    opt = make_optimizer(model, lr=0.1, wd=0.01, bn_gamma_wd=0.0, bn_beta_wd=0.5, momentum=0.0)
    before = {id(p): p.detach().clone() for p in model.parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    gammas, betas = _bn_params(model)
    for p in model.parameters():
        factor = 1.0 if id(p) in gammas else 1 - 0.1 * 0.5 if id(p) in betas else 1 - 0.1 * 0.01
        torch.testing.assert_close(p.detach(), before[id(p)] * factor)


def test_learning_rate_drops_tenfold_at_each_milestone() -> None:
    model = _model()
    opt = make_optimizer(model, lr=0.1, wd=0.0)
    sched = make_scheduler(opt, [2, 4])
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert all(g["lr"] == opt.param_groups[0]["lr"] for g in opt.param_groups)
