"""ReviewSession: the review state machine against a real (isolated) FiftyOne database.

The fixture dataset is skimage's coins photo with real coin masks as proposals,
perturbed like a real model's: some exact, one shifted, one eroded, one below the
confidence threshold, a false positive, a missed coin, two classes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import scipy.ndimage as ndi

from labelkit.errors import ReviewError
from labelkit.geometry import edit, masks
from labelkit.review.session import Event, ReviewSession

W, H = 384, 303

# --------------------------------------------------------------------- fixtures


def coin_masks() -> tuple[np.ndarray, list[np.ndarray]]:
    """skimage's coins photo (gray) and the masks of its separated coins (Otsu + labels)."""
    from skimage import data, filters

    img = data.coins()
    bw = img > filters.threshold_otsu(img)
    bw = ndi.binary_fill_holes(ndi.binary_opening(bw, iterations=2))
    lab, n = ndi.label(bw)
    areas = ndi.sum(bw, lab, range(1, n + 1))
    return img, [lab == i + 1 for i, a in enumerate(areas) if 1000 <= a <= 4000]


_COINS = coin_masks()


def det(fo, mask, label, confidence=None):
    rel, crop = masks.full_to_crop(mask)
    d = fo.Detection(label=label, bounding_box=rel, mask=crop)
    if confidence is not None:
        d.confidence = confidence
    return d


def proposal_spec(coins):
    """(name, mask, label, confidence) in *stored* order (not confidence order)."""
    fp = np.zeros((H, W), bool)
    fp[2:14, 2:16] = True  # false positive on the background
    return [
        ("eroded", ndi.binary_erosion(coins[2], iterations=3), "coin", 0.85),
        ("fp", fp, "coin", 0.40),
        ("exact", coins[0], "coin", 0.95),
        ("big", coins[5], "big", 0.70),
        ("low", coins[3], "coin", 0.30),
        ("shifted", np.roll(coins[1], 3, axis=1), "coin", 0.90),
        # coins[4] is missed on purpose
    ]


@pytest.fixture
def coins():
    return _COINS


@pytest.fixture
def make_ds(fo, dataset_name, tmp_path):
    """Build the review dataset: coins (proposals), coins2 (two proposals), blank (none)."""
    from PIL import Image

    def make(proposals: bool = True, n_extra: int = 0):
        img, coins = _COINS
        paths = []
        for name in ["coins", "coins2", "blank"] + [f"extra{i}" for i in range(n_extra)]:
            p = tmp_path / f"{name}.png"
            Image.fromarray(img if name != "blank" else np.full_like(img, 90)).save(p)
            paths.append(str(p))
        ds = fo.Dataset(dataset_name)
        samples = []
        for i, p in enumerate(paths):
            s = fo.Sample(filepath=p, metadata=fo.ImageMetadata(width=W, height=H), rank=i)
            if proposals:
                if i == 0:
                    dets = [det(fo, m, lab, c) for _, m, lab, c in proposal_spec(coins)]
                    s["predictions"] = fo.Detections(detections=dets)
                elif i == 1:
                    s["predictions"] = fo.Detections(
                        detections=[det(fo, coins[6], "coin", 0.8), det(fo, coins[7], "coin", 0.6)]
                    )
            samples.append(s)
        ds.add_samples(samples)
        return ds

    return make


@pytest.fixture
def ds(make_ds):
    return make_ds()


@pytest.fixture
def session(ds):
    return ReviewSession(ds, min_confidence=0.5)


def original(name):
    for n, m, _lab, _c in proposal_spec(_COINS[1]):
        if n == name:
            return m
    raise KeyError(name)


def k_of(session, name):
    """Position of the named proposal in the session's confidence order."""
    order = {"exact": 0, "shifted": 1, "eroded": 2, "big": 3, "fp": 4, "low": 5}
    return order[name]


def gt(ds, index=0):
    sample = ds.skip(index).first() if index else ds.first()
    sample.reload()
    return sample


def review(d):
    return d["review"] if d.has_field("review") else None


def snapshot(session):
    return [
        (i.label, i.state, i.edits, i.box, None if i.box is None else i.crop.tobytes())
        for i in session.instances
    ]


# ----------------------------------------------------------------- opening


