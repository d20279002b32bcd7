"""Builders for every kind of bad (and tricky) image file the importer must handle."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def good_rgb(rng, h=48, w=64) -> np.ndarray:
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def png_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A tiny PNG file whose header claims ``width x height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = zlib.compress(b"\x00" * 1024)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


def truncated(path: Path, array: np.ndarray, fmt: str, keep: float = 0.5) -> Path:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    data = buf.getvalue()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_bad_folder(folder: Path, rng) -> dict[str, str]:
    """Write good and bad files into ``folder``; return {file name: expected reason fragment}.

    Good files map to "" (must be imported).
    """
    folder.mkdir(parents=True, exist_ok=True)
    expect: dict[str, str] = {}
    img = good_rgb(rng, 120, 160)
    Image.fromarray(img).save(folder / "good.jpg", quality=90)
    expect["good.jpg"] = ""
    Image.fromarray(img).save(folder / "good.png")
    expect["good.png"] = ""
    (folder / "empty.jpg").write_bytes(b"")
    expect["empty.jpg"] = "empty"
    truncated(folder / "truncated.jpg", img, "JPEG", 0.4)
    expect["truncated.jpg"] = "truncated"
    truncated(folder / "truncated.png", img, "PNG", 0.5)
    expect["truncated.png"] = "truncated"
    (folder / "notes.jpg").write_text("this is not a picture, it is a text file\n")
    expect["notes.jpg"] = "text file"
    (folder / "readme.txt").write_text("hello\n")
    expect["readme.txt"] = "unsupported file type"
    (folder / "scan.xyz").write_bytes(b"\x00\x01\x02binary")
    expect["scan.xyz"] = "unsupported file type"
    os.symlink(folder / "does-not-exist.jpg", folder / "broken-link.jpg")
    expect["broken-link.jpg"] = "broken symbolic link"
    png_bomb(folder / "bomb.png")
    expect["bomb.png"] = "too large"
    return expect
