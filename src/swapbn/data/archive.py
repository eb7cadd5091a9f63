"""A data set given as its archive (`--data-root cifar10-jpeg.tar.gz`): extracted once into the
cache, then read like the folder it holds.

The extraction folder is named by the archive's name, size and modification time, so an
edited archive is extracted again and the same one never twice; it appears whole or not at
all (extracted beside it, then renamed), so an interrupted extraction is never read.
Members are extracted with tarfile's `data` filter: nothing outside the folder, no devices.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from ..errors import UsageError
from . import cache

SUFFIXES = (".tar.gz", ".tgz", ".tar")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(SUFFIXES)


def extract_hint(path: Path) -> str:
    """How to extract an archive by hand."""
    return f"extract it first (mkdir DIR && tar xzf {path} -C DIR) and pass DIR"


def extracted(archive: Path) -> Path:
    """The folder `archive` extracts to in the cache, extracting it on first use."""
    st = archive.stat()
    key = cache.fingerprint([(archive.name, st.st_size, st.st_mtime_ns)], "archive")
    stem = archive.name[: -len(next(s for s in SUFFIXES if archive.name.lower().endswith(s)))]
    target = cache.cache_dir() / "archives" / f"{stem}-{key}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
        os.replace(scratch, target)  # whole or not at all; a concurrent winner stays
    except (tarfile.TarError, EOFError) as exc:
        raise UsageError(f"data root {archive} is not a readable archive ({exc}); "
                         f"{extract_hint(archive)}") from None
    except OSError:
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
