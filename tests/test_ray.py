"""The Ray backend gives the same run directories as the local one (same seed, same CPU).

In the default set: the two runs of the small sweep (fixtures_sweeps.small_sweep) again on Ray.
Slow: table2's six runs on Ray against the same runs in smoke_sweeps (every experiment).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures_sweeps import SMALL_EXPERIMENT
from swapbn.experiments import SCALES, plan
from swapbn.training import TIMING_FIELDS


def sweep(*argv: str) -> int:
    from swapbn.cli import main

    return main(["sweep", *argv])


pytest.importorskip("ray", reason="Ray is not installed (pip install 'swapbn[ray]')")

# Fields that say where and when a run was made, not what it computed.
VOLATILE = {"versions", "git_commit", "device_name"}


def _without_timing(line: dict) -> dict:
    return {k: v for k, v in line.items() if k not in TIMING_FIELDS}


def assert_ray_sweep_matches(experiment: str, local: Path, out: Path) -> None:
    """Sweep `experiment` at smoke scale on Ray into `out`; every run directory has the same
    configuration, per-epoch records and final results as the local backend's in `local`."""
    # The local runs used one thread per run; so does each Ray task (1 CPU).
    assert sweep(experiment, "--scale", "smoke", "--out", str(out), "--backend", "ray",
                 "--workers", "2", "--cpus-per-run", "1", "--quiet") == 0
    runs = plan(experiment, SCALES["smoke"])
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(r.run_id for r in runs)
    for r in runs:
        ray_dir, local_dir = out / r.run_id, local / r.run_id
        configs = [{k: v for k, v in json.loads((d / "config.json").read_text()).items()
                    if k not in VOLATILE} for d in (ray_dir, local_dir)]
        assert configs[0] == configs[1]
        lines = [[_without_timing(json.loads(x))
                  for x in (d / "metrics.jsonl").read_text().splitlines()]
                 for d in (ray_dir, local_dir)]
        assert lines[0] and lines[0] == lines[1]
        finals = [json.loads((d / "final.json").read_text()) for d in (ray_dir, local_dir)]
        assert finals[0]["status"] == "completed", (r.run_id, finals[0].get("error"))
        for key in ("status", "final_test_acc", "best_test_acc", "stats"):
            assert finals[0][key] == finals[1][key], (r.run_id, key)


def test_ray_runs_the_small_sweep_as_the_local_backend_does(small_sweep, tmp_path):
    assert_ray_sweep_matches(SMALL_EXPERIMENT, small_sweep, tmp_path)


@pytest.mark.slow
def test_ray_sweep_of_table2_matches_the_local_one(smoke_sweeps, tmp_path):
    assert_ray_sweep_matches("table2", smoke_sweeps, tmp_path)
