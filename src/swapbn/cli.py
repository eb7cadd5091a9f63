"""`swapbn` command line: one subcommand per module in `swapbn.commands`.

Each command module defines `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`. Bad input raises `UsageError` (or ValueError from the library) and
becomes one line on stderr with exit status 2; a diverged run exits with status 3.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from .errors import DivergedError, Interrupted, UsageError, cli_text
from .training.signals import sigterm_interrupts
from .version import __version__

DESCRIPTION = ("Train CNNs with batch normalization before or after a bounded activation "
               "(convention or swap order) and measure the paper's saturation, skewness and "
               "sparsity. Start with `swapbn compare` (a few CPU minutes on bundled digits).")

COMMANDS = ["models", "train", "compare", "report", "theory", "sweep", "experiments", "recipes",
            "measure"]


class Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line (no usage block) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="swapbn", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"swapbn {__version__}")
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND",
                                parser_class=Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"swapbn.commands.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `swapbn`: what it is for and the command list
        parser.print_help()
        return 0
    # `ulimit -f`: a write past the limit fails with EFBIG (one line) instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        with sigterm_interrupts():
            return int(args._run(args) or 0)
    except (UsageError, ValueError, OSError) as exc:
        print(f"swapbn {args.command}: error: {cli_text(exc)}", file=sys.stderr)
        return 2
    except DivergedError as exc:
        print(f"swapbn {args.command}: {exc}", file=sys.stderr)
        return 3
    except Interrupted as exc:
        print(f"swapbn {args.command}: terminated (signal {exc.signum}); the last checkpoint of "
              "each run is kept and --resume continues it", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"swapbn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
