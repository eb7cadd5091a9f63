"""Sweeps run once per test session at smoke scale (digits, width 1/16, one epoch), shared by the
tests: `small_sweep`, one experiment of two runs (seconds, in the default set), and
`smoke_sweeps`, every experiment of the paper (about 47 runs, minutes: slow).

conftest.py lists this module in `pytest_plugins`; a test that asks for a fixture named in
`SLOW_FIXTURES` is marked `slow` there, so only `make test-slow` (pytest -m slow) makes the runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swapbn.experiments import EXPERIMENTS

# The experiment `small_sweep` runs: two runs (VGG16 Tanh, convention and no BN).
SMALL_EXPERIMENT = "nobn"

# Fixtures that take minutes; conftest.py marks every test using one of them `slow`.
SLOW_FIXTURES = frozenset({"smoke_sweeps"})


def sweep(*argv: str) -> int:
    """`swapbn sweep ...` in this process, as the command line runs it."""
    from swapbn.cli import main

    return main(["sweep", *argv])


def smoke_sweep(name: str, out: Path, *extra: str) -> None:
    """Run experiment `name` at smoke scale into `out`, one thread per run, and check it completed."""
    code = sweep(name, "--scale", "smoke", "--out", str(out), "--cpus-per-run", "1", "--quiet",
                 *extra)
    assert code == 0, f"smoke sweep of {name} did not complete"


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory) -> Path:
    """The folder holding the two smoke-scale runs of SMALL_EXPERIMENT (completed). Read only."""
    out = tmp_path_factory.mktemp("small-sweep")
    smoke_sweep(SMALL_EXPERIMENT, out)
    return out


_made: list[Path] = []


@pytest.fixture(scope="session")
def smoke_sweeps(tmp_path_factory) -> Path:
    """The folder holding the smoke-scale runs of every experiment (all completed). Read only."""
    # Modules that import this fixture each get their own copy of it; the runs are made once.
    if _made:
        return _made[0]
    out = tmp_path_factory.mktemp("smoke-sweeps")
    for name in EXPERIMENTS:
        smoke_sweep(name, out)
    _made.append(out)
    return out
