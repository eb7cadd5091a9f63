"""`swapbn sweep`: finished runs are skipped, failures are recorded without stopping the others."""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import datetime, timedelta, timezone

import pytest

import swapbn.experiments.execute as execute
import swapbn.experiments.runner as runner
from fixtures_sweeps import SMALL_EXPERIMENT
from png_checks import assert_png_drawn
from swapbn.cli import main
from swapbn.errors import Interrupted
from swapbn.experiments import SCALES, plan
from swapbn.experiments.recipes import above_chance
from swapbn.experiments.runner import SweepOptions, check_existing
from swapbn.experiments.sweeps import read_sweeps
from swapbn.rundir import FinalRecord, RunDir


def sweep(*argv: str) -> int:
    return main(["sweep", *argv])


def test_a_second_sweep_runs_nothing(small_sweep, capsys):
    runs = plan(SMALL_EXPERIMENT, SCALES["smoke"])
    assert len(runs) == 2
    before = {r.run_id: (small_sweep / r.run_id / "final.json").stat().st_mtime_ns
              for r in runs}
    capsys.readouterr()
    assert sweep(SMALL_EXPERIMENT, "--scale", "smoke", "--out", str(small_sweep)) == 0
    out = capsys.readouterr().out
    assert "2 runs, 0 to run" in out and "2 already done" in out
    assert out.count("skipped") == 2
    after = {r.run_id: (small_sweep / r.run_id / "final.json").stat().st_mtime_ns
             for r in runs}
    assert after == before


def test_a_small_sweep_end_to_end_gives_its_report(small_sweep, tmp_path):
    """The default set's end-to-end check (all experiments: test_report_smoke.py, slow): the
    runs of one sweep are complete and `swapbn report` tabulates exactly what they recorded."""
    runs = plan(SMALL_EXPERIMENT, SCALES["smoke"])
    assert sorted(p.name for p in small_sweep.iterdir()) == sorted([r.run_id for r in runs]
                                                                   + ["sweeps.jsonl"])
    finals, configs = {}, {}
    for r in runs:
        final = json.loads((small_sweep / r.run_id / "final.json").read_text())
        config = json.loads((small_sweep / r.run_id / "config.json").read_text())
        assert final["status"] == "completed", (r.run_id, final.get("error"))
        assert config["tags"] == r.tags and config["epochs"] == SCALES["smoke"].base["epochs"]
        assert final["epochs_completed"] == config["epochs"]
        lines = (small_sweep / r.run_id / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == config["epochs"]
        assert final["stats"]["layers"]
        finals[r.tags["setting"]] = final
        configs[r.tags["setting"]] = config

    assert main(["report", str(small_sweep), "--out", str(tmp_path), "--quiet"]) == 0
    with (tmp_path / f"{SMALL_EXPERIMENT}.csv").open(newline="") as f:
        rows = {row["setting"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(finals) == {"convention", "nobn"}
    for setting, row in rows.items():
        final = finals[setting]
        assert row["seeds_completed"] == row["seeds_total"] == "1"
        assert float(row["test_acc_mean"]) == pytest.approx(final["final_test_acc"], abs=1e-6)
        for name in ("avg_saturation", "avg_skewness", "avg_sparsity"):
            assert float(row[f"{name}_mean"]) == pytest.approx(final["stats"][name], abs=1e-5)
    readme = (tmp_path / "README.md").read_text()
    assert f"## {SMALL_EXPERIMENT}" in readme and "2 runs found, 2 completed" in readme
    assert_png_drawn(tmp_path / "fig10_nobn_layer_saturation_skewness.png")
    with (tmp_path / f"{SMALL_EXPERIMENT}_directions.csv").open(newline="") as f:
        checks = list(csv.DictReader(f))
    # One seed a side: a difference, no interval, so no direction is resolved; a setting at
    # chance after one epoch on 128 images did not train and enters no claim.
    trained = all(above_chance(f["final_test_acc"], configs[s]["test_images"], 10)
                  for s, f in finals.items())
    assert len(checks) == 2
    if trained:
        assert all(c["verdict"] == "not resolved" and c["ci_low"] == ""
                   and c["difference"] != "" for c in checks)
    else:
        assert all(c["verdict"] == "did not train at this budget" and c["difference"] == ""
                   for c in checks)
        assert "did not train at this budget" in readme.lower()


def test_a_failing_run_is_recorded_and_the_others_complete(tmp_path, monkeypatch, capsys):
    real_train = execute.train

    def failing_train(config, out, **kwargs):
        if config.order == "nobn":
            raise RuntimeError("the data set vanished\nsecond line")
        return real_train(config, out, **kwargs)

    monkeypatch.setattr(execute, "train", failing_train)
    args = ("nobn", "--scale", "smoke", "--out", str(tmp_path), "--cpus-per-run", "1")
    assert sweep(*args) == 1
    failed = json.loads((tmp_path / "nobn-nobn-s0" / "final.json").read_text())
    assert failed["status"] == "failed"
    assert failed["error"] == "RuntimeError: the data set vanished"
    config = json.loads((tmp_path / "nobn-nobn-s0" / "config.json").read_text())
    assert config["tags"]["variant"] == "nobn"  # reports can still place the failed run
    done = json.loads((tmp_path / "nobn-convention-s0" / "final.json").read_text())
    assert done["status"] == "completed"
    summary = capsys.readouterr().out
    assert "1/2 completed" in summary and "RuntimeError: the data set vanished" in summary

    # The next sweep runs the failed run again and leaves the completed one alone.
    monkeypatch.setattr(execute, "train", real_train)
    stamp = (tmp_path / "nobn-convention-s0" / "final.json").stat().st_mtime_ns
    assert sweep(*args) == 0
    assert "1 to run" in capsys.readouterr().out
    assert json.loads((tmp_path / "nobn-nobn-s0" / "final.json").read_text())["status"] == \
        "completed"
    assert (tmp_path / "nobn-convention-s0" / "final.json").stat().st_mtime_ns == stamp

    # A run whose recorded configuration differs is run again from scratch.
    path = tmp_path / "nobn-convention-s0" / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "lr": 0.5}))
    assert sweep(*args) == 0
    assert "1 changed" in capsys.readouterr().out
    assert json.loads(path.read_text())["lr"] == SCALES["smoke"].base["lr"]

    # Where a run was made (device, data root) does not make it a different run.
    path.write_text(json.dumps({**json.loads(path.read_text()), "device": "cuda:3"}))
    assert sweep(*args) == 0
    assert "0 to run" in capsys.readouterr().out

    # Each sweep that ran something left one line: the runs it started, those that ended
    # with a result (a failed run did not), and how long it took.
    lines = read_sweeps(tmp_path / "sweeps.jsonl")
    assert [(line["ran"], line["finished"], line["ended"]) for line in lines] == [
        (["nobn-convention-s0", "nobn-nobn-s0"], ["nobn-convention-s0"], "finished"),
        (["nobn-nobn-s0"], ["nobn-nobn-s0"], "finished"),
        (["nobn-convention-s0"], ["nobn-convention-s0"], "finished")]
    assert all(line["workers"] == 1 and line["cpus_per_run"] == 1 for line in lines)


