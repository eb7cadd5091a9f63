"""What a node of a traced model is: an activation call site, a normalisation, a weight layer.

Tracing treats swapbn's own activations as leaves (like torch.nn's), so their bounds survive;
a model fx cannot trace raises `TraceError` naming the failing call and the fallback.

A normalisation fused with its activation in one module (timm's `BatchNormAct2d`: norm, then
`drop`, then `act`, one module so that its state-dict keys are those of a plain BatchNorm)
traces as three calls: the norm (a view of the module as its torch.nn norm class: the same
parameters, buffers, children and train/eval mode) and its `drop` and `act` children. Tracing
through it instead would freeze the train/eval branch of its forward into the graph and hide
the norm in a functional call, where neither the swap nor the report can see it.
"""

from __future__ import annotations

import operator
import traceback

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..activations import BoundedActivation
from ..points import activation_bound

ACTIVATION_MODULES: tuple[type, ...] = (
    BoundedActivation, nn.ReLU, nn.ReLU6, nn.Tanh, nn.Hardtanh, nn.Sigmoid, nn.Softsign,
    nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.ELU, nn.LeakyReLU, nn.Mish, nn.PReLU,
)
# Functional activations and their asymptote (None: unbounded, saturation undefined).
ACTIVATION_FUNCTIONS: dict = {
    F.relu: None, torch.relu: None, torch.relu_: None, F.relu6: 6.0, F.silu: None,
    F.gelu: None, F.elu: None, F.leaky_relu: None, F.mish: None, F.hardswish: None,
    torch.tanh: 1.0, F.tanh: 1.0, torch.sigmoid: 1.0, F.sigmoid: 1.0, F.softsign: 1.0,
    F.hardsigmoid: 1.0, F.hardtanh: 1.0,
}
ACTIVATION_METHODS: dict[str, float | None] = {
    "relu": None, "relu_": None, "tanh": 1.0, "tanh_": 1.0, "sigmoid": 1.0, "sigmoid_": 1.0,
}
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
        return isinstance(m, ACTIVATION_MODULES) or super().is_leaf_module(m, qualname)

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


def is_activation(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return isinstance(module_of(gm, node), ACTIVATION_MODULES)
    if node.op == "call_function":
        return node.target in ACTIVATION_FUNCTIONS
    return node.op == "call_method" and node.target in ACTIVATION_METHODS


def activation_site_bound(gm: fx.GraphModule, node: fx.Node) -> float | None:
    """The asymptote of an activation call site (None for ReLU, SiLU, GELU, ...)."""
    if node.op == "call_module":
        return activation_bound(module_of(gm, node))
    if node.op == "call_function":
        if node.target is F.hardtanh:
            args = (*node.args, -1.0, 1.0)[1:3]
            lo, hi = node.kwargs.get("min_val", args[0]), node.kwargs.get("max_val", args[1])
            return float(max(abs(lo), abs(hi)))
        return ACTIVATION_FUNCTIONS[node.target]
    return ACTIVATION_METHODS[node.target]


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
