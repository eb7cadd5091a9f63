"""Bad input gives one clear line (UsageError) that names the problem."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from swapbn.data import load_dataset
from swapbn.errors import UsageError


def one_line(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


def test_unknown_data_set_lists_the_choices():
    with pytest.raises(UsageError) as e:
        load_dataset("mnist")
    msg = one_line(e)
    assert "'mnist'" in msg
    for name in ("digits", "cifar10", "cifar100", "tinyimagenet", "imagenet", "folder"):
        assert name in msg


def test_missing_root(tmp_path):
    with pytest.raises(UsageError) as e:
        load_dataset("cifar10", tmp_path / "nowhere")
    assert one_line(e) == f"data root {tmp_path / 'nowhere'} does not exist"


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "tinyimagenet", "imagenet", "folder"])
def test_data_set_needing_a_root_given_none(name):
    with pytest.raises(UsageError) as e:
        load_dataset(name)
    assert f"data set {name} needs a data root" in one_line(e)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cifar10", "expected torchvision's cifar-10-batches-py/"),
        ("cifar100", "expected torchvision's cifar-100-python/"),
        ("tinyimagenet", "expected wnids.txt, train/<wnid>/images/*.JPEG"),
        ("imagenet", "expected train/<wnid>/*.JPEG and val/<wnid>/*.JPEG"),
        ("folder", "expected train/<class>/<images> and test/<class>/<images>"),
    ],
)
def test_wrong_layout_says_which_layout_was_expected(tmp_path, name, expected):
    (tmp_path / "photos").mkdir()
    (tmp_path / "notes.txt").write_text("not a data set")
    with pytest.raises(UsageError) as e:
        load_dataset(name, tmp_path)
    msg = one_line(e)
    assert str(tmp_path) in msg and expected in msg


def write_folder(root, classes=("a", "b"), size=8):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in classes:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(2):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")


def unreadable_png(root):
    write_folder(root)
    bad = root / "train" / "b" / "1.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return f"cannot read image {bad}: ..."


def unreadable_jpeg(root):
    write_folder(root)
    bad = root / "test" / "a" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return f"cannot read image {bad}: ..."


def images_of_different_sizes(root):
    write_folder(root)
    odd = root / "train" / "b" / "2.png"
    Image.fromarray(np.zeros((9, 9, 3), dtype=np.uint8)).save(odd)
    return f"image {odd} is 9x9, but {root / 'train' / 'a' / '0.png'} is 8x8; a small-image ..."


def cifar10_folders_of_three_classes(root):
    write_folder(root, classes=("cat", "dog", "frog"), size=32)
    return f"{root / 'train'} has 3 class folders; cifar10 has 10"


def class_folder_missing_in_test_split(root):
    write_folder(root)
    for f in (root / "test" / "b").iterdir():
        f.unlink()
    (root / "test" / "b").rmdir()
    return f"missing class folder {root / 'test' / 'b'}"


def cifar_pickles_missing(root):
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, fh)
    return f"missing CIFAR file {folder / 'data_batch_1'}"


def cifar_pickles_corrupt(root):
    cifar_pickles_missing(root)
    folder = root / "cifar-10-batches-py"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(b"garbage")
    return f"cannot read CIFAR file {folder / 'data_batch_1'}: ..."


def tiny_imagenet_without_annotations(root):
    (root / "wnids.txt").write_text("n01\n")
    (root / "train" / "n01" / "images").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(root / "train" / "n01" / "images" / "n01_0.JPEG")
    (root / "val" / "images").mkdir(parents=True)
    return f"missing {root / 'val' / 'val_annotations.txt'}; Tiny ImageNet layout: ..."


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("folder", unreadable_png),
        ("folder", unreadable_jpeg),
        ("folder", images_of_different_sizes),
        ("cifar10", cifar10_folders_of_three_classes),
        ("folder", class_folder_missing_in_test_split),
        ("cifar10", cifar_pickles_missing),
        ("cifar10", cifar_pickles_corrupt),
        ("tinyimagenet", tiny_imagenet_without_annotations),
    ],
)
def test_broken_files_are_named(tmp_path, name, write):
    """`write` lays out a broken data set and returns the message (ending in "..." when only
    its start is fixed)."""
    expected = write(tmp_path)
    with pytest.raises(UsageError) as e:
        load_dataset(name, tmp_path)
    msg = one_line(e)
    assert msg.startswith(expected[:-3]) if expected.endswith("...") else msg == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"train_subset": 0}, "train_subset must be between 1 and 1436"),
        ({"train_subset": 5000}, "train_subset must be between 1 and 1436"),
        ({"val_images": 1437}, "val_images must be between 1 and 1436"),
    ],
)
def test_bad_subset_sizes(kwargs, expected):
    with pytest.raises(UsageError) as e:
        load_dataset("digits", **kwargs)
    assert one_line(e).startswith(expected)


@pytest.mark.parametrize(
    ("split", "batch_size", "expected"),
    [
        ("valid", 32, "unknown split 'valid'; choose train, test or val"),
        ("val", 32, "data set digits has no val split (set val_images > 0)"),
        ("train", 0, "batch size must be at least 1, got 0"),
    ],
)
def test_bad_loader_arguments(split, batch_size, expected):
    data = load_dataset("digits")
    with pytest.raises(UsageError) as e:
        data.loader(split, batch_size, train=split == "train", device="cpu")
    assert one_line(e) == expected


def test_download_of_a_folder_data_set_is_refused(tmp_path):
    with pytest.raises(UsageError) as e:
        load_dataset("tinyimagenet", tmp_path, download=True)
    assert "cannot be downloaded" in one_line(e)


@pytest.mark.parametrize("workers", [0, 1])
def test_unreadable_image_while_streaming_is_named(tmp_path, workers):
    """Images over 64 px stream from disk: a broken file shows up when its batch is read."""
    write_folder(tmp_path, size=80)
    bad = tmp_path / "test" / "b" / "1.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    data = load_dataset("folder", tmp_path)
    assert data.streamed
    data.workers = workers
    with pytest.raises(UsageError) as e:
        list(data.loader("test", 4, train=False, device="cpu"))
    assert one_line(e).startswith(f"cannot read image {bad}")
