"""On-disk cache of decoded data sets, keyed by a fingerprint of the source files.

Decoding 60,000 JPEG files takes seconds to minutes; reading one uint8 tensor back takes well
under a second. The key covers every source file's relative path, size and modification time,
so an edited, added or removed file makes a new entry instead of serving stale images.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write

FORMAT = 1  # bump when the cached content changes meaning


def cache_dir() -> Path:
    """$SWAPBN_CACHE, else ~/.cache/swapbn."""
    env = os.environ.get("SWAPBN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "swapbn"


def fingerprint(entries: Iterable[tuple[str, int, int]], *extra: object) -> str:
    """Hash of (relative path, size, mtime_ns) of every source file plus `extra` settings."""
    h = hashlib.sha256(f"swapbn-data-{FORMAT}|{extra!r}".encode())
    for rel, size, mtime in sorted(entries):
        # the name's own bytes: a name that is not UTF-8 holds surrogates (os.fsdecode)
        h.update(os.fsencode(rel) + f"\0{size}\0{mtime}\n".encode())
    return h.hexdigest()[:24]


def stat_entries(paths: Iterable[Path], root: Path) -> list[tuple[str, int, int]]:
    """(path relative to root, size, mtime_ns) of each file."""
    out = []
    for p in paths:
        st = p.stat()
        out.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns))
    return out


def cache_path(name: str, key: str) -> Path:
    return cache_dir() / f"{name}-{key}.pt"


def load(name: str, key: str) -> dict[str, Any] | None:
    """The cached entry, or None when absent or unreadable (then it is rebuilt)."""
    path = cache_path(name, key)
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # a truncated or foreign file: decode again
        return None


def save(name: str, key: str, content: dict[str, Any]) -> None:
    """Write atomically (with the mode of every other output); a cache that cannot be written
    only costs time, so warn and go on."""
    path = cache_path(name, key)
    try:
        atomic_write(path, lambda tmp: torch.save(content, tmp))
    except OSError as exc:
        warnings.warn(f"could not write data cache {path}: {exc}", stacklevel=2)
