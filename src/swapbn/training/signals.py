"""A run's guard against faults from outside: another process, SIGTERM and Ctrl-C.

`guarded` wraps `train`: it holds the run directory's lock for the life of the run (a second
process writing the same folder is refused, `RunDir.lock`), turns SIGTERM into `Interrupted` (a
KeyboardInterrupt, so the epoch loop leaves its last checkpoint exactly as for Ctrl-C) and, on
either, records final.json with status interrupted, which `--resume` and a rerun of the sweep
continue (docs/faults.md).
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import Interrupted, RecordError
from ..rundir import LOCK, FinalRecord, RunDir
from .distributed import Ranks


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, the first SIGTERM raises Interrupted in the main thread; later ones
    (a sweep driver repeating it) are ignored while the interrupted run records itself."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    raised = False

    def handler(signum: int, frame) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Interrupted(signum)

    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def record_interrupted(run: RunDir) -> None:
    """final.json with status interrupted, from the epochs recorded so far; only for a run that
    has started (config.json) and has no final record yet."""
    try:
        if run.config is None or run.final is not None:
            return
        lines = run.metrics()
    except RecordError:
        return
    accs = [line["test_acc"] for line in lines]
    run.write_final(FinalRecord(
        status="interrupted", epochs_completed=len(lines),
        final_test_acc=accs[-1] if accs else None, best_test_acc=max(accs) if accs else None,
        seconds=sum(line.get("seconds", 0.0) for line in lines),
        error="interrupted; --resume continues from the last checkpoint"))


def remove_unstarted(run: RunDir) -> None:
    """Remove a folder this run created but never wrote a record into (bad input found while
    loading the data), so bad input leaves nothing behind."""
    if run.present():
        return
    with contextlib.suppress(OSError):
        (run.path / LOCK).unlink(missing_ok=True)
        run.path.rmdir()


def guarded(train: Callable[..., FinalRecord]) -> Callable[..., FinalRecord]:
    """`train(config, out_dir, ...)` holding out_dir's lock, with SIGTERM as an interrupt and
    an interrupted run recorded as such."""

    @functools.wraps(train)
    def run(config, out_dir: str | Path, *args, **kwargs) -> FinalRecord:
        ranks = kwargs.get("ranks") or Ranks.current()
        if not ranks.leader:  # ranks > 0 read rank 0's run directory but never write it
            return train(config, out_dir, *args, **kwargs)
        rundir = RunDir(out_dir)
        created = not rundir.path.exists()
        try:
            with rundir.lock(), sigterm_interrupts():
                try:
                    return train(config, out_dir, *args, **kwargs)
                except KeyboardInterrupt:
                    with contextlib.suppress(OSError):
                        record_interrupted(rundir)
                    raise
        except BaseException:
            if created:
                remove_unstarted(rundir)
            raise

    return run
