"""CPU speed settings and provenance: threads from how busy the cores are now, --precision (bf16
autocast on CPUs with native bf16), what config.json records, and the cpu scale's recipes."""

from __future__ import annotations

import json
import os

import pytest
import torch

from swapbn.cli import main
from swapbn.errors import UsageError
from swapbn.experiments import SCALES, plan
from swapbn.experiments.runner import check_existing
from swapbn.presets import cpu_recipe, recipe_key
from swapbn.rundir import FinalRecord, RunDir, migrate_config
from swapbn.training import TrainConfig, threads
from swapbn.training import config as config_module
from swapbn.training.reproduce import cpu_model, git_dirty

# ---------------------------------------------------------------- threads from /proc/stat


def stat_text(rows: dict[int, tuple[int, int]]) -> str:
    """A /proc/stat with one cpuN line per entry: (busy user jiffies, idle jiffies)."""
    total = [sum(r[0] for r in rows.values()), sum(r[1] for r in rows.values())]
    lines = [f"cpu  {total[0]} 0 0 {total[1]} 0 0 0 0 0 0"]
    lines += [f"cpu{n} {busy} 0 0 {idle} 0 0 0 0 0 0" for n, (busy, idle) in rows.items()]
    return "\n".join(lines + ["intr 1 2 3", "ctxt 5"]) + "\n"


@pytest.fixture
def fake_stat(tmp_path, monkeypatch):
    """A /proc/stat whose second read shows the CPU time given, with the usable CPUs 0 and 1."""
    path = tmp_path / "stat"
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)

    def setup(first: dict, second: dict):
        path.write_text(stat_text(first))
        monkeypatch.setattr(threads.time, "sleep", lambda s: path.write_text(stat_text(second)))
        return path
    return setup


def test_busy_cores_counts_each_usable_cpus_busy_share(fake_stat):
    # cpu0 fully busy, cpu1 a quarter busy, cpu2 (not ours) fully busy over the interval
    path = fake_stat({0: (100, 100), 1: (100, 100), 2: (0, 0)},
                     {0: (120, 100), 1: (105, 115), 2: (20, 0)})
    assert threads.busy_cores(stat=path) == pytest.approx(1.25)


def test_idle_cores_are_free_right_after_other_work(fake_stat, monkeypatch):
    # an idle machine whose load average still holds the last minute's work gets every core
    path = fake_stat({0: (500, 0), 1: (500, 0)}, {0: (500, 20), 1: (500, 20)})
    monkeypatch.setattr(threads.busy_cores, "__defaults__", (0.2, path))
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    assert threads.free_cores() == 2


def test_busy_cores_leave_fewer_free(fake_stat, monkeypatch):
    path = fake_stat({0: (0, 0), 1: (0, 0)}, {0: (19, 1), 1: (2, 18)})
    monkeypatch.setattr(threads.busy_cores, "__defaults__", (0.2, path))
    assert threads.free_cores() == 1  # 0.95 + 0.1 busy: one core left


def test_without_proc_stat_the_load_average_decides(tmp_path, monkeypatch):
    monkeypatch.setattr(threads.busy_cores, "__defaults__", (0.0, tmp_path / "missing"))
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    assert threads.free_cores() == 1


def test_busy_cores_reads_this_machine():
    busy = threads.busy_cores(0.05)
    if busy is None:
        pytest.skip("no /proc/stat")
    assert 0.0 <= busy <= threads.usable_cores()


# ---------------------------------------------------------------- precision


def test_auto_precision_is_bf16_only_on_cpus_with_native_bf16(monkeypatch):
    monkeypatch.setattr(config_module, "native_cpu_bf16", lambda: True)
    assert config_module.resolve_precision("auto", "cpu") == "bf16"
    assert config_module.resolve_precision("auto", "cuda:0") == "float32"
    assert config_module.resolve_precision("float32", "cpu") == "float32"
    monkeypatch.setattr(config_module, "native_cpu_bf16", lambda: False)
    assert config_module.resolve_precision("auto", "cpu") == "float32"
    assert config_module.resolve_precision("bf16", "cpu") == "bf16"
    base = dict(dataset="digits", device="cpu")
    assert TrainConfig(**base).resolve().precision == "float32"
    assert TrainConfig(**base, precision="bf16").resolve().precision == "bf16"


def test_unknown_precision_is_refused():
    with pytest.raises(UsageError, match="unknown precision 'fp16'"):
        TrainConfig(precision="fp16").resolve()


@pytest.mark.parametrize("flags, expected", [(["--amp"], "bf16"),
                                             (["--precision", "float32"], "float32"),
                                             (["--precision", "bf16"], "bf16")])
def test_amp_is_another_name_for_bf16(flags, expected, capsys, monkeypatch):
    monkeypatch.setattr(config_module, "native_cpu_bf16", lambda: False)
    assert main(["train", "--dry-run", "--json", "--device", "cpu", *flags]) == 0
    assert json.loads(capsys.readouterr().out)["precision"] == expected


def test_a_bf16_run_on_the_cpu_records_its_precision_and_trains(tmp_path, capsys):
    assert main(["train", "--width", "0.125", "--train-subset", "400", "--epochs", "3",
                 "--batch-size", "32", "--lr", "0.05", "--device", "cpu", "--precision", "bf16",
                 "--threads", "1", "--out", str(tmp_path / "run")]) == 0
    assert ", bf16, seed 0" in capsys.readouterr().out.splitlines()[0]  # the run line says it
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (recorded["precision"], recorded["compute"]) == ("bf16", "bf16 autocast")
    final = RunDir(tmp_path / "run").final
    assert final.status == "completed" and final.final_test_acc > 30  # chance is 10%


