"""Video: keyframe interpolation, the sample video, metadata, export, the video notebook."""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

import labelkit as lk
from labelkit import video as lkv
from labelkit.errors import LabelkitError, SchemaError
from labelkit.geometry.masks import crop_to_full, fo_to_xyxy, full_to_crop, mask_iou

ROOT = Path(__file__).resolve().parents[1]
W, H = 160, 120


# --------------------------------------------------------------------------- helpers


def _write_video(path: Path, n_frames: int, width: int = W, height: int = H) -> Path:
    """A tiny real video file (OpenCV mp4v) so metadata can be read from it."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (width, height))
    assert writer.isOpened()
    for i in range(n_frames):
        writer.write(np.full((height, width, 3), (i * 7) % 255, np.uint8))
    writer.release()
    return path


def _disk(cx: float, cy: float, r: float, w: int = W, h: int = H) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r


def _square(cx: float, cy: float, side: float, w: int = W, h: int = H) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (np.abs(xx + 0.5 - cx) <= side / 2) & (np.abs(yy + 0.5 - cy) <= side / 2)


def _l_shape(x0: int, y0: int, w: int = W, h: int = H) -> np.ndarray:
    """A rigid, non-convex object (an L with a notch) with its top-left at (x0, y0)."""
    m = np.zeros((h, w), bool)
    m[y0 : y0 + 30, x0 : x0 + 10] = True
    m[y0 + 20 : y0 + 30, x0 : x0 + 25] = True
    m[y0 + 5 : y0 + 9, x0 + 3 : x0 + 6] = False
    return m


def _det(fo, mask: np.ndarray, index: int | None = 1, label: str = "obj", keyframe: bool | None = True, **attrs):
    box, crop = full_to_crop(mask)
    det = fo.Detection(label=label, bounding_box=box, mask=crop, index=index, **attrs)
    if keyframe is not None:
        det["keyframe"] = keyframe
    return det


def _video_ds(fo, name: str, tmp_path: Path, n_frames: int, frames: dict[int, list], field: str = "labels"):
    path = _write_video(tmp_path / f"{uuid.uuid4().hex[:6]}.mp4", n_frames)
    ds = fo.Dataset(name)
    sample = fo.Sample(filepath=str(path))
    for fn, dets in frames.items():
        sample.frames[fn] = fo.Frame(**{field: fo.Detections(detections=list(dets))})
    ds.add_sample(sample)
    return ds


def _labels(ds, field: str = "labels") -> dict[int, list]:
    fns, labels = ds.values(["frames.frame_number", f"frames.{field}"])
    return {fn: (list(d.detections) if d is not None else []) for fn, d in zip(fns[0], labels[0], strict=True)}


def _full(det) -> np.ndarray:
    return crop_to_full(det.bounding_box, det.mask, W, H)


def _box_iou(a, b) -> float:
    return float(lk.masks.box_iou(fo_to_xyxy(a.bounding_box, W, H), fo_to_xyxy(b.bounding_box, W, H))[0, 0])


# --------------------------------------------------------------------------- geometry


def test_signed_distance_is_negative_inside_and_zero_between_pixels():
    m = np.zeros((7, 7), bool)
    m[2:5, 2:5] = True
    sdf = lkv.signed_distance(m)
    assert (sdf[m] < 0).all() and (sdf[~m] > 0).all()
    assert sdf[3, 3] == pytest.approx(-1.5)
    assert sdf[2, 2] == pytest.approx(-0.5) and sdf[1, 3] == pytest.approx(0.5)


def test_interpolate_box_is_linear():
    np.testing.assert_allclose(lkv.interpolate_box([0, 0, 10, 10], [10, 20, 30, 40], 0.25), [2.5, 5, 15, 17.5])


# --------------------------------------------------------------------------- interpolate: accuracy


@pytest.mark.parametrize("velocity", [(3, 2), (-2, 1)])
def test_linear_rigid_motion_is_reproduced_between_keyframes_10_apart(fo, dataset_name, tmp_path, velocity):
    vx, vy = velocity
    start = (20, 30) if vx > 0 else (120, 30)
    gt = {f: _l_shape(start[0] + vx * (f - 1), start[1] + vy * (f - 1)) for f in range(1, 22)}
    ds = _video_ds(fo, dataset_name, tmp_path, 21, {f: [_det(fo, gt[f])] for f in (1, 11, 21)})

    summary = lk.interpolate(ds, "frames.labels")

    assert summary.interpolated == 18 and summary.tracks == 1 and summary.keyframes == 3
    labels = _labels(ds)
    for f in list(range(2, 11)) + list(range(12, 21)):
        (det,) = labels[f]
        truth = _det(fo, gt[f])
        assert _box_iou(det, truth) >= 0.99, f
        assert mask_iou(_full(det), gt[f])[0, 0] >= 0.95, f


def test_subpixel_motion_and_scaling_stay_accurate(fo, dataset_name, tmp_path):
    gt = {f: _disk(30 + 4.3 * (f - 1), 40 + 1.7 * (f - 1), 12 + 0.6 * (f - 1)) for f in range(1, 12)}
    ds = _video_ds(fo, dataset_name, tmp_path, 11, {f: [_det(fo, gt[f])] for f in (1, 11)})
    lk.interpolate(ds, "frames.labels")
    labels = _labels(ds)
    ious = [mask_iou(_full(labels[f][0]), gt[f])[0, 0] for f in range(2, 11)]
    assert min(ious) >= 0.93
    assert np.mean(ious) >= 0.95


def test_shape_morph_circle_to_square_passes_through_intermediate_areas(fo, dataset_name, tmp_path):
    circle, square = _disk(40, 50, 10), _square(100, 60, 40)
    ds = _video_ds(fo, dataset_name, tmp_path, 11, {1: [_det(fo, circle)], 11: [_det(fo, square)]})
    lk.interpolate(ds, "frames.labels")
    labels = _labels(ds)
    areas = [int(_full(labels[f][0]).sum()) for f in range(2, 11)]
    assert circle.sum() < min(areas) and max(areas) < square.sum()
    assert all(a <= b for a, b in zip(areas, areas[1:], strict=False)), areas
    mid = _full(labels[6][0])  # halfway: neither a copy of the circle nor of the square
    assert mask_iou(mid, circle)[0, 0] < 0.5 and mask_iou(mid, square)[0, 0] < 0.9
    # the shape itself morphs: how much of its own box it fills goes from a disk's
    # pi/4 to a square's 1 (a disk merely stretched onto the moving box stays at pi/4)
    fill = []
    for f in range(2, 11):
        m = _full(labels[f][0])
        x0, y0, x1, y1 = lk.masks.mask_bbox(m)
        fill.append(m.sum() / ((x1 - x0) * (y1 - y0)))
    assert all(a <= b + 1e-9 for a, b in zip(fill, fill[1:], strict=False)), fill
    assert 0.84 < fill[4] < 0.93 and fill[-1] > 0.96, fill


def test_copy_method_holds_the_previous_keyframe(fo, dataset_name, tmp_path):
    a, b = _l_shape(10, 10), _l_shape(60, 40)
    ds = _video_ds(fo, dataset_name, tmp_path, 6, {1: [_det(fo, a)], 6: [_det(fo, b)]})
    lk.interpolate(ds, "frames.labels", method="copy")
    for f in range(2, 6):
        assert (_full(_labels(ds)[f][0]) == a).all()


# --------------------------------------------------------------------------- interpolate: bookkeeping


def test_interpolated_labels_are_flagged_and_keep_track_and_class(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 5, {1: [_det(fo, _l_shape(10, 10), index=7, label="cup")],
                                                   5: [_det(fo, _l_shape(30, 10), index=7, label="cup")]})
    lk.interpolate(ds, "frames.labels")
    labels = _labels(ds)
    for f in (2, 3, 4):
        (det,) = labels[f]
        assert det.interpolated is True and det.keyframe is False
        assert det.index == 7 and det.label == "cup"
    for f in (1, 5):
        assert labels[f][0].keyframe is True and getattr(labels[f][0], "interpolated", None) is None
    flat = ds.get_frame_field_schema(flat=True)
    assert "labels.detections.interpolated" in flat and "labels.detections.keyframe" in flat
    assert ds.match_frames(fo.ViewField("labels.detections").filter(fo.ViewField("interpolated") == True).length() > 0).count("frames") == 3  # noqa: E712


def test_keyframes_are_never_overwritten(fo, dataset_name, tmp_path):
    k1 = _det(fo, _l_shape(10, 10))
    k5 = _det(fo, _l_shape(50, 30), interpolated=True)  # a reviewed interpolation: keyframe wins
    ds = _video_ds(fo, dataset_name, tmp_path, 9, {1: [k1], 5: [k5], 9: [_det(fo, _l_shape(90, 50))]})
    before = {f: [(d.id, list(d.bounding_box), d.mask.copy()) for d in dets] for f, dets in _labels(ds).items()}
    for method in ("sdf", "copy", "sdf"):
        lk.interpolate(ds, "frames.labels", method=method, hold=3)
    after = _labels(ds)
    for f, dets in before.items():
        keys = [d for d in after[f] if d.keyframe]
        assert len(keys) == 1 and len(after[f]) == 1
        assert keys[0].id == dets[0][0] and list(keys[0].bounding_box) == dets[0][1]
        assert (keys[0].mask == dets[0][2]).all()


def test_rerun_after_changing_a_keyframe_regenerates(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 11, {1: [_det(fo, _l_shape(10, 10))], 11: [_det(fo, _l_shape(60, 10))]})
    first = lk.interpolate(ds, "frames.labels")
    old = {f: dets[0] for f, dets in _labels(ds).items() if f not in (1, 11)}

    # a person moves the second keyframe down by 40 px
    frame = ds.first().frames[11]
    moved = _det(fo, _l_shape(60, 50))
    frame["labels"] = fo.Detections(detections=[moved])
    frame.save()
    second = lk.interpolate(ds, "frames.labels")

    assert second.removed == first.interpolated == 9 and second.interpolated == 9
    new = _labels(ds)
    for f in range(2, 11):
        assert len(new[f]) == 1, "no duplicates after a re-run"
        assert new[f][0].id == old[f].id, "label ids stay stable"
        assert new[f][0].bounding_box[1] > old[f].bounding_box[1]  # moved down
        expected = _l_shape(10 + 5 * (f - 1), 10 + 4 * (f - 1))
        assert mask_iou(_full(new[f][0]), expected)[0, 0] >= 0.95


def test_deleting_a_keyframe_removes_its_interpolations(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 9, {1: [_det(fo, _l_shape(10, 10))], 9: [_det(fo, _l_shape(60, 10))]})
    lk.interpolate(ds, "frames.labels")
    frame = ds.first().frames[9]
    frame["labels"] = None
    frame.save()
    summary = lk.interpolate(ds, "frames.labels")
    assert summary.removed == 7 and summary.interpolated == 0
    assert [f for f, dets in _labels(ds).items() if dets] == [1]


def test_single_keyframe_track_yields_nothing_unless_held(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 12, {4: [_det(fo, _l_shape(10, 10))]})
    summary = lk.interpolate(ds, "frames.labels")
    assert summary.interpolated == 0 and summary.single_keyframe_tracks == 1
    assert [f for f, dets in _labels(ds).items() if dets] == [4]

    held = lk.interpolate(ds, "frames.labels", hold=3)
    assert held.held == 3
    assert [f for f, dets in _labels(ds).items() if dets] == [4, 5, 6, 7]
    assert lk.interpolate(ds, "frames.labels", hold=100).held == 8, "hold stops at the video's last frame"


def test_nothing_is_extrapolated_before_the_first_or_after_the_last_keyframe(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 20, {5: [_det(fo, _l_shape(10, 10))], 9: [_det(fo, _l_shape(30, 10))]})
    lk.interpolate(ds, "frames.labels")
    assert [f for f, dets in _labels(ds).items() if dets] == [5, 6, 7, 8, 9]


def test_tracks_are_interpolated_independently(fo, dataset_name, tmp_path):
    a1, a2 = _det(fo, _l_shape(10, 10), index=1), _det(fo, _l_shape(10, 60), index=1)
    b1, b2 = _det(fo, _disk(120, 30, 8), index=2, label="ball"), _det(fo, _disk(100, 30, 8), index=2, label="ball")
    untracked = _det(fo, _disk(80, 90, 5), index=None, label="noise")
    ds = _video_ds(fo, dataset_name, tmp_path, 9, {1: [a1, b1, untracked], 5: [b2], 9: [a2]})
    summary = lk.interpolate(ds, "frames.labels")
    assert summary.tracks == 2 and summary.untracked == 1
    labels = _labels(ds)
    assert sorted(d.index for d in labels[3]) == [1, 2]
    assert [d.index for d in labels[7]] == [1], "track 2 ends at its last keyframe (frame 5)"
    assert any(d.label == "noise" for d in labels[1]), "untracked labels are kept"


def test_instance_links_a_track_when_there_is_no_index(fo, dataset_name, tmp_path):
    inst = fo.Instance()
    a = _det(fo, _l_shape(10, 10), index=None, instance=inst)
    b = _det(fo, _l_shape(40, 10), index=None, instance=inst)
    ds = _video_ds(fo, dataset_name, tmp_path, 5, {1: [a], 5: [b]})
    assert lk.interpolate(ds, "frames.labels", track_by="index").interpolated == 0
    assert lk.interpolate(ds, "frames.labels").interpolated == 3
    assert all(_labels(ds)[f][0].instance.id == inst.id for f in (2, 3, 4))


def test_existing_non_keyframe_labels_of_the_track_are_kept(fo, dataset_name, tmp_path):
    imported = _det(fo, _disk(50, 50, 10), keyframe=None)  # e.g. an imported label, same track
    ds = _video_ds(fo, dataset_name, tmp_path, 5, {1: [_det(fo, _l_shape(10, 10))], 3: [imported],
                                                   5: [_det(fo, _l_shape(30, 10))]})
    summary = lk.interpolate(ds, "frames.labels")
    assert summary.skipped_existing == 1 and summary.interpolated == 2
    (kept,) = _labels(ds)[3]
    assert kept.id == imported.id and getattr(kept, "interpolated", None) is None


def test_max_gap_leaves_long_gaps_empty(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 30, {1: [_det(fo, _l_shape(10, 10))], 5: [_det(fo, _l_shape(20, 10))],
                                                    30: [_det(fo, _l_shape(90, 10))]})
    summary = lk.interpolate(ds, "frames.labels", max_gap=10)
    assert summary.interpolated == 3 and summary.skipped_gaps == 1


def test_labels_hidden_by_a_filtered_view_are_not_lost(fo, dataset_name, tmp_path):
    F = fo.ViewField
    other = _det(fo, _disk(120, 90, 6), index=5, label="other", keyframe=None)
    ds = _video_ds(fo, dataset_name, tmp_path, 5, {1: [_det(fo, _l_shape(10, 10))], 3: [other],
                                                   5: [_det(fo, _l_shape(30, 10))]})
    view = ds.filter_labels("frames.labels", F("label") == "obj")
    lk.interpolate(view, "frames.labels")
    assert sorted(d.label for d in _labels(ds)[3]) == ["obj", "other"]


def test_bulk_writes_not_per_frame_saves(fo, dataset_name, tmp_path, monkeypatch):
    ds = _video_ds(fo, dataset_name, tmp_path, 21, {1: [_det(fo, _l_shape(10, 10))], 21: [_det(fo, _l_shape(90, 50))]})
    calls = []
    real = type(ds).set_values
    monkeypatch.setattr(type(ds), "set_values", lambda self, *a, **k: (calls.append(a[0]), real(self, *a, **k))[1])
    monkeypatch.setattr(fo.Frame, "save", lambda *a, **k: pytest.fail("per-frame save"))
    lk.interpolate(ds, "frames.labels")
    assert calls == ["metadata", "frames.labels"], "one write for the missing metadata, one for the labels"
    calls.clear()
    lk.interpolate(ds, "frames.labels")
    assert calls == ["frames.labels"]


# --------------------------------------------------------------------------- bad input


def test_image_dataset_is_rejected_naming_the_field(fo, dataset_name, coins_dir):
    ds = lk.load_images(coins_dir, name=dataset_name)
    with pytest.raises(SchemaError, match=r"frames\.ground_truth.*video"):
        lk.interpolate(ds, "frames.ground_truth")


def test_missing_field_is_rejected_naming_the_field(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 3, {1: [_det(fo, _l_shape(10, 10))]})
    with pytest.raises(LabelkitError, match=r"frames\.nope"):
        lk.interpolate(ds, "frames.nope")
    with pytest.raises(SchemaError, match=r"'ground_truth' is not a frame field"):
        lk.interpolate(ds, "ground_truth")
    assert lk.interpolate(ds, "labels").field == "frames.labels", "a bare frame field name is accepted"


def test_wrong_label_type_is_rejected(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 3, {})
    s = ds.first()
    s.frames[1]["cls"] = fo.Classification(label="x")
    s.save()
    with pytest.raises(SchemaError, match=r"frames\.cls.*Classification"):
        lk.interpolate(ds, "frames.cls")


@pytest.mark.parametrize("kwargs", [dict(method="spline"), dict(track_by="label"), dict(hold=-1), dict(max_gap=1)])
def test_bad_options_are_rejected(fo, dataset_name, tmp_path, kwargs):
    ds = _video_ds(fo, dataset_name, tmp_path, 3, {1: [_det(fo, _l_shape(10, 10))]})
    with pytest.raises(LabelkitError, match=list(kwargs)[0]):
        lk.interpolate(ds, "frames.labels", **kwargs)


def test_empty_video_collection_is_a_no_op(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 3, {})
    ds.add_frame_field("labels", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    summary = lk.interpolate(ds, "frames.labels")
    assert summary.samples == 1 and summary.interpolated == 0 and summary.frames_written == 0
    assert lk.interpolate(ds.limit(0), "frames.labels").samples == 0


def test_unreadable_video_without_metadata_is_reported_not_fatal(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 5, {1: [_det(fo, _l_shape(10, 10))], 5: [_det(fo, _l_shape(30, 10))]})
    path = Path(ds.first().filepath)
    path.unlink()
    summary = lk.interpolate(ds, "frames.labels")
    assert summary.samples == 0 and path.name in next(iter(summary.failed))
    assert "frame size unknown" in str(summary)

    s = ds.first()  # with metadata, the video file itself is not needed
    s.metadata = fo.VideoMetadata(frame_width=W, frame_height=H, total_frame_count=5)
    s.save()
    assert lk.interpolate(ds, "frames.labels").interpolated == 3


# --------------------------------------------------------------------------- metadata, sample video


def test_video_metadata_without_ffprobe(tmp_path):
    meta = lkv.video_metadata(_write_video(tmp_path / "v.mp4", 7))
    assert (meta.frame_width, meta.frame_height, meta.total_frame_count) == (W, H, 7)
    assert meta.frame_rate == pytest.approx(10.0) and meta.mime_type == "video/mp4"
    with pytest.raises(LabelkitError, match="nope.mp4"):
        lkv.video_metadata(tmp_path / "nope.mp4")


@pytest.fixture(scope="module")
def sample_video():
    import fiftyone as fo

    name = f"lk-test-video-{uuid.uuid4().hex[:8]}"
    ds = lkv.load_sample_video(name=name)
    yield ds
    if fo.dataset_exists(name):
        fo.delete_dataset(name)


def test_sample_video_has_tracks_and_per_frame_ground_truth(sample_video):
    ds = sample_video
    meta = ds.first().metadata
    assert (meta.frame_width, meta.frame_height, meta.total_frame_count) == (320, 240, 61)
    assert ds.count("frames") == 61
    tracks = {t["id"]: t for t in ds.info["labelkit_tracks"]["sample.mp4"]}
    assert {t["motion"] for t in tracks.values()} == {"linear", "non-linear", "occlusion"}
    counts = ds.count_values("frames.ground_truth.detections.index")
    occluded = next(i for i, t in tracks.items() if t["motion"] == "occlusion")
    assert counts[occluded] < 61, "the occluded object disappears behind another"
    assert all(counts[i] == 61 for i in tracks if i != occluded)
    det = ds.first().frames[1].ground_truth.detections[0]
    assert det.mask.dtype == bool and det.mask.shape[0] > 10


def test_sample_video_is_small_and_readable():
    folder = lkv.sample_video_dir()
    assert (folder / "sample.mp4").stat().st_size + (folder / "annotations.json").stat().st_size < 2 * 2**20


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe (Debian package ffmpeg) is not installed")
def test_fiftyone_compute_metadata_reads_the_sample_video(fo, dataset_name):
    ds = fo.Dataset(dataset_name)
    ds.add_sample(fo.Sample(filepath=str(lkv.sample_video_dir() / "sample.mp4")))
    ds.compute_metadata()
    assert ds.first().metadata.total_frame_count == 61


@pytest.mark.parametrize("spacing", [2, 5, 10, 20])
def test_sdf_beats_copy_previous_on_the_sample_video(sample_video, spacing):
    ds = sample_video
    motion = {t["id"]: t["motion"] for t in ds.info["labelkit_tracks"]["sample.mp4"]}
    means = {}
    for method in ("sdf", "copy"):
        field = f"frames.kf{spacing}_{method}"
        lkv.take_keyframes(ds, "frames.ground_truth", field, every=spacing)
        lk.interpolate(ds, field, method=method)
        df = lkv.evaluate_interpolation(ds, field)
        df = df[df.status != "extra"]
        assert len(df) > 0
        df = df.assign(motion=df.track.map(motion))
        means[method] = df.groupby("motion")[["mask_iou", "box_iou"]].mean()
        means[method].loc["all"] = df[["mask_iou", "box_iou"]].mean()
    sdf, copy = means["sdf"], means["copy"]
    assert (sdf["mask_iou"] > copy["mask_iou"]).all(), (sdf, copy)
    assert (sdf["box_iou"] > copy["box_iou"]).all(), (sdf, copy)
    assert sdf.loc["linear", "mask_iou"] >= 0.97


# --------------------------------------------------------------------------- export


def test_cvat_video_export_reimports_tracks_and_keyframes(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 9, {1: [_det(fo, _l_shape(10, 10), index=3)], 9: [_det(fo, _l_shape(60, 40), index=3)]})
    lk.interpolate(ds, "frames.labels")
    out = tmp_path / "cvat"
    lkv.export_video_labels(ds, out, field="frames.labels", format="cvat")
    xml = next((out / "labels").glob("*.xml")).read_text()
    assert xml.count('keyframe="1"') >= 2 and xml.count("<box ") >= 9
    back = fo.Dataset.from_dir(dataset_dir=str(out), dataset_type=fo.types.CVATVideoDataset, name=f"{dataset_name}-cvat")
    try:
        dets = back.values("frames.detections.detections")[0]
        assert [len(d) for d in dets] == [1] * 9
        assert {d[0].index for d in dets} == {3}
        orig = _labels(ds)
        for f in range(1, 10):
            assert _box_iou(dets[f - 1][0], orig[f][0]) > 0.9
    finally:
        back.delete()


def test_video_labels_export_keeps_masks_and_flags(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 5, {1: [_det(fo, _l_shape(10, 10))], 5: [_det(fo, _l_shape(40, 10))]})
    lk.interpolate(ds, "frames.labels")
    out = tmp_path / "vl"
    lkv.export_video_labels(ds, out, field="frames.labels", format="video-labels", export_media="symlink")
    back = fo.Dataset.from_dir(dataset_dir=str(out), dataset_type=fo.types.FiftyOneVideoLabelsDataset,
                               name=f"{dataset_name}-vl")
    try:
        field = next(k for k in back.get_frame_field_schema() if k not in ("id", "frame_number", "created_at", "last_modified_at"))
        dets = back.values(f"frames.{field}.detections")[0]
        orig = _labels(ds)
        for f in range(1, 6):
            (d,) = dets[f - 1]
            assert d.mask is not None and (d.mask.astype(bool) == orig[f][0].mask).all()
            assert bool(getattr(d, "interpolated", False)) == (f not in (1, 5))
            assert d.index == 1
    finally:
        back.delete()


def test_unknown_export_format_is_rejected(fo, dataset_name, tmp_path):
    ds = _video_ds(fo, dataset_name, tmp_path, 3, {1: [_det(fo, _l_shape(10, 10))]})
    with pytest.raises(LabelkitError, match="mp4"):
        lkv.export_video_labels(ds, tmp_path / "x", field="frames.labels", format="mp4")


# --------------------------------------------------------------------------- notebook


@pytest.mark.slow
def test_video_notebook_runs_headless(fo, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    name = f"lk-video-nb-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LABELKIT_VIDEO_DATASET", name)
    monkeypatch.setenv("LABELKIT_NO_APP", "1")
    monkeypatch.setenv("LABELKIT_EXPORT_DIR", str(tmp_path / "exports"))
    path = ROOT / "notebooks" / "03_video_keyframes.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
        outputs = [o for c in nb.cells for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"]
        assert any("image/png" in o.get("data", {}) for o in outputs), "the overlay figure is drawn"
        text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
        assert f"kernel prefix: {sys.prefix}" in text, "runs in this venv's kernel"
        ds = fo.load_dataset(name)
        assert ds.count("frames.labels.detections") > ds.count("frames.ground_truth.detections") * 0.9
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), "the Labeler"
        kf = ds.count_values("frames.reviewed.detections.keyframe")
        assert kf.get(True, 0) >= 3 * 6 and kf.get(False, 0) >= 3 * 40, kf  # reviewed every 10th frame, interpolated
        assert len(ds.distinct("frames.reviewed.detections.index")) == 3, "one track per object"
        assert (tmp_path / "exports" / "video-cvat" / "labels" / "sample.xml").is_file()
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
