"""The training loop: one run from a resolved TrainConfig to a complete run directory.

`train` reads top to bottom: setup, resume, the epoch loop (train, evaluate, log,
checkpoint) and the finish. Nothing is global: the device and the ranks come in as arguments,
and every write to the run directory goes through `RunDir` in this module on rank 0 alone (the
only process of a run on one device): behind one test, `leader`, or in `read_start`, which
rank 0 alone runs before training, sending what it read to the others (`Ranks.from_leader`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TextIO

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import RecordError, UsageError
from ..optim import make_optimizer, make_scheduler
from ..rundir import FinalRecord, RunDir
from .config import TrainConfig
from .distributed import Ranks
from .fast import (
    autocast,
    backend_settings,
    compute_mode,
    in_memory_format,
    prepare_model,
)
from .progress import Progress, epoch_text
from .rebuild import data_fields, load_checkpoint_weights, run_data, run_model
from .records import eval_batch_size, final_records, measure_record
from .reproduce import (
    environment,
    epoch_seed,
    resolve_device,
    rng_state,
    seed_everything,
    set_rng_state,
)
from .signals import guarded
from .tensorboard import open_log

TIMING_FIELDS = ("seconds", "images_per_s")


@guarded  # the run directory's lock; SIGTERM and Ctrl-C recorded as interrupted
def train(config: TrainConfig, out_dir: str | Path, *, progress: bool = True,
          resume: bool = False, force: bool = False, stream: TextIO | None = None,
          on_epoch: Callable[[dict], None] | None = None,
          device: torch.device | None = None,
          tensorboard: str | Path | None = None,
          ranks: Ranks | None = None) -> FinalRecord:
    """Train one run into `out_dir` and return its final record (final.json).

    A loss that becomes NaN or infinite ends the run with status "diverged" (returned, not
    raised; the command line turns it into exit status 3). Any other error records status
    "failed" with a one-line error and is raised again. `resume=True` continues from
    checkpoint.pt (and returns the recorded result of a finished run without training);
    without it a folder that already holds a run is refused unless `force=True`.
    `on_epoch` receives each metrics line as it is written (e.g. to report to a scheduler).
    `tensorboard`: a folder for TensorBoard event files ("" = inside the run directory).
    `ranks`: this process's place in a data-parallel run (default: the initialised process
    group, if any; see training/distributed.py).
    """
    # Setup: configuration, output folder, data, model, optimizer.
    config = config if config.resolved else config.resolve()
    config.check()
    ranks = ranks if ranks is not None else Ranks.current()
    ranks.check_batch(config.batch_size)
    device = ranks.device(device if device is not None else run_device(config))
    leader = ranks.leader  # the one process that writes the run directory
    run = RunDir(out_dir)
    # Rank 0 claims the folder and reads where training starts; the others receive it.
    recorded, ckpt, lines = ranks.from_leader(
        lambda: read_start(run, config, resume=resume, force=force))
    if recorded is not None:
        return recorded
    show = Progress(progress and leader, stream)
    data = run_data(config.to_dict())
    record = {**config.to_dict(), **data_fields(data),
              "compute": compute_mode(device, bf16=config.bf16,
                                      deterministic=config.deterministic),
              **environment(device), **ranks.record()}  # config.json
    seed_everything(config.seed)
    model = run_model(record).to(device)
    optimizer = make_optimizer(model, lr=config.lr, wd=config.wd, bn_gamma_wd=config.bn_gamma_wd,
                               bn_beta_wd=config.bn_beta_wd, momentum=config.momentum)
    scheduler = make_scheduler(optimizer, config.milestones)
    board = open_log(tensorboard, run.path, data, device, config.epochs, config.seed,
                     leader=leader)

    # Resume: the states of the last finished epoch (rank 0 read them with the metrics lines
    # up to it).
    done = 0
    if ckpt is not None:
        load_checkpoint_weights(run, model, ckpt["model"])  # refuses another model's weights
        restore_states(run, ckpt, optimizer, scheduler)
        done = int(ckpt["epoch"])
        show.print(f"resuming {run.path} after epoch {done}")
    if leader:
        run.start(config=record, lines=lines)
    # What trains: `model` in channels_last, in DDP across ranks, compiled on request;
    # `model` itself (unwrapped) is what is evaluated, measured and saved.
    net = prepare_model(model, channels_last=config.channels_last, compile=config.compile,
                        wrap=lambda m: ranks.wrap(m, device))

    # The epochs: train, evaluate, log, checkpoint.
    started = time.perf_counter()
    earlier = sum(line["seconds"] for line in lines)  # epochs of an interrupted run
    drop_last = len(data.train) > config.batch_size  # never a one-image batch (BN needs two)
    eval_bs = eval_batch_size(config.batch_size)
    status, error, extra = "completed", None, {}
    try:
        with backend_settings(device, deterministic=config.deterministic):
            for epoch in range(done + 1, config.epochs + 1):
                t0 = time.perf_counter()
                lr = optimizer.param_groups[0]["lr"]
                loader = in_memory_format(data.loader(
                    "train", config.batch_size, train=True, device=device,
                    seed=epoch_seed(config.seed, epoch), drop_last=drop_last,
                    shard=ranks.shard), config.channels_last)
                loss, acc, seen = ranks.reduce_epoch(*train_epoch(
                    net, loader, optimizer, device, config.bf16, show,
                    f"epoch {epoch}/{config.epochs}"))
                train_seconds = time.perf_counter() - t0
                if not math.isfinite(loss):
                    status = "diverged"
                    error = (f"training loss became {loss} in epoch {epoch} (lr {lr:g}); "
                             "lower the learning rate")
                    show.print(f"epoch {epoch}/{config.epochs}  diverged: loss {loss}")
                    break
                line = {"epoch": epoch, "train_loss": loss, "train_acc": acc}
                line["test_loss"], line["test_acc"] = evaluate(
                    model, in_memory_format(data.loader(
                        "test", eval_bs, train=False, device=device), config.channels_last),
                    device, config.bf16)
                if data.val is not None:
                    line["val_loss"], line["val_acc"] = evaluate(
                        model, in_memory_format(data.loader(
                            "val", eval_bs, train=False, device=device), config.channels_last),
                        device, config.bf16)
                line["lr"] = lr
                if config.stats_every and epoch % config.stats_every == 0:
                    line["stats"] = measure_record(model, data, device, config.batch_size,
                                                   ranks, fused=config.compile)
                scheduler.step()
                line["images_per_s"] = seen / max(train_seconds, 1e-9)
                line["seconds"] = time.perf_counter() - t0
                lines.append(line)
                if leader:
                    run.write_metrics(lines)
                    run.save_checkpoint({"model": model.state_dict(),
                                         "optimizer": optimizer.state_dict(),
                                         "scheduler": scheduler.state_dict(),
                                         "rng": rng_state(), "epoch": epoch})
                done = epoch
                show.print(epoch_text(line, config.epochs))
                if board is not None:
                    board.epoch(line, model)
                if on_epoch is not None:
                    on_epoch(line)
            else:
                extra, samples = final_records(model, data, device, config.batch_size,
                                               config.seed, ranks, fused=config.compile)
                if leader:
                    extra["channels"] = run.save_channels(samples)
    except KeyboardInterrupt:
        if board is not None:
            board.close()
        raise  # the last checkpoint stays; `guarded` records the run as interrupted
    except Exception as exc:
        if leader:
            with contextlib.suppress(OSError):  # the disk is still full: report the first error
                run.write_final(ended(FinalRecord.failed(exc, epochs_completed=done), lines,
                                      earlier + time.perf_counter() - started))
        raise

    # The finish: the final record, written last.
    final = ended(FinalRecord(status, epochs_completed=done, error=error, **extra), lines,
                  earlier + time.perf_counter() - started)
    if leader:
        run.write_final(final)
    return final


def restore_states(run: RunDir, ckpt: dict, optimizer: torch.optim.Optimizer,
                   scheduler) -> None:
    """The optimizer, scheduler and RNG states of a checkpoint whose weights fit; states of
    another recipe or a hand-made checkpoint are a RecordError naming the file, not a
    traceback from deep inside torch."""
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecordError(f"{run.checkpoint_path}: cannot restore the training state from it: "
                          f"{first:.200}") from None


def run_device(config: TrainConfig) -> torch.device:
    """The device a config trains on; UsageError when this machine cannot run it."""
    return resolve_device(config.device)


class Start(NamedTuple):
    """What the run directory says before a run trains."""

    recorded: FinalRecord | None  # a finished run with this configuration: nothing to train
    checkpoint: dict | None  # the states to resume from (None: epoch 0)
    lines: list[dict]  # the metrics lines up to the checkpoint's epoch


def read_start(run: RunDir, config: TrainConfig, *, resume: bool, force: bool) -> Start:
    """Claim the folder for this run (`claim_output`) and read where training starts: rank 0
    alone calls this (the other ranks receive its result)."""
    run.path.mkdir(parents=True, exist_ok=True)
    recorded = claim_output(run, config, resume=resume, force=force)
    if recorded is not None:
        return Start(recorded, None, [])
    if resume and run.has_checkpoint:
        return Start(None, *run.resume_point())  # refuses a history with holes
    return Start(None, None, [])


def claim_output(run: RunDir, config: TrainConfig, *, resume: bool,
                 force: bool) -> FinalRecord | None:
    """Check that the run may be written into `run`; returns the recorded final record when a
    finished run with this configuration is there (nothing to do)."""
    present = run.present()
    if force:
        run.remove()
        return None
    if not present:
        return None
    final = run.final
    if not resume:
        state = final.status if final else "unfinished"
        taken = f"{run.path} already holds a run ({state})"
        raise UsageError(f"{taken}; give another out_dir, or resume=True to continue it, or "
                         "force=True to delete it and start over",
                         cli=f"{taken}; choose another --out, or pass --resume to continue it, "
                             "or --force to delete it and start over")
    if run.config is None:
        unreadable = f"{run.path} holds run files but no readable configuration"
        raise UsageError(f"{unreadable}; give another out_dir, or force=True to delete them",
                         cli=f"{unreadable}; choose another --out, or pass --force to delete "
                             "them")
    finished = final is not None and final.finished
    changed = TrainConfig.differences(run.config, config.to_dict(), finished=finished,
                                      labels=False)  # sweeps compare their tags first
    if changed:
        differs = (f"cannot resume {run.path}: its configuration differs in "
                   f"{', '.join(changed)}")
        raise UsageError(f"{differs}; give another out_dir, or force=True to delete it and "
                         "start over", cli=f"{differs}; choose another --out, or pass --force "
                                           "to delete it and start over")
    return final if finished else None


def ended(final: FinalRecord, lines: list[dict], seconds: float) -> FinalRecord:
    """The final record with the accuracies of the epoch lines and the run's total time."""
    accs = [line["test_acc"] for line in lines]
    val = lines[-1].get("val_acc") if lines else None
    return dataclasses.replace(final, final_test_acc=accs[-1] if accs else None,
                               best_test_acc=max(accs) if accs else None, final_val_acc=val,
                               seconds=seconds)


def train_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, device: torch.device,
                bf16: bool, progress: Progress, desc: str) -> tuple[float, float, int]:
    """One pass of SGD; returns (mean loss, accuracy %, images). NaN loss if any batch diverged."""
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    bar = progress.wrap(loader, desc)
    for i, (x, y) in enumerate(bar):
        with autocast(device, bf16):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().double() * y.shape[0]
        correct += (logits.detach().argmax(1) == y).sum()
        seen += y.shape[0]
        if progress.bars and i % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    if seen == 0:
        raise UsageError("the training split gives no batch: lower the batch size")
    return loss_sum.item() / seen, 100.0 * correct.item() / seen, seen


@torch.no_grad()
def evaluate(model: nn.Module, loader, device: torch.device, bf16: bool) -> tuple[float, float]:
    """(mean cross-entropy, accuracy %) in eval mode (BN uses its running statistics)."""
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    for x, y in loader:
        with autocast(device, bf16):
            logits = model(x).float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
        correct += (logits.argmax(1) == y).sum()
        seen += y.shape[0]
    return loss_sum.item() / max(seen, 1), 100.0 * correct.item() / max(seen, 1)
