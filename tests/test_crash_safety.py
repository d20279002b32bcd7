"""Crash safety, tested by killing things: a process submitting review decisions is
SIGKILLed at 20 random points; after each kill the database must hold every
decision ``submit()`` acknowledged, no half-written sample, and a new session must
resume at the right sample.

The reviewing process is a real, separate process (``tests/_review_driver.py``). To
keep 20 restarts cheap on 2 cores it is forked from a "zygote" that imported
FiftyOne and labelkit once (and never connected to the database before forking):
each kill ends a process for good, the next run is a fresh child that connects,
opens a new session and resumes.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("_review_driver.py")
KILLS = 20
ANNOTATOR = "crash-test"


class Lines:
    """Lines of a child's stdout, read with a deadline."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.buf = b""
        self.log: list[str] = []

    def next(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no output from the driver within {timeout} s; last: {self.log[-5:]}")
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"driver exited ({self.proc.poll()}); last: {self.log[-5:]}")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        text = line.decode()
        self.log.append(text)
        return text

    def until(self, prefix: str, timeout: float = 60.0) -> tuple[str, list[str]]:
        seen = []
        while True:
            line = self.next(timeout)
            if line.startswith(prefix):
                return line, seen
            seen.append(line)


def check_database(ds, acked: dict, in_flight: tuple | None, order: list[str]) -> None:
    """The invariants after a kill (see the module docstring)."""
    ds.reload()
    rows = {
        sid: (status, gt, preds, did, who)
        for sid, status, gt, preds, did, who in zip(
            *ds.values(["id", "review_status", "ground_truth", "predictions",
                        "review_decision_id", "reviewed_by"]), strict=True)
    }
    for sid, (status, gt, preds, did, who) in rows.items():
        labels = gt.detections if gt is not None else []
        reviews = {p.id: p["review"] if p.has_field("review") else None for p in preds.detections}
        if labels or any(v is not None for v in reviews.values()):
            # never labels or proposal reviews without the status that goes with them
            assert status == "done", (sid, status, len(labels), reviews)
        if status == "done":
            assert did and who == ANNOTATOR, (sid, did, who)
            assert None not in reviews.values(), (sid, reviews)
            kept = {pid for pid, v in reviews.items() if v in ("accepted", "edited")}
            from_props = [d["proposal_id"] for d in labels if d["source"] == "proposal"]
            assert sorted(from_props) == sorted(kept), (sid, from_props, kept)
        if sid in acked:
            options = {acked[sid]}
            if in_flight is not None and in_flight[0] == sid:
                options.add(in_flight[1])  # written, killed before its ACK line
            assert status == "done" and len(labels) in options, (sid, status, len(labels), options)
        elif in_flight is None or in_flight[0] != sid:
            assert status is None and not labels, (sid, status, len(labels))
    done = [rows[sid][0] == "done" for sid in order]
    if not all(done):
        # decisions go in order: the reviewed samples are a prefix of the collection
        first = done.index(False)
        assert not any(done[first:]), done


@pytest.mark.slow
def test_sigkill_at_20_random_points_loses_no_acknowledged_decision(tmp_path, dataset_name, monkeypatch):
    from _review_driver import make_dataset

    from labelkit.review.session import ReviewSession

    journal = tmp_path / "journal"
    monkeypatch.setenv("LABELKIT_JOURNAL_DIR", str(journal))
    ds = make_dataset(dataset_name, tmp_path / "images", n=30)
    order = ds.values("id")
    env = dict(os.environ, LABELKIT_JOURNAL_DIR=str(journal), PYTHONUNBUFFERED="1")
    zygote = subprocess.Popen([sys.executable, str(DRIVER), "fork", dataset_name, ANNOTATOR],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    out = Lines(zygote)
    rng = random.Random(20240612)
    acked: dict[str, int] = {}
    n_acks = killed_mid_loop = 0
    expected = 0
    t0 = time.monotonic()
    try:
        out.until("ZYGOTE")
        for run in range(KILLS):
            zygote.stdin.write(b"run\n")
            zygote.stdin.flush()
            pid = int(out.until("PID")[0].split()[1])
            ready, _ = out.until("READY")
            first_index = int(ready.split()[2])
            time.sleep(rng.uniform(0.0, 0.4))
            os.kill(pid, signal.SIGKILL)
            _, lines = out.until("EXIT")
            in_flight = None
            acks_here = 0
            for line in lines:
                kind, *rest = line.split()
                if kind == "INTENT":
                    in_flight = (rest[0], int(rest[1]))
                elif kind == "ACK":
                    acked[rest[0]] = int(rest[1])
                    in_flight = None
                    acks_here += 1
            n_acks += acks_here
            killed_mid_loop += acks_here > 0
            check_database(ds, acked, in_flight, order)
            if in_flight is not None:  # written or not: what the database holds is the truth now
                sid, n = in_flight
                gt = ds[sid].ground_truth
                if ds[sid].review_status == "done" and len(gt.detections if gt else []) == n:
                    acked[sid] = n
            # the restarted process resumed where the previous one was killed, and
            # a new session now resumes at the first sample not reviewed
            assert expected is None or first_index == expected, (run, first_index, expected)
            statuses = ds.values("review_status")
            expected = statuses.index(None) if None in statuses else 0
            s = ReviewSession(ds, annotator=ANNOTATOR)
            assert s.index == expected, (run, s.index, expected)
        zygote.stdin.write(b"stop\n")
        zygote.stdin.flush()
        zygote.wait(timeout=30)
    finally:
        if zygote.poll() is None:
            zygote.kill()
    assert n_acks >= KILLS and killed_mid_loop >= KILLS // 2, (n_acks, killed_mid_loop)
    assert not any(journal.glob("*.jsonl")) or all(p.stat().st_size == 0 for p in journal.glob("*.jsonl"))
    assert time.monotonic() - t0 < 120
