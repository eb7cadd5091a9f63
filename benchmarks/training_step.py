"""Training throughput with and without channels_last, bf16 autocast and torch.compile, side by
side in one process on the same model, batches and optimizer settings (swapbn.training.fast).
The bf16 line tells whether this machine's CPU computes bf16 natively (`--precision auto` picks
bf16 only where PyTorch reports it does) or emulates it.

    python benchmarks/training_step.py [--device cpu] [--steps 20] [--no-compile]

The compiled model's first steps (compilation: about two minutes on 2 CPU cores) are timed
apart and left out of its images per second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from swapbn import build_model
from swapbn.training.fast import autocast, native_cpu_bf16, prepare_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402


def setup(args, *, channels_last: bool, compile: bool):
    torch.manual_seed(0)
    model = build_model(args.arch, num_classes=10, act=args.act, order=args.order,
                        width=args.width).to(args.device)
    step_model = prepare_model(model, channels_last=channels_last, compile=compile)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return step_model, opt


def steps(model, opt, batches, channels_last: bool, bf16: bool = False) -> float:
    """Seconds for one SGD step per batch (synchronised at the end on CUDA)."""
    model.train()
    start = time.perf_counter()
    for x, y in batches:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(x.device, bf16):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--arch", default="vgg16_11")
    p.add_argument("--act", default="tanh")
    p.add_argument("--order", default="swap")
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-compile", dest="compile", action="store_false")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(args.batch_size, 3, 32, 32, generator=g).to(args.device),
                torch.randint(0, 10, (args.batch_size,), generator=g).to(args.device))
               for _ in range(args.steps)]
    # name: (channels_last, compile, bf16)
    variants = {"float32": (False, False, False), "channels_last": (True, False, False),
                "bf16": (True, False, True)}
    if args.compile:
        variants["compiled"] = (False, True, False)
    prepared, warmup = {}, {}
    for name, (cl, comp, bf16) in variants.items():
        prepared[name] = setup(args, channels_last=cl, compile=comp)
        warmup[name] = steps(*prepared[name], batches[:2], cl, bf16)  # compilation happens here
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, (cl, _comp, bf16) in variants.items():
            times[name].append(steps(*prepared[name], batches, cl, bf16))
    images = args.steps * args.batch_size
    rate = {k: images / statistics.median(v) for k, v in times.items()}
    native = native_cpu_bf16() if args.device == "cpu" else None
    print(f"{args.arch} width {args.width}, batch {args.batch_size}, {args.steps} steps, "
          f"{args.device}, {torch.get_num_threads()} threads, median of {args.rounds} rounds"
          + ("" if native is None else f"; native bf16: {'yes' if native else 'no'} "
             f"({torch.backends.cpu.get_cpu_capability()})"))
    for name in variants:
        print(f"  {name:<14} {rate[name]:8.0f} images/s   (first 2 steps {warmup[name]:.1f} s)")
    ratios = {f"{k} / float32 training": rate[k] / rate["float32"]
              for k in variants if k != "float32"}
    for name, ratio in ratios.items():
        print(f"  {name:<32} {ratio:.2f}x")
    ratios["bf16 / channels_last float32 training"] = rate["bf16"] / rate["channels_last"]
    print(f"  {'bf16 / channels_last float32':<32} "
          f"{ratios['bf16 / channels_last float32 training']:.2f}x")
    record(f"training_step: {args.arch} width {args.width}, batch {args.batch_size}, "
           f"{args.device}" + ("" if native is None else
                               f", native bf16 {'yes' if native else 'no'}"), ratios)


if __name__ == "__main__":
    main()
