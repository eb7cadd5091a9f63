"""Shared fixtures: a private data cache per test session and the real CIFAR-10 (extracted once)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

pytest_plugins = ["fixtures_sweeps"]  # the session fixtures small_sweep and smoke_sweeps

CIFAR10_TARBALL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by -m
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a slow fixture (all smoke sweeps, the real CIFAR-10) is itself `slow`,
    whatever module it is in: `make test` leaves it out, `make test-slow` runs it."""
    from fixtures_sweeps import SLOW_FIXTURES  # loaded by now, as a plugin (assert rewriting)

    slow = SLOW_FIXTURES | {"cifar10_root"}
    for item in items:
        if slow.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread: the suite's models are tiny, and on a small machine shared with other
    jobs two threads oversubscribe the cores and run several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_USER_CACHE = os.environ.get("SWAPBN_CACHE")


def pytest_configure(config: pytest.Config) -> None:
    """Decoded data sets go to a temporary cache, never to the user's ~/.cache/swapbn. Set
    before any test module is imported, so an environment a module copies at import time
    (for the commands it starts) and every process a test starts has it too."""
    os.environ["SWAPBN_CACHE"] = tempfile.mkdtemp(prefix="swapbn-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ["SWAPBN_CACHE"], ignore_errors=True)
    if _USER_CACHE is None:
        os.environ.pop("SWAPBN_CACHE", None)
    else:
        os.environ["SWAPBN_CACHE"] = _USER_CACHE


def scratch_folder(tmp_path_factory: pytest.TempPathFactory, name: str, need: int) -> Path:
    """A temporary folder in RAM (/dev/shm) when it has room, else pytest's temporary folder:
    creating and removing 60,000 small files on a busy disk takes minutes, in RAM seconds."""
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and shutil.disk_usage(shm).free > 4 * need:
            return Path(tempfile.mkdtemp(prefix=f"pytest-{name}-", dir=shm))
    except OSError:
        pass
    return tmp_path_factory.mktemp(name)


@pytest.fixture(scope="session")
def cifar10_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The real CIFAR-10 as an image-folder tree (cifar10-jpeg/{train,test}/<class>/*.jpg),
    extracted once per session from ../shared/data/cifar10-jpeg.tar.gz and removed after it."""
    if not CIFAR10_TARBALL.is_file():
        pytest.skip(f"real CIFAR-10 not available: {CIFAR10_TARBALL} is absent")
    root = scratch_folder(tmp_path_factory, "cifar10", need=300 * 2**20)
    tar_program = shutil.which("tar")
    try:
        if tar_program:  # several times faster than tarfile on 60,000 small members
            subprocess.run([tar_program, "-xzf", str(CIFAR10_TARBALL), "-C", str(root)], check=True)
        else:
            with tarfile.open(CIFAR10_TARBALL) as tar:
                tar.extractall(root)  # noqa: S202 - our own archive
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
