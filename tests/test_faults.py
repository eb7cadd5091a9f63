"""Fault injection, the fast part: corrupt and malicious files of each kind, a run directory in
use, stale temporaries, histories with holes, unreadable runs in a sweep and a report, links
inside run and sweep folders, decompression bombs, checkpoints of another model, image names
of any bytes, megabyte values in records and arguments, and the bad-input table
(docs/faults.md). Every case must end in one line and exit status 2 (or be
listed and left out), never a traceback, and nothing crafted may run."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faults_files import animated_gif, bmp_bomb, jpeg_bomb, png_bomb
from swapbn import cli
from swapbn.atomic import write_bytes
from swapbn.data import load_dataset
from swapbn.errors import Interrupted, RecordError, RunBusy, UsageError
from swapbn.experiments import check_existing, plan
from swapbn.experiments.runner import SweepOptions, run_sweep, summary
from swapbn.experiments.scales import get_scale
from swapbn.models import build_model
from swapbn.report.runs import find_runs as report_runs
from swapbn.rundir import CHANNELS, CHECKPOINT, CONFIG, FINAL, LOCK, METRICS, RunDir
from swapbn.training import TrainConfig

RUN = ["--dataset", "digits", "--width", "0.125", "--train-subset", "200", "--epochs", "2",
       "--batch-size", "32", "--device", "cpu", "--quiet"]


def train_cli(out: Path, *extra: str) -> int:
    return cli.main(["train", *RUN, "--out", str(out), *extra])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    assert train_cli(out) == 0
    return out


@pytest.fixture()
def run_copy(finished, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


class Crafted:
    """A pickle that, loaded without restriction, creates a marker file (proof of execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# -- records ----------------------------------------------------------------------------------

CONFIG_CASES = {"list": b"[1]", "null": b"null", "not utf-8": b"\xff\xfe{}",
                "truncated": b'{"arch": "vgg16_11", "act"', "wrong type": None}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_corrupt_config_is_one_line_naming_it(run_copy, capsys, case) -> None:
    path = run_copy / CONFIG
    content = CONFIG_CASES[case]
    if content is None:
        config = json.loads(path.read_text())
        content = json.dumps({**config, "epochs": "2"}).encode()
    path.write_bytes(content)
    assert train_cli(run_copy, "--resume") == 2
    assert CONFIG in one_line_error(capsys)
    assert cli.main(["measure", str(run_copy)]) == 2
    assert CONFIG in one_line_error(capsys)


@pytest.mark.parametrize("content", ['"completed"', '{"status": "done"}',
                                     '{"status": "completed", "epochs_completed": "2"}',
                                     '{"status": "completed", "final_test_acc": NaN}', "{"])
def test_corrupt_final_is_one_line_naming_it(run_copy, capsys, content) -> None:
    (run_copy / FINAL).write_text(content)
    assert train_cli(run_copy, "--resume") == 2
    assert FINAL in one_line_error(capsys)


def checkpoint_cases(path: Path, marker: Path) -> dict[str, bytes]:
    good = path.read_bytes()
    crafted = path.parent / "crafted.pt"
    torch.save({"model": Crafted(marker), "epoch": 2}, crafted)
    return {"zero bytes": b"", "half": good[:len(good) // 2],
            "random": np.random.default_rng(0).bytes(4096), "crafted": crafted.read_bytes(),
            "plain pickle": pickle.dumps({"model": Crafted(marker)})}


def test_bad_checkpoints_are_refused_in_one_line(run_copy, capsys, tmp_path) -> None:
    marker = tmp_path / "executed"
    path = run_copy / CHECKPOINT
    for case, content in checkpoint_cases(path, marker).items():
        path.write_bytes(content)
        assert cli.main(["measure", str(run_copy)]) == 2, case
        line = one_line_error(capsys)
        assert CHECKPOINT in line, case
        if case == "crafted":
            assert "refused to load: it holds objects other than tensors" in line
        (run_copy / FINAL).unlink(missing_ok=True)  # so that --resume loads the checkpoint
        assert train_cli(run_copy, "--resume") == 2, case
        assert CHECKPOINT in one_line_error(capsys), case
    assert not marker.exists()


@pytest.mark.parametrize("cut", ["line 1 cut", "empty", "garbage in the middle"])
def test_resume_refuses_a_history_with_holes(run_copy, capsys, cut) -> None:
    path = run_copy / METRICS
    lines = path.read_text().splitlines()
    path.write_text({"line 1 cut": lines[0][:20] + "\n" + lines[1] + "\n", "empty": "",
                     "garbage in the middle": lines[0] + "\nxx\n" + lines[1] + "\n"}[cut])
    (run_copy / FINAL).unlink()  # an interrupted run: the checkpoint is at epoch 2
    assert train_cli(run_copy, "--resume") == 2
    assert METRICS in one_line_error(capsys)
    assert path.read_text().count("\n") <= 3  # nothing appended


@pytest.mark.parametrize("fault", ["garbage metrics line", "undecodable config",
                                   "truncated config"])
def test_an_unreadable_run_is_left_out_of_the_report_by_name(run_copy, capsys, fault) -> None:
    if fault == "garbage metrics line":
        lines = (run_copy / METRICS).read_text().splitlines()
        (run_copy / METRICS).write_text(lines[0] + "\n{]\n" + lines[1] + "\n")
    else:
        text = (run_copy / CONFIG).read_bytes()
        (run_copy / CONFIG).write_bytes(b"\xff" + text if fault == "undecodable config"
                                        else text[:40])
    assert report_runs(run_copy.parent) == []
    err = capsys.readouterr().err
    assert str(run_copy) in err
    assert ("line 2" if fault == "garbage metrics line" else CONFIG) in err


@pytest.mark.parametrize("missing", ["half channels", "half checkpoint", "stats",
                                     "metrics line"])
def test_completed_needs_every_promised_file(run_copy, missing) -> None:
    if missing.startswith("half"):
        name = CHECKPOINT if missing == "half checkpoint" else CHANNELS
        content = (run_copy / name).read_bytes()
        (run_copy / name).write_bytes(content[:len(content) // 2])
    elif missing == "stats":
        final = json.loads((run_copy / FINAL).read_text())
        (run_copy / FINAL).write_text(json.dumps({**final, "stats": None}))
    elif missing == "metrics line":
        lines = (run_copy / METRICS).read_text().splitlines()
        (run_copy / METRICS).write_text(lines[0] + "\n")
    else:
        (run_copy / missing).unlink()
    final = RunDir(run_copy).final
    assert final.status == "failed" and "incomplete record" in final.error
    assert not final.finished  # a sweep runs it again, --resume finishes it


def test_a_published_run_without_its_large_files_stays_completed(run_copy) -> None:
    expected = json.loads((run_copy / FINAL).read_text())
    (run_copy / CHANNELS).unlink()  # results/ keeps config, metrics and final record only
    (run_copy / CHECKPOINT).unlink()
    final = RunDir(run_copy).final
    assert final.status == "completed" and final.stats == expected["stats"]
    assert train_cli(run_copy, "--resume") == 0  # as recorded: nothing to train
    assert not (run_copy / CHECKPOINT).exists()


# -- the lock and temporaries -----------------------------------------------------------------

def test_a_run_directory_in_use_is_refused_naming_the_holder(run_copy, capsys) -> None:
    with RunDir(run_copy).lock():
        assert train_cli(run_copy, "--resume") == 2
        assert f"in use by process {os.getpid()}" in one_line_error(capsys)
        with pytest.raises(RunBusy), RunDir(run_copy).lock():
            pass
    with RunDir(run_copy).lock():  # released with its holder
        pass


def test_stale_temporaries_are_removed_when_a_run_starts_or_resumes(run_copy) -> None:
    names = [".checkpoint.a1b2.pt", ".final.x9.json", ".channels.q.npz", ".metrics.zz.jsonl",
             ".config.k.json"]
    for name in names:
        (run_copy / name).write_bytes(b"partial")
    (run_copy / "notes.txt").write_text("mine")
    assert train_cli(run_copy, "--resume") == 0  # finished: returns the recorded result
    assert not [n for n in names if (run_copy / n).exists()]
    assert (run_copy / "notes.txt").exists()


@pytest.mark.parametrize("where", ["in_creation", "after_creation", "in_write"])
def test_an_interrupt_anywhere_in_a_write_leaves_no_temporary(tmp_path, monkeypatch,
                                                              where) -> None:
    """SIGTERM is raised as Interrupted between any two bytecodes of a run's main thread; one
    landing while a record is written leaves the old record and no temporary file beside it."""
    import swapbn.atomic as atomic

    target = tmp_path / METRICS
    target.write_text("old\n")
    real_open, real_close = os.open, os.close

    def open_then_interrupt(*args, **kwargs):  # the file exists, its descriptor is lost
        real_open(*args, **kwargs)
        raise Interrupted(15)

    def close_then_interrupt(fd):  # created and closed, before the write begins
        real_close(fd)
        raise Interrupted(15)

    def interrupted_write(tmp):
        tmp.write_text("half")
        raise Interrupted(15)

    if where == "in_creation":
        monkeypatch.setattr(atomic.os, "open", open_then_interrupt)
    elif where == "after_creation":
        monkeypatch.setattr(atomic.os, "close", close_then_interrupt)
    with pytest.raises(Interrupted):
        atomic.atomic_write(target, interrupted_write if where == "in_write"
                            else lambda tmp: tmp.write_text("new\n"))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [METRICS]
    assert target.read_text() == "old\n"


# -- sweeps and data files --------------------------------------------------------------------

def test_a_sweep_lists_unreadable_runs_and_runs_the_others(tmp_path) -> None:
    specs = plan("nobn", get_scale("smoke"))
    broken, other = (tmp_path / spec.run_id for spec in specs)
    broken.mkdir()
    (broken / CONFIG).write_bytes(b"\xff\xfe not utf-8")
    planned = check_existing(specs, tmp_path)
    assert [p.state for p in planned] == ["broken", "new"]
    run_sweep(planned, tmp_path, SweepOptions(progress=False))
    assert planned[1].result.status == "completed"
    assert planned[0].result.status == "failed" and CONFIG in planned[0].result.error
    assert "left out" in summary(planned).splitlines()[1]
    again = check_existing(specs, tmp_path, force=frozenset({specs[0].run_id}))
    assert [p.state for p in again] == ["changed", "done"]


def test_a_file_where_a_run_directory_belongs_fails_that_run_only(tmp_path) -> None:
    specs = plan("nobn", get_scale("smoke"))
    (tmp_path / specs[0].run_id).write_text("in the way")
    planned = check_existing(specs, tmp_path)
    run_sweep(planned, tmp_path, SweepOptions(progress=False))
    assert [p.result.status for p in planned] == ["failed", "completed"]
    assert "not recorded" in planned[0].result.error


def cifar_folder(root: Path, batch: object) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        content = {"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8),
                   "labels": list(range(10)) * 2}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch if name == "data_batch_1" else content, fh, protocol=2)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, fh, protocol=2)
    return root


def test_a_crafted_cifar_pickle_is_refused_and_never_runs(tmp_path) -> None:
    marker = tmp_path / "executed"
    root = cifar_folder(tmp_path / "data", {"data": Crafted(marker), "labels": [0]})
    with pytest.raises(UsageError, match="refused to read CIFAR file .*data_batch_1"):
        load_dataset("cifar10", root)
    assert not marker.exists()


def test_plain_cifar_pickles_still_load(tmp_path) -> None:
    rng = np.random.default_rng(1)
    batch = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8),
             b"labels": list(range(10)) * 2, b"batch_label": b"training batch 1 of 5"}
    data = load_dataset("cifar10", cifar_folder(tmp_path, batch))
    assert len(data.train) == 100 and data.num_classes == 10
    assert torch.equal(data.train.images[:20].reshape(20, -1), torch.from_numpy(batch[b"data"]))


