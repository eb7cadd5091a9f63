"""Channel samples: uniform without replacement, reproducible, and cheap on long streams."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from swapbn.metrics import ChannelSampler, channel_samples
from swapbn.metrics.samples import SkipReservoir


def sampled_positions(seed: int, length: int, size: int, batches: list[int]) -> np.ndarray:
    """The stream positions a reservoir keeps when the stream 0..length-1 arrives in batches."""
    res = SkipReservoir(1, size, np.random.default_rng(seed))
    kept = np.full(size, -1)
    start = 0
    for n in batches:
        pos, slot = res.take(0, n)
        kept[slot] = start + pos
        start += n
    assert start == length
    return kept[: min(length, size)]


@pytest.mark.parametrize("batches", [
    [7, 1, 20, 2, 30],  # the first batch fills the sample and goes on; uneven, short batches
    [2, 3, 9, 46],  # a batch that finishes filling a part-filled sample and goes on
    [6, 4, 50],  # the sample filled exactly, then Algorithm L
    [1] * 60,  # one value at a time
])
def test_reservoir_keeps_a_uniform_sample_without_replacement(batches):
    length, size, trials = 60, 6, 3000
    hits = np.zeros(length)
    pairs = 0
    for seed in range(trials):
        kept = sampled_positions(seed, length, size, batches)
        assert len(set(kept.tolist())) == size and kept.min() >= 0  # distinct, all filled
        hits[kept] += 1
        pairs += {0, length - 1} <= set(kept.tolist())
    # every position is kept with probability size / length
    chi2 = scipy.stats.chisquare(hits, np.full(length, trials * size / length))
    assert chi2.pvalue > 1e-3, chi2
    # without replacement: both ends together with probability k(k-1) / (n(n-1))
    p_pair = size * (size - 1) / (length * (length - 1))
    assert scipy.stats.binomtest(pairs, trials, p_pair).pvalue > 1e-3


def test_reservoir_is_uniform_far_past_its_size():
    length, size, trials = 20_000, 8, 1500
    bins = np.zeros(20)
    for seed in range(trials):
        kept = sampled_positions(seed, length, size, [5000] * 4)
        np.add.at(bins, kept * 20 // length, 1)
    chi2 = scipy.stats.chisquare(bins, np.full(20, trials * size / 20))
    assert chi2.pvalue > 1e-3, chi2


def test_reservoir_cost_follows_the_sample_not_the_stream():
    """10^7 values: Algorithm L writes at most about size * (1 + ln(n / size)) of them (a
    random key per value, the earlier design, handled all 10^7); `make bench` times it."""
    size, batch, n = 4096, 100_000, 10_000_000
    res = SkipReservoir(1, size, np.random.default_rng(0))
    touched = sum(len(res.take(0, batch)[0]) for _ in range(n // batch))
    expected = size * (1 + math.log(n / size))
    assert size <= touched < 1.2 * expected


def test_samples_are_reproducible_and_come_from_their_channel():
    # each value encodes its (image, channel, position): 100 * n + 10 * c + s / 100
    n, c, s = 40, 3, 16
    x = (100.0 * torch.arange(n).view(n, 1, 1) + 10.0 * torch.arange(c).view(1, c, 1)
         + torch.arange(s).view(1, 1, s) / 100.0).view(n, c, 4, 4)
    model = nn.Sequential(nn.Identity())
    points = [(model[0], model[0])]
    a = channel_samples(model, x, channels=[2, 0], max_values=50, seed=3, batch_size=7,
                        points=points)
    b = channel_samples(model, x, channels=[2, 0], max_values=50, seed=3, batch_size=7,
                        points=points)
    other = channel_samples(model, x, channels=[2, 0], max_values=50, seed=4, batch_size=7,
                            points=points)
    layer = a.layers[0]
    np.testing.assert_array_equal(a.values("act", layer), b.values("act", layer))
    assert not np.array_equal(a.values("act", layer), other.values("act", layer))
    for row, channel in zip(a.values("act", layer), [2, 0], strict=True):
        assert len(np.unique(row)) == 50
        np.testing.assert_array_equal(np.floor(row % 100 / 10), channel)
    everything = a.layer_values("block", layer)
    assert len(np.unique(everything)) == 50 and np.isin(everything, x.numpy()).all()


def test_a_short_stream_is_kept_whole_in_order():
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).view(2, 3, 5)
    model = nn.Sequential(nn.Identity())
    sampler = ChannelSampler(channels=1, max_values=100)
    handles: list = []
    sampler.attach([type("P", (), {"name": "id", "act": model[0], "output": model[0]})],
                   handles)
    model(x[:1])
    model(x[1:])
    for h in handles:
        h.remove()
    got = sampler.result()
    np.testing.assert_array_equal(got.values("act", "id"), [[0, 1, 2, 3, 4, 15, 16, 17, 18, 19]])
    np.testing.assert_array_equal(got.layer_values("act", "id"), np.arange(30))
