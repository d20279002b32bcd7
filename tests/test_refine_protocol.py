"""The interactive-segmentation protocol of bench/refine.py (clicks at error interiors, NoC)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("bench_refine", Path(__file__).parents[1] / "bench" / "refine.py")
refine = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refine)


def _disc(h=60, w=80, cx=40, cy=30, r=15):
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2


class _Oracle:
    """Returns the ground truth after ``after`` calls, an empty mask before."""

    def __init__(self, gt, after=1):
        self.gt, self.after, self.calls = gt, after, 0

    def segment(self, image, points=None, point_labels=None, mask_input=None):
        self.calls += 1
        m = self.gt if self.calls >= self.after else np.zeros_like(self.gt)
        return m[None], np.ones(1, np.float32)


def test_the_first_click_is_positive_at_the_object_centre():
    (x, y), label = refine.next_click(_disc(), None)
    assert label == 1 and abs(x - 40) <= 1 and abs(y - 30) <= 1


def test_a_false_positive_blob_gets_a_negative_click_inside_it():
    gt = _disc()
    pred = gt.copy()
    pred[0:20, 0:20] = True  # a big false positive in the corner
    (x, y), label = refine.next_click(gt, pred)
    assert label == 0 and pred[int(y), int(x)] and not gt[int(y), int(x)]


def test_a_missed_part_gets_a_positive_click_inside_it():
    gt = _disc()
    pred = gt.copy()
    pred[:, :40] = False
    (x, y), label = refine.next_click(gt, pred)
    assert label == 1 and gt[int(y), int(x)] and not pred[int(y), int(x)]


def test_a_perfect_mask_needs_no_more_clicks():
    assert refine.next_click(_disc(), _disc()) is None


@pytest.mark.parametrize("after, expected", [(1, 1), (4, 4), (99, 20)])
def test_noc_counts_the_clicks_to_reach_the_target(after, expected):
    gt = _disc()
    result = refine.evaluate_instance(_Oracle(gt, after), np.zeros((*gt.shape, 3), np.uint8), gt)
    assert len(result["ious"]) == 20
    assert refine.noc(result["ious"], 0.9) == expected


def test_summary_reports_the_field_metrics():
    gt = _disc()
    results = [refine.evaluate_instance(_Oracle(gt, a), np.zeros((*gt.shape, 3), np.uint8), gt) for a in (1, 3)]
    s = refine.summarize(results)
    assert s["NoC@90"] == 2.0 and s["mIoU@1"] == 0.5 and s["mIoU@3"] == 1.0 and s["NoC20@90"] == 0.0


def test_grabcut_reaches_85_on_a_clean_synthetic_disc():
    import labelkit as lk

    gt = _disc(120, 160, 80, 60, 30)
    img = np.full((120, 160, 3), 30, np.uint8)
    img[gt] = (220, 200, 40)
    result = refine.evaluate_instance(lk.models.grabcut(), img, gt)
    assert refine.noc(result["ious"], 0.85) <= 3
