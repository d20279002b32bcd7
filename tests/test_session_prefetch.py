"""The review session prepares the next sample in the background (record, masks, decoded
image) and uses it only while it is still what the database holds."""

from __future__ import annotations

import numpy as np
import pytest

import labelkit as lk


def _scene(i):
    img = np.full((90, 120, 3), 30 + 20 * i, np.uint8)
    img[20:60, 10:50] = (220, 60, 50)
    return img


@pytest.fixture
def ds(fo, tmp_path, dataset_name):
    from PIL import Image

    for i in range(4):
        Image.fromarray(_scene(i)).save(tmp_path / f"{i}.png")
    ds = lk.load_images(tmp_path, name=dataset_name)

    def fn(images):
        return [{"boxes": [[10, 20, 50, 60]], "labels": [0], "scores": [0.9]} for _ in images]

    lk.propose(ds, lk.models.from_callable(fn, classes=["obj"]), field="predictions")
    return ds


def _ahead(session):
    """``(sid, (stamp, record, image))`` of the background read of the next sample."""
    sid, future = session._ahead
    got = future.result(timeout=60)
    return sid, (got.stamp, got.record, got.image)


def test_next_shows_the_record_and_image_prepared_in_the_background(ds):
    s = lk.ReviewSession(ds)
    sid, (stamp, record, image) = _ahead(s)
    assert sid == s._ids[1] and image.shape == (90, 120, 3)
    s.next()
    assert s.sample_id == sid
    assert s._record is record and s.image() is image
    assert [i.label for i in s.instances] == ["obj"]


def test_a_sample_changed_after_it_was_read_ahead_is_read_again(ds):
    s = lk.ReviewSession(ds)
    sid, (_, record, _) = _ahead(s)
    sample = ds[sid]
    sample["predictions"].detections[0].label = "changed"
    sample.save()
    s.next()
    assert s._record is not record
    assert [i.label for i in s.instances] == ["changed"]


def test_a_decision_by_someone_else_invalidates_the_read_ahead(ds):
    s = lk.ReviewSession(ds)
    sid, (_, record, _) = _ahead(s)
    other = lk.ReviewSession(ds)
    other.goto(1)
    other.accept(0)
    other.submit()
    s.next()
    assert s._record is not record and s.review_status == "done"
    assert s.instances[0].state == "accepted"


def test_a_jump_elsewhere_reads_that_sample_and_prepares_the_one_after(ds):
    s = lk.ReviewSession(ds)
    _ahead(s)
    s.goto(3)
    assert s.sample_id == s._ids[3] and s._ahead is None  # the last sample: nothing after it
    s.goto(1)
    assert s._ahead[0] == s._ids[2]


