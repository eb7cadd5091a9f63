"""`swapbn train`: train one model into a run directory (config, metrics, checkpoint, final).

`add_training_arguments` and `config_from_args` define the training flags once; `swapbn
compare` uses them too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..atomic import json_text
from ..errors import DivergedError, UsageError, shown_path
from ..models import OWN_ACT, is_zoo_model
from ..rundir import FinalRecord
from ..training import train
from ..training.config import (
    CPU_WIDTH,
    DEFAULT_WIDTH,
    PRECISIONS,
    TrainConfig,
    parse_act_kwargs,
    parse_milestones,
)
from ..training.distributed import Ranks
from ..training.loop import run_device
from ..training.tensorboard import summary_writer_class
from ..training.threads import apply_threads as set_threads
from .launch import launch, without_option

HELP = "train one model (convention, swap or nobn order) into a run directory"


def add_training_arguments(p: argparse.ArgumentParser, *,
                           json_help: str = "print the final record of the run as JSON") -> None:
    """The flags every training command shares (model, data, recipe, device, output)."""
    g = p.add_argument_group("model")
    g.add_argument("--arch", default="vgg16_11", help="model name (see `swapbn models`)")
    g.add_argument("--act", default=None, help="activation: tanh (default for swapbn's models), "
                   "lecun_tanh, softsign, relu, shifted_tanh; a torchvision: or timm: model "
                   "keeps its own unless given")
    g.add_argument("--act-kwargs", default=None, metavar="K=V,...",
                   help="activation parameters, e.g. dx=0.5,dy=0.1 for shifted_tanh")
    g.add_argument("--width", type=float, default=None,
                   help=f"channel multiplier (default {DEFAULT_WIDTH:g}; 1, the paper's models, "
                        "with --preset or a torchvision: or timm: model)")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits",
                   help="digits, cifar10, cifar100, tinyimagenet, imagenet or folder")
    g.add_argument("--data-root", default=None, help="folder that holds the data set")
    g.add_argument("--train-subset", type=int, default=None, metavar="N",
                   help="train on a stratified subset of N images")
    g.add_argument("--val-images", "--val-split", dest="val_images", type=int, default=0,
                   metavar="N", help="hold out N training images as a validation split")
    g = p.add_argument_group("recipe (explicit values override --preset)")
    g.add_argument("--preset", default=None,
                   help="'paper': the paper's Tables 3-6 recipe; 'cpu': the lr and wd the cpu "
                        "scale's grid chose (docs/results.md), width 0.25")
    g.add_argument("--epochs", type=int, default=None, help="default 10 (or the preset's)")
    g.add_argument("--lr", type=float, default=None,
                   help="initial learning rate (default 0.01 or the preset's)")
    g.add_argument("--milestones", default=None, metavar="E1,E2",
                   help="epochs where the lr drops x0.1 (default 50%% and 75%% of the epochs)")
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    g.add_argument("--wd", type=float, default=None,
                   help="weight decay of weight layers (default 5e-4 or the preset's)")
    g.add_argument("--bn-gamma-wd", type=float, default=None,
                   help="weight decay of BN gamma (default --wd)")
    g.add_argument("--bn-beta-wd", type=float, default=None,
                   help="weight decay of BN beta (default --wd)")
    g.add_argument("--nwdbn", action="store_true",
                   help="no weight decay on BN gamma and beta (the paper's NWDBN)")
    g.add_argument("--batch-size", type=int, default=None, help="default 64 (or the preset's)")
    g = p.add_argument_group("running")
    g.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    g.add_argument("--precision", default="auto",
                   help=f"{', '.join(PRECISIONS)}; auto (default): bf16 autocast on a CPU "
                        "with native bf16 arithmetic, float32 on other CPUs and on CUDA (TF32)")
    g.add_argument("--amp", dest="precision", action="store_const", const="bf16",
                   help="the same as --precision bf16")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="NHWC memory format for conv models (default on: 1.3x faster training "
                        "on a CPU, and what cuDNN's fastest kernels want)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the model (CPU: needs a C++ compiler, and the first "
                        "step takes about two minutes on 2 cores)")
    g.add_argument("--deterministic", action="store_true",
                   help="no TF32 and no cudnn.benchmark on CUDA; deterministic kernels")
    g.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for PyTorch (default: the cores the load average leaves "
                        "free, so a busy CPU is not oversubscribed)")
    g.add_argument("--stats-every", "--track-stats", dest="stats_every", type=int, default=0,
                   metavar="K",
                   help="measure saturation, skewness and sparsity every K epochs")
    g.add_argument("--tensorboard", nargs="?", const="", default=None, metavar="DIR",
                   help="write TensorBoard event files (default folder: tensorboard/ inside "
                        "each run directory); needs pip install 'swapbn[tensorboard]'")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its checkpoint")
    g.add_argument("--force", action="store_true",
                   help="start over in an output folder that already holds a run")
    g.add_argument("--dry-run", action="store_true",
                   help="print the resolved configuration as JSON and train nothing")
    g.add_argument("--quiet", action="store_true", help="print nothing but errors")
    g.add_argument("--json", action="store_true", help=json_help)


def config_from_args(args: argparse.Namespace, *, order: str, seed: int) -> TrainConfig:
    """The (unresolved) TrainConfig the flags describe, for one order and seed."""
    zoo = is_zoo_model(args.arch)
    return TrainConfig(
        arch=args.arch, act=args.act or (OWN_ACT if zoo else "tanh"), order=order, dataset=args.dataset,
        data_root=args.data_root,
        act_kwargs=parse_act_kwargs(args.act_kwargs) if args.act_kwargs else None,
        train_subset=args.train_subset, val_images=args.val_images,
        width=args.width if args.width is not None else (
            CPU_WIDTH if args.preset == "cpu" and not zoo else
            1.0 if args.preset or zoo else DEFAULT_WIDTH),
        epochs=args.epochs, lr=args.lr,
        milestones=parse_milestones(args.milestones) if args.milestones is not None else None,
        momentum=args.momentum, wd=args.wd, bn_gamma_wd=args.bn_gamma_wd,
        bn_beta_wd=args.bn_beta_wd, nwdbn=args.nwdbn, batch_size=args.batch_size, seed=seed,
        device=args.device, precision=args.precision, stats_every=args.stats_every,
        preset=args.preset,
        channels_last=args.channels_last, compile=args.compile,
        deterministic=args.deterministic)


def apply_threads(args: argparse.Namespace) -> int:
    """--threads (or the free cores): PyTorch's intra-op CPU threads for this process."""
    return set_threads(args.threads)


