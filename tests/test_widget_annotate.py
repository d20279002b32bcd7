"""``dataset.annotate(..., backend="labelkit")`` -> Labeler -> ``load_annotations`` merge."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

W, H = 200, 150


@pytest.fixture
def anno_ds(fo, dataset_name, tmp_path, rng):
    """Two images; both have one proposal; sample 0 also has an existing label."""
    import labelkit.widgets  # noqa: F401 - registers the backend

    ds = fo.Dataset(dataset_name)
    for i in range(2):
        p = tmp_path / f"a{i}.png"
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(p)
        s = fo.Sample(filepath=str(p), metadata=fo.ImageMetadata(width=W, height=H))
        s["predictions"] = fo.Detections(
            detections=[
                fo.Detection(label="ball", bounding_box=[0.1, 0.1, 0.2, 0.2],
                             mask=np.ones((30, 40), bool), confidence=0.9)
            ]
        )
        if i == 0:
            s["ground_truth"] = fo.Detections(
                detections=[
                    fo.Detection(label="mug", bounding_box=[0.5, 0.5, 0.25, 0.2],
                                 mask=np.ones((30, 50), bool))
                ]
            )
        ds.add_sample(s)
    return ds


def test_backend_is_registered_with_fiftyone(fo):
    import labelkit.widgets  # noqa: F401

    assert fo.annotation_config.backends["labelkit"]["config_cls"] == (
        "labelkit.fiftyone_backend.LabelkitBackendConfig"
    )


def test_register_before_fiftyone_is_imported_uses_fiftyones_env_vars(monkeypatch):
    import sys

    import labelkit.fiftyone_backend as ab

    for var in ("FIFTYONE_ANNOTATION_BACKENDS", "FIFTYONE_LABELKIT_CONFIG_CLS"):
        monkeypatch.setenv(var, "x")  # so monkeypatch restores the original state
        monkeypatch.delenv(var)
    monkeypatch.setitem(sys.modules, "fiftyone", None)
    ab.register()
    import os

    assert os.environ["FIFTYONE_ANNOTATION_BACKENDS"] == "*,labelkit"
    assert os.environ["FIFTYONE_LABELKIT_CONFIG_CLS"] == ab.CONFIG_CLS
    from fiftyone.core.config import AnnotationConfig

    assert AnnotationConfig().backends["labelkit"]["config_cls"] == ab.CONFIG_CLS
    assert "cvat" in AnnotationConfig().backends


def test_annotate_review_and_load_annotations_merges_into_the_label_field(anno_ds):
    ds = anno_ds
    results = ds.annotate(
        "round1",
        backend="labelkit",
        label_field="ground_truth",
        label_type="instances",
        classes=["ball", "mug"],
        proposals="predictions",
    )
    staging = results.staging_field
    assert staging in ds.get_field_schema()
    old_mug_id = ds.first().ground_truth.detections[0].id

    labeler = results.labeler()
    s = labeler.session
    # sample 0: accept the proposal, paint the existing mug label
    ball = [i.k for i in s.instances if i.source == "proposal"][0]
    mug = [i.k for i in s.instances if i.label == "mug"][0]
    s.accept(ball)
    s.paint(mug, [(100, 100), (140, 100)], 3)
    s.submit()
    # sample 1: reject the proposal, draw a new box-free polygon instance
    s.reject(0)
    s.add_polygon([(10, 100), (60, 100), (60, 140)], "mug")
    s.submit()
    # nothing merged yet: the review lives in the staging field
    ds.reload()
    assert len(ds.first().ground_truth.detections) == 1

    ds.load_annotations("round1", cleanup=True)
    ds.reload()
    s0, s1 = ds.first(), ds.last()
    labels0 = {d.label: d for d in s0.ground_truth.detections}
    assert set(labels0) == {"ball", "mug"}
    assert labels0["mug"].id == old_mug_id  # edited in place, same label
    # FiftyOne merges only the run's declared attributes into existing labels (none
    # here); new labels arrive whole, with labelkit's provenance
    assert not labels0["mug"].has_field("edits")
    assert labels0["ball"].source == "proposal" and labels0["ball"].proposal_iou == 1.0
    mask = labels0["mug"].mask
    assert mask.shape[1] > 50  # the stroke widened it
    labels1 = s1.ground_truth.detections
    assert [(d.label, d.source) for d in labels1] == [("mug", "human")]
    assert staging not in ds.get_field_schema()  # cleanup dropped the staging field


def test_untouched_existing_labels_merge_back_unchanged(anno_ds):
    ds = anno_ds
    before = ds.first().ground_truth.detections[0]
    ds.annotate("round2", backend="labelkit", label_field="ground_truth",
                label_type="instances", classes=["ball", "mug"])
    ds.load_annotations("round2")
    ds.reload()
    after = ds.first().ground_truth.detections
    assert len(after) == 1 and after[0].id == before.id
    assert not after[0].has_field("source")
    assert np.array_equal(after[0].mask, before.mask)
    assert ds.last().ground_truth is None or len(ds.last().ground_truth.detections) == 0


def test_deleting_an_existing_label_in_the_review_deletes_it_on_merge(anno_ds):
    ds = anno_ds
    results = ds.annotate("round3", backend="labelkit", label_field="ground_truth",
                          label_type="instances", classes=["ball", "mug"])
    s = results.labeler().session
    mug = [i.k for i in s.instances if i.label == "mug"][0]
    s.delete(mug)
    s.submit()
    ds.load_annotations("round3")
    ds.reload()
    assert len(ds.first().ground_truth.detections) == 0


def test_deletion_is_refused_when_the_run_disallows_it(anno_ds):
    from labelkit.errors import NotAllowedError

    ds = anno_ds
    results = ds.annotate("round4", backend="labelkit", label_field="ground_truth",
                          label_type="instances", classes=["ball", "mug"], allow_deletions=False)
    s = results.labeler().session
    mug = [i.k for i in s.instances if i.label == "mug"][0]
    with pytest.raises(NotAllowedError, match=r"allow_deletions=False in annotation run 'round4'"):
        s.delete(mug)
    assert s.instances[mug].state == "new" and not s.can_undo
    s.submit()
    ds.load_annotations("round4")
    ds.reload()
    assert len(ds.first().ground_truth.detections) == 1


def test_results_reload_from_the_database(anno_ds):
    ds = anno_ds
    ds.annotate("round5", backend="labelkit", label_field="ground_truth",
                label_type="instances", classes=["ball", "mug"], proposals="predictions")
    ds.clear_cache() if hasattr(ds, "clear_cache") else None
    res = ds.load_annotation_results("round5")
    assert res.staging_field == "labelkit_round5"
    assert res.config.proposals == "predictions"
    ds.delete_annotation_run("round5")
    assert "labelkit_round5" not in ds.get_field_schema()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(label_field="ground_truth", label_type="classifications", classes=["a"]), "does not support|instance"),
        (dict(label_field="ground_truth", label_type="instances", classes=["a"], proposals="ground_truth"), "both 'ground_truth'"),
    ],
)
def test_unsupported_runs_fail_with_a_clear_message(anno_ds, kwargs, match):
    with pytest.raises(ValueError, match=match):
        anno_ds.annotate("bad", backend="labelkit", **kwargs)


# ------------------------------------------------ allow_* options (issue #10, part 4)


def test_a_run_without_additions_refuses_new_labels_and_merges_only_allowed_changes(anno_ds):
    from labelkit.errors import NotAllowedError

    ds = anno_ds
    results = ds.annotate("noadd", backend="labelkit", label_field="ground_truth",
                          label_type="instances", classes=["ball", "mug"], proposals="predictions",
                          allow_additions=False)
    labeler = results.labeler()
    s = labeler.session
    n = len(s.instances)
    with pytest.raises(NotAllowedError, match=r"allow_additions=False in annotation run 'noadd'"):
        s.add_box([10, 10, 60, 60], "ball")
    ball = next(i.k for i in s.instances if i.source == "proposal")
    with pytest.raises(NotAllowedError, match="new labels"):
        s.accept(ball)
    assert len(s.instances) == n and not s.can_undo and s.instances[ball].state == "pending"
    # the widget shows the refusal in its status line, not as a traceback
    s.select(ball)
    labeler.handle_key("a")
    assert labeler.status_is_error and "allow_additions=False" in labeler.status_text
    # what the run allows still works: rejecting a proposal, editing an existing label
    s.reject(ball)
    mug = next(i.k for i in s.instances if i.label == "mug")
    s.paint(mug, [(100, 100), (140, 100)], 3)
    s.submit()
    ds.load_annotations("noadd", cleanup=True)
    ds.reload()
    labels = ds.first().ground_truth.detections
    assert [d.label for d in labels] == ["mug"] and labels[0].mask.shape[1] > 50
    assert ds.last().ground_truth is None or len(ds.last().ground_truth.detections) == 0


def test_without_deletions_rejecting_a_proposal_and_deleting_a_new_drawing_are_allowed(anno_ds):
    from labelkit.errors import NotAllowedError

    results = anno_ds.annotate("nodel", backend="labelkit", label_field="ground_truth",
                               label_type="instances", classes=["ball", "mug"],
                               proposals="predictions", allow_deletions=False)
    s = results.labeler().session
    ball = next(i.k for i in s.instances if i.source == "proposal")
    s.reject(ball)  # a proposal is no label yet: rejecting it deletes nothing
    k = s.add_polygon([(10, 100), (60, 100), (60, 140)], "mug")
    s.delete(k)  # drawn in this review, never in label_field
    mug = next(i.k for i in s.instances if i.label == "mug")
    with pytest.raises(NotAllowedError, match="allow_deletions=False"):
        s.erase(mug, [(x, y) for y in range(75, 106, 4) for x in range(100, 151, 4)], 8)
    assert s.instances[mug].area == 30 * 50


def test_without_label_or_spatial_edits_an_existing_label_keeps_its_class_and_mask(anno_ds):
    from labelkit.errors import NotAllowedError

    results = anno_ds.annotate("frozen", backend="labelkit", label_field="ground_truth",
                               label_type="instances", classes=["ball", "mug"],
                               allow_label_edits=False, allow_spatial_edits=False)
    s = results.labeler().session
    mug = next(i.k for i in s.instances if i.label == "mug")
    with pytest.raises(NotAllowedError, match="allow_label_edits=False"):
        s.relabel(mug, "ball")
    with pytest.raises(NotAllowedError, match="allow_spatial_edits=False"):
        s.paint(mug, [(100, 100), (140, 100)], 3)
    k = s.add_polygon([(10, 100), (60, 100), (60, 140)], "ball")
    s.relabel(k, "mug")  # a label this review drew is free to edit
    assert s.instances[k].label == "mug" and s.instances[mug].label == "mug"


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(proposals="no_such_field"),
        dict(proposals="ground_truth"),
        dict(label_field="new_field", label_type="classifications"),
        dict(unexpected="ask"),
        dict(proposal="predictions"),
        dict(classes=[1, 2]),
    ],
    ids=["missing-proposals", "proposals-are-labels", "label-type", "unexpected", "typo", "classes"],
)
def test_a_refused_annotate_leaves_no_run_and_no_staging_field(anno_ds, kwargs):
    from labelkit.errors import LabelkitError

    ds = anno_ds
    runs, schema = ds.list_annotation_runs(), set(ds.get_field_schema())
    opts = dict(backend="labelkit", label_field="ground_truth", label_type="instances",
                classes=["ball", "mug"])
    opts.update(kwargs)
    with pytest.raises(LabelkitError):
        ds.annotate("refused", **opts)
    ds.reload()
    assert ds.list_annotation_runs() == runs
    assert set(ds.get_field_schema()) == schema and "labelkit_refused" not in schema
    ds.annotate("refused", backend="labelkit", label_field="ground_truth",
                label_type="instances", classes=["ball", "mug"])  # the key is still free


@pytest.mark.parametrize("value", ["prompt", "ignore", "keep", "return"])
def test_every_documented_unexpected_value_is_accepted_and_kept(anno_ds, value):
    anno_ds.annotate("u", backend="labelkit", label_field="ground_truth", label_type="instances",
                     classes=["ball", "mug"], unexpected=value)
    assert anno_ds.load_annotation_results("u").config.unexpected == value


# --------------------------------------------- widget: undo after a polygon (TraitError)


def test_undo_of_a_new_polygon_in_the_widget_clears_the_list_selection(anno_ds, caplog):
    import logging

    from labelkit.widgets import Labeler

    lab = Labeler(anno_ds, proposals="predictions", labels="reviewed", classes=["ball", "mug"])
    try:
        n = len(lab.session.instances)
        with caplog.at_level(logging.ERROR, logger="labelkit"):
            k = lab.session.add_polygon([(10, 100), (60, 100), (60, 140)], "mug")
            assert lab._list.value == k
            lab.handle_key("z", ctrl=True)
        assert len(lab.session.instances) == n and lab.session.selected is None
        assert lab._list.value is None and len(lab._list.options) == n
        assert not lab.status_is_error, lab.status_text
        assert "TraitError" not in caplog.text
        lab.handle_key("y", ctrl=True)  # redo brings it back, selected again
        assert lab.session.selected == k and lab._list.value == k
    finally:
        lab.close()
