"""`swapbn train`: train one model into a run directory (config, metrics, checkpoint, final).

`add_training_arguments` and `config_from_args` derive the training flags from TrainConfig's
fields (training/settings.py); `swapbn compare` uses them too.
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
from ..training.config import CPU_WIDTH, DEFAULT_WIDTH, TrainConfig
from ..training.distributed import Ranks
from ..training.loop import run_device
from ..training.settings import FIELD_DEFAULT, field_default
from ..training.tensorboard import summary_writer_class
from ..training.threads import apply_threads
from .launch import launch, without_option

HELP = "train one model (convention, swap or nobn order) into a run directory"


# The help sections of the training flags, by a setting's group (training/settings.py); the
# "run" group's flags (--order, --seed) are `swapbn train`'s own: compare takes several.
GROUPS = {"model": "model", "data": "data", "recipe": "recipe (explicit values override --preset)",
          "running": "running"}


def shown(value: object) -> str:
    """A default as a help line shows it (argparse %-formats help: a % is doubled)."""
    text = (("on" if value else "off") if isinstance(value, bool)
            else f"{value:g}" if isinstance(value, float) else str(value))
    return text.replace("%", "%%")


def add_settings(p: argparse._ActionsContainer, group: str) -> None:
    """The flags of the TrainConfig settings of one group, each from its field: option strings,
    type, help with the default filled in. A flag not given leaves None, so the config keeps
    its field's default (or `config_from_args` decides it)."""
    types = TrainConfig.record_types()
    for f, s in TrainConfig.settings():
        if s.group != group:
            continue
        flags = s.flags or (f"--{f.name.replace('_', '-')}",)
        default = field_default(f) if s.cli_default is FIELD_DEFAULT else s.cli_default
        kwargs: dict = {"dest": f.name, "default": None, "metavar": s.metavar,
                        "help": s.help.format(default=shown(default))}
        if types[f.name] == (bool,):
            kwargs["action"] = argparse.BooleanOptionalAction if default else "store_true"
            del kwargs["metavar"]
        elif s.parse is None:
            kwargs["type"] = next((t for t in (float, int) if t in types[f.name]), None)
        p.add_argument(*flags, **kwargs)
        for flag, value in s.consts:
            p.add_argument(flag, dest=f.name, action="store_const", const=value,
                           help=f"the same as {flags[0]} {value}")


def add_training_arguments(p: argparse.ArgumentParser, *,
                           json_help: str = "print the final record of the run as JSON") -> None:
    """The flags every training command shares: one per TrainConfig setting with a group, then
    how this process runs and what it prints."""
    groups = {name: p.add_argument_group(title) for name, title in GROUPS.items()}
    for name, g in groups.items():
        add_settings(g, name)
    g = groups["running"]
    g.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for PyTorch (default: the cores the load average leaves "
                        "free, so a busy CPU is not oversubscribed)")
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


def config_from_args(args: argparse.Namespace, **fixed: object) -> TrainConfig:
    """The (unresolved) TrainConfig the flags describe, with `fixed` settings (compare's order
    and seed) instead of flags. The command line's width and activation depend on the model
    and preset: a zoo model keeps its own activations and width, --preset takes the paper's
    width (cpu: the cpu scale's)."""
    given = {}
    for f, s in TrainConfig.settings():
        value = fixed[f.name] if f.name in fixed else getattr(args, f.name, None) \
            if s.group is not None else None
        if value is not None:
            given[f.name] = s.parse(value) if s.parse is not None and isinstance(value, str) \
                else value
    config = TrainConfig(**given)
    zoo = is_zoo_model(config.arch)
    if "act" not in given and zoo:
        config.act = OWN_ACT
    if "width" not in given:
        config.width = (CPU_WIDTH if config.preset == "cpu" and not zoo else
                        1.0 if config.preset or zoo else DEFAULT_WIDTH)
    return config


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
    add_settings(p, "run")  # --order, --seed
    p.add_argument("--out", default=None,
                   help="run directory (default runs/train/<dataset>-<arch>-<act>-<order>-s<seed>)")
    add_training_arguments(p)
    g = p.add_argument_group("several processes (started by torchrun; docs/distributed.md)")
    g.add_argument("--no-sync-bn", dest="sync_bn", action="store_false",
                   help="BatchNorm over each process's slice of the batch instead of the "
                        "global batch")
    g.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                   help="start N processes on this machine (one per GPU) with torchrun's "
                        "launcher; the same as `torchrun --standalone --nproc-per-node N -m "
                        "swapbn train ...`")


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args).resolve()
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
    apply_threads(args.threads)
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
