"""Exact one-pass saturation, channel skewness and sparsity (SPEC section 3), channel samples
and gradient probes."""

from .formulas import average, empirical_saturation, layer_skewness, saturation, sparsity
from .gradients import gradient_probes, weight_layers
from .measure import LayerMeasurement, Measurement, format_table, measure
from .moments import ChannelMoments
from .points import Point, activation_bound, activation_points, resolve_points
from .samples import ChannelSampler, ChannelSamples, channel_samples

__all__ = ["ChannelMoments", "ChannelSampler", "ChannelSamples", "LayerMeasurement", "Measurement", "Point",
           "activation_bound", "activation_points", "average", "channel_samples",
           "empirical_saturation", "format_table", "gradient_probes", "layer_skewness", "measure",
           "resolve_points", "saturation", "sparsity", "weight_layers"]
