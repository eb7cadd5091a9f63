"""Numbers over seeds: a setting's mean and spread, how sure a difference of two settings is
(Welch's t interval, a three-valued verdict), and the seeds a direction would need.

A setting's value is the mean over its seeds with the sample standard deviation (`Summary`).
Undefined numbers are None, never NaN: no seed gives no mean, one seed no spread (a sample
standard deviation needs two) and no interval; records write them as null and tables leave
them out (a mean without "±").

A comparison of two orders (swap minus convention, or whichever claim the paper makes) is the
difference of their means over seeds. With one to three seeds a one-point accuracy gap is
often noise, so every comparison carries the 95% Welch interval of that difference
(`scipy.stats.ttest_ind(..., equal_var=False)`: unequal variances, Welch-Satterthwaite degrees
of freedom) and a verdict:

- "holds": the whole interval is above 0 (the claimed direction is resolved);
- "opposite": the whole interval is below 0;
- "not resolved": the interval contains 0, or there is no interval (one seed on a side).

Seeds alike on both sides (zero spread) give a zero-width interval at the difference itself.
`seeds_needed` is a simple power estimate: the smallest number of seeds per side at which the
95% interval, at the observed standard deviations and the observed difference, would exclude
0 (about even odds of resolving the direction if the observed difference is the true one).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
HOLDS, OPPOSITE, UNRESOLVED, MISSING = "holds", "opposite", "not resolved", "n/a"
UNTRAINED = "did not train at this budget"  # a side never left chance: not judged
ONE_SEED = "1 seed: no interval"
MAX_SEEDS = 1000  # beyond this the estimate says "more than 1000"
INTERVALS_NOTE = (
    "A claim that one setting is above another is judged on the difference of their means over "
    "seeds with its 95% Welch t interval: **holds** when the interval lies above 0, "
    "**opposite** when below, **not resolved** when it contains 0 or when a side has one seed "
    "(no interval). *Seeds per order to resolve* is a simple power estimate: the smallest "
    "number of seeds per setting at which the interval, at the observed standard deviations "
    "and difference, would exclude 0 (even odds if the observed difference is the true one); "
    "run them with `swapbn sweep NAME --seeds 0 1 2 ...`.")


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof 1) of the defined values of a setting's seeds
    (None and NaN left out); None where undefined: no value, or for the spread a single one."""

    mean: float | None
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Summary:
        kept = [float(v) for v in values if v is not None and math.isfinite(v)]
        return cls(statistics.fmean(kept) if kept else None,
                   statistics.stdev(kept) if len(kept) > 1 else None, len(kept))

    def text(self, digits: int) -> str:
        """"74.11 ± 0.42", "74.11" for one seed, "—" for none."""
        if self.mean is None:
            return "—"
        text = f"{self.mean:.{digits}f}"
        return text if self.std is None else f"{text} ± {self.std:.{digits}f}"


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) over seeds with its 95% Welch interval and verdict."""

    diff: float | None
    low: float | None
    high: float | None
    n_a: int
    n_b: int
    verdict: str
    seeds_needed: int | None = None  # per side, only for "not resolved" with a spread

    @property
    def resolved(self) -> bool:
        return self.verdict in (HOLDS, OPPOSITE)

    def interval_text(self, digits: int = 3) -> str:
        """"+1.23 [+0.45, +2.01]", "+1.23 (1 seed: no interval)" or "—"."""
        if self.diff is None:
            return "—"
        d = f"{self.diff:+.{digits}g}"
        if self.low is None or self.high is None:
            return f"{d} ({ONE_SEED})"
        return f"{d} [{self.low:+.{digits}g}, {self.high:+.{digits}g}]"

    def seeds_text(self) -> str:
        """The power estimate for an unresolved difference ("" when resolved or unknown)."""
        if self.verdict != UNRESOLVED or self.diff is None:
            return ""
        if self.low is None:
            return "needs 2 seeds to estimate"
        if self.seeds_needed is None:
            return f"more than {MAX_SEEDS}" if self.diff != 0 else "none (no difference)"
        return f"~{self.seeds_needed}"

    def to_dict(self) -> dict:
        return {"diff": self.diff, "low": self.low, "high": self.high, "n_a": self.n_a,
                "n_b": self.n_b, "verdict": self.verdict, "seeds_needed": self.seeds_needed}


def _finite(values: Iterable[float | None]) -> np.ndarray:
    return np.array([v for v in values if v is not None and math.isfinite(v)], float)


def seeds_needed(sd_a: float, sd_b: float, diff: float, level: float = LEVEL) -> int | None:
    """Seeds per side at which the Welch interval at these spreads would exclude 0 (None:
    no difference, or more than MAX_SEEDS)."""
    if diff == 0:
        return None
    var = sd_a ** 2 + sd_b ** 2
    if var == 0:
        return 2
    for n in range(2, MAX_SEEDS + 1):
        se = math.sqrt(var / n)
        # Welch-Satterthwaite degrees of freedom with n seeds on each side.
        df = var ** 2 / ((sd_a ** 4 + sd_b ** 4) / (n - 1))
        if stats.t.ppf(0.5 + level / 2, df) * se < abs(diff):
            return n
    return None


def welch(a: Iterable[float | None], b: Iterable[float | None],
          level: float = LEVEL) -> Difference:
    """mean(a) - mean(b) with its Welch t interval; None values and NaN are left out."""
    xa, xb = _finite(a), _finite(b)
    sa, sb = Summary.of(xa), Summary.of(xb)
    if sa.mean is None or sb.mean is None:
        return Difference(None, None, None, sa.n, sb.n, MISSING)
    diff = sa.mean - sb.mean
    if sa.std is None or sb.std is None:
        return Difference(diff, None, None, sa.n, sb.n, UNRESOLVED)
    sd_a, sd_b = sa.std, sb.std
    if sd_a == 0 and sd_b == 0:  # scipy returns NaN here; the difference is exact
        low = high = diff
    else:
        ci = stats.ttest_ind(xa, xb, equal_var=False).confidence_interval(level)
        low, high = float(ci.low), float(ci.high)
    verdict = HOLDS if low > 0 else OPPOSITE if high < 0 else UNRESOLVED
    needed = seeds_needed(sd_a, sd_b, diff, level) if verdict == UNRESOLVED else None
    return Difference(diff, low, high, sa.n, sb.n, verdict, needed)


def verdict_of(holds: bool | None) -> str:
    """The verdict of a claim judged without an interval (a correlation sign, a best depth)."""
    return MISSING if holds is None else HOLDS if holds else OPPOSITE
