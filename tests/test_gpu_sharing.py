"""Several small runs on one GPU: Ray places four runs of 0.25 GPU on one GPU at the same time.

Tested without a GPU through Ray's logical resources (a local instance told it has one GPU),
with the backend's own task options (`run_ray`); each task waits at a barrier until all four
are running, so the test does not depend on timing.
"""

from __future__ import annotations

import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'swapbn[ray]')")

from swapbn.experiments import backends  # noqa: E402


@ray.remote(num_cpus=0)
class Barrier:
    def __init__(self) -> None:
        self.arrived = 0

    def arrive(self) -> int:
        self.arrived += 1
        return self.arrived

    def count(self) -> int:
        return self.arrived


def wait_for_all(job: dict) -> dict:
    """Stands in for a run on a node: arrive, then wait (up to a minute) until all runs are
    running; returns what `cluster.run_on_node` returns, its final record being that flag."""
    barrier = job["barrier"]
    ray.get(barrier.arrive.remote())
    deadline = time.monotonic() + 60
    together = False
    while time.monotonic() < deadline and not together:
        together = ray.get(barrier.count.remote()) >= job["runs"]
        time.sleep(0.2)
    return {"final": (job["run_id"], together), "node": "", "host": "", "resumed_after": 0}


def test_four_runs_of_a_quarter_gpu_run_at_once(monkeypatch):
    ray.init(num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        ray.cloudpickle.register_pickle_by_value(__import__(__name__))
        barrier = Barrier.remote()
        monkeypatch.setattr(backends, "run_on_node", wait_for_all)
        monkeypatch.setattr(backends, "collect", lambda job, result, say=None: result["final"])
        jobs = [{"run_id": f"r{i}", "barrier": barrier, "runs": 4} for i in range(4)]
        results = {}
        backends.run_ray(jobs, address=None, num_cpus=None, cpus_per_run=1, gpus_per_run=0.25,
                         on_result=lambda run_id, value: results.update({run_id: value}))
        assert sorted(results) == ["r0", "r1", "r2", "r3"]
        assert all(ok for _, ok in results.values())  # all four were running together
    finally:
        ray.shutdown()
