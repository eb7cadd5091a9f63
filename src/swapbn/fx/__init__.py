"""The paper's tools on models swapbn did not build, through their `torch.fx` graphs.

`find_points` finds every activation call site with the normalisation around it and inserts
observer modules there (the way PyTorch's fx quantization tooling inserts observers), and
`resolve_points` gives the points of a pass, found or given; `swap_norm_act` rewrites
weight -> BN -> act chains into the swap order; `replace_activations` changes the activation
type. See docs/architecture.md.
"""

from .find import Observer, find_points, resolve_points
from .rewrite import SwapReport, replace_activations, swap_norm_act
from .sites import TraceError, trace

__all__ = ["Observer", "SwapReport", "TraceError", "find_points", "replace_activations",
           "resolve_points", "swap_norm_act", "trace"]
