"""`smoke_sweeps`: every experiment of the paper run once at smoke scale, shared by the tests.

Session-scoped: about 50 tiny runs (digits, width 1/16, one epoch) into one folder, run ids
prefixed by their experiment. Import the fixture into a test module (or list this module in
`pytest_plugins`) to use it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swapbn.experiments import EXPERIMENTS


def sweep(*argv: str) -> int:
    """`swapbn sweep ...` in this process, as the command line runs it."""
    from swapbn.cli import main

    return main(["sweep", *argv])


_made: list[Path] = []


@pytest.fixture(scope="session")
def smoke_sweeps(tmp_path_factory) -> Path:
    """The folder holding the smoke-scale runs of every experiment (all completed)."""
    # Modules that import this fixture each get their own copy of it; the runs are made once.
    if _made:
        return _made[0]
    out = tmp_path_factory.mktemp("smoke-sweeps")
    for name in EXPERIMENTS:
        code = sweep(name, "--scale", "smoke", "--out", str(out), "--cpus-per-run", "1",
                     "--quiet")
        assert code == 0, f"smoke sweep of {name} did not complete"
    _made.append(out)
    return out
