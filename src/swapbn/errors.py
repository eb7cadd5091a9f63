"""Errors the command line turns into one line on stderr and an exit status."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user: one line on stderr, exit status 2."""

    exit_code = 2


class DivergedError(Exception):
    """The loss became NaN or infinite: the run is recorded as diverged, exit status 3."""

    exit_code = 3
