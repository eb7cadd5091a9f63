"""`python -m swapbn`: the command line, as torchrun starts it (`torchrun ... -m swapbn train`)."""

import sys

from .cli import main

sys.exit(main())
