"""Exact one-pass saturation, channel skewness and sparsity (paper eqs. 1-2 and 4, Section 5.2),
channel samples and gradient probes (Appendix A.7). Measurement points live in `swapbn.points`."""

from ..activations import activation_bound
from ..points import MeasurementPoint, activation_points, resolve_points
from .formulas import average, empirical_saturation, layer_skewness, saturation, sparsity
from .gradients import gradient_probes
from .measure import LayerMeasurement, Measurement, format_table, measure
from .moments import ChannelMoments
from .samples import ChannelSampler, ChannelSamples, channel_samples

__all__ = ["ChannelMoments", "ChannelSampler", "ChannelSamples", "LayerMeasurement", "Measurement",
           "MeasurementPoint", "activation_bound", "activation_points", "average",
           "channel_samples", "empirical_saturation", "format_table", "gradient_probes",
           "layer_skewness", "measure", "resolve_points", "saturation", "sparsity"]
