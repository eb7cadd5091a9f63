"""One module per `swapbn` subcommand (see swapbn.cli)."""
