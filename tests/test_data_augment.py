"""Batched augmentation: crops are zero-padded translations, flips hit half the images, and
batches depend only on the seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import binom

from swapbn.data import Augmentation, DataSet, Split
from swapbn.data.augment import normalize, random_flip, random_translate


def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """out[:, i, j] = image[:, i + dy, j + dx], zero where that falls outside (numpy reference)."""
    _, h, w = image.shape
    out = np.zeros_like(image)
    ys, xs = slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx))
    ys_src, xs_src = slice(max(0, dy), min(h, h + dy)), slice(max(0, dx), min(w, w + dx))
    out[:, ys, xs] = image[:, ys_src, xs_src]
    return out


def random_images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Images of values 1..255 (no zeros), so a zero pixel can only come from padding."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


def test_crops_are_translations_with_zero_fill():
    pad, n = 4, 1500
    x = random_images(n)
    out = random_translate(x, pad, torch.Generator().manual_seed(1)).numpy()
    assert out.shape == x.shape and out.dtype == np.uint8
    seen = set()
    for img, res in zip(x.numpy(), out, strict=True):
        matches = [
            (dy, dx)
            for dy in range(-pad, pad + 1)
            for dx in range(-pad, pad + 1)
            if np.array_equal(res, shifted(img, dy, dx))
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    # every shift in [-4, 4]^2 occurs (about 18 times each)
    assert len(seen) == (2 * pad + 1) ** 2


def test_tiny_imagenet_padding_shifts_by_up_to_eight():
    x = random_images(400, size=64, seed=2)
    out = random_translate(x, 8, torch.Generator().manual_seed(0))
    zero_rows = (out == 0).all(dim=(1, 3)).sum(dim=1)  # rows fully zero = |dy|
    assert zero_rows.max() == 8 and zero_rows.min() == 0


def test_flips_hit_about_half_and_are_mirrors():
    n = 4000
    x = random_images(n, size=8)
    out = random_flip(x, torch.Generator().manual_seed(7))
    same = (out == x).all(dim=(1, 2, 3))
    mirrored = (out == x.flip(3)).all(dim=(1, 2, 3))
    assert torch.all(same ^ mirrored)
    lo, hi = binom.ppf([1e-6, 1 - 1e-6], n, 0.5)
    assert lo <= int(mirrored.sum()) <= hi


def test_normalize_matches_float64_reference():
    x = random_images(16)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    got = normalize(x, torch.tensor(mean), torch.tensor(std))
    ref = (
        x.double() / 255 - torch.tensor(mean, dtype=torch.float64)[:, None, None]
    ) / torch.tensor(std, dtype=torch.float64)[:, None, None]
    torch.testing.assert_close(got.double(), ref, atol=1e-5, rtol=1e-6)


@pytest.fixture(scope="module")
def toy() -> DataSet:
    """100 random images, each its own class, so a label names the source image."""
    n = 100
    images = random_images(n, seed=3)
    return DataSet(
        name="toy",
        classes=[str(i) for i in range(n)],
        in_channels=3,
        image_size=32,
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        train=Split(labels=torch.arange(n), images=images),
        test=Split(labels=torch.arange(n), images=images),
        augmentation=Augmentation(pad=4, flip=True),
    )


def batches(
    data: DataSet, seed: int, batch_size: int = 32
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(data.loader("train", batch_size, train=True, device="cpu", seed=seed))


def test_same_seed_same_batches_other_seed_differs(toy):
    a, b, c = batches(toy, 11), batches(toy, 11), batches(toy, 12)
    assert len(a) == 4 and [x.shape[0] for x, _ in a] == [32, 32, 32, 4]
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(torch.cat([x for x, _ in a]), torch.cat([x for x, _ in c]))


def test_train_epoch_visits_every_image_once_augmented(toy):
    out = batches(toy, 5, batch_size=30)
    x, labels = torch.cat([b[0] for b in out]), torch.cat([b[1] for b in out])
    assert sorted(labels.tolist()) == list(range(100))
    raw = ((x * 0.25 + 0.5) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    flips = 0
    for img, label in zip(raw, labels.tolist(), strict=True):
        source = toy.train.images[label].numpy()
        hits = [
            flip
            for flip, cand in ((False, source), (True, source[:, :, ::-1]))
            for dy in range(-4, 5)
            for dx in range(-4, 5)
            if np.array_equal(img, shifted(cand, dy, dx))
        ]
        assert len(hits) == 1
        flips += hits[0]
    assert 20 <= flips <= 80
    assert len(toy.loader("train", 30, train=True, device="cpu", drop_last=True)) == 3


def test_eval_loader_does_not_augment(toy):
    x = torch.cat([b[0] for b in toy.loader("test", 64, train=False, device="cpu", seed=9)])
    torch.testing.assert_close(((x * 0.25 + 0.5) * 255).round().to(torch.uint8), toy.test.images)
