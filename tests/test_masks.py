"""masks.py: conversions and IoU, including empty, border, one-pixel and multi-part masks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labelkit.geometry import masks as M

SETTINGS = settings(max_examples=150, deadline=None)


@st.composite
def bool_masks(draw, max_side=24):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    return draw(arrays(np.bool_, (h, w)))


@st.composite
def sparse_masks(draw, max_side=24):
    """Masks made of a few rectangles and single pixels (multi-part, border-touching)."""
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    m = np.zeros((h, w), bool)
    for _ in range(draw(st.integers(0, 4))):
        x0 = draw(st.integers(0, w - 1))
        y0 = draw(st.integers(0, h - 1))
        x1 = draw(st.integers(x0 + 1, w))
        y1 = draw(st.integers(y0 + 1, h))
        m[y0:y1, x0:x1] = draw(st.booleans()) or m[y0:y1, x0:x1].any() or True
    for _ in range(draw(st.integers(0, 3))):
        m[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = True
    return m


boxes_xyxy = st.lists(
    st.tuples(st.floats(0, 500), st.floats(0, 400), st.floats(0, 200), st.floats(0, 200)).map(
        lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3])
    ),
    max_size=5,
)


@SETTINGS
@given(boxes_xyxy)
def test_box_conversions_round_trip(boxes):
    w, h = 640, 480
    b = np.asarray(boxes, float).reshape(-1, 4)
    assert np.allclose(M.fo_to_xyxy(M.xyxy_to_fo(b, w, h), w, h), b)
    assert np.allclose(M.coco_to_xyxy(M.xyxy_to_coco(b)), b)
    assert np.allclose(M.fo_to_coco(M.coco_to_fo(M.xyxy_to_coco(b), w, h), w, h), M.xyxy_to_coco(b))


def test_box_conversions_known_values():
    assert M.xyxy_to_fo([10, 20, 30, 60], 100, 200).tolist() == [[0.1, 0.1, 0.2, 0.2]]
    assert M.xyxy_to_coco([10, 20, 30, 60]).tolist() == [[10, 20, 20, 40]]
    assert M.fo_to_coco([0.1, 0.1, 0.2, 0.2], 100, 200).tolist() == [[10, 20, 20, 40]]


@pytest.mark.parametrize(
    "fn", [lambda b: M.xyxy_to_fo(b, 10, 10), lambda b: M.fo_to_xyxy(b, 10, 10), M.xyxy_to_coco, M.coco_to_xyxy]
)
def test_box_conversions_accept_empty_input(fn):
    assert fn([]).shape == (0, 4)
    assert fn(np.zeros((0, 4))).shape == (0, 4)


@SETTINGS
@given(bool_masks())
def test_full_to_crop_round_trip_is_exact(mask):
    out = M.full_to_crop(mask)
    if not mask.any():
        assert out is None
        return
    box, crop = out
    assert crop.dtype == bool
    h, w = mask.shape
    x0, y0, x1, y1 = M.pixel_box(box, w, h)
    assert crop.shape == (y1 - y0, x1 - x0)
    assert np.array_equal(M.crop_to_full(box, crop, w, h), mask)


def test_crop_to_full_matches_fiftyone_rendering(fo):
    """Our paste of a cropped mask agrees with FiftyOne's own Detection.to_segmentation."""
    rng = np.random.default_rng(3)
    h, w = 37, 53
    mask = np.zeros((h, w), bool)
    mask[5:30, 7:41] = rng.random((25, 34)) > 0.4
    box, crop = M.full_to_crop(mask)
    det = fo.Detection(label="x", bounding_box=box, mask=crop)
    seg = det.to_segmentation(frame_size=(w, h), target=1)
    assert np.array_equal(seg.mask.astype(bool), mask)


def test_crop_of_other_size_is_resized_like_fiftyone():
    crop = np.array([[1, 0], [0, 1]], bool)
    full = M.crop_to_full([0.0, 0.0, 0.4, 0.4], crop, 10, 10)
    assert full[:2, :2].all() and full[2:4, 2:4].all() and not full[:2, 2:4].any()
    assert full.sum() == 8


def test_box_only_detection_fills_its_box():
    full = M.crop_to_full([0.1, 0.2, 0.3, 0.4], None, 10, 10)
    assert full.sum() == 3 * 4 and full[2:6, 1:4].all()


@SETTINGS
@given(sparse_masks())
def test_polygon_round_trip_is_exact(mask):
    polys = M.mask_to_polygons(mask)
    back = M.polygon_to_mask(polys, mask.shape[1], mask.shape[0])
    assert np.array_equal(back, mask)


