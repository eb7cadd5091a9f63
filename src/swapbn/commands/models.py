"""`swapbn models`: every model name with its parameter count."""

from __future__ import annotations

import argparse

from ..models import MODELS, build_model, count_parameters
from ..points import measurement_points

HELP = "list every model with its parameter count"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--num-classes", type=int, default=10,
                   help="classes of the last layer (default %(default)s)")
    p.add_argument("--image-size", type=int, default=32,
                   help="input height and width in pixels (default %(default)s)")
    p.add_argument("--width", type=float, default=1.0,
                   help="channel multiplier (default %(default)s, the paper's models)")
    p.add_argument("--in-channels", type=int, default=3,
                   help="input channels, 1 for digits (default %(default)s)")
    p.add_argument("--act", default="tanh", help="activation (default %(default)s)")
    p.add_argument("--order", default="swap",
                   help="convention, swap or nobn (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    print(f"{'model':<12} {'parameters':>12} {'blocks':>7}   "
          f"(classes={args.num_classes}, image={args.image_size}, width={args.width}, "
          f"act={args.act}, order={args.order})")
    for name in MODELS:
        model = build_model(name, num_classes=args.num_classes, act=args.act, order=args.order,
                            width=args.width, in_channels=args.in_channels,
                            image_size=args.image_size)
        print(f"{name:<12} {count_parameters(model):>12,} {len(measurement_points(model)):>7}")
    print("torchvision:NAME, timm:NAME: any classification model of torchvision or timm, "
          "with its own activations unless --act is given (docs/guide.md, Your own model)")
    return 0
