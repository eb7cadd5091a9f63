"""Watch a run live in TensorBoard: every metrics line as scalars, and on tracked epochs each
layer's saturation, skewness and sparsity with histograms of sampled channel values.

One TensorBoard run per training run (its own folder), so the runs of `compare` and `sweep`
overlay in one `tensorboard --logdir RUNS`. Written through
`torch.utils.tensorboard.SummaryWriter`; the `tensorboard` package is an optional extra
(`pip install 'swapbn[tensorboard]'`). Only rank 0 of a distributed run writes.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import torch
from torch import nn

from ..atomic import refuse_link
from ..errors import UsageError
from ..metrics import channel_samples

# metrics.jsonl field -> TensorBoard tag.
SCALARS = {
    "train_loss": "loss/train", "test_loss": "loss/test", "val_loss": "loss/val",
    "train_acc": "accuracy/train", "test_acc": "accuracy/test", "val_acc": "accuracy/val",
    "lr": "lr", "images_per_s": "speed/images_per_s", "seconds": "speed/epoch_seconds",
}
MODEL_STATS = {"avg_saturation": "stats/avg_saturation", "avg_skewness": "stats/avg_skewness",
               "avg_sparsity": "stats/avg_sparsity"}
LAYER_STATS = ("saturation", "skewness", "sparsity")  # tag: <measure>/<layer name>
HISTOGRAM_IMAGES = 256  # test images whose channel values feed the histograms
HISTOGRAM_VALUES = 4096  # sampled values per channel and per layer
TENSORBOARD_DIR = "tensorboard"  # the default folder inside the run directory


def stat_scalars(stats: dict, prefix: str = "") -> dict[str, float]:
    """Tag -> value of a measure record (`Measurement.to_dict()`): the model averages and each
    layer's saturation, skewness and sparsity; undefined values (None) are left out. The one
    naming of these scalars, for event files and for other loggers (swapbn.lightning)."""
    out = {prefix + tag: float(stats[key]) for key, tag in MODEL_STATS.items()
           if isinstance(stats.get(key), (int, float))}
    for layer in stats.get("layers", []):
        for key in LAYER_STATS:
            if isinstance(layer.get(key), (int, float)):
                out[f"{prefix}{key}/{layer['name']}"] = float(layer[key])
    return out


def write_stats(writer, stats: dict, step: int, prefix: str = "") -> None:
    """A measure record as scalars of a SummaryWriter (or anything with its add_scalar)."""
    for tag, value in stat_scalars(stats, prefix).items():
        writer.add_scalar(tag, value, step)


def summary_writer_class():
    """SummaryWriter, or a one-line UsageError when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UsageError("--tensorboard needs the tensorboard package: "
                         "pip install 'swapbn[tensorboard]'") from None
    return SummaryWriter


class TensorBoardLog:
    """Writes one run's epochs; `epoch(line, model)` is called with each metrics line."""

    def __init__(self, log_dir: str | Path, data, device: torch.device, last_epoch: int,
                 seed: int = 0) -> None:
        self.log_dir = Path(log_dir)
        self.data, self.device, self.last_epoch, self.seed = data, device, last_epoch, seed
        self.writer_class = summary_writer_class()  # a missing package fails before training
        self.writer = None

    def _open(self, step: int) -> None:
        # purge_step drops events a resumed run wrote after its last checkpoint.
        self.writer = self.writer_class(log_dir=str(self.log_dir), purge_step=step)
        weakref.finalize(self, self.writer.close)  # a diverged or failed run closes it too

    def epoch(self, line: dict, model: nn.Module | None = None) -> None:
        step = int(line["epoch"])
        if self.writer is None:
            self._open(step)
        for key, tag in SCALARS.items():
            if isinstance(line.get(key), (int, float)):
                self.writer.add_scalar(tag, float(line[key]), step)
        stats = line.get("stats")
        if stats:
            self.stats(stats, step)
            if model is not None:
                self.histograms(model, step)
        self.writer.flush()
        if step >= self.last_epoch:
            self.close()

    def close(self) -> None:
        """Close the event file (an interrupted run's too, before a resume opens the next)."""
        if self.writer is not None:
            self.writer.close()

    def stats(self, stats: dict, step: int) -> None:
        write_stats(self.writer, stats, step)

    def histograms(self, model: nn.Module, step: int) -> None:
        """Sampled values of the first channel of each layer and of the whole layer, at the
        activation output and the block output (paper Figures 1 and 8), on test images."""
        samples = channel_samples(model, self.data, channels=1, max_values=HISTOGRAM_VALUES,
                                  seed=self.seed, device=self.device,
                                  max_samples=HISTOGRAM_IMAGES)
        for name in samples.layers:
            for site in ("act", "block"):
                self.writer.add_histogram(f"{site}/{name}/layer",
                                          samples.layer_values(site, name), step)
                self.writer.add_histogram(f"{site}/{name}/channel0",
                                          samples.values(site, name)[0], step)


def open_log(tensorboard: str | Path | None, run_dir: Path, data, device: torch.device,
             last_epoch: int, seed: int = 0, leader: bool = True) -> TensorBoardLog | None:
    """The run's TensorBoard log, or None when not asked for or not rank 0. `tensorboard` ""
    means the default folder inside the run directory."""
    if tensorboard is None or not leader:
        return None
    # The user's folder may be a link; the one inside the run directory may not.
    log_dir = Path(tensorboard) if str(tensorboard) else refuse_link(run_dir / TENSORBOARD_DIR)
    return TensorBoardLog(log_dir, data, device, last_epoch, seed)
