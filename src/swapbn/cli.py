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

from .errors import DivergedError, Interrupted, UsageError
from .training.signals import sigterm_interrupts

COMMANDS = ["models", "train", "compare", "report", "theory", "sweep", "experiments", "measure"]


class Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line (no usage block) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="swapbn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"swapbn.commands.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # `ulimit -f`: a write past the limit fails with EFBIG (one line) instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        with sigterm_interrupts():
            return int(args._run(args) or 0)
    except (UsageError, ValueError, OSError) as exc:
        print(f"swapbn {args.command}: error: {exc}", file=sys.stderr)
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
