"""The paper's theory figures as numbers (appendix A.3-A.5, section 5.1); no run directory.

- Skewness of tanh(X), X ~ N(mu, sigma) (Figure 12): exact population moments by
  Gauss-Hermite quadrature, E[g(mu + sigma Z)] = sum_i w_i g(mu + sigma z_i), so the surface
  has no sampling noise.
- Saturation and skewness of textbook distributions (Figure 11): the project's metrics on
  samples, beside the exact values from scipy's distribution objects.
- BN after tanh (Figure 6): one-sided saturated tanh outputs, normalised by their batch
  statistics, put most of their mass near zero -- the source of the swap model's sparsity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import stats
from scipy.special import roots_hermitenorm

from ..activations import ACTIVATIONS, make_activation
from ..metrics.formulas import layer_skewness, saturation, sparsity
from ..metrics.moments import ChannelMoments

# 1000 nodes keep the quadrature error below 1e-5 in skewness for sigma <= 5 (tanh(mu + sigma z)
# turns into a step as sigma grows, which needs the node spacing sigma / sqrt(n) to stay small).
QUADRATURE_NODES = 1000
GRID_MUS = np.round(np.arange(0.0, 3.0001, 0.1), 10)
GRID_SIGMAS = np.round(np.arange(0.05, 5.0001, 0.05), 10)


def sample_metrics(x: np.ndarray, bound: float | None) -> dict[str, float | None]:
    """Saturation (None if unbounded), |skewness|, signed skewness and sparsity of one channel,
    by the same per-channel statistics and layer formulas that measure a model."""
    moments = ChannelMoments.of(torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(-1, 1))
    skew_abs, skew_signed, _ = layer_skewness(moments)
    return {"saturation": saturation(moments, bound), "skewness": skew_abs,
            "skewness_signed": skew_signed, "sparsity": sparsity(moments)}


def _nodes(n: int = QUADRATURE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Hermite nodes with weights normalised to a standard normal expectation."""
    z, w = roots_hermitenorm(n)
    return z, w / math.sqrt(2.0 * math.pi)


def tanh_normal_moments(mu: np.ndarray | float, sigma: np.ndarray | float,
                        nodes: int = QUADRATURE_NODES) -> dict[str, np.ndarray]:
    """Mean, variance and population skewness of tanh(X), X ~ N(mu, sigma^2), by quadrature.

    Raw moments E[Y^k], k = 1..3, give the central moments m2 = E[Y^2] - E[Y]^2 and
    m3 = E[Y^3] - 3 E[Y] E[Y^2] + 2 E[Y]^3; skewness = m3 / m2^1.5. Broadcasts over mu, sigma.
    """
    z, w = _nodes(nodes)
    mu_b, sigma_b = np.broadcast_arrays(np.asarray(mu, float), np.asarray(sigma, float))
    y = np.tanh(mu_b[..., None] + sigma_b[..., None] * z)
    e1, e2, e3 = (y ** k @ w for k in (1, 2, 3))
    m2 = e2 - e1 ** 2
    m3 = e3 - 3.0 * e1 * e2 + 2.0 * e1 ** 3
    with np.errstate(invalid="ignore", divide="ignore"):
        skew = np.where(m2 > 1e-15, m3 / np.maximum(m2, 1e-300) ** 1.5, 0.0)
    return {"mean": e1, "var": m2, "skewness": skew}


def tanh_skewness(mu: float, sigma: float) -> float:
    """Population skewness of tanh(X), X ~ N(mu, sigma^2)."""
    return float(tanh_normal_moments(mu, sigma)["skewness"])


def tanh_skewness_grid(mus: np.ndarray = GRID_MUS,
                       sigmas: np.ndarray = GRID_SIGMAS) -> np.ndarray:
    """Skewness of tanh(N(mu, sigma)) on the grid: array of shape (len(mus), len(sigmas))."""
    mus, sigmas = np.asarray(mus, float), np.asarray(sigmas, float)
    return tanh_normal_moments(mus[:, None], sigmas[None, :])["skewness"]


