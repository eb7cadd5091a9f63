"""find_points: the measurement points of any model, observed on its fx graph; resolve_points:
the points of one pass, whatever the caller gave.

Every activation call site becomes a point (a module called twice gives two points; functional
calls such as F.relu count). Its activation observer runs the call itself, so forward hooks on
it see the activation's input and output exactly as hooks on an activation module do; when the
activation feeds a normalisation (the paper's swap order) an identity observer after that
normalisation is the block output, otherwise the block output is the activation output (the
convention and no-BN orders). Observers live in a GraphModule that shares the model's
parameters, so measure() fills the same ChannelMoments as hooks on the model would.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import fx, nn

from ..points import MeasurementPoint, Points, measurement_points, named_points
from .sites import (
    activation_site_bound,
    is_activation,
    is_norm,
    is_weight,
    module_of,
    site_name,
    sole_user,
    source,
    trace,
)


class Observer(nn.Module):
    """Identity at a place in the graph: its forward hooks see the tensor flowing there."""

    def forward(self, x):
        return x


class CallObserver(nn.Module):
    """Runs one activation call site (a module, a function or a tensor method), so its forward
    hooks see that call's inputs and output. The called module stays owned by the model."""

    def __init__(self, fn, method: str | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "fn", fn)  # not a child: the model owns it
        self.method = method

    def forward(self, *args, **kwargs):
        if self.method is not None:
            return getattr(args[0], self.method)(*args[1:], **kwargs)
        return self.fn(*args, **kwargs)

    def extra_repr(self) -> str:
        return self.method or getattr(self.fn, "__name__", type(self.fn).__name__)


def _channels(module: nn.Module | None) -> int | None:
    for attr in ("out_channels", "out_features", "num_features", "num_channels"):
        if module is not None and hasattr(module, attr):
            return int(getattr(module, attr))
    return None


def _observe_call(gm: fx.GraphModule, node: fx.Node, target: str) -> fx.Node:
    if node.op == "call_module":
        observer = CallObserver(module_of(gm, node))
    elif node.op == "call_method":
        observer = CallObserver(None, node.target)
    else:
        observer = CallObserver(node.target)
    gm.add_submodule(target, observer)
    with gm.graph.inserting_after(node):
        new = gm.graph.call_module(target, node.args, node.kwargs)
    node.replace_all_uses_with(new)
    gm.graph.erase_node(node)
    return new


def _observe_output(gm: fx.GraphModule, node: fx.Node, target: str) -> None:
    gm.add_submodule(target, Observer())
    with gm.graph.inserting_after(node):
        new = gm.graph.call_module(target, (node,))
    node.replace_all_uses_with(new, delete_user_cb=lambda user: user is not new)


def find_points(model: nn.Module) -> Points:
    """The measurement points of any fx-traceable model, in forward order.

    Each point is an activation call site named by its module path (`layer1.0.relu#2` for a
    second call) or its function node; its bound is the activation's asymptote (None for
    ReLU, SiLU, GELU: saturation is then undefined); `weight` is the conv / linear layer that
    feeds the chain (through its normalisation), when there is one. Pass the result to
    `measure(model, data, points=...)`: its `module` is the observed graph, which shares the
    model's submodules and parameters. Raises TraceError for models fx cannot trace.
    """
    gm = trace(model)
    gm.train(model.training)
    points, calls = [], {}
    for node in list(gm.graph.nodes):
        if not is_activation(gm, node):
            continue
        i = len(points)
        name = site_name(gm, node, calls)
        bound = activation_site_bound(gm, node)
        src = source(gm, node)  # identities (a drop-block at rate 0) are read through
        _, after = sole_user(gm, node)
        if after is not None and not is_norm(gm, after):
            after = None
        if src is not None and is_norm(gm, src):
            src = source(gm, src)  # convention: weight -> norm -> act
        weight = module_of(gm, src) if src is not None and is_weight(gm, src) else None
        norm = module_of(gm, after) if after is not None else None
        act = _observe_call(gm, node, f"swapbn_observer{i}_act")
        act_module = gm.get_submodule(act.target)
        out_module = act_module
        if after is not None:
            _observe_output(gm, after, f"swapbn_observer{i}_output")
            out_module = gm.get_submodule(f"swapbn_observer{i}_output")
        kind = None if weight is None else ("fc" if isinstance(weight, nn.Linear) else "conv")
        points.append(MeasurementPoint(name, kind, _channels(weight) or _channels(norm),
                                       act_module, out_module,
                                       None if bound is None else float(bound), weight))
    gm.graph.lint()
    gm.recompile()
    return Points(tuple(points), model, gm)


def resolve_points(model: nn.Module, points: Iterable | None = None) -> Points:
    """The points a pass over `model` measures, from the `points` argument of measure,
    channel_samples, gradient_probes and Monitor: None means the model's swapbn blocks, else
    every activation call site (`find_points`); points found on an fx graph run that graph and
    are refused for any other model; anything else is hooked on `model` (`named_points`)."""
    if points is None:
        return measurement_points(model) or find_points(model)
    if isinstance(points, Points) and points.observed:
        if model is not points.model and model is not points.module:
            raise ValueError("these points were found on another model; call find_points(model)")
        return points
    return named_points(model, points)
