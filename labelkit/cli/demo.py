"""``labelkit demo``: JupyterLab on the quickstart notebook, bundled data and model.

Uses the embedded FiftyOne database (``~/.fiftyone`` unless
``FIFTYONE_DATABASE_DIR``/``FIFTYONE_DATABASE_URI`` say otherwise) and the sample
model shipped in ``sample_data/``: no network needed.

Nothing is left running when the demo ends, however it ends:

* the database: unless ``FIFTYONE_DATABASE_URI`` names a server, the demo starts
  FiftyOne's own database service itself, before JupyterLab, and hands its
  address to JupyterLab's kernels (``FIFTYONE_DATABASE_URI``). That service is
  FiftyOne's watchdog around ``mongod``: it stops ``mongod`` when the process that
  started it (the demo) exits, even on ``SIGKILL`` (it watches a pipe from its
  parent), and keeps it only while other FiftyOne processes registered with it
  still run. At the end the demo waits for the ``mongod`` PID to exit and kills
  it if its service is gone but it is not. If another FiftyOne process already
  runs the service, the demo attaches to it and leaves it to its owner.
* JupyterLab (and, through it, the kernels, which exit when JupyterLab does)
  runs under :mod:`labelkit.cli._watchdog`: stopped on ``SIGTERM`` / ``SIGHUP`` /
  Ctrl+C of the demo, and when the demo is killed outright.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DatabaseError, LabelkitError
from ..models import sample_data_dir
from ._database import quiet_version_banner, server_address
from ._watchdog import install_stop_handlers, start_watched


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


@dataclass
class DemoDatabase:
    """The database the demo uses.

    Attributes:
        uri: ``FIFTYONE_DATABASE_URI`` handed to JupyterLab.
        where: a description for the user.
        version: the MongoDB version, if asked.
        pid: the ``mongod`` PID when the demo started it (or attached to it), else None.
        owned: whether the demo started the database service (and must stop it).
    """

    uri: str
    where: str
    version: str | None = None
    pid: int | None = None
    owned: bool = False
    service: Any = field(default=None, repr=False)

    def stop(self, timeout: float = 20.0) -> None:
        """Let FiftyOne's service stop ``mongod``; kill it by PID if it outlives its service."""
        service, self.service = self.service, None
        if service is None:
            return
        child = service.child
        try:
            service.stop()  # closes the service's stdin: "the parent is gone"
        except Exception:  # noqa: BLE001 - stop what we can
            pass
        if not self.owned or self.pid is None:
            return
        import psutil

        try:
            mongod = psutil.Process(self.pid)
            mongod.wait(timeout)
            return
        except psutil.NoSuchProcess:
            return
        except psutil.TimeoutExpired:
            pass
        try:
            service_alive = child is not None and child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            service_alive = False
        if service_alive:
            print(
                f"labelkit demo: the database (mongod PID {self.pid}) is still used by another FiftyOne "
                "process; FiftyOne stops it when that process exits",
                file=sys.stderr,
            )
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                mongod.send_signal(sig)
                mongod.wait(wait)
                return
            except psutil.NoSuchProcess:
                return
            except psutil.TimeoutExpired:
                continue


def start_database() -> DemoDatabase:
    """Start (or attach to) FiftyOne's embedded database, unless ``FIFTYONE_DATABASE_URI`` is set.

    Raises:
        DatabaseError: the embedded database does not start.
    """
    uri = os.environ.get("FIFTYONE_DATABASE_URI")
    if uri:
        return DemoDatabase(uri=uri, where=f"MongoDB server {server_address(uri)} (FIFTYONE_DATABASE_URI)")
    print("labelkit demo: starting the embedded FiftyOne database ...", flush=True)
    t0 = time.monotonic()
    try:
        import fiftyone.core.config as focn
        import fiftyone.core.service as fos
        import fiftyone.service.util as fosu
        import pymongo

        service = fos.DatabaseService()
        port = service.port
        owner = fosu.normalize_wrapper_process(service.child)
        pids = [p.pid for p in owner.children(recursive=True) if p.name().startswith("mongod")]
        client = pymongo.MongoClient(port=port, serverSelectionTimeoutMS=20_000)
        try:
            version = client.server_info()["version"]
        finally:
            client.close()
        dbdir = focn.load_config().database_dir
    except Exception as exc:  # noqa: BLE001 - FiftyOne raises several kinds here
        raise DatabaseError(
            f"the embedded FiftyOne database did not start ({type(exc).__name__}: {exc}); "
            "run `labelkit doctor` for the fix, or set FIFTYONE_DATABASE_URI to a running MongoDB server"
        ) from exc
    attached = bool(getattr(service, "attached", False))
    pid = pids[0] if pids else None
    where = (
        f"embedded MongoDB {version} (mongod PID {pid}, {'shared with a running FiftyOne, ' if attached else ''}"
        f"data in {dbdir}; up in {time.monotonic() - t0:.1f} s)"
    )
    return DemoDatabase(
        uri=f"mongodb://127.0.0.1:{port}", where=where, version=version, pid=pid,
        owned=not attached, service=service,
    )


def run_demo(port: int | None = None, open_browser: bool = True, notebook: str = "notebooks/01_quickstart.ipynb") -> int:
    """Start the database, then JupyterLab on ``notebook`` (path relative to the repository root).

    Returns when JupyterLab exits or on Ctrl+C; ``SIGTERM``/``SIGHUP`` stop both
    first. Returns JupyterLab's exit code (0 after Ctrl+C).

    Raises:
        LabelkitError: the notebook is missing or no port is free.
        DatabaseError: the embedded database does not start.
    """
    root = sample_data_dir().parent
    nb = (root / notebook) if not Path(notebook).is_absolute() else Path(notebook)
    if not nb.is_file():
        raise LabelkitError(f"notebook '{nb}' not found; run `labelkit demo` from a clone of the labelkit repository")
    port = port or free_port()
    db = start_database()
    install_stop_handlers(db.stop)
    if db.version is not None:
        quiet_version_banner(db.version)  # the kernels inherit the setting
    print(f"labelkit demo: database: {db.where}", flush=True)
    env = dict(os.environ)
    env["FIFTYONE_DATABASE_URI"] = db.uri
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
        "open the http://127.0.0.1 URL with the token that JupyterLab prints below (Ctrl+C to stop)",
        flush=True,
    )
    lab = None
    try:
        lab = start_watched(cmd, cwd=root, env=env, grace=15.0)
        install_stop_handlers(lab.stop)
        print(f"labelkit demo: JupyterLab PID {lab.pid}", flush=True)
        return lab.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if lab is not None:
            lab.stop()
        db.stop()