@SETTINGS
@given(bool_masks(max_side=16))
def test_polygon_round_trip_handles_holes_and_noise(mask):
    back = M.polygon_to_mask(M.mask_to_polygons(mask), mask.shape[1], mask.shape[0])
    assert np.array_equal(back, mask)


def test_polygon_of_a_ring_keeps_the_hole():
    m = np.zeros((9, 9), bool)
    m[1:8, 1:8] = True
    m[3:6, 3:6] = False
    polys = M.mask_to_polygons(m)
    assert len(polys) == 2
    assert np.array_equal(M.polygon_to_mask(polys, 9, 9), m)


def test_polygon_to_mask_accepts_flat_coco_lists_and_empty():
    flat = [1, 1, 5, 1, 5, 4, 1, 4]
    m = M.polygon_to_mask(flat, 8, 6)
    assert m[1:5, 1:6].all() and m.sum() == 20
    assert not M.polygon_to_mask([], 8, 6).any()
    assert M.mask_to_polygons(np.zeros((4, 4), bool)) == []


def test_polygon_area():
    assert M.polygon_area([(0, 0), (4, 0), (4, 3), (0, 3)]) == 12
    assert M.polygon_area([(0, 0), (1, 1)]) == 0


@SETTINGS
@given(bool_masks())
def test_rle_round_trip_is_exact(mask):
    rle = M.mask_to_rle(mask)
    assert rle["size"] == list(mask.shape) and isinstance(rle["counts"], str)
    assert np.array_equal(M.rle_to_mask(rle), mask)


def test_uncompressed_rle_decodes():
    m = np.zeros((3, 4), bool)
    m[1, 1:3] = True
    # column-major runs: 4 zeros, 1 one, 2 zeros, 1 one, rest zeros
    rle = {"size": [3, 4], "counts": [4, 1, 2, 1, 4]}
    assert np.array_equal(M.rle_to_mask(rle), m)


def test_coco_polygon_segmentation_uses_pixel_corners():
    m = M.coco_segmentation_to_mask([[2, 2, 6, 2, 6, 5, 2, 5]], 8, 8)
    assert m[2:5, 2:6].all() and m.sum() == 12


@SETTINGS
@given(st.lists(bool_masks(max_side=8).filter(lambda m: m.shape == (8, 8)), max_size=0), st.data())
def test_mask_iou_matches_definition(_, data):
    n = data.draw(st.integers(0, 4))
    k = data.draw(st.integers(0, 4))
    a = data.draw(arrays(np.bool_, (n, 6, 7)))
    b = data.draw(arrays(np.bool_, (k, 6, 7)))
    iou = M.mask_iou(a, b)
    assert iou.shape == (n, k)
    for i in range(n):
        for j in range(k):
            union = (a[i] | b[j]).sum()
            expect = (a[i] & b[j]).sum() / union if union else 0.0
            assert iou[i, j] == pytest.approx(expect)


def test_mask_iou_agrees_with_pycocotools(rng):
    from pycocotools import mask as mask_utils

    a = rng.random((5, 30, 40)) > 0.5
    b = rng.random((3, 30, 40)) > 0.6
    ra = [mask_utils.encode(np.asfortranarray(x.astype(np.uint8))) for x in a]
    rb = [mask_utils.encode(np.asfortranarray(x.astype(np.uint8))) for x in b]
    ref = mask_utils.iou(ra, rb, [0] * len(rb))
    assert np.allclose(M.mask_iou(a, b), ref)


def test_mask_iou_rejects_different_sizes():
    with pytest.raises(ValueError, match="sizes differ"):
        M.mask_iou(np.zeros((1, 4, 4), bool), np.zeros((1, 5, 4), bool))


def test_box_iou_known_values_and_empty():
    iou = M.box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    assert iou[0].tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert M.box_iou([], [[0, 0, 1, 1]]).shape == (0, 1)


def test_paste_mask_in_box_covers_the_box():
    prob = np.ones((28, 28), np.float32)
    full = M.paste_mask_in_box(prob, [10.2, 5.0, 30.7, 25.0], 64, 48)
    assert full.shape == (48, 64)
    assert (full[6:24, 11:30] > 0.5).all()
    assert (full[:, :9] == 0).all() and (full[:, 32:] == 0).all()
    assert M.paste_mask_in_box(prob, [70, 70, 80, 80], 64, 48).sum() == 0
