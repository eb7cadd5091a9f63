"""The real CIFAR-10 (JPEG image folders from ../shared): decoded once, then read from cache."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

from swapbn.data import load_dataset

pytestmark = pytest.mark.slow  # decodes the real CIFAR-10 (60,000 JPEGs)

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_real_cifar10_loads_and_second_load_hits_the_cache(cifar10_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SWAPBN_CACHE", str(tmp_path / "cache"))
    start = time.perf_counter()
    data = load_dataset("cifar10", cifar10_root)
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = load_dataset("cifar10", cifar10_root)
    second = time.perf_counter() - start
    assert second < first / 2, (first, second)
    assert len(list((tmp_path / "cache").glob("cifar10-*.pt"))) == 1

    assert data.classes == CLASSES and data.num_classes == 10
    assert data.train.images.shape == (50_000, 3, 32, 32) and data.train.images.dtype == torch.uint8
    assert data.test.images.shape == (10_000, 3, 32, 32)
    assert torch.bincount(data.train.labels).tolist() == [5000] * 10
    assert torch.bincount(data.test.labels).tolist() == [1000] * 10
    assert torch.equal(again.test.images, data.test.images)
    assert again.mean == data.mean and again.std == data.std
    # the well-known CIFAR-10 training statistics (JPEG re-encoding moves them slightly)
    assert data.mean == pytest.approx([0.4914, 0.4822, 0.4465], abs=0.003)
    assert data.std == pytest.approx([0.2470, 0.2435, 0.2616], abs=0.006)

    # decoded pixels equal PIL's decoding of the same files (an independent decoder)
    files = sorted((cifar10_root / "cifar10-jpeg" / "test" / "ship").glob("*.jpg"))
    first_ship = data.test.labels.tolist().index(8)
    for k in (0, 1, 999):
        ref = np.asarray(Image.open(files[k]).convert("RGB")).transpose(2, 0, 1).astype(int)
        ours = data.test.images[first_ship + k].numpy().astype(int)
        assert np.abs(ours - ref).max() <= 2

    x, y = next(iter(data.loader("train", 128, train=True, device="cpu", seed=0)))
    assert x.shape == (128, 3, 32, 32) and y.shape == (128,)
