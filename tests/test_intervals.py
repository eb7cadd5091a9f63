"""Welch intervals and verdicts against a float64 NumPy computation of the textbook formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from swapbn.intervals import (
    HOLDS,
    MISSING,
    ONE_SEED,
    OPPOSITE,
    UNRESOLVED,
    seeds_needed,
    verdict_of,
    welch,
)


def reference(a: list[float], b: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Welch's interval written out: se^2 = s_a^2/n_a + s_b^2/n_b, Welch-Satterthwaite df."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * math.sqrt(va + vb)
    d = a.mean() - b.mean()
    return d, d - half, d + half


def test_interval_matches_the_formula_for_known_means_and_spreads():
    swap, conv = [66.0, 67.5, 68.1], [60.0, 61.0, 63.5, 62.2]
    d = welch(swap, conv)
    ref = reference(swap, conv)
    assert d.diff == pytest.approx(ref[0], rel=1e-12)
    assert (d.low, d.high) == pytest.approx(ref[1:], rel=1e-10)
    assert d.verdict == HOLDS and d.resolved and d.seeds_needed is None
    assert (d.n_a, d.n_b) == (3, 4)


def test_the_three_verdicts():
    assert welch([1.0, 1.1, 0.9], [0.0, 0.1, -0.1]).verdict == HOLDS
    assert welch([0.0, 0.1, -0.1], [1.0, 1.1, 0.9]).verdict == OPPOSITE
    noisy = welch([1.0, 3.0, -1.0], [0.0, 2.0, -2.0])  # difference 1, spread 2 per side
    assert noisy.verdict == UNRESOLVED and noisy.low < 0 < noisy.high


def test_one_seed_gives_no_interval():
    d = welch([66.0], [60.0, 61.0])
    assert d.diff == 5.5 and d.low is None and d.high is None
    assert d.verdict == UNRESOLVED
    assert ONE_SEED in d.interval_text() and d.seeds_text() == "needs 2 seeds to estimate"


def test_zero_spread_is_an_exact_difference():
    up = welch([2.0, 2.0, 2.0], [1.0, 1.0])
    assert (up.diff, up.low, up.high, up.verdict) == (1.0, 1.0, 1.0, HOLDS)
    tie = welch([9.72, 9.72], [9.72, 9.72])
    assert tie.diff == 0 and tie.verdict == UNRESOLVED
    assert tie.seeds_text() == "none (no difference)"


def test_missing_values_are_left_out():
    assert welch([], [1.0]).verdict == MISSING
    assert welch([None, float("nan")], [1.0]).interval_text() == "—"
    d = welch([1.0, None, 1.2, float("nan")], [0.0, 0.2])
    assert d.n_a == 2 and d.diff == pytest.approx(1.0)


def test_seeds_needed_is_the_first_count_whose_interval_excludes_zero():
    rng = np.random.default_rng(0)
    sd, diff = 1.5, 1.0
    n = seeds_needed(sd, sd, diff)
    assert n is not None and n > 2

    def half(k: int) -> float:  # equal spreads, k per side: df = 2k - 2
        return stats.t.ppf(0.975, 2 * k - 2) * math.sqrt(2 * sd ** 2 / k)

    assert half(n) < diff <= half(n - 1)
    # Samples with exactly these spreads and this difference, n seeds per side, are resolved.
    z = rng.normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1) * sd
    assert welch(z + diff, z).verdict == HOLDS
    assert seeds_needed(sd, sd, 0.0) is None
    assert seeds_needed(0.0, 0.0, 0.3) == 2


def test_unresolved_difference_reports_its_estimate():
    d = welch([1.0, 3.0, -1.0], [0.0, 2.0, -2.0])
    assert d.seeds_needed == seeds_needed(2.0, 2.0, 1.0)
    assert d.seeds_text() == f"~{d.seeds_needed}"


def test_verdict_without_interval():
    assert [verdict_of(v) for v in (True, False, None)] == [HOLDS, OPPOSITE, MISSING]