def test_opens_at_sample_zero_when_nothing_is_reviewed(session):
    assert session.index == 0 and len(session) == 3
    assert session.progress == (0, 3)


def test_new_session_resumes_at_first_unreviewed_sample(ds):
    s = ReviewSession(ds)
    s.submit()
    s.skip()
    s2 = ReviewSession(ds)
    assert s2.index == 2 and s2.progress == (2, 3)


def test_all_reviewed_opens_at_sample_zero(ds):
    s = ReviewSession(ds)
    for _ in range(3):
        s.submit()
    assert ReviewSession(ds).index == 0


def test_empty_collection_raises(ds):
    with pytest.raises(ReviewError, match="no samples"):
        ReviewSession(ds.limit(0))


def test_sample_properties_describe_the_current_sample(session, ds):
    first = ds.first()
    assert session.sample_id == first.id
    assert session.filepath == first.filepath
    assert (session.width, session.height) == (W, H)
    assert session.review_status is None


def test_image_is_read_once_and_cached(session):
    img = session.image()
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    assert session.image() is img
    session.next()
    assert session.image() is not img


def test_instances_are_proposals_by_confidence_then_humans(session):
    session.add_polygon([(200, 250), (240, 250), (220, 290)], "coin")
    insts = session.instances
    confs = [i.confidence for i in insts if i.source == "proposal"]
    assert confs == sorted(confs, reverse=True) == [0.95, 0.9, 0.85, 0.7, 0.4, 0.3]
    assert insts[-1].source == "human" and insts[-1].confidence is None
    assert [i.k for i in insts] == list(range(len(insts)))
    assert {i.state for i in insts[:-1]} == {"pending"} and insts[-1].state == "new"


def test_instance_crops_are_read_only(session):
    with pytest.raises(ValueError):
        session.instances[0].crop[0, 0] = True


def test_instance_masks_are_full_resolution_and_match_proposals(session):
    inst = session.instances[k_of(session, "exact")]
    full = inst.full_mask()
    assert full.shape == (H, W) and full.dtype == bool
    np.testing.assert_array_equal(full, original("exact"))
    np.testing.assert_array_equal(inst.mask, full)
    x0, y0, x1, y1 = inst.box
    assert inst.crop.shape == (y1 - y0, x1 - x0)


@pytest.mark.parametrize("threshold, below", [(0.0, set()), (0.5, {"fp", "low"}), (0.9, {"eroded", "big", "fp", "low"})])
def test_proposals_below_min_confidence_are_flagged(ds, threshold, below):
    s = ReviewSession(ds, min_confidence=threshold)
    flagged = {i.k for i in s.instances if i.below_threshold}
    assert flagged == {k_of(s, n) for n in below}


def test_changing_min_confidence_reflags_without_making_dirty(session):
    events = []
    session.observe(events.append)
    session.min_confidence = 0.9
    assert {i.k for i in session.instances if i.below_threshold} == {2, 3, 4, 5}
    assert not session.dirty
    assert ("threshold", 0.9) in events


def test_default_classes_are_sorted_union_of_proposal_and_label_classes(ds, fo):
    s0 = ds.first()
    s0["ground_truth"] = fo.Detections(detections=[det(fo, _COINS[1][9], "washer")])
    s0.save()
    assert ReviewSession(ds).classes == ["big", "coin", "washer"]


def test_given_classes_are_used(ds):
    assert ReviewSession(ds, classes=["a", "b"]).classes == ["a", "b"]


# ------------------------------------------------------------- decisions


def test_accept_marks_proposal_accepted(session):
    session.accept(0)
    assert session.instances[0].state == "accepted" and session.instances[0].edits == 0


def test_reject_marks_proposal_rejected(session):
    session.reject(1)
    assert session.instances[1].state == "rejected"


def test_accept_after_reject_keeps_it_again(session):
    session.reject(1)
    session.accept(1)
    assert session.instances[1].state == "accepted"


def test_delete_proposal_is_a_reject(session):
    n = len(session.instances)
    session.delete(2)
    assert session.instances[2].state == "rejected" and len(session.instances) == n


