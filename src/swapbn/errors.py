"""Errors the command line turns into one line on stderr and an exit status."""

from __future__ import annotations


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
    """The error line the command line prints: its flag wording when it has one."""
    return getattr(exc, "cli", None) or str(exc)


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
