"""The one home of geometry: boxes, masks, polygons, RLE and IoU.

Conventions (every other module converts only through these functions):

* **torchvision / labelkit internal**: absolute pixel boxes ``[x1, y1, x2, y2]``;
  for integer pixel boxes ``x2``/``y2`` are *exclusive* (a one-pixel object at
  column 3 is ``[3, y, 4, y+1]``).
* **FiftyOne**: relative boxes ``[x, y, w, h]`` in ``[0, 1]`` of the image size;
  ``Detection.mask`` is a bool array of the box's size, cropped to the box.
* **COCO**: absolute boxes ``[x, y, w, h]``; segmentations as RLE or polygons.
* Full-image masks are ``(H, W)`` bool arrays; stacks are ``(N, H, W)``.
* Points are image pixels ``(x, y)``; pixel ``(col, row)`` covers
  ``[col, col+1) x [row, row+1)``.

Every function accepts empty inputs (zero boxes, empty masks) and returns
correctly shaped empty outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# --------------------------------------------------------------------------- boxes


def _boxes(boxes) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def xyxy_to_fo(boxes, width: int, height: int) -> np.ndarray:
    """Absolute ``[x1, y1, x2, y2]`` -> FiftyOne relative ``[x, y, w, h]``. Shape ``(N, 4)``."""
    b = _boxes(boxes)
    out = np.empty_like(b)
    out[:, 0] = b[:, 0] / width
    out[:, 1] = b[:, 1] / height
    out[:, 2] = (b[:, 2] - b[:, 0]) / width
    out[:, 3] = (b[:, 3] - b[:, 1]) / height
    return out


def fo_to_xyxy(boxes, width: int, height: int) -> np.ndarray:
    """FiftyOne relative ``[x, y, w, h]`` -> absolute ``[x1, y1, x2, y2]``. Shape ``(N, 4)``."""
    b = _boxes(boxes)
    out = np.empty_like(b)
    out[:, 0] = b[:, 0] * width
    out[:, 1] = b[:, 1] * height
    out[:, 2] = (b[:, 0] + b[:, 2]) * width
    out[:, 3] = (b[:, 1] + b[:, 3]) * height
    return out


def xyxy_to_coco(boxes) -> np.ndarray:
    """Absolute ``[x1, y1, x2, y2]`` -> COCO absolute ``[x, y, w, h]``. Shape ``(N, 4)``."""
    b = _boxes(boxes).copy()
    b[:, 2:] -= b[:, :2]
    return b


def coco_to_xyxy(boxes) -> np.ndarray:
    """COCO absolute ``[x, y, w, h]`` -> absolute ``[x1, y1, x2, y2]``. Shape ``(N, 4)``."""
    b = _boxes(boxes).copy()
    b[:, 2:] += b[:, :2]
    return b


def coco_to_fo(boxes, width: int, height: int) -> np.ndarray:
    """COCO absolute ``[x, y, w, h]`` -> FiftyOne relative ``[x, y, w, h]``."""
    b = _boxes(boxes).copy()
    b[:, [0, 2]] /= width
    b[:, [1, 3]] /= height
    return b


def fo_to_coco(boxes, width: int, height: int) -> np.ndarray:
    """FiftyOne relative ``[x, y, w, h]`` -> COCO absolute ``[x, y, w, h]``."""
    b = _boxes(boxes).copy()
    b[:, [0, 2]] *= width
    b[:, [1, 3]] *= height
    return b


def pixel_box(box_fo: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """The integer pixel box ``(x0, y0, x1, y1)`` (exclusive ends) that FiftyOne uses
    when it pastes a cropped mask into a ``width x height`` image.

    Same arithmetic as FiftyOne/ETA (``int(size * coordinate)`` of the top-left and
    of ``x + w`` / ``y + h``), clipped to the image.
    """
    x, y, w, h = (float(v) for v in box_fo)
    x0, y0 = int(width * x), int(height * y)
    x1, y1 = int(width * (x + w)), int(height * (y + h))
    x0, x1 = max(0, min(x0, width)), max(0, min(x1, width))
    y0, y1 = max(0, min(y0, height)), max(0, min(y1, height))
    return x0, y0, x1, y1


#: Offset (in pixels) added to integer box corners stored as relative floats, so
#: that FiftyOne's truncating arithmetic lands on the intended pixel despite
#: floating-point error (e.g. ``(5/37 + 25/37) * 37 == 29.999...``).
_EPS_PX = 1e-3


def pixel_box_to_fo(x0: int, y0: int, x1: int, y1: int, width: int, height: int) -> list[float]:
    """Integer pixel box (exclusive ends) -> FiftyOne relative ``[x, y, w, h]`` that
    :func:`pixel_box` (and FiftyOne's renderer) maps back to exactly these pixels."""
    return [
        (x0 + _EPS_PX) / width,
        (y0 + _EPS_PX) / height,
        (x1 - x0) / width,
        (y1 - y0) / height,
    ]


# --------------------------------------------------------------------------- masks


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight pixel box ``(x0, y0, x1, y1)`` (exclusive ends) of a 2-D mask, or None if empty."""
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def full_to_crop(mask: np.ndarray) -> tuple[list[float], np.ndarray] | None:
    """Full-image ``(H, W)`` mask -> (FiftyOne relative box, bool crop of that box).

    The box is the tight box of the mask, so :func:`crop_to_full` reproduces the
    mask exactly. Returns None for an empty mask (an instance with no pixels has no
    box; callers decide whether that means "delete").
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    box = mask_bbox(mask)
    if box is None:
        return None
    height, width = mask.shape
    x0, y0, x1, y1 = box
    return pixel_box_to_fo(x0, y0, x1, y1, width, height), mask[y0:y1, x0:x1].copy()


def crop_to_full(box_fo: Sequence[float], crop: np.ndarray | None, width: int, height: int) -> np.ndarray:
    """FiftyOne (relative box, cropped mask) -> full-image ``(height, width)`` bool mask.

    A crop whose shape differs from the box's pixel size is resized with nearest
    neighbour, as FiftyOne does when it renders a ``Detection``. A missing crop
    (a box-only detection) fills the box.
    """
    out = np.zeros((height, width), dtype=bool)
    x0, y0, x1, y1 = pixel_box(box_fo, width, height)
    bw, bh = x1 - x0, y1 - y0
    if bw <= 0 or bh <= 0:
        return out
    if crop is None:
        out[y0:y1, x0:x1] = True
        return out
    crop = np.asarray(crop)
    if crop.ndim == 3:
        crop = crop[..., 0]
    crop = crop.astype(bool)
    if crop.shape != (bh, bw):
        if crop.size == 0:
            return out
        ys = (np.arange(bh) * crop.shape[0] / bh).astype(int)
        xs = (np.arange(bw) * crop.shape[1] / bw).astype(int)
        crop = crop[ys[:, None], xs[None, :]]
    out[y0:y1, x0:x1] = crop
    return out


def paste_mask_in_box(prob: np.ndarray, box_xyxy: Sequence[float], width: int, height: int) -> np.ndarray:
    """Resize a low-resolution float mask (e.g. Mask R-CNN's 28x28) into an absolute
    box of a ``(height, width)`` image; returns a float32 full-image array."""
    import cv2

    out = np.zeros((height, width), dtype=np.float32)
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    x0i, y0i = max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0)
    x1i, y1i = min(int(np.ceil(x2)), width), min(int(np.ceil(y2)), height)
    if x1i <= x0i or y1i <= y0i:
        return out
    bw, bh = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
    # affine map from mask pixel centres to image coordinates
    m = np.asarray(prob, dtype=np.float32)
    sx, sy = bw / m.shape[1], bh / m.shape[0]
    affine = np.array([[sx, 0, x1 - x0i + 0.5 * sx - 0.5], [0, sy, y1 - y0i + 0.5 * sy - 0.5]], np.float32)
    patch = cv2.warpAffine(
        m, affine, (x1i - x0i, y1i - y0i), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    out[y0i:y1i, x0i:x1i] = patch
    return out


# ------------------------------------------------------------------------ polygons


def polygon_to_mask(polygons, width: int, height: int) -> np.ndarray:
    """Rasterise one polygon or a list of polygons into a ``(height, width)`` bool mask.

    Args:
        polygons: ``[(x, y), ...]``, or a list of such lists, or COCO flat lists
            ``[x0, y0, x1, y1, ...]``. Coordinates are pixel centres: the vertex
            ``(3, 5)`` is the centre of column 3, row 5. Pixels on the outline are
            inside. Several polygons are combined with even-odd rule, so a polygon
            inside another is a hole (this is what :func:`mask_to_polygons` emits).

    Returns:
        bool array ``(height, width)``; empty when ``polygons`` is empty.
    """
    import cv2

    polys = _as_polygon_list(polygons)
    out = np.zeros((height, width), dtype=np.uint8)
    for poly in polys:
        layer = np.zeros_like(out)
        pts = np.round(poly).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(layer, [pts], 1)
        cv2.polylines(layer, [pts], True, 1)
        out ^= layer
    return out.astype(bool)


def _as_polygon_list(polygons) -> list[np.ndarray]:
    if polygons is None:
        return []
    if isinstance(polygons, np.ndarray):
        if polygons.size == 0:
            return []
        if polygons.ndim == 2:
            return [polygons.astype(np.float64).reshape(-1, 2)]
        polygons = list(polygons)
    polygons = list(polygons)
    if not polygons:
        return []
    first = polygons[0]
    if np.isscalar(first):  # flat COCO list
        return [np.asarray(polygons, np.float64).reshape(-1, 2)]
    first_arr = np.asarray(first, dtype=object)
    if first_arr.ndim == 1 and len(first) == 2 and np.isscalar(first[0]):  # [(x, y), ...]
        return [np.asarray(polygons, np.float64).reshape(-1, 2)]
    out = []
    for p in polygons:
        arr = np.asarray(p, np.float64).reshape(-1, 2)
        if len(arr):
            out.append(arr)
    return out


def mask_to_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """Trace a 2-D mask into polygons (``(K, 2)`` float arrays of pixel-centre ``(x, y)``).

    Outer boundaries and hole boundaries are both returned; rasterising them with
    :func:`polygon_to_mask` (even-odd) gives back the same mask, for multi-part
    masks, masks with holes, one-pixel masks and masks touching the border.
    """
    import cv2

    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {m.shape}")
    if not m.any():
        return []
    return _trace(m, cv2)


def _trace(m: np.ndarray, cv2) -> list[np.ndarray]:
    # Outer contours of the foreground (8-connected, pixel centres, all points).
    padded = np.pad(m, 1).astype(np.uint8)
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polys = [c.reshape(-1, 2).astype(np.float64) - 1 for c in contours]
    rebuilt = polygon_to_mask(polys, m.shape[1], m.shape[0])
    # Whatever the outer outlines cover but the mask does not are holes; trace those
    # (recursively: a hole may contain an island) and XOR them back out.
    rest = rebuilt & ~m
    extra = m & ~rebuilt  # cannot happen with cv2 tracing, guarded for safety
    if rest.any():
        polys += _trace(rest, cv2)
    if extra.any():
        polys += _trace(extra, cv2)
    return polys


def polygon_area(points) -> float:
    """Shoelace area of one polygon ``[(x, y), ...]`` in pixels^2 (0 for < 3 points)."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


# ----------------------------------------------------------------------------- RLE


def mask_to_rle(mask: np.ndarray) -> dict:
    """COCO RLE (pycocotools, ``{"size": [H, W], "counts": str}``) of a 2-D bool mask."""
    from pycocotools import mask as mask_utils

    m = np.asfortranarray(np.asarray(mask, dtype=np.uint8))
    if m.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {m.shape}")
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def rle_to_mask(rle: dict) -> np.ndarray:
    """Decode a COCO RLE (compressed ``str``/``bytes`` or uncompressed list counts)."""
    from pycocotools import mask as mask_utils

    h, w = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, list):
        rle = mask_utils.frPyObjects(rle, h, w)
    elif isinstance(counts, str):
        rle = {"size": [h, w], "counts": counts.encode("ascii")}
    return mask_utils.decode(rle).astype(bool)


def coco_segmentation_to_mask(segmentation, width: int, height: int) -> np.ndarray:
    """A COCO ``segmentation`` (polygons, RLE or uncompressed RLE) -> ``(H, W)`` bool mask.

    Polygons are rasterised with pycocotools, which treats coordinates as pixel
    corners (COCO's own convention), unlike :func:`polygon_to_mask`.
    """
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, dict):
        return rle_to_mask(segmentation)
    if not segmentation:
        return np.zeros((height, width), bool)
    rles = mask_utils.frPyObjects(segmentation, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


# ----------------------------------------------------------------------------- IoU


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two stacks of same-size masks.

    Args:
        a: ``(N, H, W)`` or ``(H, W)`` bool masks.
        b: ``(M, H, W)`` or ``(H, W)`` bool masks.

    Returns:
        ``(N, M)`` float64 IoU matrix (0 where both masks are empty). Computed as
        one matrix product, so it is fast for hundreds of masks.
    """
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.ndim == 2:
        a = a[None]
    if b.ndim == 2:
        b = b[None]
    n, m = a.shape[0], b.shape[0]
    if n == 0 or m == 0:
        return np.zeros((n, m))
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"mask sizes differ: {a.shape[1:]} vs {b.shape[1:]}")
    af = a.reshape(n, -1).astype(np.float32)
    bf = b.reshape(m, -1).astype(np.float32)
    inter = af @ bf.T
    area_a = af.sum(axis=1)[:, None]
    area_b = bf.sum(axis=1)[None, :]
    union = area_a + area_b - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return iou.astype(np.float64)


def box_iou(a, b) -> np.ndarray:
    """Pairwise IoU of absolute ``[x1, y1, x2, y2]`` boxes: ``(N, 4), (M, 4) -> (N, M)``."""
    a, b = _boxes(a), _boxes(b)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
    area_b = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :]
    union = area_a + area_b - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def detection_mask(detection, width: int, height: int) -> np.ndarray:
    """Full-image bool mask of a ``fo.Detection`` (box-only detections fill their box)."""
    return crop_to_full(detection.bounding_box, getattr(detection, "mask", None), width, height)


def detections_iou(dets_a, dets_b, width: int, height: int) -> np.ndarray:
    """Pairwise mask IoU of two lists of ``fo.Detection`` in a ``width x height`` image."""
    ma = np.stack([detection_mask(d, width, height) for d in dets_a]) if dets_a else np.zeros((0, height, width), bool)
    mb = np.stack([detection_mask(d, width, height) for d in dets_b]) if dets_b else np.zeros((0, height, width), bool)
    return mask_iou(ma, mb)