def test_delete_human_removes_it_and_shifts_later_humans(session):
    a = session.add_box([5, 200, 40, 240], "coin")
    b = session.add_polygon([(300, 10), (330, 10), (320, 30)], "big")
    session.delete(a)
    insts = session.instances
    assert len(insts) == b and insts[a].label == "big" and insts[a].k == a
    assert session.selected == a  # the selection follows the shifted instance
    session.delete(a)
    assert session.selected is None


def test_reject_human_deletes_it(session):
    k = session.add_polygon([(300, 10), (330, 10), (320, 30)], "coin")
    session.reject(k)
    assert len(session.instances) == k


@pytest.mark.parametrize("threshold, expected", [(None, {0, 1, 2, 3}), (0.0, {0, 1, 2, 3, 4, 5}), (0.88, {0, 1})])
def test_accept_all_accepts_pending_at_or_above_threshold(session, threshold, expected):
    session.reject(2)
    accepted = session.accept_all(threshold)
    assert set(accepted) == expected - {2}
    assert {i.k for i in session.instances if i.state == "accepted"} == expected - {2}
    assert session.instances[2].state == "rejected"


def test_accept_all_is_one_undo_step(session):
    before = snapshot(session)
    session.accept_all()
    assert session.can_undo
    assert session.undo()
    assert snapshot(session) == before and not session.can_undo


def test_relabel_makes_proposal_edited(session):
    session.relabel(0, "big")
    inst = session.instances[0]
    assert inst.label == "big" and inst.state == "edited" and inst.edits == 1


def test_relabel_to_same_label_is_not_an_edit(session):
    session.relabel(0, "coin")
    assert session.instances[0].state == "pending" and not session.can_undo


def test_add_class_allows_a_new_class(session):
    session.add_class("washer")
    session.relabel(0, "washer")
    assert session.instances[0].label == "washer" and "washer" in session.classes


def test_select_sets_selected_and_emits(session):
    events = []
    session.observe(events.append)
    session.select(3)
    assert session.selected == 3 and events == [Event("selection", 3)]
    session.select(None)
    assert session.selected is None


# ------------------------------------------------------------------ edits


def test_paint_grows_mask_and_marks_edited(session):
    k = k_of(session, "eroded")
    before = session.instances[k].area
    x0, y0, x1, y1 = session.instances[k].box
    session.paint(k, [(x0, (y0 + y1) / 2), (x1, (y0 + y1) / 2)], 4)
    inst = session.instances[k]
    assert inst.area > before and inst.state == "edited" and inst.edits == 1


def test_paint_on_overlapping_instance_changes_only_that_instance(session):
    other = session.instances[1]
    session.paint(0, [(x, 40) for x in range(300, 380, 5)], 10)  # sweeps across coins
    assert session.instances[1] is other


def test_paint_none_creates_a_new_human_instance(session):
    k = session.paint(None, [(100, 290), (140, 290)], 5, label="coin")
    inst = session.instances[k]
    assert inst.source == "human" and inst.state == "new" and inst.edits == 1
    assert session.selected == k and inst.area > 0


def test_paint_none_without_label_raises(session):
    with pytest.raises(ReviewError, match="label="):
        session.paint(None, [(10, 10)], 3)


def test_paint_outside_image_changes_nothing(session):
    assert session.paint(0, [(-100, -100)], 3) == 0
    assert session.instances[0].state == "pending" and not session.can_undo


def test_erase_shrinks_mask(session):
    inst = session.instances[0]
    x0, y0, x1, y1 = inst.box
    erased = session.erase(0, [((x0 + x1) / 2, (y0 + y1) / 2)], 6)
    assert erased == (0,)
    after = session.instances[0]
    assert after.area < inst.area and after.state == "edited"


def test_erase_none_erases_every_touched_instance_in_one_step(session):
    # a stroke across the top row of coins touches several proposals
    before = snapshot(session)
    touched = session.erase(None, [(0, 50), (383, 50)], 3)
    assert len(touched) >= 2
    assert all(session.instances[k].state == "edited" for k in touched)
    session.undo()
    assert snapshot(session) == before


def test_erasing_everything_leaves_an_empty_instance(session):
    inst = session.instances[4]  # the false-positive square
    x0, y0, x1, y1 = inst.box
    session.erase(4, [(x0, y0), (x1, y1), (x0, y1), (x1, y0)], 30)
    assert session.instances[4].empty and session.instances[4].area == 0


