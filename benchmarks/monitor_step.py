"""What swapbn.Monitor costs a training step: steps it measures (due) and steps it only counts
(not due), against the same step with no Monitor, side by side in one process.

Every variant trains its own copy of one model (VGG16_11 in channels_last, as `swapbn train`
runs it) on the same batches; each batch is one SGD step under every variant in turn, in an
order that turns from batch to batch, so the drift of a shared machine's speed (up to 2x over
minutes) falls on all of them alike. The median of the step-by-step ratios is printed and
recorded (a busy machine spreads single steps over 2x), the ratio of the fastest steps beside.
A due step includes reading its window (`read()`, the metrics of one pass). The variants with
`find_points` use the observed graph (the path of models without swapbn blocks). Last, the
hooks' own cost on a not-due call, in microseconds, on a model too small to hide it.

    python benchmarks/monitor_step.py [--steps 8] [--rounds 2] [--no-fused]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from swapbn import Monitor, build_model, find_points
from swapbn.training.fast import prepare_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402

NEVER = 10 ** 12  # every: after the first (due) call, no call is due again


def step(model: torch.nn.Module, opt, x: torch.Tensor, y: torch.Tensor,
         monitor: Monitor | None) -> float:
    start = time.perf_counter()
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if monitor is not None and monitor.passes:
        monitor.read()
    return time.perf_counter() - start


def hook_microseconds(calls: int, rounds: int) -> tuple[float, float]:
    """Microseconds per forward call of a one-layer model: without a Monitor, and with one
    whose calls are not due (the pre-hook and the forward hook that count and return); the
    fastest of `rounds` runs of `calls` calls each, the two taking turns."""
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh())
    watched = copy.deepcopy(model)
    monitor = Monitor(watched, every=NEVER)
    x = torch.randn(2, 8)
    spent = {"plain": [], "monitor": []}
    with torch.no_grad():
        watched(x)  # the one due call
        for _ in range(rounds):
            for name, m in (("plain", model), ("monitor", watched)):  # in turn, many times
                start = time.perf_counter()
                for _ in range(calls):
                    m(x)
                spent[name].append((time.perf_counter() - start) / calls * 1e6)
    monitor.close()
    return min(spent["plain"]), min(spent["monitor"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="vgg16_11")
    p.add_argument("--act", default="tanh")
    p.add_argument("--order", default="swap")
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-fused", dest="fused", action="store_false")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(args.batch_size, 3, 32, 32, generator=g)
                .contiguous(memory_format=torch.channels_last),
                torch.randint(0, 10, (args.batch_size,), generator=g))
               for _ in range(args.steps)]
    torch.manual_seed(0)
    base = prepare_model(build_model(args.arch, num_classes=10, act=args.act, order=args.order,
                                     width=args.width), channels_last=True, compile=False)
    variants = {"plain": None, "not due": {"every": NEVER}, "due": {"every": 1},
                "find_points, not due": {"every": NEVER, "found": True},
                "find_points, due": {"every": 1, "found": True}}
    if args.fused:
        variants["due, fused"] = {"every": 1, "fused": True}
    runs = {}
    compile_s = 0.0
    for name, spec in variants.items():
        model = copy.deepcopy(base).train()
        monitor = None
        if spec is not None:
            points = find_points(model) if spec.get("found") else None
            monitor = Monitor(model, every=spec["every"], points=points,
                              fused=spec.get("fused", False))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        warm = step(model, opt, *batches[0], monitor)  # the first call is due everywhere
        if spec is not None and spec.get("fused"):
            compile_s = warm
        runs[name] = (model, opt, monitor)
    times: dict[str, list[float]] = {k: [] for k in variants}  # per step, slot by slot
    names = list(runs)
    for _ in range(args.rounds):
        for j, (x, y) in enumerate(batches):
            for name in names[j % len(names):] + names[:j % len(names)]:  # no fixed first
                model, opt, monitor = runs[name]
                times[name].append(step(model, opt, x, y, monitor))
    for _, _, monitor in runs.values():
        if monitor is not None:
            monitor.close()
    plain_us, hooked_us = hook_microseconds(2000, 50)
    fastest = {k: min(v) for k, v in times.items()}
    print(f"{args.arch} width {args.width} {args.act} {args.order} (channels_last), batch "
          f"{args.batch_size}, {args.steps} SGD steps x {args.rounds} rounds, cpu, "
          f"{torch.get_num_threads()} threads; fused kernels' first step {compile_s:.1f} s")
    for name in variants:
        print(f"  {name:<22} fastest step {fastest[name] * 1e3:7.1f} ms   "
              f"(median {statistics.median(times[name]) * 1e3:.1f} ms)")
    others = [k for k in variants if k != "plain"]
    ratios = {f"{k} / plain step": statistics.median(
        a / b for a, b in zip(times[k], times["plain"], strict=True)) for k in others}
    for k in others:
        print(f"  {k + ' / plain step':<36} {ratios[k + ' / plain step']:.2f}x   "
              f"(fastest steps {fastest[k] / fastest['plain']:.2f}x)")
    print(f"  a not-due call's hooks: {hooked_us - plain_us:.1f} us per forward call "
          f"({plain_us:.1f} us -> {hooked_us:.1f} us on a one-layer model)")
    record(f"monitor_step: {args.arch} width {args.width} channels_last, batch "
           f"{args.batch_size}, cpu (a not-due call's hooks {hooked_us - plain_us:.1f} us)",
           ratios)


if __name__ == "__main__":
    main()
