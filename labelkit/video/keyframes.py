"""Keyframe logic: sample keyframes from complete labels, score interpolation against them.

* :func:`take_keyframes` - copy every ``every``-th frame's labels of a field into
  another as keyframes (what a person reviewing every n-th frame would produce).
* :func:`evaluate_interpolation` - per-frame box and mask IoU of a field against the
  full ground truth, for the frames strictly between keyframes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..errors import LabelkitError
from ..geometry.masks import (
    box_iou,
    crop_to_full,
    fo_to_xyxy,
    mask_iou,
)
from ..store.dataset import open_dataset as _open
from ..store.video import (
    INTERPOLATED_ATTR,
    KEYFRAME_ATTR,
    _check_video_field,
    _frame_sizes,
    declare_frame_detections,
    write_frame_labels,
)
from .interpolate import _attr, _det_mask, _track_key


def take_keyframes(
    samples,
    source: str = "frames.ground_truth",
    dest: str = "frames.labels",
    every: int = 10,
    first: int = 1,
    include_last: bool = True,
    keyframe_attr: str = KEYFRAME_ATTR,
) -> int:
    """Copy the labels of every ``every``-th frame of ``source`` into ``dest`` as keyframes.

    Simulates a person labelling every N-th frame (e.g. to measure
    interpolation against full ground truth). ``dest`` is rewritten for every
    frame of ``source``: copies with ``keyframe=True`` on frames ``first``,
    ``first + every``, ... (and the last frame with ``include_last``), None elsewhere.

    Returns:
        the number of keyframe labels written.
    """
    import fiftyone as fo

    if int(every) != every or every < 1:
        raise LabelkitError(f"every must be a whole number >= 1, got {every!r}")
    coll = _open(samples)
    src = _check_video_field(coll, source)
    dst = _check_video_field(coll, dest, create=True)
    if src == dst:
        raise LabelkitError(f"source and dest are both 'frames.{src}'; keyframes need a field of their own")
    ds = coll._dataset
    declare_frame_detections(ds, dst)
    sids, fns_list, labels_list = ds.select(coll.values("id")).values(["id", "frames.frame_number", f"frames.{src}"])
    updates: dict[str, dict[int, Any]] = {}
    n = 0
    for sid, fns, labels in zip(sids, fns_list, labels_list, strict=True):
        fns = list(fns or [])
        last = max(fns) if fns else None
        frames: dict[int, Any] = {}
        for fn, dets in zip(fns, labels or [], strict=True):
            on_grid = (fn - first) % every == 0 and fn >= first
            if (on_grid or (include_last and fn == last)) and dets is not None:
                copies = []
                for d in dets.detections:
                    c = d.copy()
                    c[keyframe_attr] = True
                    c[INTERPOLATED_ATTR] = False
                    copies.append(c)
                n += len(copies)
                frames[fn] = fo.Detections(detections=copies)
            else:
                frames[fn] = None
        updates[sid] = frames
    write_frame_labels(ds, dst, updates)
    return n


def evaluate_interpolation(
    samples,
    field: str = "frames.labels",
    gt_field: str = "frames.ground_truth",
    keyframe_attr: str = KEYFRAME_ATTR,
    track_by: str = "auto",
):
    """Compare interpolated frames with ground truth, per track and frame.

    Scope: for every track of ``field`` (matched to ground truth by the same track
    key, i.e. ``index``), the frames strictly between two consecutive keyframes
    of that track. Each such frame gives one row:

    * ``status="matched"``: both exist; ``mask_iou``/``box_iou`` computed on full
      frames (box IoU of absolute boxes);
    * ``status="missed"``: ground truth but no label (IoU 0);
    * ``status="extra"``: a label where the ground truth has none (e.g. the object
      is fully hidden); IoU NaN, count them separately.

    Returns:
        a ``pandas.DataFrame`` with columns ``sample_id``, ``track``, ``label``,
        ``frame``, ``t`` (position between the keyframes, 0..1), ``gap``
        (keyframe distance), ``status``, ``mask_iou``, ``box_iou``.
    """
    import pandas as pd

    coll = _open(samples)
    pf = _check_video_field(coll, field)
    gf = _check_video_field(coll, gt_field)
    sizes = _frame_sizes(coll, {})
    ds = coll._dataset
    rows = []
    sids, fns_list, pred_list, gt_list = ds.select(coll.values("id")).values(
        ["id", "frames.frame_number", f"frames.{pf}", f"frames.{gf}"]
    )
    for sid, fns, preds, gts in zip(sids, fns_list, pred_list, gt_list, strict=True):
        if sid not in sizes:
            continue
        width, height, _ = sizes[sid]
        kf: dict[Any, list[int]] = defaultdict(list)
        pred_at: dict[tuple[int, Any], Any] = {}
        gt_at: dict[tuple[int, Any], Any] = {}
        for fn, p, g in zip(fns or [], preds or [], gts or [], strict=True):
            for d in p.detections if p is not None else []:
                key = _track_key(d, track_by)
                if key is None:
                    continue
                pred_at.setdefault((fn, key), d)
                if _attr(d, keyframe_attr) is True:
                    kf[key].append(fn)
            for d in g.detections if g is not None else []:
                key = _track_key(d, track_by)
                if key is not None:
                    gt_at.setdefault((fn, key), d)
        for key, frames in kf.items():
            frames = sorted(set(frames))
            for fa, fb in zip(frames, frames[1:], strict=False):
                for f in range(fa + 1, fb):
                    p, g = pred_at.get((f, key)), gt_at.get((f, key))
                    if p is None and g is None:
                        continue
                    row = dict(sample_id=sid, track=key[1], label=(g if g is not None else p).label, frame=f,
                               t=(f - fa) / (fb - fa), gap=fb - fa)
                    if p is None:
                        row.update(status="missed", mask_iou=0.0, box_iou=0.0)
                    elif g is None:
                        row.update(status="extra", mask_iou=float("nan"), box_iou=float("nan"))
                    else:
                        mp = crop_to_full(p.bounding_box, _det_mask(p), width, height)
                        mg = crop_to_full(g.bounding_box, _det_mask(g), width, height)
                        bp = fo_to_xyxy(p.bounding_box, width, height)
                        bg = fo_to_xyxy(g.bounding_box, width, height)
                        row.update(status="matched", mask_iou=float(mask_iou(mp, mg)[0, 0]),
                                   box_iou=float(box_iou(bp, bg)[0, 0]))
                    rows.append(row)
    columns = ["sample_id", "track", "label", "frame", "t", "gap", "status", "mask_iou", "box_iou"]
    return pd.DataFrame(rows, columns=columns)