def test_add_polygon_creates_human_instance(session):
    k = session.add_polygon([(10, 280), (60, 280), (35, 300)], "coin")
    inst = session.instances[k]
    np.testing.assert_array_equal(inst.full_mask(), edit.polygon([(10, 280), (60, 280), (35, 300)], W, H))
    assert inst.source == "human" and session.selected == k


def test_add_box_segments_the_missed_coin(session, coins):
    real = coins[1][4]
    x0, y0, x1, y1 = masks.mask_bbox(real)
    k = session.add_box([x0 - 3, y0 - 3, x1 + 3, y1 + 3], "coin")
    assert masks.mask_iou(session.instances[k].full_mask(), real)[0, 0] >= 0.8


def test_add_box_falls_back_to_filled_box_on_uniform_image(session):
    session.goto(2)  # the blank image
    k = session.add_box([10, 20, 50, 60], "coin")
    assert session.instances[k].area == 40 * 40


def test_refine_moves_an_eroded_proposal_towards_the_coin(session, coins):
    k = k_of(session, "eroded")
    real = coins[1][2]
    before = masks.mask_iou(session.instances[k].full_mask(), real)[0, 0]
    session.refine(k)
    after = masks.mask_iou(session.instances[k].full_mask(), real)[0, 0]
    assert after > before and session.instances[k].state == "edited"


def test_refine_of_one_instance_leaves_another_unchanged(session):
    # make two overlapping instances: a human blob over the "exact" coin
    exact = session.instances[0]
    x0, y0, x1, y1 = exact.box
    h = session.paint(None, [(x0, y0), (x1, y1)], 8, label="coin")
    human_before = session.instances[h]
    others = [i for i in session.instances if i.k != 0]
    ys, xs = np.nonzero(exact.crop)
    session.refine(0, negative=[(x0 + xs.mean(), y0 + ys.mean())])
    assert session.instances[h] is human_before
    assert all(session.instances[i.k] is i for i in others)


# --------------------------------------------------------------- undo/redo


def _do(session, kind):
    if kind == "accept":
        session.accept(0)
    elif kind == "reject":
        session.reject(1)
    elif kind == "relabel":
        session.relabel(2, "big")
    elif kind == "paint":
        session.paint(0, [(10, 200), (60, 210)], 6)
    elif kind == "paint-new":
        session.paint(None, [(10, 290)], 6, label="coin")
    elif kind == "erase":
        b = session.instances[0].box
        session.erase(0, [(b[0], b[1]), (b[2], b[3])], 5)
    elif kind == "polygon":
        session.add_polygon([(10, 280), (60, 280), (35, 300)], "coin")
    elif kind == "box":
        session.add_box([100, 250, 140, 290], "big")
    elif kind == "refine":
        session.refine(2)
    elif kind == "delete-human":
        session.delete(len(session.instances) - 1)  # the test added it first
    elif kind == "delete-proposal":
        session.delete(3)
    elif kind == "accept_all":
        session.accept_all(0.0)


EDIT_KINDS = [
    "accept", "reject", "relabel", "paint", "paint-new", "erase", "polygon", "box",
    "refine", "delete-human", "delete-proposal", "accept_all",
]


@pytest.mark.parametrize("kind", EDIT_KINDS)
def test_undo_restores_and_redo_reapplies_each_edit(session, kind):
    if kind == "delete-human":
        session.add_polygon([(10, 280), (60, 280), (35, 300)], "coin")
    before = snapshot(session)
    _do(session, kind)
    after = snapshot(session)
    assert after != before
    assert session.undo()
    assert snapshot(session) == before
    assert session.can_redo and session.redo()
    assert snapshot(session) == after


def test_undo_steps_store_only_changed_instances(session):
    session.paint(0, [(10, 200)], 4)
    step = session._undo[-1]
    assert set(step.before) == {0} and set(step.after) == {0}


def test_undo_with_nothing_to_undo_returns_false(session):
    assert not session.undo() and not session.redo()


def test_new_edit_clears_redo(session):
    session.accept(0)
    session.undo()
    session.reject(1)
    assert not session.can_redo


