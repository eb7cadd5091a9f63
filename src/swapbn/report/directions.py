"""The paper's claims as comparisons that hold or fail at any scale.

Absolute numbers only match the paper at paper scale; the *direction* of each result (swap
above convention, higher skewness, higher sparsity, ...) should hold at every scale. A set of
claims is one function registered in `CLAIMS`; an experiment names the sets the paper makes
about it (`Experiment.claims`). A claim that one setting is above another is judged by the 95%
Welch interval of the difference over seeds (`swapbn.intervals`): "holds", "opposite" or "not
resolved"; "n/a" when the runs needed are missing, and "did not train at this budget" when a side
never left chance (`report.aggregate`): such a setting supports or refutes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..activations import ACTIVATIONS
from ..experiments import find_experiment
from ..intervals import HOLDS, MISSING, UNTRAINED, Difference, verdict_of, welch
from .aggregate import Group, selected
from .published import published_value

# Activations with an asymptote (the saturation metric's bound): where swap beats convention.
BOUNDED = tuple(name for name, spec in ACTIVATIONS.items() if spec.bounded)


@dataclass(frozen=True)
class Check:
    """One claim: what the paper says, what these runs say, and whether they agree."""

    claim: str
    paper: str
    here: str
    verdict: str  # holds | opposite | not resolved | n/a (swapbn.intervals) | UNTRAINED
    difference: Difference | None = None  # first minus second over seeds, with its interval

    @property
    def holds(self) -> bool | None:
        """True when resolved in the claimed direction, None when not judged."""
        return None if self.verdict in (MISSING, UNTRAINED) else self.verdict == HOLDS

    @property
    def interval(self) -> str:
        return "" if self.difference is None else self.difference.interval_text()

    @property
    def seeds_to_resolve(self) -> str:
        return "" if self.difference is None else self.difference.seeds_text()


ClaimSet = Callable[[list[Group]], list[Check]]
CLAIMS: dict[str, ClaimSet] = {}


def claims(name: str) -> Callable[[ClaimSet], ClaimSet]:
    """Register a set of the paper's claims under the name experiments list it by."""
    def register(make: ClaimSet) -> ClaimSet:
        CLAIMS[name] = make
        return make
    return register


def _fmt(v: float | None, digits: int = 3) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:.{digits}g}"


def claimable(groups: list[Group]) -> list[Group]:
    """The groups a claim may use: selected by the grid, trained above chance (a setting that
    did not train at its budget supports nothing), and not a labelled stand-in."""
    return [g for g in selected(groups) if g.trained and not g.stand_in]


def find(groups: list[Group], **keys) -> Group | None:
    """The claimable group with these keys; else the selected one that did not train (a claim
    on it reads UNTRAINED, `greater`); else None."""
    matches = [g for g in selected(groups) if not g.stand_in
               and all(g.keys.get(k) == v for k, v in keys.items())]
    return next((g for g in matches if g.trained), matches[0] if matches else None)


def untrained(*groups: Group | None) -> bool:
    """Whether a side of a claim did not train at its budget."""
    return any(g is not None and not g.trained for g in groups)


def _mean(g: Group | None, metric: str) -> float | None:
    return None if g is None else g.summary(metric).mean


def greater(a: Group | None, b: Group | None, metric: str, claim: str,
            paper: tuple[float | None, float | None] = (None, None), digits: int = 4) -> Check:
    """Claim: mean `metric` of a is above that of b, judged by the interval of a - b."""
    va, vb = _mean(a, metric), _mean(b, metric)
    paper_text = (f"{_fmt(paper[0], digits)} vs {_fmt(paper[1], digits)}"
                  if None not in paper else "expected")
    here = f"{_fmt(va, digits)} vs {_fmt(vb, digits)}"
    if untrained(a, b):
        return Check(claim, paper_text, here, UNTRAINED)
    diff = welch(_values(a, metric), _values(b, metric))
    return Check(claim, paper_text, here, diff.verdict, diff)


def _values(g: Group | None, metric: str) -> list[float | None]:
    """The metric of each completed seed of the group (the sample the interval is built on)."""
    return [] if g is None else g.values(metric)


def correlation(groups: list[Group], x: Callable[[Group], float | None],
                y: Callable[[Group], float | None], sign: int, claim: str,
                paper: str) -> Check:
    """Claim: Pearson correlation of x and y over settings has the given sign (>= 3 points)."""
    pts = [(x(g), y(g)) for g in claimable(groups)]
    pts = [(a, b) for a, b in pts if a is not None and b is not None
           and math.isfinite(a) and math.isfinite(b)]
    if len(pts) < 3 or np.ptp([p[0] for p in pts]) == 0 or np.ptp([p[1] for p in pts]) == 0:
        return Check(claim, paper, f"{len(pts)} settings", MISSING)
    r = float(stats.pearsonr(*zip(*pts, strict=True)).statistic)
    return Check(claim, paper, f"r = {r:+.2f} over {len(pts)} settings",
                 verdict_of(r * sign > 0))


