"""Proposer output is checked against the contract (labelkit.models.validate), and
reviews refuse decisions on images that went missing.

The refusals themselves (NaN boxes, bad scores, unknown labels, ...) are in the
bad-input corpus (``tests/bad_input/cases_proposals.py``); here: what is repaired
(clipping), what is allowed (``allow_new_classes``), what valid output looks like
afterwards (unchanged), that a bad batch writes nothing, and what still works on a
missing image (``skip``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import labelkit as lk
import labelkit.models as lkm
from labelkit.errors import MissingImageError, ProposalError
from labelkit.geometry import masks
from labelkit.models.validate import ProposalWarning, check_results

W, H = 320, 240


def _inside(box) -> bool:
    """Relative [x, y, w, h] within [0, 1]; the far edges may pass 1 by labelkit's 0.001 px
    (masks.pixel_box_to_fo), which FiftyOne's truncating arithmetic needs for the last pixel."""
    x, y, w, h = box
    return all(0 <= v <= 1 for v in box) and x + w <= 1 + 1e-3 / W and y + h <= 1 + 1e-3 / H


def _image() -> np.ndarray:
    img = np.full((H, W, 3), 90, np.uint8)
    img[60:140, 40:120] = (220, 40, 40)
    return img


@pytest.fixture
def ds(fo, dataset_name, tmp_path):
    """Three real 320x240 JPEGs, no proposals yet."""
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(_image()).save(folder / f"img{i}.jpg", quality=95)
    return lk.load_images(folder, name=dataset_name)


def _detections_model(fo, *dets, **kwargs):
    return lkm.from_callable(lambda ims: [fo.Detections(detections=[d.copy() for d in dets]) for _ in ims],
                             classes=["ball", "mug"], **kwargs)


# ------------------------------------------------------------------- clipping
def test_a_detection_partly_outside_is_clipped_with_its_mask_and_a_warning(fo):
    # a 40x20 px box starting 10 px left of the image: its mask columns 10..40 are inside
    mask = np.zeros((20, 40), bool)
    mask[:, 5:15] = True  # straddles the left edge
    mask[:, 30:] = True  # inside, at image x 20..30
    det = fo.Detection(label="ball", bounding_box=[-10 / W, 50 / H, 40 / W, 20 / H], mask=mask, confidence=0.8)
    with pytest.warns(ProposalWarning, match=r"clipped.*image 0 detection 0"):
        (out,) = _detections_model(fo, det).predict([_image()])
    (d,) = out.detections
    assert _inside(d.bounding_box)
    x0, y0, x1, y1 = masks.pixel_box(d.bounding_box, W, H)
    assert (x0, y0, x1, y1) == (0, 50, 30, 70)
    assert d.mask.shape == (y1 - y0, x1 - x0)
    np.testing.assert_array_equal(d.mask, mask[:, 10:])


def test_a_box_only_detection_partly_outside_is_clipped_to_the_image(fo):
    det = fo.Detection(label="mug", bounding_box=[0.9, 0.8, 0.3, 0.4], confidence=0.5)
    with pytest.warns(ProposalWarning):
        (out,) = _detections_model(fo, det).predict([_image()])
    assert out.detections[0].bounding_box == pytest.approx([0.9, 0.8, 0.1, 0.2])


def test_a_raw_box_partly_outside_is_clipped_with_a_warning():
    fn = lambda ims: [{"boxes": [[-20, 10, 50, 300]], "labels": [0], "scores": [0.7]} for _ in ims]  # noqa: E731
    with pytest.warns(ProposalWarning, match=r"box \[-20, 10, 50, 300\] -> \[0, 10, 50, 240\]"):
        (out,) = lkm.from_callable(fn, ["ball"]).predict([_image()])
    (d,) = out.detections
    assert d.bounding_box == pytest.approx([0, 10 / H, 50 / W, 230 / H])


def test_clipping_is_stored_clipped_by_propose(fo, ds):
    mask = np.ones((30, 60), bool)
    det = fo.Detection(label="ball", bounding_box=[280 / W, 100 / H, 60 / W, 30 / H], mask=mask, confidence=0.9)
    with pytest.warns(ProposalWarning):
        summary = lk.propose(ds, _detections_model(fo, det), progress=False)
    assert summary.proposals == 3
    ds.reload()
    for d in (s.predictions.detections[0] for s in ds):
        assert _inside(d.bounding_box) and masks.pixel_box(d.bounding_box, W, H) == (280, 100, 320, 130)
        assert d.mask.shape == (30, 40)


