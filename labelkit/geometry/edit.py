"""Mask edits at full image resolution: brush, erase, polygon, box, GrabCut refine.

Pure numpy/OpenCV, no FiftyOne. Conventions (the same as :mod:`labelkit.geometry.masks`):

* Points are image pixels ``(x, y)``: ``x`` is the column, ``y`` the row; integer
  coordinates are pixel centres (the point ``(3, 5)`` is the centre of column 3,
  row 5). Points may be floats and may lie outside the image (strokes are clipped).
* Boxes given by callers are absolute ``[x1, y1, x2, y2]`` floats; integer pixel
  boxes returned here are ``(x0, y0, x1, y1)`` with *exclusive* ends.
* Full-image masks are ``(H, W)`` bool arrays. Functions never modify their inputs
  unless they say so.

Besides full masks, the session keeps each instance as a *crop mask*: a pair
``(box, crop)`` where ``box = (x0, y0, x1, y1)`` is an integer pixel box (exclusive
ends) and ``crop`` the ``(y1 - y0, x1 - x0)`` bool array inside it; an empty
instance is ``(None, <0x0 array>)``. The ``crop_*`` helpers edit such pairs without
ever touching a full-image array, which is what keeps a brush stroke on a 1080p
image with many instances in the low milliseconds.

A brush disc of radius ``r`` at point ``p`` covers the pixels whose centre lies
within ``max(r, 0.5)`` of ``p``; a stroke is the set of pixels whose centre lies
within that distance of the polyline through the points (a disc swept along the
path). This is exact (no line-drawing quirks), so a stroke of a larger radius
always covers a stroke of a smaller radius along the same path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import ReviewError
from . import masks as _masks

Box = tuple[int, int, int, int]
CropMask = tuple[Box | None, np.ndarray]

_EMPTY = np.zeros((0, 0), dtype=bool)
_EMPTY.setflags(write=False)

# --------------------------------------------------------------------------- points


def _points(points, what: str = "points") -> np.ndarray:
    """``[(x, y), ...]`` (or a flat ``[x0, y0, x1, y1, ...]``) -> finite ``(N, 2)`` float array."""
    try:
        pts = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ReviewError(
            f"{what} must be a list of (x, y) image-pixel pairs, got {points!r}"
        ) from None
    if pts.size % 2:
        raise ReviewError(f"{what} must be (x, y) pairs, got {pts.size} numbers: {points!r}")
    pts = pts.reshape(-1, 2)
    if not np.isfinite(pts).all():
        raise ReviewError(f"{what} contain NaN or infinite coordinates: {points!r}")
    return pts


def _radius(radius) -> float:
    try:
        r = float(radius)
    except (TypeError, ValueError):
        raise ReviewError(f"brush radius must be a number of pixels, got {radius!r}") from None
    if not np.isfinite(r) or r < 0:
        raise ReviewError(f"brush radius must be >= 0 pixels, got {radius!r}")
    return r


# --------------------------------------------------------------------------- strokes


def stroke(points, radius: float, width: int, height: int) -> CropMask:
    """Rasterise a brush stroke into a crop mask (only its bounding region is computed).

    Args:
        points: the pointer path ``[(x, y), ...]`` in image pixels; one point is a
            disc, consecutive points are joined (a disc swept along the polyline).
        radius: brush radius in pixels (>= 0; below 0.5 it paints one pixel).
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        ``(box, crop)``: the stroke's pixel box ``(x0, y0, x1, y1)`` clipped to the
        image and its bool crop, or ``(None, <0x0 array>)`` when the stroke lies
        entirely outside the image.

    Raises:
        ReviewError: no points, malformed points, or a negative radius.
    """
    pts = _points(points)
    r = max(_radius(radius), 0.5)
    if len(pts) == 0:
        raise ReviewError("a brush stroke needs at least one (x, y) point, got none")
    # far-away points cannot matter beyond the image; keep the arithmetic bounded
    lim = 4.0 * (width + height) + 4.0 * r
    pts = np.clip(pts, -lim, lim)
    x0 = max(int(np.floor(pts[:, 0].min() - r)), 0)
    y0 = max(int(np.floor(pts[:, 1].min() - r)), 0)
    x1 = min(int(np.ceil(pts[:, 0].max() + r)) + 1, int(width))
    y1 = min(int(np.ceil(pts[:, 1].max() + r)) + 1, int(height))
    if x1 <= x0 or y1 <= y0:
        return None, _EMPTY
    out = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    if len(pts) == 1:
        _capsule(out, x0, y0, pts[0], pts[0], r)
    else:
        # split long segments: the union of the pieces' capsules is the segment's
        # capsule, and each piece only scans its own small bounding box
        step = max(2.0 * r, 8.0)
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            n = max(int(np.ceil(np.hypot(*(b - a)) / step)), 1)
            ts = np.linspace(0.0, 1.0, n + 1)
            seg = a[None, :] + ts[:, None] * (b - a)[None, :]
            for p, q in zip(seg[:-1], seg[1:], strict=True):
                _capsule(out, x0, y0, p, q, r)
    box, crop = crop_tight((x0, y0, x1, y1), out)
    return box, crop


def _capsule(out: np.ndarray, ox: int, oy: int, a: np.ndarray, b: np.ndarray, r: float) -> None:
    """OR into ``out`` (whose pixel (0, 0) is image pixel (ox, oy)) the pixels whose
    centre is within ``r`` of segment ``a``-``b`` (image coordinates)."""
    h, w = out.shape
    cx0 = max(int(np.floor(min(a[0], b[0]) - r)) - ox, 0)
    cy0 = max(int(np.floor(min(a[1], b[1]) - r)) - oy, 0)
    cx1 = min(int(np.ceil(max(a[0], b[0]) + r)) + 1 - ox, w)
    cy1 = min(int(np.ceil(max(a[1], b[1]) + r)) + 1 - oy, h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    px = (np.arange(cx0, cx1, dtype=np.float64) + ox - a[0])[None, :]
    py = (np.arange(cy0, cy1, dtype=np.float64) + oy - a[1])[:, None]
    dx, dy = float(b[0] - a[0]), float(b[1] - a[1])
    ll = dx * dx + dy * dy
    if ll <= 1e-12:
        d2 = px * px + py * py
    else:
        t = np.clip((px * dx + py * dy) / ll, 0.0, 1.0)
        ex = px - t * dx
        ey = py - t * dy
        d2 = ex * ex + ey * ey
    out[cy0:cy1, cx0:cx1] |= d2 <= r * r + 1e-9


def brush(mask: np.ndarray, points, radius: float, inplace: bool = False) -> np.ndarray:
    """Paint a stroke onto a full-image mask (only the stroke's region is touched).

    Args:
        mask: ``(H, W)`` bool mask.
        points: pointer path ``[(x, y), ...]`` in image pixels (see :func:`stroke`).
        radius: brush radius in pixels.
        inplace: modify ``mask`` itself instead of returning a new array.

    Returns:
        the ``(H, W)`` bool mask with the stroke added.
    """
    return _apply(mask, points, radius, inplace, add=True)


def erase(mask: np.ndarray, points, radius: float, inplace: bool = False) -> np.ndarray:
    """Erase a stroke from a full-image mask; the arguments are those of :func:`brush`.

    Returns:
        the ``(H, W)`` bool mask with the stroke's pixels cleared.
    """
    return _apply(mask, points, radius, inplace, add=False)


def _apply(mask, points, radius, inplace: bool, add: bool) -> np.ndarray:
    m = _full(mask)
    out = m if inplace else m.copy()
    box, crop = stroke(points, radius, m.shape[1], m.shape[0])
    if box is None:
        return out
    x0, y0, x1, y1 = box
    if add:
        out[y0:y1, x0:x1] |= crop
    else:
        out[y0:y1, x0:x1] &= ~crop
    return out


def _full(mask) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ReviewError(f"expected an (H, W) mask, got an array of shape {m.shape}")
    return m if m.dtype == bool else m.astype(bool)


# --------------------------------------------------------------------- crop masks


def crop_tight(box: Box | None, crop: np.ndarray) -> CropMask:
    """Shrink a crop mask to the tight box of its pixels (``(None, empty)`` if none)."""
    if box is None or crop.size == 0:
        return None, _EMPTY
    tb = _masks.mask_bbox(crop)
    if tb is None:
        return None, _EMPTY
    cx0, cy0, cx1, cy1 = tb
    if (cx0, cy0, cx1, cy1) == (0, 0, crop.shape[1], crop.shape[0]):
        return tuple(int(v) for v in box), crop
    x0, y0 = box[0], box[1]
    return (x0 + cx0, y0 + cy0, x0 + cx1, y0 + cy1), crop[cy0:cy1, cx0:cx1].copy()


def crop_union(a: CropMask, b: CropMask) -> CropMask:
    """Pixel-wise OR of two crop masks (new arrays; inputs unchanged)."""
    (ab, ac), (bb, bc) = a, b
    if ab is None:
        return crop_tight(bb, bc)
    if bb is None:
        return crop_tight(ab, ac)
    x0, y0 = min(ab[0], bb[0]), min(ab[1], bb[1])
    x1, y1 = max(ab[2], bb[2]), max(ab[3], bb[3])
    out = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    out[ab[1] - y0 : ab[3] - y0, ab[0] - x0 : ab[2] - x0] |= ac
    out[bb[1] - y0 : bb[3] - y0, bb[0] - x0 : bb[2] - x0] |= bc
    return crop_tight((x0, y0, x1, y1), out)


def crop_subtract(a: CropMask, b: CropMask) -> CropMask:
    """Pixels of crop mask ``a`` not in ``b`` (new arrays; inputs unchanged)."""
    (ab, ac), (bb, bc) = a, b
    if ab is None or bb is None:
        return crop_tight(ab, ac)
    ix0, iy0 = max(ab[0], bb[0]), max(ab[1], bb[1])
    ix1, iy1 = min(ab[2], bb[2]), min(ab[3], bb[3])
    if ix1 <= ix0 or iy1 <= iy0:
        return crop_tight(ab, ac)
    out = ac.copy()
    out[iy0 - ab[1] : iy1 - ab[1], ix0 - ab[0] : ix1 - ab[0]] &= ~bc[
        iy0 - bb[1] : iy1 - bb[1], ix0 - bb[0] : ix1 - bb[0]
    ]
    return crop_tight(ab, out)


def crop_equal(a: CropMask, b: CropMask) -> bool:
    """Whether two *tight* crop masks (as returned by the ``crop_*`` helpers) are equal."""
    (ab, ac), (bb, bc) = a, b
    if ab is None or bb is None:
        return ab is None and bb is None
    return tuple(ab) == tuple(bb) and (ac is bc or bool(np.array_equal(ac, bc)))


def crop_iou(a: CropMask, b: CropMask) -> float:
    """Mask IoU of two crop masks, computed on their union box with :func:`masks.mask_iou`."""
    (ab, ac), (bb, bc) = a, b
    if ab is None and bb is None:
        return 0.0
    if ab is None or bb is None:
        return 0.0
    x0, y0 = min(ab[0], bb[0]), min(ab[1], bb[1])
    x1, y1 = max(ab[2], bb[2]), max(ab[3], bb[3])
    ma = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    mb = np.zeros_like(ma)
    ma[ab[1] - y0 : ab[3] - y0, ab[0] - x0 : ab[2] - x0] = ac
    mb[bb[1] - y0 : bb[3] - y0, bb[0] - x0 : bb[2] - x0] = bc
    return float(_masks.mask_iou(ma, mb)[0, 0])


def full_to_cropmask(mask: np.ndarray) -> CropMask:
    """``(H, W)`` bool mask -> tight crop mask ``(box, crop)``."""
    m = _full(mask)
    box = _masks.mask_bbox(m)
    if box is None:
        return None, _EMPTY
    x0, y0, x1, y1 = box
    return box, m[y0:y1, x0:x1].copy()


def cropmask_to_full(cm: CropMask, width: int, height: int) -> np.ndarray:
    """Crop mask -> ``(height, width)`` bool mask (a new array)."""
    box, crop = cm
    out = np.zeros((int(height), int(width)), dtype=bool)
    if box is not None:
        x0, y0, x1, y1 = box
        out[y0:y1, x0:x1] = crop
    return out


# ------------------------------------------------------------------ polygon / box


def polygon(points, width: int, height: int) -> np.ndarray:
    """Rasterise a closed polygon into a full-image mask.

    Args:
        points: vertices ``[(x, y), ...]`` in image pixels (pixel centres), at least 3.
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        ``(height, width)`` bool mask (outline pixels included), via
        :func:`labelkit.geometry.masks.polygon_to_mask`.

    Raises:
        ReviewError: fewer than 3 vertices or malformed points.
    """
    pts = _points(points, "polygon points")
    if len(pts) < 3:
        raise ReviewError(
            f"a polygon needs at least 3 (x, y) vertices, got {len(pts)}: {pts.tolist()}"
        )
    return _masks.polygon_to_mask(pts, int(width), int(height))


def pixel_box_xyxy(box_xyxy: Sequence[float], width: int, height: int) -> Box:
    """Absolute ``[x1, y1, x2, y2]`` -> integer pixel box ``(x0, y0, x1, y1)`` (exclusive
    ends) of the pixels whose centre lies in the box, clipped to the image.

    Box coordinates are pixel corners (``masks`` convention): the integer box
    ``[3, 5, 4, 6]`` is exactly the pixel at column 3, row 5. May be empty (a box
    entirely outside the image).

    Raises:
        ReviewError: not 4 finite numbers, or ``x2 <= x1`` / ``y2 <= y1``.
    """
    try:
        b = np.asarray(box_xyxy, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        b = np.zeros(0)
    if b.size != 4 or not np.isfinite(b).all():
        raise ReviewError(f"a box must be 4 numbers [x1, y1, x2, y2] in image pixels, got {box_xyxy!r}")
    if b[2] <= b[0] or b[3] <= b[1]:
        raise ReviewError(
            f"box {b.tolist()} is empty: it needs x2 > x1 and y2 > y1 ([x1, y1, x2, y2] in pixels)"
        )
    # pixel c is inside when its centre c + 0.5 lies in [x1, x2)
    x0, y0, x1, y1 = (int(np.ceil(v - 0.5)) for v in b)
    x0, x1 = max(0, min(x0, int(width))), max(0, min(x1, int(width)))
    y0, y1 = max(0, min(y0, int(height))), max(0, min(y1, int(height)))
    return x0, y0, max(x0, x1), max(y0, y1)


def box_mask(box_xyxy: Sequence[float], width: int, height: int) -> np.ndarray:
    """A filled box as a ``(height, width)`` bool mask.

    Args:
        box_xyxy: absolute ``[x1, y1, x2, y2]`` in image pixels (``x2``, ``y2``
            exclusive for integer boxes); clipped to the image.
        width: image width in pixels.
        height: image height in pixels.

    Raises:
        ReviewError: malformed or empty box.
    """
    x0, y0, x1, y1 = pixel_box_xyxy(box_xyxy, width, height)
    out = np.zeros((int(height), int(width)), dtype=bool)
    out[y0:y1, x0:x1] = True
    return out


# ------------------------------------------------------------------------- GrabCut


def grabcut_refine(
    image: np.ndarray,
    mask: np.ndarray | None = None,
    box: Sequence[float] | None = None,
    positive: Iterable = (),
    negative: Iterable = (),
    iterations: int = 3,
    click_radius: float | None = None,
    margin: float | None = None,
    max_pixels: int = 250_000,
) -> np.ndarray:
    """Refine one instance's mask with OpenCV GrabCut, run on a crop around it.

    Initialisation: from ``mask`` when it has pixels (inside = probably foreground,
    a ring around it = probably background, farther = background), else from
    ``box`` (GC_INIT_WITH_RECT semantics: outside = background, inside = probably
    foreground). Positive clicks are forced foreground and negative clicks forced
    background (discs of ``click_radius``), both in GrabCut and in the result.
    GrabCut runs on the instance's box expanded by ``margin`` (downscaled when that
    crop has more than ``max_pixels`` pixels) and the result is pasted back into a
    new full-size mask: the caller's other instances are never touched. Only the
    connected parts that overlap the initial mask (box mode: the largest part) or
    a positive click are kept.

    Degenerate inputs never raise an OpenCV error: when GrabCut cannot run (the
    initial labels are all one class, an instance covering the whole image, a
    tiny box, a failing GMM fit) or returns nothing, the initial mask (or the
    filled box) with the clicks applied is returned.

    Args:
        image: ``(H, W, 3)`` uint8 image (RGB or BGR; ``(H, W)`` gray is accepted).
        mask: ``(H, W)`` bool current mask of the instance, or None.
        box: absolute ``[x1, y1, x2, y2]`` in image pixels, used when ``mask`` is
            None or empty.
        positive: ``[(x, y), ...]`` image-pixel clicks on the object.
        negative: ``[(x, y), ...]`` image-pixel clicks on background.
        iterations: GrabCut iterations (>= 1).
        click_radius: radius of a click's disc in pixels (default: 1/40 of the
            object's larger side, at least 2).
        margin: context around the object in pixels (default: 1/3 of its larger
            side, at least 12).
        max_pixels: crops larger than this are downscaled for GrabCut.

    Returns:
        ``(H, W)`` bool mask of the refined instance (a new array). Empty only when
        there is nothing to refine (no mask, no box, no positive click).

    Raises:
        ReviewError: image/mask shapes that do not match, malformed box or clicks.
    """
    import cv2

    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ReviewError(f"grabcut needs an (H, W, 3) image, got shape {img.shape}")
    img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
    height, width = img.shape[:2]
    if mask is not None:
        m = _full(mask)
        if m.shape != (height, width):
            raise ReviewError(f"mask shape {m.shape} does not match the image's {(height, width)}")
    else:
        m = None
    pos = _points(list(positive), "positive clicks")
    neg = _points(list(negative), "negative clicks")
    iterations = max(int(iterations), 1)

    # the object's pixel box and how it is initialised
    init = None  # crop mask of the initial foreground
    mode = "mask"
    if m is not None:
        init = full_to_cropmask(m)
    if init is None or init[0] is None:
        mode = "box"
        if box is not None:
            pb = pixel_box_xyxy(box, width, height)
            if pb[2] <= pb[0] or pb[3] <= pb[1]:
                raise ReviewError(f"box {list(box)} lies outside the {width}x{height} image")
            init = (pb, np.ones((pb[3] - pb[1], pb[2] - pb[0]), dtype=bool))
        elif len(pos):
            r0 = click_radius if click_radius is not None else 8.0
            init = stroke(pos, max(4.0 * float(r0), 10.0), width, height)
            if init[0] is None:
                return np.zeros((height, width), dtype=bool)
        else:
            return np.zeros((height, width), dtype=bool)
    obox, ocrop = init
    ow, oh = obox[2] - obox[0], obox[3] - obox[1]
    size = max(ow, oh)
    cr = float(click_radius) if click_radius is not None else max(2.0, size / 40.0)
    mg = float(margin) if margin is not None else max(12.0, size / 3.0)

    # crop region: object box + clicks, expanded by the margin, clipped
    xs = [obox[0], obox[2]] + [p[0] - cr for p in pos] + [p[0] + cr + 1 for p in pos]
    ys = [obox[1], obox[3]] + [p[1] - cr for p in pos] + [p[1] + cr + 1 for p in pos]
    cx0 = max(int(np.floor(min(xs) - mg)), 0)
    cy0 = max(int(np.floor(min(ys) - mg)), 0)
    cx1 = min(int(np.ceil(max(xs) + mg)), width)
    cy1 = min(int(np.ceil(max(ys) + mg)), height)
    cw, ch = cx1 - cx0, cy1 - cy0

    fg0 = np.zeros((ch, cw), dtype=bool)
    fg0[obox[1] - cy0 : obox[3] - cy0, obox[0] - cx0 : obox[2] - cx0] = ocrop
    pos_disc = _discs(pos, cr, cx0, cy0, cw, ch)
    neg_disc = _discs(neg, cr, cx0, cy0, cw, ch)

    def fallback() -> np.ndarray:
        res = (fg0 | pos_disc) & ~neg_disc
        return _paste(res, cx0, cy0, width, height)

    if min(ow, oh) < 3 or cw < 4 or ch < 4:
        return fallback()

    gc = np.full((ch, cw), cv2.GC_BGD, dtype=np.uint8)
    if mode == "mask":
        ring = max(4, int(round(size / 6.0)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring + 1, 2 * ring + 1))
        grow = fg0 | pos_disc
        near = cv2.dilate(grow.astype(np.uint8), kernel).astype(bool)
        gc[near] = cv2.GC_PR_BGD
        gc[fg0] = cv2.GC_PR_FGD
    else:
        gc[fg0] = cv2.GC_PR_FGD
    gc[pos_disc] = cv2.GC_FGD
    gc[neg_disc] = cv2.GC_BGD

    is_fg = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    if is_fg.all() or not is_fg.any():
        return fallback()

    crop_img = img[cy0:cy1, cx0:cx1]
    scale = 1.0
    if cw * ch > max_pixels:
        scale = float(np.sqrt(max_pixels / (cw * ch)))
    if scale < 1.0:
        sw, sh = max(int(round(cw * scale)), 4), max(int(round(ch * scale)), 4)
        run_img = cv2.resize(crop_img, (sw, sh), interpolation=cv2.INTER_AREA)
        run_gc = cv2.resize(gc, (sw, sh), interpolation=cv2.INTER_NEAREST)
        sx, sy = sw / cw, sh / ch
        for pts, val in ((pos, cv2.GC_FGD), (neg, cv2.GC_BGD)):
            for x, y in pts:
                cv2.circle(
                    run_gc,
                    (int(round((x - cx0) * sx)), int(round((y - cy0) * sy))),
                    max(int(round(cr * scale)), 1),
                    int(val),
                    -1,
                )
        run_fg = (run_gc == cv2.GC_FGD) | (run_gc == cv2.GC_PR_FGD)
        if run_fg.all() or not run_fg.any():
            return fallback()
    else:
        run_img, run_gc = np.ascontiguousarray(crop_img), gc.copy()

    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    try:
        cv2.setRNGSeed(0)  # GrabCut's GMM init draws from OpenCV's RNG: the same clicks give the same mask
        cv2.grabCut(run_img, run_gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return fallback()
    res = (run_gc == cv2.GC_FGD) | (run_gc == cv2.GC_PR_FGD)
    if scale < 1.0:
        res = cv2.resize(res.astype(np.uint8) * 255, (cw, ch), interpolation=cv2.INTER_LINEAR) >= 128

    res = _keep_parts(res, fg0 if mode == "mask" else None, pos_disc, cv2)
    res = (res | pos_disc) & ~neg_disc
    if not res.any():
        return fallback()
    return _paste(res, cx0, cy0, width, height)


def _discs(pts: np.ndarray, r: float, ox: int, oy: int, w: int, h: int) -> np.ndarray:
    out = np.zeros((h, w), dtype=bool)
    if len(pts) == 0:
        return out
    shifted = pts - np.array([ox, oy], dtype=np.float64)
    for p in shifted:
        _capsule(out, 0, 0, p, p, max(r, 0.5))
    return out


def _keep_parts(res: np.ndarray, seed: np.ndarray | None, pos: np.ndarray, cv2) -> np.ndarray:
    """Keep the connected parts of ``res`` that touch ``seed`` or a positive click
    (``seed`` None: the largest part plus the clicked ones)."""
    if not res.any():
        return res
    n, lab, stats, _ = cv2.connectedComponentsWithStats(res.astype(np.uint8), connectivity=8)
    if n <= 2:
        return res
    keep = np.zeros(n, dtype=bool)
    if seed is not None:
        keep[np.unique(lab[seed & res])] = True
    else:
        keep[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))] = True
    keep[np.unique(lab[pos & res])] = True
    keep[0] = False
    if not keep.any():
        keep[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))] = True
    return keep[lab]


def _paste(crop: np.ndarray, x0: int, y0: int, width: int, height: int) -> np.ndarray:
    out = np.zeros((height, width), dtype=bool)
    out[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    return out
