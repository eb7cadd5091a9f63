"""Every on-disk layout, written here file by file in its exact format: torchvision's CIFAR
pickles, CIFAR image folders, Tiny ImageNet, ImageNet-style folders and generic folders."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from swapbn.data import cache, load_dataset

CIFAR10_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def write_pickle(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(content, fh, protocol=2)


def cifar_batch(rng: np.random.Generator, n: int, classes: int, label_key, bytes_keys=False):
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, classes, n).tolist()
    content = {
        "batch_label": "training batch",
        label_key: labels,
        "data": data,
        "filenames": [f"img_{i}.png" for i in range(n)],
    }
    if bytes_keys:  # how Python 2 pickles read back without an encoding
        content = {k.encode(): v for k, v in content.items()}
    return content, data, labels


def test_cifar10_pickle_format(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    train_data, train_labels = [], []
    for i in range(1, 6):
        content, data, labels = cifar_batch(rng, 12, 10, "labels")
        write_pickle(folder / f"data_batch_{i}", content)
        train_data.append(data)
        train_labels += labels
    content, test_data, test_labels = cifar_batch(rng, 7, 10, "labels")
    write_pickle(folder / "test_batch", content)
    write_pickle(
        folder / "batches.meta",
        {"num_cases_per_batch": 12, "label_names": CIFAR10_NAMES, "num_vis": 3072},
    )

    for root in (tmp_path, folder):  # torchvision's root, or the batches folder itself
        data = load_dataset("cifar10", root)
        assert data.classes == CIFAR10_NAMES and data.in_channels == 3 and data.image_size == 32
        assert len(data.train) == 60 and len(data.test) == 7
        expected = np.concatenate(train_data).reshape(-1, 3, 32, 32)
        assert np.array_equal(data.train.images.numpy(), expected)
        assert data.train.labels.tolist() == train_labels
        assert np.array_equal(data.test.images.numpy(), test_data.reshape(-1, 3, 32, 32))
        assert data.test.labels.tolist() == test_labels
        x = expected.astype(np.float64) / 255
        assert data.mean == pytest.approx(x.mean(axis=(0, 2, 3)).tolist(), abs=1e-12)
        assert data.std == pytest.approx(x.std(axis=(0, 2, 3)).tolist(), abs=1e-12)
        assert data.augmentation.pad == 4 and data.augmentation.flip


def test_cifar100_pickle_format(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    content, train_data, _ = cifar_batch(rng, 100, 100, "fine_labels", bytes_keys=True)
    train_labels = rng.permutation(100).tolist()  # every class has training images
    content[b"fine_labels"] = train_labels
    content[b"coarse_labels"] = [y // 5 for y in train_labels]
    write_pickle(folder / "train", content)
    content, test_data, test_labels = cifar_batch(rng, 9, 100, "fine_labels", bytes_keys=True)
    write_pickle(folder / "test", content)
    names = [f"class_{i:03d}" for i in range(100)]
    write_pickle(
        folder / "meta",
        {b"fine_label_names": names, b"coarse_label_names": [f"super_{i}" for i in range(20)]},
    )
    data = load_dataset("cifar100", tmp_path)
    assert data.num_classes == 100 and data.classes == names
    assert np.array_equal(data.train.images.numpy(), train_data.reshape(-1, 3, 32, 32))
    assert data.train.labels.tolist() == train_labels
    assert data.test.labels.tolist() == test_labels


def save_image(path: Path, array: np.ndarray, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def test_cifar_image_folders_inside_a_single_subfolder(tmp_path):
    """train/<class>/*.png and test/<class>/*.png under cifar10-png/: PNG is lossless, so the
    tensors equal the written pixels exactly."""
    rng = np.random.default_rng(2)
    top = tmp_path / "cifar10-png"
    written = {"train": [], "test": []}
    for split, per_class in (("train", 3), ("test", 1)):
        for label, name in enumerate(CIFAR10_NAMES):
            for i in range(per_class):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                save_image(top / split / name / f"{i:04d}.png", pixels)
                written[split].append((pixels.transpose(2, 0, 1), label))
    data = load_dataset("cifar10", tmp_path)
    assert data.classes == CIFAR10_NAMES
    assert len(data.train) == 30 and len(data.test) == 10
    for split in ("train", "test"):
        part = getattr(data, split)
        images = np.stack([p for p, _ in written[split]])
        assert np.array_equal(part.images.numpy(), images)
        assert part.labels.tolist() == [y for _, y in written[split]]


def colour(label: int, index: int) -> tuple[int, int, int]:
    return (40 + 50 * label, 200 - 30 * (index % 5), 90)


def test_tiny_imagenet_layout(tmp_path):
    wnids = ["n01443537", "n01629819", "n01641577"]
    root = tmp_path / "tiny-imagenet-200"
    root.mkdir()
    (root / "wnids.txt").write_text("\n".join(reversed(wnids)) + "\n")
    (root / "words.txt").write_text("".join(f"{w}\tthing {w}\n" for w in wnids))
    for label, wnid in enumerate(wnids):
        boxes = []
        for i in range(4):
            name = f"{wnid}_{i}.JPEG"
            pixels = np.full((64, 64, 3), colour(label, i), dtype=np.uint8)
            save_image(root / "train" / wnid / "images" / name, pixels, quality=95)
            boxes.append(f"{name}\t0\t0\t63\t63\n")
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("".join(boxes))
    # one grayscale training image, as the real set has
    gray = np.full((64, 64), 128, dtype=np.uint8)
    save_image(root / "train" / wnids[0] / "images" / f"{wnids[0]}_9.JPEG", gray)
    notes, val_labels = [], []
    for i in range(6):
        label = (i * 2) % 3
        pixels = np.full((64, 64, 3), colour(label, i), dtype=np.uint8)
        save_image(root / "val" / "images" / f"val_{i}.JPEG", pixels, quality=95)
        notes.append(f"val_{i}.JPEG\t{wnids[label]}\t1\t2\t60\t61\n")
        val_labels.append(label)
    (root / "val" / "val_annotations.txt").write_text("".join(notes))
    (root / "test" / "images").mkdir(parents=True)  # unlabelled; not used

    data = load_dataset("tinyimagenet", tmp_path)
    assert data.classes == wnids and data.image_size == 64 and data.in_channels == 3
    assert len(data.train) == 13 and len(data.test) == 6
    assert data.augmentation.pad == 8 and data.augmentation.flip
    assert data.test.labels.tolist() == val_labels
    means = data.test.images.double().mean(dim=(2, 3))
    for m, i, y in zip(means, range(6), val_labels, strict=True):
        assert m.tolist() == pytest.approx(colour(y, i), abs=3)
    gray_index = data.train.labels.tolist().index(0) + 4  # after the 4 colour images, by name
    assert data.train.images[gray_index].double().mean(dim=(1, 2)).tolist() == pytest.approx(
        [128] * 3, abs=2
    )
    x, y = next(iter(data.loader("train", 8, train=True, device="cpu", seed=0)))
    assert x.shape == (8, 3, 64, 64) and y.shape == (8,)


def write_imagenet(root: Path, rng: np.random.Generator) -> list[str]:
    wnids = ["n01440764", "n01443537"]
    for split, count in (("train", 3), ("val", 2)):
        for label, wnid in enumerate(wnids):
            for i in range(count):
                h, w = 240 + 20 * i, 300 - 10 * label
                pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                pixels[..., label] = 255  # a class colour cast
                save_image(root / split / wnid / f"{wnid}_{i}.JPEG", pixels, quality=90)
    return wnids


def test_imagenet_style_folders_stream_at_224(tmp_path):
    from torchvision.transforms import v2

    wnids = write_imagenet(tmp_path / "imagenet", np.random.default_rng(3))
    data = load_dataset("imagenet", tmp_path)
    assert data.classes == wnids and data.image_size == 224 and data.in_channels == 3
    assert data.streamed and len(data.train) == 6 and len(data.test) == 4
    # statistics: every training image after resize 256 + centre crop 224 (PIL reference)
    pixels = []
    for path in sorted((tmp_path / "imagenet" / "train").rglob("*.JPEG")):
        img = Image.open(path).convert("RGB")
        img = v2.CenterCrop(224)(v2.Resize(256)(img))
        pixels.append(np.asarray(img, dtype=np.float64).reshape(-1, 3) / 255)
    allpix = np.concatenate(pixels)
    assert data.mean == pytest.approx(allpix.mean(axis=0).tolist(), abs=0.01)
    assert data.std == pytest.approx(allpix.std(axis=0).tolist(), abs=0.01)

    data.workers = 0
    x, y = next(iter(data.loader("test", 4, train=False, device="cpu")))
    assert x.shape == (4, 3, 224, 224) and x.dtype == torch.float32
    assert y.tolist() == [0, 0, 1, 1]
    # the colour cast survives: channel `label` is the brightest on average
    raw = x * torch.tensor(data.std)[:, None, None] + torch.tensor(data.mean)[:, None, None]
    assert raw.mean(dim=(2, 3)).argmax(dim=1).tolist() == y.tolist()

    def epoch(seed: int, workers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        data.workers = workers
        return list(data.loader("train", 4, train=True, device="cpu", seed=seed))

    a, b, c = epoch(5, 0), epoch(5, 1), epoch(6, 0)
    assert [len(t[1]) for t in a] == [4, 2]
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):  # independent of the worker count
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(a[0][0], c[0][0])

    held = load_dataset("imagenet", tmp_path, val_images=2, seed=0)
    assert len(held.train) == 4 and sorted(held.val.labels.tolist()) == [0, 1]
    assert set(held.val.files).isdisjoint(held.train.files)
    held.workers = 0
    x, y = next(iter(held.loader("val", 2, train=False, device="cpu")))
    assert x.shape == (2, 3, 224, 224) and y.tolist() == held.val.labels.tolist()


def test_generic_folder_small_images_in_memory_with_val_folder(tmp_path):
    rng = np.random.default_rng(4)
    for split, count in (("train", 5), ("val", 2)):
        for name in ("circle", "square"):
            for i in range(count):
                save_image(
                    tmp_path / split / name / f"{i}.png",
                    rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
                )
    data = load_dataset("folder", tmp_path)
    assert data.classes == ["circle", "square"] and data.image_size == 16
    assert not data.streamed and len(data.train) == 10 and len(data.test) == 4
    assert data.augmentation.pad == 2


def test_generic_folder_large_images_stream(tmp_path):
    write_imagenet(tmp_path, np.random.default_rng(5))
    os.rename(tmp_path / "val", tmp_path / "test")
    data = load_dataset("folder", tmp_path)
    assert data.streamed and data.image_size == 224 and len(data.test) == 4


def test_cache_is_used_and_notices_a_changed_file(tmp_path, monkeypatch):
    import swapbn.data.folder as folder

    monkeypatch.setenv("SWAPBN_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(6)
    for split in ("train", "test"):
        for name in ("a", "b"):
            save_image(
                tmp_path / "d" / split / name / "0.png",
                rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
            )
    first = load_dataset("folder", tmp_path / "d")
    assert len(list((tmp_path / "cache").glob("folder-*.pt"))) == 1

    decoded = []
    original = folder.decode_files
    monkeypatch.setattr(folder, "decode_files", lambda paths: decoded.append(1) or original(paths))
    again = load_dataset("folder", tmp_path / "d")
    assert decoded == [] and torch.equal(again.train.images, first.train.images)

    changed = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    path = tmp_path / "d" / "train" / "b" / "0.png"
    save_image(path, changed)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = load_dataset("folder", tmp_path / "d")
    assert decoded  # decoded again
    assert np.array_equal(third.train.images[1].numpy(), changed.transpose(2, 0, 1))


def test_cache_file_gets_the_mode_of_every_other_output(tmp_path, monkeypatch):
    monkeypatch.setenv("SWAPBN_CACHE", str(tmp_path / "cache"))
    cache.save("toy", "key", {"x": torch.arange(3)})
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(cache.cache_path("toy", "key").stat().st_mode) == 0o666 & ~umask
    assert torch.equal(cache.load("toy", "key")["x"], torch.arange(3))
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["toy-key.pt"]  # no temporary
