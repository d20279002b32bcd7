"""Test setup shared by every test.

FiftyOne is isolated before anything imports it: a private MongoDB in a fresh
temporary folder per test run (see ``labelkit.testing``), no usage tracking, and
no touching of the user's ``~/.fiftyone`` datasets, even while FiftyOne runs.
"""

from __future__ import annotations

import os
import uuid

# A mongod of our own (not FiftyOne's shared service, which would attach to a
# user's running FiftyOne database), reached through FIFTYONE_DATABASE_URI;
# child processes (CLI, notebook kernels, JupyterLab) inherit it.
from labelkit.testing import use_private_database

use_private_database(prefix="labelkit-test-db-")
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
os.environ.setdefault("LABELKIT_ANNOTATOR", "pytest")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


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


class _Servers(list):
    """Standalone ``mongod`` servers of one test: ``[0]`` is the first; :meth:`restart`
    appends a restart on the same port and data folder."""

    def restart(self):
        """Start the server again on the same port and data folder (after it was stopped)."""
        from labelkit.testing import start_mongod

        old = self[-1]
        self.append(start_mongod(auth=False, data_dir=old.data_dir, port=old.port))
        return self[-1]


@pytest.fixture
def servers(tmp_path):
    """``[server]``: a standalone ``mongod`` (no auth) in ``tmp_path/db``; restarts
    (``servers.restart()``) are appended; all are stopped at the end."""
    from labelkit.testing import start_mongod

    started = _Servers([start_mongod(auth=False, data_dir=tmp_path / "db")])
    yield started
    for srv in started:
        srv.stop()
