"""benchmarks/gpu_check.sh without a GPU: its argument handling, the result file, and the
projection of the paper's 200-epoch CIFAR run."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def gpu_speed():
    spec = importlib.util.spec_from_file_location("gpu_speed", ROOT / "benchmarks" / "gpu_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(*args: str, out: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT / "src")}
    if out is not None:
        env["OUT"] = str(out)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


@pytest.mark.parametrize("args", [["--bogus"], ["--steps"], ["--steps", "0"],
                                  ["--steps", "ten"]])
def test_bad_arguments_exit_2_with_one_line(args, tmp_path):
    done = check(*args, out=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "gpu_check.sh" in done.stderr
    assert not (tmp_path / "gpu_check").exists()  # nothing written before the check


def test_help_exits_0():
    done = check("--help")
    assert done.returncode == 0 and "--steps" in done.stdout


def test_projection_is_epochs_times_images_over_speed():
    speed = gpu_speed()
    assert speed.projected_seconds(1000.0) == 200 * 50_000 / 1000.0
    assert speed.projected_seconds(2500.0, epochs=10, train_images=5000) == 20.0
    with pytest.raises(ValueError, match="positive"):
        speed.projected_seconds(0.0)


def test_a_cpu_run_writes_the_result_file(tmp_path):
    done = check("--device", "cpu", "--dataset", "digits", "--width", "0.0625", "--steps", "3",
                 "--variants", "tf32", "--skip-tests", out=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "gpu_check" / "gpu_speed.json").read_text())
    assert record["device"] == "cpu" and record["steps"] == 3
    (result,) = record["results"]
    assert result["precision"] == "float32" and result["images_per_s"] > 0
    assert result["projected_paper_cifar_s"] == pytest.approx(
        200 * 50_000 / result["images_per_s"])
    assert "paper CIFAR run (200 epochs)" in done.stdout
    timed = record["measure"]  # evaluate, measure and fused measure of the test split
    assert timed["images"] > 0 and set(timed["seconds"]) == {"evaluate", "measure",
                                                             "measure_fused"}
    assert timed["fused_over_evaluate"] == pytest.approx(
        timed["seconds"]["measure_fused"] / timed["seconds"]["evaluate"])
