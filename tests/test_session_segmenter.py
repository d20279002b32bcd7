"""The review session's segmenter: box-to-mask, click-to-mask, refine, provenance, prefetch."""

from __future__ import annotations

import time

import numpy as np
import pytest
from tiny_hf import tiny_sam

import labelkit as lk
from labelkit.errors import ReviewError
from labelkit.geometry.edit import grabcut_refine
from labelkit.models.segmenters import SamSegmenter


def _scene(seed):
    rng = np.random.default_rng(seed)
    img = (rng.random((120, 160, 3)) * 40).astype(np.uint8)
    img[30:80, 20:70] = (220, 60, 50)
    return img


@pytest.fixture
def ds(fo, tmp_path, dataset_name):
    from PIL import Image

    for i in range(3):
        Image.fromarray(_scene(i)).save(tmp_path / f"{i}.png")
    return lk.load_images(tmp_path, name=dataset_name)


@pytest.fixture
def sam():
    model, processor = tiny_sam()
    return SamSegmenter(model, processor, device="cpu", name="tiny-sam")


def _stored(ds, index=0):
    sample = ds.skip(index).first()
    sample.reload()
    return sample.ground_truth.detections


def test_the_default_segmenter_is_grabcut_and_refine_gives_what_it_gave_before(ds):
    s = lk.ReviewSession(ds, proposals="predictions", labels="ground_truth", classes=["obj"])
    assert s.segmenter.name == "grabcut"
    k = s.add_polygon([(25, 35), (65, 35), (65, 75), (25, 75)], "obj")
    before = s.instances[k].full_mask()
    s.refine(k, positive=[(45, 55)], negative=[(100, 100)])
    expected = grabcut_refine(s.image(), mask=before, positive=[(45, 55)], negative=[(100, 100)])
    np.testing.assert_array_equal(s.instances[k].full_mask(), expected)


def test_box_to_mask_uses_the_sessions_segmenter_and_records_the_tool(ds, sam):
    s = lk.ReviewSession(ds, labels="ground_truth", proposals="predictions", classes=["obj"], segmenter=sam)
    k = s.add_box([15, 25, 75, 85], "obj")
    expected, _ = sam.segment(s.image(), boxes=[[15, 25, 75, 85]])
    got = s.instances[k].full_mask()
    if not expected[0].any():  # random weights may find nothing: the filled box then
        expected = np.zeros_like(expected)
        expected[0, 25:85, 15:75] = True
    np.testing.assert_array_equal(got, expected[0])
    s.submit()
    (det,) = _stored(ds)
    assert det.source == "human" and det.tool == "box:tiny-sam" and det.proposal_id is None


def test_a_click_where_there_is_no_instance_creates_one_from_the_segmenter(ds):
    s = lk.ReviewSession(ds, labels="ground_truth", proposals="predictions", classes=["obj"])
    k = s.add_from_clicks([(45, 55)], "obj")
    inst = s.instances[k]
    assert inst.source == "human" and inst.state == "new" and inst.full_mask()[55, 45]
    s.submit()
    (det,) = _stored(ds)
    assert det.tool == "click:grabcut" and det.source == "human"


def test_refine_records_its_tool_and_the_tool_survives_a_reload(ds):
    s = lk.ReviewSession(ds, labels="ground_truth", proposals="predictions", classes=["obj"])
    k = s.add_polygon([(25, 35), (60, 35), (60, 70), (25, 70)], "obj")
    assert s.instances[k].tool == "polygon"
    s.refine(k, positive=[(65, 75)])
    assert s.instances[k].tool == "refine:grabcut"
    s.save()
    s.goto(1)
    s.goto(0)
    assert s.instances[k].tool == "refine:grabcut"


def test_the_next_images_embedding_is_prepared_in_the_background(ds, sam):
    s = lk.ReviewSession(ds, labels="ground_truth", proposals="predictions", classes=["obj"], segmenter=sam)
    deadline = time.monotonic() + 30
    while sam.embed_count < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sam.embed_count == 1  # the next sample's, before any click
    s.next()
    s.add_box([15, 25, 75, 85], "obj")  # on the prepared image: no new embedding for it
    deadline = time.monotonic() + 30
    while sam.embed_count < 2 and time.monotonic() < deadline:  # the one after is prepared next
        time.sleep(0.05)
    assert sam.embed_count == 2


class _Nothing:
    """A segmenter that finds nothing (the contract, minimal)."""

    name = "nothing"

    def segment(self, image, boxes=None, points=None, point_labels=None, mask_input=None, multimask=False):
        return np.zeros((1, *image.shape[:2]), bool), np.zeros(1, np.float32)


def test_a_click_on_nothing_is_refused_and_changes_nothing(ds):
    s = lk.ReviewSession(ds, labels="ground_truth", proposals="predictions", classes=["obj"], segmenter=_Nothing())
    with pytest.raises(ReviewError, match="found no object"):
        s.add_from_clicks([(10, 10)], "obj")
    assert s.instances == [] and not s.can_undo


def test_a_box_on_nothing_falls_back_to_the_filled_box(ds):
    s = lk.ReviewSession(ds, labels="ground_truth", proposals="predictions", classes=["obj"], segmenter=_Nothing())
    k = s.add_box([10, 20, 50, 60], "obj")
    assert s.instances[k].area == 40 * 40


@pytest.mark.parametrize("clicks, fragment", [([], "at least one positive"), ([(500, 5)], "outside")])
def test_bad_clicks_are_refused(ds, clicks, fragment):
    s = lk.ReviewSession(ds, labels="ground_truth", proposals="predictions", classes=["obj"])
    with pytest.raises(ReviewError, match=fragment):
        s.add_from_clicks(clicks, "obj")


def test_a_segmenter_without_segment_is_refused(ds):
    with pytest.raises(ReviewError, match="segmenter must have segment"):
        lk.ReviewSession(ds, labels="ground_truth", proposals="predictions", segmenter=object())


def _click(lab, x, y):
    cx, cy = lab.vp.to_canvas(x, y)
    lab.handle_mouse_down(cx, cy)
    lab.handle_mouse_up(cx, cy)


def test_in_the_labeler_a_g_click_on_an_empty_spot_creates_an_instance_and_a_box_drag_makes_a_mask(ds, sam):
    lab = lk.Labeler(ds, proposals="predictions", labels="ground_truth", classes=["obj"], segmenter=sam)
    try:
        assert lab.session.segmenter is sam
        lab.handle_key("g")
        _click(lab, 45, 55)
        (inst,) = lab.session.instances
        assert inst.tool == "click:tiny-sam" and lab.session.selected == inst.k
        assert "new obj from a click" in lab.status_text
        lab.handle_key("x")
        cs = [lab.vp.to_canvas(x, y) for x, y in ((90, 20), (150, 100))]
        lab.handle_mouse_down(*cs[0])
        lab.handle_mouse_move(*cs[1])
        lab.handle_mouse_up(*cs[1])
        assert [i.tool for i in lab.session.instances] == ["click:tiny-sam", "box:tiny-sam"]
        lab.handle_key("Enter")
        assert sorted(d.tool for d in _stored(ds)) == ["box:tiny-sam", "click:tiny-sam"]
    finally:
        lab.close()


def test_a_negative_g_click_with_nothing_selected_says_what_to_do(ds):
    lab = lk.Labeler(ds, proposals="predictions", labels="ground_truth", classes=["obj"])
    try:
        lab.handle_key("g")
        lab.handle_key("g")  # negative clicks
        _click(lab, 45, 55)
        assert lab.session.instances == [] and "needs a selected instance" in lab.status_text
    finally:
        lab.close()
