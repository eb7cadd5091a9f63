"""ChannelMoments against whole-array float64 references (NumPy, SciPy) and the paper's theorems."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
import torch.distributed as dist
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from swapbn.metrics import ChannelMoments, layer_skewness, sparsity

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def sample(seed: int, n: int, channels: int, spatial: int, kind: str, offset: float,
           scale: float) -> np.ndarray:
    """Random (n, C, s, s) float64 data of a few shapes, with an offset and scale per draw."""
    rng = np.random.default_rng(seed)
    shape = (n, channels, spatial, spatial) if spatial else (n, channels)
    base = {
        "normal": lambda: rng.standard_normal(shape),
        "halfnormal": lambda: np.abs(rng.standard_normal(shape)),
        "exponential": lambda: rng.exponential(size=shape),
        "uniform": lambda: rng.uniform(-1, 1, shape),
        # a saturated tanh layer: each channel's input has its own mean
        "tanh": lambda: np.tanh(rng.normal(
            rng.normal(0, 2, size=(1, channels) + (1,) * (len(shape) - 2)), 2, shape)),
    }[kind]()
    return offset + scale * base


data_args = dict(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 40),
    channels=st.integers(1, 5),
    spatial=st.sampled_from([0, 1, 3]),
    kind=st.sampled_from(["normal", "halfnormal", "exponential", "uniform", "tanh"]),
    offset=st.sampled_from([0.0, 1.0, -3.0, 1e3]),
    scale=st.sampled_from([1.0, 1e-2, 10.0]),
)


def reference(x: np.ndarray) -> dict[str, np.ndarray]:
    """Float64 two-pass statistics of every channel over the whole array."""
    flat = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)
    mean = flat.mean(axis=1)
    d = flat - mean[:, None]
    return {"count": flat.shape[1], "mean": mean, "m2": (d ** 2).sum(axis=1),
            "m3": (d ** 3).sum(axis=1), "abs3": (np.abs(d) ** 3).sum(axis=1),
            "sum_abs": np.abs(flat).sum(axis=1), "max_abs": np.abs(flat).max(axis=1),
            "min": flat.min(axis=1), "max": flat.max(axis=1), "flat": flat}


def split_points(n: int, cuts: list[int]) -> list[int]:
    return sorted({c % n for c in cuts} - {0})


@SETTINGS
@given(**data_args, cuts=st.lists(st.integers(0, 10_000), max_size=6),
       tree=st.booleans())
def test_merged_random_splits_equal_float64_reference(seed, n, channels, spatial, kind, offset,
                                                       scale, cuts, tree):
    x = sample(seed, n, channels, spatial, kind, offset, scale)
    parts = np.split(x, split_points(n, cuts))
    stats = [ChannelMoments.of(torch.from_numpy(p)) for p in parts]
    # Merge left to right, or as a balanced tree: any order gives the same statistics.
    while len(stats) > 1:
        if tree:
            stats = [stats[i].merge(stats[i + 1]) if i + 1 < len(stats) else stats[i]
                     for i in range(0, len(stats), 2)]
        else:
            stats = [stats[0].merge(stats[1])] + stats[2:]
    got, ref = stats[0], reference(x)
    assert got.count == ref["count"]
    spread = np.sqrt(ref["m2"] / ref["count"])
    np.testing.assert_allclose(got.mean.numpy(), ref["mean"], rtol=1e-9,
                               atol=1e-12 * (np.abs(ref["mean"]) + spread).max())
    np.testing.assert_allclose(got.m2.numpy(), ref["m2"], rtol=1e-9,
                               atol=1e-300)
    np.testing.assert_allclose(got.m3.numpy(), ref["m3"], rtol=0, atol=1e-9 * ref["abs3"].max()
                               + 1e-300)
    for key in ("sum_abs", "max_abs", "min", "max"):
        np.testing.assert_allclose(getattr(got, key).numpy(), ref[key], rtol=1e-12)
    # Skewness equals scipy's adjusted Fisher-Pearson coefficient on non-constant channels.
    k = got.skewness().numpy()
    varied = ref["m2"] / ref["count"] > 1e-11 * ref["mean"] ** 2 + 1e-29
    assert np.isnan(k[ref["m2"] == 0]).all()  # exactly constant channels have no skewness
    if not varied.any():
        return
    expected = scipy.stats.skew(ref["flat"][varied], axis=1, bias=False)
    scale_k = ref["abs3"][varied] / ref["count"] / (ref["m2"][varied] / ref["count"]) ** 1.5
    np.testing.assert_allclose(k[varied], expected, rtol=1e-9, atol=1e-9 * scale_k.max())


@SETTINGS
@given(**data_args)
def test_one_tensor_equals_float64_reference_in_any_channel_layout(seed, n, channels, spatial,
                                                                  kind, offset, scale):
    x = sample(seed, n, channels, spatial, kind, offset, scale)
    ref = reference(x)
    moved = np.ascontiguousarray(np.moveaxis(x, 1, -1))  # channels last
    got = ChannelMoments.of(torch.from_numpy(moved), channel_dim=-1)
    np.testing.assert_allclose(got.m2.numpy(), ref["m2"], rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(got.sum_abs.numpy(), ref["sum_abs"], rtol=1e-12)


def layer_sparsity(x: np.ndarray) -> float:
    return sparsity(ChannelMoments.of(torch.from_numpy(x), moments=False))


def sparsity_reference(x: np.ndarray) -> float:
    """Section 5.2 literally: 1 - mean over elements of |b| / max_c |b| (0/0 counts as 0)."""
    flat = np.abs(np.moveaxis(x, 1, 0).reshape(x.shape[1], -1))
    peak = flat.max(axis=1, keepdims=True)
    norm = np.divide(flat, peak, out=np.zeros_like(flat), where=peak > 0)
    return 1.0 - norm.mean()


@SETTINGS
@given(**data_args, alpha=st.floats(1e-3, 1e3))
def test_sparsity_matches_definition_and_is_scale_invariant(seed, n, channels, spatial, kind,
                                                           offset, scale, alpha):
    """Theorem 1.1: S(alpha G) = S(G) for alpha > 0."""
    x = sample(seed, n, channels, spatial, kind, offset, scale)
    s = layer_sparsity(x)
    assert s == pytest.approx(sparsity_reference(x), rel=1e-9, abs=1e-12)
    assert layer_sparsity(alpha * x) == pytest.approx(s, rel=1e-9, abs=1e-12)


@SETTINGS
@given(**data_args, alpha=st.floats(1e-2, 1e2))
def test_adding_a_constant_lowers_sparsity(seed, n, channels, spatial, kind, offset, scale, alpha):
    """Theorem 1.2 (direction): S(G + alpha) < S(G) for non-negative G, not all equal."""
    x = np.abs(sample(seed, n, channels, spatial, kind, offset, scale))
    x = x / x.max()  # the added constant is comparable to the data
    flat = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)
    assume((flat.max(axis=1) - flat.min(axis=1) > 1e-6).any())
    assert layer_sparsity(x + alpha) < layer_sparsity(x)


@SETTINGS
@given(**data_args, copies=st.integers(2, 4))
def test_cloning_leaves_sparsity(seed, n, channels, spatial, kind, offset, scale, copies):
    """Theorem 1.3: S(G || G || ... || G) = S(G)."""
    x = sample(seed, n, channels, spatial, kind, offset, scale)
    cloned = np.concatenate([x] * copies, axis=0)
    assert layer_sparsity(cloned) == pytest.approx(layer_sparsity(x), rel=1e-12, abs=1e-12)
    merged = ChannelMoments(moments=False)
    one = ChannelMoments.of(torch.from_numpy(x), moments=False)
    for _ in range(copies):
        merged.merge(one)
    assert sparsity(merged) == pytest.approx(layer_sparsity(x), rel=1e-12, abs=1e-12)


@SETTINGS
@given(**data_args, alpha=st.floats(0.1, 10.0))
def test_raising_the_largest_element_raises_sparsity(seed, n, channels, spatial, kind, offset,
                                                    scale, alpha):
    """Theorem 1.4 on one channel: once g_i + beta is the maximum, adding alpha raises S."""
    flat = np.abs(sample(seed, n, channels, spatial, kind, offset, scale)).reshape(-1, 1)
    beta = flat.max() + 1.0
    lifted = flat.copy()
    lifted[0] += beta
    more = lifted.copy()
    more[0] += alpha
    assert layer_sparsity(more) > layer_sparsity(lifted)


@SETTINGS
@given(**data_args, zeros=st.integers(1, 5))
def test_appending_zeros_raises_sparsity(seed, n, channels, spatial, kind, offset, scale, zeros):
    """Theorem 1.5: S(G || 0) > S(G)."""
    x = sample(seed, n, channels, spatial, kind, offset, scale)
    assume(np.abs(x).max() > 0)
    padded = np.concatenate([x, np.zeros((zeros,) + x.shape[1:])], axis=0)
    assert layer_sparsity(padded) > layer_sparsity(x)


def test_float32_saturated_channel_matches_float64_where_power_sums_fail():
    """10^7 float32 values pinned near +1 (a saturated tanh channel) with real skew."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(10**7, generator=g).abs()
    for spread in (1e-3, 1e-5):
        x32 = (1.0 - spread * z).float().view(1000, 1, 100, 100)
        stats = ChannelMoments()
        for part in x32.split(128):
            stats.update(part)
        r = x32.double().flatten().numpy()
        mu = r.mean()
        var = ((r - mu) ** 2).mean()
        skew = scipy.stats.skew(r, bias=False)
        assert abs(skew) > 0.5  # a genuinely one-sided channel
        n = r.size
        adjust = np.sqrt(n * (n - 1)) / (n - 2)
        assert stats.mean.item() == pytest.approx(mu, rel=1e-6)
        assert stats.variance.item() == pytest.approx(var, rel=1e-6)
        assert stats.skewness().item() == pytest.approx(skew, rel=1e-6)

        # The naive power-sum formulas: E[x^3] - 3 mu E[x^2] + 2 mu^3, in float32 or float64.
        for dtype in (torch.float32, torch.float64):
            xv = x32.flatten().to(dtype)
            e1, e2, e3 = xv.mean(), (xv * xv).mean(), (xv * xv * xv).mean()
            v_naive = (e2 - e1 * e1).item()
            m3_naive = (e3 - 3 * e1 * e2 + 2 * e1 ** 3).item()
            skew_naive = adjust * m3_naive / v_naive ** 1.5 if v_naive > 0 else float("nan")
            wrong = not abs(skew_naive - skew) <= 1e-6 * abs(skew)  # NaN counts as wrong
            if dtype == torch.float32 or spread == 1e-5:
                assert wrong, (dtype, spread, skew_naive, skew)


