"""ReviewStore: the schema of DESIGN.md, durable single writes, batched bulk writes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import labelkit as lk
from labelkit.errors import ReviewError, SchemaError
from labelkit.geometry.masks import full_to_crop
from labelkit.store.image import ReviewStore
from labelkit.store.schema import make_label


def _proposal(fo, label, box_px, conf, w, h):
    m = np.zeros((h, w), bool)
    x0, y0, x1, y1 = box_px
    m[y0:y1, x0:x1] = True
    box, crop = full_to_crop(m)
    return fo.Detection(label=label, bounding_box=box, mask=crop, confidence=conf)


@pytest.fixture
def ds_with_proposals(coins_dir, dataset_name, fo):
    ds = lk.load_images(coins_dir, name=dataset_name)
    store = ReviewStore(ds)
    values = {}
    for s in ds.select_fields("metadata"):
        w, h = s.metadata.width, s.metadata.height
        values[s.id] = fo.Detections(
            detections=[_proposal(fo, "coin", (5, 5, 25, 25), 0.9, w, h), _proposal(fo, "coin", (30, 5, 50, 25), 0.4, w, h)]
        )
    store.write_proposals(values)
    return ds


def test_schema_fields_are_declared(ds_with_proposals):
    schema = ds_with_proposals.get_field_schema(flat=True)
    for path in (
        "review_status", "reviewed_by", "reviewed_at", "ground_truth",
        "ground_truth.detections.source", "ground_truth.detections.proposal_id",
        "ground_truth.detections.proposal_iou", "ground_truth.detections.edits",
        "predictions.detections.review",
    ):
        assert path in schema, path


def test_save_review_writes_provenance_and_status(ds_with_proposals, fo):
    ds = ds_with_proposals
    store = ReviewStore(ds)
    sample = ds.first()
    p_acc, p_rej = sample.predictions.detections
    final = [make_label("coin", p_acc.bounding_box, p_acc.mask, "proposal", p_acc.id, 1.0, 0, p_acc.confidence)]
    when = store.save_review(sample.id, {p_acc.id: "accepted", p_rej.id: "rejected"}, final, reviewed_by="ana")

    fresh = fo.load_dataset(ds.name)
    fresh.reload()
    s = fresh[sample.id]
    assert s.review_status == "done" and s.reviewed_by == "ana"
    assert s.reviewed_at.replace(tzinfo=dt.timezone.utc) == when
    assert [d.review for d in s.predictions.detections] == ["accepted", "rejected"]
    (label,) = s.ground_truth.detections
    assert (label.source, label.proposal_id, label.proposal_iou, label.edits) == ("proposal", p_acc.id, 1.0, 0)
    assert np.array_equal(label.mask, p_acc.mask)


def test_first_unreviewed_follows_view_order(ds_with_proposals):
    ds = ds_with_proposals
    view = ds.sort_by("filepath", reverse=True)
    store = ReviewStore(view)
    ids = store.sample_ids()
    assert store.first_unreviewed() == 0
    store.save_review(ids[0], {}, [], status="skipped")
    assert store.first_unreviewed() == 1
    store.set_status(ids, "done")
    assert store.first_unreviewed() is None


def test_bulk_write_of_proposals_replaces_only_named_samples(ds_with_proposals, fo):
    ds = ds_with_proposals
    store = ReviewStore(ds)
    first = ds.first()
    store.write_proposals({first.id: fo.Detections(detections=[])})
    counts = ds.values("predictions.detections", unwind=False)
    assert sorted(len(c) for c in counts) == [0, 2, 2]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(status="finished"), "must be 'done' or 'skipped'"),
        (dict(proposal_reviews={"deadbeef": "accepted"}), "not in 'predictions'"),
        (dict(proposal_reviews={"x": "maybe"}), "review must be one of"),
    ],
)
def test_bad_review_is_refused_and_nothing_is_written(ds_with_proposals, kwargs, match):
    ds = ds_with_proposals
    store = ReviewStore(ds)
    sid = ds.first().id
    args = dict(proposal_reviews={}, final=[], status="done")
    args.update(kwargs)
    with pytest.raises(ReviewError, match=match):
        store.save_review(sid, **args)
    ds.reload()
    assert ds[sid].review_status is None


def test_label_without_provenance_is_refused(ds_with_proposals, fo):
    ds = ds_with_proposals
    store = ReviewStore(ds)
    bare = fo.Detection(label="coin", bounding_box=[0.1, 0.1, 0.2, 0.2])
    with pytest.raises(ReviewError, match="source must be"):
        store.save_review(ds.first().id, {}, [bare])
    with pytest.raises(ReviewError, match="needs the proposal_id"):
        store.save_review(ds.first().id, {}, [make_label("coin", [0, 0, 1, 1], None, "proposal")])


def test_wrong_field_type_is_a_schema_error(coins_dir, dataset_name, fo):
    ds = lk.load_images(coins_dir, name=dataset_name)
    ds.add_sample_field("ground_truth", fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification)
    with pytest.raises(SchemaError, match="needs fo.Detections"):
        ReviewStore(ds)


def test_same_field_for_proposals_and_labels_is_refused(coins_dir, dataset_name):
    ds = lk.load_images(coins_dir, name=dataset_name)
    with pytest.raises(SchemaError, match="field of their own"):
        ReviewStore(ds, proposals="x", labels="x")


def test_load_returns_detached_copies(ds_with_proposals):
    ds = ds_with_proposals
    store = ReviewStore(ds)
    rec = store.load(ds.first().id)
    assert len(rec.proposals) == 2 and rec.labels == [] and rec.review_status is None
    rec.proposals[0].label = "changed"
    ds.reload()
    assert ds.first().predictions.detections[0].label == "coin"


def test_bulk_status_uses_batched_writes_for_many_samples(tmp_path, dataset_name, fo):
    ds = fo.Dataset(dataset_name)
    ds.add_samples([fo.Sample(filepath=str(tmp_path / f"{i}.jpg")) for i in range(500)])
    store = ReviewStore(ds)
    assert store.set_status(ds.values("id"), "skipped", reviewed_by="bot") == 500
    assert ds.count_values("review_status") == {"skipped": 500}
    assert set(ds.values("reviewed_by")) == {"bot"}
