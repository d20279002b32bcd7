"""lk.audit: counts and rates from review provenance, ground-truth mode, intervals,
recommendations, display and CLI — on real FiftyOne datasets (see conftest)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

import labelkit as lk
from labelkit.audit.compare import AuditComparison
from labelkit.audit.report import DEFAULT_THRESHOLDS, _recommend, suggest_threshold
from labelkit.errors import LabelkitError
from labelkit.geometry.masks import full_to_crop
from labelkit.store.image import ReviewStore
from labelkit.store.schema import make_label

W, H = 64, 48
BIN = Path(sys.executable).with_name("labelkit")


def _rect(x0, y0, x1, y1, w=W, h=H):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def _proposal(fo, label, mask, conf):
    box, crop = full_to_crop(mask)
    return fo.Detection(label=label, bounding_box=box, mask=crop, confidence=conf)


def _from_proposal(p, iou=1.0, edits=0, label=None):
    return make_label(
        label or p.label, p.bounding_box, p.mask, "proposal", p.id, iou, edits, p.confidence
    )


def _human(label, mask):
    box, crop = full_to_crop(mask)
    return make_label(label, box, crop, "human", None, None, 1)


@pytest.fixture(scope="module")
def module_name():
    import fiftyone as fo

    names = []

    def make():
        names.append(f"lk-audit-{uuid.uuid4().hex[:10]}")
        return names[-1]

    yield make
    for n in names:
        if fo.dataset_exists(n):
            fo.delete_dataset(n)


@pytest.fixture(scope="module")
def reviewed(module_name):
    """4 images written through ReviewStore, with known outcomes.

    image 0 (done): cat A, cat B accepted; dog C edited (IoU 0.8); cat D rejected; human cat E
    image 1 (done): cat F, dog G accepted; dog H edited (IoU 0.4 < 0.5); human fox I
    image 2 (done): nothing
    image 3 (skipped): dog L accepted (must not count)
    """
    import fiftyone as fo

    ds = fo.Dataset(module_name(), persistent=True)
    ds.add_samples(
        [
            fo.Sample(
                filepath=f"/nonexistent/img{i}.png", metadata=fo.ImageMetadata(width=W, height=H)
            )
            for i in range(4)
        ]
    )
    store = ReviewStore(ds)
    ids = store.sample_ids()
    props = {
        ids[0]: [
            _proposal(fo, "cat", _rect(0, 0, 10, 10), 0.95),
            _proposal(fo, "cat", _rect(12, 0, 20, 10), 0.9),
            _proposal(fo, "dog", _rect(30, 0, 40, 10), 0.8),
            _proposal(fo, "cat", _rect(50, 30, 60, 40), 0.3),
        ],
        ids[1]: [
            _proposal(fo, "cat", _rect(0, 0, 10, 10), 0.85),
            _proposal(fo, "dog", _rect(20, 20, 30, 30), 0.7),
            _proposal(fo, "dog", _rect(40, 20, 50, 30), 0.6),
        ],
        ids[3]: [_proposal(fo, "dog", _rect(0, 0, 10, 10), 0.99)],
    }
    store.write_proposals({k: fo.Detections(detections=v) for k, v in props.items()})
    a, b, c, d = ds[ids[0]].predictions.detections
    store.save_review(
        ids[0],
        {a.id: "accepted", b.id: "accepted", c.id: "edited", d.id: "rejected"},
        [
            _from_proposal(a),
            _from_proposal(b),
            _from_proposal(c, 0.8, 3),
            _human("cat", _rect(5, 30, 15, 40)),
        ],
    )
    f, g, h = ds[ids[1]].predictions.detections
    store.save_review(
        ids[1],
        {f.id: "accepted", g.id: "accepted", h.id: "edited"},
        [
            _from_proposal(f),
            _from_proposal(g),
            _from_proposal(h, 0.4, 5),
            _human("fox", _rect(2, 30, 12, 44)),
        ],
    )
    store.save_review(ids[2], {}, [])
    (lp,) = ds[ids[3]].predictions.detections
    store.save_review(ids[3], {lp.id: "accepted"}, [_from_proposal(lp)], status="skipped")
    return ds


@pytest.fixture(scope="module")
def report(reviewed):
    return lk.audit(reviewed, n_boot=200)


# ------------------------------------------------------------------ review-mode counts


def test_auto_mode_reads_review_provenance(report):
    assert report.mode == "review"


def test_overall_counts_and_rates_match_the_known_review(report):
    o = report.overall
    assert (o["proposals"], o["accepted"], o["edited"], o["rejected"]) == (7, 4, 2, 1)
    assert (o["final_instances"], o["missed"], o["tp"]) == (8, 2, 5)
    assert o["accepted_rate"] == pytest.approx(4 / 7)
    assert o["edited_rate"] == pytest.approx(2 / 7)
    assert o["rejected_rate"] == pytest.approx(1 / 7)
    assert o["precision"] == pytest.approx(5 / 7)  # dog H (IoU 0.4) is kept but not a TP
    assert o["recall"] == pytest.approx(5 / 8)
    assert o["mean_iou"] == pytest.approx((3 * 1.0 + 1.0 + 0.8 + 0.4) / 6)
    assert o["untouched_share"] == pytest.approx(4 / 8)


@pytest.mark.parametrize(
    "cls, expected",
    [
        (
            "cat",
            dict(
                n_images=2,
                proposals=4,
                accepted=3,
                edited=0,
                rejected=1,
                final_instances=4,
                missed=1,
                precision=3 / 4,
                recall=3 / 4,
                mean_iou=1.0,
            ),
        ),
        (
            "dog",
            dict(
                n_images=2,
                proposals=3,
                accepted=1,
                edited=2,
                rejected=0,
                final_instances=3,
                missed=0,
                precision=2 / 3,
                recall=2 / 3,
                mean_iou=(1.0 + 0.8 + 0.4) / 3,
                edited_iou_median=0.6,
            ),
        ),
    ],
)
def test_per_class_counts_and_rates(report, cls, expected):
    row = report.per_class.loc[cls]
    for key, value in expected.items():
        assert row[key] == pytest.approx(value), key


def test_class_only_in_labels_is_listed_with_zero_proposals_and_its_misses(report):
    fox = report.per_class.loc["fox"]
    assert (fox["proposals"], fox["final_instances"], fox["missed"], fox["recall"]) == (
        0,
        1,
        1,
        0.0,
    )
    assert math.isnan(fox["accepted_rate"]) and math.isnan(fox["precision"])
    assert list(report.per_class.index) == ["cat", "dog", "fox"]


def test_skipped_and_unreviewed_samples_are_not_counted(report):
    assert report.n_images == 3 and report.n_samples == 4
    assert report.per_class.loc["dog", "proposals"] == 3  # dog L on the skipped sample is left out


def test_time_estimate_follows_the_stated_assumptions(report):
    t = report.assumptions["time_per_action_s"]
    assert t == {"draw": 30.0, "add": 30.0, "accept": 1.0, "reject": 1.0, "edit": 8.0}
    o = report.overall
    assert o["time_from_scratch_s"] == pytest.approx(8 * 30)
    assert o["time_with_model_s"] == pytest.approx(4 * 1 + 2 * 8 + 1 * 1 + 2 * 30)
    assert o["time_saved_s"] == pytest.approx(240 - 81)
    assert o["time_saved_share"] == pytest.approx(159 / 240)


def test_time_assumptions_can_be_overridden(reviewed):
    r = lk.audit(reviewed, time_per_action={"draw": 60, "edit": 20}, n_boot=0)
    assert r.assumptions["time_per_action_s"]["add"] == 60  # add follows draw
    assert r.overall["time_with_model_s"] == pytest.approx(4 * 1 + 2 * 20 + 1 * 1 + 2 * 60)


def test_unknown_time_assumption_is_an_error(reviewed):
    with pytest.raises(LabelkitError, match="unknown key 'polygon'.*draw"):
        lk.audit(reviewed, time_per_action={"polygon": 10})


@pytest.fixture(scope="module")
def quirks(module_name):
    """One done image: dog P1 relabelled to cat (edited, mask unchanged); P2 and P3 with
    no ``review`` recorded: P2 linked by an unchanged final label, P3 not linked."""
    import fiftyone as fo

    ds = fo.Dataset(module_name(), persistent=True)
    ds.add_sample(fo.Sample(filepath="/nonexistent/q.png"))
    store = ReviewStore(ds)
    sid = ds.first().id
    store.write_proposals(
        {
            sid: fo.Detections(
                detections=[
                    _proposal(fo, "dog", _rect(0, 0, 10, 10), 0.9),
                    _proposal(fo, "bird", _rect(20, 0, 30, 10), 0.8),
                    _proposal(fo, "bird", _rect(40, 0, 50, 10), 0.7),
                ]
            )
        }
    )
    p1, p2, _ = ds[sid].predictions.detections
    store.save_review(
        sid, {p1.id: "edited"}, [_from_proposal(p1, 1.0, 1, label="cat"), _from_proposal(p2)]
    )
    return lk.audit(ds, n_boot=0)


def test_relabelled_proposal_is_edited_and_not_found_for_either_class(quirks):
    dog, cat = quirks.per_class.loc["dog"], quirks.per_class.loc["cat"]
    assert (dog["proposals"], dog["edited"], dog["tp"]) == (1, 1, 0)
    assert (
        cat["proposals"],
        cat["final_instances"],
        cat["relabeled"],
        cat["missed"],
        cat["recall"],
    ) == (0, 1, 1, 0, 0)


def test_proposals_without_recorded_review_are_inferred_from_the_final_labels(quirks):
    bird = quirks.per_class.loc["bird"]
    assert (bird["proposals"], bird["accepted"], bird["rejected"], bird["tp"]) == (2, 1, 1, 1)


# ----------------------------------------------------------------------- error cases


def test_empty_dataset_is_a_clear_error(fo, dataset_name):
    fo.Dataset(dataset_name)
    with pytest.raises(LabelkitError, match="no samples.*lk.load_images"):
        lk.audit(dataset_name)


@pytest.mark.parametrize("mode", ["auto", "review"])
def test_no_reviewed_sample_is_a_clear_error(fo, dataset_name, mode):
    ds = fo.Dataset(dataset_name)
    ds.add_sample(fo.Sample(filepath="/nonexistent/a.png"))
    store = ReviewStore(ds)
    store.write_proposals(
        {ds.first().id: fo.Detections(detections=[_proposal(fo, "cat", _rect(0, 0, 5, 5), 0.9)])}
    )
    with pytest.raises(LabelkitError, match="review_status 'done'.*lk.Labeler"):
        lk.audit(ds, mode=mode)


def test_missing_labels_field_names_the_field(fo, dataset_name):
    ds = fo.Dataset(dataset_name)
    ds.add_sample(fo.Sample(filepath="/nonexistent/a.png"))
    with pytest.raises(LabelkitError, match="no labels field 'reviewed'"):
        lk.audit(ds, labels="reviewed")


# -------------------------------------------------------------- intervals (bootstrap)


def _synthetic(fo, name, n_images, p_accept, seed=1, per_image=3, human_per_image=0):
    """n_images reviewed images; each proposal accepted with probability p_accept, else rejected."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n_images):
        props, labels = [], []
        for _ in range(per_image):
            p = fo.Detection(
                label="cat",
                bounding_box=[0.1, 0.1, 0.2, 0.2],
                confidence=float(rng.uniform(0.3, 1)),
            )
            accepted = rng.random() < p_accept
            p["review"] = "accepted" if accepted else "rejected"
            props.append(p)
            if accepted:
                labels.append(_from_proposal(p))
        labels += [_human("cat", _rect(0, 0, 4, 4)) for _ in range(human_per_image)]
        samples.append(
            fo.Sample(
                filepath=f"/nonexistent/{name}/{i}.png",
                predictions=fo.Detections(detections=props),
                ground_truth=fo.Detections(detections=labels),
                review_status="done",
            )
        )
    ds = fo.Dataset(name, persistent=True)
    ds.add_samples(samples, progress=False)
    ReviewStore(ds)  # declares the schema attributes
    return ds


