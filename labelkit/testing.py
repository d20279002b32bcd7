"""A private, throw-away MongoDB for tests and benchmarks.

FiftyOne's embedded database service attaches to *any* FiftyOne database
service already running on the machine (it finds them by their process
arguments, whatever their ``FIFTYONE_DATABASE_DIR``). A temporary database
folder alone therefore does not keep a test run away from a user's datasets
while that user has FiftyOne open. :func:`use_private_database` starts a
``mongod`` of our own on a free localhost port and points FiftyOne at it with
``FIFTYONE_DATABASE_URI`` (its documented way to use an external server), so
FiftyOne starts and attaches to nothing. Child processes (the ``labelkit``
CLI, notebook kernels, JupyterLab) inherit the variable and share the same
database.

Call it before ``fiftyone`` is imported: FiftyOne reads its config at import.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import DatabaseError


def mongod_path() -> Path:
    """The ``mongod`` shipped with FiftyOne's database wheel (found without importing fiftyone)."""
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        raise DatabaseError("fiftyone is not installed; run `make test` or pip install -e '.[dev]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "db" / "bin" / "mongod"
    if not path.is_file():
        raise DatabaseError(f"no embedded mongod at {path}; run `labelkit doctor` for the fix")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise DatabaseError(f"private mongod exited with code {proc.returncode}: {tail}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    proc.kill()
    raise DatabaseError(f"private mongod did not listen on port {port} within {timeout:.0f} s")


def use_private_database(prefix: str = "labelkit-db-", timeout: float = 60.0) -> str:
    """Start a private ``mongod`` in a new temporary folder and point FiftyOne at it.

    Sets ``FIFTYONE_DATABASE_URI`` (and ``FIFTYONE_DATABASE_DIR`` to the same
    folder, for anything that looks at it) in ``os.environ``. The server is
    stopped and its folder deleted when the process exits.

    Args:
        prefix: prefix of the temporary folder's name.
        timeout: seconds to wait for the server to listen.

    Returns:
        the ``mongodb://127.0.0.1:PORT`` URI.
    """
    db_dir = Path(tempfile.mkdtemp(prefix=prefix))
    log = db_dir / "mongo.log"
    port = _free_port()
    proc = subprocess.Popen(
        [str(mongod_path()), "--dbpath", str(db_dir), "--logpath", str(log), "--port", str(port),
         "--bind_ip", "127.0.0.1", "--nounixsocket"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )

    def _stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(db_dir, ignore_errors=True)

    atexit.register(_stop)
    _wait_for_port(port, proc, log, timeout)
    uri = f"mongodb://127.0.0.1:{port}"
    os.environ["FIFTYONE_DATABASE_URI"] = uri
    os.environ["FIFTYONE_DATABASE_DIR"] = str(db_dir)
    return uri
