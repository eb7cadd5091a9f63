"""`swapbn compare` as an experiment: the registry's compare entry (one variant per order) on the
recipe the command's flags give, over the seeds it names, into OUT/<order>-s<seed>/.

Its runs are tagged {experiment: compare, variant: <order>}, so the sweep runner trains and
resumes them and `swapbn report` groups, averages and draws them as it does the paper's.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UsageError, quoted
from ..training.config import TrainConfig
from .registry import COMPARE, COMPARE_ORDERS, RunSpec, order_variants


def check_orders(orders: Sequence[str]) -> list[str]:
    for order in orders:
        if order not in COMPARE_ORDERS:
            raise UsageError(f"unknown order {quoted(order)}; choose from {', '.join(COMPARE_ORDERS)}")
    if len(set(orders)) != len(orders) or not orders:
        raise UsageError(f"orders must be distinct and at least one, got {','.join(orders)}")
    return list(orders)


def plan_compare(base: TrainConfig, orders: Sequence[str], seeds: Sequence[int]) -> list[RunSpec]:
    """Every (order, seed) of the comparison, orders first, as the sweep runner takes them."""
    orders = check_orders(orders)
    if not seeds:
        raise UsageError("give at least one seed")
    variants = {v.label: v for v in order_variants()}
    return [RunSpec(f"{order}-s{seed}",
                    {**base.to_dict(), **variants[order].overrides, "seed": int(seed),
                     "tags": {**base.tags, "experiment": COMPARE, "variant": order}},
                    label=f"{order} seed {seed}")
            for order in orders for seed in seeds]