@claims("orders_per_model")
def _orders_per_model(groups: list[Group]) -> list[Check]:
    checks = []
    seen = []
    for g in selected(groups):  # every setting gets its rows; find() leaves out untrained ones
        k = (g.keys["arch"], g.keys["act"], g.keys["dataset"])
        if k in seen:
            continue
        seen.append(k)
        arch, act, dataset = k
        conv = find(groups, arch=arch, act=act, dataset=dataset, order="convention")
        swap = find(groups, arch=arch, act=act, dataset=dataset, order="swap")
        pc = published_value("test_acc", dataset=dataset, arch=arch, act=act, order="convention")
        ps = published_value("test_acc", dataset=dataset, arch=arch, act=act, order="swap")
        if pc is not None and ps is not None:
            swap_better = ps > pc
        else:
            swap_better = act in BOUNDED  # Table 1: swap wins with Tanh, not with ReLU
        first, second = (swap, conv) if swap_better else (conv, swap)
        names = ("swap", "convention") if swap_better else ("convention", "swap")
        papers = (ps, pc) if swap_better else (pc, ps)
        checks.append(greater(first, second, "test_acc",
                              f"{arch} {act} {dataset}: {names[0]} test acc > {names[1]}",
                              papers))
        if act in BOUNDED:
            checks.append(greater(swap, conv, "avg_skewness",
                                  f"{arch} {act} {dataset}: swap avg skewness > convention"))
    return checks


@claims("orders_per_activation")
def _orders_per_activation(groups: list[Group]) -> list[Check]:
    checks = []
    acts = list(dict.fromkeys(g.keys["act"] for g in selected(groups)))
    for act in acts:
        conv, swap = find(groups, act=act, order="convention"), find(groups, act=act, order="swap")
        keys = {"dataset": "cifar100", "arch": "vgg16_11", "act": act}
        checks.append(greater(
            swap, conv, "test_acc", f"{act}: swap test acc > convention",
            (published_value("test_acc", **keys, order="swap"),
             published_value("test_acc", **keys, order="convention"))))
        delta = published_value("delta_avg_skewness", **keys)
        diff = welch(_values(swap, "avg_skewness"), _values(conv, "avg_skewness"))
        at_chance = untrained(swap, conv)
        checks.append(Check(f"{act}: swap - convention avg skewness > 0",
                            "expected" if delta is None else f"{delta:+.3g}",
                            "—" if diff.diff is None else f"{diff.diff:+.3g}",
                            UNTRAINED if at_chance else diff.verdict,
                            None if at_chance else diff))
    return checks


@claims("convention_nwdbn_swap")
def _convention_nwdbn_swap(groups: list[Group]) -> list[Check]:
    g = {o: find(groups, order=o) for o in ("convention", "nwdbn", "swap")}
    keys = {"dataset": "cifar100", "arch": "vgg16_11", "act": "tanh"}

    def paper(metric: str, a: str, b: str) -> tuple[float | None, float | None]:
        return (published_value(metric, **keys, order=a), published_value(metric, **keys, order=b))

    return [
        greater(g["swap"], g["convention"], "test_acc", "swap test acc > convention",
                paper("test_acc", "swap", "convention")),
        greater(g["swap"], g["nwdbn"], "test_acc", "swap test acc > NWDBN",
                paper("test_acc", "swap", "nwdbn")),
        greater(g["nwdbn"], g["convention"], "test_acc", "NWDBN test acc > convention",
                paper("test_acc", "nwdbn", "convention")),
        greater(g["swap"], g["convention"], "avg_sparsity", "swap avg sparsity > convention",
                paper("avg_sparsity", "swap", "convention"), digits=3),
        greater(g["convention"], g["nwdbn"], "avg_sparsity", "convention avg sparsity > NWDBN",
                paper("avg_sparsity", "convention", "nwdbn"), digits=3),
        greater(g["swap"], g["convention"], "max_saturation",
                "swap max layer saturation > convention",
                paper("max_saturation", "swap", "convention"), digits=3),
        greater(g["swap"], g["convention"], "avg_skewness", "swap avg skewness > convention",
                digits=3),
        greater(g["nwdbn"], g["convention"], "avg_skewness", "NWDBN avg skewness > convention",
                digits=3),
    ]


