"""Safe paths: files a user (or a file they import) names must land where they belong.

* :func:`safe_child` - ``root / name`` for a ``name`` that comes from outside (a COCO
  ``file_name``, a relative checkpoint path): refused with
  :class:`~labelkit.errors.UnsafePathError` when it is absolute, climbs out with
  ``..``, or resolves (through a symlink) to somewhere outside ``root``.
* :func:`check_output_path` - an output file or folder the user named (export
  folder, checkpoint): refused with :class:`~labelkit.errors.OutputPathError`
  *before anything is written* when it cannot be written as asked (a folder that
  exists as a file, a file whose parent folder is missing, ...).
* :func:`is_within` - whether a (resolved) path is a folder or lies inside it.

Nothing here creates or writes anything.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import OutputPathError, UnsafePathError


def is_within(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or lies inside it (compares the paths as given:
    resolve both first to follow symlinks)."""
    return path == root or root in path.parents


def safe_child(
    root: str | os.PathLike,
    name: str | os.PathLike,
    *,
    what: str = "path",
    allow_symlinks: bool = False,
) -> Path:
    """``root / name``, refused if ``name`` could leave ``root``.

    Refused (:class:`~labelkit.errors.UnsafePathError`): an absolute ``name``
    (``/etc/x.jpg``, ``C:\\x.jpg``), a ``name`` with a ``..`` part, and - unless
    ``allow_symlinks`` - a ``name`` that resolves (``Path.resolve``, following every
    symlink on the way) to a place outside ``root`` (also resolved, so a ``root``
    that is itself a symlink is fine). The path need not exist.

    Args:
        root: the folder ``name`` must stay in.
        name: a relative path from outside (a file, a user, a JSON entry).
        what: how to call ``name`` in the error (``"COCO file_name"``).
        allow_symlinks: accept symlinks whose target lies outside ``root``
            (``..`` and absolute names are refused regardless).

    Returns:
        ``root / name`` (not resolved: symlinks inside ``root`` keep their name).

    Raises:
        UnsafePathError: ``name`` is absolute, has ``..``, or escapes through a symlink.

    Example:
        >>> safe_child("/data/images", "a/b.jpg").as_posix()
        '/data/images/a/b.jpg'
        >>> safe_child("/data/images", "../b.jpg")  # doctest: +SKIP
        UnsafePathError: path '../b.jpg' climbs out of '/data/images' with '..'; ...
    """
    root_p = Path(root).expanduser()
    raw = os.fspath(name)
    if not raw or not raw.strip():
        raise UnsafePathError(f"{what} is empty; give a path relative to '{root_p}'")
    if "\x00" in raw:
        raise UnsafePathError(f"{what} {raw!r} contains a NUL character")
    # a Windows-style name ("..\\x.jpg", "C:\\x.jpg") is judged by its parts too
    parts = re.split(r"[\\/]+", raw)
    if os.path.isabs(raw) or raw.startswith(("\\", "/")) or re.match(r"^[A-Za-z]:[\\/]", raw):
        raise UnsafePathError(
            f"{what} '{raw}' is an absolute path; it must be relative to '{root_p}' "
            "(write it as a path inside that folder)"
        )
    if ".." in parts:
        raise UnsafePathError(
            f"{what} '{raw}' climbs out of '{root_p}' with '..'; it must name a file inside "
            "that folder (move the file there and drop the '../')"
        )
    child = root_p / raw
    if not allow_symlinks:
        real_root = root_p.resolve()
        real = child.resolve()
        if not is_within(real, real_root):
            raise UnsafePathError(
                f"{what} '{raw}' is a symlink (or lies under one) pointing outside "
                f"'{root_p}' (to '{real}'); copy the file into '{root_p}' instead of linking it"
                " (or pass allow_symlinks=True if the link is intended)"
            )
    return child


def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_path(
    path: str | os.PathLike,
    *,
    what: str,
    kind: str = "file",
    root: str | os.PathLike | None = None,
) -> Path:
    """Check an output path the user named, before anything is written to it.

    ``kind="file"`` (a checkpoint, a journal): the path must not be an existing
    folder, and its parent folder must exist and be a writable folder (it is *not*
    created: a typo in a folder name should fail now, not after an hour of training).
    ``kind="dir"`` (an export folder): the path must not be an existing file, and
    nothing on the way to it may be a file; missing folders are fine (the writer
    creates them). With ``root``, ``path`` is relative to ``root`` and must stay in it
    (:func:`safe_child`).

    Args:
        path: the output file or folder (``~`` is expanded).
        what: how to call it in the error (``"checkpoint"``, ``"export folder"``).
        kind: ``"file"`` or ``"dir"``.
        root: a folder the path must stay inside (optional).

    Returns:
        the path, ``~``-expanded (joined to ``root`` when given).

    Raises:
        OutputPathError: the path cannot be written as asked; the message says why
            and what to do.
        UnsafePathError: with ``root``, the path would leave it.
    """
    if kind not in ("file", "dir"):
        raise ValueError(f"kind must be 'file' or 'dir', got {kind!r}")
    if not os.fspath(path).strip():
        raise OutputPathError(f"{what} path is empty; give a {'file' if kind == 'file' else 'folder'} path")
    p = safe_child(root, path, what=what) if root is not None else Path(path).expanduser()
    if kind == "dir":
        if p.exists() and not p.is_dir():
            raise OutputPathError(
                f"{what} '{p}' is an existing file, not a folder; pick a folder path "
                "(a new or existing folder) or remove the file"
            )
        base = _first_existing(p.parent if not p.exists() else p)
        if base.exists() and not base.is_dir():
            raise OutputPathError(
                f"{what} '{p}' lies under '{base}', which is a file, not a folder; pick another path"
            )
        return p
    if p.is_dir():
        raise OutputPathError(
            f"{what} '{p}' is an existing folder; give a file path such as '{p / 'model.pt'}'"
        )
    parent = p.parent
    if not parent.exists():
        raise OutputPathError(
            f"{what} '{p}': the folder '{parent}' does not exist; create it first "
            f"(mkdir -p '{parent}') or pick an existing folder"
        )
    if not parent.is_dir():
        raise OutputPathError(f"{what} '{p}': '{parent}' is a file, not a folder; pick another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} '{p}': the folder '{parent}' is not writable; pick another folder")
    return p

