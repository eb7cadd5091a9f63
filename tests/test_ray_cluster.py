"""The Ray backend on a cluster: two one-CPU nodes simulated on this machine
(`ray.cluster_utils.Cluster`, as Ray's own tests do), a node removed mid-sweep, and the small
files a node sends back to a driver that does not share its filesystem.

The cluster tests are slow (each Ray node starts in 20-40 s here): `make test-slow`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from fixtures_sweeps import SMALL_EXPERIMENT
from swapbn.experiments import SCALES, plan
from swapbn.experiments.cluster import collect
from swapbn.rundir import SMALL_FILES, RunDir
from swapbn.training import TIMING_FIELDS, TrainConfig

VOLATILE = {"versions", "git_commit", "device_name"}  # where and when, not what


def job(run_id: str, config: dict, out: Path) -> dict:
    """A sweep's job for one run (as experiments.runner makes it: resume, one thread)."""
    return {"run_id": run_id, "config": config, "out_dir": str(out / run_id), "mode": "resume",
            "threads": 1, "progress": False}


def test_a_run_made_elsewhere_is_collected_once(small_sweep: Path, tmp_path: Path) -> None:
    source = RunDir(next(p for p in sorted(small_sweep.iterdir()) if p.is_dir()))
    result = {"final": source.final, "host": "node-b", "files": source.small_files(),
              "checkpoint": "/scratch/node-b/run/checkpoint.pt"}
    assert set(result["files"]) == set(SMALL_FILES) and "checkpoint.pt" not in result["files"]
    said: list[str] = []
    target = tmp_path / "sweep" / source.path.name
    final = collect({"run_id": "r", "out_dir": str(target)}, result, said.append)
    assert final == source.final
    for name in SMALL_FILES:
        assert (target / name).read_bytes() == (source.path / name).read_bytes()
    assert RunDir(target).final == source.final and RunDir(target).metrics()
    assert len(said) == 1 and "node-b" in said[0] and result["checkpoint"] in said[0]
    # Again (a shared filesystem: the files are already there): nothing written, nothing said.
    before = {name: (target / name).stat().st_mtime_ns for name in SMALL_FILES}
    collect({"run_id": "r", "out_dir": str(target)}, result, said.append)
    assert {name: (target / name).stat().st_mtime_ns for name in SMALL_FILES} == before
    assert len(said) == 1


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'swapbn[ray]')")
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_worker_niceness", "0")  # see experiments/backends.py
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level=logging.ERROR, log_to_driver=False)
    try:
        yield cluster, worker
    finally:
        ray.shutdown()
        cluster.shutdown()


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_node(cluster, node) -> None:
    """A node's death: Ray removes the node, and the workers it ran die with it (a worker in
    the middle of a task outlives its raylet on one machine; on a dead machine it cannot)."""
    from ray._private import ray_constants

    raylet = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
    workers = descendants(raylet)
    cluster.remove_node(node, allow_graceful=False)
    for pid in workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def without_timing(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in line.items() if k not in TIMING_FIELDS} for line in lines]


@pytest.mark.slow
def test_a_sweep_spreads_over_both_nodes_and_equals_the_local_backend(
        cluster, small_sweep: Path, tmp_path: Path) -> None:
    from swapbn.experiments.backends import run_ray

    specs = plan(SMALL_EXPERIMENT, SCALES["smoke"])
    jobs = [job(s.run_id, TrainConfig(**s.config).resolve().to_dict(), tmp_path) for s in specs]
    results: dict[str, object] = {}
    placed = run_ray(jobs, address=None, num_cpus=None, cpus_per_run=1, gpus_per_run=0,
                     on_result=results.__setitem__)
    assert sorted(results) == sorted(s.run_id for s in specs)
    assert len({p["node"] for p in placed.values()}) == 2, placed
    for s in specs:
        ray_run, local_run = RunDir(tmp_path / s.run_id), RunDir(small_sweep / s.run_id)
        configs = [{k: v for k, v in r.config.items() if k not in VOLATILE}
                   for r in (ray_run, local_run)]
        assert configs[0] == configs[1]
        assert without_timing(ray_run.metrics()) == without_timing(local_run.metrics())
        for key in ("status", "final_test_acc", "best_test_acc", "stats"):
            assert getattr(ray_run.final, key) == getattr(local_run.final, key), key


EPOCHS = 4


@pytest.mark.slow
def test_a_node_removed_mid_sweep_its_runs_resume_on_the_other(cluster, tmp_path: Path) -> None:
    from swapbn.experiments.backends import run_ray

    cluster_, worker = cluster
    configs = {f"run-s{seed}": TrainConfig(
        arch="vgg16_11", act="tanh", order="swap", dataset="digits", width=0.125,
        train_subset=600, epochs=EPOCHS, batch_size=32, lr=0.05, seed=seed,
        device="cpu").resolve().to_dict() for seed in range(3)}
    jobs = [job(run_id, config, tmp_path) for run_id, config in configs.items()]
    results: list[tuple[str, object]] = []
    placed: dict[str, dict] = {}

    def sweep() -> None:
        placed.update(run_ray(jobs, address=None, num_cpus=None, cpus_per_run=1,
                              gpus_per_run=0, on_result=lambda *r: results.append(r)))

    driver = threading.Thread(target=sweep)
    driver.start()
    # Wait until both nodes are inside a run with a finished epoch, then take one node away.
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        running = [r for r in configs if RunDir(tmp_path / r).metrics()
                   and RunDir(tmp_path / r).final is None]
        if len(running) == 2:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the runs never got under way on both nodes")
    before = {r: RunDir(tmp_path / r).metrics() for r in configs}
    kill_node(cluster_, worker)
    removed_at = time.monotonic()
    driver.join(timeout=900)
    assert not driver.is_alive(), "the sweep did not finish after the node was removed"

    assert sorted(r for r, _ in results) == sorted(configs)  # every run recorded once
    for run_id in configs:
        run = RunDir(tmp_path / run_id)
        assert run.final.status == "completed" and run.final.epochs_completed == EPOCHS
        assert [line["epoch"] for line in run.metrics()] == list(range(1, EPOCHS + 1))
    resumed = {r: p["resumed_after"] for r, p in placed.items() if p["resumed_after"]}
    assert resumed, f"no run resumed from its checkpoint: {placed}"
    for run_id, epochs in resumed.items():
        # The epochs done before the node went are kept as they were (timing included):
        # the retry continued from the checkpoint instead of training them again.
        assert RunDir(tmp_path / run_id).metrics()[:epochs] == before[run_id][:epochs]
        assert placed[run_id]["node"] != worker.node_id  # finished on the node that stayed
    print(json.dumps({"runs": len(configs), "resumed": resumed,
                      "epochs_before_removal": {r: len(v) for r, v in before.items()},
                      "seconds_after_removal": round(time.monotonic() - removed_at, 1)}))