def test_a_sweep_records_its_wall_time(small_sweep):
    """One sweep, one line in sweeps.jsonl; one run at a time, its wall time covers the
    seconds each run recorded, and it started when it says (UTC)."""
    (line,) = read_sweeps(small_sweep / "sweeps.jsonl")
    runs = sorted(r.run_id for r in plan(SMALL_EXPERIMENT, SCALES["smoke"]))
    assert sorted(line["ran"]) == sorted(line["finished"]) == runs
    assert line["ended"] == "finished" and line["backend"] == "local"
    seconds = [RunDir(small_sweep / r).final.seconds for r in runs]
    assert sum(seconds) <= line["seconds"] + 0.1
    started = datetime.fromisoformat(line["started"])
    assert started.utcoffset() == timedelta(0)
    assert datetime.now(timezone.utc) - started > timedelta(seconds=line["seconds"] - 1)


def test_an_interrupted_sweep_records_what_it_finished(tmp_path, monkeypatch):
    planned = check_existing(plan(SMALL_EXPERIMENT, SCALES["smoke"]), tmp_path)
    first = planned[0].run_id

    def stopped(jobs, workers, on_result):  # one run ends, then SIGTERM reaches the sweep
        on_result(first, FinalRecord(status="completed", final_test_acc=50.0, seconds=1.0))
        raise Interrupted(15)

    monkeypatch.setattr(runner, "run_local", stopped)
    with pytest.raises(Interrupted):
        runner.run_sweep(planned, tmp_path, SweepOptions(workers=2, progress=False))
    (line,) = read_sweeps(tmp_path / "sweeps.jsonl")
    assert line["ended"] == "interrupted" and line["workers"] == 2
    assert line["ran"] == [p.run_id for p in planned] and line["finished"] == [first]


def test_a_run_a_worker_ended_after_the_sweep_was_stopped_counts_as_finished(tmp_path,
                                                                            monkeypatch):
    """A worker can finish its run between SIGTERM and the driver collecting the result; the
    next sweep skips that run as done, so the stopped sweep's line must list it, from the run's
    own record. A final.json older than the sweep (a run it never reached) is not counted."""
    planned = check_existing(plan(SMALL_EXPERIMENT, SCALES["smoke"]), tmp_path)
    late, stale = planned[0].run_id, planned[1].run_id
    (tmp_path / stale).mkdir()
    (tmp_path / stale / "final.json").write_text('{"status": "diverged"}')
    os.utime(tmp_path / stale / "final.json", (0, 0))

    def stopped(jobs, workers, on_result):  # the worker's record lands; the driver never hears
        (tmp_path / late).mkdir()
        (tmp_path / late / "final.json").write_text('{"status": "diverged"}')
        raise Interrupted(15)

    monkeypatch.setattr(runner, "run_local", stopped)
    with pytest.raises(Interrupted):
        runner.run_sweep(planned, tmp_path, SweepOptions(workers=2, progress=False))
    (line,) = read_sweeps(tmp_path / "sweeps.jsonl")
    assert RunDir(tmp_path / stale).final.status == "diverged"
    assert line["ended"] == "interrupted" and line["finished"] == [late]


