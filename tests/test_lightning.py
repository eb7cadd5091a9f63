"""swapbn.lightning.SwapbnCallback: a LightningModule trained on digits for two epochs logs each
layer's saturation, skewness and sparsity and their averages every N steps and at the end of
each validation pass; the values read back from CSVLogger's metrics.csv are the Monitor's, and
the last validation pass's equal measure() of the trained model on the same batches."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from swapbn import build_model, measure
from swapbn.data import load_dataset

pl = pytest.importorskip("lightning.pytorch")
from lightning.pytorch.loggers import CSVLogger  # noqa: E402

from swapbn.lightning import SwapbnCallback  # noqa: E402
from test_monitor import Net  # noqa: E402

# Lightning's own use of a torch.utils._pytree name that torch deprecates
pytestmark = pytest.mark.filterwarnings("ignore:.*treespec:FutureWarning",
                                        "ignore:.*treespec:DeprecationWarning")


class Digits(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = build_model("vgg16_11", num_classes=10, act="tanh", order="swap",
                                 width=0.0625, in_channels=1, image_size=32)

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


def rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if v != ""} for r in csv.DictReader(f)]


def test_two_epochs_on_digits_log_every_n_steps_and_each_validation(tmp_path):
    data = load_dataset("digits")
    train = data.loader("train", 64, train=True, device="cpu", seed=0, drop_last=True)
    val = data.loader("test", 128, train=False, device="cpu")
    module = Digits()
    logger = CSVLogger(str(tmp_path), name="digits", version=0)
    trainer = pl.Trainer(max_epochs=2, logger=logger, callbacks=[SwapbnCallback(10)],
                         accelerator="cpu", devices=1, log_every_n_steps=10,
                         enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(module, train, val)
    steps_per_epoch = len(train)
    logged = rows(tmp_path / "digits" / "version_0" / "metrics.csv")
    train_rows = [r for r in logged if "train/stats/avg_skewness" in r]
    val_rows = [r for r in logged if "val/stats/avg_skewness" in r]
    assert [int(r["step"]) for r in train_rows] == list(range(0, 2 * steps_per_epoch, 10))
    assert [int(r["step"]) for r in val_rows] == [steps_per_epoch, 2 * steps_per_epoch]
    names = [f"model.features.{i}" for i in (0, 1, 3, 4)]
    for r in train_rows + val_rows:
        stage = "train" if r in train_rows else "val"
        for key in ("saturation", "skewness", "sparsity"):
            assert 0 <= float(r[f"{stage}/stats/avg_{key}"]) < 10
            assert all(f"{stage}/{key}/{n}" in r for n in names)
    want = measure(module.model, val).to_dict()
    last = val_rows[-1]
    for key in ("avg_saturation", "avg_skewness", "avg_sparsity"):
        assert float(last[f"val/stats/{key}"]) == pytest.approx(want[key], rel=1e-9)
    for layer in want["layers"]:
        assert float(last[f"val/skewness/model.{layer['name']}"]) == pytest.approx(
            layer["skewness"], rel=1e-9)
    for m in module.modules():  # teardown closed the Monitor
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_without_lightning_one_line_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.delitem(sys.modules, "swapbn.lightning")
    with pytest.raises(ImportError, match=r"^swapbn.lightning needs Lightning: pip install"):
        import swapbn.lightning  # noqa: F401


def test_importing_swapbn_does_not_import_lightning():
    code = "import sys, swapbn; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


class Wrapped(pl.LightningModule):
    """A model swapbn did not build, called as `self.net(x)`: the callback watches `net`."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = Net()

    def training_step(self, batch, batch_idx):
        return F.cross_entropy(self.net(batch[0]), batch[1])

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", F.cross_entropy(self.net(batch[0]), batch[1]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def test_a_named_submodule_found_by_find_points(tmp_path):
    data = load_dataset("digits")
    module = Wrapped()
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=5, limit_val_batches=2,
                         logger=CSVLogger(str(tmp_path), name="net", version=0),
                         callbacks=[SwapbnCallback(2, module="net")], accelerator="cpu",
                         devices=1, log_every_n_steps=1, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(module, data.loader("train", 32, train=True, device="cpu", drop_last=True),
                data.loader("test", 64, train=False, device="cpu"))
    logged = rows(tmp_path / "net" / "version_0" / "metrics.csv")
    train_rows = [r for r in logged if "train/stats/avg_skewness" in r]
    assert [int(r["step"]) for r in train_rows] == [0, 2, 4]
    assert {"train/skewness/tanh", "train/sparsity/relu"} <= set(train_rows[0])
    assert "train/saturation/relu" not in train_rows[0]  # undefined for ReLU: left out
    assert [int(r["step"]) for r in logged if "val/stats/avg_sparsity" in r] == [5]
    assert "forward" not in module.net.__dict__