@pytest.fixture(scope="module")
def small_and_large(module_name):
    import fiftyone as fo

    small = lk.audit(_synthetic(fo, module_name(), 20, 0.7), n_boot=1000, seed=0)
    large = lk.audit(_synthetic(fo, module_name(), 200, 0.7), n_boot=1000, seed=0)
    return small, large


def test_interval_brackets_the_point_estimate(small_and_large):
    for r in small_and_large:
        for key in ("accepted_rate", "precision", "recall", "time_saved_share"):
            assert r.overall[f"{key}_lo"] <= r.overall[key] <= r.overall[f"{key}_hi"], key


def test_interval_narrows_with_more_images(small_and_large):
    small, large = (
        r.overall["accepted_rate_hi"] - r.overall["accepted_rate_lo"] for r in small_and_large
    )
    assert 0.15 < small  # 60 proposals in 20 images: an honest, wide range
    assert large < 0.6 * small  # ~1/sqrt(10) in theory


def test_interval_of_200_images_covers_the_true_rate(small_and_large):
    _, large = small_and_large
    assert large.overall["accepted_rate_lo"] < 0.7 < large.overall["accepted_rate_hi"]


def test_bootstrap_is_reproducible_with_a_seed(reviewed):
    a = lk.audit(reviewed, n_boot=300, seed=7).overall
    b = lk.audit(reviewed, n_boot=300, seed=7).overall
    assert (a["accepted_rate_lo"], a["accepted_rate_hi"]) == (
        b["accepted_rate_lo"],
        b["accepted_rate_hi"],
    )