# -- bad input --------------------------------------------------------------------------------

def image_folder(root: Path, train: dict[str, int], test: dict[str, int]) -> Path:
    for split, counts in (("train", train), ("test", test)):
        for cls, n in counts.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(root / split / cls / f"{i}.png")
    return root


BAD_TRAIN = {
    "width inf": ["--width", "inf"],
    "width 1e-9": ["--width", "1e-9"],
    "width nan": ["--width", "nan"],
    "device cuda:abc": ["--device", "cuda:abc"],
    "seed -1": ["--seed", "-1"],
    "seed 2**66": ["--seed", "99999999999999999999"],
    "subset 5 of 10 classes": ["--train-subset", "5"],
    "batch size 1 with BN": ["--batch-size", "1"],
    "one class": "one class",
    "a class with no training images": "empty class",
}


@pytest.mark.parametrize("case", list(BAD_TRAIN))
def test_bad_training_input_is_one_line_before_anything_is_written(case, tmp_path,
                                                                   capsys) -> None:
    args = BAD_TRAIN[case]
    if args == "one class":
        args = ["--dataset", "folder", "--data-root",
                str(image_folder(tmp_path / "data", {"a": 4}, {"a": 2}))]
    elif args == "empty class":
        root = image_folder(tmp_path / "data", {"a": 4}, {"a": 2, "b": 2})
        (root / "train" / "b").mkdir()
        args = ["--dataset", "folder", "--data-root", str(root)]
    out = tmp_path / "out" / "run"
    assert cli.main(["train", *RUN, *args, "--out", str(out)]) == 2
    one_line_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize("args", [["--cpus-per-run", "-1"], ["--cpus-per-run", "0"],
                                  ["--gpus-per-run", "-1"], ["--force", "no-such-run"]])
