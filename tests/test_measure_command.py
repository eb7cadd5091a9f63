"""`swapbn measure RUN_DIR` on a run directory laid out as docs/architecture.md describes."""

from __future__ import annotations

import json

import pytest
import torch

from swapbn import build_model
from swapbn.cli import main
from swapbn.metrics import measure
from swapbn.rundir import RunDir

CONFIG = {"arch": "vgg16_8", "act": "tanh", "act_kwargs": None, "order": "swap",
          "width": 0.0625, "bias": True, "num_classes": 10, "in_channels": 1,
          "image_size": 32, "dataset": "digits", "data_root": None, "train_subset": None,
          "val_images": 0, "seed": 0}


@pytest.fixture()
def run_dir(tmp_path):
    torch.manual_seed(3)
    model = build_model(CONFIG["arch"], num_classes=10, act="tanh", order="swap",
                        width=CONFIG["width"], in_channels=1, image_size=32)
    with torch.no_grad():  # BN statistics unlike the defaults, so loading them matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.2, 2.0)
    run = RunDir(tmp_path)
    run.write_config(CONFIG)
    run.save_checkpoint({"model": model.state_dict(), "epoch": 1})
    return tmp_path, model


def test_json_record_equals_measure_on_the_test_split(run_dir, capsys):
    path, model = run_dir
    assert main(["measure", str(path), "--json", "--max-samples", "100"]) == 0
    record = json.loads(capsys.readouterr().out)
    from swapbn.data import load_dataset

    loader = load_dataset("digits").loader("test", 256, train=False)
    expected = measure(model, loader, max_samples=100).to_dict()
    assert record["samples"] == 100
    for got, want in zip(record["layers"], expected["layers"], strict=True):
        for key, value in want.items():
            assert got[key] == (pytest.approx(value, rel=1e-9) if isinstance(value, float)
                                else value)


def test_fused_gives_the_same_record(run_dir, capsys):
    path, _ = run_dir
    assert main(["measure", str(path), "--json", "--max-samples", "100"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["measure", str(path), "--json", "--max-samples", "100", "--fused"]) == 0
    fused = json.loads(capsys.readouterr().out)
    assert fused["samples"] == plain["samples"] == 100
    for got, want in zip(fused["layers"], plain["layers"], strict=True):
        for key, value in want.items():  # float64 against float32 map sums
            assert got[key] == (pytest.approx(value, rel=1e-6, abs=1e-7)
                                if isinstance(value, float) else value)


def test_table_and_figures(run_dir, capsys, tmp_path_factory):
    path, _ = run_dir
    figures = tmp_path_factory.mktemp("figures")
    assert main(["measure", str(path), "--max-samples", "40", "--figures", str(figures)]) == 0
    out = capsys.readouterr().out
    assert "features.0" in out and "average" in out and "saturation" in out
    written = sorted(p.name for p in figures.iterdir())
    assert written == ["channels_act.png", "channels_block.png", "layer_saturation.png",
                       "layer_skewness.png", "layer_sparsity.png"]
    for name in written:
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("setup, message", [
    (lambda p: p / "missing", "is not a directory"),
    (lambda p: p, "has no config.json"),
    (lambda p: (p / "config.json").write_text("{not json") and p, "cannot read"),
    (lambda p: RunDir(p).write_config(CONFIG) or p, "no checkpoint.pt"),
])
def test_bad_run_dir_is_one_line_usage_error(tmp_path, capsys, setup, message):
    target = setup(tmp_path)
    assert main(["measure", str(target)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_checkpoint_of_another_model_is_a_usage_error(tmp_path, capsys):
    run = RunDir(tmp_path)
    run.write_config(CONFIG)
    other = build_model("vgg16_8", num_classes=10, act="tanh", order="swap", width=0.125,
                        in_channels=1, image_size=32)
    run.save_checkpoint({"model": other.state_dict()})
    assert main(["measure", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"{tmp_path / 'checkpoint.pt'} does not fit the model of" in err
    assert "'features.0.weight.weight' is (8, 1, 3, 3) in the checkpoint" in err


def test_model_flags_with_a_run_directory_are_refused_not_ignored(run_dir, capsys):
    path, _ = run_dir
    assert main(["measure", str(path), "--order", "swap", "--weights", "w.pt"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--order, --weights" in err


def test_weights_are_read_like_a_checkpoint(tmp_path, capsys):
    """--weights goes through the checkpoint's reader: a run's checkpoint.pt is taken for its
    model state, weights of another model and a file that is not one are one line each."""
    model = build_model("vgg16_8", num_classes=10, act="tanh", order="swap", in_channels=1)
    torch.save({"model": model.state_dict(), "epoch": 1}, tmp_path / "checkpoint.pt")
    bare = ["measure", "--arch", "vgg16_8", "--dataset", "digits", "--order", "swap",
            "--max-samples", "20", "--json"]
    assert main([*bare, "--weights", str(tmp_path / "checkpoint.pt")]) == 0
    got = json.loads(capsys.readouterr().out)
    from swapbn.data import load_dataset

    want = measure(model, load_dataset("digits"), max_samples=20).to_dict()
    assert [layer["saturation"] for layer in got["layers"]] == \
        pytest.approx([layer["saturation"] for layer in want["layers"]], rel=1e-9)
    other = build_model("vgg16_8", num_classes=10, act="tanh", order="swap", width=0.5,
                        in_channels=1)
    torch.save(other.state_dict(), tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("not a state dict")
    for name, words in (("other.pt", "'features.0.weight.weight' is (32, 1, 3, 3) in the "
                                     "checkpoint but (64, 1, 3, 3) in the model"),
                        ("text.pt", "refused to load"), ("missing.pt", "cannot read")):
        assert main([*bare, "--weights", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(tmp_path / name) in err and words in err
