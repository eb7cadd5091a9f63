"""swapbn: BatchNorm after bounded activations, with exact saturation, skewness and sparsity.

Public API: `build_model`, `measurement_points`, `measure`, `Monitor` (the same measures inside
your own training loop), `train` and the `swapbn` command; on any model: `find_points`,
`swap_norm_act`, `replace_activations` (swapbn.fx).
"""

from .fx import find_points, replace_activations, swap_norm_act
from .metrics import measure
from .models import build_model
from .monitor import Monitor
from .points import MeasurementPoint, measurement_points
from .training import train
from .version import __version__

__all__ = ["MeasurementPoint", "Monitor", "__version__", "build_model", "find_points", "measure",
           "measurement_points", "replace_activations", "swap_norm_act", "train"]
