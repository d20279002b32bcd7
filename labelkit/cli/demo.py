"""``labelkit demo``: JupyterLab on the quickstart notebook, bundled data and model.

Uses the embedded FiftyOne database (``~/.fiftyone`` unless
``FIFTYONE_DATABASE_DIR``/``FIFTYONE_DATABASE_URI`` say otherwise) and the sample
model shipped in ``sample_data/``: no network needed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from ..errors import LabelkitError
from ..models import sample_data_dir


def free_port(start: int = 8888, tries: int = 100) -> int:
    """The first free localhost TCP port at or after ``start``."""
    for port in range(start, start + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise LabelkitError(f"no free port in {start}-{start + tries - 1}; pass --port")


def run_demo(port: int | None = None, open_browser: bool = True, notebook: str = "notebooks/01_quickstart.ipynb") -> int:
    """Start JupyterLab on ``notebook`` (path relative to the repository root)."""
    root = sample_data_dir().parent
    nb = (root / notebook) if not Path(notebook).is_absolute() else Path(notebook)
    if not nb.is_file():
        raise LabelkitError(f"notebook '{nb}' not found; run `labelkit demo` from a clone of the labelkit repository")
    port = port or free_port()
    env = dict(os.environ)
    env.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    env.setdefault("LABELKIT_SAMPLE_DATA", str(sample_data_dir()))
    cmd = [
        sys.executable, "-m", "jupyterlab",
        f"--port={port}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=",
        "--ServerApp.ip=127.0.0.1",
    ]
    if not open_browser:
        cmd.append("--no-browser")
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    cmd.append(str(nb.relative_to(root)))
    print(
        f"labelkit demo: starting JupyterLab on port {port} with {nb.relative_to(root)}; "
        "open the http://127.0.0.1 URL with the token that JupyterLab prints below (Ctrl+C to stop)"
    )
    try:
        return subprocess.call(cmd, cwd=root, env=env)
    except KeyboardInterrupt:
        return 0
