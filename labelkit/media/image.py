"""The one image reader used by every layer of labelkit.

``read_image(path)`` returns an ``HxWx3`` ``uint8`` RGB array with EXIF
orientation applied, whatever the file holds: grayscale, palette, RGBA (composited
on white), CMYK, 16-bit, ... ``probe_image(path)`` checks a file without keeping
its pixels and returns its displayed (post-EXIF) size. Both raise
:class:`labelkit.errors.ImageReadError` with a plain reason on bad input.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageReadError

#: Extensions labelkit imports from a folder (lower case, with the dot).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")

#: Images with more pixels than this are refused as possible decompression bombs
#: (``Image.MAX_IMAGE_PIXELS`` of Pillow is 89.5 MP; we allow large microscopy and
#: satellite tiles up to 250 MP, e.g. 16000x15000).
MAX_PIXELS = 250_000_000


def _check_file(path: Path) -> int:
    if path.is_symlink() and not path.exists():
        raise ImageReadError(path, f"broken symbolic link (points to '{os.readlink(path)}')")
    if not path.exists():
        raise ImageReadError(path, "file does not exist")
    if path.is_dir():
        raise ImageReadError(path, "is a folder, not an image file")
    size = path.stat().st_size
    if size == 0:
        raise ImageReadError(path, "file is empty (0 bytes)")
    return size


def _open(path: Path) -> Image.Image:
    size = _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except UnidentifiedImageError:
        with open(path, "rb") as fh:
            head = fh.read(64)
        if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
            raise ImageReadError(path, "is a text file, not an image") from None
        raise ImageReadError(
            path, f"not a readable image format (first bytes {head[:8]!r}); "
            "convert it to JPEG or PNG"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(path, f"too large to decode safely ({exc})") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot be opened ({exc})") from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        img.close()
        raise ImageReadError(
            path,
            f"{w}x{h} = {w * h / 1e6:.0f} MP is larger than labelkit's limit of "
            f"{MAX_PIXELS / 1e6:.0f} MP (a possible decompression bomb); tile it first",
        )
    img.info["_labelkit_size"] = size
    return img


def _load(img: Image.Image, path: Path) -> None:
    try:
        img.load()
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg or "broken data stream" in msg or "image file is" in msg:
            total = img.info.get("_labelkit_size")
            raise ImageReadError(
                path, f"is truncated or corrupt ({msg}; file has {total:,} bytes)"
            ) from None
        raise ImageReadError(path, f"cannot be decoded ({msg})") from None
    except (SyntaxError, ValueError) as exc:  # some plugins raise these on bad data
        raise ImageReadError(path, f"cannot be decoded ({exc})") from None


def _exif_size(img: Image.Image) -> tuple[int, int]:
    w, h = img.size
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - broken EXIF must not break reading
        orientation = 1
    if orientation in (5, 6, 7, 8):
        return h, w
    return w, h


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image of any mode to an ``HxWx3`` uint8 RGB array.

    16-bit and float images are scaled by their actual value range (so a 12-bit
    microscopy image stored in 16 bits is not black); alpha is composited on white.
    """
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F") or mode.startswith("I;"):
        arr = np.asarray(img).astype(np.float64)
        lo, hi = float(np.min(arr)), float(np.max(arr))
        if hi <= lo:
            gray = np.zeros(arr.shape, np.uint8)
        else:
            gray = np.clip((arr - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    if mode != "RGB":
        img = img.convert("RGB")  # L, 1, P, CMYK (Pillow inverts Adobe CMYK), YCbCr, LAB...
    return np.asarray(img)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as an ``HxWx3`` uint8 RGB array, EXIF orientation applied.

    Args:
        path: an image file (JPEG, PNG, TIFF, BMP, WebP, GIF: first frame).

    Returns:
        ``np.ndarray`` of shape ``(H, W, 3)``, dtype ``uint8``, values 0-255, where
        ``H, W`` are the size as displayed (after EXIF rotation).

    Raises:
        ImageReadError: missing, empty, truncated, not an image, or too large.
    """
    path = Path(path)
    img = _open(path)
    try:
        _load(img, path)
        img = ImageOps.exif_transpose(img)
        arr = to_rgb_array(img)
    finally:
        img.close()
    return np.ascontiguousarray(arr)


def probe_image(path: str | os.PathLike, verify: bool = True) -> dict:
    """Check that ``path`` is a decodable image and return its metadata.

    Args:
        path: the file.
        verify: fully decode the pixels (catches truncated files; costs one decode).

    Returns:
        dict with ``width``, ``height`` (displayed, after EXIF), ``num_channels`` (3,
        what :func:`read_image` returns), ``mime_type``, ``size_bytes``, ``mode``.

    Raises:
        ImageReadError: as :func:`read_image`.
    """
    path = Path(path)
    img = _open(path)
    try:
        fmt = img.format
        mode = img.mode
        if verify:
            _load(img, path)
        w, h = _exif_size(img)
        size = img.info["_labelkit_size"]
    finally:
        img.close()
    mime = Image.MIME.get(fmt or "", "application/octet-stream")
    return {
        "width": w,
        "height": h,
        "num_channels": 3,
        "mime_type": mime,
        "size_bytes": size,
        "mode": mode,
    }
