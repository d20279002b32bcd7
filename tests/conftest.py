"""Test setup shared by every test.

FiftyOne is isolated before anything imports it: a fresh temporary database
directory per test run (its own embedded MongoDB), no usage tracking, and no
touching of the user's ``~/.fiftyone`` datasets.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid

_DB_DIR = tempfile.mkdtemp(prefix="labelkit-test-db-")
os.environ["FIFTYONE_DATABASE_DIR"] = _DB_DIR
os.environ.pop("FIFTYONE_DATABASE_URI", None)
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
os.environ.setdefault("LABELKIT_ANNOTATOR", "pytest")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Removed at exit; FiftyOne registers its own exit handler (stopping mongod) later,
# so it runs first (atexit is last-in, first-out).
atexit.register(shutil.rmtree, _DB_DIR, True)


@pytest.fixture
def fo():
    """The fiftyone module, imported against the isolated test database."""
    import fiftyone

    return fiftyone


@pytest.fixture
def dataset_name():
    """A unique dataset name; the dataset is deleted after the test."""
    name = f"lk-test-{uuid.uuid4().hex[:10]}"
    yield name
    import fiftyone as fo

    if fo.dataset_exists(name):
        fo.delete_dataset(name)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def write_image(path, array, **save_kwargs):
    """Save an array as an image file with Pillow and return the path."""
    from PIL import Image

    Image.fromarray(np.asarray(array)).save(path, **save_kwargs)
    return path


@pytest.fixture
def coins_dir(tmp_path):
    """A folder with three real photographs from scikit-image (coins, astronaut, coffee)."""
    from skimage import data

    d = tmp_path / "imgs"
    d.mkdir()
    write_image(d / "coins.png", data.coins())
    write_image(d / "astronaut.jpg", data.astronaut(), quality=90)
    write_image(d / "coffee.jpg", data.coffee(), quality=90)
    return d
