"""Where the runs of a sweep execute: this process, a local process pool, or Ray.

Every backend calls `execute.run_one(job)` per run and hands each result to `on_result` as soon
as it arrives, so the sweep reports progress in completion order. Run directories are written
by the workers themselves. An interrupt of the sweep (Ctrl-C, SIGTERM) is passed on to the
workers, which record their runs as interrupted, and the sweep waits for them before it ends
(`stop_pool`; docs/faults.md). A pool worker ends with its driver however the driver ends,
SIGKILL included (`die_with_parent`): its run records itself as interrupted and the next sweep
continues it, and no worker takes up a queued run for a driver that is gone. With Ray on a cluster without a shared filesystem the driver
collects each run's small files (experiments/cluster.py).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

from ..errors import UsageError
from ..rundir import FinalRecord, RunDir
from .cluster import RETRIES, collect, run_on_node
from .execute import record_failure, run_one, stops_sweep

OnResult = Callable[[str, FinalRecord], None]  # (run_id, its final record)
BACKENDS = ("local", "ray")


def _crashed(job: dict, exc: BaseException) -> FinalRecord:
    """A run whose worker died (out of memory, killed): nothing could record it but us."""
    return record_failure(RunDir(job["out_dir"]), job["config"], exc)


def run_local(jobs: list[dict], *, workers: int, on_result: OnResult) -> None:
    """Sequentially in this process (workers=1), else a pool of `workers` spawned processes."""
    if workers <= 1:
        for job in jobs:
            on_result(job["run_id"], run_one(job))
        return
    # spawn: a fresh interpreter per worker (fork would copy torch's thread pools and locks).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(run_in_worker, job): job for job in jobs}
        try:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    final = future.result()
                except Exception as exc:
                    if stops_sweep(exc, job):
                        raise
                    final = _crashed(job, exc)
                on_result(job["run_id"], final)
        except BaseException:
            stop_pool(pool)  # an interrupt, a full disk that every later run would meet, ...
            raise


PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_S = 0.5  # how often a worker looks whether its driver still lives
_driver: list[int] = []  # in a pool worker: the driver's pid


def die_with_parent(parent: int) -> None:
    """A pool worker's initializer: SIGTERM when the driver dies, however it dies.

    The kernel sends it on Linux (prctl PR_SET_PDEATHSIG); everywhere a watchdog thread sends
    it once the worker's parent is no longer the driver (a dead parent's children are
    re-parented). SIGTERM stops the worker's run as it stops a run of `swapbn train`: it
    records itself as interrupted and the next sweep resumes it; an idle worker just ends.
    """
    _driver[:] = [parent]
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still ends the worker
    if os.getppid() != parent:  # the driver died before the signal was asked for
        os._exit(128 + signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="swapbn-driver-watch", daemon=True).start()


def orphaned() -> bool:
    """Whether this process is a pool worker whose driver has died."""
    return bool(_driver) and os.getppid() != _driver[0]


def run_in_worker(job: dict) -> FinalRecord:
    """`run_one` in a pool worker; a worker whose driver died takes up no queued run and ends
    as soon as its run has recorded itself, since nobody is left to take the result."""
    if orphaned():
        os._exit(128 + signal.SIGTERM)
    try:
        return run_one(job)
    finally:
        if orphaned():
            os._exit(128 + signal.SIGTERM)


STOP_REPEAT_S = 1.0  # a worker may take up a queued run after the first signal
STOP_WAIT_S = 120.0  # then the workers that still live are killed


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Pass an interrupt on to the pool's workers and wait for them: queued runs are cancelled,
    each live worker gets SIGTERM (again every second, for a run it took up meanwhile; its run
    records itself as interrupted and a worker idle in the pool ends), and the sweep returns
    only when every worker has exited, so none is left running without its driver."""
    processes = list(getattr(pool, "_processes", {}).values())  # no public list of workers
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + STOP_WAIT_S
    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        for p in processes:
            if p.is_alive() and p.pid is not None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in processes:
            p.join(STOP_REPEAT_S / max(1, len(processes)))
    for p in processes:
        if p.is_alive():
            p.kill()
            p.join()


def import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--backend ray needs Ray, which is not installed: "
                         "pip install 'swapbn[ray]'") from None
    return ray


def run_ray(jobs: list[dict], *, address: str | None, num_cpus: int | None,
            cpus_per_run: float, gpus_per_run: float, on_result: OnResult,
            say: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Each run as a Ray task on the cluster at `address`, or on a local Ray instance.

    A task whose worker or node dies is retried (RETRIES times) and resumes from the run's
    checkpoint. Returns, per run, where its last attempt ran: node, host, resumed_after (the
    epochs that attempt found done).

    A local instance gets `num_cpus` CPUs, no dashboard and quiet logging, and is shut down at
    the end; an existing cluster is only connected to.
    """
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        else:
            # Ray runs its workers at niceness 15 by default; on a machine shared with other
            # work that starves them (minutes to import torch), so the local instance's runs get
            # the priority the local backend's have. RAY_worker_niceness set by the user wins.
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.ERROR,
                     log_to_driver=False, configure_logging=True)
        started = True
    try:
        task = ray.remote(run_on_node).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
                                                max_retries=RETRIES)
        pending = {task.remote(job): job for job in jobs}
        placed: dict[str, dict] = {}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    job = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                        final = collect(job, result, say)
                        placed[job["run_id"]] = {k: result[k] for k in ("node", "host",
                                                                         "resumed_after")}
                    except Exception as exc:  # the task's worker died on every attempt
                        final = _crashed(job, exc)
                    on_result(job["run_id"], final)
        except KeyboardInterrupt:
            for ref in pending:  # a KeyboardInterrupt in each task: recorded as interrupted
                ray.cancel(ref)
            ray.wait(list(pending), num_returns=len(pending), timeout=STOP_WAIT_S)
            raise
        return placed
    finally:
        if started:
            ray.shutdown()


__all__ = ["BACKENDS", "import_ray", "run_local", "run_ray"]