def test_bad_sweep_input_is_one_line(args, tmp_path, capsys) -> None:
    out = tmp_path / "sweep"
    assert cli.main(["sweep", "nobn", "--out", str(out), *args]) == 2
    one_line_error(capsys)
    assert not out.exists()


def test_a_data_root_for_digits_warns() -> None:
    config = TrainConfig(dataset="digits", data_root="/tmp")
    assert any("not read" in w for w in config.warnings())
    assert TrainConfig(dataset="digits").warnings() == []



# -- links inside run and sweep folders -------------------------------------------------------

@pytest.fixture()
def precious(tmp_path) -> Path:
    """A file outside every folder swapbn writes, which a link inside one points at."""
    (tmp_path / "outside").mkdir()
    path = tmp_path / "outside" / "notes.txt"
    path.write_text("precious\n")
    return path


@pytest.mark.parametrize("link", ["symbolic", "hard"])
@pytest.mark.parametrize("outcome", ["trains", "bad input"])
def test_a_lock_file_that_is_a_link_is_replaced_never_written_through(tmp_path, precious,
                                                                     link, outcome) -> None:
    out = tmp_path / "run"
    out.mkdir()
    if link == "symbolic":
        (out / LOCK).symlink_to(precious)
    else:
        os.link(precious, out / LOCK)
    # Bad input found after the lock is taken (the data), or none.
    extra = ["--epochs", "1"] if outcome == "trains" else ["--train-subset", "5"]
    stale = out / ".final.k2.json"  # a killed writer's temporary, here a link: removed
    stale.symlink_to(precious)
    assert train_cli(out, *extra) == (0 if outcome == "trains" else 2)
    assert precious.read_text() == "precious\n"
    assert precious.stat().st_nlink == 1
    assert not stale.is_symlink() and not (out / LOCK).is_symlink()


