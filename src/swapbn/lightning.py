"""A Lightning callback that logs the paper's saturation, skewness and sparsity while a
LightningModule trains: each layer's and their averages, every N training steps and at the
end of every validation pass, to the trainer's loggers, through `swapbn.Monitor`.

Lightning is an optional extra (`pip install 'swapbn[lightning]'`); importing this module
without it raises one line that says so. `import swapbn` never imports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack

from torch import nn

try:
    from lightning.pytorch import Callback
except ImportError:
    raise ImportError("swapbn.lightning needs Lightning: pip install 'swapbn[lightning]'") from None

from .metrics import Measurement
from .monitor import Monitor
from .training.tensorboard import stat_scalars


class SwapbnCallback(Callback):
    """Log the measures of one training step in every `every_n_steps` (the first step, then
    every N-th optimizer step; with gradient accumulation its first batch) as
    `train/stats/avg_saturation`, `train/skewness/<layer>`, ... and, with `validation`, those
    of the whole validation pass (eval mode, as `measure` reads a model, paper Section 5.2) as
    `val/...` at its end, each at the trainer's global step. Undefined values (saturation of
    ReLU) are left out.

    `module` names the submodule to watch (default: the LightningModule itself); `points`
    are measure's (default: its swapbn blocks, else `find_points`, which traces the watched
    module's forward: name the submodule that training_step calls if it is not `self(x)`).
    With several processes the statistics of all ranks are merged before rank 0 logs.
    """

    def __init__(self, every_n_steps: int = 50, *, module: str | None = None,
                 points: Iterable | None = None, validation: bool = True,
                 fused: bool = False, prefix: str = "") -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be at least 1, got {every_n_steps}")
        self.every_n_steps, self.module, self.points = every_n_steps, module, points
        self.validation, self.fused, self.prefix = validation, fused, prefix
        self.monitor: Monitor | None = None
        self._measuring = ExitStack()
        self._due_step: int | None = None  # the step being measured
        self._last_step: int | None = None

    def _watch(self, pl_module: nn.Module) -> Monitor:
        """The Monitor, made on first use: after the strategy has moved and wrapped the
        model, so the hooks sit on the modules that run."""
        if self.monitor is None:
            target = pl_module.get_submodule(self.module) if self.module else pl_module
            self.monitor = Monitor(target, every=None, points=self.points, fused=self.fused)
        return self.monitor

    def _log(self, trainer, measurement: Measurement | None, stage: str, step: int) -> None:
        if measurement is None:
            return
        if trainer.world_size > 1:
            measurement.all_reduce()
        metrics = stat_scalars(measurement.to_dict(), prefix=f"{self.prefix}{stage}/")
        for logger in trainer.loggers:  # Lightning's loggers write on rank 0 only
            logger.log_metrics(metrics, step=step)

    # ---------------------------------------------------------------- training
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every_n_steps or step == self._last_step:
            return
        self._due_step = self._last_step = step
        self._measuring.enter_context(self._watch(pl_module).measuring())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._due_step is None:
            return
        self._measuring.close()
        self._log(trainer, self.monitor.read(), "train", self._due_step)
        self._due_step = None

    # -------------------------------------------------------------- validation
    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx,
                                  dataloader_idx: int = 0) -> None:
        if self.validation and not trainer.sanity_checking:
            self._measuring.enter_context(self._watch(pl_module).measuring())

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                                dataloader_idx: int = 0) -> None:
        self._measuring.close()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self.validation and not trainer.sanity_checking and self.monitor is not None:
            self._log(trainer, self.monitor.read(), "val", trainer.global_step)

    # ----------------------------------------------------------------- the end
    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.teardown(trainer, pl_module, "")

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self._measuring.close()
        self._due_step = None
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
