"""A review driven from code in a process of its own, for the kill and outage tests.

Run as ``python tests/_review_driver.py MODE DATASET ANNOTATOR``; FiftyOne's
database comes from the environment (``FIFTYONE_DATABASE_URI``; with
``LK_DRIVER_IMAGES`` set, a missing dataset is made there by :func:`make_dataset`).
Every line it prints is flushed at once:

* ``READY <collection> <index> <replayed>``: the session is open at ``index``, after
  replaying ``replayed`` journaled decisions;
* ``INTENT <sample_id> <n_labels>`` just before a ``submit()``,
  ``ACK <sample_id> <n_labels>`` right after it returned (the decision is
  acknowledged: in the database, or fsynced in the local journal);
* ``DB <text>``: the session's ``db_status`` after a command (``-`` when all is well).

Modes:

* ``loop``: review forever (accept/reject/paint/submit, then round again) until killed;
* ``stdin``: one command per input line: ``submit`` (one decision), ``status``,
  ``sync`` (prints ``SYNC <ok> <decisions replayed so far>``), ``journal`` (prints
  ``JOURNAL <decision ids>``), ``quit``;
* ``fork``: a fork server for the kill test: imports everything once, then for each
  ``run`` line forks a child that runs ``loop`` (prints ``PID <pid>``, and ``EXIT <pid>``
  when it died), so a restart after a kill costs a fork, not a Python start-up.

``make_dataset`` builds the small dataset both tests review.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np


def say(*parts) -> None:
    """One output line, written with a single ``write(2)`` (atomic on a pipe)."""
    os.write(1, (" ".join(str(p) for p in parts) + "\n").encode())


def make_dataset(name: str, folder: str | os.PathLike, n: int = 30):
    """``n`` 64x48 PNG images, each with three mask proposals (classes ``a``/``b``)."""
    import fiftyone as fo
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    samples = []
    for i in range(n):
        path = folder / f"img{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
        dets = []
        for j in range(3):
            x, y = 0.1 + 0.25 * j, 0.2
            dets.append(fo.Detection(label="ab"[j % 2], bounding_box=[x, y, 0.2, 0.3],
                                     confidence=0.9 - 0.2 * j, mask=np.ones((14, 13), bool)))
        samples.append(fo.Sample(filepath=str(path), predictions=fo.Detections(detections=dets),
                                 metadata=fo.ImageMetadata(width=64, height=48)))
    ds = fo.Dataset(name)
    ds.add_samples(samples, progress=False)
    ds.persistent = True
    return ds


def open_session(name: str, annotator: str):
    import fiftyone as fo

    from labelkit.review.session import ReviewSession

    if not fo.dataset_exists(name) and os.environ.get("LK_DRIVER_IMAGES"):
        make_dataset(name, os.environ["LK_DRIVER_IMAGES"], n=int(os.environ.get("LK_DRIVER_N", "30")))

    s = ReviewSession(fo.load_dataset(name), annotator=annotator, classes=["a", "b"])
    s.wait_ahead()  # the read-ahead window is in (a background read): what an outage goes on with
    say("READY", s.store.dataset._sample_collection_name, s.index, s.store.replayed)
    return s


def decide(s, count: int) -> int:
    """One sample's decisions, varied by ``count``: 0-4 labels. Returns how many."""
    s.accept_all()
    for k in range(count % 3):
        s.reject(k)
    if count % 2:
        s.paint(None, [(5, 40), (15, 44)], 3, label="a")
    return sum(1 for i in s.instances if i.kept)


def submit(s, count: int) -> None:
    n = decide(s, count)
    sid = s.sample_id
    say("INTENT", sid, n)
    s.submit()
    say("ACK", sid, n)


def loop(name: str, annotator: str) -> None:
    s = open_session(name, annotator)
    count = int.from_bytes(os.urandom(2), "little")
    while True:
        if s.review_status == "done":  # everything reviewed: round again
            s.goto((s.index + 1) % len(s))
        submit(s, count)
        count += 1


def stdin_mode(name: str, annotator: str) -> None:
    s = open_session(name, annotator)
    count = 0
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "submit":
            submit(s, count)
            count += 1
        elif cmd == "sync":
            say("SYNC", s.sync(), s.store.replayed)
        elif cmd == "journal":
            j = s.store._journal
            say("JOURNAL", *(e["decision_id"] for e in (j.entries() if j else [])))
        elif cmd == "quit":
            say("BYE")
            return
        say("DB", s.db_status or "-")


def fork_server(name: str, annotator: str) -> None:
    import fiftyone  # noqa: F401 - imported once, before any connection (fork-safe)

    import labelkit.review.session  # noqa: F401

    say("ZYGOTE")
    for line in sys.stdin:
        if line.strip() != "run":
            break
        pid = os.fork()
        if pid == 0:
            try:
                loop(name, annotator)
            finally:
                os._exit(1)
        say("PID", pid)
        os.waitpid(pid, 0)
        say("EXIT", pid)


if __name__ == "__main__":
    mode, dataset, who = sys.argv[1:4]
    {"loop": loop, "stdin": stdin_mode, "fork": fork_server}[mode](dataset, who)