RECORD_LINKS = {CONFIG: 2, FINAL: 2, METRICS: 2, CHECKPOINT: 2, CHANNELS: 0}


@pytest.mark.parametrize("name", list(RECORD_LINKS))
def test_a_record_that_is_a_link_is_refused_and_never_followed(run_copy, precious, capsys,
                                                               name) -> None:
    target = precious.parent / name
    (run_copy / name).rename(target)
    (run_copy / name).symlink_to(target)
    content = target.read_bytes()
    assert train_cli(run_copy, "--resume") == RECORD_LINKS[name]
    if RECORD_LINKS[name]:
        line = one_line_error(capsys)
        assert f"{run_copy / name} is a symbolic link" in line
        assert (run_copy / name).is_symlink()
    else:  # a completed run without its channels: --resume measures them again, in a file
        assert RunDir(run_copy).final.status == "completed"
        assert not (run_copy / name).is_symlink()
    assert target.read_bytes() == content
    (run_copy / "x.json").symlink_to(target)
    with pytest.raises(RecordError, match="symbolic link"):
        write_bytes(run_copy / "x.json", b"{}")
    assert target.read_bytes() == content


def test_a_link_where_a_sweep_run_belongs_is_left_out(tmp_path) -> None:
    specs = plan("nobn", get_scale("smoke"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "sweep"
    out.mkdir()
    (out / specs[0].run_id).symlink_to(elsewhere, target_is_directory=True)
    planned = check_existing(specs, out)
    assert [p.state for p in planned] == ["broken", "new"]
    run_sweep(planned, out, SweepOptions(progress=False))
    assert list(elsewhere.iterdir()) == []
    assert "symbolic link" in planned[0].result.error
    assert planned[1].result.status == "completed"
    assert "left out" in summary(planned).splitlines()[1]
    forced = check_existing(specs, out, force=frozenset({specs[0].run_id}))
    run_sweep(forced, out, SweepOptions(progress=False))  # started over: still not through it
    assert list(elsewhere.iterdir()) == [] and "symbolic link" in forced[0].result.error


def test_a_report_writes_through_no_link_but_its_out_folder(finished, tmp_path, precious,
                                                             capsys) -> None:
    root = tmp_path / "runs"
    shutil.copytree(finished, root / "run")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "report").symlink_to(elsewhere, target_is_directory=True)
    assert cli.main(["report", str(root)]) == 2  # the default folder inside the sweep folder
    assert "symbolic link" in one_line_error(capsys)
    assert list(elsewhere.iterdir()) == []
    assert cli.main(["report", str(root), "--out", str(root / "report")]) == 0  # named: fine
    assert (elsewhere / "README.md").is_file()
    capsys.readouterr()
    (elsewhere / "README.md").unlink()
    (elsewhere / "README.md").symlink_to(precious)
    assert cli.main(["report", str(root), "--out", str(elsewhere)]) == 2
    assert "README.md is a symbolic link" in one_line_error(capsys)
    assert precious.read_text() == "precious\n"


def test_tensorboard_writes_through_no_link_but_its_named_folder(tmp_path, capsys) -> None:
    pytest.importorskip("tensorboard")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "run"
    out.mkdir()
    (out / "tensorboard").symlink_to(elsewhere, target_is_directory=True)
    assert train_cli(out, "--epochs", "1", "--tensorboard") == 2
    assert "symbolic link" in one_line_error(capsys)
    assert list(elsewhere.iterdir()) == []
    named = tmp_path / "named"
    named.symlink_to(elsewhere, target_is_directory=True)
    assert train_cli(tmp_path / "run2", "--epochs", "1", "--tensorboard", str(named)) == 0
    assert any(p.name.startswith("events.out.tfevents") for p in elsewhere.iterdir())


# -- decompression bombs ----------------------------------------------------------------------

BOMBS = {"png": png_bomb, "jpeg": jpeg_bomb, "bmp": bmp_bomb}


def bomb_folder(root: Path, size: int, kind: str, place: str) -> Path:
    """A two-class image folder of `size` px images with one bomb in train/a, sorted first
    (the image whose size the set takes) or last."""
    image_folder(root, {"a": 3, "b": 3}, {"a": 2, "b": 2})
    for path in root.rglob("*.png"):
        Image.new("RGB", (size, size), (40, 80, 120)).save(path)
    name = ("0" if place == "first" else "z") + {"png": ".png", "jpeg": ".jpg", "bmp": ".bmp"}[kind]
    return BOMBS[kind](root / "train" / "a" / name)


@pytest.mark.parametrize("kind", list(BOMBS))
@pytest.mark.parametrize("size,place", [(16, "first"), (16, "later"), (96, "later")])
def test_a_decompression_bomb_is_refused_by_its_header(tmp_path, kind, size, place) -> None:
    bomb = bomb_folder(tmp_path / "data", size, kind, place)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(UsageError) as caught:
        data = load_dataset("folder", tmp_path / "data")
        assert data.streamed  # a 96 px set streams: the bomb is met when its batch is read
        data.workers = 0
        list(data.loader("train", 4, train=True, device="cpu"))
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"image {bomb} has ") and "900 megapixels, more than the 64" in line
    assert "SWAPBN_MAX_PIXELS" in line


