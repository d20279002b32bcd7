"""Text-prompted proposals (OWLv2 / Grounding DINO + a segmenter) and ensembles with
cross-class duplicate suppression, on tiny random-initialised transformers models."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from tiny_hf import tiny_grounding_dino, tiny_owlv2

import labelkit as lk
from labelkit.errors import ModelError
from labelkit.models.base import CallableProposer
from labelkit.models.grounded import GroundedProposer


def _image(seed=0):
    rng = np.random.default_rng(seed)
    img = (rng.random((120, 160, 3)) * 80).astype(np.uint8)
    img[30:80, 20:70] = (230, 180, 60)
    return img


@pytest.fixture(params=["owlv2", "grounding-dino"])
def grounded_model(request, tmp_path):
    build = tiny_owlv2 if request.param == "owlv2" else tiny_grounding_dino
    detector, processor = build(tmp_path / "tok")
    return GroundedProposer(["donut", "mug"], detector, processor, box_threshold=0.0, device="cpu")


def test_grounded_proposes_masked_detections_of_its_classes(grounded_model):
    dets = grounded_model.predict([_image(0), _image(1)])
    assert len(dets) == 2
    labels = {d.label for r in dets for d in r.detections}
    assert labels and labels <= {"donut", "mug"}
    for r in dets:
        for d in r.detections:
            assert 0.0 <= d.confidence <= 1.0
            x, y, w, h = d.bounding_box
            assert 0 <= x and 0 <= y and x + w <= 1 + 1e-4 and y + h <= 1 + 1e-4  # 1e-3 px rounding guard
            assert d.mask is not None and d.mask.dtype == bool


def test_detect_returns_pixel_boxes_in_the_image_after_nms(grounded_model):
    boxes, labels, scores = grounded_model.detect(_image())
    assert boxes.shape[1] == 4 and len(boxes) == len(labels) == len(scores)
    assert (boxes[:, [0, 2]] <= 160).all() and (boxes[:, [1, 3]] <= 120).all() and (boxes >= 0).all()
    assert set(labels.tolist()) <= {0, 1}
    iou = lk.masks.box_iou(boxes, boxes) - np.eye(len(boxes))
    assert (iou < grounded_model.nms_iou).all()


def test_box_threshold_drops_every_box_above_all_scores(grounded_model):
    grounded_model.box_threshold = 1.01
    assert all(len(r.detections) == 0 for r in grounded_model.predict([_image()]))


def test_grounded_runs_through_propose_like_any_proposer(fo, tmp_path, dataset_name, grounded_model):
    from PIL import Image

    for i in range(3):
        Image.fromarray(_image(i)).save(tmp_path / f"{i}.png")
    ds = lk.load_images(tmp_path, name=dataset_name)
    summary = lk.propose(ds, grounded_model, field="grounded")
    assert summary.images == 3 and summary.proposals == ds.count("grounded.detections") > 0
    assert set(ds.distinct("grounded.detections.label")) <= {"donut", "mug"}


@pytest.mark.parametrize("family", ["owlv2", "grounding-dino"])
def test_grounded_loads_a_local_folder_with_the_real_from_pretrained(tmp_path, family):
    build = tiny_owlv2 if family == "owlv2" else tiny_grounding_dino
    detector, processor = build(tmp_path / "tok")
    detector.save_pretrained(tmp_path / "det")
    processor.save_pretrained(tmp_path / "det")
    model = lk.models.grounded(["donut", "mug"], detector=str(tmp_path / "det"), box_threshold=0.0, device="cpu")
    assert model.family == family and model.classes == ["donut", "mug"]
    loaded = model.detect(_image())
    direct = GroundedProposer(["donut", "mug"], detector, processor, box_threshold=0.0, device="cpu").detect(_image())
    for a, b in zip(loaded, direct, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_grounded_offline_names_the_detector_the_cache_and_the_local_folder(tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "LABELKIT_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    code = "import labelkit as lk; lk.models.grounded(['donut'], detector='IDEA-Research/grounding-dino-tiny')"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode != 0 and "WeightsNotAvailableError" in last
    assert "IDEA-Research/grounding-dino-tiny" in last and str(tmp_path / "hf") in last
    assert "detector='/path/to/grounding-dino-tiny'" in last


@pytest.mark.parametrize("classes", [[], ["donut", "donut"], ["donut", " "]])
def test_grounded_needs_distinct_class_names(tmp_path, classes):
    detector, processor = tiny_owlv2(tmp_path / "tok")
    with pytest.raises(ModelError, match="distinct, non-empty"):
        GroundedProposer(classes, detector, processor, device="cpu")


def test_grounded_refuses_a_model_that_is_not_a_detector(tmp_path):
    from tiny_hf import tiny_sam

    model, processor = tiny_sam()
    with pytest.raises(ModelError, match="not an OWLv2 or Grounding DINO"):
        GroundedProposer(["donut"], model, processor, device="cpu")


# ------------------------------------------------------------------ ensemble


def _fixed(boxes, labels, scores, classes, name):
    def fn(images):
        out = []
        for im in images:
            h, w = im.shape[:2]
            masks = np.zeros((len(boxes), h, w), bool)
            for k, (x1, y1, x2, y2) in enumerate(boxes):
                masks[k, y1:y2, x1:x2] = True
            out.append({"boxes": boxes, "labels": labels, "scores": scores, "masks": masks})
        return out

    return CallableProposer(fn, classes=classes, name=name)


def test_ensemble_suppresses_a_duplicate_of_another_class_and_keeps_the_rest():
    closed = _fixed([[20, 30, 70, 80], [100, 10, 150, 60]], [0, 1], [0.9, 0.8], ["mug", "ball"], "closed")
    open_vocab = _fixed([[22, 31, 70, 80], [5, 90, 40, 118]], [0, 0], [0.6, 0.7], ["donut"], "grounded")
    both = lk.models.ensemble([closed, open_vocab], iou=0.5)
    assert both.classes == ["mug", "ball", "donut"]
    (dets,) = both.predict([_image()])
    got = sorted((d.label, d.proposer, round(d.confidence, 2)) for d in dets.detections)
    assert got == [("ball", "closed", 0.8), ("donut", "grounded", 0.7), ("mug", "closed", 0.9)]


def test_ensemble_keeps_the_more_confident_of_two_overlapping_proposals():
    a = _fixed([[20, 30, 70, 80]], [0], [0.4], ["mug"], "a")
    b = _fixed([[20, 30, 70, 80]], [0], [0.95], ["donut"], "b")
    (dets,) = lk.models.ensemble([a, b]).predict([_image()])
    assert [(d.label, d.proposer) for d in dets.detections] == [("donut", "b")]


def test_ensemble_with_iou_one_keeps_everything_but_exact_duplicates():
    a = _fixed([[20, 30, 70, 80]], [0], [0.4], ["mug"], "a")
    b = _fixed([[21, 30, 70, 80]], [0], [0.95], ["donut"], "b")
    (dets,) = lk.models.ensemble([a, b], iou=1.0).predict([_image()])
    assert len(dets.detections) == 2


@pytest.mark.parametrize("members, iou, fragment", [([], 0.5, "at least one"), ([object()], 0.5, "not a proposer"),
                                                     (None, 0.0, "iou must be")])
def test_ensemble_refuses_bad_arguments(members, iou, fragment):
    if members is None:
        members = [_fixed([[1, 1, 5, 5]], [0], [0.5], ["a"], "a")]
    with pytest.raises(ModelError, match=fragment):
        lk.models.ensemble(members, iou=iou)


def test_ensemble_proposes_through_propose(fo, tmp_path, dataset_name):
    from PIL import Image

    Image.fromarray(_image()).save(tmp_path / "a.png")
    ds = lk.load_images(tmp_path, name=dataset_name)
    closed = _fixed([[20, 30, 70, 80]], [0], [0.9], ["mug"], "closed")
    other = _fixed([[20, 30, 70, 80], [5, 90, 40, 118]], [0, 0], [0.5, 0.7], ["donut"], "grounded")
    lk.propose(ds, lk.models.ensemble([closed, other]), field="both")
    labels = sorted(zip(ds.values("both.detections.label")[0], ds.values("both.detections.proposer")[0],
                        strict=True))
    assert labels == [("donut", "grounded"), ("mug", "closed")]
