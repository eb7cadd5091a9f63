"""Per-layer metric figures and channel-distribution figures draw what they are given."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from swapbn.metrics import ChannelSamples
from swapbn.report.figures import channel_distributions, layer_metric_figures, layer_values


def record(values):
    return {"layers": [{"name": f"l{i}", "saturation": v, "skewness": v, "sparsity": v}
                       for i, v in enumerate(values)]}


def test_layer_values_turn_null_into_nan():
    v = layer_values(record([0.5, None, 0.25]), "saturation")
    assert v[0] == 0.5 and np.isnan(v[1]) and v[2] == 0.25


def test_layer_metric_figure_has_one_coloured_line_per_record(tmp_path):
    records = {"convention": record([0.1, 0.2, 0.3]), "swap": record([0.8, 0.7, 0.9])}
    (path,) = layer_metric_figures(records, tmp_path, ("saturation",))
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    blue = ((abs(img[..., 0] - 31) < 30) & (abs(img[..., 1] - 119) < 30)
            & (abs(img[..., 2] - 180) < 30)).sum()
    orange = ((abs(img[..., 0] - 255) < 30) & (abs(img[..., 1] - 127) < 30)
              & (img[..., 2] < 60)).sum()
    assert blue > 100 and orange > 100  # matplotlib's C0 and C1
    paths = layer_metric_figures(records, tmp_path / "all")
    assert [p.name for p in paths] == ["layer_saturation.png", "layer_skewness.png",
                                       "layer_sparsity.png"]
    with pytest.raises(ValueError, match="unknown metric"):
        layer_metric_figures(records, tmp_path, ("accuracy",))
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_channel_distributions_from_samples_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"layers": np.array(["a"]), "channels/a": np.array([0, 3]),
              "act/a": rng.normal(size=(2, 300)).astype(np.float32),
              "act_layer/a": rng.normal(size=300).astype(np.float32)}
    npz = ChannelSamples(arrays).save(tmp_path / "channels.npz")
    path = channel_distributions({"swap": ChannelSamples.load(npz),
                                  "convention": ChannelSamples(arrays)},
                                 tmp_path / "ch.png", title="test")
    w, h = Image.open(path).size
    assert w > h > 100  # two rows of three panels
    with pytest.raises(ValueError, match="no block samples"):
        channel_distributions({"swap": ChannelSamples(arrays)}, tmp_path / "b.png",
                              site="block")


def test_layer_axis_names_conv_and_fully_connected_layers():
    from matplotlib.figure import Figure

    from swapbn.report.figures import mark_kinds

    ax = Figure().subplots()
    assert mark_kinds(ax, ["conv"] * 3 + ["fc"] * 2) == (
        "layer (conv 1-3, fully connected (shaded) 4-5)")
    assert len(ax.patches) == 2  # one shaded span per fully connected layer
    assert mark_kinds(Figure().subplots(), ["conv", "fc"]) == (
        "layer (conv 1, fully connected (shaded) 2)")
    assert mark_kinds(Figure().subplots(), [None, None]) == "layer"  # points named by a caller