def test_the_pixel_limit_can_be_lowered_and_raised(tmp_path, monkeypatch) -> None:
    image_folder(tmp_path / "data", {"a": 2, "b": 2}, {"a": 2, "b": 2})  # 8x8 images
    monkeypatch.setenv("SWAPBN_MAX_PIXELS", "63")
    with pytest.raises(UsageError, match="8x8 pixels"):
        load_dataset("folder", tmp_path / "data")
    monkeypatch.setenv("SWAPBN_MAX_PIXELS", "64")
    assert load_dataset("folder", tmp_path / "data").image_size == 8
    gif = animated_gif(tmp_path / "data" / "train" / "b" / "z.gif", frames=3)
    monkeypatch.setenv("SWAPBN_MAX_PIXELS", "150")  # every frame counts: torchvision decodes all
    with pytest.raises(UsageError, match=f"image {gif} has 3 frames of 8x8 pixels"):
        load_dataset("folder", tmp_path / "data")
    monkeypatch.setenv("SWAPBN_MAX_PIXELS", "many")
    with pytest.raises(UsageError, match="SWAPBN_MAX_PIXELS='many'"):
        load_dataset("folder", tmp_path / "data")


# -- a checkpoint of another model ------------------------------------------------------------

def other_model_checkpoint(run_dir: Path, **model) -> None:
    state = torch.load(run_dir / CHECKPOINT, weights_only=True)
    config = json.loads((run_dir / CONFIG).read_text())
    kwargs = {"num_classes": config["num_classes"], "act": config["act"],
              "order": config["order"], "width": config["width"],
              "in_channels": config["in_channels"], "image_size": config["image_size"]}
    state["model"] = build_model(model.pop("arch", config["arch"]), **{**kwargs, **model}
                                 ).state_dict()
    torch.save(state, run_dir / CHECKPOINT)
    (run_dir / FINAL).unlink()  # an interrupted run, so --resume loads the checkpoint


