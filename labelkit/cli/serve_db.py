"""``labelkit serve-db``: a MongoDB server for a workshop or a team, in one command.

Starts the ``mongod`` of FiftyOne's database wheel on a data folder and port,
with authentication (an admin user and the ``labelkit`` user; see
:mod:`labelkit.store.server`), prints the connection string to hand out, and
runs until Ctrl+C (or SIGTERM), then stops ``mongod`` cleanly (SIGTERM to its
PID: it flushes and closes its data files).

The credentials are kept in ``<data>/serve-db.json`` (readable by the host's user
only), so restarting on the same folder hands out the same connection string.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

CREDENTIALS = "serve-db.json"


def _lan_address() -> str:
    """This machine's address on its LAN (the one a default route uses), or 127.0.0.1."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent (UDP connect)
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def _credentials(data: Path, user: str, password: str | None, admin_password: str | None) -> dict:
    import secrets

    path = data / CREDENTIALS
    saved = {}
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            saved = {}
    creds = {
        "user": user,
        "password": password or (saved.get("password") if saved.get("user") == user else None)
        or secrets.token_urlsafe(12),
        "admin_user": saved.get("admin_user", "admin"),
        "admin_password": admin_password or saved.get("admin_password") or secrets.token_urlsafe(16),
    }
    return creds


def _save_credentials(data: Path, creds: dict) -> None:
    path = data / CREDENTIALS
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(creds, f, indent=1)


def run_serve_db(
    data: str | os.PathLike = "labelkit-db",
    port: int = 27017,
    lan: bool = False,
    host: str | None = None,
    user: str = "labelkit",
    password: str | None = None,
    admin_password: str | None = None,
    out=None,
) -> int:
    """Start the server, print the connection string, wait for Ctrl+C, stop the server.

    Args:
        data: the data folder (created if missing; reused with its users and data).
        port: TCP port.
        lan: listen on every interface (for annotators on other machines) and hand
            out this machine's LAN address; default: localhost only.
        host: the address to hand out (default: 127.0.0.1, or the LAN address with ``lan``).
        user, password: the annotators' user (password default: kept from the last
            run on this folder, else random).
        admin_password: the admin user's password (default: kept, else random).
        out: where to print (default stdout).

    Returns:
        0 after a clean stop.

    Raises:
        DatabaseError: the port is taken, mongod cannot start, or the folder's
            users do not accept the saved passwords.
    """
    out = out or sys.stdout
    data = Path(data).expanduser().resolve()
    data.mkdir(parents=True, exist_ok=True)
    creds = _credentials(data, user, password, admin_password)
    from ..store.server import probe, start_mongod

    address = host or (_lan_address() if lan else "127.0.0.1")
    server = start_mongod(
        data, port=port, host=address if not lan else "127.0.0.1", bind_ip="0.0.0.0" if lan else None,
        auth=True, user=creds["user"], password=creds["password"],
        admin_user=creds["admin_user"], admin_password=creds["admin_password"],
    )
    stopping = {"flag": False}

    def _term(signum, frame):  # SIGTERM (a service manager, kill PID) stops cleanly like Ctrl+C
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _term)
    try:
        _save_credentials(data, creds)
        info = probe(server.uri)
        version = info.get("version", "?")
        from ..store.server import make_uri

        uri = make_uri(address, server.port, creds["user"], creds["password"])
        print(f"labelkit serve-db: MongoDB {version} on {address}:{server.port} (pid {server.pid}), "
              f"auth on, data in {data}", file=out)
        print("Hand this connection string to every annotator (set it before `import labelkit`):", file=out)
        print(f"FIFTYONE_DATABASE_URI={uri}", file=out)
        print("In each annotator's notebook, one cell:", file=out)
        print(f"  import os; os.environ['FIFTYONE_DATABASE_URI'] = '{uri}'", file=out)
        print("  import labelkit as lk; lk.Labeler('DATASET', annotator='YOUR NAME')", file=out)
        print("Team progress: lk.progress('DATASET'). Ctrl+C stops the server.", file=out, flush=True)
        while server.running():
            time.sleep(0.5)
        print(f"labelkit serve-db: mongod exited by itself (see {server.log})", file=out, flush=True)
        return 1
    except KeyboardInterrupt:
        stopping["flag"] = True
        print("labelkit serve-db: stopping MongoDB ...", file=out, flush=True)
        server.stop()
        print("labelkit serve-db: stopped cleanly.", file=out, flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, old)
        if not stopping["flag"]:
            server.stop()

