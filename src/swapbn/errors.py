"""Errors the command line turns into one line on stderr and an exit status.

An error quotes what the user or a record gave through `quoted` (at most QUOTE_LIMIT
characters, then an ellipsis and the length) and names files through `shown_path` (any name
the file system allows, on one line); `one_line` is the command line's last guard on what it
prints (docs/faults.md, "Names and long values").
"""

from __future__ import annotations

import os
import re

QUOTE_LIMIT = 80  # characters of a quoted user or record value an error shows
PATH_LIMIT = 240  # characters of a file name an error shows (real paths are shorter)
LINE_LIMIT = 1000  # characters of any error or warning line the command line prints


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)` for an error message, at most `limit` characters: a longer string keeps
    its start, an ellipsis inside the quotes and its length after them (`'xxx...' (1,000,000
    characters)`), anything else its start and an ellipsis. A megabyte `arch` in a
    config.json stays one short line."""
    if not isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else text[: limit - 3] + "..."
    if len(text := repr(value[: limit + 1])) <= limit + 2:  # the quotes do not count
        return text
    cut = value[:limit]
    while len(repr(cut)) > limit - 3:  # escapes (\\n, \\x00) take several characters each
        cut = cut[:-1]
    text = repr(cut)
    return f"{text[:-1]}...{text[-1]} ({len(value):,} characters)"


def _escape(char: str) -> str:
    if "\udc80" <= char <= "\udcff":  # a byte that is not UTF-8, as os.fsdecode keeps it
        return f"\\x{ord(char) - 0xDC00:02x}"
    if char == "\\":
        return "\\\\"
    return char if char.isprintable() else repr(char)[1:-1]


def shown_path(path: str | bytes | os.PathLike, limit: int = PATH_LIMIT) -> str:
    """A file name as an error line shows it: as it is when printable; else quoted with
    escapes (`'train/a/\\xff\\xfe.png'` for bytes that are not UTF-8, `\\n` for a newline), so
    the line stays one line and prints under any locale. Longer than `limit`: its start and
    end around an ellipsis."""
    text = os.fsdecode(os.fspath(path))
    if not text.isprintable():  # control characters, and the surrogates of undecodable bytes
        text = "'" + "".join(_escape(c) for c in text) + "'"
    if len(text) > limit:
        half = (limit - 3) // 2
        text = text[:half] + "..." + text[-half:]
    return text


_LONG_QUOTE = re.compile(f"'[^'\\n]{{{QUOTE_LIMIT + 1},}}'|\"[^\"\\n]{{{QUOTE_LIMIT + 1},}}\"")


def shorten_quotes(text: str) -> str:
    """Quoted values in a message made elsewhere (argparse's `invalid int value: '...'`) cut
    as `quoted` cuts them; only for messages whose quotes are all around values."""
    return _LONG_QUOTE.sub(lambda m: f"{m.group(0)[:QUOTE_LIMIT - 3]}...{m.group(0)[0]} "
                           f"({len(m.group(0)) - 2:,} characters)", text)


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    """`text` as one printable line of at most about `limit` characters (the command line's
    last guard): line breaks and other unprintable characters escaped, the rest cut."""
    if not text.isprintable():
        text = "".join(c if c == "\\" else _escape(c) for c in text)
    if len(text) > limit:
        text = text[: limit - 3] + f"... ({len(text):,} characters)"
    return text


class UsageError(Exception):
    """Bad input from the user: one line on stderr, exit status 2.

    `str(error)` speaks to a caller of the Python API (function arguments such as
    `force=True`); `cli`, when given, is the same advice in command-line flags (`--force`).
    """

    exit_code = 2

    def __init__(self, message: str, *, cli: str | None = None) -> None:
        super().__init__(message)
        self.cli = cli


def cli_text(exc: BaseException) -> str:
    """The error line the command line prints: its flag wording when it has one; an OSError's
    file name (`[Errno 36] File name too long: '...'`) quoted as `quoted` quotes it."""
    text = getattr(exc, "cli", None)
    if text:
        return text
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        names = [exc.filename] + ([exc.filename2] if exc.filename2 is not None else [])
        return (f"[Errno {exc.errno}] {exc.strerror}: "
                + " -> ".join(quoted(_fsdecode(n), PATH_LIMIT) for n in names))
    return str(exc)


def _fsdecode(name: object) -> object:
    return os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else name


class DivergedError(Exception):
    """The loss became NaN or infinite: the run is recorded as diverged, exit status 3."""

    exit_code = 3


class RecordError(UsageError):
    """A file of a run directory that cannot be trusted as written (missing where promised,
    not valid JSON, wrong schema, a checkpoint holding more than tensors): one line naming the
    file and what is wrong, exit status 2."""


class RunBusy(UsageError):
    """Another live process holds the run directory's lock (it is writing that run)."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM (what clusters and `timeout` send), raised like Ctrl-C so a run keeps its last
    checkpoint and records status interrupted; the exit status is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum
        self.exit_code = 128 + signum

    def __reduce__(self):  # crosses process boundaries (a sweep's pool workers) intact
        return (type(self), (self.signum,))
