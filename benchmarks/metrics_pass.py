"""One-pass measure() against the paper's multi-pass algorithms and a plain evaluation pass.

All three run on the same model and the same batches, interleaved over several rounds, and
the ratios of their median times are printed (timings on a shared machine are noisy; the
ratios are what to compare).

    python benchmarks/metrics_pass.py                     # random CIFAR-shaped data
    python benchmarks/metrics_pass.py --images 4096 --threads 2
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

import torch

from swapbn import build_model
from swapbn.metrics import measure

ROOT = Path(__file__).resolve().parents[1]


def paper_algorithms():
    """The literal implementation of Algorithms 1 and 2 used by the tests."""
    spec = importlib.util.spec_from_file_location("paper_algorithms",
                                                  ROOT / "tests" / "test_metrics_paper.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.paper_metrics


def plain_eval(model, batches) -> None:
    model.eval()
    with torch.no_grad():
        for x in batches:
            model(x)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="vgg16_11")
    p.add_argument("--act", default="tanh")
    p.add_argument("--order", default="swap")
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--images", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(args.arch, num_classes=10, act=args.act, order=args.order,
                        width=args.width)
    with torch.no_grad():  # BN statistics of a trained model rather than the identity
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.05, 0.5)
    batches = list(torch.randn(args.images, 3, 32, 32).split(args.batch_size))
    paper_metrics = paper_algorithms()
    methods = {
        "plain eval": lambda: plain_eval(model, batches),
        "measure (one pass)": lambda: measure(model, batches),
        "paper (multi-pass)": lambda: paper_metrics(model, batches),
        "paper, float32": lambda: paper_metrics(model, batches, torch.float32),
    }
    plain_eval(model, batches[:1])  # warm-up
    times: dict[str, list[float]] = {k: [] for k in methods}
    for _ in range(args.rounds):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.arch} width {args.width} {args.act} {args.order}, {args.images} images of "
          f"3x32x32, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"median of {args.rounds} rounds")
    for name, t in med.items():
        print(f"  {name:<20} {t:8.2f} s   {args.images / t:8.0f} images/s")
    print(f"  multi-pass (float64) / one-pass {med['paper (multi-pass)'] / med['measure (one pass)']:.2f}x")
    print(f"  multi-pass float32 / one-pass "
          f"{med['paper, float32'] / med['measure (one pass)']:.2f}x")
    print(f"  one-pass / plain eval     {med['measure (one pass)'] / med['plain eval']:.2f}x")


if __name__ == "__main__":
    main()
