"""Fault injection, the slow part: real processes killed at chosen points of every write,
SIGTERM to a run and to a sweep, SIGKILL of a sweep's driver, two processes on one run
directory, a file-size limit, a full disk, and the memory a decompression bomb may take
(docs/faults.md). Each case ends in a record that resumes to the numbers of an uninterrupted
run, or in one line and a documented exit status."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import swapbn
from faults_files import png_bomb
from swapbn.experiments.sweeps import read_sweeps
from swapbn.rundir import CHANNELS, CHECKPOINT, CONFIG, FINAL, METRICS, RunDir
from swapbn.training.loop import TIMING_FIELDS

pytestmark = pytest.mark.slow

SRC = str(Path(swapbn.__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
RUN = ["--dataset", "digits", "--width", "0.125", "--train-subset", "200", "--epochs", "2",
       "--batch-size", "32", "--device", "cpu", "--threads", "1", "--quiet"]

# Run by a child process: train, but SIGKILL itself at the n-th write of one run file, either
# with the temporary file written and not yet renamed ("mid") or just after the rename.
KILLER = """
import os, signal, sys
import swapbn.atomic as atomic
from swapbn import cli
name, n, phase = sys.argv[1], int(sys.argv[2]), sys.argv[3]
original, seen = atomic.atomic_write, [0]
def atomic_write(path, write):
    if os.path.basename(str(path)) != name:
        return original(path, write)
    seen[0] += 1
    if seen[0] != n:
        return original(path, write)
    if phase == "mid":
        def write_then_die(tmp):
            write(tmp)
            os.kill(os.getpid(), signal.SIGKILL)
        return original(path, write_then_die)
    original(path, write)
    os.kill(os.getpid(), signal.SIGKILL)
for module in list(sys.modules.values()):
    if getattr(module, "atomic_write", None) is original:
        module.atomic_write = atomic_write
