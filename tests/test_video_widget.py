"""The video Labeler without a browser, on the sample video: the keyframe flow driven
through the widget's handlers (keys, slider, canvas), checked in FiftyOne, then exported
with FiftyOne's video exporters."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

import labelkit as lk
from labelkit import video as lkv
from labelkit.geometry.masks import detection_mask, mask_iou

W, H = 320, 240
PROPOSED = [1, 21, 41, 61]


@pytest.fixture(scope="module")
def video_ds():
    """The sample video with the bundled model's proposals on frames 1, 21, 41, 61."""
    import fiftyone as fo

    name = f"lk-test-vwidget-{uuid.uuid4().hex[:8]}"
    ds = lkv.load_sample_video(name=name)
    lk.propose(ds, lk.models.sample(), field="frames.predictions", frames=PROPOSED, batch_size=2,
               min_confidence=0.3, progress=False)
    yield ds
    if fo.dataset_exists(name):
        fo.delete_dataset(name)


@pytest.fixture
def labeler(video_ds, dataset_name):
    ds = video_ds.clone(dataset_name)  # each test reviews its own copy of the proposals
    lab = lk.Labeler(ds, proposals="frames.predictions", labels="frames.labels",
                     min_confidence=0.6, canvas_size=(640, 480))
    yield lab
    lab.close()


def _frame(lab, field=None) -> dict[int, list]:
    ds = lab.session.samples
    field = field or lab.session.labels_field
    fns, labels = ds.values(["frames.frame_number", field])
    return {fn: list(d.detections) for fn, d in zip(fns[0], labels[0], strict=True) if d is not None}


def _keyframe_every_20(lab) -> None:
    """Shift+A (accept all >= slider), k on frame 1; then the slider to 21, 41, 61."""
    for fn in PROPOSED:
        lab._frame.value = fn
        lab.handle_key("A", shift=True)
        lab.handle_key("k")
        assert "is a keyframe" in lab.status_text, lab.status_text


def _canvas_px(lab, x, y):
    cx, cy = lab.vp.to_canvas(x + 0.5, y + 0.5)
    return int(cy), int(cx)


def test_labeler_on_a_video_dataset_is_the_video_labeler(labeler):
    from labelkit.review.video import VideoReviewSession
    from labelkit.widgets.video import VideoLabeler

    assert type(labeler) is VideoLabeler and isinstance(labeler.session, VideoReviewSession)
    assert (labeler._frame.min, labeler._frame.max, labeler._frame.value) == (1, 61, 1)
    link = labeler._play_link
    assert link.source == (labeler._play, "value") and link.target == (labeler._frame, "value")
    assert labeler._video_bar in labeler.children
    assert "interpolate" in labeler._help.children[0].value
    assert "frames reviewed" in labeler._progress_label.value


def test_keys_and_slider_step_frames_and_jump_between_keyframes(labeler):
    s = labeler.session
    labeler.handle_key(".")
    labeler.handle_key("ArrowRight")
    assert s.frame_number == 3 and labeler._frame.value == 3
    labeler.handle_key(",")
    assert s.frame_number == 2
    labeler._frame.value = 21
    assert s.frame_number == 21
    labeler.handle_key("k")
    labeler._frame.value = 41
    labeler.handle_key("k")
    labeler._frame.value = 30
    labeler.handle_key(">")
    assert s.frame_number == 41
    labeler.handle_key("<")
    labeler.handle_key("<")
    assert s.frame_number == 21 and "★ keyframe" in labeler._frame_info.value
    labeler.handle_key("<")
    assert labeler.status_is_error and "no keyframe before frame 21" in labeler.status_text


