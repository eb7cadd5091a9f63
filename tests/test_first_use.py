"""What a new user meets first: a CIFAR archive as the data root, output into a closed pipe,
whole option names, zoo models with their own activations, names that point to the zoos,
a warning for fresh BatchNorm statistics, layers numbered from 1, the report's figures for the
experiments beyond the paper, counted nouns, and a test suite that keeps out of ~/.cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from png_checks import BEYOND_PAPER_FIGURES, assert_png_drawn
from report_fakes import Fake, write_run
from swapbn import build_model
from swapbn.cli import BROKEN_PIPE_EXIT, build_parser, main
from swapbn.commands.train import describe
from swapbn.data import cache, load_dataset
from swapbn.metrics import measure
from swapbn.metrics.measure import UntrainedNormWarning, format_table
from swapbn.text import count
from swapbn.training.config import TrainConfig

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
CIFAR10_TARBALL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _tiny_cifar_archive(tmp_path: Path) -> Path:
    """A CIFAR-10 image-folder tree (two images per class and split) as a .tar.gz."""
    tree = tmp_path / "tree" / "cifar10-jpeg"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in CLASSES:
            (tree / split / c).mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tree / split / c / f"{i:04d}.png")
    archive = tmp_path / "cifar10-jpeg.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="cifar10-jpeg")
    return archive


def test_a_cifar_archive_is_a_data_root_extracted_once(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWAPBN_CACHE", str(tmp_path / "cache"))
    archive = _tiny_cifar_archive(tmp_path)
    data = load_dataset("cifar10", archive)
    assert data.classes == CLASSES and data.train.images.shape == (20, 3, 32, 32)
    assert len(list((tmp_path / "cache" / "archives").iterdir())) == 1

    def no_second_extraction(*args, **kwargs):
        raise AssertionError("extracted twice")

    monkeypatch.setattr(tarfile, "open", no_second_extraction)
    again = load_dataset("cifar10", archive)
    assert torch.equal(again.test.images, data.test.images)


def test_archives_and_folders_that_hold_them_say_what_to_do(tmp_path, capsys) -> None:
    archive = _tiny_cifar_archive(tmp_path)
    out = tmp_path / "run"
    argv = ["train", "--epochs", "1", "--out", str(out), "--quiet"]
    assert main([*argv, "--dataset", "cifar10", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cifar10-jpeg.tar.gz" in err and "data root" in err, err
    assert main([*argv, "--dataset", "tinyimagenet", "--data-root", str(archive)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"tar xzf {archive} -C DIR" in err, err
    bad = tmp_path / "broken.tar.gz"
    bad.write_bytes(b"not an archive")
    assert main([*argv, "--dataset", "cifar10", "--data-root", str(bad)]) == 2
    assert "not a readable archive" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow  # decodes 60,000 JPEGs
def test_the_real_cifar10_archive_as_data_root(tmp_path, monkeypatch) -> None:
    if not CIFAR10_TARBALL.is_file():
        pytest.skip(f"real CIFAR-10 not available: {CIFAR10_TARBALL} is absent")
    monkeypatch.setenv("SWAPBN_CACHE", str(tmp_path / "cache"))
    data = load_dataset("cifar10", CIFAR10_TARBALL)
    assert data.classes == CLASSES and data.test.images.shape == (10_000, 3, 32, 32)


@pytest.mark.parametrize("argv", [
    ["experiments"],
    ["compare", "--dry-run", "--seeds", *map(str, range(200))],  # more than a pipe's buffer
])
def test_a_closed_pipe_ends_quietly(argv) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "swapbn", *argv], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline()  # `| head -1`: read one line, then close the pipe
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, BROKEN_PIPE_EXIT)
    assert err == "", err


def test_options_are_never_abbreviated_and_errors_name_the_command(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--epoch", "1", "--dry-run"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("swapbn train: error: unrecognized arguments: "
                                       "--epoch 1\n")
    with pytest.raises(SystemExit):
        main(["sweep", "main", "--out", "x", "--dry", "--bogus"])
    assert capsys.readouterr().err.startswith("swapbn sweep: error: unrecognized arguments")
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    assert not parser.allow_abbrev
    assert all(not p.allow_abbrev for p in action.choices.values())


def test_zoo_models_keep_their_own_activations_unless_act_is_given(capsys) -> None:
    def dry(*argv: str) -> dict:
        assert main(["train", "--dry-run", *argv]) == 0
        return json.loads(capsys.readouterr().out)

    assert dry("--arch", "torchvision:resnet18")["act"] == "own"
    assert dry("--arch", "torchvision:resnet18", "--act", "tanh")["act"] == "tanh"
    assert dry()["act"] == "tanh"  # swapbn's own models: tanh, as before
    args = ["measure", "--arch", "torchvision:resnet18", "--dataset", "digits",
            "--max-samples", "16", "--json"]
    assert main(args) == 0
    own = json.loads(capsys.readouterr().out)
    assert all(layer["bound"] is None for layer in own["layers"])  # ReLU: unbounded
    assert main([*args, "--act", "tanh"]) == 0
    assert all(layer["bound"] == 1.0 for layer in json.loads(capsys.readouterr().out)["layers"])
    model = build_model("torchvision:resnet18", num_classes=10, act="own", order="convention")
    assert isinstance(model.relu, torch.nn.ReLU)


def test_a_zoo_name_without_its_prefix_is_suggested(capsys) -> None:
    assert main(["train", "--arch", "resnet18", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "torchvision:resnet18" in err, err


def test_fresh_batchnorm_statistics_warn_once(tmp_path, capsys) -> None:
    model = build_model("vgg11", num_classes=10, width=0.125, order="swap")
    x = torch.randn(8, 3, 32, 32)
    with pytest.warns(UntrainedNormWarning, match="never saw data"):
        measure(model, x)
    model.train()
    model(x)  # one batch: the running statistics move
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrainedNormWarning)
        measure(model, x)
    with warnings.catch_warnings():  # the suite ignores this warning elsewhere (pyproject.toml)
        warnings.simplefilter("default", UntrainedNormWarning)
        assert main(["measure", "--arch", "vgg11", "--dataset", "digits", "--max-samples",
                     "16", "--json"]) == 0
    err = capsys.readouterr().err
    assert err.count("swapbn measure: warning:") == 1 and err.count("\n") == 1, err


def test_layers_are_numbered_from_1_everywhere(tmp_path) -> None:
    pytest.importorskip("pandas")
    from swapbn.report import load_layers

    f = Fake("main", "swap", {"order": "swap"}, {"arch": "vgg16_11", "order": "swap"},
             70.0, 0.5, 0.4, 0.6, layers=4)
    write_run(tmp_path, f, 0)
    assert sorted(load_layers(tmp_path).layer) == [1, 2, 3, 4]
    record = {"layers": [{"name": "a", "kind": "conv", "channels": 2, "saturation": None,
                          "skewness": 0.1, "skewness_signed": 0.1, "constant_channels": 0,
                          "sparsity": 0.2, "empirical_saturation": 0.1}],
              "avg_saturation": None, "avg_skewness": 0.1, "avg_sparsity": 0.2}
    assert format_table(record).splitlines()[1].split()[0] == "1"


def _beyond_paper_runs(root: Path) -> None:
    for act, order, sat in (("tanh", "convention", 0.6), ("tanh", "swap", 0.7),
                            ("relu", "convention", None)):
        f = Fake("resnet", f"{act}/{order}", {"act": act, "order": order},
                 {"arch": "torchvision:resnet18", "act": act, "order": order}, 30.0, sat, 0.3,
                 0.5, layers=17)
        write_run(root, f, 0)
    for act, order in (("shifted_tanh", "convention"), ("tanh", "convention"), ("tanh", "swap")):
        f = Fake("shifted", f"{act}/{order}", {"act": act, "order": order},
                 {"arch": "vgg16_11", "act": act, "order": order}, 40.0, 0.5, 0.3, 0.5)
        write_run(root, f, 0)


def test_report_draws_layer_figures_for_the_sweeps_beyond_the_paper(tmp_path, capsys) -> None:
    _beyond_paper_runs(tmp_path / "runs")
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "report")]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["resnet"].endswith(", 1 figure") and lines["shifted"].endswith(", 1 figure")
    for name in BEYOND_PAPER_FIGURES:
        assert_png_drawn(tmp_path / "report" / f"{name}.png")


def test_an_unbounded_activation_keeps_the_layer_axis_and_says_why() -> None:
    from matplotlib.figure import Figure

    from swapbn.report.figures import UNDEFINED, layer_panel

    ax = Figure().subplots()
    drawn = layer_panel(ax, "saturation", [(np.full(17, np.nan), None, {"label": "relu"})],
                        kinds=["conv"] * 16 + ["fc"])
    assert not drawn
    assert ax.get_xlim() == (0.5, 17.5)
    assert [t.get_text() for t in ax.texts] == [UNDEFINED["saturation"]]
    assert "unbounded" in UNDEFINED["saturation"]


def test_counted_nouns_and_all_seeds_in_the_compare_header() -> None:
    assert (count(1, "figure"), count(6, "run"), count(0, "figure")) == \
        ("1 figure", "6 runs", "0 figures")
    config = TrainConfig(order="swap").resolve()
    assert describe(config, [0, 1, 2]).endswith("seeds 0,1,2")
    assert describe(config).endswith("seed 0")


def test_the_suite_keeps_out_of_the_users_cache() -> None:
    home = Path.home() / ".cache" / "swapbn"
    assert cache.cache_dir() != home and home not in cache.cache_dir().parents
    shown = subprocess.run([sys.executable, "-c", "from swapbn.data.cache import cache_dir; "
                            "print(cache_dir())"], env={**ENV}, capture_output=True, text=True,
                           check=True).stdout.strip()
    assert Path(shown) == cache.cache_dir()  # commands run by tests inherit it
