"""What makes a run reproducible and traceable: seeds, RNG states, devices and versions.

Every epoch draws its batches from a seed derived from (run seed, epoch), and the checkpoint
holds every RNG state, so a resumed run ends with the numbers of an uninterrupted one.
"""

from __future__ import annotations

import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

from ..errors import UsageError
from ..version import __version__


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name} requested but CUDA is not available; use --device cpu")
    return device


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 32-bit seed for one epoch's shuffling and augmentation."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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


def _git(*args: str) -> str | None:
    """A git command's output in the checkout holding this package; None outside one."""
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_commit() -> str | None:
    """HEAD of the git checkout holding this package, or None outside one."""
    return _git("rev-parse", "HEAD") or None


def git_dirty() -> bool | None:
    """Whether the checkout's code (src/ and pyproject.toml) differs from HEAD, so the code
    that ran is not exactly the commit; None outside a checkout. Records and docs do not count
    (a sweep rewrites committed run records as it resumes them)."""
    top = _git("rev-parse", "--show-toplevel")
    if not top:
        return None
    out = _git("-C", top, "status", "--porcelain", "--untracked-files=no", "--", "src",
               "pyproject.toml")
    return None if out is None else bool(out)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def environment(device: torch.device) -> dict:
    """What produced a run: versions, code commit (and whether the checkout had changes), the
    device it ran on (GPU or CPU model, the CPU's vector extensions as PyTorch sees them) and
    PyTorch's CPU threads (the last digits of a result can change with the thread count; not
    part of the TrainConfig, so runs made with other threads still count as the same run)."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    return {"versions": {"swapbn": __version__, "torch": torch.__version__,
                         "python": platform.python_version()},
            "git_commit": git_commit(), "git_dirty": git_dirty(), "device_name": name,
            "cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads()}