@pytest.mark.parametrize("other,expected", [
    ({"arch": "vgg16_8"}, "the checkpoint lacks 'features."),
    ({"arch": "vgg16"}, "the checkpoint holds 'features."),
    ({"width": 0.25}, "in the checkpoint but"),
])
def test_a_checkpoint_of_another_model_is_one_line_naming_it(run_copy, capsys, other,
                                                             expected) -> None:
    other_model_checkpoint(run_copy, **other)
    for command in (["train", *RUN, "--out", str(run_copy), "--resume"],
                    ["measure", str(run_copy), "--max-samples", "32"]):
        assert cli.main(command) == 2
        line = one_line_error(capsys)
        assert f"{run_copy / CHECKPOINT} does not fit the model of" in line
        assert expected in line


# -- wrong types inside final.json and metrics.jsonl ------------------------------------------

NESTED = {
    "stats not a measure record": {"avg_skewness": "x", "layers": "oops"},
    "a layer's saturation a string": "saturation",
    "a layer not an object": "layer",
    "gradients of the wrong type": "gradients",
}


def nested_fault(final: dict, fault: str) -> dict:
    value = NESTED[fault]
    if isinstance(value, dict):
        return {**final, "stats": value}
    if value == "saturation":
        final["stats"]["layers"][1]["saturation"] = "a"
    elif value == "layer":
        final["stats"]["layers"][0] = 3
    else:
        final["gradients"]["layers"] = [{"name": 1}]
    return final


@pytest.mark.parametrize("fault", list(NESTED))
def test_wrong_types_inside_final_json_are_named(run_copy, capsys, fault) -> None:
    final = nested_fault(json.loads((run_copy / FINAL).read_text()), fault)
    (run_copy / FINAL).write_text(json.dumps(final))
    assert report_runs(run_copy.parent) == []  # left out, with its reason
    err = capsys.readouterr().err
    assert str(run_copy) in err and FINAL in err
    assert train_cli(run_copy, "--resume") == 2
    line = one_line_error(capsys)
    assert str(run_copy / FINAL) in line and ("stats" in line or "gradients" in line)
    assert cli.main(["report", str(run_copy.parent)]) == 2  # its only run: left out
    assert "Traceback" not in capsys.readouterr().err


def test_empty_final_statistics_are_not_completed(run_copy) -> None:
    final = json.loads((run_copy / FINAL).read_text())
    expected = final["stats"]
    (run_copy / FINAL).write_text(json.dumps({**final, "stats": {}}))
    recorded = RunDir(run_copy).final
    assert recorded.status == "failed" and "no final statistics" in recorded.error
    assert train_cli(run_copy, "--resume") == 0  # finished again: measured anew
    assert RunDir(run_copy).final.stats == expected


def test_wrong_types_inside_a_metrics_line_are_named(run_copy, capsys) -> None:
    lines = [json.loads(line) for line in (run_copy / METRICS).read_text().splitlines()]
    lines[0]["stats"] = {"layers": [{"name": "features.0", "sparsity": [1]}]}
    (run_copy / METRICS).write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert train_cli(run_copy, "--resume") == 2
    line = one_line_error(capsys)
    assert f"{run_copy / METRICS} line 1: stats layer 0" in line and "sparsity" in line


# -- file names and long values ---------------------------------------------------------------

NAMES = {"not utf-8": b"\xff\xfe.png", "a newline": b"x\ny.png", "utf-8": "é 0.png".encode()}


def random_image(path: str | bytes, size: int, seed: int = 0) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")  # PIL saves to a bytes path too