sys.exit(cli.main(sys.argv[4:]))
"""
KILL_POINTS = [(CONFIG, 1, "mid"), (METRICS, 1, "mid"), (METRICS, 2, "mid"),
               (METRICS, 3, "after"), (CHECKPOINT, 1, "mid"), (CHECKPOINT, 1, "after"),
               (CHECKPOINT, 2, "mid"), (CHANNELS, 1, "mid"), (CHANNELS, 1, "after"),
               (FINAL, 1, "mid"), (FINAL, 1, "after")]


def swapbn_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "swapbn.cli", *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def wait_for(predicate, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


def record(run_dir: Path) -> dict:
    """What a finished run holds, without wall-clock times: metrics, final record, weights."""
    run = RunDir(run_dir)
    final = run.final.to_dict()
    return {"metrics": [{k: v for k, v in line.items() if k not in TIMING_FIELDS}
                        for line in run.metrics()],
            "final": {k: v for k, v in final.items() if k != "seconds"},
            "weights": {k: v for k, v in run.checkpoint()["model"].items()}}


def same(a: dict, b: dict) -> bool:
    weights = a["weights"].keys() == b["weights"].keys() and all(
        torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])
    return weights and a["metrics"] == b["metrics"] and a["final"] == b["final"]


def run_dirs(out: Path) -> list[Path]:
    """The run directories of a sweep folder (beside them: its sweeps.jsonl)."""
    return [p for p in out.iterdir() if p.is_dir()]


def temporaries(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.glob(".*.*") if p.name != ".lock")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reference") / "run"
    assert finish(swapbn_cli("train", *RUN, "--out", str(out)))[0] == 0
    return record(out)


@pytest.mark.parametrize("name,n,phase", KILL_POINTS)
def test_a_kill_at_any_write_resumes_to_identical_results(reference, tmp_path, name, n,
                                                          phase) -> None:
    out = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", KILLER, name, str(n), phase, "train", *RUN,
                             "--out", str(out)], env=ENV, capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    rc, err = finish(swapbn_cli("train", *RUN, "--out", str(out), "--resume"))
    assert rc == 0, err
    assert temporaries(out) == []
    assert same(record(out), reference)


def test_sigterm_keeps_the_checkpoint_records_interrupted_and_resumes(reference,
                                                                      tmp_path) -> None:
    out = tmp_path / "run"
    proc = swapbn_cli("train", *RUN, "--out", str(out))
    wait_for(lambda: (out / CHECKPOINT).is_file())
    proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc)
    assert rc == 143
    assert len(err.strip().splitlines()) == 1 and "terminated" in err
    final = RunDir(out).final
    assert final.status == "interrupted" and final.epochs_completed >= 1
    assert temporaries(out) == []
    rc, err = finish(swapbn_cli("train", *RUN, "--out", str(out), "--resume"))
    assert rc == 0, err
    assert same(record(out), reference)


def children(pid: int) -> set[int]:
    """Every descendant of a process (Linux /proc)."""
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                kids = Path(f"/proc/{p}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for kid in map(int, kids):
                if kid not in found:
                    found.add(kid)
                    todo.append(kid)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_sigterm_to_a_sweep_stops_its_workers_and_a_rerun_continues(tmp_path) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", "table2", "--scale", "smoke", "--out", str(out), "--workers", "2",
            "--cpus-per-run", "1", "--quiet"]
    proc = swapbn_cli(*args)
    wait_for(lambda: any(out.glob("*/" + CONFIG)), timeout=180)
    workers = children(proc.pid)
    assert workers
    proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc)
    assert rc == 143, err
    assert "terminated" in err.strip().splitlines()[-1]
    # every worker has ended; a process of the pool still in its exit (the resource tracker,
    # re-parented as the driver returns) is given a moment
    wait_for(lambda: not [pid for pid in workers if alive(pid)], timeout=10)
    statuses = {p.parent.name: RunDir(p.parent).final for p in out.glob("*/" + CONFIG)}
    assert any(f is not None and f.status == "interrupted" for f in statuses.values()), statuses
    for run_dir in run_dirs(out):
        assert temporaries(run_dir) == []
    (stopped,) = read_sweeps(out / "sweeps.jsonl")  # the sweep recorded how it ended
    assert stopped["ended"] == "interrupted" and len(stopped["ran"]) == 6
    rc, err = finish(swapbn_cli(*args))
    assert rc == 0, err
    assert all(RunDir(d).final.status == "completed" for d in run_dirs(out))
    stopped, rerun = read_sweeps(out / "sweeps.jsonl")
    assert rerun["ended"] == "finished"
    assert sorted(stopped["finished"] + rerun["finished"]) == sorted(p.name for p in run_dirs(out))


def test_two_processes_never_share_a_run_directory(tmp_path) -> None:
    out = tmp_path / "run"
    first = swapbn_cli("train", *RUN, "--seed", "0", "--epochs", "100", "--out", str(out))
    wait_for(lambda: (out / CONFIG).is_file())
    rc, err = finish(swapbn_cli("train", *RUN, "--seed", "1", "--out", str(out)))
    assert rc == 2 and f"in use by process {first.pid}" in err
    assert len(err.strip().splitlines()) == 1
    first.send_signal(signal.SIGTERM)
    assert finish(first)[0] == 143
    assert json.loads((out / CONFIG).read_text())["seed"] == 0
    assert RunDir(out).final.status == "interrupted"

    # The lock dies with its holder: a killed run leaves none behind.
    killed = tmp_path / "killed"
    proc = swapbn_cli("train", *RUN, "--out", str(killed))
    wait_for(lambda: (killed / CONFIG).is_file())
    proc.kill()
    proc.wait()
    rc, err = finish(swapbn_cli("train", *RUN, "--out", str(killed), "--resume"))
    assert rc == 0, err


def test_two_identical_sweeps_train_each_run_once(tmp_path) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", "table2", "--scale", "smoke", "--out", str(out), "--cpus-per-run", "1"]
    first = swapbn_cli(*args)
    time.sleep(0.5)
    second = swapbn_cli(*args)
    outputs = [first.communicate(timeout=600)[0], second.communicate(timeout=600)[0]]
    trained = sum(text.count("epoch   1/1") for text in outputs)
    assert trained == 6, outputs
    assert all(RunDir(d).final.status == "completed" for d in run_dirs(out))


def test_a_file_size_limit_is_one_line(tmp_path) -> None:
    out = tmp_path / "run"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    proc = swapbn_cli("train", *RUN, "--out", str(out), preexec_fn=limit)
    rc, err = finish(proc)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert RunDir(out).final.status == "failed"
    assert temporaries(out) == []


@pytest.fixture()
def full_disk(tmp_path):
    """A 1,200 kB tmpfs: room for the records and one checkpoint but not the channel samples
    (skipped where the test machine does not allow mounting one)."""
    mount = tmp_path / "full"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mount)],
                          capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_never_recorded_as_completed(full_disk) -> None:
    out = full_disk / "run"
    rc, err = finish(swapbn_cli("train", *RUN, "--out", str(out)))
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "No space left" in err
    assert RunDir(out).final.status == "failed"
    rc, err = finish(swapbn_cli("train", *RUN, "--out", str(out), "--resume"))
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert RunDir(out).final.status == "failed"
    assert temporaries(out) == []


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_killed_sweep_driver_leaves_no_worker_and_a_rerun_continues(tmp_path) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", "table2", "--scale", "smoke", "--out", str(out), "--workers", "2",
            "--cpus-per-run", "1", "--quiet"]
    proc = swapbn_cli(*args)
    wait_for(lambda: len(list(out.glob("*/" + CONFIG))) >= 2, timeout=180)
    workers = children(proc.pid)  # the pool workers and multiprocessing's resource tracker
    assert len(workers) >= 2
    proc.kill()
    proc.wait()
    wait_for(lambda: not [pid for pid in workers if alive(pid)], timeout=20)
    started = {p.parent.name for p in out.glob("*/" + CONFIG)}
    assert len(started) < 6  # no queued run was taken up after the driver died
    statuses = {name: RunDir(out / name).final for name in started}
    assert any(f is not None and f.status == "interrupted" for f in statuses.values()), statuses
    for run_dir in run_dirs(out):
        assert temporaries(run_dir) == []
    rc, err = finish(swapbn_cli(*args))
    assert rc == 0, err
    assert len(run_dirs(out)) == 6
    assert all(RunDir(d).final.status == "completed" for d in run_dirs(out))


@pytest.fixture()
def small_tmpfs(tmp_path):
    """An 800 kB tmpfs: room for the records and one checkpoint but not a second one beside
    it (skipped where the test machine does not allow mounting one)."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=800k", "tmpfs", str(mount)],
                          capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_names_the_file_records_failed_and_resumes_after_space_is_freed(
        small_tmpfs, tmp_path) -> None:
    run = ["--train-subset", "600", "--epochs", "4"]
    reference = tmp_path / "reference"
    assert finish(swapbn_cli("train", *RUN, *run, "--out", str(reference)))[0] == 0
    out = small_tmpfs / "run"
    rc, err = finish(swapbn_cli("train", *RUN, *run, "--out", str(out)))
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "No space left on device" in err and str(out / CHECKPOINT) in err
    final = RunDir(out).final
    assert final.status == "failed" and "No space left" in final.error
    assert temporaries(out) == []
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_tmpfs)], check=True)
    rc, err = finish(swapbn_cli("train", *RUN, *run, "--out", str(out), "--resume"))
    assert rc == 0, err
    assert same(record(out), record(reference))


