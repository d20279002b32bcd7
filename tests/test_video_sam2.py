"""``lk.interpolate(..., method="sam2")``: keyframe masks propagated by the SAM 2 video model.

A tiny random-initialised ``Sam2VideoModel`` (``tiny_hf.tiny_sam2_video``) runs the real
code path: the real processor, the real inference session and propagation, our
conversion of prompts and masks, the store's bulk writes, on the real sample video.
With random weights the masks mean nothing, so these tests check the contract (which
frames get labels, their flags, shapes, what is never touched), not IoU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from tiny_hf import tiny_sam2, tiny_sam2_video

import labelkit as lk
from labelkit import video as lkv
from labelkit.errors import LabelkitError, ModelError, WeightsNotAvailableError
from labelkit.geometry.masks import full_to_crop, pixel_box

W, H = 320, 240  # the sample video


def _propagator(bias: float | None = 10.0, name: str = "tiny-sam2-video") -> lkv.Sam2VideoPropagator:
    """The tiny model; ``bias`` > 0 makes it always see the object (non-empty masks)."""
    model, processor = tiny_sam2_video(object_score_bias=bias)
    return lkv.Sam2VideoPropagator(model, processor, device="cpu", name=name)


def _frame_docs(ds) -> list[dict]:
    import fiftyone.core.odm as foo

    coll = foo.get_db_conn()[ds._frame_collection_name]
    return list(coll.find({}, sort=[("frame_number", 1)]))


def _keyframe_bytes(ds, field: str = "labels") -> dict[int, list[bytes]]:
    """frame number -> the raw BSON of each keyframe label, as stored in MongoDB."""
    import bson

    out = {}
    for doc in _frame_docs(ds):
        dets = (doc.get(field) or {}).get("detections") or []
        keys = [bson.encode(d) for d in dets if d.get("keyframe") is True]
        if keys:
            out[doc["frame_number"]] = keys
    return out


def _labels(ds, field: str = "labels") -> dict[int, list]:
    fns, labels = ds.values(["frames.frame_number", f"frames.{field}"])
    return {fn: (list(d.detections) if d is not None else []) for fn, d in zip(fns[0], labels[0], strict=True)}


def _keyframes_by_track(labels: dict[int, list]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for fn, dets in labels.items():
        for d in dets:
            if getattr(d, "keyframe", None) is True:
                out.setdefault(d.index, []).append(fn)
    return {k: sorted(v) for k, v in out.items()}


def _gap_frames(kfs: dict[int, list[int]]) -> int:
    return sum(b - a - 1 for frames in kfs.values() for a, b in zip(frames, frames[1:], strict=False))


def _write_video(path: Path, n_frames: int, width: int = 160, height: int = 120) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (width, height))
    assert writer.isOpened()
    for i in range(n_frames):
        frame = np.full((height, width, 3), 40, np.uint8)
        frame[30:70, 20 + 5 * i : 60 + 5 * i] = (200, 60, 60)
        writer.write(frame)
    writer.release()
    return path


def _det(fo, mask: np.ndarray | None, index: int = 1, label: str = "obj", keyframe: bool | None = True, box=None):
    if mask is not None:
        box, crop = full_to_crop(mask)
    else:
        crop = None
    det = fo.Detection(label=label, bounding_box=box, mask=crop, index=index)
    if keyframe is not None:
        det["keyframe"] = keyframe
    return det


def _rect(x0: int, y0: int, x1: int, y1: int, w: int = 160, h: int = 120) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def _small_video(fo, name: str, tmp_path: Path, n_frames: int, frames: dict[int, list]):
    path = _write_video(tmp_path / f"{uuid.uuid4().hex[:6]}.mp4", n_frames)
    ds = fo.Dataset(name)
    sample = fo.Sample(filepath=str(path))
    for fn, dets in frames.items():
        sample.frames[fn] = fo.Frame(labels=fo.Detections(detections=list(dets)))
    ds.add_sample(sample)
    return ds


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread: the tiny model gains nothing from more, and on a shared
    2-core machine torch's spinning worker threads slow it down many times over."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------ the sample video, once


@pytest.fixture(scope="module")
def sample_run():
    """The sample video with keyframes every 20 frames, before and after one sam2 run."""
    import fiftyone as fo

    name = f"lk-test-sam2-{uuid.uuid4().hex[:8]}"
    ds = lkv.load_sample_video(name=name)
    lkv.take_keyframes(ds, "frames.ground_truth", "frames.labels", every=20)
    before = _keyframe_bytes(ds)
    prop = _propagator()
    summary = lk.interpolate(ds, field="frames.labels", method="sam2", model=prop)
    prop.sessions_first_run = prop.sessions
    yield ds, summary, before, prop
    if fo.dataset_exists(name):
        fo.delete_dataset(name)


def test_sam2_labels_lie_only_strictly_between_two_keyframes_of_their_track(sample_run):
    ds, summary, _, _ = sample_run
    labels = _labels(ds)
    kfs = _keyframes_by_track(labels)
    assert len(kfs) == 3 and all(len(v) >= 2 for v in kfs.values())
    seen = Counter()
    for fn, dets in labels.items():
        for d in dets:
            if getattr(d, "interpolated", None) is not True:
                continue
            frames = kfs[d.index]
            assert any(a < fn < b for a, b in zip(frames, frames[1:], strict=False)), (d.index, fn, frames)
            seen[d.index] += 1
    assert summary.method == "sam2" and summary.model == "tiny-sam2-video"
    assert summary.interpolated == sum(seen.values()) > 0
    assert summary.interpolated + summary.empty == _gap_frames(kfs)
    assert set(seen) == set(kfs), "every track got propagated labels"


def test_sam2_labels_carry_the_flags_label_and_index_of_their_track(sample_run):
    ds, _, _, _ = sample_run
    gt_label = {d.index: d.label for dets in _labels(ds, "ground_truth").values() for d in dets}
    n = 0
    for dets in _labels(ds).values():
        for d in dets:
            if getattr(d, "keyframe", None) is True:
                continue
            assert getattr(d, "interpolated", None) is True
            assert getattr(d, "keyframe", None) is False
            assert d.label == gt_label[d.index]
            n += 1
    assert n > 0


def test_sam2_masks_are_tight_bool_crops_of_their_boxes(sample_run):
    ds, _, _, _ = sample_run
    n = 0
    for dets in _labels(ds).values():
        for d in dets:
            if getattr(d, "interpolated", None) is not True:
                continue
            x0, y0, x1, y1 = pixel_box(d.bounding_box, W, H)
            assert d.mask.dtype == bool and d.mask.shape == (y1 - y0, x1 - x0)
            assert d.mask[0].any() and d.mask[-1].any() and d.mask[:, 0].any() and d.mask[:, -1].any()
            n += 1
    assert n > 0


def test_sam2_leaves_keyframes_byte_identical(sample_run):
    ds, _, before, _ = sample_run
    assert before and _keyframe_bytes(ds) == before


def test_sam2_rerun_regenerates_without_duplicates(sample_run):
    ds, first, before, prop = sample_run
    ids_before = {d.id for dets in _labels(ds).values() for d in dets if getattr(d, "interpolated", None)}
    again = lk.interpolate(ds, field="frames.labels", method="sam2", model=prop)
    labels = _labels(ds)
    per_frame_track = Counter((fn, d.index) for fn, dets in labels.items() for d in dets)
    assert max(per_frame_track.values()) == 1, "one label per track per frame"
    assert again.interpolated == first.interpolated and again.removed == first.interpolated
    ids_after = {d.id for dets in labels.values() for d in dets if getattr(d, "interpolated", None)}
    assert ids_after == ids_before, "label ids are kept across re-runs"
    assert _keyframe_bytes(ds) == before


def test_sam2_runs_one_session_per_gap_shared_by_the_tracks(sample_run):
    ds, _, _, prop = sample_run
    kfs = _keyframes_by_track(_labels(ds))
    gaps = {(a, b) for frames in kfs.values() for a, b in zip(frames, frames[1:], strict=False) if b - a >= 2}
    assert prop.sessions_first_run == len(gaps) < sum(len(v) - 1 for v in kfs.values())


# --------------------------------------------------------------------- small synthetic videos


def test_each_frame_takes_the_label_of_the_nearer_keyframe(fo, dataset_name, tmp_path):
    # the same track is a "cup" on frame 1 and a "mug" on frame 8: frames 2-4 are nearer 1, 5-7 nearer 8
    ds = _small_video(fo, dataset_name, tmp_path, 8, {
        1: [_det(fo, _rect(20, 30, 60, 70), label="cup")],
        8: [_det(fo, _rect(55, 30, 95, 70), label="mug")],
    })
    s = lk.interpolate(ds, "frames.labels", method="sam2", model=_propagator())
    labels = _labels(ds)
    assert s.interpolated == 6
    assert [labels[f][0].label for f in range(2, 8)] == ["cup"] * 3 + ["mug"] * 3


def test_a_hidden_object_gets_no_label(fo, dataset_name, tmp_path):
    # an object-score head that never sees the object: every propagated mask is empty
    ds = _small_video(fo, dataset_name, tmp_path, 6, {1: [_det(fo, _rect(20, 30, 60, 70))],
                                                      6: [_det(fo, _rect(45, 30, 85, 70))]})
    s = lk.interpolate(ds, "frames.labels", method="sam2", model=_propagator(bias=-100.0))
    assert s.interpolated == 0 and s.empty == 4
    labels = _labels(ds)
    assert all(not dets for f, dets in labels.items() if 1 < f < 6)
    assert len(labels[1]) == len(labels[6]) == 1


def test_a_keyframe_without_a_mask_prompts_with_its_box(fo, dataset_name, tmp_path):
    box = [20 / 160, 30 / 120, 40 / 160, 40 / 120]
    ds = _small_video(fo, dataset_name, tmp_path, 5, {1: [_det(fo, None, box=box)], 5: [_det(fo, None, box=box)]})
    s = lk.interpolate(ds, "frames.labels", method="sam2", model=_propagator())
    assert s.interpolated == 3
    for f in (2, 3, 4):
        (d,) = _labels(ds)[f]
        assert d.mask is not None and d.mask.dtype == bool and d.mask.any()


def test_a_non_keyframe_label_of_the_track_is_kept_and_its_frame_not_filled(fo, dataset_name, tmp_path):
    imported = _det(fo, _rect(30, 30, 50, 50), keyframe=None, label="imported")
    ds = _small_video(fo, dataset_name, tmp_path, 6, {1: [_det(fo, _rect(20, 30, 60, 70))], 3: [imported],
                                                      6: [_det(fo, _rect(45, 30, 85, 70))]})
    s = lk.interpolate(ds, "frames.labels", method="sam2", model=_propagator())
    labels = _labels(ds)
    assert s.skipped_existing == 1 and s.interpolated == 3
    assert [d.label for d in labels[3]] == ["imported"] and labels[3][0].id == imported.id


def test_hold_copies_the_last_keyframe_as_for_the_other_methods(fo, dataset_name, tmp_path):
    last = _det(fo, _rect(45, 30, 85, 70))
    ds = _small_video(fo, dataset_name, tmp_path, 8, {1: [_det(fo, _rect(20, 30, 60, 70))], 5: [last]})
    s = lk.interpolate(ds, "frames.labels", method="sam2", model=_propagator(), hold=2)
    labels = _labels(ds)
    assert s.held == 2 and s.interpolated == 3 + 2
    for f in (6, 7):
        (d,) = labels[f]
        assert d.interpolated is True and d.bounding_box == last.bounding_box
        assert np.array_equal(d.mask, last.mask)
    assert not labels.get(8)


def test_a_video_without_gaps_is_not_decoded(fo, dataset_name, tmp_path):
    ds = _small_video(fo, dataset_name, tmp_path, 4, {1: [_det(fo, _rect(20, 30, 60, 70))],
                                                      2: [_det(fo, _rect(25, 30, 65, 70))]})
    lkv.ensure_video_metadata(ds)  # the frame size is known; the file itself is never read
    Path(ds.first().filepath).write_bytes(b"not a video any more")
    prop = _propagator()
    s = lk.interpolate(ds, "frames.labels", method="sam2", model=prop)
    assert not s.failed and s.samples == 1 and s.interpolated == 0 and prop.sessions == 0


def test_a_video_shorter_than_its_keyframes_is_reported_and_left_unchanged(fo, dataset_name, tmp_path):
    ds = _small_video(fo, dataset_name, tmp_path, 4, {1: [_det(fo, _rect(20, 30, 60, 70))],
                                                      9: [_det(fo, _rect(45, 30, 85, 70))]})
    before = _frame_docs(ds)
    s = lk.interpolate(ds, "frames.labels", method="sam2", model=_propagator())
    (path,) = s.failed
    assert "frame 5 cannot be decoded" in s.failed[path] and "1 -> 9" in s.failed[path]
    assert s.samples == 0 and s.interpolated == 0
    assert _frame_docs(ds) == before


def test_sdf_and_copy_are_unchanged_by_the_sam2_method(fo, dataset_name, tmp_path):
    ds = _small_video(fo, dataset_name, tmp_path, 6, {1: [_det(fo, _rect(20, 30, 60, 70))],
                                                      6: [_det(fo, _rect(45, 30, 85, 70))]})
    lk.interpolate(ds, "frames.labels", method="sam2", model=_propagator())
    s = lk.interpolate(ds, "frames.labels")  # sdf replaces the sam2 labels
    assert s.method == "sdf" and s.model is None and s.removed == 4 and s.interpolated == 4
    x0 = [pixel_box(_labels(ds)[f][0].bounding_box, 160, 120)[0] for f in range(2, 6)]
    assert x0 == [25, 30, 35, 40], "sdf interpolates the box linearly"


# ---------------------------------------------------------------------------- the model


def test_sam2_offline_without_weights_names_the_id_the_cache_and_the_local_folder(tmp_path, dataset_name, fo):
    ds = _small_video(fo, dataset_name, tmp_path, 5, {1: [_det(fo, _rect(20, 30, 60, 70))],
                                                      5: [_det(fo, _rect(45, 30, 85, 70))]})
    before = _frame_docs(ds)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "LABELKIT_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    code = f"import labelkit as lk; lk.interpolate({dataset_name!r}, field='frames.labels', method='sam2')"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("labelkit.errors.WeightsNotAvailableError"), r.stderr[-2000:]
    assert "facebook/sam2.1-hiera-tiny" in last and str(tmp_path / "hf") in last
    assert "lk.interpolate(..., method='sam2', model='/path/to/sam2.1-hiera-tiny')" in last
    assert _frame_docs(ds) == before


def test_sam2_loads_a_local_folder_saved_with_save_pretrained_once_per_process(fo, dataset_name, tmp_path):
    model, processor = tiny_sam2_video(object_score_bias=10.0)
    folder = tmp_path / "tiny-sam2-video"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    ds = _small_video(fo, dataset_name, tmp_path, 5, {1: [_det(fo, _rect(20, 30, 60, 70))],
                                                      5: [_det(fo, _rect(45, 30, 85, 70))]})
    lkv.clear_model_cache()
    s = lk.interpolate(ds, "frames.labels", method="sam2", model=folder, device="cpu")
    assert s.interpolated == 3 and s.model == str(folder)
    loaded = lkv.sam2_video(folder, device="cpu")
    assert lkv.sam2_video(str(folder), device="cpu") is loaded, "cached per process"
    assert lkv.sam2_video(folder, device="cpu", cache=False) is not loaded
    assert loaded.sessions == 1, "interpolate used the cached model"
    lkv.clear_model_cache()


def test_an_image_only_sam2_folder_is_refused(tmp_path):
    model, processor = tiny_sam2()
    model.save_pretrained(tmp_path / "image-sam2")
    processor.save_pretrained(tmp_path / "image-sam2")
    with pytest.raises(ModelError, match="'sam2' model, not a SAM 2 video model"):
        lkv.sam2_video(tmp_path / "image-sam2", cache=False)


def test_a_missing_model_folder_says_so(tmp_path):
    with pytest.raises(WeightsNotAvailableError, match="does not exist"):
        lkv.sam2_video(tmp_path / "nope" / "sam2-video")


def test_the_propagator_refuses_an_image_model():
    model, processor = tiny_sam2()
    with pytest.raises(ModelError, match="not a SAM 2 video model"):
        lkv.Sam2VideoPropagator(model, processor, device="cpu")


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="sdf", model="facebook/sam2.1-hiera-tiny"), "only used by method='sam2'"),
    (dict(method="sam3"), "unknown interpolation method 'sam3'"),
])
def test_bad_method_or_model_arguments_are_refused(fo, dataset_name, tmp_path, kwargs, message):
    ds = _small_video(fo, dataset_name, tmp_path, 3, {1: [_det(fo, _rect(20, 30, 60, 70))]})
    with pytest.raises(LabelkitError, match=message):
        lk.interpolate(ds, "frames.labels", **kwargs)


def test_a_model_of_the_wrong_type_is_refused(fo, dataset_name, tmp_path):
    ds = _small_video(fo, dataset_name, tmp_path, 3, {1: [_det(fo, _rect(20, 30, 60, 70))]})
    with pytest.raises(ModelError, match="got int"):
        lk.interpolate(ds, "frames.labels", method="sam2", model=42)


def test_propagate_returns_every_interior_frame_at_full_resolution():
    prop = _propagator()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 80, 3), dtype=np.uint8) for _ in range(7)]
    mask = np.zeros((48, 80), bool)
    mask[10:30, 20:50] = True
    out = prop.propagate(frames, {5: mask, 9: [0, 0, 20, 20]}, {5: mask, 9: [10, 10, 30, 30]})
    assert sorted(out) == [5, 9]
    for masks in out.values():
        assert sorted(masks) == [1, 2, 3, 4, 5]
        assert all(m.shape == (48, 80) and m.dtype == bool for m in masks.values())
    with pytest.raises(LabelkitError, match="both keyframes"):
        prop.propagate(frames, {1: mask}, {2: mask})
