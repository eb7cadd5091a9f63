"""The run directory, the unit of record: its file names, formats, readers and writers.

A run directory holds
- `config.json`: the resolved TrainConfig plus what the data set and machine added;
- `metrics.jsonl`: one JSON line per finished epoch;
- `checkpoint.pt`: model, optimizer, scheduler and RNG states after the last finished epoch;
- `final.json`: the `FinalRecord` of the run once it ends;
- `channels.npz`: channel samples of the final model (Figures 1 and 8).

This module is the only one that knows these names (docs/architecture.md, "Run directory");
training, sweeps, reports and `swapbn measure` all go through `RunDir`. Every file is written
atomically, so a run killed at any moment leaves either the old file or the new one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_write, json_text, write_json, write_text
from .errors import UsageError
from .metrics.samples import ChannelSamples
from .models import build_model

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
FINAL = "final.json"
CHANNELS = "channels.npz"
RUN_FILES = (CONFIG, METRICS, CHECKPOINT, FINAL, CHANNELS)
SMALL_FILES = (CONFIG, METRICS, FINAL, CHANNELS)  # the record without the checkpoint

FINISHED = ("completed", "diverged")  # a result of its configuration, not an accident
MODEL_KEYS = ("arch", "act", "order", "num_classes")  # what rebuilding the model needs
RENAMED = {"val_split": "val_images", "track_stats": "stats_every"}  # config.json of 0.1.0


@dataclass(frozen=True)
class FinalRecord:
    """final.json: how a run ended. `status` is completed, diverged or failed; `error` is one
    line (None when completed); stats, gradients and channels exist for completed runs."""

    status: str
    final_test_acc: float | None = None
    best_test_acc: float | None = None
    epochs_completed: int = 0
    seconds: float | None = None
    error: str | None = None
    stats: dict | None = None
    gradients: dict | None = None
    channels: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_dict(cls, d: dict) -> FinalRecord:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def failed(cls, exc: BaseException, **known) -> FinalRecord:
        return cls(status="failed", error=error_line(exc), **known)


def error_line(exc: BaseException) -> str:
    """`Type: first line of the message`, as final.json and sweep summaries show errors."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def read_json(path: Path) -> object | None:
    """A JSON file's value, or None when it is missing or not valid JSON (half written by a
    writer that is not atomic, or by hand)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


class RunDir:
    """One run directory; reading never writes, and every write is atomic."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- reading ------------------------------------------------------------------------------

    @property
    def config(self) -> dict | None:
        """config.json (with the field names of this version), or None while the run has none
        (or it is not a JSON object)."""
        value = read_json(self.path / CONFIG)
        if not isinstance(value, dict):
            return None
        return {RENAMED.get(k, k): v for k, v in value.items()}

    @property
    def final(self) -> FinalRecord | None:
        """final.json, or None while the run has not ended."""
        value = read_json(self.path / FINAL)
        return FinalRecord.from_dict(value) if isinstance(value, dict) and "status" in value \
            else None

    def metrics(self) -> list[dict]:
        """The epoch lines in order; reading stops at the first unreadable line (the last line
        of a run killed while appending)."""
        try:
            text = (self.path / METRICS).read_text()
        except OSError:
            return []
        lines = []
        for line in text.splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                break
        return lines

    @property
    def channels_path(self) -> Path:
        return self.path / CHANNELS

    def channels(self) -> ChannelSamples | None:
        """The channel samples of the final model, or None when the run has none."""
        path = self.channels_path
        return ChannelSamples.load(path) if path.is_file() else None

    def present(self) -> list[str]:
        """The run files this folder holds."""
        return [name for name in RUN_FILES if (self.path / name).exists()]

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).is_file()

    def checkpoint(self, map_location: str | torch.device = "cpu") -> dict:
        """checkpoint.pt, loaded with weights_only=True: tensors and plain containers only."""
        return torch.load(self.path / CHECKPOINT, map_location=map_location, weights_only=True)

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    def small_files(self) -> dict[str, bytes]:
        """The run's record without its checkpoint (config, metrics, final, channels), as
        bytes: what a cluster node sends back to the sweep's driver."""
        return {name: (self.path / name).read_bytes() for name in SMALL_FILES
                if (self.path / name).is_file()}

    def model_config(self) -> dict:
        """config.json, checked for what rebuilding the model needs (UsageError otherwise)."""
        if not self.path.is_dir():
            raise UsageError(f"{self.path} is not a directory; give a run directory of "
                             "`swapbn train`")
        path = self.path / CONFIG
        if not path.is_file():
            raise UsageError(f"{self.path} has no {CONFIG}; give a run directory of "
                             "`swapbn train`")
        config = self.config
        if config is None:
            raise UsageError(f"cannot read {path}: not a JSON object")
        missing = [k for k in MODEL_KEYS if k not in config]
        if missing:
            raise UsageError(f"{path} lacks {', '.join(missing)}")
        if not self.has_checkpoint:
            raise UsageError(f"{self.path} has no {CHECKPOINT} (the run never saved a model)")
        return config

    def load_model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The run's model rebuilt from config.json with checkpoint.pt's weights."""
        config = self.model_config()
        model = build_model(config["arch"], num_classes=config["num_classes"],
                            act=config["act"], order=config["order"],
                            width=config.get("width", 1.0), in_channels=config.get("in_channels", 3),
                            image_size=config.get("image_size", 32), bias=config.get("bias", True),
                            act_kwargs=config.get("act_kwargs"))
        try:
            model.load_state_dict(self.checkpoint(device)["model"])
        except (RuntimeError, KeyError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"cannot load {self.path / CHECKPOINT}: {first}") from None
        return model.to(device)

    def differences(self, config: dict, *, ignore: tuple[str, ...] = ()) -> list[str]:
        """The keys of `config` (a resolved TrainConfig as a dict) whose value config.json
        records differently; every key when the run has no config.json."""
        recorded = self.config or {}
        return [k for k in config if k not in ignore and recorded.get(k) != config[k]]

    # -- writing ------------------------------------------------------------------------------

    def start(self, config: dict, lines: list[dict]) -> None:
        """Begin (or resume) the record of a run: config.json, the metrics lines kept from an
        interrupted attempt, and no final record or channel samples of an earlier one."""
        self.remove((FINAL, CHANNELS))
        self.write_metrics(lines)
        self.write_config(config)

    def write_config(self, config: dict) -> None:
        write_json(self.path / CONFIG, config)

    def write_metrics(self, lines: list[dict]) -> None:
        """Rewrite metrics.jsonl with these lines (appending rewrites the file: it stays small,
        and a kill mid-write cannot leave half a line)."""
        write_text(self.path / METRICS, "".join(json_text(line, indent=None) + "\n"
                                                for line in lines))

    def write_final(self, final: FinalRecord) -> None:
        write_json(self.path / FINAL, final.to_dict())

    def save_checkpoint(self, state: dict) -> None:
        atomic_write(self.path / CHECKPOINT, lambda tmp: torch.save(state, tmp))

    def save_channels(self, samples: ChannelSamples) -> str:
        """Write channels.npz; returns the name final.json records."""
        samples.save(self.channels_path)
        return CHANNELS

    def receive(self, files: dict[str, bytes]) -> list[str]:
        """Write the small files of this run made on another machine (`small_files` there);
        files already here with the same bytes (a shared filesystem) are left alone. Returns
        the names written."""
        written = []
        for name, data in files.items():
            if name not in SMALL_FILES:
                raise ValueError(f"{name!r} is not a small file of a run directory")
            path = self.path / name
            if path.is_file() and path.read_bytes() == data:
                continue
            atomic_write(path, lambda tmp, data=data: Path(tmp).write_bytes(data))
            written.append(name)
        return written

    def remove(self, names: tuple[str, ...] = RUN_FILES) -> None:
        for name in names:
            (self.path / name).unlink(missing_ok=True)


def find_runs(root: str | Path) -> list[RunDir]:
    """Every run directory (a folder with config.json) under root, root included, in path
    order."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    return [RunDir(p.parent) for p in sorted(root.rglob(CONFIG))]
