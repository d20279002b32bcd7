"""Overlap for agreement studies and inter-annotator agreement (issue #12), on a real MongoDB.

In-process tests use the private test database (conftest); the concurrency and
outage tests run annotators as separate processes (``tests/team_annotator.py``)
against a standalone ``mongod`` (``labelkit.testing.start_mongod``), stopped and
restarted by PID for the outages. Every check counts in the database with pymongo.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from labelkit.errors import ClaimLostError, NothingToClaimError, ReviewError

WORKER = str(Path(__file__).with_name("team_annotator.py"))
PRIMARY = ("review_status", "reviewed_by", "reviewed_at", "review_decision_id", "ground_truth", "predictions")


@pytest.fixture
def journal(tmp_path, monkeypatch):
    folder = tmp_path / "journal"
    monkeypatch.setenv("LABELKIT_JOURNAL_DIR", str(folder))
    return folder


@pytest.fixture
def make(tmp_path, dataset_name, journal):
    """``make(n)``: a dataset of ``n`` 64x48 images with three mask proposals each."""
    from _review_driver import make_dataset

    return lambda n: make_dataset(dataset_name, tmp_path / "images", n=n)


def _session(ds, who, **kw):
    from labelkit.review.session import ReviewSession

    kw.setdefault("batch_size", 10)
    return ReviewSession(ds, annotator=who, classes=["a", "b"], **kw)


def _docs(ds, fields=None) -> dict:
    proj = None if fields is None else dict.fromkeys(fields, 1)
    return {str(d["_id"]): d for d in ds._sample_collection.find({}, proj)}


def _primary(ds) -> dict:
    return {i: {k: d.get(k) for k in PRIMARY} for i, d in _docs(ds).items()}


# ------------------------------------------------------------------ setting, marking
def test_the_setting_is_recorded_once_and_a_different_one_is_refused_writing_nothing(make):
    from bad_input import dump

    ds = make(6)
    a = _session(ds, "ana", overlap=2, overlap_fraction=0.5, batch_size=1)
    assert a.overlap == {"copies": 2, "fraction": 0.5, "salt": ds.name}
    a.close()
    before = dump()
    with pytest.raises(ReviewError, match=r"overlap=2, overlap_fraction=0.5; you asked for overlap=3"):
        _session(ds, "bob", overlap=3, overlap_fraction=0.5)
    with pytest.raises(ReviewError, match=r"overlap_fraction=0.5; you asked for overlap=2, overlap_fraction=0.2"):
        _session(ds, "bob", overlap=2, overlap_fraction=0.2)
    assert dump() == before  # refused before anything was written
    b = _session(ds, "bob", batch_size=1)  # no overlap= : follows the recorded study
    assert b.overlap == a.overlap
    b.close()


def test_overlapped_samples_are_chosen_from_their_ids_and_marked_exactly_once(make):
    from labelkit.store import overlap

    ds = make(40)
    a = _session(ds, "ana", overlap=3, overlap_fraction=0.5, batch_size=1)
    docs = _docs(ds, ["review_copies"])
    expect = {i: 3 if overlap.chosen(i, ds.name, 0.5) else 1 for i in docs}
    assert {i: d["review_copies"] for i, d in docs.items()} == expect
    assert 8 <= Counter(expect.values())[3] <= 32  # about half (sha1 is no coin, but close)
    stamps = {i: d.get("last_modified_at") for i, d in _docs(ds, ["last_modified_at"]).items()}
    assert overlap.mark(a.store._collection(), ds, a.overlap) == 0  # again: nothing to mark
    b = _session(ds, "bob", batch_size=1)  # opening again marks nothing either
    assert {i: d.get("last_modified_at") for i, d in _docs(ds, ["last_modified_at"]).items()} == stamps
    assert {i: d["review_copies"] for i, d in _docs(ds, ["review_copies"]).items()} == expect
    a.close()
    b.close()


def test_a_single_user_review_ignores_the_study_and_writes_no_overlap_field(make):
    ds = make(3)
    s = _session(ds, None, batch_size=None)
    assert s.claims is None and s.overlap is None
    s.accept_all()
    s.submit()
    schema = ds.get_field_schema()
    assert "review_copies" not in schema and "ground_truth_overlap" not in schema


# ------------------------------------------------------------------- blind copies
def test_a_copy_is_reviewed_blind_and_writes_only_the_copy_fields(make):
    ds = make(2)
    ana = _session(ds, "ana", overlap=2, overlap_fraction=1.0, batch_size=2)
    first = ana.sample_id
    ana.accept_all()
    ana.add_polygon([(2, 2), (12, 2), (12, 10), (2, 10)], "b")  # a human label only ana drew
    ana.submit()
    primary = _primary(ds)
    bob = _session(ds, "bob", batch_size=1)
    assert bob.sample_id == first and bob.is_copy and bob.review_status is None
    # blind: the proposals, with no decision on them, and none of ana's labels
    assert [i.state for i in bob.instances] == ["pending"] * 3
    assert all(i.source == "proposal" for i in bob.instances)
    ana_label_ids = {d["_id"] for d in primary[first]["ground_truth"]["detections"]}
    assert not {i.label_id for i in bob.instances} & {str(x) for x in ana_label_ids}
    bob.accept(0)
    bob.save()  # a draft of the copy
    bob.reload()
    assert [i.state for i in bob.instances] == ["accepted", "pending", "pending"]  # his own draft
    assert _docs(ds, ["overlap_done"])[first].get("overlap_done") in (None, [])
    bob.accept(1)
    bob.submit()
    assert _primary(ds) == primary  # ana's review, byte for byte
    doc = _docs(ds)[first]
    assert doc["overlap_done"] == ["bob"] and doc["overlap_claims"] == []
    dets = doc["ground_truth_overlap"]["detections"]
    assert [d["annotator"] for d in dets] == ["bob", "bob"]
    assert [d["label"] for d in dets] == ["a", "b"]
    assert [r["annotator"] for r in doc["overlap_reviews"]] == ["bob"]
    assert doc["overlap_reviews"][0]["review_seconds"] >= 0
    ana.close()
    bob.close()


def test_an_annotator_never_gets_a_copy_of_their_own_primary_nor_the_primary_of_their_copy(make):
    from labelkit.store.claims import Claims

    ds = make(4)
    ana = _session(ds, "ana", overlap=2, overlap_fraction=1.0, batch_size=2)
    for _ in range(4):  # ana reviews every primary; her next batches hold no copies
        assert not ana.is_copy
        ana.submit()
    assert ana.claims.copies == set() and len(ana) == 4
    ana.close()
    with pytest.raises(NothingToClaimError):  # only copies of her own primaries are left
        _session(ds, "ana", batch_size=2)
    bob = _session(ds, "bob", batch_size=10)
    assert len(bob) == 4 and bob.claims.copies == set(bob._ids)
    bob.close()

    # a copy holder is never given the primary: cy takes the copy of a sample whose
    # primary claim is then released, and still cannot claim its primary
    cy = Claims(ds, "cy", ttl=60, batch_size=1)
    dee = Claims(ds, "dee", ttl=60, batch_size=1)
    ds.set_values("review_status", [None] * 4)  # a fresh round on the same marks
    ds.set_values("overlap_done", [[]] * 4)
    (sid,) = dee.claim(1)
    assert not dee.is_copy(sid)
    (got,) = cy.claim(1)
    assert got == sid and cy.is_copy(sid)
    dee.release()
    assert not cy._try(sid)  # the atomic filter refuses it too
    assert sid not in cy.claim(10)
    cy.close()
    dee.close()


def test_a_lost_copy_claim_is_refused_and_nothing_is_written(make):
    ds = make(1)
    ana = _session(ds, "ana", overlap=2, overlap_fraction=1.0, batch_size=1)
    bob = _session(ds, "bob", batch_size=1, claim_ttl=1.0)
    bob.claims.stop_renewal()  # bob's laptop sleeps
    assert bob.is_copy
    time.sleep(1.3)
    cy = _session(ds, "cy", batch_size=1)  # bob's copy claim expired: its slot is taken
    assert cy.is_copy and cy.sample_id == bob.sample_id
    before = _docs(ds)
    bob.accept_all()
    with pytest.raises(ClaimLostError) as info:
        bob.submit()
    msg = str(info.value)
    assert bob.sample_id in msg and "'cy'" in msg and "NOT saved" in msg
    assert _docs(ds) == before
    with pytest.raises(ClaimLostError):  # a draft is refused too (or dropped), never written
        bob.skip()
    assert _docs(ds) == before
    for s in (ana, bob, cy):
        s.close()


def test_skipping_a_copy_frees_its_slot_for_someone_else(make):
    ds = make(1)
    ana = _session(ds, "ana", overlap=2, overlap_fraction=1.0, batch_size=1)
    bob = _session(ds, "bob", batch_size=1)
    sid = bob.sample_id
    bob.skip()
    doc = _docs(ds)[sid]
    assert doc["overlap_skipped"] == ["bob"] and doc["overlap_claims"] == [] and not doc.get("overlap_done")
    assert bob.claims.claim(5) == []  # not offered to bob again
    cy = _session(ds, "cy", batch_size=1)
    assert cy.sample_id == sid and cy.is_copy
    for s in (ana, bob, cy):
        s.close()


# -------------------------------------------------------------- team-mode fixes
def test_skip_of_a_missing_image_in_a_team_review_releases_the_claim(make):
    ds = make(2)
    ana = _session(ds, "ana", batch_size=2)
    sid = ana.sample_id
    os.remove(ana.filepath)
    ana.skip()
    doc = _docs(ds)[sid]
    assert (doc["review_status"], doc["reviewed_by"], doc["claimed_by"]) == ("skipped", "ana", None)
    ana.close()


def test_skip_of_a_missing_image_after_a_takeover_is_refused_and_writes_nothing(make):
    ds = make(1)
    ana = _session(ds, "ana", batch_size=1, claim_ttl=1.0)
    ana.claims.stop_renewal()
    time.sleep(1.3)
    bob = _session(ds, "bob", batch_size=1)
    assert bob.sample_id == ana.sample_id
    os.remove(ana.filepath)
    before = _docs(ds)
    with pytest.raises(ClaimLostError, match="'bob'"):
        ana.skip()
    assert _docs(ds) == before and before[ana.sample_id]["claimed_by"] == "bob"
    ana.close()
    bob.close()


# ------------------------------------------------------------------- agreement
def _put(ds, sample_id, field, dets):
    import fiftyone as fo

    s = ds[sample_id]
    s[field] = fo.Detections(detections=dets)
    s.save()


def _det(label, box_px, mask, who=None, size=(100, 100)):
    """A detection with a pixel box ``(x0, y0, x1, y1)`` and its cropped mask."""
    from labelkit.geometry import masks
    from labelkit.store.schema import make_label

    w, h = size
    d = make_label(label, masks.pixel_box_to_fo(*box_px, w, h), np.asarray(mask, bool),
                   source="human", proposal_id=None, proposal_iou=None, edits=1)
    if who:
        d["annotator"] = who
    return d


@pytest.fixture
def study(fo, dataset_name):
    """Two 100x100 samples in an overlap study with constructed masks: ``ball`` drawn by
    ana and bob with mask IoU exactly 0.5, ``mug`` with IoU exactly 1.0, and one mug
    only ana drew; on the second sample ana's and bob's balls do not overlap at all."""
    ds = fo.Dataset(dataset_name)
    ds.add_samples([fo.Sample(filepath=f"/nonexistent/s{i}.png", metadata=fo.ImageMetadata(width=100, height=100))
                    for i in range(3)])
    for name, ftype, sub in (("review_copies", fo.IntField, None), ("overlap_done", fo.ListField, fo.StringField)):
        ds.add_sample_field(name, ftype, **({"subfield": sub} if sub else {}))
    ids = ds.values("id")
    full = np.ones((20, 20), bool)
    half = full.copy()
    half[10:] = False  # the top half: 200 of ana's 400 pixels
    _put(ds, ids[0], "ground_truth", [_det("ball", (10, 10, 30, 30), full), _det("mug", (50, 50, 70, 70), full),
                                       _det("mug", (80, 0, 90, 10), np.ones((10, 10), bool))])
    _put(ds, ids[0], "ground_truth_overlap", [_det("ball", (10, 10, 30, 30), half, "bob"),
                                               _det("mug", (50, 50, 70, 70), full, "bob")])
    _put(ds, ids[1], "ground_truth", [_det("ball", (0, 0, 10, 10), np.ones((10, 10), bool))])
    _put(ds, ids[1], "ground_truth_overlap", [_det("ball", (50, 50, 60, 60), np.ones((10, 10), bool), "bob")])
    ds.set_values("review_copies", [2, 2, 2])
    ds.set_values("review_status", ["done", "done", None])  # sample 2: primary not done, no comparison
    ds.set_values("reviewed_by", ["ana", "ana", None])
    ds.set_values("overlap_done", [["bob"], ["bob"], ["bob"]])
    return ds


def test_agreement_numbers_on_masks_with_known_iou(study):
    import labelkit as lk

    r = lk.agreement(study, iou=0.5)
    assert (r.n_overlapped, r.n_compared, r.n_reviews) == (3, 2, 4)
    ball, mug = r.per_class.loc["ball"], r.per_class.loc["mug"]
    # ball: one pair at IoU 0.5 (matched at iou >= 0.5), one pair that does not overlap
    assert (ball["comparisons"], ball["instances"], ball["matched"]) == (2, 4, 1)
    assert ball["mean_iou"] == pytest.approx(0.5) and ball["matched_share"] == pytest.approx(0.5)
    assert ball["pq"] == pytest.approx(0.25)
    # mug: identical masks (IoU 1.0) plus one only ana drew
    assert (mug["comparisons"], mug["instances"], mug["matched"]) == (1, 3, 1)
    assert mug["mean_iou"] == pytest.approx(1.0) and mug["matched_share"] == pytest.approx(2 / 3)
    o = r.overall
    assert (o["comparisons"], o["instances"], o["matched"]) == (2, 7, 2)
    assert o["mean_iou"] == pytest.approx(0.75) and o["matched_share"] == pytest.approx(4 / 7)
    assert o["pq"] == pytest.approx(2 * 1.5 / 7)
    (pair,) = r.pairs.to_dict("records")
    assert (pair["annotator_a"], pair["annotator_b"], pair["samples"], pair["matched"]) == ("ana", "bob", 2, 2)
    text = r.to_text()
    assert "2 of 3 overlapped samples" in text and "ana / bob" in text and "0.75" in text
    assert "<td>ana / bob</td>" in r._repr_html_()
    # a stricter threshold: the 0.5 pair no longer matches
    strict = lk.agreement(study, iou=0.6)
    assert strict.per_class.loc["ball", "matched"] == 0 and np.isnan(strict.per_class.loc["ball", "mean_iou"])
    assert strict.overall["matched"] == 1


def test_agreement_compares_every_pair_of_three_annotators(study):
    import labelkit as lk

    sid = study.values("id")[0]
    s = study[sid]
    dets = list(s["ground_truth_overlap"].detections)
    dets.append(_det("mug", (50, 50, 70, 70), np.ones((20, 20), bool), "cy"))
    _put(study, sid, "ground_truth_overlap", dets)
    s = study[sid]
    s["overlap_done"] = ["bob", "cy"]
    s.save()
    r = lk.agreement(study)
    pairs = {(p["annotator_a"], p["annotator_b"]): p for p in r.pairs.to_dict("records")}
    assert set(pairs) == {("ana", "bob"), ("ana", "cy"), ("bob", "cy")}
    # ana vs cy on sample 0: the mug matches (IoU 1), ana's ball and second mug do not
    assert (pairs[("ana", "cy")]["instances"], pairs[("ana", "cy")]["matched"]) == (4, 1)
    # bob vs cy: the mug matches, bob's ball does not
    assert (pairs[("bob", "cy")]["instances"], pairs[("bob", "cy")]["matched"]) == (3, 1)
    assert r.n_reviews == 5


def test_crop_iou_equals_full_mask_iou(rng):
    from labelkit.audit.agreement import _decode, pairwise_iou
    from labelkit.geometry import masks

    w, h = 57, 41
    dets = []
    for _ in range(12):
        x0, y0 = rng.integers(0, 40), rng.integers(0, 30)
        x1, y1 = x0 + rng.integers(1, 17), y0 + rng.integers(1, 11)
        crop = rng.random((rng.integers(1, 20), rng.integers(1, 20))) > 0.4  # resized to the box
        dets.append(_det("x", (x0, y0, min(x1, w), min(y1, h)), crop, size=(w, h)))
    got = pairwise_iou([_decode(d, w, h) for d in dets[:6]], [_decode(d, w, h) for d in dets[6:]])
    assert np.allclose(got, masks.detections_iou(dets[:6], dets[6:], w, h))
    assert got.max() > 0  # some pairs overlap: the comparison is not vacuous


def test_reviews_end_to_end_feed_agreement_audit_and_progress(make):
    import labelkit as lk

    ds = make(3)
    ana = _session(ds, "ana", overlap=2, overlap_fraction=1.0, batch_size=3)
    for _ in range(3):
        ana.accept_all()  # classes a, b, a
        ana.submit()
    bob = _session(ds, "bob", batch_size=3)
    for _ in range(3):
        assert bob.is_copy
        bob.accept(0)  # only the first 'a' (the same mask as ana's: IoU 1.0)
        bob.submit()
    r = lk.agreement(ds, labels="ground_truth")
    assert r.n_compared == 3
    a, b = r.per_class.loc["a"], r.per_class.loc["b"]
    assert (a["instances"], a["matched"], a["mean_iou"]) == (9, 3, 1.0)
    assert (b["instances"], b["matched"]) == (3, 0)
    assert r.overall["matched_share"] == pytest.approx(0.5)
    report = lk.audit(ds, proposals="predictions", labels="ground_truth", n_boot=0)
    assert report.agreement is not None and report.agreement.overall == r.overall
    assert report.overall["final_instances"] == 9  # ana's labels only: copies are not audited
    assert "inter-annotator agreement" in report.to_text() and "lk-agreement" in report.to_html(plots=False)
    p = lk.progress(ds)
    assert (p.copies_total, p.copies_done, p.copies_claimed) == (3, 3, 0)
    assert p.annotators["bob"].done == 3 and p.annotators["bob"].copies == 3
    assert p.annotators["ana"].done == 3 and p.annotators["ana"].copies == 0
    assert "overlap: 3 of 3 extra reviews done" in p.line()
    ana.close()
    bob.close()


def test_audit_without_a_study_has_no_agreement_section(make):
    import labelkit as lk

    ds = make(2)
    s = _session(ds, None, batch_size=None)
    s.accept_all()
    s.submit()
    report = lk.audit(ds, n_boot=0)
    assert report.agreement is None and "agreement" not in report.to_text()


# --------------------------------------------------------------- separate processes
def _env(uri: str, **extra) -> dict:
    env = os.environ.copy()
    env.update(FIFTYONE_DATABASE_URI=uri, FIFTYONE_DO_NOT_TRACK="true", FIFTYONE_DATABASE_VALIDATION="false",
               PYTHONUNBUFFERED="1", **extra)
    env.pop("FIFTYONE_DATABASE_DIR", None)
    return env


def _setup(uri: str, name: str, n: int, tmp: Path, *extra: str) -> None:
    r = subprocess.run([sys.executable, WORKER, "setup", name, str(n), str(tmp / name), *extra],
                       env=_env(uri), capture_output=True, text=True, timeout=180)
    assert r.returncode == 0 and f"SETUP {name} {n}" in r.stdout, r.stdout + r.stderr


def _coll(uri: str, name: str):
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    db = client["fiftyone"]
    return client, db[db["datasets"].find_one({"name": name})["sample_collection_name"]]


def _review(uri, name, who, log, *extra, env=None):
    return subprocess.Popen([sys.executable, WORKER, "review", name, who, str(log), *extra],
                            env=env or _env(uri), text=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from labelkit.testing import start_mongod

    srv = start_mongod(auth=True, data_dir=tmp_path_factory.mktemp("overlap-db"))
    yield srv
    srv.stop()


@pytest.mark.parametrize("k, annotators, n, prepared", [
    (2, 3, 16, True),
    (2, 4, 12, False),  # a fresh dataset: every process declares the fields at the same moment
    pytest.param(3, 4, 12, True, marks=pytest.mark.slow),
])
def test_annotators_in_separate_processes_give_overlapped_samples_exactly_k_reviews(server, tmp_path, k,
                                                                                     annotators, n, prepared):
    name = f"overlap-{k}-{'prepared' if prepared else 'fresh'}"
    # prepared: the host records the study and declares the fields first; fresh: the
    # annotators' sessions open a dataset that has none of labelkit's fields, all at once
    _setup(server.uri, name, n, tmp_path, *(("--overlap", str(k), "--fraction", "0.5") if prepared else ()))
    logs = [tmp_path / f"a{i}.jsonl" for i in range(annotators)]
    procs = [_review(server.uri, name, f"ann{i}", logs[i], "--batch", "3", "--pace", "0.02,0.08",
                     "--overlap", str(k), "--fraction", "0.5") for i in range(annotators)]
    deadline = time.monotonic() + 300
    for p in procs:
        p.wait(timeout=max(1, deadline - time.monotonic()))
        assert p.returncode == 0
    events = [json.loads(x) for log in logs if log.exists() for x in log.read_text().splitlines() if x.strip()]
    client, coll = _coll(server.uri, name)
    with client:
        docs = list(coll.find({}, {"review_copies": 1, "review_status": 1, "reviewed_by": 1, "claimed_by": 1,
                                   "overlap_done": 1, "overlap_claims": 1, "overlap_skipped": 1,
                                   "ground_truth_overlap": 1, "ground_truth": 1}))
    assert len(docs) == n
    overlapped = [d for d in docs if d["review_copies"] == k]
    single = [d for d in docs if d["review_copies"] == 1]
    assert len(overlapped) + len(single) == n and overlapped and single
    for d in docs:  # counted in the database
        assert d["review_status"] == "done" and d.get("claimed_by") is None
        assert len(d["ground_truth"]["detections"]) == 1
        assert not d.get("overlap_claims") and not d.get("overlap_skipped")
    for d in single:
        assert not d.get("overlap_done") and not (d.get("ground_truth_overlap") or {}).get("detections")
    for d in overlapped:
        reviewers = [d["reviewed_by"], *d["overlap_done"]]
        assert len(reviewers) == k and len(set(reviewers)) == k, reviewers  # k reviews, k people
        copy_dets = d["ground_truth_overlap"]["detections"]
        assert sorted(x["annotator"] for x in copy_dets) == sorted(d["overlap_done"])  # one each
    submits = [e for e in events if e["ev"] == "submit"]
    assert len(submits) == n + (k - 1) * len(overlapped)  # every review submitted exactly once
    assert Counter((e["id"], e["who"]) for e in submits).most_common(1)[0][1] == 1
    assert Counter(e["copy"] for e in submits)[True] == (k - 1) * len(overlapped)


class _Stdin:
    """A ``team_annotator.py stdin`` process."""

    def __init__(self, env, name, who, *extra):
        self.proc = subprocess.Popen([sys.executable, WORKER, "stdin", name, who, *extra], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
        self.ready = self.line("READY")

    def line(self, prefix: str) -> str:
        while True:
            text = self.proc.stdout.readline()
            if not text:
                raise AssertionError(f"annotator exited with {self.proc.wait()}")
            if text.startswith(prefix):
                return text.rstrip("\n")

    def cmd(self, command: str, *replies: str) -> list[str]:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return [self.line(r) for r in replies]

    def quit(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)


def _journal(folder: Path) -> list[dict]:
    from bson import json_util

    return [json_util.loads(x) for p in sorted(folder.glob("*.jsonl")) for x in p.read_text().splitlines() if x.strip()]


def test_copy_decisions_journaled_in_an_outage_are_written_exactly_once(servers, tmp_path):
    srv = servers[0]
    jdir = tmp_path / "journal"
    env = _env(srv.uri, LABELKIT_JOURNAL_DIR=str(jdir), LABELKIT_DB_TIMEOUT_MS="1000", LABELKIT_DB_RETRY_S="2")
    _setup(srv.uri, "ovl-outage", 6, tmp_path)
    bob = _review(srv.uri, "ovl-outage", "bob", tmp_path / "bob.jsonl", "--batch", "6", "--overlap", "2",
                  "--fraction", "1", env=env)
    assert bob.wait(timeout=180) == 0  # bob reviews every primary
    client, coll = _coll(srv.uri, "ovl-outage")
    primary = {str(d["_id"]): {k: d.get(k) for k in PRIMARY} for d in coll.find({})}
    client.close()
    ana = _Stdin(env, "ovl-outage", "ana", "--batch", "6", "--overlap", "2", "--fraction", "1")
    try:
        ack, db = ana.cmd("submit", "ACK", "DB")
        assert ack.endswith(" copy") and db == "DB -"
        time.sleep(1.5)  # the session reads its next samples ahead (what an outage goes on with)
        srv.stop()
        offline = []
        for i in range(3):
            ack, db = ana.cmd("submit", "ACK", "DB")
            assert ack.endswith(" copy")
            offline.append(ack.split()[1])
            assert db.startswith(f"DB database unreachable: {i + 1} decision(s) saved locally in {jdir}")
        entries = _journal(jdir)
        assert [e["kind"] for e in entries] == ["copy"] * 3 and [e["sample_id"] for e in entries] == offline
        ids = {e["sample_id"]: e["decision_id"] for e in entries}
        (jfile,) = jdir.glob("*.jsonl")
        saved = tmp_path / "journal-copy.jsonl"
        shutil.copy(jfile, saved)

        srv = servers.restart()
        time.sleep(2.2)  # the retry interval
        ack, db = ana.cmd("submit", "ACK", "DB")
        assert db == "DB -" and ack.endswith(" copy")
        client, coll = _coll(srv.uri, "ovl-outage")
        with client:
            docs = {str(d["_id"]): d for d in coll.find({})}
            for sid, did in ids.items():  # each journaled copy written once, by its decision id
                d = docs[sid]
                assert d["overlap_done"] == ["ana"] and d["overlap_claims"] == []
                assert [x["annotator"] for x in d["ground_truth_overlap"]["detections"]] == ["ana"]
                assert [(r["annotator"], r["decision_id"]) for r in d["overlap_reviews"]] == [("ana", did)]
            assert {i: {k: d.get(k) for k in PRIMARY} for i, d in docs.items()} == primary  # bob's, untouched
            assert jfile.read_text() == ""
            # an interrupted replay runs again: nothing is written twice
            before = {i: d["last_modified_at"] for i, d in docs.items()}
            shutil.copy(saved, jfile)
            (sync,) = ana.cmd("sync", "SYNC")
            assert sync == "SYNC True 3"
            assert {str(d["_id"]): d["last_modified_at"] for d in coll.find({})} == before
            lost, db = ana.cmd("lost", "LOST", "DB")
            assert lost == "LOST -" and db == "DB -"
            assert jfile.read_text() == ""
    finally:
        ana.quit()


def test_a_journaled_decision_whose_claim_was_taken_over_is_reported_not_dropped(servers, tmp_path):
    from bson import ObjectId

    srv = servers[0]
    jdir = tmp_path / "journal"
    env = _env(srv.uri, LABELKIT_JOURNAL_DIR=str(jdir), LABELKIT_DB_TIMEOUT_MS="1000", LABELKIT_DB_RETRY_S="2")
    _setup(srv.uri, "ovl-lost", 4, tmp_path)
    ana = _Stdin(env, "ovl-lost", "ana", "--batch", "2", "--ttl", "3")
    try:
        time.sleep(1.5)  # the session reads its next samples ahead (what an outage goes on with)
        srv.stop()
        ack, db = ana.cmd("submit", "ACK", "DB")
        sid = ack.split()[1]
        assert db.startswith("DB database unreachable: 1 decision(s)")
        (entry,) = _journal(jdir)
        time.sleep(4)  # ana's claim on it expires while the server is away
        srv = servers.restart()
        time.sleep(2)  # ana's renewal keeps her other claim
        cy = _review(srv.uri, "ovl-lost", "cy", tmp_path / "cy.jsonl", "--batch", "4", env=env)
        assert cy.wait(timeout=180) == 0
        client, coll = _coll(srv.uri, "ovl-lost")
        with client:
            taken = coll.find_one({"_id": ObjectId(sid)})
            assert taken["reviewed_by"] == "cy"
            (sync,) = ana.cmd("sync", "SYNC")
            assert sync == "SYNC True 0"  # refused: nothing of ana's was written over cy's review
            lost, db = ana.cmd("lost", "LOST", "DB")
            assert lost == f"LOST {sid}"
            assert "NOT written because the claim was lost" in db and "'cy'" in db and sid in db
            after = coll.find_one({"_id": taken["_id"]})
            assert after == taken and after["review_decision_id"] != entry["decision_id"]
    finally:
        ana.quit()


def test_the_labeler_opens_an_overlap_study_and_marks_extra_reviews(make):
    import labelkit as lk

    ds = make(2)
    ana = lk.Labeler(ds, annotator="ana", classes=["a", "b"], overlap=2, overlap_fraction=1.0, batch_size=1)
    assert ana.session.overlap["copies"] == 2 and not ana.session.is_copy
    bob = lk.Labeler(ds, annotator="bob", classes=["a", "b"], batch_size=1)
    assert bob.session.is_copy and "extra review for the agreement study" in bob._progress_label.value
    assert "overlap: 0 of 2 extra reviews done, 1 claimed" in bob._team.value
    with pytest.raises(ReviewError, match="claim=False"):
        lk.Labeler(ds, annotator="cy", overlap=2, claim=False)
    ana.session.close()
    bob.session.close()
