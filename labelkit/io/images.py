"""Getting images into FiftyOne.

``load_images`` imports a folder, glob or list of files into a persistent FiftyOne
dataset. Bad files never abort the import and never pass silently: each one is
reported with its reason (in the returned summary and as a logged warning) and
the good files are imported. Re-running on the same source adds only new files.
"""

from __future__ import annotations

import glob as _glob
import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ImageReadError, LabelkitError
from ..media.image import IMAGE_EXTENSIONS, probe_image
from ..store.dataset import dataset_for_import

logger = logging.getLogger("labelkit")


_GLOB_CHARS = set("*?[")


@dataclass
class ImportSummary:
    """What :func:`load_images` did.

    Attributes:
        dataset: the dataset name.
        added: files imported by this call.
        already_present: files that were already in the dataset (not re-added).
        failed: ``(path, reason)`` for every file that was not imported.
    """

    dataset: str
    added: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"dataset '{self.dataset}': {len(self.added)} image(s) added, "
            f"{len(self.already_present)} already present, {len(self.failed)} skipped"
        ]
        for path, reason in self.failed:
            lines.append(f"  skipped '{path}': {reason}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .._summary import escape  # file names and reasons are user-controlled

        rows = "".join(
            f"<tr><td><code>{escape(p)}</code></td><td>{escape(r)}</td></tr>"
            for p, r in self.failed
        )
        head = escape(str(self).splitlines()[0])
        table = f"<table><tr><th>skipped file</th><th>reason</th></tr>{rows}</table>" if rows else ""
        return f"<div><b>{head}</b>{table}</div>"


def _expand(source) -> tuple[list[Path], list[tuple[str, str]]]:
    """Resolve a source into candidate files plus the problems found on the way."""
    problems: list[tuple[str, str]] = []
    if isinstance(source, (str, os.PathLike)):
        items: Sequence = [source]
        single = True
    else:
        items = list(source)
        single = False
        if not items:
            raise LabelkitError("load_images() got an empty list of paths; pass a folder, a glob or files")
    files: list[Path] = []
    for item in items:
        s = os.fspath(item)
        p = Path(s).expanduser()
        if any(c in s for c in _GLOB_CHARS) and not p.exists():
            matches = sorted(_glob.glob(str(p), recursive=True))
            if not matches:
                if single:
                    raise LabelkitError(f"no files match '{s}'; check the pattern and the folder")
                problems.append((s, "no files match this pattern"))
            files.extend(Path(m) for m in matches if not Path(m).is_dir())
        elif p.is_dir():
            found = _walk(p)
            if not found and single:
                raise LabelkitError(f"folder '{s}' has no files; put images in it or pass another folder")
            for f in found:
                if f.suffix.lower() in IMAGE_EXTENSIONS or f.is_symlink():
                    files.append(f)
                else:
                    problems.append(
                        (str(f.absolute()),
                         f"unsupported file type '{f.suffix or '(no extension)'}'; labelkit imports "
                         + " ".join(IMAGE_EXTENSIONS))
                    )
        elif p.is_symlink() or p.exists():
            files.append(p)
        elif single:
            raise LabelkitError(f"'{s}' does not exist; pass an existing folder, a glob or image files")
        else:
            problems.append((str(p.absolute()), "file does not exist"))
    return files, problems


def _walk(folder: Path) -> list[Path]:
    out = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for n in sorted(names):
            if not n.startswith("."):
                out.append(Path(root) / n)
    return out


def _probe(path: Path):
    try:
        return path, probe_image(path, verify=True), None
    except ImageReadError as exc:
        return path, None, exc.reason
    except Exception as exc:  # noqa: BLE001 - any decoder crash is a per-file failure
        return path, None, f"cannot be decoded ({type(exc).__name__}: {exc})"


def load_images(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    name: str | None = None,
    overwrite: bool = False,
    return_summary: bool = False,
    num_workers: int | None = None,
):
    """Import images into a persistent FiftyOne dataset, with image metadata.

    Every file is fully decoded once to check it (truncated files are caught here,
    not in the middle of a review). Unreadable files are skipped and reported.

    Args:
        source: a folder (searched recursively, hidden files skipped), a glob
            (``"photos/**/*.jpg"``), or a list of image paths.
        name: dataset name; default: the folder's name. An existing dataset of
            that name is extended (only files not already in it are added).
        overwrite: delete an existing dataset of that name first.
        return_summary: also return the :class:`ImportSummary`.
        num_workers: threads used to check files (default: CPU count, max 8).

    Returns:
        the ``fo.Dataset``; or ``(dataset, summary)`` with ``return_summary=True``.
        The last summary is also kept in ``dataset.info["labelkit_last_import"]``.

    Raises:
        LabelkitError: the source itself does not exist or matches nothing.

    Example:
        >>> ds, summary = lk.load_images("photos/", name="photos", return_summary=True)
        >>> print(summary)  # doctest: +SKIP
        dataset 'photos': 41 image(s) added, 0 already present, 1 skipped
          skipped '/data/photos/x.jpg': is truncated or corrupt (...)
    """
    import fiftyone as fo

    files, problems = _expand(source)
    if name is None:
        if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
            name = Path(source).resolve().name
        else:
            raise LabelkitError("load_images() needs name= when the source is not a folder")
    ds = dataset_for_import(name, "image", overwrite)
    summary = ImportSummary(dataset=name, failed=list(problems))

    existing = set(ds.values("filepath")) if len(ds) else set()
    todo: list[Path] = []
    seen: set[str] = set()
    for f in files:
        key = str(f.absolute())
        if key in existing:
            summary.already_present.append(key)
        elif key not in seen:
            seen.add(key)
            todo.append(f)

    workers = num_workers or min(8, os.cpu_count() or 1)
    new_samples = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path, info, reason in pool.map(_probe, todo):
            key = str(path.absolute())
            if reason is not None:
                summary.failed.append((key, reason))
                continue
            meta = fo.ImageMetadata(
                size_bytes=info["size_bytes"],
                mime_type=info["mime_type"],
                width=info["width"],
                height=info["height"],
                num_channels=info["num_channels"],
            )
            new_samples.append(fo.Sample(filepath=key, metadata=meta))
            summary.added.append(key)
    if new_samples:
        ds.add_samples(new_samples, progress=False)
    for path, reason in summary.failed:
        logger.warning("labelkit: skipped '%s': %s", path, reason)
    ds.info["labelkit_last_import"] = {
        "added": len(summary.added),
        "already_present": len(summary.already_present),
        "failed": [list(x) for x in summary.failed],
    }
    ds.save()
    return (ds, summary) if return_summary else ds