def named_folder(root: Path, size: int, name: bytes, where: str = "file") -> str:
    """A two-class image folder of `size` px random images plus one image named `name` (a
    file in train/a, or a class folder holding it); the image's path as os.fsdecode gives it."""
    image_folder(root, {"a": 3, "b": 3}, {"a": 2, "b": 2})
    for i, path in enumerate(sorted(root.rglob("*.png"))):
        random_image(path, size, i)
    folder = os.fsencode(root / "train" / "a")
    if where == "class":
        folder = os.fsencode(root / "train") + b"/" + name[:-4]
        os.mkdir(folder)
        os.mkdir(os.fsencode(root / "test") + b"/" + name[:-4])
        random_image(os.fsencode(root / "test") + b"/" + name[:-4] + b"/0.png", size, 98)
        name = b"0.png"
    random_image(folder + b"/" + name, size, 99)
    return os.fsdecode(folder + b"/" + name)


@pytest.mark.parametrize("where", ["file", "class"])
@pytest.mark.parametrize("size", [8, 80])
@pytest.mark.parametrize("name", list(NAMES))
def test_an_image_folder_takes_any_file_name(tmp_path, name, size, where,
                                             monkeypatch) -> None:
    monkeypatch.setenv("SWAPBN_CACHE", str(tmp_path / "cache"))
    path = named_folder(tmp_path / "data", size, NAMES[name], where)
    for _ in range(2):  # decoded, then read back from the cache (in memory) or streamed again
        data = load_dataset("folder", tmp_path / "data")
        assert len(data.train) == 7 and len(data.test) == 4 + (where == "class")
        assert data.streamed == (size > 64)
        if data.streamed:
            assert path in data.train.files
            data.workers = 1  # the names cross into a DataLoader worker
        batches = list(data.loader("train", 4, train=False, device="cpu"))
        assert sum(len(y) for _, y in batches) == 7


def test_a_set_with_a_name_that_is_not_utf8_trains(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SWAPBN_CACHE", str(tmp_path / "cache"))
    named_folder(tmp_path / "data", 8, NAMES["not utf-8"], "class")
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", "folder", "--data-root", str(tmp_path / "data"),
                     "--width", "0.125", "--epochs", "1", "--batch-size", "4", "--device", "cpu",
                     "--quiet", "--out", str(out)]) == 0
    assert RunDir(out).final.status == "completed"
    assert cli.main(["measure", str(out), "--max-samples", "8"]) == 0
    assert "Traceback" not in capsys.readouterr().err


BROKEN = {"garbage": b"\x89PNG\r\n\x1a\n this is not an image", "empty": b""}


@pytest.mark.parametrize("size", [8, 80])
@pytest.mark.parametrize("content", list(BROKEN))
@pytest.mark.parametrize("name", list(NAMES))
def test_a_broken_image_is_named_on_one_line(tmp_path, name, content, size) -> None:
    path = named_folder(tmp_path / "data", size, NAMES[name])
    with open(path, "wb") as fh:
        fh.write(BROKEN[content])
    with pytest.raises(UsageError) as caught:
        data = load_dataset("folder", tmp_path / "data")
        data.workers = 0
        list(data.loader("train", 4, train=True, device="cpu"))
    line = str(caught.value)
    assert line.isprintable() and "BytesIO" not in line and "buffer" not in line
    shown = {"not utf-8": "a/\\xff\\xfe.png'", "a newline": "a/x\\ny.png'", "utf-8": "a/é 0.png"}
    assert line.startswith("cannot read image ") and f"{shown[name]}: " in line
    assert line.endswith("(0 bytes)" if content == "empty" else "(no format PIL knows)")


def test_the_command_line_names_a_broken_image_on_one_line(tmp_path, capsys) -> None:
    path = named_folder(tmp_path / "data", 8, NAMES["a newline"])
    Path(path).write_bytes(BROKEN["garbage"])
    out = tmp_path / "run"
    assert cli.main(["train", *RUN, "--dataset", "folder", "--data-root",
                     str(tmp_path / "data"), "--out", str(out)]) == 2
    assert one_line_error(capsys).endswith("a/x\\ny.png': not an image file (no format PIL "
                                           "knows)")
    assert not out.exists()


