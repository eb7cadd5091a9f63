"""Atomic file writes: a record, checkpoint, table or figure is either absent or complete.

Readers (resume, sweeps, reports) may look at a run directory at any moment, also while a run
is being written or after it was killed, so nothing is ever written in place. This module is
the package's only writer of files: every other module calls `atomic_write` or one of the
`write_*` functions below.

Nothing is written through a symbolic link found inside a folder: a run or sweep folder copied
in from elsewhere may carry one, and following it would write outside the folder the user
named. Writes go to a fresh temporary file (created exclusively, so never through a link) that
is renamed over the name; a link at that name is refused with one line (`refuse_link`, a
`RecordError`), and so is one where the project names a folder of its own inside the user's (a
sweep's run directories, the report's default folder, TensorBoard's). The folders the user
names (`--out`, `--tensorboard DIR`) may themselves be links (docs/faults.md).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import secrets
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import RecordError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give; the temporary file starts at 0600


def refuse_link(path: str | os.PathLike) -> Path:
    """`path`, unless it is a symbolic link: then RecordError, one line naming it."""
    path = Path(path)
    if path.is_symlink():
        raise RecordError(f"{path} is a symbolic link; swapbn never reads or writes its files "
                          "through links inside a folder it writes (remove the link)")
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call write(tmp) on a temporary file beside `path` (same suffix, so writers that infer
    the format from it work), then rename it over `path`; the folder is created if missing.

    A link at `path` is refused (RecordError) before and again after writing; the temporary
    file is created exclusively, so it is never a link. An OSError of the write (a full disk,
    `ulimit -f`) names `path`, and its temporary file is gone when the error is raised.
    """
    path = refuse_link(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        tmp = _create_temporary(path)
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        refuse_link(path)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if exc.filename is None and exc.errno is not None:  # write() names no file
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(tmp: Path | None) -> None:
    if tmp is not None:
        tmp.unlink(missing_ok=True)


def _create_temporary(path: Path) -> Path:
    """An empty new file `.<stem>.<random><suffix>` beside path, created exclusively.

    Unlike tempfile.mkstemp, the name is chosen before the file exists and the file is
    removed if anything is raised once it may exist: SIGTERM, raised as Interrupted between any
    two bytecodes (training/signals.py), could otherwise land after mkstemp created the file
    and before its name was known, and leave the file behind."""
    for _ in range(100):
        tmp = path.parent / f".{path.stem}.{secrets.token_hex(4)}{path.suffix or '.tmp'}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def json_text(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON: NaN and infinities become null (JSON has no NaN), NumPy values become lists
    and numbers, paths strings."""
    return json.dumps(_finite(obj), indent=indent, allow_nan=False, default=_plain)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json_text(obj) + "\n")


def write_csv(path: str | os.PathLike, header: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> Path:
    """A CSV table; None cells are written empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return write_text(path, buf.getvalue())


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "tolist"):  # NumPy and torch scalars and arrays
        return _finite(obj.tolist())
    return obj


def _plain(obj: Any) -> Any:
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