def test_a_plain_proposer_partly_outside_is_clipped_too(fo, ds):
    class Plain:
        classes = ["ball"]

        def predict(self, images):
            return [fo.Detections(detections=[fo.Detection(label="ball", bounding_box=[-0.1, -0.1, 0.3, 0.3],
                                                           confidence=0.9)]) for _ in images]

    with pytest.warns(ProposalWarning, match="proposer Plain"):
        lk.propose(ds, Plain(), progress=False)
    boxes = [b for bs in ds.values("predictions.detections.bounding_box") for b in bs]
    assert boxes == [pytest.approx([0, 0, 0.2, 0.2])] * 3


def test_a_clipped_detection_whose_mask_is_all_outside_is_dropped_and_named(fo):
    mask = np.zeros((20, 40), bool)
    mask[:, :10] = True  # only the part left of the image is on
    det = fo.Detection(label="ball", bounding_box=[-10 / W, 0.1, 40 / W, 20 / H], mask=mask, confidence=0.8)
    with pytest.warns(ProposalWarning, match="dropped"):
        (out,) = _detections_model(fo, det).predict([_image()])
    assert out.detections == []


def test_sub_pixel_overhang_is_rounding_not_clipping(fo):
    # labelkit's own boxes overhang the right edge by 0.001 px
    box = masks.pixel_box_to_fo(300, 200, W, H, W, H)
    assert box[0] + box[2] > 1
    det = fo.Detection(label="ball", bounding_box=box, mask=np.ones((40, 20), bool), confidence=0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProposalWarning)
        (out,) = _detections_model(fo, det).predict([_image()])
    assert out.detections[0].bounding_box == box


def test_a_tiny_negative_x_becomes_zero_with_the_same_pixels(fo):
    det = fo.Detection(label="ball", bounding_box=[-1e-9, 0.1, 0.25, 0.25], mask=np.ones((60, 80), bool))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProposalWarning)
        (out,) = _detections_model(fo, det).predict([_image()])
    (d,) = out.detections
    assert d.bounding_box[0] == 0 and masks.pixel_box(d.bounding_box, W, H) == masks.pixel_box(
        det.bounding_box, W, H)


# ----------------------------------------------------------- allow_new_classes
def test_unknown_string_labels_are_refused_by_default():
    fn = lambda ims: [{"boxes": [[0, 0, 5, 5]], "labels": ["cat"], "scores": [0.5]} for _ in ims]  # noqa: E731
    with pytest.raises(ProposalError, match="label 'cat'"):
        lkm.from_callable(fn, classes=["dog"]).predict([_image()])


def test_allow_new_classes_keeps_unknown_string_labels_and_the_labeler_offers_them(ds):
    fn = lambda ims: [{"boxes": [[40, 60, 120, 140]], "labels": ["cat"], "scores": [0.9]} for _ in ims]  # noqa: E731
    model = lkm.from_callable(fn, classes=["dog"], allow_new_classes=True)
    assert model.allow_new_classes is True
    lk.propose(ds, model, progress=False)
    assert ds.distinct("predictions.detections.label") == ["cat"]
    assert "cat" in lk.ReviewSession(ds).classes


def test_a_plain_proposer_opts_in_with_an_attribute(fo, ds):
    class Open:
        classes: list = []
        allow_new_classes = True

        def predict(self, images):
            return [fo.Detections(detections=[fo.Detection(label="new", bounding_box=[0.1, 0.1, 0.2, 0.2],
                                                           confidence=0.9)]) for _ in images]

    lk.propose(ds, Open(), progress=False)
    assert ds.distinct("predictions.detections.label") == ["new"]


