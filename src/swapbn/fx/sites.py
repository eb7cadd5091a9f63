"""What a node of a traced model is: an activation call site, a normalisation, a weight layer.

Tracing treats every activation module of `swapbn.activations.REGISTRY` as a leaf, so each
stays one call with its bound; the registry also says which functions and tensor methods are
activations. A model fx cannot trace raises `TraceError` naming the failing call and the fallback.

A normalisation fused with its activation in one module (timm's `BatchNormAct2d`: norm, then
`drop`, then `act`, one module so that its state-dict keys are those of a plain BatchNorm)
traces as three calls: the norm (a view of the module as its torch.nn norm class: the same
parameters, buffers, children and train/eval mode) and its `drop` and `act` children. Tracing
through it instead would freeze the train/eval branch of its forward into the graph and hide
the norm in a functional call, where neither the swap nor the report can see it.
"""

from __future__ import annotations

import inspect
import operator
import traceback

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..activations import BY_FUNCTION, BY_METHOD, ActivationSpec, activation_bound, module_spec

NORM_MODULES: tuple[type, ...] = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm,
                                  nn.modules.instancenorm._InstanceNorm)
WEIGHT_MODULES: tuple[type, ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
MERGES = (operator.add, torch.add, operator.iadd, operator.mul, torch.cat)
# Normalisations called as functions (inside a module fx traces through): no module to move,
# so swap_norm_act reports them as kept.
NORM_FUNCTIONS = (F.batch_norm, F.group_norm, F.layer_norm, F.instance_norm)
# Fused norm + activation modules, by class path (no import of timm), and the torch.nn class
# whose forward is their norm part: their forward is norm, self.drop, self.act.
FUSED_NORM_ACT: dict[str, type[nn.Module]] = {
    "timm.layers.norm_act.BatchNormAct2d": nn.BatchNorm2d,
    "timm.layers.norm_act.SyncBatchNormAct": nn.SyncBatchNorm,
    "timm.layers.norm_act.GroupNormAct": nn.GroupNorm,
    "timm.layers.norm_act.GroupNorm1Act": nn.GroupNorm,
    "timm.layers.norm_act.LayerNormAct": nn.LayerNorm,
}


class TraceError(ValueError):
    """The model cannot be traced by torch.fx (data-dependent control flow and the like)."""


def fused_norm_class(m: nn.Module) -> type[nn.Module] | None:
    """The torch.nn norm class of a fused norm + activation module, else None."""
    cls = FUSED_NORM_ACT.get(f"{type(m).__module__}.{type(m).__qualname__}")
    if cls is None or not isinstance(m, cls) or not all(hasattr(m, c) for c in ("drop", "act")):
        return None
    return cls


def norm_view(m: nn.Module, cls: type[nn.Module]) -> nn.Module:
    """`m` seen as `cls`: one state (the very same attribute dict: parameters, buffers,
    children, hooks, training flag), `cls`'s forward. A model's own `m` keeps working."""
    view = object.__new__(cls)
    object.__setattr__(view, "__dict__", m.__dict__)
    return view


class _Tracer(fx.Tracer):
    def __init__(self) -> None:
        super().__init__()
        self.fused: dict[str, nn.Module] = {}  # module path -> norm view

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return module_spec(m) is not None or super().is_leaf_module(m, qualname)

    def call_module(self, m: nn.Module, forward, args, kwargs):
        cls = fused_norm_class(m)
        if cls is None:
            return super().call_module(m, forward, args, kwargs)
        path = self.path_of_module(m)
        self.fused[path] = norm_view(m, cls)
        x = self.create_proxy("call_module", path, args, kwargs)
        x = self.call_module(m.drop, m.drop.forward, (x,), {})
        return self.call_module(m.act, m.act.forward, (x,), {})


def trace(model: nn.Module) -> fx.GraphModule:
    """The model's fx graph as a GraphModule that shares the model's submodules and parameters."""
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError, ... by call
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if "/torch/" not in f.filename.replace("\\", "/")]
        if frames:  # the model's own line that fx stopped at
            f = frames[-1]
            first += f" (at {f.filename.rsplit('/', 1)[-1]}:{f.lineno}: {f.line})"
        raise TraceError(f"torch.fx cannot trace {type(model).__name__}: {first}; "
                         "pass points=[(act, output[, bound]), ...] by hand instead") from None
    gm = fx.GraphModule(model, graph, type(model).__name__)
    for path, view in tracer.fused.items():  # the graph calls the norm part alone
        parent, _, name = path.rpartition(".")
        setattr(gm.get_submodule(parent), name, view)
    return gm


