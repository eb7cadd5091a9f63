"""The training loop: one run from a resolved TrainConfig to a complete run directory.

Every epoch draws its batches from a seed derived from (run seed, epoch), and the checkpoint
written after each epoch holds model, optimizer, scheduler and RNG states, so a resumed run
continues exactly where the interrupted one stopped and ends with the same numbers.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from ..optim import make_optimizer, make_scheduler
from . import rundir
from .config import DATA_SEED, TrainConfig

EVAL_BATCH_SIZE = 256
TIMING_FIELDS = ("seconds", "images_per_s")


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name} requested but CUDA is not available; use --device cpu")
    return device


def run_device(config: TrainConfig) -> torch.device:
    """The device a config trains on; UsageError when this machine cannot run it."""
    device = resolve_device(config.device)
    if config.amp and device.type != "cuda":
        raise UsageError("--amp (bf16 autocast) needs a CUDA device")
    return device


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 32-bit seed for one epoch's shuffling and augmentation."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Progress:
    """Epoch lines on `stream`; a tqdm bar within epochs when the stream is a terminal."""

    def __init__(self, enabled: bool, stream: TextIO | None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stdout
        self.bars = enabled and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()

    def print(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)

    def wrap(self, loader, desc: str):
        if not self.bars:
            return loader
        from tqdm import tqdm

        return tqdm(loader, desc=desc, leave=False, file=sys.stderr, unit="batch")


def _autocast(device: torch.device, amp: bool):
    if amp:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, device: torch.device,
                amp: bool, progress: Progress, desc: str) -> tuple[float, float, int]:
    """One pass of SGD; returns (mean loss, accuracy %, images). NaN loss if any batch diverged."""
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    bar = progress.wrap(loader, desc)
    for i, (x, y) in enumerate(bar):
        with _autocast(device, amp):
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
def evaluate(model: nn.Module, loader, device: torch.device, amp: bool) -> tuple[float, float]:
    """(mean cross-entropy, accuracy %) in eval mode (BN uses its running statistics)."""
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    for x, y in loader:
        with _autocast(device, amp):
            logits = model(x).float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
        correct += (logits.argmax(1) == y).sum()
        seen += y.shape[0]
    return loss_sum.item() / max(seen, 1), 100.0 * correct.item() / max(seen, 1)


def same_config(recorded: dict, config: TrainConfig) -> list[str]:
    """Names of the fields where a recorded config.json differs from `config` (tags ignored)."""
    mine = config.to_dict()
    return [k for k in TrainConfig.fields() if k != "tags" and recorded.get(k) != mine[k]]


def _prepare(out: Path, config: TrainConfig, resume: bool, force: bool) -> dict | None:
    """Check the output folder; returns the finished final.json when there is nothing to do."""
    recorded = rundir.read_json(out / rundir.CONFIG)
    final = rundir.read_json(out / rundir.FINAL)
    present = [name for name in rundir.RUN_FILES if (out / name).exists()]
    if force:
        for name in present:
            (out / name).unlink()
        return None
    if not present:
        return None
    if not resume:
        state = final["status"] if final else "unfinished"
        raise UsageError(f"{out} already holds a run ({state}); pass --resume to continue it "
                         "or --force to start over")
    if recorded is None:
        raise UsageError(f"{out} holds run files but no {rundir.CONFIG}; pass --force to start over")
    changed = same_config(recorded, config)
    if changed:
        raise UsageError(f"cannot resume {out}: its configuration differs in "
                         f"{', '.join(changed)}; pass --force to start over")
    if final and final.get("status") in ("completed", "diverged"):
        return final
    return None


def train(config: TrainConfig, out_dir: str | Path, *, progress: bool = True,
          resume: bool = False, force: bool = False, stream: TextIO | None = None,
          on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train one run into `out_dir` and return the content of its final.json.

    A loss that becomes NaN or infinite ends the run with status "diverged" (returned, not
    raised; the command line turns it into exit status 3). Any other error records status
    "failed" with a one-line error and is raised again. `resume=True` continues from
    checkpoint.pt (and returns the recorded result of a finished run without training);
    without it a folder that already holds a run is refused unless `force=True`.
    `on_epoch` receives each metrics line as it is written (e.g. to report to a scheduler).
    """
    config = config.resolve() if not config.resolved else config
    config.check()
    device = run_device(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = _prepare(out, config, resume, force)
    if done is not None:
        return done
    show = Progress(progress, stream)

    from ..data import load_dataset
    from ..models import build_model

    data = load_dataset(config.dataset, config.data_root, train_subset=config.train_subset,
                        val_split=int(config.val_split), seed=DATA_SEED)
    seed_everything(config.seed)
    model = build_model(config.arch, num_classes=data.num_classes, act=config.act,
                        order=config.order, width=config.width, in_channels=data.in_channels,
                        image_size=data.image_size, bias=config.bias,
                        act_kwargs=config.act_kwargs).to(device)
    optimizer = make_optimizer(model, lr=config.lr, wd=config.wd, bn_gamma_wd=config.bn_gamma_wd,
                               bn_beta_wd=config.bn_beta_wd, momentum=config.momentum)
    scheduler = make_scheduler(optimizer, config.milestones)

    start_epoch, lines = 0, []
    if resume and (out / rundir.CHECKPOINT).exists():
        ckpt = rundir.load_checkpoint(out)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        rundir.set_rng_state(ckpt["rng"])
        start_epoch = int(ckpt["epoch"])
        lines = rundir.read_metrics(out)[:start_epoch]
        rundir.write_metrics(out, lines)
        (out / rundir.FINAL).unlink(missing_ok=True)  # the record of a failed attempt
        show.print(f"resuming {out} after epoch {start_epoch}")
    else:
        for name in (rundir.METRICS, rundir.CHECKPOINT, rundir.FINAL, rundir.CHANNELS):
            (out / name).unlink(missing_ok=True)
    rundir.write_json(out / rundir.CONFIG, {
        **config.to_dict(), "num_classes": data.num_classes, "in_channels": data.in_channels,
        "image_size": data.image_size, **rundir.environment(device)})

    with _deterministic(device):
        return _run(config, out, data, model, optimizer, scheduler, device, show, start_epoch,
                    lines, on_epoch)


@contextlib.contextmanager
def _deterministic(device: torch.device):
    """Deterministic kernels on the CPU (same seed, same machine, same numbers)."""
    before = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def _run(config, out, data, model, optimizer, scheduler, device, show, start_epoch, lines,
         on_epoch) -> dict:
    from .records import final_records, measure_record

    started = time.perf_counter()
    earlier = sum(line["seconds"] for line in lines)  # epochs of an interrupted run

    def elapsed() -> float:
        return earlier + time.perf_counter() - started

    train_bs = config.batch_size
    eval_bs = max(config.batch_size, EVAL_BATCH_SIZE)
    drop_last = len(data.train) > train_bs  # never a one-image batch (BatchNorm needs two)
    final = {"status": "failed", "final_test_acc": None, "best_test_acc": None,
             "epochs_completed": start_epoch, "seconds": None, "error": None, "stats": None,
             "gradients": None, "channels": None}
    try:
        for epoch in range(start_epoch + 1, config.epochs + 1):
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            loader = data.loader("train", train_bs, train=True, device=device,
                                 seed=epoch_seed(config.seed, epoch), drop_last=drop_last)
            loss, acc, seen = train_epoch(model, loader, optimizer, device, config.amp, show,
                                          f"epoch {epoch}/{config.epochs}")
            train_seconds = time.perf_counter() - t0
            if not math.isfinite(loss):
                final.update(status="diverged",
                             error=f"training loss became {loss} in epoch {epoch} "
                                   f"(lr {lr:g}); lower the learning rate")
                show.print(f"epoch {epoch}/{config.epochs}  diverged: loss {loss}")
                break
            test_loss, test_acc = evaluate(
                model, data.loader("test", eval_bs, train=False, device=device), device,
                config.amp)
            line = {"epoch": epoch, "train_loss": loss, "train_acc": acc,
                    "test_loss": test_loss, "test_acc": test_acc}
            if data.val is not None:
                line["val_loss"], line["val_acc"] = evaluate(
                    model, data.loader("val", eval_bs, train=False, device=device), device,
                    config.amp)
            line["lr"] = lr
            if config.track_stats and epoch % config.track_stats == 0:
                line["stats"] = measure_record(model, data, device, eval_bs)
            scheduler.step()
            line["images_per_s"] = seen / max(train_seconds, 1e-9)
            line["seconds"] = time.perf_counter() - t0
            lines.append(line)
            rundir.write_metrics(out, lines)
            rundir.save_checkpoint(out, model=model, optimizer=optimizer, scheduler=scheduler,
                                   epoch=epoch)
            final["epochs_completed"] = epoch
            show.print(_epoch_text(line, config.epochs))
            if on_epoch is not None:
                on_epoch(line)
        else:
            final.update(status="completed")
            final.update(final_records(model, data, device, train_bs, eval_bs, config.seed,
                                       out))
    except KeyboardInterrupt:
        raise  # the checkpoint of the last finished epoch stays; --resume continues from it
    except Exception as exc:
        final["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        _finish(out, final, lines, elapsed())
        raise
    return _finish(out, final, lines, elapsed())


def _finish(out: Path, final: dict, lines: list[dict], seconds: float) -> dict:
    accs = [line["test_acc"] for line in lines]
    final["final_test_acc"] = accs[-1] if accs else None
    final["best_test_acc"] = max(accs) if accs else None
    final["seconds"] = seconds
    rundir.write_json(out / rundir.FINAL, final)
    return final


def _epoch_text(line: dict, epochs: int) -> str:
    text = (f"epoch {line['epoch']:>3}/{epochs}  loss {line['train_loss']:.4f}  "
            f"train {line['train_acc']:5.1f}%  test {line['test_acc']:5.1f}%")
    if "val_acc" in line:
        text += f"  val {line['val_acc']:5.1f}%"
    return text + f"  lr {line['lr']:.3g}  {line['images_per_s']:,.0f} img/s  {line['seconds']:.1f}s"
