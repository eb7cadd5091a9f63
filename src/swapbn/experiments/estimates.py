"""Rough run-time estimates for `swapbn experiments`: model cost x images / measured speed.

The cost of a model is its multiply-accumulates per image, counted from its layer shapes. The
CPU speed is one measurement on the development machine (2 CPU cores, one thread per run); the
GPU speed is the fastest variant `benchmarks/gpu_check.sh` measured, when its gpu_speed.json is
stored beside this module, and otherwise there is no GPU estimate (no guessed factor). A bf16
run on a CPU that only emulates bf16 is timed at the speed measured for that too; on a CPU with
native bf16 it is timed as float32, the one speed measured here.
Estimates for other models assume the same multiply-accumulates per second, which flatters
tiny models and large images alike -- they are estimates, not promises.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import torch
from torch import nn

from ..models import build_model
from ..training.fast import native_cpu_bf16

# (train images, test images, image size, classes) of every data set.
DATASET_SIZES: dict[str, tuple[int, int, int, int]] = {
    "digits": (1437, 360, 32, 10),
    "cifar10": (50_000, 10_000, 32, 10),
    "cifar100": (50_000, 10_000, 32, 100),
    "tinyimagenet": (100_000, 10_000, 64, 200),
    "imagenet": (1_281_167, 50_000, 224, 1000),
}

# Measured here: vgg16_11, width 0.25, 32x32 CIFAR-10 images, batch 128, one CPU thread per
# run while the machine was shared: training images per second (forward + backward + step).
REFERENCE = {"arch": "vgg16_11", "width": 0.25, "image_size": 32, "train_images_per_s": 450.0}
# bf16 autocast against float32 on the same CPU that emulates bf16 (AVX2 only): training images/s
# per thread in results/cpu's table2 Tanh runs, 50-58 in bf16 against 420-560 in float32
# (2026-12-06; benchmarks/training_step.py measured 0.08x for the training step alone).
BF16_EMULATED = 0.11
# A backward pass costs about twice the forward one; evaluation is a forward pass only.
TRAIN_COST = 3.0
# Seconds per run outside the epochs: start-up, data loading, final measurement.
OVERHEAD_S = {"smoke": 2.5, "cpu": 60.0, "paper": 120.0}


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def count_macs(model: nn.Module, image_size: int) -> int:
    """Multiply-accumulates of one forward pass on one image, without running it.

    Follows the spatial size through the leaf modules in registration order, which is the
    forward order of the sequential VGG and MobileNet models (the test checks this against a
    forward pass with hooks).
    """
    h = w = image_size
    total = 0
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            (kh, kw), (sh, sw), (ph, pw) = (_pair(module.kernel_size), _pair(module.stride),
                                            _pair(module.padding))
            h, w = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
            total += h * w * module.out_channels * kh * kw * module.in_channels // module.groups
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            (kh, kw), (sh, sw), (ph, pw) = (_pair(module.kernel_size),
                                            _pair(module.stride or module.kernel_size),
                                            _pair(module.padding))
            h, w = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            h, w = _pair(module.output_size)
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features
    return total


@functools.lru_cache(maxsize=256)
def macs(arch: str, width: float, image_size: int, num_classes: int) -> int:
    """count_macs of a model built on the meta device (no memory, no initialisation work)."""
    with torch.device("meta"):
        model = build_model(arch, num_classes=num_classes, width=width, image_size=image_size)
    return count_macs(model, image_size)


def macs_per_second() -> float:
    ref = REFERENCE
    return TRAIN_COST * ref["train_images_per_s"] * macs(ref["arch"], ref["width"],
                                                         ref["image_size"], 10)


def run_seconds(config: dict, scale: str, speed: float | None = None) -> float:
    """Estimated seconds of one resolved run config at `speed` multiply-accumulates per second
    (default: the CPU measured here, slowed by BF16_EMULATED for a bf16 run where this CPU
    emulates bf16)."""
    if speed is None:
        speed = macs_per_second()
        if config.get("precision") == "bf16" and not native_cpu_bf16():
            speed *= BF16_EMULATED
    train_n, test_n, size, classes = DATASET_SIZES.get(config["dataset"], (50_000, 10_000, 32, 10))
    if config.get("train_subset"):
        train_n = min(train_n, int(config["train_subset"]))
    per_image = macs(config["arch"], float(config["width"]), size, classes)
    work = config["epochs"] * per_image * (TRAIN_COST * train_n + test_n)
    return OVERHEAD_S.get(scale, 30.0) + work / speed


GPU_SPEED = Path(__file__).with_name("gpu_speed.json")


def gpu_reference(path: Path | None = None) -> dict | None:
    """The fastest variant of a stored gpu_check.sh result as {device, date, variant,
    precision, arch, width, image_size, train_images_per_s}; None when absent or unreadable
    (the file is data: it is read as JSON and checked, never run)."""
    try:
        record = json.loads((path or GPU_SPEED).read_text())
        best = max(record["results"], key=lambda r: float(r["images_per_s"]))
        ref = {"device": str(record["device"]), "date": str(record["date"]),
               "variant": str(best["variant"]), "precision": str(best["precision"]),
               "arch": str(record["arch"]), "width": float(record["width"]),
               "image_size": int(record["image_size"]),
               "train_images_per_s": float(best["images_per_s"])}
        macs(ref["arch"], ref["width"], ref["image_size"], 10)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not (math.isfinite(ref["train_images_per_s"]) and ref["train_images_per_s"] > 0):
        return None
    return ref


def gpu_macs_per_second(ref: dict) -> float:
    return TRAIN_COST * ref["train_images_per_s"] * macs(ref["arch"], ref["width"],
                                                         ref["image_size"], 10)


def human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    if seconds < 2 * 365 * 86400:
        return f"{seconds / 86400:.0f} days"
    return f"{seconds / (365 * 86400):.0f} years"