# -------------------------------------------------------------------- recommendations


def _row(**kw):
    base = dict(
        proposals=100,
        final_instances=100,
        accepted_rate_lo=0.6,
        recall_lo=0.6,
        useful_rate_hi=0.9,
        recall_hi=0.9,
    )
    base.update(kw)
    return base


@pytest.mark.parametrize(
    "row, expected",
    [
        (_row(accepted_rate_lo=0.92, recall_lo=0.91), "automate"),
        (_row(accepted_rate_lo=0.92, recall_lo=0.85), "review-only"),  # finds too few objects
        (_row(accepted_rate_lo=0.89, recall_lo=0.95), "review-only"),  # lower bound just short
        (_row(useful_rate_hi=0.45), "label by hand"),
        (_row(recall_hi=0.3), "label by hand"),
        (
            _row(
                proposals=0,
                final_instances=40,
                accepted_rate_lo=float("nan"),
                useful_rate_hi=float("nan"),
                recall_lo=0.0,
                recall_hi=0.0,
            ),
            "label by hand",
        ),  # a class the model never knew
        (
            _row(proposals=12, final_instances=15, accepted_rate_lo=1.0, recall_lo=1.0),
            "not enough data",
        ),
    ],
)
def test_recommendation_thresholds(row, expected):
    assert _recommend(row, DEFAULT_THRESHOLDS)[0] == expected


