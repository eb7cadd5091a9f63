"""The paper's tools on models swapbn did not build, through their `torch.fx` graphs.

`find_points` finds every activation call site with the normalisation around it and inserts
observer modules there (the way PyTorch's fx quantization tooling inserts observers);
`swap_norm_act` rewrites weight -> BN -> act chains into the swap order;
`replace_activations` changes the activation type. See docs/architecture.md.
"""

from .find import Observer, PointSet, bind_points, find_points, model_points
from .rewrite import SwapReport, replace_activations, swap_norm_act
from .sites import TraceError, trace

__all__ = ["Observer", "PointSet", "SwapReport", "TraceError", "bind_points", "find_points", "model_points",
           "replace_activations", "swap_norm_act", "trace"]
