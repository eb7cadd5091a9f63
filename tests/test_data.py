"""digits, the offline data set, and the DataSet / loader interface on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from swapbn.data import DATASETS, load_dataset


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def as_rows(images: torch.Tensor) -> set[bytes]:
    return {bytes(im.numpy().tobytes()) for im in images}


def test_digits_loads_offline_with_ten_classes(digits):
    assert digits.name == "digits"
    assert digits.num_classes == 10 and digits.classes == [str(d) for d in range(10)]
    assert digits.in_channels == 1 and digits.image_size == 32
    assert digits.train.images.dtype == torch.uint8
    assert digits.train.images.shape[1:] == (1, 32, 32)
    assert len(digits.train) + len(digits.test) == 1797
    assert len(digits.test) == pytest.approx(0.2 * 1797, abs=1)
    assert digits.val is None
    # stratified: every class keeps its share of the test split within one image
    total = np.bincount(load_digits().target, minlength=10)
    test = np.bincount(digits.test.labels.numpy(), minlength=10)
    assert np.all(np.abs(test - 0.2 * total) <= 1)
    # uses the full 0..255 range (strokes are saturated after upsampling)
    assert digits.train.images.min() == 0 and digits.train.images.max() == 255


def bilinear_reference(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize with pixel centres at half-integers (float64 numpy, clamped edges)."""
    n = images.shape[-1]
    src = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = src - lo
    rows = images[:, lo, :] * (1 - w)[None, :, None] + images[:, hi, :] * w[None, :, None]
    return rows[:, :, lo] * (1 - w)[None, None, :] + rows[:, :, hi] * w[None, None, :]


def test_digits_upsampling_matches_a_bilinear_reference(digits):
    bunch = load_digits()
    reference = bilinear_reference(bunch.images / 16.0, 32) * 255.0
    by_label = {}
    for img, y in zip(reference, bunch.target, strict=True):
        by_label.setdefault(int(y), []).append(img)
    ours = digits.test.images.squeeze(1).double().numpy()
    for img, y in zip(ours, digits.test.labels.tolist(), strict=True):
        candidates = np.stack(by_label[y])
        err = np.abs(candidates - img).max(axis=(1, 2))
        assert err.min() <= 0.5 + 1e-6  # rounding to uint8 only


def test_same_seed_same_split_other_seed_differs(digits):
    again = load_dataset("digits", seed=0)
    other = load_dataset("digits", seed=1)
    assert torch.equal(again.train.images, digits.train.images)
    assert torch.equal(again.test.labels, digits.test.labels)
    assert as_rows(other.test.images) != as_rows(digits.test.images)
    # a split, not a copy: train and test do not share images of the same index set
    assert len(as_rows(digits.train.images) & as_rows(digits.test.images)) < 10


def test_mean_std_from_the_training_split(digits):
    x = digits.train.images.numpy().astype(np.float64) / 255.0
    assert digits.mean == pytest.approx([x.mean()], abs=1e-12)
    assert digits.std == pytest.approx([x.std()], abs=1e-12)


def test_eval_loader_is_ordered_and_normalised(digits):
    loader = digits.loader("test", 100, train=False, device="cpu")
    assert len(loader) == 4  # 360 images
    xs, ys = zip(*loader, strict=True)
    assert [x.shape[0] for x in xs] == [100, 100, 100, 60]
    x, y = torch.cat(xs), torch.cat(ys)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(y, digits.test.labels)
    mean, std = digits.mean[0], digits.std[0]
    expected = (digits.test.images.double() / 255.0 - mean) / std
    torch.testing.assert_close(x.double(), expected, atol=1e-5, rtol=1e-5)
    assert len(digits.loader("test", 100, train=False, device="cpu", drop_last=True)) == 3


def test_train_loader_shuffles_augments_and_never_flips(digits):
    loader = digits.loader("train", 256, train=True, device="cpu", seed=3)
    ys = torch.cat([y for _, y in loader])
    assert not torch.equal(ys, digits.train.labels)  # shuffled
    assert torch.equal(torch.sort(ys).values, torch.sort(digits.train.labels).values)
    assert digits.augmentation.flip is False and digits.augmentation.pad == 4


def test_train_subset_is_stratified_and_seeded():
    a = load_dataset("digits", train_subset=300, seed=5)
    b = load_dataset("digits", train_subset=300, seed=5)
    c = load_dataset("digits", train_subset=300, seed=6)
    full = load_dataset("digits", seed=5)
    assert len(a.train) == 300 and len(a.test) == len(full.test)
    assert torch.equal(a.train.images, b.train.images)
    assert as_rows(a.train.images) != as_rows(c.train.images)
    assert as_rows(a.train.images) <= as_rows(full.train.images)
    counts = np.bincount(a.train.labels.numpy(), minlength=10)
    share = np.bincount(full.train.labels.numpy(), minlength=10) * 300 / len(full.train)
    assert np.all(np.abs(counts - share) <= 1)
    x = a.train.images.numpy().astype(np.float64) / 255.0
    assert a.mean == pytest.approx([x.mean()], abs=1e-12)


def test_val_images_are_held_out_of_training():
    data = load_dataset("digits", val_images=200, train_subset=500, seed=2)
    full = load_dataset("digits", seed=2)
    assert len(data.val) == 200 and len(data.train) == 500
    val, train = as_rows(data.val.images), as_rows(data.train.images)
    assert val <= as_rows(full.train.images)
    assert len(val & train) <= 5  # only duplicate-looking digits may coincide
    assert np.all(np.bincount(data.val.labels.numpy(), minlength=10) >= 18)
    xs = torch.cat([x for x, _ in data.loader("val", 64, train=False, device="cpu")])
    assert xs.shape == (200, 1, 32, 32)


def test_registry_lists_every_data_set():
    assert set(DATASETS) == {"digits", "cifar10", "cifar100", "tinyimagenet", "imagenet", "folder"}
