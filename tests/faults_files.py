"""Files made to attack swapbn: images whose header declares far more pixels than their few
bytes hold (decompression bombs), written without ever holding the image in memory."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

BOMB_SIDE = 30000  # 900 megapixels: 2.7 GB once decoded to RGB


def png_bomb(path: Path, side: int = BOMB_SIDE) -> Path:
    """A 1-bit greyscale PNG of side x side black pixels: about 110 kB on disk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    row = b"\0" * (1 + (side + 7) // 8)  # filter byte, then 8 pixels a byte
    packer = zlib.compressobj(9)
    idat = b"".join([packer.compress(row) for _ in range(side)] + [packer.flush()])
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def jpeg_bomb(path: Path, side: int = BOMB_SIDE) -> Path:
    """A 16x16 JPEG whose frame header says side x side: under 1 kB on disk."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    i = 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):  # walk the markers to the start of frame
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    data[i + 5:i + 9] = struct.pack(">HH", side, side)
    path.write_bytes(bytes(data))
    return path


def bmp_bomb(path: Path, side: int = BOMB_SIDE) -> Path:
    """An 8x8 1-bit BMP whose header says side x side: under 100 bytes on disk."""
    buffer = io.BytesIO()
    Image.new("1", (8, 8)).save(buffer, "BMP")
    data = bytearray(buffer.getvalue())
    data[18:26] = struct.pack("<ii", side, side)  # BITMAPINFOHEADER width, height
    path.write_bytes(bytes(data))
    return path


def animated_gif(path: Path, frames: int, side: int = 8) -> Path:
    """A GIF of `frames` alternating black and white frames (decoders return all of them)."""
    images = [Image.new("L", (side, side), 255 * (i % 2)) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=10, loop=0)
    return path
