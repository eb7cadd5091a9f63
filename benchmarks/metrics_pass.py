"""One-pass measure() against the paper's multi-pass algorithms and a plain evaluation pass;
measure with the channel samples, and a run's whole final record (measure, channel samples,
gradient probes), against the same plain evaluation.

All of them run on the same model and the same batches, interleaved over several rounds, and
the ratios of their median times are printed (timings on a shared machine are noisy; the
ratios are what to compare).

    python benchmarks/metrics_pass.py                     # random CIFAR-shaped data
    python benchmarks/metrics_pass.py --images 4096 --threads 2
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from swapbn import build_model
from swapbn.metrics import ChannelSampler, measure
from swapbn.rundir import RunDir
from swapbn.training.records import CHANNELS_PER_LAYER, VALUES_PER_CHANNEL, final_records

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402

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


class Batches:
    """The part of a swapbn data set final_records reads: loaders over fixed random batches."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> None:
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.train = self.test = images

    def loader(self, split, batch_size, *, train, device, seed=0, drop_last=False):
        return list(zip(self.images.split(batch_size), self.labels.split(batch_size),
                        strict=True))


def with_samples(model, batches) -> None:
    sampler = ChannelSampler(channels=CHANNELS_PER_LAYER, max_values=VALUES_PER_CHANNEL)
    measure(model, batches, also=(sampler,))
    sampler.result()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="vgg16_11")
    p.add_argument("--act", default="tanh")
    p.add_argument("--order", default="swap")
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--images", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--train-batch-size", type=int, default=64,
                   help="the run's batch size: the final record's gradient probes take 4 "
                        "training batches (default 64, the small-run default)")
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
    images = torch.cat(batches)
    data = Batches(images, torch.randint(0, 10, (len(images),)), args.batch_size)
    folder = tempfile.TemporaryDirectory()
    run = RunDir(folder.name)
    methods = {
        "plain eval": lambda: plain_eval(model, batches),
        "measure (one pass)": lambda: measure(model, batches),
        "measure + samples": lambda: with_samples(model, batches),
        "final record": lambda: final_records(model, data, torch.device("cpu"),
                                              args.train_batch_size, 0, run),
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
    plain = med["plain eval"]
    ratios = {
        "measure / plain eval": med["measure (one pass)"] / plain,
        "measure + samples / plain eval": med["measure + samples"] / plain,
        "final record / plain eval": med["final record"] / plain,
        "paper (float64) / measure": med["paper (multi-pass)"] / med["measure (one pass)"],
        "paper (float32) / measure": med["paper, float32"] / med["measure (one pass)"],
    }
    for name, ratio in ratios.items():
        print(f"  {name:<32} {ratio:.2f}x")
    record(f"metrics_pass: {args.arch} width {args.width}, {args.images} random 32x32 images",
           ratios)
    folder.cleanup()


if __name__ == "__main__":
    main()