def test_precision_makes_two_runs_different(tmp_path):
    spec = plan("nobn", SCALES["smoke"])[0]
    (done,) = check_existing([spec], tmp_path)
    assert done.state == "new" and done.config["precision"] == "float32"
    run = RunDir(tmp_path / spec.run_id)
    run.path.mkdir()
    run.write_config({**done.config, "precision": "bf16", "threads": 7, "device": "cuda"})
    run.write_final(FinalRecord("completed", final_test_acc=50.0, epochs_completed=1))
    (again,) = check_existing([spec], tmp_path)
    assert again.state == "changed"  # recorded in bf16: not this float32 run
    run.write_config({**done.config, "threads": 7})
    (same,) = check_existing([spec], tmp_path)
    assert same.state == "resume"  # threads say how it ran, not what it is


def test_records_of_earlier_versions_read_with_their_precision(tmp_path):
    old = {"amp": True, "precision": "bf16 autocast", "arch": "vgg16_11"}
    assert migrate_config(old) == {"precision": "bf16", "compute": "bf16 autocast",
                                   "arch": "vgg16_11"}
    assert migrate_config({"amp": False, "precision": "tf32"})["precision"] == "float32"
    assert migrate_config({"amp": False})["precision"] == "float32"
    new = {"precision": "bf16", "compute": "bf16 autocast"}
    assert migrate_config(new) == new
    (tmp_path / "config.json").write_text(json.dumps({**old, "val_split": 5}))
    config = RunDir(tmp_path).config
    assert config["precision"] == "bf16" and config["val_images"] == 5
    assert TrainConfig.from_dict(config).precision == "bf16"


# ---------------------------------------------------------------- provenance


def test_provenance_names_the_cpu_and_whether_the_tree_was_dirty():
    assert cpu_model() and cpu_model() != "x86_64" or os.uname().machine != "x86_64"
    assert git_dirty() in (True, False, None)
    assert isinstance(torch.backends.cpu.get_cpu_capability(), str)


# ---------------------------------------------------------------- the cpu scale's recipes


def test_cpu_recipes_are_shared_as_the_paper_shares_them(monkeypatch):
    table = {"vgg16_11/bounded/swap": {"lr": 0.01, "wd": 1e-3},
             "vgg16_11/bounded/convention": {"lr": 0.1, "wd": 1e-4}}
    monkeypatch.setattr("swapbn.presets.cpu_recipes", lambda: table)
    assert recipe_key("vgg16_11", "softsign", "nobn") == "vgg16_11/bounded/convention"
    swap = cpu_recipe("vgg16_11", "lecun_tanh", "swap")
    assert (swap.lr, swap.wd, swap.epochs, swap.milestones) == (0.01, 1e-3, 10, (5, 8))
    assert cpu_recipe("vgg16_9", "tanh", "swap").lr == 0.01  # VGG16_11 stands in
    assert cpu_recipe("vgg16_11", "tanh", "convention").wd == 1e-4  # NWDBN, no BN too
    with pytest.raises(KeyError, match="no cpu-scale recipe for vgg16/relu/swap"):
        cpu_recipe("vgg16", "relu", "swap")
    with pytest.raises(KeyError, match="no cpu-scale recipe for vgg16/bounded/swap"):
        cpu_recipe("vgg16", "tanh", "swap")  # only the depth models take VGG16_11's
    resolved = TrainConfig(dataset="digits", order="swap", preset="cpu").resolve()
    assert (resolved.lr, resolved.wd, resolved.epochs) == (0.01, 1e-3, 10)
    given = TrainConfig(arch="mobilenet", dataset="digits", preset="cpu", lr=0.2, wd=0.0)
    assert given.resolve().lr == 0.2  # explicit values need no recipe
    with pytest.raises(UsageError, match="no cpu-scale recipe for mobilenet/bounded/swap"):
        TrainConfig(arch="mobilenet", dataset="digits", preset="cpu").resolve()


def test_the_cpu_grid_runs_the_settings_that_choose_with_one_seed():
    table2 = plan("table2", SCALES["cpu"], grid=True)
    assert len(table2) == 16 and {r.config["seed"] for r in table2} == {0}
    assert {(r.config["act"], r.config["order"]) for r in table2} == {
        ("tanh", "convention"), ("tanh", "swap")}
    assert all(r.config["val_images"] == 5000 and r.tags["grid"] for r in table2)
    nobn = plan("nobn", SCALES["cpu"], grid=True)
    assert {(r.config["arch"], r.config["order"]) for r in nobn} == {
        ("vgg16", "convention"), ("vgg16", "nobn"), ("vgg16_11", "nobn")}
    main_grid = plan("main", SCALES["cpu"], grid=True)  # NWDBN takes the convention's choice
    assert {r.tags["order"] for r in main_grid} == {"convention", "swap"}
    assert len(plan("table2", SCALES["cpu"])) == 18  # 6 settings x 3 seeds
    assert len(plan("nobn", SCALES["smoke"])) == 2  # the stand-in is the cpu scale's
    assert {r.config["lr"] for r in plan("table2", SCALES["cpu-shared"])} == {0.05}
