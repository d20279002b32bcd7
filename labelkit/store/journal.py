"""The outage journal: review decisions kept on local disk while the database is away.

When a review write cannot reach the MongoDB server (server selection timed out,
connection refused or reset), :class:`~labelkit.store.image.ReviewStore` appends
the decision to a journal file instead and the review goes on. The next write that
reaches the server (or :meth:`ReviewStore.sync`, or a new ``ReviewSession`` of the
same annotator on the same dataset) replays the journal first, in order, then
truncates it.

Layout: one file per annotator and dataset,
``<folder>/<annotator>--<dataset>-<hash>.jsonl`` (names reduced to safe characters), where ``<folder>`` is
``$LABELKIT_JOURNAL_DIR`` or ``~/.labelkit/journal``. Each line is one JSON object
(MongoDB extended JSON, so ids, dates and masks round-trip exactly):

* ``v``: format version (1); ``decision_id``: unique and time-ordered (see
  :func:`new_decision_id`); ``kind``: "review" | "draft" | "status" | "copy";
* ``dataset``, ``collection``, ``sample_id``, ``proposals_field``, ``labels_field``;
* ``status``, ``annotator``, ``decided_at`` (ISO 8601 UTC);
* ``reviews``: proposal id -> None | "accepted" | "edited" | "rejected";
* ``set``: the exact ``$set`` document of the sample update (final labels with
  their masks as zlib-compressed ``.npy`` bytes, base64 in the JSON);
* team reviews: ``claim`` (``{"annotator", "release", "ttl"}``): the write is
  conditional on that annotator's claim;
* ``kind == "copy"`` (an overlap study's extra review, :mod:`labelkit.store.overlap`):
  ``overlap_field``, ``docs`` (the copy's detection documents, or None to keep
  them), ``review_seconds``; ``set`` is empty (the update is a pipeline built from
  the entry, touching only the copy fields).

Appends are flushed and ``fsync``-ed before :meth:`Journal.append` returns (and the
folder is synced when the file is created), so an acknowledged decision survives a
killed process or a power cut. A line torn by a kill in the middle of an append is
the only one that can be incomplete; it was never acknowledged and is ignored.
Writers of one file take an exclusive ``flock`` (two kernels of one annotator).

Exactly once: each decision's id is written into the sample document
(``review_decision_id``) by the same single-document update, and a replayed
decision is only applied when the document holds no newer decision, so a replay
interrupted by a crash and run again writes nothing twice, and never lets an older
decision overwrite a newer one. A copy's decision id is kept per annotator in the
sample's ``overlap_reviews`` instead (the primary's ``review_decision_id`` is never
touched by a copy), with the same rule.

A claimed decision refused at replay because its claim was taken over during the
outage is not written, and not dropped silently: the store lists it in
:attr:`~labelkit.store.image.ReviewStore.lost` and its ``db_status`` says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import threading
import time
import uuid
from pathlib import Path

from ..errors import UnsafePathError

#: Environment variable naming the journal folder.
JOURNAL_ENV = "LABELKIT_JOURNAL_DIR"

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")

_id_lock = threading.Lock()
_last_ns = 0


def new_decision_id() -> str:
    """A unique, time-ordered decision id: ``"<UTC ns, 19 digits>-<12 hex>"``.

    String order is time order (ids made later in one process always sort
    later), which is what lets a replay refuse to overwrite a newer decision.
    """
    global _last_ns
    with _id_lock:
        ns = max(time.time_ns(), _last_ns + 1)
        _last_ns = ns
    return f"{ns:019d}-{uuid.uuid4().hex[:12]}"


def journal_dir() -> Path:
    """The journal folder: ``$LABELKIT_JOURNAL_DIR`` or ``~/.labelkit/journal``."""
    env = os.environ.get(JOURNAL_ENV)
    return Path(env).expanduser() if env else Path.home() / ".labelkit" / "journal"


def journal_file(dataset: str, annotator: str, root: str | os.PathLike | None = None) -> Path:
    """The journal file of ``annotator`` on ``dataset`` inside ``root`` (default
    :func:`journal_dir`); nothing is created.

    Both names are reduced to plain file-name characters (letters, digits,
    ``. _ -``; anything else, ``/`` and ``..`` included, becomes ``_``) and a hash
    of the exact names is appended, so any annotator name is fine (``"Ana Smith"``)
    and two names never share a file, and no name can leave ``root``.

    Raises:
        UnsafePathError: the file would resolve (through a symlink planted in the
            journal folder) to somewhere outside ``root``.
    """
    root = Path(root).expanduser() if root is not None else journal_dir()
    digest = hashlib.sha1(f"{annotator}\0{dataset}".encode()).hexdigest()[:8]
    who = _SLUG.sub("_", str(annotator)).strip("._")[:48] or "annotator"
    slug = _SLUG.sub("_", str(dataset)).strip("._")[:64] or "dataset"
    path = root / f"{who}--{slug}-{digest}.jsonl"
    real_root = root.resolve()
    real = path.resolve()
    if real.parent != real_root:
        raise UnsafePathError(
            f"journal file '{path}' resolves to '{real}', outside the journal folder '{real_root}' "
            f"(a symlink?); remove it or set {JOURNAL_ENV} to another folder"
        )
    return path


class Journal:
    """One annotator's append-only journal file (see the module docstring).

    Args:
        path: the file (its folder is created on the first append).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"<Journal {self.path} ({len(self)} pending)>"

    def __len__(self) -> int:
        return len(self.entries())

    @contextlib.contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def append(self, entry: dict) -> None:
        """Append one decision (a JSON-able dict, bson types allowed) and fsync it."""
        from bson import json_util

        line = json_util.dumps(entry, json_options=json_util.CANONICAL_JSON_OPTIONS) + "\n"
        new = not self.path.exists()
        with self._locked() as fd:
            if os.fstat(fd).st_size:
                # a torn last line (a kill mid-append) must not glue onto this one
                with open(self.path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        line = "\n" + line
            os.write(fd, line.encode())
            os.fsync(fd)
        if new:
            _fsync_dir(self.path.parent)

    def entries(self) -> list[dict]:
        """The pending decisions, oldest first (a torn or unreadable line is skipped)."""
        from bson import json_util

        if not self.path.exists():
            return []
        out = []
        for raw in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not raw.strip():
                continue
            try:
                entry = json_util.loads(raw)
            except (ValueError, TypeError):
                continue
            if isinstance(entry, dict) and entry.get("decision_id"):
                out.append(entry)
        return out

    def replay(self, write) -> tuple[int, int]:
        """Apply every pending decision with ``write(entry) -> bool`` (True: written,
        False: not needed - already there or superseded by a newer decision), in
        order, under the file lock; then truncate the file.

        ``write`` raising stops the replay: the decisions not yet applied stay in
        the file (the ones already applied are skipped by the next replay, see
        "Exactly once" in the module docstring) and the exception propagates.

        Returns:
            ``(written, skipped)``.
        """
        if not self.path.exists():
            return 0, 0
        written = skipped = 0
        with self._locked() as fd:
            entries = self.entries()
            for entry in entries:
                if write(entry):
                    written += 1
                else:
                    skipped += 1
            os.ftruncate(fd, 0)
            os.fsync(fd)
        return written, skipped


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def dumps(entry: dict) -> str:
    """``entry`` as one journal line's JSON (extended JSON), for tests and tools."""
    from bson import json_util

    return json_util.dumps(entry, json_options=json_util.CANONICAL_JSON_OPTIONS)


__all__ = ["JOURNAL_ENV", "Journal", "dumps", "journal_dir", "journal_file", "new_decision_id"]
