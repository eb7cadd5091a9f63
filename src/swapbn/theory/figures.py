"""`swapbn theory`: Figures 6, 11, 12 and 13 (left) with the numbers behind them, drawn with
the report's label table and `save`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..atomic import write_csv, write_json
from ..report.figures import LABELS, save
from . import compute as theory


def figure06_bn_of_tanh(out: Path) -> list[Path]:
    """BN(tanh(x)): the one-sided saturated mass of tanh moves to zero after normalisation."""
    cases = theory.bn_of_tanh()
    fig = Figure(figsize=(4.2 * len(cases), 7.5))
    axes = fig.subplots(2, len(cases), squeeze=False)
    grid = np.linspace(-4, 4, 401)
    for col, case in enumerate(cases):
        x, a, b = theory.bn_of_tanh_samples(case.mu, case.sigma, case.n,
                                            theory.BN_TANH_CASES.index((case.mu, case.sigma)))
        top, bottom = axes[0, col], axes[1, col]
        top.plot(grid, np.tanh(grid), color="C0", label="tanh(x)")
        top.plot(grid, (np.tanh(grid) - case.tanh_mean) / case.tanh_std, color="C3",
                 label=r"BN(tanh(x)) = (tanh(x) $-\hat\mu$) / $\hat\sigma$")
        dots = x[:200]
        top.scatter(dots, np.tanh(dots), s=6, color="C0", alpha=0.6)
        top.scatter(dots, (np.tanh(dots) - case.tanh_mean) / case.tanh_std, s=6, color="C3",
                    alpha=0.6)
        top.axhline(0, color="grey", lw=0.6)
        top.set_ylim(-4, 4)
        top.set_xlabel("tanh input x")
        top.set_title(f"x ~ N({case.mu:g}, {case.sigma:g}):  "
                      rf"$\hat\mu$={case.tanh_mean:.2f}, $\hat\sigma$={case.tanh_std:.2f}")
        bins = np.linspace(-4, 4, 81)
        bottom.hist(a, bins=bins, density=True, alpha=0.6, color="C0",
                    label=f"tanh(x): skew {case.tanh_skewness:.2f}, "
                          f"sparsity {case.tanh_sparsity:.2f}")
        bottom.hist(b, bins=bins, density=True, alpha=0.6, color="C3",
                    label=f"BN(tanh(x)): sparsity {case.bn_sparsity:.2f}")
        bottom.set_xlabel("value")
        bottom.set_ylabel("density")
        bottom.legend(fontsize=8, loc="upper left")
        if col == 0:
            top.legend(fontsize=8, loc="lower right")
            top.set_ylabel("output")
    fig.suptitle("Figure 6: BN after tanh moves one-sided saturated mass to zero")
    path_png = save(fig, out / "fig06_bn_of_tanh.png")
    path_json = write_json(out / "fig06_bn_of_tanh.json", theory.rows_as_dicts(cases))
    return [path_png, path_json]


def figure11_textbook(out: Path) -> list[Path]:
    """Saturation and |skewness| of distributions on [-1, 1], sampled beside exact."""
    rows = theory.textbook_table()
    fig = Figure(figsize=(13, 5.5))
    ax_sat, ax_skew = fig.subplots(1, 2)
    names = [r.name for r in rows]
    pos = np.arange(len(rows))
    ax_sat.barh(pos, [r.saturation for r in rows], color="C0", label="metric on samples")
    ax_sat.scatter([r.saturation_exact for r in rows], pos, color="k", marker="|", s=200,
                   label="exact E|X|")
    ax_skew.barh(pos, [r.skewness for r in rows], color="C1", label="metric on samples")
    ax_skew.scatter([abs(r.skewness_exact) for r in rows], pos, color="k", marker="|", s=200,
                    label="exact |skewness|")
    for ax, title in ((ax_sat, LABELS["saturation"]), (ax_skew, LABELS["skewness"])):
        ax.set_yticks(pos, names if ax is ax_sat else [""] * len(rows))
        ax.invert_yaxis()
        ax.set_xlabel(title)
        ax.set_title(title)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8)
    ax_sat.set_xlim(0, 1)
    fig.suptitle(f"Figure 11: metrics of textbook distributions on [-1, 1] "
                 f"({rows[0].n:,} samples each; bound 1)")
    header = ["distribution", "n", "saturation", "saturation_exact", "skewness",
              "skewness_signed", "skewness_exact"]
    csv_rows = [[r.name, r.n, f"{r.saturation:.6f}", f"{r.saturation_exact:.6f}",
                 f"{r.skewness:.6f}", f"{r.skewness_signed:.6f}", f"{r.skewness_exact:.6f}"]
                for r in rows]
    return [save(fig, out / "fig11_textbook_distributions.png"),
            write_csv(out / "fig11_textbook_distributions.csv", header, csv_rows)]


def figure12_tanh_skewness(out: Path) -> list[Path]:
    """Skewness of tanh(N(mu, sigma)) over the (mu, sigma) grid, by quadrature."""
    mus, sigmas = theory.GRID_MUS, theory.GRID_SIGMAS
    skew = theory.tanh_skewness_grid(mus, sigmas)
    fig = Figure(figsize=(13, 5))
    ax_map, ax_lines = fig.subplots(1, 2)
    im = ax_map.pcolormesh(sigmas, mus, skew, shading="nearest", cmap="viridis_r")
    fig.colorbar(im, ax=ax_map, label="skewness of tanh(X)")
    ax_map.set_xlabel(r"input standard deviation $\sigma$")
    ax_map.set_ylabel(r"input mean $\mu$")
    ax_map.set_title("skewness of tanh(X), X ~ N(mu, sigma)")
    for mu in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
        i = int(np.argmin(np.abs(mus - mu)))
        ax_lines.plot(sigmas, np.abs(skew[i]), label=rf"$\mu$ = {mu:g}")
        j = int(np.argmax(np.abs(skew[i])))
        ax_lines.scatter([sigmas[j]], [abs(skew[i, j])], color="k", s=12, zorder=3)
    ax_lines.set_xlabel(r"input standard deviation $\sigma$")
    ax_lines.set_ylabel("|skewness| of tanh(X)")
    ax_lines.set_title("|skewness| against sigma (dot: maximum)")
    ax_lines.legend(fontsize=8)
    fig.suptitle(f"Figure 12: Gauss-Hermite quadrature, {theory.QUADRATURE_NODES} nodes")
    mean_var = theory.tanh_normal_moments(mus[:, None], sigmas[None, :])
    csv_rows = [[f"{mu:g}", f"{s:g}", f"{mean_var['mean'][i, j]:.8f}",
                 f"{mean_var['var'][i, j]:.8f}", f"{skew[i, j]:.8f}"]
                for i, mu in enumerate(mus) for j, s in enumerate(sigmas)]
    return [save(fig, out / "fig12_tanh_skewness.png"),
            write_csv(out / "fig12_tanh_skewness.csv",
                             ["mu", "sigma", "mean", "variance", "skewness"], csv_rows)]


def figure13_activations(out: Path) -> list[Path]:
    """The activations' shapes with the bound the saturation metric divides by."""
    x = np.linspace(-5, 5, 501)
    shapes = theory.activation_shapes(x)
    fig = Figure(figsize=(8, 5.5))
    ax = fig.subplots()
    for i, (name, s) in enumerate(shapes.items()):
        color = f"C{i}"
        ax.plot(x, s["y"], color=color, label=f"{name}: {s['formula']}"
                + (f", bound {s['bound']:.4g}" if s["bound"] is not None else ", unbounded"))
        if s["bound"] is not None:
            ax.axhline(s["bound"], color=color, ls=":", lw=0.9)
            ax.axhline(-s["bound"], color=color, ls=":", lw=0.9)
    ax.set_ylim(-2.2, 2.2)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.set_title("Figure 13 (left): activation functions; dotted lines: ± bound")
    ax.legend(fontsize=8, loc="lower right")
    table = {name: {"formula": s["formula"], "bound": s["bound"], "bounded": s["bounded"]}
             for name, s in shapes.items()}
    return [save(fig, out / "fig13_activation_shapes.png"),
            write_json(out / "fig13_activation_shapes.json", table)]


def write_theory(out: Path) -> list[Path]:
    """Every theory figure and its numbers under `out`; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for make in (figure06_bn_of_tanh, figure11_textbook, figure12_tanh_skewness,
                 figure13_activations):
        paths += make(out)
    return paths