def _png_rgba(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def _prepared(lab):
    prep = lab._ahead_preview.result(timeout=60)
    assert prep is not None
    return prep


def test_the_labeler_shows_the_next_sample_from_what_was_prepared_in_the_background(ds):
    lab = lk.Labeler(ds, canvas_size=(240, 180))
    try:
        prep = _prepared(lab)
        record, instances = lab.session.upcoming_instances(timeout=60)
        assert prep.key[0] == record.filepath and prep.preview is not None
        assert prep.image_bytes[:2] == b"\xff\xd8" and prep.overlay_bytes[:4] == b"\x89PNG"
        lab.session.next()
        assert any(level.array is prep.preview for level in lab._src.levels)  # not decoded again
        assert lab.session.instances == list(instances) and lab.session.instances[0] is instances[0]
        assert lab.timings["prepared"] == 3  # image and overlay bytes both used
        assert lab._image_bytes is prep.image_bytes and lab._overlay_bytes is prep.overlay_bytes
        # the prepared overlay is what rendering it now gives
        rgba = lab.render_overlay_array()
        shown = _png_rgba(prep.overlay_bytes)
        assert rgba[..., 3].any()
        assert np.array_equal(shown[..., 3] > 0, rgba[..., 3] > 0)
        assert np.array_equal(shown[rgba[..., 3] > 0], rgba[rgba[..., 3] > 0])
        assert lab._ahead_preview is not None  # and the one after is being prepared
    finally:
        lab.close()


def test_a_prepared_overlay_is_not_used_after_that_sample_changed_in_the_database(ds):
    lab = lk.Labeler(ds, canvas_size=(240, 180))
    try:
        prep = _prepared(lab)
        other = lk.ReviewSession(ds)
        other.goto(1)
        other.reject(0)
        other.submit()
        lab.session.next()
        assert lab.session.instances[0].state == "rejected"
        assert lab.timings["prepared"] == 1  # the image view only: the overlay is rendered again
        assert lab._overlay_bytes is not prep.overlay_bytes
        hatch = lab.render_overlay_array()
        assert np.all(hatch[hatch[..., 3] > 0][:, :3] == 150)  # drawn as rejected, not as prepared
    finally:
        lab.close()


def test_a_prepared_overlay_is_not_used_after_the_threshold_moved(ds):
    lab = lk.Labeler(ds, canvas_size=(240, 180))
    try:
        prep = _prepared(lab)
        assert _png_rgba(prep.overlay_bytes)[..., 3].any()  # rendered with the proposal shown
        lab._conf.value = 0.95  # the 0.9 proposal is now below the slider: hidden
        lab.session.next()
        assert lab.session.instances[0].below_threshold
        assert lab.timings["prepared"] == 1
        assert not lab.render_overlay_array()[..., 3].any()
    finally:
        lab.close()


def test_upcoming_is_none_at_the_last_sample(ds):
    s = lk.ReviewSession(ds)
    s.goto(len(s) - 1)
    assert s.upcoming(timeout=1) is None


# ------------------------------------------------- the store's read-ahead window


def test_the_read_ahead_window_is_read_in_the_background_thread(ds, monkeypatch):
    import threading

    from labelkit.store.image import ReviewStore

    reads = []
    orig = ReviewStore._record

    def spy(self, sample):
        reads.append((sample.id, threading.current_thread().name))
        return orig(self, sample)

    monkeypatch.setattr(ReviewStore, "_record", spy)
    s = lk.ReviewSession(ds)
    assert s.wait_ahead(timeout=60)
    on_caller = [sid for sid, thread in reads if thread == threading.current_thread().name]
    assert on_caller == [s._ids[0]]  # the caller reads the sample it opens, nothing more
    assert all(thread.startswith("labelkit-prefetch") for sid, thread in reads if sid != s._ids[0])
    assert all(s.store._cache_get(sid) is not None for sid in s._ids[1:])  # the window is cached


def test_a_window_read_pauses_when_asked_and_returns_the_rest(ds):
    from labelkit.store.image import ReviewStore

    store = ReviewStore(ds, proposals="predictions", labels="ground_truth")
    ids = store.sample_ids()[1:]
    rest = store.prefetch(ids, pause=lambda: True)
    assert len(rest) == len(ids) - 1 and sum(store._cache_get(i) is not None for i in ids) == 1
    assert store.prefetch(rest) == [] and all(store._cache_get(i) is not None for i in ids)
    assert store.to_prefetch(ids) == []  # all cached: nothing to top up


def test_a_background_read_never_replaces_a_record_cached_meanwhile(ds):
    from labelkit.store.image import ReviewStore

    store = ReviewStore(ds, proposals="predictions", labels="ground_truth")
    sid = store.sample_ids()[1]
    fresh = store.load(sid)
    _, stale = store.read(sid)
    assert store._cache_put(stale, replace=False) is False
    assert store._cache_get(sid) is fresh


def test_the_next_sample_read_ahead_opens_offline_even_outside_the_window(ds, tmp_path, monkeypatch):
    import pymongo

    from labelkit.store import image as store_image
    from labelkit.testing import _free_port

    monkeypatch.setenv("LABELKIT_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setattr(store_image, "PREFETCH", 1)  # a window that is never topped up
    s = lk.ReviewSession(ds, annotator="di")
    assert s.wait_ahead(timeout=60) and s.store._cache_get(s._ids[1]) is None
    dead = pymongo.MongoClient(f"mongodb://127.0.0.1:{_free_port()}", serverSelectionTimeoutMS=300)
    monkeypatch.setattr(store_image, "_writer_client", lambda: dead)
    s.next()
    assert s.index == 1 and s.store.offline
    assert [i.label for i in s.instances] == ["obj"]