def test_constant_and_short_channels_have_no_skewness():
    x = torch.stack([torch.full((50,), 0.7, dtype=torch.float64),
                     torch.linspace(-1, 2, 50, dtype=torch.float64) ** 2,
                     torch.zeros(50, dtype=torch.float64)], dim=1)
    stats = ChannelMoments.of(x)
    assert stats.constant().tolist() == [True, False, True]
    k = stats.skewness()
    assert torch.isnan(k[0]) and torch.isnan(k[2])
    expected = scipy.stats.skew(x[:, 1].numpy(), bias=False)
    skew, signed, constant = layer_skewness(stats)
    assert constant == 2
    assert skew == pytest.approx(abs(expected), rel=1e-12)
    assert signed == pytest.approx(expected, rel=1e-12)
    # Fewer than three values: skewness is undefined for every channel.
    assert layer_skewness(ChannelMoments.of(x[:2])) == (None, None, 3)
    # The zero channel is fully sparse: it adds nothing to the normalised mass.
    assert stats.normalised_mass()[2].item() == 0.0


def test_all_reduce_with_one_process_gloo_group(tmp_path):
    x = torch.randn(64, 3, 4, 4, dtype=torch.float64)
    solo = ChannelMoments.of(x)
    m = ChannelMoments.of(x)
    assert m.all_reduce() is m and torch.equal(m.stacked(), solo.stacked())  # no group: unchanged
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}",
                            rank=0, world_size=1)
    try:
        reduced = ChannelMoments(3).update(x).all_reduce()
        empty = ChannelMoments(3).all_reduce()
    finally:
        dist.destroy_process_group()
    for key in ("mean", "m2", "m3", "sum_abs", "max_abs", "min", "max"):
        torch.testing.assert_close(getattr(reduced, key), getattr(solo, key), rtol=1e-12, atol=0)
    assert reduced.count == solo.count and empty.count == 0


