"""swapbn: BatchNorm after bounded activations, with exact saturation, skewness and sparsity."""

from .models import build_model
from .points import MeasurementPoint, measurement_points

__version__ = "0.1.0"

__all__ = ["MeasurementPoint", "__version__", "build_model", "measurement_points"]
