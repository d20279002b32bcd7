"""read_image: every mode and orientation gives the displayed HxWx3 uint8 RGB image."""

from __future__ import annotations

import numpy as np
import pytest
from badfiles import good_rgb, png_bomb, truncated
from PIL import Image

from labelkit.errors import ImageReadError
from labelkit.media.image import probe_image, read_image


def test_rgb_jpeg_round_trip_is_close(tmp_path, rng):
    arr = np.full((40, 60, 3), (200, 30, 90), np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.jpg", quality=95)
    out = read_image(tmp_path / "a.jpg")
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - arr).max() <= 3


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    from skimage import data

    coins = data.coins()
    Image.fromarray(coins).save(tmp_path / "coins.png")
    out = read_image(tmp_path / "coins.png")
    assert out.shape == coins.shape + (3,)
    assert np.array_equal(out[..., 0], coins) and np.array_equal(out[..., 2], coins)


def test_palette_image_is_decoded_to_its_colours(tmp_path):
    img = Image.new("P", (10, 8))
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 5, 8))
    img.save(tmp_path / "p.png")
    out = read_image(tmp_path / "p.png")
    assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[0, 9]) == (0, 0, 0)


def test_rgba_is_composited_on_white(tmp_path):
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 255
    arr[:, :2, 3] = 255  # left half opaque red, right half transparent
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 3]) == (255, 255, 255)


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    rgb = Image.new("RGB", (16, 16), (0, 0, 255))
    rgb.convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    out = read_image(tmp_path / "c.jpg")
    assert out.shape == (16, 16, 3)
    r, g, b = out[8, 8].astype(int)
    assert b > 200 and r < 60 and g < 60


def test_16bit_image_is_scaled_by_its_range(tmp_path):
    arr = np.zeros((10, 10), np.uint16)
    arr[:, 5:] = 4095  # a 12-bit camera image stored in 16 bits
    Image.fromarray(arr).save(tmp_path / "d.png")
    out = read_image(tmp_path / "d.png")
    assert out[0, 0, 0] == 0 and out[0, 9, 0] == 255


def test_16bit_tiff_from_microscopy_reads(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    arr = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 7) % 60000
    tifffile.imwrite(tmp_path / "m.tif", arr)
    out = read_image(tmp_path / "m.tif")
    assert out.shape == (48, 64, 3) and out.max() == 255 and out.min() == 0


@pytest.mark.parametrize("orientation,expected_shape", [(1, (20, 30)), (3, (20, 30)), (6, (30, 20)), (8, (30, 20))])
def test_exif_orientation_is_applied(tmp_path, orientation, expected_shape):
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[:5, :5] = 255  # white block in the stored top-left corner
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(tmp_path / "o.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "o.jpg")
    assert out.shape[:2] == expected_shape
    info = probe_image(tmp_path / "o.jpg")
    assert (info["height"], info["width"]) == expected_shape
    corner = {1: out[:5, :5], 3: out[-5:, -5:], 6: out[:5, -5:], 8: out[-5:, :5]}[orientation]
    assert corner.mean() > 200


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda p, r: p.write_bytes(b"") or p, "empty"),
        (lambda p, r: truncated(p, good_rgb(r, 100, 100), "JPEG", 0.3), "truncated"),
        (lambda p, r: truncated(p, good_rgb(r, 100, 100), "PNG", 0.5), "truncated"),
        (lambda p, r: p.write_text("hello world, not an image") or p, "text file"),
        (lambda p, r: png_bomb(p), "too large"),
        (lambda p, r: p, "does not exist"),
    ],
    ids=["empty", "truncated-jpeg", "truncated-png", "text", "bomb", "missing"],
)
def test_bad_files_raise_image_read_error_naming_file_and_reason(tmp_path, rng, make, reason):
    path = tmp_path / "bad.png"
    make(path, rng)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert reason in info.value.reason
    assert "bad.png" in str(info.value)
    assert isinstance(info.value, ValueError)