def test_stacked_state_round_trips_and_merge_checks_channels():
    x = torch.randn(20, 4, dtype=torch.float64)
    stats = ChannelMoments.of(x)
    back = ChannelMoments.from_stacked(stats.stacked())
    torch.testing.assert_close(back.m3, stats.m3, rtol=0, atol=0)
    with pytest.raises(ValueError, match="channel counts differ"):
        stats.merge(ChannelMoments.of(torch.randn(5, 3, dtype=torch.float64)))


@SETTINGS
@given(**{**data_args, "spatial": st.sampled_from([4, 6])},
       cuts=st.lists(st.integers(0, 10_000), max_size=4), channels_last=st.booleans())
def test_float32_batches_merge_to_the_float64_reference(seed, n, channels, spatial, kind, offset,
                                                       scale, cuts, channels_last):
    """Float32 maps of 16+ values take the float32 path (NCHW, or channels_last reduced in
    place): still 1e-6 of the float64 answer."""
    x = sample(seed, n, channels, spatial, kind, offset, scale).astype(np.float32)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    stats = ChannelMoments()
    for part in np.split(x, split_points(n, cuts)):
        stats.update(torch.from_numpy(part).contiguous(memory_format=layout))
    ref = reference(x.astype(np.float64))
    spread = np.sqrt(ref["m2"] / ref["count"])  # a mean near 0 is exact relative to the spread
    np.testing.assert_allclose(stats.mean.numpy(), ref["mean"], rtol=1e-6, atol=1e-7 * spread.max())
    np.testing.assert_allclose(stats.m2.numpy(), ref["m2"], rtol=1e-6, atol=1e-300)
    np.testing.assert_allclose(stats.m3.numpy(), ref["m3"], rtol=0,
                               atol=1e-6 * ref["abs3"].max() + 1e-300)
    np.testing.assert_allclose(stats.sum_abs.numpy(), ref["sum_abs"], rtol=1e-6)
    np.testing.assert_array_equal(stats.max_abs.numpy(), ref["max_abs"])


def test_channels_last_batches_give_the_same_statistics():
    x = torch.randn(8, 5, 6, 7, generator=torch.Generator().manual_seed(3)) * 0.01 + 0.99
    nhwc = x.contiguous(memory_format=torch.channels_last)
    a, b = ChannelMoments.of(x), ChannelMoments.of(nhwc)
    for f in ("mean", "m2", "m3", "sum_abs", "max_abs", "min", "max"):
        torch.testing.assert_close(getattr(b, f), getattr(a, f), rtol=1e-6, atol=1e-9)
    ref = x.double().transpose(0, 1).reshape(5, -1)
    torch.testing.assert_close(b.m2 / b.count, ref.var(1, unbiased=False), rtol=1e-6, atol=0)