def test_masks_are_coloured_by_track_on_every_frame(labeler):
    from labelkit.widgets.render import instance_color

    _keyframe_every_20(labeler)
    colours = {}
    for fn in (1, 21):
        labeler._frame.value = fn
        ov = labeler.render_overlay_array()
        for inst in labeler.session.instances[::-1]:  # the most confident book last
            if inst.label != "book" or not inst.kept:
                continue
            ys, xs = np.nonzero(inst.crop)
            y, x = inst.box[1] + ys[len(ys) // 2], inst.box[0] + xs[len(xs) // 2]
            colours[fn] = (inst.track, tuple(ov[_canvas_px(labeler, x, y)][:3]))
    assert colours[1] == colours[21]
    track, rgb = colours[1]
    assert rgb == instance_color(track)


def test_whole_keyframe_flow_interpolate_edit_and_export(labeler, tmp_path, fo):
    s = labeler.session
    _keyframe_every_20(labeler)
    labels = _frame(labeler)
    assert sorted(labels) == PROPOSED
    keyed = [d for fn in PROPOSED for d in labels[fn]]
    assert all(d.keyframe is True and d.interpolated is False for d in keyed)
    tracks = {d.label: {d2.index for d2 in keyed if d2.label == d.label} for d in keyed}
    assert all(len(t) == 1 for t in tracks.values()), f"one track per object: {tracks}"

    labeler._frame.value = 11
    labeler.handle_key("i")  # interpolate now
    assert "interpolated" in labeler.status_text and not labeler.status_is_error
    assert s.frame_number == 11 and all(i.interpolated for i in s.instances)
    labels = _frame(labeler)
    gt = _frame(labeler, "frames.ground_truth")
    assert set(labels) == set(range(1, 62))
    ious = []
    for fn in range(2, 61):
        if fn in PROPOSED:
            continue
        for d in labels[fn]:
            assert d.interpolated is True and d.keyframe is False
            truth = [g for g in gt[fn] if g.label == d.label]
            if truth:
                ious.append(mask_iou(detection_mask(d, W, H), detection_mask(truth[0], W, H))[0, 0])
    assert np.mean(ious) > 0.7, np.mean(ious)

    # fix an interpolated mask with the brush: that label becomes a keyframe
    labeler._frame.value = 15
    book = next(i for i in s.instances if i.label == "book")
    labeler.handle_key("Tab")
    while s.selected != book.k:
        labeler.handle_key("Tab")
    labeler.handle_key("b")
    x0, y0, x1, y1 = book.box
    pts = [labeler.vp.to_canvas(x, (y0 + y1) / 2) for x in (x1 - 2, x1 + 6)]
    labeler.handle_mouse_down(*pts[0])
    labeler.handle_mouse_move(*pts[1])
    labeler.handle_mouse_up(*pts[1])
    assert s.instance(book.k).area > book.area
    labeler.handle_key(".")  # saved before moving on
    stored = {d.label: d for d in _frame(labeler)[15]}
    assert stored["book"].keyframe is True and stored["book"].edits == 1
    assert stored["mug"].interpolated is True
    assert 15 in s.keyframes

    # the result exports with FiftyOne's video exporters and comes back
    cvat = tmp_path / "cvat"
    lkv.export_video_labels(s.samples, cvat, field=s.labels_field, format="cvat", export_media=False)
    xml = next((cvat / "labels").glob("*.xml")).read_text()
    assert xml.count("<track ") == 3 and 'keyframe="1"' in xml
    vl = tmp_path / "vl"
    lkv.export_video_labels(s.samples, vl, field=s.labels_field, format="video-labels", export_media="symlink")
    back = fo.Dataset.from_dir(dataset_dir=str(vl), dataset_type=fo.types.FiftyOneVideoLabelsDataset,
                               name=f"lk-test-back-{uuid.uuid4().hex[:6]}")
    try:
        fname = next(k for k in back.get_frame_field_schema()
                     if k not in ("id", "frame_number", "created_at", "last_modified_at"))
        dets = back.values(f"frames.{fname}.detections")[0]
        assert len(dets) == 61
        d15 = {d.label: d for d in dets[14]}
        assert bool(d15["book"].keyframe) and not bool(d15["book"].interpolated)
        assert d15["book"].index == stored["book"].index and d15["book"].mask is not None
    finally:
        back.delete()


def test_track_controls_start_a_new_track_or_continue_one(labeler):
    s = labeler.session
    labeler._frame.value = 1
    labeler.handle_key("A", shift=True)
    ks = [i.k for i in s.instances if i.kept]
    assert labeler._track.disabled
    s.select(ks[0])
    assert not labeler._track.disabled and labeler._track.value == s.instance(ks[0]).track
    labeler.handle_key("n")
    new = s.instance(ks[0]).track
    assert new == max(s.tracks) and "starts track" in labeler.status_text
    labeler._track.value = s.instance(ks[1]).track
    labeler._set_track_btn.click()
    assert labeler.status_is_error and "already instance" in labeler.status_text
    labeler._track.value = 99
    labeler._set_track_btn.click()
    assert s.instance(ks[0]).track == 99
    assert "#99" in labeler._list.options[ks[0]][0]
