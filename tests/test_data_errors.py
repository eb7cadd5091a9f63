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


def test_unreadable_image_is_named(tmp_path):
    write_folder(tmp_path)
    bad = tmp_path / "train" / "b" / "1.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    with pytest.raises(UsageError) as e:
        load_dataset("folder", tmp_path)
    assert one_line(e).startswith(f"cannot read image {bad}")


def test_unreadable_jpeg_is_named(tmp_path):
    write_folder(tmp_path)
    bad = tmp_path / "test" / "a" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(UsageError) as e:
        load_dataset("folder", tmp_path)
    assert one_line(e).startswith(f"cannot read image {bad}")


def test_images_of_different_sizes_in_a_small_set(tmp_path):
    write_folder(tmp_path)
    odd = tmp_path / "train" / "b" / "2.png"
    Image.fromarray(np.zeros((9, 9, 3), dtype=np.uint8)).save(odd)
    with pytest.raises(UsageError) as e:
        load_dataset("folder", tmp_path)
    assert f"image {odd} is 9x9" in one_line(e)


def test_cifar10_folder_with_wrong_class_count(tmp_path):
    write_folder(tmp_path, classes=("cat", "dog", "frog"), size=32)
    with pytest.raises(UsageError) as e:
        load_dataset("cifar10", tmp_path)
    assert one_line(e) == f"{tmp_path / 'train'} has 3 class folders; cifar10 has 10"


def test_missing_class_folder_in_test_split(tmp_path):
    write_folder(tmp_path)
    for f in (tmp_path / "test" / "b").iterdir():
        f.unlink()
    (tmp_path / "test" / "b").rmdir()
    with pytest.raises(UsageError) as e:
        load_dataset("folder", tmp_path)
    assert one_line(e) == f"missing class folder {tmp_path / 'test' / 'b'}"


def test_missing_or_corrupt_cifar_pickle_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, fh)
    with pytest.raises(UsageError) as e:
        load_dataset("cifar10", tmp_path)
    assert one_line(e) == f"missing CIFAR file {folder / 'data_batch_1'}"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(b"garbage")
    with pytest.raises(UsageError) as e:
        load_dataset("cifar10", tmp_path)
    assert one_line(e).startswith(f"cannot read CIFAR file {folder / 'data_batch_1'}")


def test_tiny_imagenet_without_annotations(tmp_path):
    (tmp_path / "wnids.txt").write_text("n01\n")
    (tmp_path / "train" / "n01" / "images").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(tmp_path / "train" / "n01" / "images" / "n01_0.JPEG")
    (tmp_path / "val" / "images").mkdir(parents=True)
    with pytest.raises(UsageError) as e:
        load_dataset("tinyimagenet", tmp_path)
    assert one_line(e).startswith(f"missing {tmp_path / 'val' / 'val_annotations.txt'}")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"train_subset": 0}, "train_subset must be between 1 and 1436"),
        ({"train_subset": 5000}, "train_subset must be between 1 and 1436"),
        ({"val_split": 1437}, "val_split must be between 1 and 1436"),
    ],
)
def test_bad_subset_sizes(kwargs, expected):
    with pytest.raises(UsageError) as e:
        load_dataset("digits", **kwargs)
    assert one_line(e).startswith(expected)


def test_bad_loader_arguments():
    data = load_dataset("digits")
    with pytest.raises(UsageError) as e:
        data.loader("valid", 32, train=False, device="cpu")
    assert one_line(e) == "unknown split 'valid'; choose train, test or val"
    with pytest.raises(UsageError) as e:
        data.loader("val", 32, train=False, device="cpu")
    assert one_line(e) == "data set digits has no val split (set val_split > 0)"
    with pytest.raises(UsageError) as e:
        data.loader("train", 0, train=True, device="cpu")
    assert one_line(e) == "batch size must be at least 1, got 0"


def test_download_of_a_folder_data_set_is_refused(tmp_path):
    with pytest.raises(UsageError) as e:
        load_dataset("tinyimagenet", tmp_path, download=True)
    assert "cannot be downloaded" in one_line(e)


def test_unreadable_image_while_streaming_is_named(tmp_path):
    """Images over 64 px stream from disk: a broken file shows up when its batch is read."""
    write_folder(tmp_path, size=80)
    bad = tmp_path / "test" / "b" / "1.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    data = load_dataset("folder", tmp_path)
    assert data.streamed
    for workers in (0, 1):
        data.workers = workers
        with pytest.raises(UsageError) as e:
            list(data.loader("test", 4, train=False, device="cpu"))
        assert one_line(e).startswith(f"cannot read image {bad}")
