"""lk.propose on video datasets: frame by frame, batched across frames, bulk writes,
reviewed frames kept, re-runs, unreadable videos, the bundled model on the sample video."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

import labelkit as lk
from labelkit import video as lkv
from labelkit.propose.video import VideoProposeSummary

W, H = 96, 64


def _write_video(path: Path, n: int) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (W, H))
    for i in range(n):
        img = np.zeros((H, W, 3), np.uint8)
        img[:, :, 1] = 10 * i  # frame i+1 has green level 10*i: the proposer reads it back
        writer.write(img)
    writer.release()
    return path


class FrameProbe:
    """A cheap proposer: one box per frame whose confidence encodes the frame's green
    level (so the test can check which frame each result came from); records batch sizes."""

    classes = ["ball", "mug"]
    batch_size = 4

    def __init__(self):
        self.batches: list[int] = []

    def predict(self, images):
        import fiftyone as fo

        self.batches.append(len(images))
        out = []
        for im in images:
            level = float(np.median(im[..., 1]))
            out.append(fo.Detections(detections=[
                fo.Detection(label="ball", bounding_box=[0.1, 0.1, 0.2, 0.2], confidence=0.5 + level / 1000),
                fo.Detection(label="mug", bounding_box=[0.5, 0.5, 0.2, 0.2], confidence=0.05),
            ]))
        return out


@pytest.fixture
def two_videos(fo, dataset_name, tmp_path):
    ds = fo.Dataset(dataset_name)
    for n in (9, 6):
        p = _write_video(tmp_path / f"{uuid.uuid4().hex[:6]}.mp4", n)
        ds.add_sample(fo.Sample(filepath=str(p), metadata=lkv.video_metadata(p)))
    return ds


def _props(ds, field="predictions") -> list[dict[int, object]]:
    fns, vals = ds.values(["frames.frame_number", f"frames.{field}"])
    return [dict(zip(f, v, strict=True)) for f, v in zip(fns, vals, strict=True)]


def test_every_frame_is_proposed_in_batches_across_frames_and_videos(two_videos):
    model = FrameProbe()
    summary = lk.propose(two_videos, model, field="frames.predictions", min_confidence=0.3, progress=False)
    assert isinstance(summary, VideoProposeSummary)
    assert (summary.videos, summary.frames, summary.total_frames) == (2, 15, 15)
    assert model.batches == [4, 4, 4, 3], "batches span the end of one video and the start of the next"
    assert summary.proposals == 15 and summary.per_class == {"ball": 15}, "min_confidence drops the mug"
    assert summary.frames_per_s > 0 and "frames/s" in str(summary)
    for props in _props(two_videos):
        for fn, dets in props.items():
            (d,) = dets.detections
            assert d.confidence == pytest.approx(0.5 + 10 * (fn - 1) / 1000, abs=0.004), fn
            assert d.review is None


def test_every_and_frames_pick_the_frames(two_videos):
    summary = lk.propose(two_videos, FrameProbe(), field="frames.predictions", every=4, progress=False)
    assert summary.frames == 3 + 2
    assert [sorted(f for f, d in p.items() if d is not None) for p in _props(two_videos)] == [[1, 5, 9], [1, 5]]
    summary = lk.propose(two_videos, FrameProbe(), field="frames.predictions", frames=[2, 9, 99], progress=False)
    assert summary.frames == 1 + 1 and summary.skipped_existing == 1, "frame 9 of video 1 is done already"


def test_rerun_does_not_duplicate_and_overwrite_keeps_reviewed_frames(two_videos, fo):
    lk.propose(two_videos, FrameProbe(), field="frames.predictions", progress=False)
    again = lk.propose(two_videos, FrameProbe(), field="frames.predictions", progress=False)
    assert again.frames == 0 and again.skipped_existing == 15
    sid = two_videos.first().id
    first = _props(two_videos)[0]
    reviewed = first[2].copy()
    reviewed.detections[0]["review"] = "accepted"
    two_videos.set_values("frames.predictions", {sid: {2: reviewed}}, key_field="id")
    two_videos.set_values("frames.review_status", {sid: {3: "done"}}, key_field="id")
    keyed = fo.Detection(label="ball", bounding_box=[0.1, 0.1, 0.1, 0.1])
    keyed["keyframe"] = True
    two_videos.set_values("frames.labels", {sid: {4: fo.Detections(detections=[keyed])}}, key_field="id")

    redo = lk.propose(two_videos, FrameProbe(), field="frames.predictions", overwrite=True, progress=False)
    assert redo.skipped_reviewed == 3 and redo.frames == 12
    after = _props(two_videos)[0]
    assert after[2].detections[0].review == "accepted"
    assert [d.id for d in after[3].detections] == [d.id for d in first[3].detections], "done frame kept"
    assert [d.id for d in after[4].detections] == [d.id for d in first[4].detections], "keyframe frame kept"
    assert [d.id for d in after[5].detections] != [d.id for d in first[5].detections], "others redone"
    assert all(len(d.detections) == 1 for d in after.values())


def test_proposals_are_written_in_bulk_not_per_frame(two_videos, monkeypatch):
    from labelkit.store import video as video_store

    calls = []
    real = video_store.write_frame_proposals
    monkeypatch.setattr(video_store, "write_frame_proposals",
                        lambda ds, f, u: calls.append(sum(map(len, u.values()))) or real(ds, f, u))
    lk.propose(two_videos, FrameProbe(), field="frames.predictions", write_every=8, progress=False)
    assert calls == [8, 7]


def test_an_unreadable_video_is_reported_with_its_reason_and_the_others_go_on(two_videos, fo, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    two_videos.add_sample(fo.Sample(filepath=str(bad), metadata=fo.VideoMetadata(
        frame_width=W, frame_height=H, total_frame_count=5)))
    short = _write_video(tmp_path / "short.mp4", 3)
    two_videos.add_sample(fo.Sample(filepath=str(short), metadata=fo.VideoMetadata(
        frame_width=W, frame_height=H, total_frame_count=8)))  # metadata claims more frames

    summary = lk.propose(two_videos, FrameProbe(), field="frames.predictions", progress=False)

    assert summary.frames == 15 + 3
    assert "cannot be decoded" in summary.failed[str(bad)]
    assert "decoded 3 of 8" in summary.failed[str(short)]
    assert "broken.mp4" in str(summary)
    errors = dict(zip(*two_videos.values(["filepath", "propose_error"]), strict=True))
    assert errors[str(bad)] and errors[str(short)] and errors[next(iter(errors))] is None


def test_empty_video_collection_is_a_no_op(fo, dataset_name):
    ds = fo.Dataset(dataset_name)
    ds.media_type = "video"
    summary = lk.propose(ds, FrameProbe(), field="frames.predictions", progress=False)
    assert summary.frames == 0 and summary.failed == {}


def test_bundled_model_finds_the_sample_video_objects_on_a_few_frames(fo):
    name = f"lk-test-vprop-{uuid.uuid4().hex[:8]}"
    ds = lkv.load_sample_video(name=name)
    try:
        summary = lk.propose(ds, lk.models.sample(), field="frames.predictions", frames=[1, 31],
                             batch_size=2, min_confidence=0.5, progress=False)
        assert summary.frames == 2 and not summary.failed
        assert set(summary.per_class) >= {"ball", "mug", "book"}
        fns, props, gts = ds.values(["frames.frame_number", "frames.predictions", "frames.ground_truth"])
        by_fn = dict(zip(fns[0], zip(props[0], gts[0], strict=True), strict=True))
        from labelkit.geometry.masks import detection_mask

        ious = []
        for gt in by_fn[1][1].detections:  # each object of frame 1 is found with a good mask
            best = max(
                (float(lk.masks.mask_iou(detection_mask(p, 320, 240), detection_mask(gt, 320, 240))[0, 0])
                 for p in by_fn[1][0].detections if p.label == gt.label),
                default=0.0,
            )
            ious.append(best)
        assert min(ious) > 0.6, ious
    finally:
        fo.delete_dataset(name)