# Distributions on [-1, 1] (bound 1), from saturation near 0 to one-sided saturation.
TEXTBOOK: dict[str, stats.rv_continuous] = {
    "normal(0, 0.1) truncated": stats.truncnorm(-10.0, 10.0, scale=0.1),
    "normal(0, 0.3) truncated": stats.truncnorm(-1 / 0.3, 1 / 0.3, scale=0.3),
    "bell: beta(2, 2)": stats.beta(2, 2, loc=-1, scale=2),
    "uniform(-1, 1)": stats.uniform(loc=-1, scale=2),
    "U-shaped: beta(0.5, 0.5)": stats.beta(0.5, 0.5, loc=-1, scale=2),
    "right-skewed: beta(2, 5)": stats.beta(2, 5, loc=-1, scale=2),
    "left-skewed: beta(5, 2)": stats.beta(5, 2, loc=-1, scale=2),
    "exponential truncated": stats.truncexpon(10.0, loc=-1, scale=0.2),
    "one-sided at +1: beta(8, 1)": stats.beta(8, 1, loc=-1, scale=2),
}


@dataclass(frozen=True)
class TextbookRow:
    name: str
    n: int
    saturation: float          # project metric on samples
    saturation_exact: float    # E|X| / bound by numerical integration
    skewness: float            # project metric: abs of adjusted Fisher-Pearson coefficient
    skewness_signed: float
    skewness_exact: float      # population skewness (signed)


def textbook_table(n: int = 200_000, seed: int = 0) -> list[TextbookRow]:
    """Figure 11's numbers: each distribution's saturation and skewness, sampled and exact."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, dist in TEXTBOOK.items():
        x = dist.rvs(size=n, random_state=rng)
        m = sample_metrics(x, bound=1.0)
        rows.append(TextbookRow(
            name=name, n=n, saturation=m["saturation"],
            saturation_exact=float(dist.expect(abs)),
            skewness=abs(m["skewness_signed"]), skewness_signed=m["skewness_signed"],
            skewness_exact=float(dist.stats(moments="s"))))
    return rows


# (mu, sigma) of the tanh input: centred, then more and more one-sided.
BN_TANH_CASES: tuple[tuple[float, float], ...] = ((0.0, 1.0), (1.0, 1.0), (2.0, 1.0))
NEAR_ZERO = 0.5  # |BN output| below this counts as "near zero" in the summary


@dataclass(frozen=True)
class BnTanhCase:
    mu: float
    sigma: float
    n: int
    tanh_mean: float
    tanh_std: float
    tanh_saturation: float
    tanh_skewness: float
    tanh_sparsity: float
    bn_sparsity: float
    tanh_near_zero: float    # fraction of |tanh(x)| < NEAR_ZERO
    bn_near_zero: float      # fraction of |BN(tanh(x))| < NEAR_ZERO


def bn_of_tanh_samples(mu: float, sigma: float, n: int = 100_000,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x ~ N(mu, sigma), a = tanh(x), b = BN(a) with the batch mean and std (gamma 1, beta 0)."""
    x = np.random.default_rng(seed).normal(mu, sigma, size=n)
    a = np.tanh(x)
    b = (a - a.mean()) / a.std()
    return x, a, b


def bn_of_tanh(cases: tuple[tuple[float, float], ...] = BN_TANH_CASES, n: int = 100_000,
               seed: int = 0) -> list[BnTanhCase]:
    """Figure 6's numbers: saturation, skewness and sparsity before and after BN."""
    out = []
    for i, (mu, sigma) in enumerate(cases):
        _, a, b = bn_of_tanh_samples(mu, sigma, n, seed + i)
        ma, mb = sample_metrics(a, bound=1.0), sample_metrics(b, bound=None)
        out.append(BnTanhCase(
            mu=mu, sigma=sigma, n=n, tanh_mean=float(a.mean()), tanh_std=float(a.std()),
            tanh_saturation=ma["saturation"], tanh_skewness=ma["skewness_signed"],
            tanh_sparsity=ma["sparsity"], bn_sparsity=mb["sparsity"],
            tanh_near_zero=float(np.mean(np.abs(a) < NEAR_ZERO)),
            bn_near_zero=float(np.mean(np.abs(b) < NEAR_ZERO))))
    return out


SHIFTED_TANH_EXAMPLE = {"dx": 0.5, "dy": 0.5}


def activation_shapes(x: np.ndarray) -> dict[str, dict]:
    """Every registered activation on x, with its formula and bound (None: unbounded)."""
    out = {}
    for name, spec in ACTIVATIONS.items():
        kwargs = SHIFTED_TANH_EXAMPLE if name == "shifted_tanh" else {}
        act = make_activation(name, **kwargs)
        with torch.no_grad():
            y = act(torch.as_tensor(x, dtype=torch.float64)).numpy()
        formula = spec.formula
        if kwargs:
            formula += " (" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
        out[name] = {"y": y, "bound": act.bound, "formula": formula, "bounded": spec.bounded}
    return out


def rows_as_dicts(rows: list) -> list[dict]:
    return [asdict(r) for r in rows]
