"""The run directory: config.json, metrics.jsonl, checkpoint.pt, final.json (channels.npz).

A run directory is the unit of record, so every file in it is written atomically (a temporary
file in the same folder, then os.replace): a run killed at any moment leaves either the old
file or the new one, never half of one.
"""

from __future__ import annotations

import json
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
FINAL = "final.json"
CHANNELS = "channels.npz"
RUN_FILES = (CONFIG, METRICS, CHECKPOINT, FINAL, CHANNELS)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_metrics(run_dir: Path) -> list[dict]:
    """The metrics.jsonl lines of a run (an unfinished last line is ignored)."""
    lines = []
    try:
        text = (Path(run_dir) / METRICS).read_text()
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return lines


def write_metrics(run_dir: Path, lines: list[dict]) -> None:
    """Rewrite metrics.jsonl with these lines (appending rewrites the file: it stays small)."""
    write_text(Path(run_dir) / METRICS,
               "".join(json.dumps(line, allow_nan=False) + "\n" for line in lines))


def rng_state() -> dict:
    """Every random generator a run touches, in a form torch.load(weights_only=True) accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": list(random.getstate()[1]),
        "python_gauss": random.getstate()[2],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    random.setstate((3, tuple(state["python"]), state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: Path, *, model, optimizer, scheduler, epoch: int) -> None:
    ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "rng": rng_state(), "epoch": epoch}
    atomic_write(Path(run_dir) / CHECKPOINT, lambda tmp: torch.save(ckpt, tmp))


def load_checkpoint(run_dir: Path) -> dict:
    return torch.load(Path(run_dir) / CHECKPOINT, map_location="cpu", weights_only=True)


def git_commit() -> str | None:
    """HEAD of the git checkout holding this package, or None outside one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment(device: torch.device) -> dict:
    """What produced a run: versions, code commit and the device it ran on."""
    from .. import __version__

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine() or "cpu"
    return {"versions": {"swapbn": __version__, "torch": torch.__version__,
                         "python": platform.python_version()},
            "git_commit": git_commit(), "device_name": name}
