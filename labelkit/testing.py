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

The server never outlives the process that started it: it is stopped (by PID,
``SIGTERM``, wait, then ``SIGKILL``) at normal exit and on ``SIGTERM`` / ``SIGINT``
/ ``SIGHUP`` (chaining any handler already installed), and it runs under a small
watchdog process that stops it when this process is killed outright (``SIGKILL``),
see :mod:`labelkit.cli._watchdog`. Since it is the bundled MongoDB 6.0, FiftyOne's
"oldest supported version" warning is switched off (``database_validation``),
unless the user set that themselves (:mod:`labelkit.cli._database`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .cli._database import quiet_version_banner
from .cli._watchdog import Watched, install_stop_handlers, start_watched
from .errors import DatabaseError
from .store.server import find_mongod, free_port


def mongod_path() -> Path:
    """The ``mongod`` shipped with FiftyOne's database wheel (found without importing fiftyone)."""
    return find_mongod()


def _free_port() -> int:
    return free_port()


def _wait_for_port(port: int, server: Watched, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.running():
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise DatabaseError(f"private mongod exited with code {server.watchdog.returncode}: {tail}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    server.stop()
    raise DatabaseError(f"private mongod did not listen on port {port} within {timeout:.0f} s")


@dataclass(frozen=True)
class PrivateDatabase:
    """A running private ``mongod`` (see :func:`use_private_database`).

    Attributes:
        uri: ``mongodb://127.0.0.1:PORT``.
        pid: the ``mongod`` process id.
        dbpath: its data folder (deleted when it stops).
        version: its MongoDB version, e.g. ``"6.0.5"`` (None if not known).
    """

    uri: str
    pid: int
    dbpath: Path
    version: str | None


_STARTED: list[PrivateDatabase] = []


def private_database() -> PrivateDatabase | None:
    """The private database this process started last, or None."""
    return _STARTED[-1] if _STARTED else None


def _version_from_log(log: Path, timeout: float = 5.0) -> str | None:
    """The server version from mongod's JSON log ("Build Info"), once it is written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for line in log.read_text(errors="replace").splitlines():
                if '"Build Info"' in line:
                    return json.loads(line)["attr"]["buildInfo"]["version"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.05)
    return None


def use_private_database(prefix: str = "labelkit-db-", timeout: float = 60.0) -> str:
    """Start a private ``mongod`` in a new temporary folder and point FiftyOne at it.

    Sets ``FIFTYONE_DATABASE_URI`` (and ``FIFTYONE_DATABASE_DIR`` to the same
    folder, for anything that looks at it) in ``os.environ``, and
    ``FIFTYONE_DATABASE_VALIDATION=false`` when the server is a MongoDB version
    labelkit knows and the user has not set that variable (or FiftyOne's
    ``database_validation``) themselves. The server is stopped and its folder
    deleted when the process exits, is terminated (``SIGTERM``, ``SIGINT``,
    ``SIGHUP``) or is killed (``SIGKILL``: its watchdog stops it).
    :func:`private_database` gives its PID and version.

    Args:
        prefix: prefix of the temporary folder's name.
        timeout: seconds to wait for the server to listen.

    Returns:
        the ``mongodb://127.0.0.1:PORT`` URI.

    Raises:
        DatabaseError: the bundled ``mongod`` is missing or does not start.
    """
    db_dir = Path(tempfile.mkdtemp(prefix=prefix))
    log = db_dir / "mongo.log"
    port = _free_port()
    try:
        server = start_watched(
            [str(mongod_path()), "--dbpath", str(db_dir), "--logpath", str(log), "--port", str(port),
             "--bind_ip", "127.0.0.1", "--nounixsocket"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        shutil.rmtree(db_dir, ignore_errors=True)
        raise DatabaseError(f"could not start the private mongod: {exc}; run `labelkit doctor` for the fix") from exc

    def _stop() -> None:
        server.stop()
        shutil.rmtree(db_dir, ignore_errors=True)

    install_stop_handlers(_stop)
    _wait_for_port(port, server, log, timeout)
    uri = f"mongodb://127.0.0.1:{port}"
    version = _version_from_log(log)
    os.environ["FIFTYONE_DATABASE_URI"] = uri
    os.environ["FIFTYONE_DATABASE_DIR"] = str(db_dir)
    quiet_version_banner(version)
    _STARTED.append(PrivateDatabase(uri=uri, pid=server.pid, dbpath=db_dir, version=version))
    return uri


def start_mongod(auth: bool = True, data_dir: str | os.PathLike | None = None, port: int | None = None,
                 user: str = "labelkit", password: str | None = None, timeout: float = 60.0):
    """Start a standalone ``mongod`` server (with ``--auth`` and its users by default)
    for tests and benchmarks of team reviews; nothing in ``os.environ`` changes.

    Annotator processes reach it with ``FIFTYONE_DATABASE_URI=server.uri``
    (``mongodb://user:pass@127.0.0.1:PORT/?authSource=admin``). Stop it with
    ``server.stop()`` (by its PID); it is also stopped when this process exits.
    See :func:`labelkit.store.server.start_mongod`.

    Args:
        auth: start with ``--auth``, create an admin user (localhost exception)
            and the labelkit user.
        data_dir: its data folder (default: a new temporary folder, deleted at exit).
        port: TCP port (default: a free one).
        user, password: the labelkit user (password default: random).
        timeout: seconds to wait for it to listen.

    Returns:
        a :class:`labelkit.store.server.MongoServer` (``host``, ``port``, ``user``,
        ``password``, ``pid``, ``data_dir``, ``uri``, ``stop()``).
    """
    import atexit

    from .store.server import start_mongod as _start

    tmp = data_dir is None
    folder = Path(tempfile.mkdtemp(prefix="labelkit-team-db-")) if tmp else Path(data_dir)
    server = _start(folder, port=port, auth=auth, user=user, password=password, timeout=timeout)

    def _cleanup() -> None:
        server.stop()
        if tmp:
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(_cleanup)
    return server