# Loads an image folder and reads one epoch of it; prints the peak memory (kB) and the outcome.
READ_FOLDER = """
import resource, sys
from swapbn.data import load_dataset
from swapbn.errors import UsageError
try:
    data = load_dataset("folder", sys.argv[1])
    data.workers = 0
    for _ in data.loader("train", 4, train=True, device="cpu"):
        pass
    outcome = "read"
except UsageError as exc:
    outcome = str(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, outcome)
"""


def peak_memory(root: Path, cache: Path) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-c", READ_FOLDER, str(root)], capture_output=True,
                          text=True, timeout=300, env={**ENV, "SWAPBN_CACHE": str(cache)})
    assert done.returncode == 0, done.stderr[-2000:]
    peak, outcome = done.stdout.strip().split(" ", 1)
    return int(peak), outcome


@pytest.mark.parametrize("size", [16, 96])  # in memory; streamed
def test_a_decompression_bomb_costs_no_memory(tmp_path, size) -> None:
    clean = tmp_path / "clean"
    for split, n in (("train", 6), ("test", 2)):
        for cls in ("a", "b"):
            (clean / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (size, size), (i * 30, 0, 0)).save(clean / split / cls / f"{i}.png")
    bombed = tmp_path / "bombed"
    subprocess.run(["cp", "-r", str(clean), str(bombed)], check=True)
    bomb = png_bomb(bombed / "train" / "b" / "z.png")
    clean_peak, outcome = peak_memory(clean, tmp_path / "cache")
    assert outcome == "read"
    bomb_peak, outcome = peak_memory(bombed, tmp_path / "cache")
    assert outcome.startswith(f"image {bomb} has") and "megapixels" in outcome
    assert bomb_peak < 2 * clean_peak, (bomb_peak, clean_peak)
