"""Where the bundled sample data lives: ``$LABELKIT_SAMPLE_DATA``, else the source checkout's ``sample_data/``."""

from __future__ import annotations

import os
from pathlib import Path


def sample_data_dir() -> Path:
    """The ``sample_data/`` folder: ``$LABELKIT_SAMPLE_DATA`` if set, else the one
    next to the ``labelkit`` package (a source checkout)."""
    env = os.environ.get("LABELKIT_SAMPLE_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "sample_data"