def test_moving_to_another_sample_clears_undo_and_redo(session):
    session.accept(0)
    session.accept(1)
    session.undo()
    session.next()
    assert not session.can_undo and not session.can_redo
    session.prev()
    assert not session.can_undo


# -------------------------------------------------------------------- saving


def test_submit_writes_accepted_proposal_provenance(session, ds):
    exact_id = session.instances[0].proposal_id
    session.accept(0)
    t0 = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=5)
    session.submit()
    s = gt(ds)
    (lab,) = s.ground_truth.detections
    assert lab.label == "coin" and lab.source == "proposal" and lab.proposal_id == exact_id
    assert lab.proposal_iou == 1.0 and lab.edits == 0
    np.testing.assert_array_equal(masks.detection_mask(lab, W, H), original("exact"))
    reviews = {d.id: review(d) for d in s.predictions.detections}
    assert reviews[exact_id] == "accepted"
    assert s.review_status == "done" and s.reviewed_by == "pytest"
    assert s.reviewed_at.replace(tzinfo=None) >= t0


def test_submit_writes_edited_proposal_iou_and_edit_count(session, ds):
    k = k_of(session, "shifted")
    pid = session.instances[k].proposal_id
    session.erase(k, [(150, 40)], 5)
    session.paint(k, [(130, 50)], 3)
    session.relabel(k, "big")
    final = session.instances[k].full_mask()
    session.submit()
    s = gt(ds)
    (lab,) = [d for d in s.ground_truth.detections if d.proposal_id == pid]
    assert lab.edits == 3 and lab.label == "big" and lab.source == "proposal"
    expected = masks.mask_iou(final, original("shifted"))[0, 0]
    assert lab.proposal_iou == pytest.approx(expected) and lab.proposal_iou < 1.0
    assert {d.id: review(d) for d in s.predictions.detections}[pid] == "edited"


def test_submit_records_rejected_and_pending_as_rejected_without_labels(session, ds):
    session.accept(0)
    session.reject(1)
    session.submit()
    s = gt(ds)
    reviews = {d.id: review(d) for d in s.predictions.detections}
    assert sorted(reviews.values()) == ["accepted"] + ["rejected"] * 5
    assert len(s.ground_truth.detections) == 1


def test_submit_writes_human_label_provenance(session, ds):
    session.add_polygon([(10, 280), (60, 280), (35, 300)], "coin")
    session.paint(len(session.instances) - 1, [(35, 270)], 3)
    session.submit()
    (lab,) = gt(ds).ground_truth.detections
    assert lab.source == "human" and lab.proposal_id is None and lab.proposal_iou is None
    assert lab.edits == 2


def test_submit_drops_emptied_instances_and_rejects_their_proposal(session, ds):
    fp = session.instances[4]
    session.accept(4)
    x0, y0, x1, y1 = fp.box
    session.erase(4, [(x0, y0), (x1, y1), (x0, y1), (x1, y0)], 30)
    session.submit()
    s = gt(ds)
    assert not s.ground_truth.detections
    assert {d.id: review(d) for d in s.predictions.detections}[fp.proposal_id] == "rejected"


def test_submit_moves_to_next_sample(session):
    assert session.submit() == 1 and session.index == 1
    assert session.progress == (1, 3)


def test_submit_on_last_sample_stays_and_shows_stored_result(session):
    session.goto(1)
    session.goto(2)
    assert session.submit() == 2 and session.review_status == "done"


def test_skip_writes_skipped_and_keeps_decisions_as_draft(session, ds):
    session.accept(0)
    session.skip()
    s = gt(ds)
    assert s.review_status == "skipped" and len(s.ground_truth.detections) == 1
    reviews = [review(d) for d in s.predictions.detections]
    assert reviews.count("accepted") == 1 and reviews.count(None) == 5
    assert session.index == 1


def test_next_saves_a_draft_without_status(session, ds):
    session.accept(0)
    session.add_polygon([(10, 280), (60, 280), (35, 300)], "coin")
    assert session.dirty
    session.next()
    s = gt(ds)
    assert s.review_status is None and s.reviewed_at is None
    assert sorted(d.source for d in s.ground_truth.detections) == ["human", "proposal"]
    assert [review(d) for d in s.predictions.detections].count("accepted") == 1


