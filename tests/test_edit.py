"""labelkit.geometry.edit: brush/erase strokes, crop-mask helpers, polygon, box, GrabCut."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelkit.errors import ReviewError
from labelkit.geometry import edit, masks

# ------------------------------------------------------------------ real coins


def coin_masks() -> tuple[np.ndarray, list[np.ndarray]]:
    """skimage's coins photo as RGB and the masks of its separated coins (Otsu + labels)."""
    import scipy.ndimage as ndi
    from skimage import data, filters

    img = data.coins()
    bw = img > filters.threshold_otsu(img)
    bw = ndi.binary_fill_holes(ndi.binary_opening(bw, iterations=2))
    lab, n = ndi.label(bw)
    areas = ndi.sum(bw, lab, range(1, n + 1))
    coins = [lab == i + 1 for i, a in enumerate(areas) if 1000 <= a <= 4000]
    return np.repeat(img[..., None], 3, axis=2), coins


@pytest.fixture(scope="module")
def coins():
    return coin_masks()


def brute_stroke(points, radius, width, height) -> np.ndarray:
    """Reference: pixels whose centre is within max(r, 0.5) of the polyline."""
    r = max(radius, 0.5)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    out = np.zeros((height, width), bool)
    segs = list(zip(pts[:-1], pts[1:], strict=True)) if len(pts) > 1 else [(pts[0], pts[0])]
    for a, b in segs:
        d = b - a
        ll = float(d @ d)
        if ll == 0:
            t = np.zeros_like(xx)
        else:
            t = np.clip(((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / ll, 0, 1)
        out |= (xx - a[0] - t * d[0]) ** 2 + (yy - a[1] - t * d[1]) ** 2 <= r * r + 1e-9
    return out


# --------------------------------------------------------------------- strokes


def test_single_point_stroke_is_a_disc():
    m = edit.brush(np.zeros((50, 60), bool), [(30, 20)], 5)
    assert m[20, 30] and m[20, 35] and m[15, 30]
    assert not m[20, 36] and not m[24, 34]  # (4, 4) from the centre is 5.66 > 5
    assert m.sum() == brute_stroke([(30, 20)], 5, 60, 50).sum()


def test_polyline_stroke_covers_the_path_between_points():
    m = edit.brush(np.zeros((40, 100), bool), [(10, 20), (90, 20)], 2)
    assert m[20, 10:91].all()
    assert m[18:23, 50].all() and not m[17, 50] and not m[23, 50]


@settings(max_examples=40, deadline=None)
@given(
    pts=st.lists(
        st.tuples(st.floats(-10, 50, allow_nan=False), st.floats(-10, 40, allow_nan=False)),
        min_size=1,
        max_size=5,
    ),
    radius=st.floats(0, 12, allow_nan=False),
)
def test_stroke_equals_swept_disc_reference(pts, radius):
    m = edit.brush(np.zeros((30, 40), bool), pts, radius)
    np.testing.assert_array_equal(m, brute_stroke(pts, radius, 40, 30))


@settings(max_examples=60, deadline=None)
@given(
    pts=st.lists(
        st.tuples(st.integers(-20, 120), st.integers(-20, 100)), min_size=1, max_size=6
    ),
    radius=st.floats(0, 15, allow_nan=False),
    extra=st.floats(0.01, 10, allow_nan=False),
    seed=st.integers(0, 2**16),
)
def test_brush_then_erase_with_larger_radius_leaves_no_stroke_pixels(pts, radius, extra, seed):
    base = np.random.default_rng(seed).random((80, 100)) < 0.3
    painted = edit.brush(base, pts, radius)
    region = edit.brush(np.zeros_like(base), pts, radius)
    erased = edit.erase(painted, pts, radius + extra)
    assert not (erased & region).any()
    # pixels away from the larger stroke are untouched
    big = edit.brush(np.zeros_like(base), pts, radius + extra)
    np.testing.assert_array_equal(erased[~big], base[~big])


def test_brush_returns_a_new_array_and_leaves_input_alone():
    m = np.zeros((20, 20), bool)
    out = edit.brush(m, [(5, 5)], 2)
    assert out.any() and not m.any()


def test_brush_inplace_modifies_the_input():
    m = np.zeros((20, 20), bool)
    out = edit.brush(m, [(5, 5)], 2, inplace=True)
    assert out is m and m[5, 5]


def test_erase_clears_only_the_stroke():
    m = np.ones((20, 20), bool)
    out = edit.erase(m, [(10, 10)], 3)
    assert not out[10, 10] and out[0, 0] and out.sum() == 400 - brute_stroke([(10, 10)], 3, 20, 20).sum()


def test_stroke_outside_the_image_is_empty():
    box, crop = edit.stroke([(-50, -50), (-30, -40)], 5, 20, 20)
    assert box is None and crop.size == 0
    m = np.zeros((20, 20), bool)
    assert not edit.brush(m, [(-50, -50)], 5).any()


def test_stroke_partly_outside_is_clipped():
    box, crop = edit.stroke([(-3, 5), (5, 5)], 2, 20, 20)
    assert box[0] == 0 and crop.shape == (box[3] - box[1], box[2] - box[0])


def test_stroke_returns_tight_box():
    box, crop = edit.stroke([(10, 10)], 3, 50, 50)
    assert box == (7, 7, 14, 14) and crop[0].any() and crop[:, 0].any()


@pytest.mark.parametrize(
    "points, radius, needle",
    [([], 3, "at least one"), ([(1, 2)], -1, "-1"), ([(1, 2, 3)], 2, "(x, y) pairs"), ([(np.nan, 2)], 2, "NaN"), ([(1, 2)], "big", "'big'")],
)
def test_bad_strokes_raise_review_error_naming_the_value(points, radius, needle):
    with pytest.raises(ReviewError, match=None) as exc:
        edit.stroke(points, radius, 10, 10)
    assert needle in str(exc.value)


def test_stroke_on_1080p_only_touches_its_region():
    m = np.zeros((1080, 1920), bool)
    box, crop = edit.stroke([(500, 400), (600, 450)], 20, 1920, 1080)
    assert crop.shape[0] * crop.shape[1] < 200 * 120
    assert box[0] >= 479 and box[2] <= 622
    assert not m.any()


# ------------------------------------------------------------------- crop masks


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_crop_union_and_subtract_match_full_masks(seed):
    rng = np.random.default_rng(seed)
    a = np.zeros((40, 50), bool)
    b = np.zeros((40, 50), bool)
    for m in (a, b):
        if rng.random() < 0.9:
            x0, y0 = rng.integers(0, 45), rng.integers(0, 35)
            m[y0 : y0 + rng.integers(1, 15), x0 : x0 + rng.integers(1, 15)] = rng.random() < 0.9
    ca, cb = edit.full_to_cropmask(a), edit.full_to_cropmask(b)
    np.testing.assert_array_equal(edit.cropmask_to_full(edit.crop_union(ca, cb), 50, 40), a | b)
    np.testing.assert_array_equal(edit.cropmask_to_full(edit.crop_subtract(ca, cb), 50, 40), a & ~b)
    assert edit.crop_iou(ca, cb) == pytest.approx(float(masks.mask_iou(a, b)[0, 0]))
    assert edit.crop_equal(ca, edit.full_to_cropmask(a.copy()))


def test_empty_cropmask_round_trips():
    cm = edit.full_to_cropmask(np.zeros((5, 6), bool))
    assert cm[0] is None and cm[1].shape == (0, 0)
    assert not edit.cropmask_to_full(cm, 6, 5).any()
    assert edit.crop_iou(cm, cm) == 0.0


# ------------------------------------------------------------------ polygon/box


def test_polygon_matches_masks_polygon_to_mask():
    pts = [(2, 2), (15, 3), (9, 12)]
    np.testing.assert_array_equal(edit.polygon(pts, 20, 16), masks.polygon_to_mask(pts, 20, 16))


@pytest.mark.parametrize("pts", [[], [(1, 1)], [(1, 1), (5, 5)]])
def test_polygon_with_fewer_than_3_vertices_raises(pts):
    with pytest.raises(ReviewError, match=f"got {len(pts)}"):
        edit.polygon(pts, 10, 10)


def test_box_mask_fills_box_with_exclusive_ends():
    m = edit.box_mask([2, 3, 6, 8], 10, 10)
    assert m.sum() == 4 * 5 and m[3, 2] and m[7, 5] and not m[8, 5] and not m[3, 6]


def test_box_mask_clips_to_image():
    m = edit.box_mask([-5, -5, 4, 3], 10, 10)
    assert m.sum() == 4 * 3


@pytest.mark.parametrize("box", [[5, 5, 5, 9], [6, 1, 2, 3], [1, 2, 3], "abc"])
def test_bad_box_raises_naming_it(box):
    with pytest.raises(ReviewError) as exc:
        edit.box_mask(box, 10, 10)
    assert "box" in str(exc.value)


# ---------------------------------------------------------------------- GrabCut


@pytest.mark.parametrize("i", [0, 3, 9, 15])
def test_grabcut_from_box_recovers_a_real_coin(coins, i):
    img, cs = coins
    real = cs[i]
    x0, y0, x1, y1 = masks.mask_bbox(real)
    out = edit.grabcut_refine(img, box=[x0 - 3, y0 - 3, x1 + 3, y1 + 3])
    assert masks.mask_iou(out, real)[0, 0] >= 0.8


def test_grabcut_refines_an_eroded_proposal_towards_the_coin(coins):
    import scipy.ndimage as ndi

    img, cs = coins
    real = cs[5]
    bad = ndi.binary_erosion(real, iterations=5)
    before = masks.mask_iou(bad, real)[0, 0]
    out = edit.grabcut_refine(img, mask=bad)
    after = masks.mask_iou(out, real)[0, 0]
    assert after > before and after >= 0.85


def test_grabcut_negative_click_removes_and_positive_click_adds(coins):
    img, cs = coins
    real = cs[2]
    ys, xs = np.nonzero(real)
    cx, cy = float(xs.mean()), float(ys.mean())
    out = edit.grabcut_refine(img, mask=real, negative=[(cx, cy)], click_radius=4)
    assert not out[int(cy), int(cx)]
    out2 = edit.grabcut_refine(img, mask=out, positive=[(cx, cy)], click_radius=4)
    assert out2[int(cy), int(cx)]


def test_grabcut_never_changes_its_input_or_pixels_far_away(coins):
    img, cs = coins
    m = cs[1].copy()
    out = edit.grabcut_refine(img, mask=m, positive=[(150, 50)])
    np.testing.assert_array_equal(m, cs[1])
    assert out is not m
    # a coin far away (outside the crop around this one) is never picked up
    assert not (out & cs[12]).any()
    assert masks.mask_bbox(cs[12])[1] > masks.mask_bbox(cs[1])[3] + 60


@pytest.mark.parametrize(
    "case",
    ["empty-mask-no-box", "mask-covers-image", "tiny-box", "uniform-image", "box-is-whole-image", "box-at-border"],
)
def test_grabcut_degenerate_inputs_never_raise(case):
    img = np.random.default_rng(1).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    kwargs: dict = {}
    if case == "empty-mask-no-box":
        kwargs = {"mask": np.zeros((60, 80), bool)}
    elif case == "mask-covers-image":
        kwargs = {"mask": np.ones((60, 80), bool)}
    elif case == "tiny-box":
        kwargs = {"box": [10, 10, 12, 11]}
    elif case == "uniform-image":
        img = np.full((60, 80, 3), 128, np.uint8)
        kwargs = {"box": [10, 10, 40, 40]}
    elif case == "box-is-whole-image":
        kwargs = {"box": [0, 0, 80, 60]}
    elif case == "box-at-border":
        kwargs = {"box": [0, 0, 30, 25]}
    out = edit.grabcut_refine(img, **kwargs)
    assert out.shape == (60, 80) and out.dtype == bool
    if case == "empty-mask-no-box":
        assert not out.any()
    elif case == "mask-covers-image":
        assert out.all()
    elif case == "tiny-box":
        assert out.sum() == 2
    elif case == "box-is-whole-image":
        assert out.all()
    else:
        assert out.any()


def test_grabcut_with_only_a_positive_click_segments_around_it(coins):
    img, cs = coins
    real = cs[4]
    ys, xs = np.nonzero(real)
    out = edit.grabcut_refine(img, positive=[(float(xs.mean()), float(ys.mean()))], click_radius=5)
    assert out[int(ys.mean()), int(xs.mean())]
    assert masks.mask_iou(out, real)[0, 0] > 0.3


def test_grabcut_large_crop_is_downscaled_but_full_resolution(coins):
    img, cs = coins
    big = np.kron(img, np.ones((4, 4, 1), np.uint8))  # 1212 x 1536
    real = np.kron(cs[0], np.ones((4, 4), bool))
    x0, y0, x1, y1 = masks.mask_bbox(real)
    out = edit.grabcut_refine(big, box=[x0 - 12, y0 - 12, x1 + 12, y1 + 12], max_pixels=40_000)
    assert out.shape == real.shape
    assert masks.mask_iou(out, real)[0, 0] >= 0.8


def test_grabcut_rejects_mismatched_mask_shape():
    with pytest.raises(ReviewError, match=r"\(10, 10\)"):
        edit.grabcut_refine(np.zeros((20, 20, 3), np.uint8), mask=np.zeros((10, 10), bool))
