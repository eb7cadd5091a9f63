"""What measuring costs next to a plain evaluation: one-pass measure() (PyTorch's reductions and
the fused, compiled ones), with the channel samples, and a run's whole final record (measure,
channel samples, gradient probes), each against the same evaluation of the test split; and
measure() against the paper's multi-pass algorithms on the first `--paper-images` images.

By default the data are the real CIFAR-10 test split (the shared ../shared tarball, extracted
once as benchmarks/data_pipeline.py does) read by swapbn's loader, and the model is in
channels_last as a trained run leaves it; without the tarball, or with --data random, random
CIFAR-shaped images stand in. Every method runs on the same model and batches, interleaved
chunk by chunk (the speed of a shared machine drifts by up to 2x over minutes; each method
then sees the same drift), over several rounds, and the ratios of their fastest rounds are
printed (other jobs only ever add time), the median beside them. A run's final record is
measure with the channel samples over the split (one sampler across the chunks) plus the
gradient probes (four training batches); `final_records` is also timed end to end once.
Last, the statistics alone: forward passes with measure's per-point statistics (default and
fused) against forward passes without them, batch by batch in turn. The fused kernels are compiled before
the rounds; their compile time is printed on its own.

    python benchmarks/metrics_pass.py                     # CIFAR-10 test split if present
    python benchmarks/metrics_pass.py --data random --images 2048 --threads 2
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
from swapbn.data import load_dataset
from swapbn.fx import resolve_points
from swapbn.metrics import ChannelSampler, Hooks, PointObserver, gradient_probes, measure
from swapbn.rundir import RunDir
from swapbn.training.fast import in_memory_format
from swapbn.training.loop import evaluate
from swapbn.training.records import CHANNELS_PER_LAYER, VALUES_PER_CHANNEL, final_records

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_pipeline import TARBALL, default_root  # noqa: E402
from results import record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def paper_algorithms():
    """The literal implementation of Algorithms 1 and 2 used by the tests."""
    spec = importlib.util.spec_from_file_location("paper_algorithms",
                                                  ROOT / "tests" / "test_metrics_paper.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.paper_metrics


class RandomImages:
    """The part of a swapbn data set the benchmark reads, over fixed random images."""

    def __init__(self, images: int) -> None:
        self.train = self.test = torch.randn(images, 3, 32, 32)
        self.labels = torch.randint(0, 10, (images,))

    def loader(self, split, batch_size, *, train, device, seed=0, drop_last=False):
        return list(zip(self.test.split(batch_size), self.labels.split(batch_size),
                        strict=True))


def trained_like(model: torch.nn.Module) -> None:
    """BN statistics of a trained model rather than the identity."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.05, 0.5)


