"""The Ray backend gives the same run directories as the local one (same seed, same CPU)."""

from __future__ import annotations

import json

import pytest

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


def test_ray_sweep_matches_the_local_one(smoke_sweeps, tmp_path):
    # The local runs (smoke_sweeps) used one thread per run; so does each Ray task (1 CPU).
    assert sweep("table2", "--scale", "smoke", "--out", str(tmp_path), "--backend", "ray",
                 "--workers", "2", "--cpus-per-run", "1", "--quiet") == 0
    runs = plan("table2", SCALES["smoke"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(r.run_id for r in runs)
    for r in runs:
        ray_dir, local_dir = tmp_path / r.run_id, smoke_sweeps / r.run_id
        configs = [{k: v for k, v in json.loads((d / "config.json").read_text()).items()
                    if k not in VOLATILE} for d in (ray_dir, local_dir)]
        assert configs[0] == configs[1]
        lines = [[_without_timing(json.loads(x))
                  for x in (d / "metrics.jsonl").read_text().splitlines()]
                 for d in (ray_dir, local_dir)]
        assert lines[0] == lines[1]
        finals = [json.loads((d / "final.json").read_text()) for d in (ray_dir, local_dir)]
        for key in ("status", "final_test_acc", "best_test_acc", "stats"):
            assert finals[0][key] == finals[1][key], (r.run_id, key)
