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


def test_deletion_is_ignored_when_the_run_disallows_it(anno_ds):
    ds = anno_ds
    results = ds.annotate("round4", backend="labelkit", label_field="ground_truth",
                          label_type="instances", classes=["ball", "mug"], allow_deletions=False)
    s = results.labeler().session
    s.delete([i.k for i in s.instances if i.label == "mug"][0])
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