def module_of(gm: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    return gm.get_submodule(node.target) if node.op == "call_module" else None


def activation_spec(gm: fx.GraphModule, node: fx.Node) -> ActivationSpec | None:
    """The registry entry of the activation a node calls (a module, a function or a tensor
    method), None when the node is no activation call."""
    if node.op == "call_module":
        return module_spec(module_of(gm, node))
    if node.op == "call_function":
        return BY_FUNCTION.get(node.target)
    if node.op == "call_method":
        return BY_METHOD.get(node.target)
    return None


def is_activation(gm: fx.GraphModule, node: fx.Node) -> bool:
    return activation_spec(gm, node) is not None


def activation_site_bound(gm: fx.GraphModule, node: fx.Node) -> float | None:
    """The asymptote of an activation call site (None for ReLU, SiLU, GELU, ...): the
    module's, or the registry's for the call's arguments (F.hardtanh's min_val, max_val)."""
    if node.op == "call_module":
        return activation_bound(module_of(gm, node))
    return activation_spec(gm, node).bound_of(_arguments(node))


def _arguments(node: fx.Node) -> dict:
    """A function call's arguments by name, defaults included ({} for a tensor method or a
    builtin without a signature; the registry's bounds of those take no parameters)."""
    if node.op != "call_function":
        return {}
    try:
        call = inspect.signature(node.target).bind(*node.args, **node.kwargs)
    except (TypeError, ValueError):
        return {}
    call.apply_defaults()
    return dict(call.arguments)


def is_norm(gm: fx.GraphModule, node: fx.Node) -> bool:
    return node.op == "call_module" and isinstance(module_of(gm, node), NORM_MODULES)


def is_norm_function(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target in NORM_FUNCTIONS


def is_identity(gm: fx.GraphModule, node: fx.Node) -> bool:
    """nn.Identity: timm's drop-block at drop rate 0, a fused norm's `drop`, an `act` of
    `apply_act=False`. Chains are read through it."""
    return node.op == "call_module" and isinstance(module_of(gm, node), nn.Identity)


def is_weight(gm: fx.GraphModule, node: fx.Node) -> bool:
    return node.op == "call_module" and isinstance(module_of(gm, node), WEIGHT_MODULES)


def is_merge(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target in MERGES


def first_input(node: fx.Node) -> fx.Node | None:
    return node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None


def source(gm: fx.GraphModule, node: fx.Node) -> fx.Node | None:
    """The node's first input, read back through identities."""
    src = first_input(node)
    while src is not None and is_identity(gm, src):
        src = first_input(src)
    return src


def sole_user(gm: fx.GraphModule, node: fx.Node) -> tuple[list[fx.Node], fx.Node | None]:
    """(the identities after `node`, the one node its output then goes to): None when the
    output goes to several nodes or none."""
    passed: list[fx.Node] = []
    while len(node.users) == 1:
        node = next(iter(node.users))
        if not is_identity(gm, node):
            return passed, node
        passed.append(node)
    return passed, None


def site_name(gm: fx.GraphModule, node: fx.Node, calls: dict[str, int]) -> str:
    """The module path of a call site (`layer1.0.relu`, `layer1.0.relu#2` for its second
    call), or the node's name for functional calls."""
    base = str(node.target) if node.op == "call_module" else node.name
    calls[base] = calls.get(base, 0) + 1
    return base if calls[base] == 1 else f"{base}#{calls[base]}"
