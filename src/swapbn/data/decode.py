"""Listing image-folder trees and decoding image files into uint8 tensors.

Paths are plain strings here: data sets hold tens of thousands of files, and pathlib objects
for each would cost more than the directory listing itself.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import UsageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
JPEG_EXTENSIONS = (".jpg", ".jpeg")
CHUNK = 1024  # files decoded per batched call


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def list_images(folder: str) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of the image files directly in `folder`, sorted by name."""
    out = []
    with os.scandir(folder) as it:
        for entry in it:
            if is_image(entry.name) and entry.is_file():
                st = entry.stat()
                out.append((entry.path, st.st_size, st.st_mtime_ns))
    out.sort()
    return out


def class_folders(folder: str) -> list[str]:
    """Names of the subfolders of `folder` (one per class), sorted."""
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))


def read_bytes(path: str) -> torch.Tensor:
    try:
        with open(path, "rb") as fh:
            return torch.frombuffer(bytearray(fh.read()), dtype=torch.uint8)
    except OSError as exc:
        raise UsageError(f"cannot read image {path}: {exc.strerror or exc}") from None


def torchvision_decode(data: list[torch.Tensor] | torch.Tensor, channels: int, jpeg: bool):
    """torchvision's native decoders (several times faster than PIL on small JPEGs); they
    warn of a future move to torchcodec, and PIL takes over once they are gone."""
    try:
        from torchvision.io import ImageReadMode, decode_image, decode_jpeg
    except ImportError as exc:
        raise RuntimeError("torchvision.io decoders unavailable") from exc
    mode = ImageReadMode.RGB if channels == 3 else ImageReadMode.GRAY
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_jpeg(data, mode=mode) if jpeg else decode_image(data, mode=mode)


def decode_file(path: str, channels: int = 3) -> torch.Tensor:
    """One image file -> (C, H, W) uint8; torchvision's decoders, PIL for other formats."""
    data = read_bytes(path)
    try:
        return torchvision_decode(data, channels, jpeg=False)
    except RuntimeError:
        return decode_with_pil(path, channels)


def decode_with_pil(path: str, channels: int) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with open(path, "rb") as fh, Image.open(io.BytesIO(fh.read())) as img:
            arr = np.asarray(img.convert("RGB" if channels == 3 else "L"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"cannot read image {path}: {reason}") from None
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def image_size(path: str) -> tuple[int, int]:
    """(height, width) of one image file, from its header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            width, height = img.size
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"cannot read image {path}: {reason}") from None
    return height, width


def decode_chunk(paths: Sequence[str], channels: int) -> list[torch.Tensor]:
    """Decode several files; JPEG files in one batched call, file by file on any failure so
    that the error names the file."""
    if all(p.lower().endswith(JPEG_EXTENSIONS) for p in paths):
        try:
            return list(torchvision_decode([read_bytes(p) for p in paths], channels, jpeg=True))
        except RuntimeError:
            pass
    return [decode_file(p, channels) for p in paths]


def decode_files(paths: Sequence[str], channels: int = 3) -> torch.Tensor:
    """All files -> (N, C, H, W) uint8; every image must have the size of the first."""
    if not paths:
        return torch.zeros(0, channels, 0, 0, dtype=torch.uint8)
    out: torch.Tensor | None = None
    for start in range(0, len(paths), CHUNK):
        images = decode_chunk(paths[start : start + CHUNK], channels)
        if out is None:
            out = torch.empty((len(paths), *images[0].shape), dtype=torch.uint8)
        for i, img in enumerate(images):
            if img.shape != out.shape[1:]:
                raise UsageError(
                    f"image {paths[start + i]} is {img.shape[2]}x{img.shape[1]}, but "
                    f"{paths[0]} is {out.shape[3]}x{out.shape[2]}; a small-image set needs "
                    "one size"
                )
        torch.stack(images, out=out[start : start + len(images)])
    assert out is not None
    return out