# ------------------------------------------------------------ valid is unchanged
def test_valid_detections_pass_through_as_the_same_objects(fo):
    crop = np.zeros((60, 80), bool)
    crop[10:50, 10:70] = True
    dets = fo.Detections(detections=[
        fo.Detection(label="ball", bounding_box=masks.pixel_box_to_fo(40, 60, 120, 120, W, H), mask=crop,
                     confidence=0.9),
        fo.Detection(label="mug", bounding_box=[0.5, 0.5, 0.5, 0.5], confidence=None),
        fo.Detection(label="mug", bounding_box=[0.0, 0.0, 1.0, 1.0], mask=np.ones((H, W), np.uint8),
                     confidence=1.0),
    ])

    class Model:
        classes = ["ball", "mug"]

    with warnings.catch_warnings():
        warnings.simplefilter("error", ProposalWarning)
        (out,) = check_results([dets], [(H, W)], Model())
    assert all(a is b for a, b in zip(out.detections, dets.detections, strict=True))


def test_a_valid_models_output_is_what_propose_writes(fo, ds):
    def fn(images):
        m = np.zeros((len(images), H, W), bool)
        m[:, 60:140, 40:120] = True
        return [{"boxes": [[40, 60, 120, 140], [0, 0, W, H]], "labels": [0, 1], "scores": [0.9, 0.6],
                 "masks": m[i:i + 1].repeat(2, 0)} for i in range(len(images))]

    model = lkm.from_callable(fn, ["ball", "mug"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProposalWarning)
        (expected,) = model.predict([_image()])
        lk.propose(ds, model, progress=False, min_confidence=0.0)
    got = ds.first().predictions.detections
    assert [(d.label, d.confidence) for d in got] == [(d.label, d.confidence) for d in expected.detections]
    assert [d.bounding_box for d in got] == [d.bounding_box for d in expected.detections]
    for a, b in zip(got, expected.detections, strict=True):
        np.testing.assert_array_equal(a.mask, b.mask)
    assert masks.pixel_box(got[0].bounding_box, W, H) == (40, 60, 120, 140)


# ------------------------------------------------------------------- batches
@pytest.mark.parametrize(
    ("bad_batch", "bad_image", "written"),
    [(1, 1, [False, False, False]), (2, 0, [True, True, False])],
    ids=["second-image-of-first-batch", "second-batch"],
)
def test_a_bad_image_in_a_batch_writes_nothing_of_that_batch(ds, bad_batch, bad_image, written):
    calls = []

    def fn(images):
        calls.append(len(images))
        out = [{"boxes": [[40, 60, 120, 140]], "labels": [0], "scores": [0.9]} for _ in images]
        if len(calls) == bad_batch:
            out[bad_image]["scores"] = [math.nan]
        return out

    model = lkm.from_callable(fn, ["ball"])
    with pytest.raises(ProposalError, match=f"image {bad_image} .*score nan"):
        lk.propose(ds, model, batch_size=2, write_every=1, progress=False)
    assert [v is not None for v in ds.values("predictions")] == written


def test_the_error_names_the_image_of_the_batch_and_the_detection():
    fn = lambda ims: [  # noqa: E731
        {"boxes": [[0, 0, 5, 5], [1, 1, 4, 4]], "labels": [0, 0], "scores": [0.9, 0.5 + i]}
        for i in range(len(ims))
    ]
    with pytest.raises(ProposalError) as info:
        lkm.from_callable(fn, ["x"]).predict([np.zeros((10, 20, 3), np.uint8)] * 2)
    msg = str(info.value)
    assert "image 1 (20x10), detection 1" in msg and "score 1.5" in msg
    assert info.value.reason == "score 1.5 is not in [0, 1]"


def test_invalid_entries_are_refused_even_below_the_confidence_floor():
    fn = lambda ims: [{"boxes": [[math.nan, 0, 5, 5]], "labels": [0], "scores": [0.01]} for _ in ims]  # noqa: E731
    with pytest.raises(ProposalError, match="not finite"):
        lkm.from_callable(fn, ["x"], min_confidence=0.5).predict([_image()])


@pytest.mark.parametrize(
    ("det", "message"),
    [
        (dict(bounding_box=[0.1, 0.1, -0.2, 0.2]), "empty or inverted"),
        (dict(bounding_box=[0.1, 0.1, 0.0, 0.2]), "empty or inverted"),
        (dict(bounding_box=[0.1, 0.1, 0.2]), "not 4 numbers"),
        (dict(bounding_box=[-0.5, 0.1, 0.2, 0.2]), "wholly outside"),
        (dict(bounding_box=[0.1, 0.1, 0.25, 0.25], mask=np.ones((60, 80, 1), bool)), "must be 2-D"),
        (dict(bounding_box=[0.1, 0.1, 0.25, 0.25], mask=np.full((60, 80), 255, np.uint8)), "other than 0/1"),
        (dict(bounding_box=[0.1, 0.1, 0.25, 0.25], mask=np.ones((58, 80), bool)), "expected shape (60, 80)"),
        (dict(bounding_box=[0.1, 0.1, 0.2, 0.2], confidence=math.inf), "score inf"),
        (dict(bounding_box=[0.1, 0.1, 0.2, 0.2], label=None), "label None"),
    ],
    ids=["negative-w", "zero-w", "three-numbers", "left-of-image", "3d-mask", "255-mask", "mask-2px-off",
         "inf-score", "no-label"],
)
def test_malformed_fo_detections_are_refused(fo, det, message):
    det = {"label": "ball", "confidence": 0.5, **det}
    model = _detections_model(fo, fo.Detection(**det))
    with pytest.raises(ProposalError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model.predict([_image()])


def test_a_mask_one_pixel_off_its_box_is_accepted(fo):
    det = fo.Detection(label="ball", bounding_box=[0.1, 0.1, 0.25, 0.25], mask=np.ones((61, 79), bool))
    (out,) = _detections_model(fo, det).predict([_image()])
    assert out.detections[0].mask.shape == (61, 79)


# -------------------------------------------------------------- missing images
@pytest.fixture
def proposed(ds):
    fn = lambda ims: [  # noqa: E731
        {"boxes": [[40, 60, 120, 140], [150, 100, 200, 150]], "labels": [0, 1], "scores": [0.9, 0.8]} for _ in ims
    ]
    lk.propose(ds, lkm.from_callable(fn, ["ball", "mug"]), progress=False)
    return ds


def test_skip_still_works_on_a_missing_image_and_records_only_the_status(proposed):
    session = lk.ReviewSession(proposed)
    sid, path = session.sample_id, Path(session.filepath)
    path.unlink()
    assert session.skip() == 1
    sample = proposed[sid]
    assert sample.review_status == "skipped" and sample.reviewed_at is not None
    assert sample.ground_truth is None or sample.ground_truth.detections == []
    assert [d.review for d in sample.predictions.detections] == [None, None]
    assert session.progress == (1, 3)


def test_skip_on_a_missing_image_drops_unsaved_decisions(proposed):
    session = lk.ReviewSession(proposed)
    sid = session.sample_id
    session.accept(0)
    Path(session.filepath).unlink()
    session.skip()
    sample = proposed[sid]
    assert sample.review_status == "skipped"
    assert [d.review for d in sample.predictions.detections] == [None, None]


def test_image_names_the_missing_file_and_what_to_do(proposed):
    session = lk.ReviewSession(proposed)
    Path(session.filepath).unlink()
    with pytest.raises(MissingImageError, match="file does not exist.*skip()") as info:
        session.image()
    assert isinstance(info.value, FileNotFoundError) and info.value.path == session.filepath


def test_navigation_undo_and_reload_still_work_on_a_missing_image(proposed):
    session = lk.ReviewSession(proposed)
    session.accept(0)
    Path(session.filepath).unlink()
    assert session.undo() is True  # back to nothing unsaved
    assert session.next() == 1 and session.prev() == 0
    session.reload()
    assert [i.state for i in session.instances] == ["pending", "pending"]


def test_a_restored_file_can_be_reviewed_again(proposed, tmp_path):
    session = lk.ReviewSession(proposed)
    path = Path(session.filepath)
    kept = tmp_path / "kept.jpg"
    path.rename(kept)
    with pytest.raises(MissingImageError):
        session.accept(0)
    kept.rename(path)
    session.accept(0)
    session.submit()
    assert proposed.first().review_status == "done"


def test_the_labeler_shows_a_missing_image_in_the_status_line(proposed):
    from labelkit.widgets import Labeler

    lab = Labeler(proposed, proposals="predictions", labels="ground_truth")
    Path(lab.session.filepath).unlink()
    lab.session.select(0)
    lab.handle_key("a")
    assert lab.status_is_error and "file does not exist" in lab.status_text
    assert proposed.first().review_status is None
