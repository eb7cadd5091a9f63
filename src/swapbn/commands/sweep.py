"""`swapbn sweep NAME`: run every run of one of the paper's experiments into OUT/<run_id>/.

Exit status 0 when every run of the sweep (run now or found done) completed, 1 when any failed
or diverged (the summary table names them), 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..data.archive import is_archive
from ..errors import UsageError, quoted
from ..experiments import (
    EXPERIMENTS,
    SCALES,
    all_completed,
    check_existing,
    get_experiment,
    get_scale,
    plan,
    run_sweep,
    select_per_setting,
    summary,
)
from ..experiments.backends import BACKENDS, import_ray
from ..experiments.grid import load_record
from ..experiments.runner import SweepOptions
from ..text import count
from ..training.config import TrainConfig, parse_seeds
from ..training.settings import WHAT, WHERE
from ..training.tensorboard import summary_writer_class

HELP = "run one of the paper's experiments (see `swapbn experiments`) into run directories"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help=f"experiment: {', '.join(EXPERIMENTS)}")
    p.add_argument("--scale", default="smoke", help=f"{', '.join(SCALES)} (default smoke)")
    p.add_argument("--out", required=True, help="output folder: one run directory per run")
    p.add_argument("--backend", default="local", help="local (default) or ray")
    p.add_argument("--workers", type=int, default=1,
                   help="runs at once (local: 1 = in this process, N = process pool, which "
                        "with --device cuda shares one GPU between the N runs; ray on "
                        "this machine: the local Ray instance's size in runs)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (e.g. auto or ray://host:10001); with OUT on a "
                        "filesystem every node sees, a run retried after a node died resumes "
                        "from its checkpoint")
    p.add_argument("--cpus-per-run", type=float, default=None,
                   help="CPU cores per run (default: cores / workers; 1 on a Ray cluster)")
    p.add_argument("--gpus-per-run", type=float, default=None,
                   help="GPUs per Ray task (default 1 with --device cuda, else 0)")
    p.add_argument("--data-root", default=None,
                   help="folder holding one subfolder per data set (cifar10/, cifar100/, "
                        "tinyimagenet/, imagenet/), or the data set itself (a CIFAR .tar.gz "
                        "too: extracted once into the cache)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--grid", action="store_true",
                   help="the paper's lr x wd grid per setting (appendix A.1)")
    p.add_argument("--only", nargs="+", default=None, metavar="SETTING",
                   help="run only these settings of the experiment (as --dry-run names them, "
                        "e.g. tanh/convention tanh/swap)")
    p.add_argument("--seeds", nargs="+", default=None, metavar="SEED",
                   help="seeds to run, as 0,1,2 or 0 1 2 (default: the scale's)")
    p.add_argument("--tensorboard", nargs="?", const="", default=None, metavar="DIR",
                   help="TensorBoard events per run (default: inside each run directory; "
                        "DIR: DIR/<run_id>), so runs overlay; needs swapbn[tensorboard]")
    p.add_argument("--dry-run", action="store_true",
                   help="list the runs and their configurations without training")
    p.add_argument("--quiet", action="store_true", help="only the summary table")
    p.add_argument("--force", nargs="+", default=(), metavar="RUN_ID",
                   help="start these runs over (e.g. ones left out for unreadable records)")
    p.add_argument("--retry-failed", action="store_true",
                   help="start failed and unreadable runs over instead of continuing them")


def _follow(experiment, out: Path, scale_name: str) -> dict | None:
    """lr and wd of the followed model (NWDBN / swap) chosen by a `main --grid` sweep in OUT."""
    records = []
    for record in filter(None, map(load_record, sorted(out.glob("main-*")))):
        tags = record["config"].get("tags") or {}
        if tags.get("grid") and tags.get("scale") == scale_name:
            records.append(record)
    choice = select_per_setting(records).get(experiment.follows) if records else None
    if choice is None or choice.lr is None:
        return None
    return {"lr": choice.lr, "wd": choice.wd}


def run(args: argparse.Namespace) -> int:
    experiment = get_experiment(args.name)
    scale = get_scale(args.scale)
    if args.backend not in BACKENDS:
        raise UsageError(f"unknown backend {quoted(args.backend)}; choose from {', '.join(BACKENDS)}")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.address and args.backend != "ray":
        raise UsageError("--address is for --backend ray")
    if scale.needs_data_root and args.data_root is None and not args.dry_run:
        raise UsageError(f"scale {scale.name} needs --data-root (the folder holding the data "
                         "sets)")
    root = Path(args.data_root).expanduser() if args.data_root is not None else None
    if root is not None and not (root.is_dir() or is_archive(root)):
        raise UsageError(f"data root {args.data_root} is not a folder (or a CIFAR archive)")
    if args.grid and experiment.follows:
        raise UsageError(f"{experiment.name} takes lr and wd from the {experiment.follows} "
                         f"model; run `swapbn sweep main --grid` into the same --out first")
    if args.backend == "ray" and not args.dry_run:
        import_ray()
    if args.cpus_per_run is not None and not args.cpus_per_run > 0:
        raise UsageError(f"--cpus-per-run must be positive, got {args.cpus_per_run}")
    if args.gpus_per_run is not None and not args.gpus_per_run >= 0:
        raise UsageError(f"--gpus-per-run must be zero or positive, got {args.gpus_per_run}")
    if args.tensorboard is not None and not args.dry_run:
        summary_writer_class()  # a missing package is a usage error before anything is written
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    out = Path(args.out)
    follow = _follow(experiment, out, scale.name) if experiment.follows else None
    specs = plan(experiment.name, scale, grid=args.grid,
                 seeds=tuple(seeds) if seeds else None, data_root=args.data_root,
                 device=args.device, follow=follow)
    if args.only:
        settings = {s.tags["setting"] for s in specs}
        missing = sorted(set(args.only) - settings)
        if missing:
            raise UsageError(f"--only: no setting {quoted(missing[0])} in {experiment.name}; choose "
                             f"from {', '.join(sorted(settings))}")
        specs = [s for s in specs if s.tags["setting"] in args.only]
    unknown = sorted(set(args.force) - {s.run_id for s in specs})
    if unknown:
        raise UsageError(f"--force: no run {quoted(unknown[0])} in this sweep (see --dry-run)")
    planned = check_existing(specs, out, force=frozenset(args.force),
                             retry_failed=args.retry_failed)
    counts = {s: sum(p.state == s for p in planned)
              for s in ("new", "resume", "changed", "done", "broken")}
    todo = len(planned) - counts["done"] - counts["broken"]
    print(f"{experiment.name} at scale {scale.name}: {count(len(planned), 'run')}, {todo} to run "
          f"({counts['new']} new, {counts['resume']} to continue, {counts['changed']} changed), "
          f"{counts['done']} already done"
          + (f", {counts['broken']} left out (unreadable records; --force RUN_ID starts them "
             "over)" if counts["broken"] else "") + (f"; lr {follow['lr']:g}, wd {follow['wd']:g} "
                                               f"from the {experiment.follows} grid"
                                               if follow else ""))
    if args.dry_run:
        for p in planned:
            print(f"{p.run_id}  [{p.state}]  {json.dumps(_shown(p.config))}")
        return 0
    gpus = args.gpus_per_run
    if gpus is None:
        gpus = 1 if (args.device or "").startswith("cuda") else 0
    cpus = args.cpus_per_run if args.cpus_per_run is not None else (1 if args.address else None)
    options = SweepOptions(backend=args.backend, workers=args.workers, address=args.address,
                           cpus_per_run=cpus, gpus_per_run=gpus, progress=not args.quiet,
                           tensorboard=args.tensorboard)
    seconds = run_sweep(planned, out, options)
    print(summary(planned))
    failed = [p.run_id for p in planned if p.result is None or p.result.status != "completed"]
    print(f"{len(planned) - len(failed)}/{len(planned)} completed, {count(todo, 'run')} now in "
          f"{seconds:.0f}s; run directories in {out}")
    return 0 if all_completed(planned) else 1


def _shown(config: dict) -> dict:
    """The settings of a run that say what it computes and where (how a step runs, and the
    tags its run id carries, are left out), as far as they are set."""
    return {f.name: config[f.name] for f, s in TrainConfig.settings()
            if s.kind in (WHAT, WHERE) and config.get(f.name) is not None}