def test_next_without_changes_writes_nothing(session, ds):
    session.next()
    assert gt(ds).ground_truth is None


def test_dirty_tracks_unsaved_changes(session):
    assert not session.dirty
    session.accept(0)
    assert session.dirty
    session.undo()
    assert not session.dirty
    session.accept(0)
    assert session.save() and not session.dirty


def test_reopening_a_sample_rebuilds_draft_state(session):
    session.accept(0)
    session.reject(1)
    session.paint(2, [(10, 200)], 3)
    session.add_polygon([(10, 280), (60, 280), (35, 300)], "coin")
    expected = snapshot(session)
    session.next()
    session.prev()
    assert snapshot(session) == expected


def test_new_session_after_restart_shows_submitted_decisions(ds, dataset_name, fo):
    s = ReviewSession(ds)
    s.accept(0)
    s.relabel(1, "big")
    s.add_polygon([(10, 280), (60, 280), (35, 300)], "coin")
    s.submit()
    fresh = fo.load_dataset(dataset_name)
    s2 = ReviewSession(fresh)
    s2.goto(0)
    states = [(i.label, i.state, i.source) for i in s2.instances]
    assert states[0] == ("coin", "accepted", "proposal")
    assert states[1] == ("big", "edited", "proposal")
    assert all(st == "rejected" for _, st, _ in states[2:6])
    assert states[6] == ("coin", "new", "human")
    assert s2.review_status == "done"


def test_submitted_sample_can_be_changed_and_resubmitted(session, ds):
    session.accept(0)
    session.accept(1)
    session.submit()
    session.goto(0)
    session.reject(0)
    session.submit()
    s = gt(ds)
    assert len(s.ground_truth.detections) == 1
    assert [review(d) for d in s.predictions.detections].count("accepted") == 1


def test_label_ids_are_kept_across_saves(session, ds):
    session.accept(0)
    session.save()
    first_id = gt(ds).ground_truth.detections[0].id
    session.paint(0, [(10, 200)], 3)
    session.save()
    assert gt(ds).ground_truth.detections[0].id == first_id


def test_existing_ground_truth_without_provenance_is_a_human_instance(ds, fo):
    s0 = ds.first()
    s0["ground_truth"] = fo.Detections(detections=[det(fo, _COINS[1][4], "coin")])
    s0.save()
    s = ReviewSession(ds)
    last = s.instances[-1]
    assert last.source == "human" and last.state == "new"
    s.submit()
    (lab,) = gt(ds).ground_truth.detections
    assert lab.source == "human" and lab.proposal_id is None


def test_label_of_a_vanished_proposal_is_kept_with_its_provenance(ds, fo):
    s0 = ds.first()
    lab = det(fo, _COINS[1][4], "coin")
    lab["source"], lab["proposal_id"], lab["proposal_iou"], lab["edits"] = "proposal", "0" * 24, 0.75, 2
    s0["ground_truth"] = fo.Detections(detections=[lab])
    s0.save()
    s = ReviewSession(ds)
    last = s.instances[-1]
    assert (last.source, last.state, last.proposal_id) == ("proposal", "edited", "0" * 24)
    s.submit()
    (out,) = gt(ds).ground_truth.detections
    assert (out.id, out.proposal_id, out.proposal_iou, out.edits) == (lab.id, "0" * 24, 0.75, 2)


def test_failed_write_keeps_state_and_sample(session, ds, monkeypatch):
    session.accept(0)
    expected = snapshot(session)

    def boom(*a, **k):
        raise RuntimeError("database down")

    monkeypatch.setattr(session.store, "save_review", boom)
    with pytest.raises(RuntimeError):
        session.submit()
    assert session.index == 0 and snapshot(session) == expected and session.dirty


# -------------------------------------------------------- collections/schema


def test_filtered_sorted_view_keeps_its_order(make_ds, fo):
    from fiftyone import ViewField as F

    ds = make_ds(n_extra=3)
    view = ds.match(F("rank") != 1).sort_by("rank", reverse=True)
    s = ReviewSession(view)
    order = []
    for i in range(len(s)):
        s.goto(i)
        order.append(s.filepath)
    assert order == view.values("filepath") and len(order) == 5


