"""Training images per second of one model in each precision, the projected time of the
paper's 200-epoch CIFAR run, and what measuring the test split costs next to evaluating it;
`benchmarks/gpu_check.sh` runs it on a lent GPU.

    python benchmarks/gpu_speed.py --data-root ../shared/data/cifar10-jpeg.tar.gz --out DIR

Each variant (float32/TF32, bf16 autocast, compiled) trains the same model from the same
initialisation for `--steps` timed SGD steps after `--warmup` untimed ones (cuDNN autotuning,
compilation), with the data held on the device as training holds it. The projection counts
training steps only: epochs x training images / images per second. Then the model's test
split is evaluated, measured (`measure`) and measured with the fused kernels (compiled on two
batches first; the compile time is recorded on its own), and the ratios to the evaluation
are recorded (`--measure-images 0` skips this).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from swapbn import build_model
from swapbn.data import load_dataset
from swapbn.metrics import measure
from swapbn.training.fast import backend_settings, compute_mode, in_memory_format, prepare_model
from swapbn.training.loop import evaluate

PAPER_EPOCHS = 200  # the paper's CIFAR recipe (Table 3)
CIFAR_TRAIN_IMAGES = 50_000
VARIANTS = ("tf32", "bf16", "compiled")


def projected_seconds(images_per_s: float, *, epochs: int = PAPER_EPOCHS,
                      train_images: int = CIFAR_TRAIN_IMAGES) -> float:
    """Seconds of `epochs` passes over `train_images` at `images_per_s` (training steps)."""
    if not images_per_s > 0:
        raise ValueError(f"images per second must be positive, got {images_per_s}")
    return epochs * train_images / images_per_s


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h"


def time_variant(name: str, args, data, device: torch.device) -> dict:
    """Images per second of one variant (synchronised before each clock read on CUDA)."""
    torch.manual_seed(0)
    model = build_model(args.arch, num_classes=data.num_classes, act="tanh", order="swap",
                        width=args.width, in_channels=data.in_channels,
                        image_size=data.image_size).to(device)
    step_model = prepare_model(model, channels_last=device.type == "cuda",
                               compile=name == "compiled")
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    amp = name == "bf16"
    loader = in_memory_format(data.loader("train", args.batch_size, train=True, device=device,
                                          seed=0, drop_last=True), device.type == "cuda")
    batches = iter(loader)
    model.train()

    def run(steps: int) -> tuple[float, int]:
        nonlocal batches
        seen = 0
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            try:
                x, y = next(batches)
            except StopIteration:
                batches = iter(loader)
                x, y = next(batches)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(step_model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += y.shape[0]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start, seen

    with backend_settings(device, deterministic=False):
        warm_s, _ = run(args.warmup)
        seconds, seen = run(args.steps)
    rate = seen / seconds
    return {"variant": name, "precision": compute_mode(device, bf16=amp, deterministic=False),
            "images_per_s": rate, "warmup_s": warm_s,
            "projected_paper_cifar_s": projected_seconds(rate)}


def time_measure(args, data, device: torch.device) -> dict:
    """Seconds to evaluate, measure and measure fused the first `--measure-images` test images
    with the model in the training layout (synchronised before each clock read on CUDA)."""
    torch.manual_seed(0)
    model = build_model(args.arch, num_classes=data.num_classes, act="tanh", order="swap",
                        width=args.width, in_channels=data.in_channels,
                        image_size=data.image_size).to(device)
    prepare_model(model, channels_last=device.type == "cuda", compile=False)
    images = min(args.measure_images, len(data.test))
    data.test = data.test.subset(torch.arange(images))
    loader = data.loader("test", 256, train=False, device=device)

    def clock(fn) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    with backend_settings(device, deterministic=False):
        evaluate(model, loader, device, False)  # warm-up (cuDNN autotuning)
        first = [x for x, _ in loader][:2]
        compile_s = clock(lambda: measure(model, first, device=device, fused=True))
        seconds = {"evaluate": clock(lambda: evaluate(model, loader, device, False)),
                   "measure": clock(lambda: measure(model, loader, device=device)),
                   "measure_fused": clock(lambda: measure(model, loader, device=device,
                                                          fused=True))}
    return {"images": images, "seconds": seconds, "fused_compile_s": compile_s,
            "measure_over_evaluate": seconds["measure"] / seconds["evaluate"],
            "fused_over_evaluate": seconds["measure_fused"] / seconds["evaluate"]}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--data-root", default=None)
    p.add_argument("--arch", default="vgg16_11")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--device", default="cuda")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated subset of {', '.join(VARIANTS)}")
    p.add_argument("--measure-images", type=int, default=10_000,
                   help="test images for the measure timing (default 10000; 0 skips it)")
    p.add_argument("--out", type=Path, default=None, help="write gpu_speed.json here")
    args = p.parse_args(argv)
    args.variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown or not args.variants:
        p.error(f"unknown variants {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(VARIANTS)}")
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 2 or args.measure_images < 0:
        p.error("--steps must be at least 1, --warmup and --measure-images at least 0, "
                "--batch-size at least 2")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: no CUDA device here")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    device = torch.device(args.device)
    data = load_dataset(args.dataset, args.data_root)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    results = []
    for variant in args.variants:
        if variant == "bf16" and device.type != "cuda":
            continue  # autocast bf16 is the CUDA path (run_device refuses --amp elsewhere)
        r = time_variant(variant, args, data, device)
        results.append(r)
        print(f"{variant:<9} {r['precision']:<14} {r['images_per_s']:9.0f} images/s   "
              f"paper CIFAR run ({PAPER_EPOCHS} epochs): {hours(r['projected_paper_cifar_s'])}"
              f"   (warm-up {r['warmup_s']:.1f} s)", flush=True)
    record = {"device": name, "torch": torch.__version__, "arch": args.arch,
              "width": args.width, "dataset": args.dataset, "image_size": data.image_size,
              "batch_size": args.batch_size, "steps": args.steps,
              "date": time.strftime("%Y-%m-%d", time.gmtime()), "results": results}
    if args.measure_images:
        m = time_measure(args, data, device)
        record["measure"] = m
        print(f"test split ({m['images']} images): evaluate {m['seconds']['evaluate']:.2f} s, "
              f"measure {m['measure_over_evaluate']:.2f}x, fused "
              f"{m['fused_over_evaluate']:.2f}x (compiled in {m['fused_compile_s']:.1f} s)",
              flush=True)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_speed.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