def describe(config: TrainConfig, seeds: list[int] | None = None) -> str:
    """One line with the resolved recipe (for `seeds` when it is run over several)."""
    bn = ("no BN" if config.order == "nobn"
          else f"BN gamma {config.bn_gamma_wd:g}, beta {config.bn_beta_wd:g}")
    width = f" width {config.width:g}"
    subset = f" ({config.train_subset} training images)" if config.train_subset else ""
    preset = f" [preset {config.preset}]" if config.preset else ""
    return (f"{config.arch}{width} {config.act} {config.order}{' NWDBN' if config.nwdbn else ''}"
            f" on {config.dataset}{subset}: epochs {config.epochs}, lr {config.lr:g}, milestones "
            f"{','.join(map(str, config.milestones))}, wd {config.wd:g} ({bn}), batch "
            f"{config.batch_size}, {config.precision}, "
            f"{'seed' if len(seeds or [0]) == 1 else 'seeds'} "
            f"{','.join(map(str, seeds or [config.seed]))}{preset}")


def summary(final: FinalRecord) -> str:
    """One line with the result of a run."""
    if final.status != "completed":
        return f"{final.status} after epoch {final.epochs_completed}: {final.error}"
    n = final.epochs_completed
    text = (f"test accuracy {final.final_test_acc:.2f}% (best {final.best_test_acc:.2f}%)"
            f" after {n} epoch{'s' if n != 1 else ''} in {final.seconds:.1f} s")
    stats = final.stats or {}
    parts = [f"{name} {stats[f'avg_{name}']:.3f}" for name in ("saturation", "skewness",
                                                                "sparsity")
             if stats.get(f"avg_{name}") is not None]
    return text + (f"; avg {', '.join(parts)}" if parts else "")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--order", default="swap", help="convention, swap or nobn")
    p.add_argument("--seed", type=int, default=0,
                   help="initialisation, batch order and augmentation (default 0)")
    p.add_argument("--out", default=None,
                   help="run directory (default runs/train/<dataset>-<arch>-<act>-<order>-s<seed>)")
    add_training_arguments(p)
    g = p.add_argument_group("several processes (started by torchrun; README, Several GPUs)")
    g.add_argument("--no-sync-bn", dest="sync_bn", action="store_false",
                   help="BatchNorm over each process's slice of the batch instead of the "
                        "global batch")
    g.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                   help="start N processes on this machine (one per GPU) with torchrun's "
                        "launcher; the same as `torchrun --standalone --nproc-per-node N -m "
                        "swapbn train ...`")


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args, order=args.order, seed=args.seed).resolve()
    if args.dry_run:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    device = run_device(config)
    if args.tensorboard is not None:
        summary_writer_class()  # a missing package is a usage error before anything is written
    launching = args.nproc_per_node is not None and "WORLD_SIZE" not in os.environ
    if launching and args.nproc_per_node < 1:
        raise UsageError(f"--nproc-per-node must be at least 1, got {args.nproc_per_node}")
    world = args.nproc_per_node if launching else int(os.environ.get("WORLD_SIZE", "1"))
    Ranks(world=world).check_batch(config.batch_size)
    if launching:
        return launch(args.nproc_per_node, without_option(sys.argv[1:], "--nproc-per-node"))
    ranks = Ranks.from_env(device, sync_bn=args.sync_bn)
    args.quiet = args.quiet or not ranks.leader  # rank 0 speaks for all
    apply_threads(args)
    for warning in config.warnings():
        print(f"swapbn train: warning: {warning}", file=sys.stderr)
    out = Path(args.out or f"runs/train/{config.dataset}-{config.arch}-{config.act}-"
                           f"{config.order}{'-nwdbn' if config.nwdbn else ''}-s{config.seed}")
    stream = sys.stderr if args.json else sys.stdout
    if not args.quiet:
        print(f"{describe(config)} -> {shown_path(out)}", file=stream, flush=True)
    try:
        final = train(config, out, progress=not args.quiet, resume=args.resume,
                      force=args.force, stream=stream, tensorboard=args.tensorboard, ranks=ranks,
                      device=device)
    finally:
        ranks.close()
    if not ranks.leader:
        return 0
    if args.json:
        print(json_text(final.to_dict()))
    elif not args.quiet:
        print(summary(final))
    if final.status == "diverged":
        raise DivergedError(f"run diverged: {final.error}")
    return 0
