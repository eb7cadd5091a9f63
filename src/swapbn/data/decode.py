"""Listing image-folder trees and decoding image files into uint8 tensors.

Paths are plain strings here: data sets hold tens of thousands of files, and pathlib objects
for each would cost more than the directory listing itself. A name that is not UTF-8 is the
str `os.fsdecode` makes of it (undecodable bytes as surrogates), opened as any other and shown
in errors by `shown_path` (docs/faults.md, "Names and long values").

Every image's size is read from its header before it is decoded (`header_size`): a small file
can declare a huge image (a decompression bomb: a 109 kB PNG of 30000x30000 pixels decodes to
2.7 GB), so an image above `max_pixels()` (64 megapixels unless SWAPBN_MAX_PIXELS says
otherwise) is refused in one line naming it, and a small-image set refuses an image of another
size before decoding anything (docs/faults.md).
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import UsageError, quoted, shown_path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
JPEG_EXTENSIONS = (".jpg", ".jpeg")
CHUNK = 1024  # files decoded per batched call
MAX_PIXELS = 64_000_000  # per image: a 8000x8000 photograph fits, a decompression bomb does not
MAX_PIXELS_ENV = "SWAPBN_MAX_PIXELS"  # raises (or lowers) the limit, in pixels


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
            data = fh.read()
    except OSError as exc:
        raise UsageError(f"cannot read image {shown_path(path)}: {exc.strerror or exc}") from None
    if not data:  # torch.frombuffer refuses an empty buffer without naming the file
        raise UsageError(f"cannot read image {shown_path(path)}: an empty file (0 bytes)")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def max_pixels() -> int:
    """The most pixels one image may have: SWAPBN_MAX_PIXELS, else MAX_PIXELS."""
    text = os.environ.get(MAX_PIXELS_ENV)
    if text is None or not text.strip():
        return MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"{MAX_PIXELS_ENV}={quoted(text, 40)}: a positive number of pixels expected")
    return value


def pil_image():
    """PIL's Image module, its own decompression-bomb limit raised to ours when ours is higher
    (the user asked for larger images; ours is checked first)."""
    from PIL import Image

    limit = max_pixels()
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < limit:
        Image.MAX_IMAGE_PIXELS = limit
    return Image


def too_large(path: str, pixels: int, shape: str = "") -> UsageError:
    return UsageError(
        f"image {shown_path(path)} has {shape}{pixels / 1e6:.0f} megapixels, more than the "
        f"{max_pixels() / 1e6:g} allowed for one image (a decompression bomb guard; "
        f"{MAX_PIXELS_ENV}=PIXELS raises it)")


def header_size(path: str, data: torch.Tensor | None = None) -> tuple[int, int] | None:
    """(height, width) of an image from its header alone (`data`: the file's bytes, when read
    already); UsageError when it has more pixels than `max_pixels()`, counting every frame of
    an animation (torchvision decodes them all). None when PIL does not know the format: the
    decoders then say whether it is an image."""
    Image = pil_image()
    source = io.BytesIO(data.numpy()) if data is not None else path
    try:
        with warnings.catch_warnings():  # PIL's own bomb warning: the check below says it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                width, height = img.size
                frames = int(getattr(img, "n_frames", 1))  # read from headers, not decoded
    except Image.DecompressionBombError as exc:  # beyond twice PIL's limit: no size given
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise too_large(path, int(found.group(1)) if found else 2 * (Image.MAX_IMAGE_PIXELS or 0)) \
            from None
    except (OSError, ValueError, SyntaxError):  # not a format PIL knows, or a broken header
        return None
    if width * height * frames > max_pixels():
        shape = f"{width}x{height} pixels, " if frames == 1 else \
            f"{frames} frames of {width}x{height} pixels, "
        raise too_large(path, width * height * frames, shape)
    return height, width


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
    """One image file -> (C, H, W) uint8; torchvision's decoders, PIL for other formats. The
    size is checked from the header first (`header_size`)."""
    data = read_bytes(path)
    header_size(path, data)
    return decode_data(path, data, channels)


def decode_data(path: str, data: torch.Tensor, channels: int) -> torch.Tensor:
    """The bytes of `path`, whose header was checked, -> (C, H, W) uint8."""
    try:
        return torchvision_decode(data, channels, jpeg=False)
    except RuntimeError:
        return decode_with_pil(path, channels)


def decode_with_pil(path: str, channels: int) -> torch.Tensor:
    from PIL import UnidentifiedImageError

    Image = pil_image()
    try:
        with open(path, "rb") as fh, Image.open(io.BytesIO(fh.read())) as img:
            arr = np.asarray(img.convert("RGB" if channels == 3 else "L"))
    except UnidentifiedImageError:  # its message names the in-memory copy, not the file
        raise UsageError(f"cannot read image {shown_path(path)}: not an image file (no "
                         "format PIL knows)") from None
    except (OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = re.sub(r" ?<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", reason)
        raise UsageError(f"cannot read image {shown_path(path)}: {reason}") from None
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def image_size(path: str) -> tuple[int, int]:
    """(height, width) of one image file, from its header; UsageError for a file that is not
    an image PIL reads or one above the pixel limit."""
    size = header_size(path)
    if size is None:
        decode_with_pil(path, 3)  # says why in one line
        raise UsageError(f"cannot read image {shown_path(path)}: not an image PIL can read")
    return size


def decode_chunk(paths: Sequence[str], channels: int,
                 like: tuple[str, tuple[int, int]] | None = None) -> list[torch.Tensor]:
    """Decode several files; JPEG files in one batched call, file by file on any failure so
    that the error names the file. Every header is read first: an image above the pixel
    limit, or one of another size than `like` (a file and its (height, width)), is refused
    before any is decoded."""
    data = [read_bytes(p) for p in paths]
    for path, content in zip(paths, data, strict=True):
        found = header_size(path, content)
        if like is not None and found is not None and found != like[1]:
            raise different_size(path, found, *like)
    if all(p.lower().endswith(JPEG_EXTENSIONS) for p in paths):
        try:
            return list(torchvision_decode(data, channels, jpeg=True))
        except RuntimeError:
            pass
    return [decode_data(p, content, channels) for p, content in zip(paths, data, strict=True)]


def different_size(path: str, size: tuple[int, ...], first: str,
                   first_size: tuple[int, ...]) -> UsageError:
    """Sizes are (height, width)."""
    return UsageError(f"image {shown_path(path)} is {size[1]}x{size[0]}, but "
                      f"{shown_path(first)} is {first_size[1]}x{first_size[0]}; a small-image "
                      "set needs one size")


def decode_files(paths: Sequence[str], channels: int = 3) -> torch.Tensor:
    """All files -> (N, C, H, W) uint8; every image must have the size of the first."""
    if not paths:
        return torch.zeros(0, channels, 0, 0, dtype=torch.uint8)
    out: torch.Tensor | None = None
    size = header_size(paths[0])
    like = (paths[0], size) if size is not None else None
    for start in range(0, len(paths), CHUNK):
        images = decode_chunk(paths[start : start + CHUNK], channels, like)
        if out is None:
            out = torch.empty((len(paths), *images[0].shape), dtype=torch.uint8)
        for i, img in enumerate(images):
            if img.shape != out.shape[1:]:
                raise different_size(paths[start + i], tuple(img.shape[1:]), paths[0],
                                     tuple(out.shape[2:]))
        torch.stack(images, out=out[start : start + len(images)])
    assert out is not None
    return out
