"""Monitor: the paper's saturation, skewness and sparsity inside your own training loop.

`measure` reads a model after training; a Monitor watches it while it trains, the way fastai's
ActivationStats does, with measure's own observers (`PointObserver`: hooks and the exact
mergeable statistics they feed; docs/architecture.md): one train-mode forward pass in every
`every` is measured, the passes measured since the last `read()` form one window, and
`read()` hands that window back as the `Measurement` that `measure` returns.

Between due passes the point hooks are not installed: the model carries one forward pre-hook
and one forward hook that count calls and return (docs/speed.md has the measured costs). For
points that `find_points` found (models without swapbn blocks), a due pass runs the observed
graph, which shares the model's parameters and computes the same operations; every other
pass runs the model's own forward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .fx import resolve_points
from .metrics.hooks import Hooks
from .metrics.measure import Measurement, PointObserver
from .metrics.moments import release_scratch
from .training.tensorboard import write_stats

Writer = Callable[[Measurement, int], object]


class Monitor:
    """Measure one train-mode forward pass of `model` in every `every`, until closed.

    Due passes are counted on the model's own calls, so a training loop needs no change:
    the first train-mode forward pass is measured, then every `every`-th one after it
    (eval-mode passes are neither counted nor measured; `every=None` counts nothing and
    measures only inside `measuring()`). `points` are those of `measure` (default: the
    model's swapbn blocks, else `find_points(model)`).

    `read()` returns the statistics of the passes measured since the last read (a
    `Measurement`, None when there were none) and starts a new window. With a `writer`
    (a `torch.utils.tensorboard.SummaryWriter`, or any callable taking the Measurement and
    the step), every `window` measured passes make a window that is read and written by
    itself, and `close()` writes the last, partial one; the step is the number of train-mode
    passes of the model before the window's last measured pass (the optimizer steps before
    it in a loop of one forward pass per step). Use it as a `with` block or call `close()`.

    Each rank of a data-parallel run measures its own batches: `read().all_reduce()` merges
    them. The hooks run in Python: attach it to a model that runs eagerly, not to the
    module that torch.compile returns.
    """

    def __init__(self, model: nn.Module, every: int | None = 1, points: Iterable | None = None,
                 writer: Writer | object | None = None, *, window: int = 1,
                 fused: bool = False) -> None:
        if every is not None and every < 1:
            raise ValueError(f"every must be at least 1 (or None), got {every}")
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        if writer is not None and not (hasattr(writer, "add_scalar") or callable(writer)):
            raise TypeError("writer must be a SummaryWriter or a callable (measurement, step)")
        self.points = resolve_points(model, points)
        self.model, self.every, self.writer, self.window, self.fused = (
            model, every, writer, window, fused)
        self.calls = 0  # train-mode forward passes of the model so far
        self.passes = self.samples = 0  # of the current window
        self.step = 0
        self._observers = [PointObserver(p, fused=fused) for p in self.points]
        self._armed = Hooks()  # the points' hooks, only while a pass is measured
        self._auto = False  # the pass now running was armed by the count
        self._hooks = Hooks()  # the model's own: count its calls
        self._hooks.forward_pre(model, self._before)
        self._hooks.forward(model, self._after, always_call=True)
        # points in an observed graph (find_points): measured passes run it
        self._graph = self.points.module if self.points.module is not model else None
        self._own_forward: tuple | None = None
        self._plain = None
        if self._graph is not None:
            self._route(model)
        self.closed = False

    # ------------------------------------------------------------------ passes
    @property
    def measuring_now(self) -> bool:
        return bool(self._armed)

    def _arm(self) -> None:
        if not self._armed:
            for observer in self._observers:
                observer.attach(self._armed)

    def _disarm(self) -> None:
        self._armed.remove()
        release_scratch()  # the statistics' temporary buffers are not kept between passes

    def _before(self, module: nn.Module, args: tuple) -> None:
        if module.training:
            due = self.every is not None and self.calls % self.every == 0
            self.calls += 1
            if due and not self.measuring_now:
                self._arm()
                self._auto = True
        if self.measuring_now:
            self.passes += 1
            self.samples += next((len(a) for a in args if isinstance(a, torch.Tensor)
                                  and a.dim() > 0), 0)
            self.step = self.calls - 1 if module.training else self.calls

    def _after(self, module: nn.Module, args: tuple, output) -> None:
        if self._auto:  # returns None: a forward hook's return value replaces the output
            self._auto = False
            self._disarm()
            if self.writer is not None and self.passes >= self.window:
                self.read()

    def _route(self, model: nn.Module) -> None:
        """Give the model an instance `forward` that runs the observed graph while a pass is
        measured and its own forward otherwise (close() takes it away again). A bound method,
        not a closure: a deep copy of the model (an EMA copy, a snapshot) then gets a copy of
        this Monitor that routes to the copy's own graph and forward."""
        own = model.__dict__.get("forward")
        self._own_forward = (own,)
        self._plain = own if own is not None else type(model).forward.__get__(model)
        model.forward = self._routed_forward

    def _routed_forward(self, *args, **kwargs):
        return (self._graph if self._armed else self._plain)(*args, **kwargs)

    @contextmanager
    def measuring(self) -> Iterator[Monitor]:
        """Measure every forward pass of the model inside the block, in any mode (a validation
        pass, or the steps a framework's callback chooses), into the current window."""
        if self.closed:
            raise RuntimeError("this Monitor is closed")
        if self.measuring_now:
            yield self
            return
        self._arm()
        try:
            yield self
        finally:
            self._disarm()

    # ------------------------------------------------------------------ windows
    def read(self) -> Measurement | None:
        """The statistics of the passes measured since the last read (None if none), on the
        CPU, written to the writer if there is one; a new window starts."""
        if self.passes == 0 and all(o.empty for o in self._observers):
            return None  # (statistics without passes: hooks inside the model fired, inside
            # measuring(), while something other than the model's own forward ran them)
        measurement = Measurement([o.take() for o in self._observers], self.samples)
        self.passes = self.samples = 0
        if self.writer is not None:
            if hasattr(self.writer, "add_scalar"):
                write_stats(self.writer, measurement.to_dict(), self.step)
            else:
                self.writer(measurement, self.step)
        return measurement

    def close(self) -> None:
        """Remove every hook (and the instance forward of an observed graph); a writer gets
        the last window. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self._disarm()
        self._hooks.remove()
        if self._own_forward is not None:
            own = self._own_forward[0]
            if own is None:
                self.model.__dict__.pop("forward", None)
            else:
                self.model.forward = own
            self._own_forward = None
        if self.writer is not None:
            self.read()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Monitor(every={self.every}, points={len(self.points)}, calls={self.calls}, "
                f"window passes={self.passes})")
