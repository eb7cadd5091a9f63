"""Rewrite any fx-traceable model: BN after the activation (the paper's swap order), or other
activations. Both return a new ordinary nn.Module (an fx GraphModule) whose parameters and
state-dict keys are the model's, so it trains, saves and loads like the original."""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field

import torch
from torch import fx, nn

from ..activations import make_activation
from .sites import (
    first_input,
    is_activation,
    is_merge,
    is_norm,
    is_norm_function,
    is_weight,
    sole_user,
    source,
    trace,
)

GATES = (operator.mul, torch.mul, operator.imul)


@dataclass
class SwapReport:
    """Which normalisations swap_norm_act moved after their activation, and which it kept
    (with the reason: a residual addition between BN and activation, no activation, ...)."""

    swapped: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)


def _why_kept(gm: fx.GraphModule, norm: fx.Node) -> str | None:
    src = source(gm, norm)
    if src is None or not is_weight(gm, src):
        return "not fed by a conv / linear layer"
    if len(src.users) != 1:
        return "its weight layer's output is used elsewhere too"
    _, user = sole_user(gm, norm)
    if user is None:
        return "its output is used by several nodes"
    if is_merge(user):
        _, act = sole_user(gm, user)
        if act is not None and is_activation(gm, act):
            return f"merges with a residual {user.name} before its activation"
        return f"feeds {user.name}, not an activation"
    if not is_activation(gm, user):
        return f"feeds {user.name}, not an activation"
    return None


def _function_norm(gm: fx.GraphModule, node: fx.Node) -> str:
    """The module a functional norm call runs in (fx records the module stack), or the node."""
    stack = node.meta.get("nn_module_stack") or {}
    return next(reversed(stack.values()))[0] if stack else node.name


def swap_norm_act(model: nn.Module) -> tuple[nn.Module, SwapReport]:
    """A copy of `model` in which every chain weight -> norm -> activation runs as
    weight -> activation -> norm (the paper's swap order; the norm keeps its channels and
    parameters; identities between them, such as a drop-block at rate 0, stay before the
    activation). Every norm it leaves is listed in the report with the reason: a residual
    addition between norm and activation, no activation after it, a functional norm call."""
    gm = trace(copy.deepcopy(model))
    report = SwapReport()
    for norm in list(gm.graph.nodes):
        if is_norm_function(norm):
            report.kept.append((_function_norm(gm, norm),
                                f"a functional {norm.target.__name__} call, not a module"))
            continue
        if not is_norm(gm, norm):
            continue
        why = _why_kept(gm, norm)
        if why is not None:
            report.kept.append((str(norm.target), why))
            continue
        passed, act = sole_user(gm, norm)
        for user in list(act.users):
            user.replace_input_with(act, norm)
        first = passed[0] if passed else act
        first.args = (first_input(norm), *first.args[1:])
        norm.args = (act, *norm.args[1:])
        act.append(norm)  # the norm now runs right after the activation
        report.swapped.append(str(norm.target))
    gm.graph.lint()
    gm.recompile()
    return gm, report


def _is_gate(node: fx.Node) -> bool:
    """An activation whose output only scales other tensors (squeeze-excitation's sigmoid) is a
    gate, not a layer's activation."""
    return bool(node.users) and all(u.op == "call_function" and u.target in GATES
                                    for u in node.users)


def replace_activations(model: nn.Module, act: str, **act_kwargs: float) -> nn.Module:
    """A copy of `model` whose activations are swapbn's `act` (see swapbn.activations), e.g.
    ReLU -> Tanh. Gates (an activation whose output only multiplies other tensors, as in
    squeeze-excitation) keep their type; an activation module called at several sites is
    replaced once, so the sites keep sharing it."""
    gm = trace(copy.deepcopy(model))
    sites = [n for n in gm.graph.nodes if is_activation(gm, n)]
    gated = {n.target for n in sites if n.op == "call_module" and _is_gate(n)}
    replaced: set[str] = set()
    for node in sites:
        if _is_gate(node) or node.target in gated:
            continue
        if node.op == "call_module":
            if node.target not in replaced:
                gm.add_submodule(node.target, make_activation(act, **act_kwargs))
                replaced.add(node.target)
            node.args, node.kwargs = node.args[:1], {}
            continue
        target = f"act_{node.name}"
        gm.add_submodule(target, make_activation(act, **act_kwargs))
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module(target, (first_input(node),))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return gm