def test_dry_run_trains_nothing(tmp_path, capsys):
    assert sweep("depth", "--scale", "smoke", "--out", str(tmp_path / "o"), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "9 runs, 9 to run" in out
    assert all(f"depth-vgg16_{n}-s0  [new]" in out for n in range(8, 17))
    assert not (tmp_path / "o").exists()
    assert sweep("table2", "--scale", "paper", "--out", str(tmp_path / "o"), "--dry-run",
                 "--grid", "--seeds", "0") == 0
    out = capsys.readouterr().out
    assert "48 runs" in out and "table2-tanh-swap-lr0.1-wd0.0005-s0" in out


@pytest.mark.parametrize("argv, message", [
    (["nope", "--out", "x"], "unknown experiment 'nope'"),
    (["table2", "--scale", "big", "--out", "x"], "unknown scale 'big'"),
    (["table2", "--scale", "cpu", "--out", "x"], "needs --data-root"),
    (["table2", "--scale", "cpu", "--out", "x", "--data-root", "/no/such/dir"],
     "is not a folder"),
    (["nwdbn-beta", "--out", "x", "--grid"], "takes lr and wd from the nwdbn model"),
    (["table2", "--out", "x", "--backend", "spark"], "unknown backend 'spark'"),
    (["table2", "--out", "x", "--workers", "0"], "--workers must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_ray_backend_without_ray_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["sweep", "table2", "--out", str(tmp_path), "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'swapbn[ray]'" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_followers_take_lr_and_wd_from_the_main_grid(tmp_path, capsys):
    # A finished `main --grid` sweep in OUT: NWDBN is best at lr 0.01, wd 1e-3 on average.
    for lr, wd, accs in ((0.1, 5e-4, (75.0, 60.0)), (0.01, 1e-3, (70.0, 71.0))):
        for seed, acc in enumerate(accs):
            run = tmp_path / f"main-nwdbn-lr{lr:g}-wd{wd:g}-s{seed}"
            run.mkdir()
            tags = {"experiment": "main", "scale": "paper", "grid": True, "setting": "nwdbn",
                    "variant": f"nwdbn/lr={lr:g},wd={wd:g}", "lr": lr, "wd": wd}
            (run / "config.json").write_text(json.dumps({"lr": lr, "wd": wd, "seed": seed,
                                                         "tags": tags}))
            (run / "final.json").write_text(json.dumps({"status": "completed",
                                                        "final_test_acc": acc}))
    assert sweep("nwdbn-beta", "--scale", "paper", "--out", str(tmp_path), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "lr 0.01, wd 0.001 from the nwdbn grid" in out
    configs = [json.loads(line.split("]  ", 1)[1]) for line in out.splitlines()
               if line.startswith("nwdbn-beta-")]
    assert len(configs) == 33
    assert all(c["lr"] == 0.01 and c["wd"] == 1e-3 and c["bn_gamma_wd"] == 0 for c in configs)


def test_a_diverged_run_is_a_result_not_retried(tmp_path, monkeypatch, capsys):
    calls = []

    def diverging_train(config, out, **kwargs):
        """Records a run as training does when its loss becomes NaN."""
        calls.append(config.tags["variant"])
        run = RunDir(out)
        run.write_config(config.to_dict())
        final = FinalRecord(status="diverged", seconds=0.5, error="training loss became nan in "
                            "epoch 1 (lr 0.05); lower the learning rate")
        run.write_final(final)
        return final

    monkeypatch.setattr(execute, "train", diverging_train)
    args = ("nobn", "--scale", "smoke", "--out", str(tmp_path))
    assert sweep(*args) == 1
    out = capsys.readouterr().out
    assert out.count("diverged") >= 2 and "0/2 completed" in out
    assert calls == ["convention", "nobn"]
    assert sweep(*args) == 1  # still not all completed, but nothing is trained again
    assert "0 to run" in capsys.readouterr().out and len(calls) == 2


def test_a_sweep_that_cannot_record_itself_warns_and_ends_as_it_would(tmp_path, monkeypatch,
                                                                      capsys):
    planned = check_existing(plan(SMALL_EXPERIMENT, SCALES["smoke"]), tmp_path)
    (tmp_path / "sweeps.jsonl").mkdir()  # an append there fails

    def finish(jobs, workers, on_result):
        for job in jobs:
            on_result(job["run_id"], FinalRecord(status="completed", final_test_acc=50.0))

    monkeypatch.setattr(runner, "run_local", finish)
    runner.run_sweep(planned, tmp_path, SweepOptions(workers=2, progress=False))
    assert all(p.result.status == "completed" for p in planned)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("swapbn: warning: could not record the sweep")