@pytest.fixture(scope="module")
def all_accepted(module_name):
    import fiftyone as fo

    return _synthetic(fo, module_name(), 30, 1.0)


def test_recommendation_end_to_end_automate_vs_hand(fo, module_name, all_accepted):
    good = lk.audit(all_accepted, n_boot=200)
    bad = lk.audit(_synthetic(fo, module_name(), 30, 0.1, human_per_image=2), n_boot=200)
    assert good.per_class.loc["cat", "recommendation"] == "automate"
    assert bad.per_class.loc["cat", "recommendation"] == "label by hand"


def test_recommendation_thresholds_are_overridable(all_accepted):
    r = lk.audit(all_accepted, n_boot=200, thresholds={"min_instances": 1000})
    assert r.per_class.loc["cat", "recommendation"] == "not enough data"
    assert r.assumptions["thresholds"]["min_instances"] == 1000


# ---------------------------------------------------------------- threshold suggestion


def test_threshold_suggestion_is_the_lowest_confidence_keeping_target_precision():
    conf = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    tp = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]  # kept to 0.2: 9/9; all: 9/10
    s = suggest_threshold(conf, tp, n_final=10, target_precision=0.95)
    assert (s["confidence"], s["kept"], s["dropped"]) == (0.2, 9, 1)
    assert s["precision"] == 1.0 and s["recall"] == pytest.approx(0.9)
    tp = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    assert suggest_threshold(conf, tp, 10, 0.9)["confidence"] == 0.95
    assert suggest_threshold(conf, [0] * 10, 10, 0.9)["confidence"] is None