@claims("resnet_orders")
def _resnet_orders(groups: list[Group]) -> list[Check]:
    conv, swap = find(groups, act="tanh", order="convention"), find(groups, act="tanh", order="swap")
    return [greater(swap, conv, "test_acc", "ResNet-18 Tanh: swap test acc > convention"),
            greater(swap, conv, "avg_skewness", "ResNet-18 Tanh: swap avg skewness > convention",
                    digits=3),
            greater(swap, conv, "avg_sparsity", "ResNet-18 Tanh: swap avg sparsity > convention",
                    digits=3)]


@claims("shifted_asymmetry")
def _shifted_asymmetry(groups: list[Group]) -> list[Check]:
    """Does asymmetry alone (a shifted Tanh in convention order) recover swap's gain and
    skewness? Expected from swap's asymmetric outputs, not published."""
    shifted = find(groups, act="shifted_tanh", order="convention")
    conv, swap = find(groups, act="tanh", order="convention"), find(groups, act="tanh", order="swap")
    return [greater(shifted, conv, "test_acc", "shifted Tanh convention test acc > Tanh convention"),
            greater(shifted, conv, "avg_skewness",
                    "shifted Tanh convention avg skewness > Tanh convention", digits=3),
            greater(swap, conv, "test_acc", "Tanh swap test acc > Tanh convention"),
            greater(swap, shifted, "test_acc", "Tanh swap test acc > shifted Tanh convention")]


@claims("skewness_drives_accuracy")
def _skewness_drives_accuracy(groups: list[Group]) -> list[Check]:
    return [
        correlation(groups, lambda g: _mean(g, "avg_skewness"), lambda g: _mean(g, "test_acc"),
                    +1, "test acc rises with avg skewness", "positive (Figure 5)"),
        correlation(groups, lambda g: g.keys.get("bn_beta_wd"),
                    lambda g: _mean(g, "avg_skewness"), -1,
                    "avg skewness falls as beta weight decay grows", "negative (Figure 5)"),
    ]


@claims("sparsity_drives_accuracy")
def _sparsity_drives_accuracy(groups: list[Group]) -> list[Check]:
    return [correlation(groups, lambda g: _mean(g, "avg_sparsity"),
                        lambda g: _mean(g, "test_acc"), +1, "test acc rises with avg sparsity",
                        "positive (Figures 7, 18)")]


@claims("best_depth")
def _best_depth(groups: list[Group]) -> list[Check]:
    pts = [(g.keys["depth"], _mean(g, "test_acc")) for g in claimable(groups)]
    pts = sorted((d, a) for d, a in pts if d is not None and a is not None)
    if len(pts) < 3:
        best = Check("best depth lies strictly between the shallowest and deepest",
                     "11 of 8..16 (Table 7)", f"{len(pts)} depths", MISSING)
    else:
        d_best = max(pts, key=lambda p: p[1])[0]
        best = Check("best depth lies strictly between the shallowest and deepest",
                     "11 of 8..16 (Table 7)", f"{d_best} of {pts[0][0]}..{pts[-1][0]}",
                     verdict_of(pts[0][0] < d_best < pts[-1][0]))
    keys = {"dataset": "cifar100", "act": "tanh", "order": "swap"}
    return [best, greater(find(groups, depth=11), find(groups, depth=16), "test_acc",
                          "vgg16_11 test acc > vgg16",
                          (published_value("test_acc", "Table 7", arch="vgg16_11", **keys),
                           published_value("test_acc", "Table 7", arch="vgg16", **keys)))]


@claims("bn_against_nobn")
def _bn_against_nobn(groups: list[Group]) -> list[Check]:
    conv = find(groups, order="convention")
    nobn = find(groups, arch=conv.keys["arch"] if conv else "vgg16", order="nobn")
    keys = {"dataset": "cifar100", "arch": "vgg16", "act": "tanh"}
    return [
        greater(conv, nobn, "test_acc", "convention test acc > NoBN",
                (published_value("test_acc", **keys, order="convention"),
                 published_value("test_acc", **keys, order="nobn"))),
        greater(nobn, conv, "avg_skewness", "NoBN avg skewness > convention (Figure 10)",
                digits=3),
    ]


def directions(experiment: str, groups: list[Group]) -> list[Check]:
    """The paper's claims about one experiment, checked on its runs ([] if it makes none)."""
    known = find_experiment(experiment)
    return [c for name in (known.claims if known else ()) for c in CLAIMS[name](groups)]