def test_what_is_not_an_image_file_is_left_out(tmp_path) -> None:
    """A folder named like an image, a link to nowhere and a FIFO are no images."""
    image_folder(tmp_path / "data", {"a": 3, "b": 3}, {"a": 2, "b": 2})
    folder = tmp_path / "data" / "train" / "a"
    (folder / "folder.png").mkdir()
    (folder / "link.png").symlink_to(tmp_path / "nowhere.png")
    os.mkfifo(folder / "fifo.png")
    data = load_dataset("folder", tmp_path / "data")
    assert len(data.train) == 6


LONG = "x" * 1_000_000
BIG_CONFIG = {"arch": ("arch", LONG), "act": ("act", LONG), "order": ("order", LONG),
              "act_kwargs key": ("act_kwargs", {LONG: 1.0})}


@pytest.mark.parametrize("case", list(BIG_CONFIG))
def test_a_megabyte_value_in_config_json_is_a_short_line(run_copy, capsys, case) -> None:
    key, value = BIG_CONFIG[case]
    config = json.loads((run_copy / CONFIG).read_text())
    config[key] = value
    (run_copy / CONFIG).write_text(json.dumps(config))
    assert cli.main(["measure", str(run_copy)]) == 2
    line = one_line_error(capsys)
    assert len(line.encode()) < 400 + len(str(run_copy)), len(line)  # 247 with arch: the
    assert line.startswith(f"swapbn measure: error: {run_copy / CONFIG}: ")  # choices take 150
    assert "x" * 81 not in line and "...' (1,000,000 characters)" in line


def test_a_megabyte_status_in_final_json_is_a_short_line(run_copy, capsys) -> None:
    final = json.loads((run_copy / FINAL).read_text())
    final["status"] = LONG
    (run_copy / FINAL).write_text(json.dumps(final))
    assert train_cli(run_copy, "--resume") == 2
    line = one_line_error(capsys)
    assert len(line) < 300 + len(str(run_copy)) and "x" * 81 not in line


TEN_THOUSAND = "y" * 10_000
LONG_ARGS = {
    "--arch": ["--arch", TEN_THOUSAND],
    "--act": ["--act", TEN_THOUSAND],
    "--dataset": ["--dataset", TEN_THOUSAND],
    "--epochs (argparse)": ["--epochs", TEN_THOUSAND],
    "--act-kwargs": ["--act-kwargs", TEN_THOUSAND + "=1"],
    "an unknown argument": ["--" + TEN_THOUSAND],
    "--out (file name too long)": ["--out", TEN_THOUSAND],
}


@pytest.mark.parametrize("case", list(LONG_ARGS))
def test_a_long_command_line_value_is_a_short_line(tmp_path, capsys, case,
                                                   monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        assert cli.main(["train", *RUN, "--out", "run", *LONG_ARGS[case]]) == 2
    except SystemExit as exc:  # argparse's own errors
        assert exc.code == 2
    line = one_line_error(capsys)
    assert len(line.encode()) < 400 + (240 if case.startswith("--out") else 0), len(line)
    assert "(10,00" in line  # the length of what was cut: 10,000 or more characters
    assert list(tmp_path.iterdir()) == []


def test_quoted_values_and_shown_names() -> None:
    from swapbn.data.cache import FORMAT, fingerprint
    from swapbn.errors import one_line, quoted, shown_path

    assert quoted("vgg16_11") == "'vgg16_11'" and quoted("a" * 80) == repr("a" * 80)
    assert quoted("a" * 81) == "'" + "a" * 75 + "...' (81 characters)"
    assert len(quoted("\n" * 1000)) < 110 and quoted([1, 2]) == "[1, 2]"
    assert shown_path("data/train/a/0.png") == "data/train/a/0.png"
    assert shown_path(os.fsdecode(b"a/\xff.png")) == "'a/\\xff.png'"
    assert shown_path(b"a/\\b\n.png") == "'a/\\\\b\\n.png'"
    assert len(shown_path("p" * 5000)) == 239
    assert one_line("two\nlines") == "two\\nlines" and len(one_line("z" * 10**6)) < 1030
    # a UTF-8 name keeps the cache key it had when names were encoded as UTF-8 text
    old = hashlib.sha256(f"swapbn-data-{FORMAT}|{('x',)!r}".encode())
    old.update("a/é.png\0001\0002\n".encode())
    assert fingerprint([("a/é.png", 1, 2)], "x") == old.hexdigest()[:24]
    assert fingerprint([(os.fsdecode(b"a/\xff.png"), 1, 2)]) != fingerprint([("a/.png", 1, 2)])
