"""swapbn: BatchNorm after bounded activations, with exact saturation, skewness and sparsity.

Public API: `build_model`, `measurement_points`, `measure`, `train` and the `swapbn` command.
`measure` and `train` load lazily, so importing swapbn stays light.
"""

from .models import build_model
from .points import MeasurementPoint, measurement_points
from .version import __version__

__all__ = ["MeasurementPoint", "__version__", "build_model", "measure", "measurement_points",
           "train"]


def __getattr__(name: str):
    if name == "train":
        from .training import train

        return train
    if name == "measure":
        from .metrics import measure

        return measure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
