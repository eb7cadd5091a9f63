"""Whether a variant of a scale changes its conclusions: the same settings run at the cpu scale
and at one of its variants (cpu-bf16: bf16 autocast; cpu-shared: one shared recipe), side by
side.

For each setting run at both, each model-level number is compared with the 95% Welch interval
of its difference over seeds (swapbn.intervals). A variant *changes a conclusion* when a claim's
verdict differs between the two (where the variant ran one seed, and so resolves nothing, when
the sign of the claim's difference differs), or when a mean moves by more than twice the
reference scale's standard deviation over seeds (docs/results.md applies this to bf16).
"""

from __future__ import annotations

from ..intervals import welch
from .aggregate import Group, selected
from .directions import Check

METRICS = (("test_acc", "test acc (%)", 2), ("avg_skewness", "avg skewness", 3),
           ("avg_sparsity", "avg sparsity", 3), ("avg_saturation", "avg saturation", 3))
MOVE_SDS = 2.0  # a mean moved by more than this many reference standard deviations
OTHERWISE = {True: "**yes**", False: "no", None: "— (not judged yet)"}


def moved(ref: Group, other: Group, metric: str) -> bool | None:
    """Whether other's mean lies more than MOVE_SDS reference standard deviations from the
    reference mean (None without two reference seeds)."""
    a, b = ref.summary(metric), other.summary(metric)
    if a.std is None or b.mean is None:
        return None
    return abs(b.mean - a.mean) > MOVE_SDS * a.std


def changed_verdict(ref: Check, other: Check) -> bool | None:
    """Whether the variant's claim comes out otherwise: its verdict, or, where a side ran a
    single seed (no interval, so nothing resolves), the sign of the difference. None while
    either cannot judge it (a side not run yet, or at chance)."""
    if ref.holds is None or other.holds is None:
        return None
    a, b = ref.difference, other.difference
    one_seed = b is not None and min(b.n_a, b.n_b) < 2
    if one_seed and a is not None and a.diff is not None and b.diff is not None:
        return (a.diff > 0) != (b.diff > 0)
    return ref.verdict != other.verdict


def markdown_scale_check(experiment: str, ref: list[Group], other: list[Group],
                         ref_checks: list[Check], other_checks: list[Check],
                         scale: str, reference: str) -> list[str]:
    """The comparison's lines, ending with whether the variant changed a conclusion."""
    rows = [f"| setting | metric | {reference} | {scale} | {scale} − {reference} "
            f"[95% interval] | moved > {MOVE_SDS:g} sd |", "|---|---|---|---|---|---|"]
    moves: list[bool] = []  # per compared mean: moved by more than MOVE_SDS?
    theirs = {g.variant: g for g in selected(other)}
    for g in selected(ref):
        h = theirs.get(g.variant)
        if h is None:
            continue
        for metric, label, digits in METRICS:
            a, b = g.summary(metric), h.summary(metric)
            if a.n == 0 or b.n == 0:
                continue
            d = welch(h.values(metric), g.values(metric))
            m = moved(g, h, metric)
            if m is not None:
                moves.append(m)
            rows.append(f"| {g.variant} | {label} | {a.text(digits)} | {b.text(digits)} | "
                        f"{d.interval_text()} | {'—' if m is None else 'yes' if m else 'no'} |")
    theirs_checks = {o.claim: o for o in other_checks}
    pairs = [(c, theirs_checks[c.claim]) for c in ref_checks if c.claim in theirs_checks]
    judged = {c.claim: changed_verdict(c, o) for c, o in pairs}
    verdicts = [f"| {c.claim} | {c.interval or '—'} {c.verdict} | {o.interval or '—'} "
                f"{o.verdict} | {OTHERWISE[judged[c.claim]]} |" for c, o in pairs]
    otherwise = sum(bool(v) for v in judged.values())
    compared = sum(v is not None for v in judged.values())
    lines = [f"### {experiment}: {scale} against {reference}", "", *rows, ""]
    if verdicts:
        lines += [f"| paper's claim | {reference} | {scale} | comes out otherwise |",
                  "|---|---|---|---|", *verdicts, ""]
    changed = bool(otherwise) or any(moves)
    waiting = len(pairs) - compared  # claims a side cannot judge yet
    verb = "changes" if changed else "has not changed" if waiting else "does not change"
    lines += [f"{scale} {verb} a conclusion of {experiment} here: {otherwise} of {compared} "
              f"claims judged come out otherwise"
              + (f" ({waiting} not judged yet)" if waiting else "")
              + f", and {sum(moves)} of {len(moves)} means moved by more than {MOVE_SDS:g} "
              f"standard deviations of {reference}'s seeds.", ""]
    return lines

