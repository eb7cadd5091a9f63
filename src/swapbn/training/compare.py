"""Train the same recipe in several orders and seeds, and summarise accuracy and the paper's
three measures (saturation, skewness, sparsity) per order.

`nwdbn` is accepted as a pseudo-order: the convention order with no weight decay on BN.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ..atomic import refuse_link, write_json, write_text
from ..errors import UsageError, quoted, shown_path
from ..intervals import Summary, welch
from .config import TrainConfig
from .loop import train
from .progress import overall_text

COMPARE_ORDERS: tuple[str, ...] = ("convention", "swap", "nwdbn", "nobn")
MEASURES: tuple[str, ...] = ("avg_saturation", "avg_skewness", "avg_sparsity")
COMPARE = "compare"  # tags.experiment of its runs: reports group and draw them as one
COMPARE_JSON = "compare.json"
COMPARE_MD = "compare.md"


def check_orders(orders: Sequence[str]) -> list[str]:
    for order in orders:
        if order not in COMPARE_ORDERS:
            raise UsageError(f"unknown order {quoted(order)}; choose from {', '.join(COMPARE_ORDERS)}")
    if len(set(orders)) != len(orders) or not orders:
        raise UsageError(f"orders must be distinct and at least one, got {','.join(orders)}")
    return list(orders)


def order_config(base: TrainConfig, order: str, seed: int) -> TrainConfig:
    """The resolved config of one comparison run."""
    if order == "nwdbn":
        config = base.replace(order="convention", nwdbn=True)
    else:
        config = base.replace(order=order)
    tags = {**base.tags, "experiment": COMPARE, "variant": order}
    return config.replace(seed=seed, tags=tags).resolve()


def run_name(order: str, seed: int) -> str:
    return f"{order}-s{seed}"


def summarize(runs: list[dict], orders: Sequence[str]) -> list[dict]:
    """Per order: accuracy mean and sample std over completed seeds, mean model averages."""
    rows = []
    for order in orders:
        mine = [r for r in runs if r["order"] == order]
        done = [r for r in mine if r["status"] == "completed"]
        acc = Summary.of(r["final_test_acc"] for r in done)
        row = {"order": order, "runs": len(mine), "completed": len(done),
               "test_acc_mean": acc.mean, "test_acc_std": acc.std,
               "best_test_acc_mean": Summary.of(r["best_test_acc"] for r in done).mean}
        for key in MEASURES:
            row[key] = Summary.of(r[key] for r in done).mean
        rows.append(row)
    return rows


def reference_order(orders: Sequence[str]) -> str:
    """The order the others are compared with: convention when it runs, else the first."""
    return "convention" if "convention" in orders else orders[0]


def differences(runs: list[dict], orders: Sequence[str]) -> list[dict]:
    """Each order minus the reference order, per measure, over completed seeds: the difference,
    its 95% Welch interval, the verdict and the seeds per order a power estimate asks for
    (swapbn.intervals)."""
    ref = reference_order(orders)

    def values(order: str, key: str) -> list[float | None]:
        return [r[key] for r in runs if r["order"] == order and r["status"] == "completed"]

    rows = []
    for order in orders:
        if order == ref:
            continue
        for key in ("final_test_acc", *MEASURES):
            d = welch(values(order, key), values(ref, key))
            rows.append({"order": order, "reference": ref, "measure": key, **d.to_dict(),
                         "interval": d.interval_text(), "seeds_to_resolve": d.seeds_text()})
    return rows


def differences_table(rows: list[dict], markdown: bool = False) -> str:
    """The differences as aligned text or a markdown table."""
    head = ["difference", "measure", "value [95% interval]", "verdict", "seeds to resolve"]
    body = [[f"{r['order']} - {r['reference']}", r["measure"], r["interval"], r["verdict"],
             r["seeds_to_resolve"]] for r in rows]
    return _layout(head, body, markdown)


def _layout(head: list[str], body: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in [head, *body])


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict], markdown: bool = False) -> str:
    """The summary as aligned text or a markdown table."""
    head = ["order", "test acc (%)", "avg saturation", "avg skewness", "avg sparsity", "runs"]
    body = []
    for r in rows:
        acc = ("-" if r["test_acc_mean"] is None else f"{r['test_acc_mean']:.2f}" + (
            "" if r["test_acc_std"] is None else f" ± {r['test_acc_std']:.2f}"))
        body.append([r["order"], acc, _fmt(r["avg_saturation"]), _fmt(r["avg_skewness"]),
                     _fmt(r["avg_sparsity"]), f"{r['completed']}/{r['runs']}"])
    return _layout(head, body, markdown)


def compare(base: TrainConfig, orders: Sequence[str], seeds: Sequence[int], out_dir: str | Path,
            *, progress: bool = True, force: bool = False,
            stream: TextIO | None = None, tensorboard: str | Path | None = None) -> dict:
    """Train every (order, seed) into OUT/<order>-s<seed>/ and write compare.json and compare.md.

    Finished runs with the same configuration are reused; interrupted ones are resumed.
    `tensorboard`: "" writes each run's events inside its run directory, a folder DIR into
    DIR/<order>-s<seed>; either way one TensorBoard run per order and seed, so they overlay.
    """
    stream = stream if stream is not None else sys.stdout
    orders = check_orders(list(orders))
    if not seeds:
        raise UsageError("give at least one seed")
    configs = [(o, s, order_config(base, o, s)) for o in orders for s in seeds]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    started = time.perf_counter()
    for i, (order, seed, config) in enumerate(configs, 1):
        run_dir = out / run_name(order, seed)
        board = (None if tensorboard is None else
                 Path(tensorboard) / run_name(order, seed) if str(tensorboard) else "")
        if progress:
            print(overall_text(i, len(configs), f"{order} seed {seed} -> {shown_path(run_dir)}",
                               time.perf_counter() - started, i - 1), file=stream, flush=True)
        refuse_link(run_dir)  # folders compare names itself are never links
        if board:
            refuse_link(board)
        final = train(config, run_dir, progress=progress, resume=True, force=force,
                      stream=stream, tensorboard=board)
        stats = final.stats or {}
        runs.append({"order": order, "seed": seed, "dir": run_dir.name,
                     "status": final.status, "final_test_acc": final.final_test_acc,
                     "best_test_acc": final.best_test_acc, "seconds": final.seconds,
                     **{k: stats.get(k) for k in MEASURES}})
        if progress:
            acc = final.final_test_acc
            result = f"test {acc:.2f}%" if final.status == "completed" else final.status
            print(f"      {order:<10} seed {seed}: {result} "
                  f"({final.seconds:.1f} s)", file=stream, flush=True)
    rows = summarize(runs, orders)
    diffs = differences(runs, orders) if len(orders) > 1 else []
    record = {"config": {k: v for k, v in configs[0][2].to_dict().items()
                         if k not in ("order", "seed", "nwdbn", "tags")},
              "orders": orders, "seeds": list(seeds), "summary": rows, "differences": diffs,
              "runs": runs, "seconds": time.perf_counter() - started}
    write_json(out / COMPARE_JSON, record)
    c = configs[0][2]
    recipe = ("the paper's recipe per order" if c.preset else
              f"lr {c.lr:g}, weight decay {c.wd:g}, {c.epochs} epochs, batch {c.batch_size}")
    subset = f", {c.train_subset} training images" if c.train_subset else ""
    header = (f"# {c.arch} {c.act} on {c.dataset}: {', '.join(orders)}\n\n"
              f"Width {c.width:g}, {recipe}{subset}, seeds {', '.join(map(str, seeds))}; "
              "test accuracy mean ± std over seeds, model averages of the paper's measures "
              "on the test split.\n\n")
    body = table(rows, markdown=True) + "\n"
    if diffs:
        body += ("\nDifferences over seeds with their 95% Welch interval: holds (above 0), "
                 "opposite (below 0) or not resolved (contains 0).\n\n"
                 + differences_table(diffs, markdown=True) + "\n")
    write_text(out / COMPARE_MD, header + body)
    return record
