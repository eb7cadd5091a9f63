"""Channel samples: uniform without replacement, reproducible, and cheap on long streams."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from swapbn.metrics import ChannelSampler, Hooks, channel_samples
from swapbn.metrics.samples import SkipReservoir


def sampled_positions(seed: int, length: int, size: int, batches: list[int],
                      expect: int | None = None) -> np.ndarray:
    """The stream positions a reservoir keeps when the stream 0..length-1 arrives in batches
    (announced as `expect` values long, when given)."""
    res = SkipReservoir(1, size, np.random.default_rng(seed))
    if expect is not None:
        res.expect(expect)
    kept = np.full(size, -1)
    start = 0
    for n in batches:
        rows, pos, slot = res.take(n)
        assert (rows == 0).all()
        kept[slot] = start + pos
        start += n
    assert start == length
    return kept[kept >= 0] if expect is not None else kept[: min(length, size)]


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


@pytest.mark.parametrize("expect", [60, 45, 80])  # right, a stream longer, one shorter
def test_a_sample_chosen_up_front_is_uniform_whatever_the_stream_turns_out(expect):
    length, size, trials = 60, 6, 3000
    hits = np.zeros(length)
    kept_sizes = []
    for seed in range(trials):
        kept = sampled_positions(seed, length, size, [7, 1, 20, 2, 30], expect=expect)
        assert len(set(kept.tolist())) == len(kept)
        hits[kept] += 1
        kept_sizes.append(len(kept))
    if expect <= length:
        assert set(kept_sizes) == {size}
    else:  # a uniform subset of what arrived: hypergeometric size, mean size * length / expect
        assert np.mean(kept_sizes) == pytest.approx(size * length / expect, rel=0.05)
    chi2 = scipy.stats.chisquare(hits, np.full(length, hits.sum() / length))
    assert chi2.pvalue > 1e-3, chi2


def test_a_sample_chosen_up_front_writes_each_value_once():
    res = SkipReservoir(4, 100, np.random.default_rng(0))
    res.expect(10**6)
    written = sum(len(res.take(10**4)[0]) for _ in range(100))
    assert written == 4 * 100


def test_streams_that_advance_together_are_each_uniform_and_independent():
    length, size, rows, trials = 40, 5, 3, 2000
    hits = np.zeros((rows, length))
    both = 0
    for seed in range(trials):
        res = SkipReservoir(rows, size, np.random.default_rng(seed))
        kept = np.full((rows, size), -1)
        start = 0
        for n in [3, 9, 1, 27]:  # part-filled, carried past the size, then Algorithm L
            row, pos, slot = res.take(n)
            kept[row, slot] = start + pos
            start += n
        assert all(len(set(r)) == size for r in kept.tolist()) and kept.min() >= 0
        for r in range(rows):
            hits[r, kept[r]] += 1
        both += 0 in kept[0] and 0 in kept[1]
    for r in range(rows):
        chi2 = scipy.stats.chisquare(hits[r], np.full(length, trials * size / length))
        assert chi2.pvalue > 1e-3, (r, chi2)
    # independent streams: position 0 kept by both with probability (size / length)^2
    assert scipy.stats.binomtest(both, trials, (size / length) ** 2).pvalue > 1e-3
    empty = SkipReservoir(0, size, np.random.default_rng(0))
    assert all(len(a) == 0 for a in empty.take(50))


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
    touched = sum(len(res.take(batch)[1]) for _ in range(n // batch))
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
    with Hooks() as hooks:
        sampler.attach([type("P", (), {"name": "id", "act": model[0], "output": model[0]})],
                       hooks)
        model(x[:1])
        model(x[1:])
    got = sampler.result()
    np.testing.assert_array_equal(got.values("act", "id"), [[0, 1, 2, 3, 4, 15, 16, 17, 18, 19]])
    np.testing.assert_array_equal(got.layer_values("act", "id"), np.arange(30))


def test_the_length_of_a_pass_is_known_up_front_where_it_can_be():
    from swapbn.data import load_dataset
    from swapbn.metrics.batches import input_batches, known_images

    digits = load_dataset("digits")
    loaders = [digits.loader("test", 64, train=False),
               digits.loader("train", 64, train=True, drop_last=True),
               digits.loader("train", 50, train=False, shard=(1, 3))]
    x = torch.randn(70, 3)
    for data, cap in [(x, None), (x, 30), (list(x.split(16)), None), (digits, 100),
                      *((loader, None) for loader in loaders)]:
        got = known_images(data, max_samples=cap)
        assert got == sum(len(b) for b in input_batches(data, max_samples=cap))
    assert known_images(iter(x.split(16))) is None  # a generator: unknown
