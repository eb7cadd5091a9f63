"""swapbn: BatchNorm after bounded activations, with exact saturation, skewness and sparsity.

Public API: `build_model`, `measurement_points`, `measure`, `train` and the `swapbn` command.
"""

from .metrics import measure
from .models import build_model
from .points import MeasurementPoint, measurement_points
from .training import train
from .version import __version__

__all__ = ["MeasurementPoint", "__version__", "build_model", "measure", "measurement_points",
           "train"]