def statistics_per_batch(model: torch.nn.Module, inputs: list[torch.Tensor],
                         rounds: int) -> dict[str, float]:
    """Forward passes with measure's hooks (default and fused statistics; without its setup)
    over forward passes without them, each batch timed under the three in turn."""
    points = resolve_points(model)
    observers = {fused: [PointObserver(p, fused=fused) for p in points] for fused in (False, True)}
    spent = {None: 0.0, False: 0.0, True: 0.0}
    model.eval()
    with torch.no_grad():
        for _ in range(rounds):
            for x in inputs:
                for fused in spent:
                    with Hooks() as hooks:
                        for observer in observers.get(fused, []):
                            observer.attach(hooks)
                        start = time.perf_counter()
                        model(x)
                        spent[fused] += time.perf_counter() - start
    return {("fused" if k else "default"): v / spent[None] for k, v in spent.items()
            if k is not None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--arch", default="vgg16_11")
    p.add_argument("--act", default="tanh")
    p.add_argument("--order", default="swap")
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--data", choices=("cifar10", "random"), default=None,
                   help="cifar10 (the default when the shared tarball is there) or random")
    p.add_argument("--images", type=int, default=None,
                   help="test images (default: the whole CIFAR-10 test split, 2048 random)")
    p.add_argument("--paper-images", type=int, default=1024,
                   help="images for the paper's multi-pass algorithms (default 1024)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--per-batch", type=int, default=12,
                   help="batches for the per-batch timing of the statistics (default 12)")
    p.add_argument("--chunk", type=int, default=1024,
                   help="images timed under every method in turn (default 1024)")
    p.add_argument("--nchw", action="store_true", help="the model in NCHW, not channels_last")
    p.add_argument("--train-batch-size", type=int, default=64,
                   help="the run's batch size: the final record's gradient probes take 4 "
                        "training batches (default 64, the small-run default)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    kind = args.data or ("cifar10" if TARBALL.is_file() else "random")
    if kind == "cifar10":
        data = load_dataset("cifar10", default_root())
        if args.images:
            data.test = data.test.subset(torch.arange(args.images))
    else:
        data = RandomImages(args.images or 2048)
    torch.manual_seed(0)
    model = build_model(args.arch, num_classes=10, act=args.act, order=args.order,
                        width=args.width)
    trained_like(model)
    if not args.nchw:
        model.to(memory_format=torch.channels_last)
    cpu = torch.device("cpu")
    loader = data.loader("test", args.batch_size, train=False, device=cpu)
    batches = list(loader)  # (images, labels) pairs
    # chunks of the split, each timed under every method in turn: the machine's speed drifts
    # by up to 2x over minutes, and each method then sees the same drift
    step = max(1, args.chunk // args.batch_size)
    chunks = [batches[i:i + step] for i in range(0, len(batches), step)]
    paper_chunks = -(-args.paper_images // (step * args.batch_size))
    paper_metrics = paper_algorithms()
    train_loader = data.loader("train", args.train_batch_size, train=True, device=cpu, seed=0,
                               drop_last=True)
    folder = tempfile.TemporaryDirectory()
    run = RunDir(folder.name)

    def sampled(chunk, fused: bool) -> None:
        measure(model, chunk, also=(samplers[fused],), fused=fused)

    def plain_eval(chunk) -> None:
        evaluate(model, in_memory_format(chunk, not args.nchw), cpu, False)

    methods = {
        "plain eval": plain_eval,
        "measure": lambda chunk: measure(model, chunk),
        "measure, fused": lambda chunk: measure(model, chunk, fused=True),
        "measure + samples": lambda chunk: sampled(chunk, False),
        "measure + samples, fused": lambda chunk: sampled(chunk, True),
    }
    paper = {
        "measure, first images": lambda chunk: measure(model, chunk),
        "paper (multi-pass)": lambda chunk: paper_metrics(model, [x for x, _ in chunk]),
        "paper, float32": lambda chunk: paper_metrics(model, [x for x, _ in chunk],
                                                      torch.float32),
    }
    start = time.perf_counter()
    measure(model, batches[:2], fused=True)  # compiles the fused kernels
    compile_s = time.perf_counter() - start
    plain_eval(batches[:2])  # warm-up
    totals: dict[str, list[float]] = {k: [] for k in (*methods, *paper, "gradient probes")}

    def clock(fn, *a) -> float:
        start = time.perf_counter()
        fn(*a)
        return time.perf_counter() - start

    for _ in range(args.rounds):
        samplers = {f: ChannelSampler(channels=CHANNELS_PER_LAYER, max_values=VALUES_PER_CHANNEL)
                    for f in (False, True)}  # one stream over the whole split, as in a run
        spent = dict.fromkeys(totals, 0.0)
        for i, chunk in enumerate(chunks):
            for name, fn in methods.items():
                spent[name] += clock(fn, chunk)
            if i < paper_chunks:
                for name, fn in paper.items():
                    spent[name] += clock(fn, chunk)
        for fused, sampler in samplers.items():
            spent["measure + samples" + ", fused" * fused] += clock(sampler.result)
        spent["gradient probes"] = clock(gradient_probes, model, train_loader)
        for name, t in spent.items():
            totals[name].append(t)
    # The statistics alone: each batch's forward pass with no statistics, the default ones
    # and the fused ones, one after the other (the drift of the machine cancels batch by batch)
    per_batch = statistics_per_batch(model, [x for x, _ in batches[:args.per_batch]],
                                     args.rounds)
    # a whole run's final record, for the record: final_records on the split, end to end
    whole = {f: clock(final_records, model, data, cpu, args.train_batch_size, 0, run, f)
             for f in (False, True)}
    med = {k: min(v) for k, v in totals.items()}
    middle = {k: statistics.median(v) for k, v in totals.items()}
    for m in (med, middle):
        m["final record"] = m["measure + samples"] + m["gradient probes"]
        m["final record, fused"] = m["measure + samples, fused"] + m["gradient probes"]
    images = len(data.test)
    layout = "NCHW" if args.nchw else "channels_last"
    print(f"{args.arch} width {args.width} {args.act} {args.order} ({layout}), {images} {kind} "
          f"test images, batch {args.batch_size}, {torch.get_num_threads()} threads, fastest "
          f"of {args.rounds} rounds; the paper's algorithms on the first {args.paper_images}")
    print(f"  fused kernels compiled in {compile_s:.1f} s (once per process); final_records "
          f"end to end once: {whole[False]:.2f} s, fused {whole[True]:.2f} s")
    for name, t in med.items():
        print(f"  {name:<26} {t:8.2f} s   (median {middle[name]:.2f} s)")
    plain = med["plain eval"]
    ratios = {
        "measure / plain eval": med["measure"] / plain,
        "measure, fused / plain eval": med["measure, fused"] / plain,
        "measure + samples / plain eval": med["measure + samples"] / plain,
        "measure + samples, fused / plain eval": med["measure + samples, fused"] / plain,
        "final record / plain eval": med["final record"] / plain,
        "final record, fused / plain eval": med["final record, fused"] / plain,
        "paper (float64) / measure": med["paper (multi-pass)"] / med["measure, first images"],
        "paper (float32) / measure": med["paper, float32"] / med["measure, first images"],
    }
    ratios.update({f"per batch: forward + {k} statistics / forward": v
                   for k, v in per_batch.items()})
    for name, ratio in ratios.items():
        print(f"  {name:<50} {ratio:.2f}x")
    record(f"metrics_pass: {args.arch} width {args.width} {layout}, {images} {kind} test "
           f"images (fused kernels compiled in {compile_s:.0f} s)", ratios)
    folder.cleanup()


if __name__ == "__main__":
    main()