def test_random_sample_view_keeps_its_order(make_ds):
    ds = make_ds(n_extra=3)
    view = ds.take(4, seed=7)
    expected = view.values("id")
    s = ReviewSession(view)
    seen = []
    for i in range(len(s)):
        s.goto(i)
        seen.append(s.sample_id)
    assert seen == expected


def test_resume_in_a_view_uses_the_views_order(make_ds):
    ds = make_ds(n_extra=2)
    view = ds.sort_by("rank", reverse=True)
    s = ReviewSession(view)
    s.submit()
    assert ReviewSession(view).index == 1


def test_image_without_proposals_has_no_instances_and_submits(session, ds):
    session.goto(2)
    assert session.instances == []
    session.submit()
    s = gt(ds, 2)
    assert s.review_status == "done" and s.ground_truth.detections == []


def test_proposals_field_missing_from_schema(make_ds):
    ds = make_ds(proposals=False)
    assert "predictions" not in ds.get_field_schema()
    s = ReviewSession(ds, classes=["coin"])
    assert s.instances == [] and s.classes == ["coin"]
    k = s.add_polygon([(10, 10), (40, 10), (25, 30)], "coin")
    s.accept_all()
    s.submit()
    lab = gt(ds).ground_truth.detections[0]
    assert k == 0 and lab.source == "human"


def test_no_classes_error_explains_how_to_add_one(make_ds):
    s = ReviewSession(make_ds(proposals=False))
    with pytest.raises(ReviewError, match="add_class"):
        s.add_polygon([(10, 10), (40, 10), (25, 30)], "coin")


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda s: s.accept(17), "17"),
        (lambda s: s.reject(-1), "-1"),
        (lambda s: s.paint("x", [(1, 1)], 3), "'x'"),
        (lambda s: s.goto(9), "9"),
        (lambda s: s.goto(-1), "-1"),
        (lambda s: s.relabel(0, "dog"), "'dog'"),
        (lambda s: s.add_polygon([(1, 1), (5, 5)], "coin"), "got 2"),
        (lambda s: s.add_polygon([(1000, 1000), (1100, 1000), (1050, 1100)], "coin"), "1000"),
        (lambda s: s.add_box([5, 5, 5, 20], "coin"), "[5.0, 5.0, 5.0, 20.0]"),
        (lambda s: s.add_box([500, 500, 600, 600], "coin"), "outside"),
        (lambda s: s.paint(0, [(1, 1)], -2), "-2"),
        (lambda s: s.paint(0, [], 2), "at least one"),
        (lambda s: s.refine(0, positive=[(999, 5)]), "999"),
        (lambda s: s.select(40), "40"),
    ],
)
def test_errors_name_the_bad_value_and_change_nothing(session, call, needle):
    session.accept(1)
    before = snapshot(session)
    n_undo = len(session._undo)
    with pytest.raises(ReviewError) as exc:
        call(session)
    assert needle in str(exc.value)
    assert snapshot(session) == before and len(session._undo) == n_undo and session.index == 0


def test_unknown_class_error_lists_valid_classes(session):
    with pytest.raises(ReviewError, match=r"valid classes: \['big', 'coin'\]"):
        session.add_polygon([(10, 10), (40, 10), (25, 30)], "dog")


# ------------------------------------------------------------------- events


def test_observer_gets_instance_events_with_changed_ks(session):
    events = []
    session.observe(events.append)
    session.accept(2)
    session.accept_all(0.0)
    assert events[0] == ("instances", (2,))
    assert events[1] == ("instances", (0, 1, 3, 4, 5))


def test_observer_gets_sample_and_saved_events(session):
    events = []
    unobserve = session.observe(events.append)
    session.accept(0)
    session.submit()
    assert ("saved", "done") in events and events[-1] == ("sample", 1)
    unobserve()
    session.next()
    assert events[-1] == ("sample", 1)


def test_adding_an_instance_emits_its_k_and_selection(session):
    events = []
    session.observe(events.append)
    k = session.add_polygon([(10, 280), (60, 280), (35, 300)], "coin")
    assert events == [("instances", (k,)), ("selection", k)]