def test_threshold_suggestion_ignores_thresholds_keeping_too_few_proposals():
    conf = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    tp = [1, 1, 0, 1, 0, 1]  # precision 1.0 only for the top two
    assert suggest_threshold(conf, tp, 6, 0.9, min_kept=1)["confidence"] == 0.8
    s = suggest_threshold(conf, tp, 6, 0.9, min_kept=3)
    assert s["confidence"] is None and "keeping >= 3" in s["note"]


def test_report_carries_a_threshold_suggestion(reviewed):
    s = lk.audit(reviewed, n_boot=0, thresholds={"min_instances": 5}).threshold_suggestion
    # TPs at 0.95, 0.9, 0.85, 0.8, 0.7 then dog H (0.6, IoU 0.4) and cat D (0.3): 5/5 down to 0.7
    assert s["confidence"] == pytest.approx(0.7) and s["precision"] == 1.0


# ---------------------------------------------------------------- ground-truth mode


def _shift(m, dx, dy):
    out = np.zeros_like(m)
    h, w = m.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = m[
        max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def _coin_masks(img):
    from scipy import ndimage as ndi
    from skimage import filters

    m = ndi.binary_fill_holes(ndi.binary_opening(img > filters.threshold_otsu(img), iterations=2))
    lab, n = ndi.label(m)
    return [lab == k for k in range(1, n + 1) if (lab == k).sum() >= 500]


def _background_boxes(objects, n, size=12):
    """n full-image masks of size x size squares where no object is (false positives)."""
    h, w = objects.shape
    out = []
    for y in range(0, h - size, size):
        for x in range(0, w - size, size):
            if not objects[y : y + size, x : x + size].any() and len(out) < n:
                out.append(_rect(x, y, x + size, y + size, w, h))
    return out


@pytest.fixture(scope="module")
def coins(module_name, tmp_path_factory):
    """Two real images (coins and its mirror), ground truth by threshold + connected
    components, proposals perturbed with a known plan; returns (dataset, full masks)."""
    import fiftyone as fo
    from PIL import Image
    from skimage import data

    from labelkit.geometry.masks import mask_iou

    d = tmp_path_factory.mktemp("coins")
    ds = fo.Dataset(module_name(), persistent=True)
    full = {}
    plan_counts = dict(accept=0, edit=0, reject=0, missed=0)
    conf = iter(np.linspace(0.99, 0.3, 200))
    for k, img in enumerate([data.coins(), np.fliplr(data.coins())]):
        path = str(d / f"coins{k}.png")
        Image.fromarray(np.ascontiguousarray(img)).save(path)
        gts = _coin_masks(img)
        assert len(gts) >= 20
        props = []
        for i, g in enumerate(gts):
            if i < 10:  # exact
                props.append(g)
                plan_counts["accept"] += 1
            elif i < 14:  # shifted 4 px: 0.5 <= IoU < 0.85
                p = _shift(g, 4, 0)
                assert 0.5 <= mask_iou(p, g)[0, 0] < 0.85
                props.append(p)
                plan_counts["edit"] += 1
            elif i < 16:  # shifted 25 px: a reject plus a miss
                p = _shift(g, 0, 25)
                assert mask_iou(p, np.stack(gts)).max() < 0.5
                props.append(p)
                plan_counts["reject"] += 1
                plan_counts["missed"] += 1
            elif i < 18:  # no proposal
                plan_counts["missed"] += 1
            else:
                props.append(g)
                plan_counts["accept"] += 1
        fps = _background_boxes(np.stack(gts).any(axis=0), n=2)
        assert mask_iou(np.stack(fps), np.stack(gts)).max() == 0
        props += fps
        plan_counts["reject"] += len(fps)
        s = fo.Sample(
            filepath=path,
            metadata=fo.ImageMetadata(width=img.shape[1], height=img.shape[0]),
            ground_truth=fo.Detections(
                detections=[
                    fo.Detection(
                        label="coin", bounding_box=full_to_crop(g)[0], mask=full_to_crop(g)[1]
                    )
                    for g in gts
                ]
            ),
            predictions=fo.Detections(
                detections=[_proposal(fo, "coin", p, float(next(conf))) for p in props]
            ),
        )
        ds.add_sample(s)
        full[s.id] = (gts, props, [det.confidence for det in s.predictions.detections])
    return ds, full, plan_counts


@pytest.fixture(scope="module")
def coins_report(coins):
    ds, _, _ = coins
    return lk.audit(ds, n_boot=200)


def test_auto_mode_picks_ground_truth_for_plain_labels(coins_report):
    assert coins_report.mode == "ground_truth"


def test_ground_truth_mode_simulates_the_review(coins_report, coins):
    _, _, plan = coins
    o = coins_report.overall
    assert (o["accepted"], o["edited"], o["rejected"], o["missed"]) == (
        plan["accept"],
        plan["edit"],
        plan["reject"],
        plan["missed"],
    )
    assert o["tp"] == plan["accept"] + plan["edit"]
    assert o["final_instances"] == o["tp"] + o["missed"]


def test_ground_truth_mode_leaves_no_evaluation_behind(coins_report, coins):
    ds, _, _ = coins
    assert ds.list_evaluations() == []
    assert not [f for f in ds.get_field_schema(flat=True) if "lkaudit" in f]


def test_ground_truth_mode_agrees_with_pycocotools(coins_report, coins):
    """TP count and matched IoUs at IoU 0.5 from pycocotools' COCOeval (segm, all areas)."""
    import contextlib
    import io

    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    _, full, _ = coins
    images, gt_anns, dt_anns = [], [], []
    for img_id, (gts, props, confs) in enumerate(full.values(), start=1):
        h, w = gts[0].shape
        images.append({"id": img_id, "width": w, "height": h})
        for m, is_gt, score in [(g, True, None) for g in gts] + [
            (p, False, c) for p, c in zip(props, confs, strict=True)
        ]:
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            ann = {
                "id": len(gt_anns) + len(dt_anns) + 1,
                "image_id": img_id,
                "category_id": 1,
                "segmentation": rle,
                "area": float(mask_utils.area(rle)),
                "bbox": list(mask_utils.toBbox(rle)),
                "iscrowd": 0,
            }
            if is_gt:
                gt_anns.append(ann)
            else:
                dt_anns.append({**ann, "score": score})
    gt = COCO()
    gt.dataset = {
        "images": images,
        "annotations": gt_anns,
        "categories": [{"id": 1, "name": "coin"}],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(dt_anns)
        ev = COCOeval(gt, dt, iouType="segm")
        ev.params.iouThrs = np.array([0.5])
        ev.params.maxDets = [1000]
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.evaluate()
    tp, matched_ious = 0, []  # (loadRes renumbers detections: read them back from ev.cocoDt)
    for e in ev.evalImgs:
        for d_id, g_id in zip(e["dtIds"], e["dtMatches"][0], strict=True):
            if g_id > 0:
                tp += 1
                matched_ious.append(
                    mask_utils.iou(
                        [ev.cocoDt.anns[d_id]["segmentation"]],
                        [ev.cocoGt.anns[int(g_id)]["segmentation"]],
                        [0],
                    )[0, 0]
                )
    o = coins_report.overall
    assert o["tp"] == tp
    assert o["precision"] == pytest.approx(tp / len(dt_anns))
    assert o["recall"] == pytest.approx(tp / len(gt_anns))
    ours = coins_report.proposals_table.query("tp")["iou"].to_numpy()
    assert np.allclose(sorted(ours), sorted(matched_ious))


def test_explicit_ground_truth_mode_on_reviewed_labels_ignores_provenance(reviewed):
    r = lk.audit(reviewed, mode="ground_truth", n_boot=0)
    assert r.mode == "ground_truth" and r.n_images == 4  # every sample counts


@pytest.fixture(scope="module")
def tiny_gt(module_name):
    """One image of plain ground truth: cat (exact proposal), a crowd region (with a
    proposal on it), a donut the model never proposes, with a dog proposal on it."""
    import fiftyone as fo

    ds = fo.Dataset(module_name(), persistent=True)
    cat, crowd, donut = _rect(0, 0, 10, 10), _rect(20, 0, 40, 20), _rect(40, 30, 60, 46)
    gts = [
        fo.Detection(label="cat", bounding_box=full_to_crop(m)[0], mask=full_to_crop(m)[1])
        for m in (cat, crowd)
    ]
    gts[1]["iscrowd"] = 1
    gts.append(
        fo.Detection(
            label="donut", bounding_box=full_to_crop(donut)[0], mask=full_to_crop(donut)[1]
        )
    )
    props = [
        _proposal(fo, "cat", cat, 0.9),
        _proposal(fo, "cat", crowd, 0.8),
        _proposal(fo, "dog", donut, 0.7),
    ]
    ds.add_sample(
        fo.Sample(
            filepath="/nonexistent/tiny.png",
            ground_truth=fo.Detections(detections=gts),
            predictions=fo.Detections(detections=props),
        )
    )
    return lk.audit(ds, n_boot=0)


def test_ground_truth_mode_lists_a_class_the_model_never_proposed(tiny_gt):
    donut = tiny_gt.per_class.loc["donut"]
    assert (donut["proposals"], donut["final_instances"], donut["missed"], donut["recall"]) == (
        0,
        1,
        1,
        0.0,
    )


def test_ground_truth_matching_is_classwise(tiny_gt):
    dog = tiny_gt.per_class.loc[
        "dog"
    ]  # right place, wrong class: rejected, and the donut is missed
    assert (dog["proposals"], dog["rejected"], dog["final_instances"]) == (1, 1, 0)


def test_ground_truth_crowd_regions_are_not_counted(tiny_gt):
    cat = tiny_gt.per_class.loc["cat"]
    assert (cat["proposals"], cat["accepted"], cat["final_instances"], cat["missed"]) == (
        1,
        1,
        1,
        0,
    )
    assert any("crowd" in n for n in tiny_gt.notes)


def test_ground_truth_without_masks_falls_back_to_box_iou(fo, dataset_name):
    ds = fo.Dataset(dataset_name)
    ds.add_sample(
        fo.Sample(
            filepath="/nonexistent/boxes.png",
            ground_truth=fo.Detections(
                detections=[fo.Detection(label="cat", bounding_box=[0.1, 0.1, 0.4, 0.4])]
            ),
            predictions=fo.Detections(
                detections=[
                    fo.Detection(label="cat", bounding_box=[0.1, 0.1, 0.4, 0.4], confidence=0.9)
                ]
            ),
        )
    )
    r = lk.audit(ds, n_boot=0)
    assert r.overall["accepted"] == 1 and r.overall["missed"] == 0
    assert any("box IoU" in n for n in r.notes)


def test_lk_audit_stays_callable_after_importing_the_module(reviewed):
    import labelkit.audit  # noqa: F401
    from labelkit.audit.report import AuditReport

    assert callable(lk.audit)
    assert isinstance(lk.audit(reviewed, n_boot=0), AuditReport)


# ------------------------------------------------------------------------- display


def test_text_report_is_a_table_with_every_class(report):
    text = str(report)
    assert text == report.to_text()
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("class"))
    assert "accepted" in header and "recall" in header and "recommendation" in header
    for cls in ("cat", "dog", "fox", "all"):
        assert any(line.startswith(cls) for line in lines), cls
    assert "review mode: 3 of 4 samples" in text
    assert "draw from scratch 30" in text


def test_notebook_display_has_table_and_inline_plots(report):
    html = report._repr_html_()
    assert "<table" in html and ">fox</td>" in html
    assert 'src="data:image/png;base64,' in html


def test_save_writes_a_self_contained_html_page(report, tmp_path):
    out = Path(report.save(tmp_path / "audit.html"))
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<table" in page and ">cat</td>" in page
    assert "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


# ----------------------------------------------------------------------------- CLI


def test_cli_prints_the_table_and_writes_html(reviewed, tmp_path):
    out = tmp_path / "a.html"
    env = os.environ.copy()  # FIFTYONE_DATABASE_DIR of this test run
    r = subprocess.run(
        [str(BIN), "audit", reviewed.name, "--html", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "recommendation" in r.stdout and any(
        line.startswith("dog") for line in r.stdout.splitlines()
    )
    assert out.exists() and "<table" in out.read_text(encoding="utf-8")


def test_cli_says_what_to_do_when_nothing_is_reviewed(fo, module_name):
    ds = fo.Dataset(module_name(), persistent=True)
    ds.add_sample(fo.Sample(filepath="/nonexistent/a.png"))
    ReviewStore(ds)
    r = subprocess.run(
        [str(BIN), "audit", ds.name],
        capture_output=True,
        text=True,
        timeout=180,
        env=os.environ.copy(),
    )
    assert r.returncode == 2
    assert "labelkit: error: nothing to audit" in r.stderr and "lk.Labeler" in r.stderr


# ------------------------------------------------- several proposal fields side by side


@pytest.fixture(scope="module")
def two_models(module_name):
    """Ground truth (cats and dogs) and two models: 'good' finds every object almost
    exactly; 'catonly' finds only the cats, shifted by 2 px, plus one false dog per image."""
    import fiftyone as fo

    samples = []
    for i in range(25):  # >= min_instances per class, so there is a recommendation
        cat, dog = _rect(4, 4, 24, 24), _rect(34, 10, 58, 40)
        gt = [fo.Detection(label=lbl, **dict(zip(("bounding_box", "mask"), full_to_crop(m), strict=True)))
              for lbl, m in (("cat", cat), ("dog", dog))]
        good = [_proposal(fo, "cat", cat, 0.9), _proposal(fo, "dog", _rect(34, 10, 58, 39), 0.8)]
        catonly = [_proposal(fo, "cat", _rect(6, 6, 26, 26), 0.7), _proposal(fo, "dog", _rect(0, 30, 10, 46), 0.6)]
        samples.append(fo.Sample(filepath=f"/nonexistent/two/{i}.png", ground_truth=fo.Detections(detections=gt),
                                 good=fo.Detections(detections=good), catonly=fo.Detections(detections=catonly),
                                 metadata=fo.ImageMetadata(width=W, height=H)))
    ds = fo.Dataset(module_name(), persistent=True)
    ds.add_samples(samples, progress=False)
    return ds


def test_audit_compares_two_proposal_fields_side_by_side(two_models):
    cmp = lk.audit(two_models, proposals=["good", "catonly"], labels="ground_truth", n_boot=200)
    assert isinstance(cmp, AuditComparison)
    assert cmp.fields == ["good", "catonly"]
    assert list(cmp.per_class.index) == [("cat", "good"), ("cat", "catonly"), ("dog", "good"), ("dog", "catonly")]
    good_cat, bad_cat = cmp.per_class.loc[("cat", "good")], cmp.per_class.loc[("cat", "catonly")]
    assert good_cat["accepted_rate"] == 1.0 and bad_cat["accepted_rate"] < 1.0
    assert cmp.per_class.loc[("dog", "catonly"), "recall"] == 0.0 and cmp.per_class.loc[("dog", "good"), "recall"] == 1.0
    assert {"accepted_rate_lo", "accepted_rate_hi", "recommendation"} <= set(cmp.per_class.columns)
    assert cmp.best == {"cat": "good", "dog": "good"}
    assert list(cmp.overall.index) == ["good", "catonly"]
    assert cmp.overall.loc["good", "recall"] > cmp.overall.loc["catonly", "recall"]


def test_each_field_of_a_comparison_equals_its_own_audit(two_models):
    cmp = lk.audit(two_models, proposals=["good", "catonly"], n_boot=50)
    alone = lk.audit(two_models, proposals="catonly", mode="ground_truth", n_boot=50)
    a, b = cmp.reports["catonly"].overall, alone.overall
    assert a.keys() == b.keys()
    for key in a:
        same = a[key] == b[key] or (isinstance(a[key], float) and math.isnan(a[key]) and math.isnan(b[key]))
        assert same, key


def test_a_comparison_renders_as_text_and_escaped_html(two_models):
    cmp = lk.audit(two_models, proposals=["good", "catonly"], n_boot=0)
    text, page = cmp.to_text(), cmp._repr_html_()
    for name in ("good", "catonly", "cat", "dog", "<- best"):
        assert name in text
    assert "Which model should I automate with?" in page and "<script" not in page and "★" in page


@pytest.mark.parametrize("fields", [[], ["good", "good"]])
def test_a_bad_list_of_proposal_fields_is_a_clear_error(two_models, fields):
    with pytest.raises(LabelkitError, match="distinct field names"):
        lk.audit(two_models, proposals=fields)


def test_a_list_of_one_field_is_a_plain_report(two_models):
    assert type(lk.audit(two_models, proposals=["good"], n_boot=0)).__name__ == "AuditReport"
