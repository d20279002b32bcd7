"""Database outage: stop the MongoDB server mid-session, keep reviewing, find every
decision written exactly once when it is back (also when the session's process
died meanwhile: the next session replays the journal on start).

The review runs in a separate process (``tests/_review_driver.py``, driven over
stdin/stdout) pointed at a standalone ``mongod`` of its own (FiftyOne reads its
URI at import); the server is stopped by its PID (SIGTERM) and restarted on the
same port and data folder. The database is checked with pymongo directly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labelkit.errors import DatabaseError

DRIVER = Path(__file__).with_name("_review_driver.py")
ANNOTATOR = "ana"


class Driver:
    """A ``_review_driver.py stdin`` process."""

    def __init__(self, env: dict, dataset: str):
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "stdin", dataset, ANNOTATOR],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1,
        )
        self.ready = self.line("READY")

    def line(self, prefix: str) -> str:
        while True:
            text = self.proc.stdout.readline()
            if not text:
                raise AssertionError(f"driver exited with {self.proc.wait()}")
            if text.startswith(prefix):
                return text.rstrip("\n")

    def cmd(self, command: str, reply: str) -> str:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        out = self.line(reply)
        return out

    def submit(self) -> tuple[str, str]:
        """One decision; returns ``(sample id, db status line)``."""
        self.proc.stdin.write("submit\n")
        self.proc.stdin.flush()
        ack = self.line("ACK").split()
        return ack[1], self.line("DB ")[3:]

    def quit(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)


def _journal_entries(folder: Path) -> list[dict]:
    from bson import json_util

    out = []
    for p in sorted(folder.glob("*.jsonl")):
        out += [json_util.loads(x) for x in p.read_text().splitlines() if x.strip()]
    return out


def test_outage_decisions_are_journaled_and_written_exactly_once(servers, tmp_path):
    import pymongo

    server = servers[0]
    journal = tmp_path / "journal"
    env = dict(os.environ, FIFTYONE_DATABASE_URI=server.uri, LABELKIT_JOURNAL_DIR=str(journal),
               LABELKIT_DB_TIMEOUT_MS="1000", LABELKIT_DB_RETRY_S="2",
               LK_DRIVER_IMAGES=str(tmp_path / "images"), LK_DRIVER_N="20", PYTHONUNBUFFERED="1")
    t0 = time.monotonic()
    d = Driver(env, "outage")
    coll_name = d.ready.split()[1]
    try:
        for _ in range(2):
            assert d.submit()[1] == "-"
        server.stop()  # SIGTERM to its PID, mid-session
        offline = []
        for i in range(10):
            sid, status = d.submit()
            offline.append(sid)
            assert status.startswith(f"database unreachable: {i + 1} decision(s) saved locally in {journal}")
            assert "they will be written when it is back" in status
        entries = _journal_entries(journal)
        assert [e["sample_id"] for e in entries] == offline and len(set(offline)) == 10
        assert all(e["set"]["ground_truth"]["detections"] is not None and e["annotator"] == ANNOTATOR
                   for e in entries)
        ids = {e["sample_id"]: e["decision_id"] for e in entries}
        saved = tmp_path / "journal-copy.jsonl"
        (jfile,) = journal.glob("*.jsonl")
        shutil.copy(jfile, saved)

        srv = servers.restart()
        time.sleep(2.1)  # the retry interval: the next write tries the server again
        sid11, status = d.submit()
        assert status == "-", status
        client = pymongo.MongoClient(srv.uri, serverSelectionTimeoutMS=5000)
        coll = client[os.environ.get("FIFTYONE_DATABASE_NAME", "fiftyone")][coll_name]
        docs = {str(x["_id"]): x for x in coll.find({}, {"ground_truth": 0, "predictions": 0})}
        assert sum(x.get("review_status") == "done" for x in docs.values()) == 13
        for sid, did in ids.items():  # each offline decision, written once, by its id
            assert docs[sid]["review_status"] == "done" and docs[sid]["review_decision_id"] == did
        assert docs[sid11]["review_decision_id"] not in ids.values()
        assert jfile.read_text() == ""

        # a replay interrupted by a crash runs again: nothing is written twice, and an
        # older decision never overwrites a newer one
        newer = offline[0]
        coll.update_one({"_id": docs[newer]["_id"]},
                        {"$set": {"review_decision_id": "9" * 19 + "-newer", "review_status": "skipped"}})
        before = {str(x["_id"]): x["last_modified_at"] for x in coll.find({}, {"last_modified_at": 1})}
        shutil.copy(saved, jfile)
        ok, replayed = d.cmd("sync", "SYNC").split()[1:]
        assert ok == "True" and replayed == "10"  # the 10 of the first replay, none more
        after = {str(x["_id"]): x["last_modified_at"] for x in coll.find({}, {"last_modified_at": 1})}
        assert after == before
        assert coll.find_one({"_id": docs[newer]["_id"]})["review_status"] == "skipped"
        assert jfile.read_text() == ""

        # the session's process dies while the server is down: the next one replays
        srv.stop()
        killed = [d.submit()[0] for _ in range(3)]
        pending = {e["sample_id"]: e["decision_id"] for e in _journal_entries(journal)}
        assert list(pending) == killed
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
        # as if a replay had been killed before truncating: the 10 written ones are back
        jfile.write_text(saved.read_text() + jfile.read_text())
        srv = servers.restart()
        d = Driver(env, "outage")
        assert d.ready.split()[3] == "3"  # replayed on start: the 3 new ones only
        coll = pymongo.MongoClient(srv.uri, serverSelectionTimeoutMS=5000)[coll.database.name][coll_name]
        for sid, did in pending.items():
            doc = coll.find_one({"_id": docs[sid]["_id"]})
            assert doc["review_status"] == "done" and doc["review_decision_id"] == did
        assert coll.count_documents({"review_status": "done"}) == 15  # + the one made "skipped"
        assert int(d.ready.split()[2]) == 16  # resumes at the first unreviewed sample
        assert jfile.read_text() == ""
    finally:
        d.quit()
    assert time.monotonic() - t0 < 120


def test_labeler_status_line_says_the_database_is_unreachable(tmp_path, dataset_name, monkeypatch):
    """In-process: the store's writer client points at a port nobody listens on (a real
    pymongo client failing for real); the widget shows the session's plain words."""
    import pymongo
    from _review_driver import make_dataset

    import labelkit as lk
    from labelkit.store import image as store_image
    from labelkit.testing import _free_port

    monkeypatch.setenv("LABELKIT_JOURNAL_DIR", str(tmp_path / "journal"))
    ds = make_dataset(dataset_name, tmp_path / "images", n=4)
    labeler = lk.Labeler(ds, annotator="bo", classes=["a", "b"])
    s = labeler.session
    s.accept_all()
    s.submit()  # online
    assert s.db_status is None and ds.count_values("review_status") == {"done": 1, None: 3}
    dead = pymongo.MongoClient(f"mongodb://127.0.0.1:{_free_port()}", serverSelectionTimeoutMS=300)
    monkeypatch.setattr(store_image, "_writer_client", lambda: dead)
    s.accept_all()
    s.submit()  # offline: journaled, the review moves on
    assert s.index == 2
    assert labeler.status_is_error and labeler.status_text.startswith("database unreachable: 1 decision(s)")
    assert str(tmp_path / "journal") in labeler.status_text
    monkeypatch.undo()
    monkeypatch.setenv("LABELKIT_JOURNAL_DIR", str(tmp_path / "journal"))
    assert s.sync() and s.db_status is None
    assert labeler.status_text == "database reachable again: every decision is written"
    ds.reload()
    assert ds.count_values("review_status") == {"done": 2, None: 2}


def test_sample_never_read_before_the_outage_is_refused_with_the_journal_named(tmp_path, dataset_name,
                                                                               monkeypatch):
    import pymongo
    from _review_driver import make_dataset

    from labelkit.review.session import ReviewSession
    from labelkit.store import image as store_image
    from labelkit.testing import _free_port

    monkeypatch.setenv("LABELKIT_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setattr(store_image, "PREFETCH", 2)
    ds = make_dataset(dataset_name, tmp_path / "images", n=6)
    s = ReviewSession(ds, annotator="cy", classes=["a"])
    dead = pymongo.MongoClient(f"mongodb://127.0.0.1:{_free_port()}", serverSelectionTimeoutMS=300)
    monkeypatch.setattr(store_image, "_writer_client", lambda: dead)
    with pytest.raises(DatabaseError, match=r"database unreachable: 0 decision\(s\).*was not read before"):
        s.goto(5)
    assert s.index == 0
