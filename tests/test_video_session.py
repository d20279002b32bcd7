"""VideoReviewSession: frames as images, tracks, keyframes, interpolate-now, persistence.

A tiny real video (OpenCV mp4v, 21 frames of 160x120): a "ball" square moving right
3 px per frame and a static "book" rectangle. Proposals (from the true masks) on
frames 1, 11 and 21, plus a low-confidence false "ball" on frame 1.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from labelkit.errors import ReviewError, SchemaError
from labelkit.geometry.masks import crop_to_full, full_to_crop, mask_iou

W, H, N = 160, 120, 21
PROPOSED = (1, 11, 21)


def ball_mask(fn: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    x = 10 + 3 * (fn - 1)
    m[40:60, x : x + 20] = True
    return m


def book_mask(fn: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[80:110, 100:150] = True
    return m


def _write_video(path: Path) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (W, H))
    for fn in range(1, N + 1):
        img = np.full((H, W, 3), 40, np.uint8)
        img[ball_mask(fn)] = (0, 0, 230)  # BGR red
        img[book_mask(fn)] = (200, 80, 0)
        writer.write(img)
    writer.release()
    return path


def _prop(fo, mask, label, conf):
    box, crop = full_to_crop(mask)
    return fo.Detection(label=label, bounding_box=box, mask=crop, confidence=conf)


@pytest.fixture
def video_ds(fo, dataset_name, tmp_path):
    from labelkit import video as lkv

    path = _write_video(tmp_path / f"{uuid.uuid4().hex[:6]}.mp4")
    ds = lkv.load_video(path, name=dataset_name)
    props = {}
    for fn in PROPOSED:
        dets = [_prop(fo, ball_mask(fn), "ball", 0.9), _prop(fo, book_mask(fn), "book", 0.8)]
        if fn == 1:
            spurious = np.zeros((H, W), bool)
            spurious[5:15, 130:150] = True
            dets.append(_prop(fo, spurious, "ball", 0.1))
        props[fn] = fo.Detections(detections=dets)
    ds.set_values("frames.predictions", {ds.first().id: props}, key_field="id")
    return ds


@pytest.fixture
def session(video_ds):
    from labelkit.review.video import VideoReviewSession

    s = VideoReviewSession(video_ds, proposals="frames.predictions", labels="frames.labels")
    yield s
    s.close()


def _stored(ds, fn: int, field: str = "labels") -> list:
    fns, labels = ds.values(["frames.frame_number", f"frames.{field}"])
    for f, d in zip(fns[0], labels[0], strict=True):
        if f == fn:
            return list(d.detections) if d is not None else []
    return []


def _by_label(session, label: str):
    return [i for i in session.instances if i.label == label]


def _keyframes_1_and_11(session):
    """Accept the confident proposals on frames 1 and 11 as keyframes."""
    session.goto_frame(1)
    session.accept_all(min_confidence=0.5)
    session.mark_keyframe()
    session.goto_frame(11)
    session.accept_all(min_confidence=0.5)
    session.mark_keyframe()


# ------------------------------------------------------------------- basics


def test_frames_are_the_queue_and_the_image_is_the_decoded_frame(session):
    assert len(session) == N and session.frame_number == 1 and session.frame_count == N
    session.goto_frame(7)
    img = session.image()
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    ys, xs = np.nonzero(ball_mask(7))
    assert img[ys, xs, 0].mean() > 180, "the ball of frame 7 is red in the decoded RGB frame"
    assert session.index == 6 and session.sample_id == session.videos[0].id


def test_image_dataset_is_refused(fo, dataset_name):
    from labelkit.review.video import VideoReviewSession

    ds = fo.Dataset(dataset_name)
    with pytest.raises(SchemaError, match="not videos"):
        VideoReviewSession(ds)


def test_bad_frame_numbers_and_missing_keyframes_are_review_errors(session):
    with pytest.raises(ReviewError, match="1..21"):
        session.goto_frame(0)
    with pytest.raises(ReviewError, match="1..21"):
        session.goto_frame(22)
    with pytest.raises(ReviewError, match="no keyframe after frame 1"):
        session.next_keyframe()


# ------------------------------------------------------------------- tracks


def test_the_same_object_keeps_its_track_and_colour_across_frames(session):
    from labelkit.widgets.render import color_index, instance_color

    _keyframes_1_and_11(session)
    session.goto_frame(21)  # the ball moved 60 px since frame 1: matched by distance
    tracks21 = {i.label: i.track for i in session.instances}
    session.goto_frame(1)
    tracks1 = {i.label: i.track for i in session.instances if i.kept}
    assert tracks21 == tracks1 and len(set(tracks1.values())) == 2
    ball1 = _by_label(session, "ball")[0]
    session.goto_frame(11)
    ball11 = _by_label(session, "ball")[0]
    assert instance_color(color_index(ball1)) == instance_color(color_index(ball11))
    assert [d.index for d in _stored(session.samples, 11)] == [tracks1[d.label] for d in _stored(session.samples, 11)]


def test_a_proposal_far_from_every_track_gets_a_new_track(session):
    session.goto_frame(1)
    spurious = [i for i in session.instances if i.confidence == pytest.approx(0.1)][0]
    others = {i.track for i in session.instances if i is not spurious}
    assert spurious.track not in others


def test_a_drawn_instance_gets_a_new_track_and_set_track_continues_another(session):
    _keyframes_1_and_11(session)
    session.goto_frame(5)
    k = session.add_polygon([(10, 10), (30, 10), (30, 30), (10, 30)], "ball")
    new = session.instance(k).track
    assert new not in session.tracks[:-1] and new == max(session.tracks)
    ball_track = [d.index for d in _stored(session.samples, 1) if d.label == "ball"][0]
    session.set_track(k, ball_track)
    assert session.instance(k).track == ball_track
    assert session.undo() and session.instance(k).track == new


def test_set_track_refuses_a_track_another_label_of_the_frame_has(session):
    session.goto_frame(1)
    session.accept_all(min_confidence=0.5)
    ball, book = _by_label(session, "ball")[0], _by_label(session, "book")[0]
    with pytest.raises(ReviewError, match=f"already instance {book.k}"):
        session.set_track(ball.k, book.track)


# ------------------------------------------------------------------- keyframes


def test_mark_keyframe_writes_keyframe_labels_rejects_pending_and_marks_the_frame_done(session):
    session.goto_frame(1)
    session.accept_all(min_confidence=0.5)
    assert session.mark_keyframe() == 2
    labels = _stored(session.samples, 1)
    assert sorted(d.label for d in labels) == ["ball", "book"]
    assert all(d.keyframe is True and d.interpolated is False and d.index is not None for d in labels)
    assert all(d.source == "proposal" and d.proposal_iou == 1.0 for d in labels)
    reviews = sorted(str(d.review) for d in _stored(session.samples, 1, "predictions"))
    assert reviews == ["accepted", "accepted", "rejected"]
    assert session.review_status == "done" and session.keyframes == [1]
    assert session.frame_number == 1, "mark_keyframe stays on the frame"


def test_submit_marks_the_keyframe_and_moves_to_the_next_frame(session):
    session.goto_frame(11)
    session.accept_all(min_confidence=0.5)
    session.submit()
    assert session.frame_number == 12
    assert all(d.keyframe for d in _stored(session.samples, 11))
    assert session.progress == (1, N)


def test_moving_to_another_frame_saves_the_decisions_as_a_draft(session):
    session.goto_frame(11)
    ball = _by_label(session, "ball")[0]
    session.accept(ball.k)
    session.next()
    (label,) = _stored(session.samples, 11)
    assert label.label == "ball" and label.keyframe is True
    session.goto_frame(11)
    assert session.review_status is None, "a draft keeps the frame's status"
    assert _by_label(session, "ball")[0].state == "accepted"
    assert _by_label(session, "book")[0].state == "pending"


def test_interpolate_now_fills_the_frames_between_keyframes(session):
    _keyframes_1_and_11(session)
    session.goto_frame(6)
    assert session.instances == [] or all(i.source == "proposal" for i in session.instances)
    summary = session.interpolate()
    assert summary.interpolated == 2 * 9 and summary.tracks == 2
    assert session.frame_number == 6, "stays on the frame, reloaded"
    assert sorted(i.label for i in session.instances) == ["ball", "book"]
    assert all(i.interpolated and not i.keyframe for i in session.instances)
    for fn in range(2, 11):
        labels = _stored(session.samples, fn)
        assert len(labels) == 2 and all(d.interpolated is True and d.keyframe is False for d in labels)
        ball = next(d for d in labels if d.label == "ball")
        assert mask_iou(crop_to_full(ball.bounding_box, ball.mask, W, H), ball_mask(fn))[0, 0] > 0.9
    assert not _stored(session.samples, 15), "nothing after the last keyframe"
    assert all(d.keyframe and not d.interpolated for d in _stored(session.samples, 11))


def test_editing_an_interpolated_label_makes_it_a_keyframe(session):
    _keyframes_1_and_11(session)
    session.interpolate()
    session.goto_frame(5)
    ball = _by_label(session, "ball")[0]
    session.paint(ball.k, [(ball.box[0] + 2, ball.box[1] + 2)], 3)
    session.next()  # saved as a draft
    labels = {d.label: d for d in _stored(session.samples, 5)}
    assert labels["ball"].keyframe is True and labels["ball"].interpolated is False
    assert labels["ball"].edits == 1 and labels["ball"].index == ball.track
    assert labels["book"].interpolated is True and labels["book"].keyframe is False, "untouched stays interpolated"
    assert 5 in session.keyframes
    session.goto_frame(5)
    session.interpolate()  # re-running keeps the new keyframe and interpolates around it
    labels = {d.label: d for d in _stored(session.samples, 5)}
    assert labels["ball"].keyframe is True and labels["ball"].edits == 1


def test_accept_on_an_interpolated_label_confirms_it_as_keyframe_and_undo_reverts(session):
    _keyframes_1_and_11(session)
    session.interpolate()
    session.goto_frame(3)
    book = _by_label(session, "book")[0]
    session.accept(book.k)
    assert session.instance(book.k).keyframe and session.dirty
    session.undo()
    assert not session.dirty
    session.accept(book.k)
    session.save()
    labels = {d.label: d for d in _stored(session.samples, 3)}
    assert labels["book"].keyframe is True and labels["ball"].interpolated is True


def test_accepting_a_proposal_replaces_the_interpolated_label_of_its_track(session, fo):
    _keyframes_1_and_11(session)
    session.goto_frame(21)
    session.accept_all(min_confidence=0.5)
    session.mark_keyframe()
    session.interpolate()
    # a fresh proposal on an interpolated frame continues the track shown there
    sid = session.sample_id
    session.samples.set_values(
        "frames.predictions", {sid: {15: fo.Detections(detections=[_prop(fo, ball_mask(15), "ball", 0.95)])}},
        key_field="id",
    )
    session.goto_frame(15)
    prop = next(i for i in session.instances if i.source == "proposal")
    interp = next(i for i in session.instances if i.interpolated and i.label == "ball")
    assert prop.track == interp.track
    session.accept(prop.k)
    session.mark_keyframe()
    balls = [d for d in _stored(session.samples, 15) if d.label == "ball"]
    assert len(balls) == 1 and balls[0].source == "proposal" and balls[0].keyframe is True


# ------------------------------------------------------------------- persistence


def test_decisions_persist_and_a_new_session_resumes_at_the_last_reviewed_frame(session, video_ds):
    from labelkit.review.video import VideoReviewSession

    _keyframes_1_and_11(session)
    session.interpolate()
    session.goto_frame(4)
    ball = _by_label(session, "ball")[0]
    session.erase(ball.k, [(ball.box[0] + 1, ball.box[1] + 1)], 3)
    session.save()
    tracks = {i.label: i.track for i in session.instances}
    session.close()

    again = VideoReviewSession(video_ds, proposals="frames.predictions", labels="frames.labels")
    try:
        assert again.frame_number == 11, "resumes at the most recently marked keyframe"
        assert again.progress == (2, N) and again.keyframes == [1, 4, 11]
        again.goto_frame(4)
        assert {i.label: i.track for i in again.instances} == tracks
        ball = _by_label(again, "ball")[0]
        assert ball.keyframe and ball.edits == 1 and not ball.interpolated
        again.goto_frame(1)
        assert sorted(i.state for i in again.instances) == ["accepted", "accepted", "rejected"]
    finally:
        again.close()


def test_several_videos_are_one_queue_of_frames(video_ds, tmp_path, fo):
    from labelkit import video as lkv
    from labelkit.review.video import VideoReviewSession

    other = tmp_path / "second.mp4"
    _write_video(other)
    video_ds.add_sample(fo.Sample(filepath=str(other), metadata=lkv.video_metadata(other)))
    s = VideoReviewSession(video_ds, labels="frames.labels")
    try:
        assert len(s) == 2 * N and len(s.videos) == 2
        s.goto_frame(N)
        s.next()
        assert (s.video_index, s.frame_number) == (1, 1) and s.sample_id == s.videos[1].id
        assert s.image().shape == (H, W, 3) and s.instances == []
        s.goto_frame(3, video=0)
        assert (s.video_index, s.frame_number) == (0, 3)
        with pytest.raises(ReviewError, match="no video 2"):
            s.goto_frame(1, video=2)
    finally:
        s.close()


def test_labeler_given_a_video_dataset_name_opens_the_video_labeler(video_ds):
    import labelkit as lk
    from labelkit.widgets.video import VideoLabeler

    lab = lk.Labeler(video_ds.name, proposals="predictions", labels="labels", canvas_size=(320, 240))
    try:
        assert isinstance(lab, VideoLabeler) and lab.session.labels_field == "frames.labels"
        assert lab.session.proposals_field == "frames.predictions"
    finally:
        lab.close()
