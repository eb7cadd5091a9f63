"""Exact one-pass saturation, channel skewness and sparsity (paper eqs. 1-2 and 4, Section 5.2),
channel samples and gradient probes (Appendix A.7). Measurement points live in `swapbn.points`,
activation bounds in `swapbn.activations`."""

from ..activations import activation_bound
from ..fx import resolve_points
from ..points import MeasurementPoint, Points, activation_points
from .formulas import average, empirical_saturation, layer_skewness, saturation, sparsity
from .gradients import gradient_probes
from .hooks import Hooks
from .measure import LayerMeasurement, Measurement, PointObserver, format_table, measure
from .moments import ChannelMoments
from .samples import ChannelSampler, ChannelSamples, channel_samples

__all__ = ["ChannelMoments", "ChannelSampler", "ChannelSamples", "Hooks", "LayerMeasurement",
           "Measurement", "MeasurementPoint", "PointObserver", "Points", "activation_bound",
           "activation_points", "average", "channel_samples", "empirical_saturation",
           "format_table", "gradient_probes", "layer_skewness", "measure", "resolve_points",
           "saturation", "sparsity"]
