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
    sid, future = session._ahead
    return sid, future.result(timeout=60)


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


def test_the_labeler_shows_the_next_image_from_the_preview_decoded_ahead(ds):
    lab = lk.Labeler(ds, canvas_size=(240, 180))
    try:
        key, preview = lab._ahead_preview.result(timeout=60)
        assert key[0] == lab.session.upcoming(timeout=60).filepath and preview is not None
        lab.session.next()
        assert any(level.array is preview for level in lab._src.levels)  # not decoded again
        assert lab._ahead_preview is not None  # and the one after is being prepared
    finally:
        lab.close()


def test_upcoming_is_none_at_the_last_sample(ds):
    s = lk.ReviewSession(ds)
    s.goto(len(s) - 1)
    assert s.upcoming(timeout=1) is None
