"""`swapbn` command line: one subcommand per module in `swapbn.commands`.

Each command module defines `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`. Bad input raises `UsageError` (or ValueError from the library) and
becomes one line on stderr with exit status 2, prefixed `swapbn <command>:` like every other
line the command writes to stderr (warnings too); a diverged run exits with status 3. Options
are never abbreviated (`--epoch` is not `--epochs`), and output into a closed pipe (`| head`)
ends quietly, as other command-line tools do.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import warnings

from .errors import (
    QUOTE_LIMIT,
    DivergedError,
    Interrupted,
    UsageError,
    cli_text,
    one_line,
    quoted,
    shorten_quotes,
)
from .training.signals import sigterm_interrupts
from .version import __version__

DESCRIPTION = ("Train CNNs with batch normalization before or after a bounded activation "
               "(convention or swap order) and measure the paper's saturation, skewness and "
               "sparsity. Start with `swapbn compare` (a few CPU minutes on bundled digits).")

COMMANDS = ["models", "train", "compare", "report", "theory", "sweep", "experiments", "recipes",
            "measure"]


# What a process killed by SIGPIPE reports to its shell: `swapbn ... | head` ends like `cat`.
BROKEN_PIPE_EXIT = 128 + signal.SIGPIPE


class Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line (no usage block) and exit status 2, and
    takes only whole option names."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {one_line(shorten_quotes(message))}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="swapbn", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"swapbn {__version__}")
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND",
                                parser_class=Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"swapbn.commands.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _parser=p)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away: send what is still buffered nowhere, so that flushing stdout at
        # exit does not fail a second time, and end without a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_EXIT


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the command's own prefix, as its other errors
        getattr(args, "_parser", parser).error(
            "unrecognized arguments: "
            + " ".join(u if len(u) <= QUOTE_LIMIT else quoted(u) for u in unknown))
    if args.command is None:  # a bare `swapbn`: what it is for and the command list
        parser.print_help()
        return 0
    # `ulimit -f`: a write past the limit fails with EFBIG (one line) instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        with sigterm_interrupts(), warnings.catch_warnings():
            warnings.showwarning = _warning_line(args.command)
            return int(args._run(args) or 0)
    except BrokenPipeError:
        raise
    except (UsageError, ValueError, OSError) as exc:
        print(f"swapbn {args.command}: error: {one_line(cli_text(exc))}", file=sys.stderr)
        return 2
    except DivergedError as exc:
        print(f"swapbn {args.command}: {one_line(str(exc))}", file=sys.stderr)
        return 3
    except Interrupted as exc:
        print(f"swapbn {args.command}: terminated (signal {exc.signum}); the last checkpoint of "
              "each run is kept and --resume continues it", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"swapbn {args.command}: interrupted", file=sys.stderr)
        return 130


def _warning_line(command: str):
    """warnings.showwarning for a command: one line, `swapbn <command>: warning: ...`."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = (str(message).strip().splitlines() or [category.__name__])[0]
        print(f"swapbn {command}: warning: {one_line(text)}", file=sys.stderr)

    return show


if __name__ == "__main__":
    sys.exit(main())
