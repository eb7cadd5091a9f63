"""Theory figures: metrics on known distributions, tanh skewness by quadrature, the command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, stats

from png_checks import assert_png_drawn
from swapbn.cli import main
from swapbn.theory import compute as theory
from swapbn.theory.compute import sample_metrics


def test_uniform_saturation_is_one_half():
    x = np.random.default_rng(1).uniform(-1, 1, size=1_000_000)
    sat = sample_metrics(x, bound=1.0)["saturation"]
    se = math.sqrt(1 / 12 / x.size)  # |U| ~ Uniform(0, 1): variance 1/12
    assert abs(sat - 0.5) < 4 * se
    row = next(r for r in theory.textbook_table(n=20_000) if r.name == "uniform(-1, 1)")
    assert row.saturation_exact == pytest.approx(0.5, abs=1e-12)


def test_textbook_metrics_match_exact_values():
    for r in theory.textbook_table(n=200_000, seed=3):
        assert r.saturation == pytest.approx(r.saturation_exact, abs=0.005), r.name
        assert r.skewness_signed == pytest.approx(r.skewness_exact, abs=0.06), r.name
        assert r.skewness == pytest.approx(abs(r.skewness_signed))


def test_sample_skewness_is_scipys_adjusted_coefficient():
    x = np.random.default_rng(2).gamma(2.0, size=5000)
    assert sample_metrics(x, None)["skewness_signed"] == pytest.approx(
        stats.skew(x, bias=False), rel=1e-9)


def _quad_skewness(mu: float, sigma: float) -> float:
    def raw(k):
        return integrate.quad(lambda z: np.tanh(mu + sigma * z) ** k * stats.norm.pdf(z),
                              -np.inf, np.inf, limit=200, epsabs=1e-13)[0]

    e1, e2, e3 = raw(1), raw(2), raw(3)
    return (e3 - 3 * e1 * e2 + 2 * e1 ** 3) / (e2 - e1 ** 2) ** 1.5


@pytest.mark.parametrize("mu,sigma", [(0.5, 0.3), (1.0, 1.0), (2.0, 0.5), (2.5, 3.0)])
def test_quadrature_matches_adaptive_integration(mu, sigma):
    assert theory.tanh_skewness(mu, sigma) == pytest.approx(_quad_skewness(mu, sigma), abs=1e-5)


@pytest.mark.parametrize("mu,sigma", [(0.0, 1.0), (0.5, 0.5), (1.0, 1.0), (2.0, 0.8), (1.5, 3.0)])
def test_quadrature_matches_monte_carlo(mu, sigma):
    n, batches = 1_000_000, 20
    y = np.tanh(np.random.default_rng(7).normal(mu, sigma, size=n))
    mc = stats.skew(y)
    per_batch = stats.skew(y.reshape(batches, -1), axis=1)
    se = per_batch.std(ddof=1) / math.sqrt(batches)
    assert abs(mc - theory.tanh_skewness(mu, sigma)) < 4 * se + 1e-4


def test_grid_has_the_papers_shape():
    skew = theory.tanh_skewness_grid()
    mus, sigmas = theory.GRID_MUS, theory.GRID_SIGMAS
    assert skew.shape == (len(mus), len(sigmas))
    assert np.all(np.abs(skew[0]) < 1e-10)  # mu = 0: symmetric output
    assert np.all(skew[1:] < 0)  # mu > 0: mass piled at +1, tail towards -1
    # |skewness| grows with |mu| at every sigma ...
    assert np.all(np.diff(np.abs(skew), axis=0) > 0)
    # ... and for fixed mu > 0 peaks at an intermediate sigma.
    for i in range(5, len(mus)):
        row = np.abs(skew[i])
        j = int(np.argmax(row))
        assert 0 < j < len(sigmas) - 1
        assert row[0] < row[j] and row[-1] < row[j]
        # the fall is steeper below the peak than above it (appendix A.4)
        assert (row[j] - row[0]) / (sigmas[j] - sigmas[0]) > (row[j] - row[-1]) / (
            sigmas[-1] - sigmas[j])


def test_bn_after_one_sided_tanh_is_sparser():
    centred, one_sided, strong = theory.bn_of_tanh(n=50_000)
    assert abs(centred.bn_sparsity - centred.tanh_sparsity) < 0.01
    for case in (one_sided, strong):
        assert case.bn_sparsity > case.tanh_sparsity + 0.3
        assert case.bn_near_zero > case.tanh_near_zero
    assert strong.bn_sparsity > one_sided.bn_sparsity


def test_theory_command_writes_figures_and_numbers(tmp_path, capsys):
    assert main(["theory", "--out", str(tmp_path)]) == 0
    for name in ("fig06_bn_of_tanh", "fig11_textbook_distributions", "fig12_tanh_skewness",
                 "fig13_activation_shapes"):
        assert_png_drawn(tmp_path / f"{name}.png")
    grid = np.genfromtxt(tmp_path / "fig12_tanh_skewness.csv", delimiter=",", names=True)
    assert len(grid) == len(theory.GRID_MUS) * len(theory.GRID_SIGMAS)
    k = int(np.argmin(np.abs(grid["mu"] - 1.0) + np.abs(grid["sigma"] - 1.0)))
    assert grid["skewness"][k] == pytest.approx(_quad_skewness(1.0, 1.0), abs=1e-6)
    shapes = json.loads((tmp_path / "fig13_activation_shapes.json").read_text())
    assert shapes["lecun_tanh"]["bound"] == pytest.approx(1.7159)
    assert shapes["relu"]["bound"] is None
    assert len(json.loads((tmp_path / "fig06_bn_of_tanh.json").read_text())) == 3
    assert "uniform(-1, 1)" in capsys.readouterr().out


def test_theory_rejects_a_file_as_out(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["theory", "--out", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err
