"""Video: keyframe interpolation of instance masks, sample video, metadata, export.

A person reviews some frames of a video (the *keyframes*); :func:`interpolate`
fills the frames between two keyframes of each object track: boxes by linear
interpolation, masks by interpolating their *shape* (signed distance functions
blended after aligning both keyframe masks on the interpolated box), so a
circle that becomes a square passes through rounded squares instead of
flickering between the two.

Conventions:

* Labels live in a frame field ``frames.<name>`` of ``fo.Detections`` (relative
  ``[x, y, w, h]`` boxes, masks cropped to the box, see :mod:`labelkit.masks`).
  Frame numbers are **1-based**, as in FiftyOne.
* **Tracks**: ``Detection.index`` links the same object across frames (the
  primary key: it is what FiftyOne's CVAT/MOT importers and exporters and
  ``to_trajectories`` use). Labels without an ``index`` but with an
  ``instance`` (``fo.Instance``) are linked by the instance id
  (``track_by="auto"``, the default); ``track_by="index"`` or ``"instance"``
  uses only one of them. Labels with neither are not interpolated.
* **Keyframes** are labels with ``keyframe=True`` (the attribute name is
  ``keyframe_attr``); the Labeler sets it on what a person reviewed.
  Interpolated labels carry ``interpolated=True`` and ``keyframe=False``.
  A label with ``keyframe=True`` is never modified or deleted, even if it also
  says ``interpolated=True`` (a reviewed interpolation becomes a keyframe).
* Geometry is in image pixels ``(x, y)``; pixel ``(col, row)`` covers
  ``[col, col+1) x [row, row+1)``.

Example:
    >>> import labelkit as lk
    >>> from labelkit import video as lkv
    >>> ds = lkv.load_sample_video()                            # doctest: +SKIP
    >>> lkv.take_keyframes(ds, "frames.ground_truth", "frames.labels", every=10)  # doctest: +SKIP
    >>> lk.interpolate(ds, field="frames.labels")               # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import mimetypes
import os
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._summary import LinesSummary
from .errors import LabelkitError, SchemaError
from .masks import (
    box_iou,
    crop_to_full,
    fo_to_xyxy,
    full_to_crop,
    mask_bbox,
    mask_iou,
    pixel_box,
    pixel_box_to_fo,
    rle_to_mask,
    xyxy_to_fo,
)
from .video_store import (
    INTERPOLATED_ATTR,
    KEYFRAME_ATTR,
    add_video_samples,
    declare_frame_detections,
    frame_field_name,
    set_video_metadata,
    write_frame_labels,
)

logger = logging.getLogger("labelkit")

METHODS = ("sdf", "copy")
"""Interpolation methods: ``"sdf"`` (shape interpolation, the default) and
``"copy"`` (hold the previous keyframe's box and mask: the naive baseline)."""

TRACK_KEYS = ("auto", "index", "instance")

SAMPLE_VIDEO_DIR = "video"
"""Folder of the sample video inside ``sample_data/``."""

_SDF_PAD = 2
_BATCH = 16


# --------------------------------------------------------------------------- summary


@dataclass(repr=False)
class InterpolationSummary(LinesSummary):
    """What :func:`interpolate` did.

    Attributes:
        field: the frame field, ``"frames.<name>"``.
        method: ``"sdf"`` or ``"copy"``.
        samples: videos processed.
        tracks: object tracks with at least one keyframe.
        keyframes: keyframe labels read (the anchors).
        interpolated: labels written between keyframes (plus ``held``).
        held: labels written after a track's last keyframe because of ``hold``.
        removed: interpolated labels of earlier runs deleted (regenerated ones included).
        single_keyframe_tracks: tracks with one keyframe (nothing to interpolate
            unless ``hold`` > 0).
        untracked: keyframe labels with neither ``index`` nor ``instance`` (skipped).
        skipped_existing: frames left alone because the track already has a
            non-keyframe, non-interpolated label there (e.g. an imported label).
        skipped_gaps: keyframe pairs further apart than ``max_gap`` (not filled).
        duplicates: extra keyframe labels of one track on one frame (the first wins).
        empty: frames where the interpolated mask vanished (nothing written).
        frames_written: frames whose field was rewritten.
        failed: video path -> reason, for videos that could not be processed.
        seconds: wall time.
    """

    field: str
    method: str = "sdf"
    samples: int = 0
    tracks: int = 0
    keyframes: int = 0
    interpolated: int = 0
    held: int = 0
    removed: int = 0
    single_keyframe_tracks: int = 0
    untracked: int = 0
    skipped_existing: int = 0
    skipped_gaps: int = 0
    duplicates: int = 0
    empty: int = 0
    frames_written: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def _lines(self) -> list[str]:
        lines = [
            f"interpolate '{self.field}' ({self.method}): {self.interpolated} label(s) written "
            f"between {self.keyframes} keyframe(s) of {self.tracks} track(s) in {self.samples} "
            f"video(s), {self.removed} earlier interpolation(s) replaced, {self.seconds:.1f} s",
        ]
        notes = [
            (self.held, "held after the last keyframe"),
            (self.single_keyframe_tracks, "track(s) with a single keyframe (nothing to interpolate)"),
            (self.untracked, "keyframe label(s) without index/instance (skipped)"),
            (self.skipped_existing, "frame(s) kept: the track already has a non-keyframe label there"),
            (self.skipped_gaps, "keyframe gap(s) longer than max_gap (not filled)"),
            (self.duplicates, "duplicate keyframe label(s) of one track on one frame (first kept)"),
            (self.empty, "frame(s) where the interpolated mask vanished"),
        ]
        lines += [f"  {n} {text}" for n, text in notes if n]
        lines += [f"  failed '{p}': {r}" for p, r in self.failed.items()]
        return lines



# --------------------------------------------------------------------------- geometry


def _attr(det, name: str):
    return getattr(det, name, None)


def _det_mask(det) -> np.ndarray | None:
    mask = getattr(det, "mask", None)
    if mask is None and getattr(det, "mask_path", None):
        mask = det.get_mask()
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0]
    mask = mask.astype(bool)
    return mask if mask.any() else None  # an empty mask says nothing about the shape: box only


class _Shape:
    """One keyframe label's geometry in absolute pixels.

    ``box`` is float ``[x1, y1, x2, y2]``: the integer pixel box FiftyOne pastes the
    mask into (``masks.pixel_box``) when there is a mask, the exact relative box
    otherwise. ``crop`` (bool, any resolution) covers ``box``.
    """

    __slots__ = ("det", "box", "crop", "_sdf")

    def __init__(self, det, width: int, height: int):
        self.det = det
        self.crop = _det_mask(det)
        if self.crop is not None:
            self.box = np.asarray(pixel_box(det.bounding_box, width, height), np.float64)
        else:
            self.box = fo_to_xyxy(det.bounding_box, width, height)[0]
        self._sdf = None

    @property
    def valid(self) -> bool:
        return bool(self.box[2] > self.box[0] and self.box[3] > self.box[1])

    def sdf(self) -> np.ndarray:
        """Signed distance (crop pixels; < 0 inside) of the crop, padded by ``_SDF_PAD``."""
        if self._sdf is None:
            self._sdf = signed_distance(np.pad(self.crop, _SDF_PAD))
        return self._sdf

    def sample_sdf(self, target: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
        """This shape's SDF stretched onto ``target`` (float xyxy box), sampled at the
        centres of pixels ``gx`` (columns) x ``gy`` (rows); in target pixel units."""
        import cv2

        ch, cw = self.crop.shape
        tw, th = target[2] - target[0], target[3] - target[1]
        xs = (gx + 0.5 - target[0]) / tw * cw - 0.5 + _SDF_PAD
        ys = (gy + 0.5 - target[1]) / th * ch - 0.5 + _SDF_PAD
        mapx = np.broadcast_to(xs[None, :], (len(ys), len(xs))).astype(np.float32)
        mapy = np.broadcast_to(ys[:, None], (len(ys), len(xs))).astype(np.float32)
        vals = cv2.remap(self.sdf(), mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return vals * math.sqrt((tw / cw) * (th / ch))


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed Euclidean distance of a 2-D bool mask, in pixels, float32.

    Negative inside, positive outside; the zero level lies on the pixel edges
    between inside and outside (``-0.5`` at an inside pixel next to the
    boundary, ``+0.5`` at an outside pixel next to it). A mask that touches the
    array border should be padded first (the outside is assumed to be there).
    """
    from scipy import ndimage

    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return np.full(m.shape, np.inf, np.float32)
    if m.all():
        return np.full(m.shape, -np.inf, np.float32)
    inside = ndimage.distance_transform_edt(m)
    outside = ndimage.distance_transform_edt(~m)
    return np.where(m, 0.5 - inside, outside - 0.5).astype(np.float32)


def interpolate_box(box_a: Sequence[float], box_b: Sequence[float], t: float) -> np.ndarray:
    """Linear interpolation of two boxes in the same convention (any 4-vector):
    ``(1 - t) * a + t * b``."""
    a = np.asarray(box_a, np.float64).reshape(4)
    b = np.asarray(box_b, np.float64).reshape(4)
    return (1.0 - t) * a + t * b


def interpolate_shape(
    a: _Shape, b: _Shape, t: float, width: int, height: int
) -> tuple[list[float], np.ndarray | None] | None:
    """Box and mask at ``t`` in ``[0, 1]`` between keyframe shapes ``a`` and ``b``.

    The box is interpolated linearly. Each keyframe mask is stretched from its own
    box onto the interpolated box (translation + per-axis scale), their signed
    distance functions are blended with weights ``1 - t`` and ``t``, and the
    result is thresholded at 0. If either keyframe has no mask, only the box is
    interpolated.

    Returns:
        ``(FiftyOne relative box, bool crop or None)``; the box is the tight box of
        the mask when there is one. None when the mask vanished or the box is
        outside the image.
    """
    box = interpolate_box(a.box, b.box, t)
    if a.crop is None or b.crop is None:
        box = np.clip(box, 0, [width, height, width, height])
        if box[2] <= box[0] or box[3] <= box[1]:
            return None
        return [float(v) for v in xyxy_to_fo(box, width, height)[0]], None
    if box[2] - box[0] <= 1e-6 or box[3] - box[1] <= 1e-6:
        return None
    gx0, gy0 = max(math.floor(box[0]), 0), max(math.floor(box[1]), 0)
    gx1, gy1 = min(math.ceil(box[2]), width), min(math.ceil(box[3]), height)
    if gx1 <= gx0 or gy1 <= gy0:
        return None
    gx = np.arange(gx0, gx1, dtype=np.float64)
    gy = np.arange(gy0, gy1, dtype=np.float64)
    if t <= 0.0:
        sdf = a.sample_sdf(box, gx, gy)
    elif t >= 1.0:
        sdf = b.sample_sdf(box, gx, gy)
    else:
        sdf = (1.0 - t) * a.sample_sdf(box, gx, gy) + t * b.sample_sdf(box, gx, gy)
    local = sdf < 0
    tight = mask_bbox(local)
    if tight is None:
        return None
    x0, y0, x1, y1 = tight
    fo_box = pixel_box_to_fo(gx0 + x0, gy0 + y0, gx0 + x1, gy0 + y1, width, height)
    return fo_box, local[y0:y1, x0:x1].copy()


def _make_label(src, box: Sequence[float], crop: np.ndarray | None, keyframe_attr: str):
    import fiftyone as fo

    det = fo.Detection(
        label=src.label,
        bounding_box=[float(v) for v in box],
        mask=crop,
        index=_attr(src, "index"),
        instance=_attr(src, "instance"),
    )
    det[keyframe_attr] = False
    det[INTERPOLATED_ATTR] = True
    return det


def interpolate_track(
    keyframes: Mapping[int, Any],
    width: int,
    height: int,
    *,
    method: str = "sdf",
    keyframe_attr: str = KEYFRAME_ATTR,
    hold: int = 0,
    max_gap: int | None = None,
    last_frame: int | None = None,
    skip: Container[int] = (),
    stats: Counter | None = None,
) -> dict[int, Any]:
    """Labels between the keyframes of one track (pure: reads and writes no database).

    Args:
        keyframes: 1-based frame number -> ``fo.Detection`` (the track's keyframes).
        width: frame width in pixels.
        height: frame height in pixels.
        method: ``"sdf"`` (shape interpolation) or ``"copy"`` (previous keyframe held).
        keyframe_attr: the keyframe attribute; set to False on generated labels.
        hold: also copy the last keyframe onto this many following frames
            (never past ``last_frame``). Default 0: nothing after the last keyframe.
        max_gap: keyframes more than this many frames apart are not interpolated
            between (None: no limit).
        last_frame: the video's last frame number (limits ``hold``).
        skip: frame numbers not to fill (the track has another label there).
        stats: a Counter updated with ``interpolated``, ``held``, ``skipped_existing``,
            ``skipped_gaps``, ``empty``.

    Returns:
        frame number -> new ``fo.Detection`` with ``interpolated=True``,
        ``keyframe=False`` and the ``label``, ``index`` and ``instance`` of the
        nearer keyframe. Nothing before the first or after the last keyframe
        (except ``hold``).
    """
    if method not in METHODS:
        raise LabelkitError(f"unknown interpolation method {method!r}; use one of {list(METHODS)}")
    stats = stats if stats is not None else Counter()
    frames = sorted(keyframes)
    shapes = {f: _Shape(keyframes[f], width, height) for f in frames}
    out: dict[int, Any] = {}
    for fa, fb in zip(frames, frames[1:], strict=False):
        if fb - fa < 2:
            continue
        if max_gap is not None and fb - fa > max_gap:
            stats["skipped_gaps"] += 1
            continue
        a, b = shapes[fa], shapes[fb]
        if not (a.valid and b.valid):
            continue
        for f in range(fa + 1, fb):
            if f in skip:
                stats["skipped_existing"] += 1
                continue
            t = (f - fa) / (fb - fa)
            if method == "copy":
                geo = (list(a.det.bounding_box), a.crop)
            else:
                geo = interpolate_shape(a, b, t, width, height)
            if geo is None:
                stats["empty"] += 1
                continue
            src = a.det if t <= 0.5 else b.det
            out[f] = _make_label(src, geo[0], geo[1], keyframe_attr)
            stats["interpolated"] += 1
    if hold > 0 and frames:
        fl = frames[-1]
        last = shapes[fl]
        stop = fl + hold if last_frame is None else min(fl + hold, last_frame)
        for f in range(fl + 1, stop + 1):
            if f in skip:
                stats["skipped_existing"] += 1
                continue
            out[f] = _make_label(last.det, list(last.det.bounding_box), last.crop, keyframe_attr)
            stats["held"] += 1
    return out


# --------------------------------------------------------------------------- collections


def _open(samples):
    from .data import open_dataset

    return open_dataset(samples)


def _check_video_field(coll, field: str, *, create: bool = False) -> str:
    """Validate ``field`` as a frame ``fo.Detections`` field of a video collection;
    returns the frame field name (without ``frames.``)."""
    import fiftyone as fo

    name = getattr(coll, "name", None) or getattr(coll._dataset, "name", "?")
    if coll.media_type != "video":
        raise SchemaError(
            f"field '{field}': labelkit's video functions need a video dataset, but '{name}' "
            f"holds {coll.media_type} samples (load videos with lk.video.load_video())"
        )
    frame_schema = coll.get_frame_field_schema() or {}
    if not field.startswith("frames."):
        if field in frame_schema:
            field = f"frames.{field}"
        else:
            raise SchemaError(
                f"field '{field}' is not a frame field of '{name}'; video labels live in "
                f"frame fields such as 'frames.{field}' (frame fields: "
                f"{', '.join(sorted(frame_schema)) or 'none'})"
            )
    fname = frame_field_name(field)
    if "." in fname:
        raise SchemaError(f"field '{field}': expected a top-level frame field 'frames.<name>'")
    f = frame_schema.get(fname)
    if f is None:
        if create:
            return fname
        labelish = [k for k, v in frame_schema.items() if getattr(v, "document_type", None) is not None]
        raise SchemaError(
            f"video dataset '{name}' has no frame field '{field}' (label frame fields: "
            f"{', '.join('frames.' + k for k in sorted(labelish)) or 'none'})"
        )
    if getattr(f, "document_type", None) is not fo.Detections:
        kind = getattr(getattr(f, "document_type", None), "__name__", type(f).__name__)
        raise SchemaError(
            f"field '{field}' holds {kind}, but interpolation needs fo.Detections "
            "(boxes with instance masks)"
        )
    return fname


def _track_key(det, track_by: str):
    if track_by in ("auto", "index"):
        idx = _attr(det, "index")
        if idx is not None:
            return ("index", int(idx))
        if track_by == "index":
            return None
    inst = _attr(det, "instance")
    if inst is not None:
        return ("instance", str(inst.id))
    return None


def _batches(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def interpolate(
    samples,
    field: str = "frames.ground_truth",
    keyframe_attr: str = KEYFRAME_ATTR,
    *,
    method: str = "sdf",
    track_by: str = "auto",
    hold: int = 0,
    max_gap: int | None = None,
) -> InterpolationSummary:
    """Fill the frames between keyframes of every object track of a video collection.

    For each track (same ``Detection.index``; or same ``instance`` for labels
    without an index, see the module docstring) and each pair of consecutive
    keyframes ``fa < fb`` of it, frames ``fa+1 .. fb-1`` get a label:

    * box: linear interpolation of the two keyframe boxes;
    * mask (``method="sdf"``): both keyframe masks are stretched from their own
      box onto the interpolated box, their signed distance functions are
      blended with weights ``1 - t`` and ``t`` (``t = (f - fa) / (fb - fa)``) and
      thresholded at 0. A rigid object moving or scaling linearly is
      reproduced; a changing shape morphs smoothly. ``method="copy"`` holds
      the earlier keyframe instead (the naive baseline).

    Nothing is extrapolated: frames before a track's first keyframe and after
    its last get nothing (unless ``hold``), and a track with a single keyframe
    gets no interpolated frames. Objects that leave and come back should get a
    new ``index`` (or use ``max_gap``).

    Re-running regenerates: every earlier ``interpolated=True`` label in the
    field (of the samples processed) is deleted and recomputed from the current
    keyframes. Keyframes are never changed. A non-keyframe, non-interpolated
    label of the track (e.g. an imported label) is kept and its frame not filled.

    All writes are batched ``set_values`` calls (whole frames of the field are
    rewritten); labels of other tracks and untracked labels are carried over
    unchanged. Labels hidden by a filtered view are read from the dataset, so
    they are never lost.

    Args:
        samples: a video ``fo.Dataset``, a view of one, or a dataset name.
        field: the frame field of ``fo.Detections``, ``"frames.<name>"``.
        keyframe_attr: the boolean attribute marking keyframes.
        method: ``"sdf"`` (default) or ``"copy"``.
        track_by: ``"auto"`` (index, else instance), ``"index"`` or ``"instance"``.
        hold: copy each track's last keyframe onto up to this many following frames
            (flagged ``interpolated=True``, so regenerated like the others).
        max_gap: do not interpolate between keyframes more than this many frames apart.

    Returns:
        an :class:`InterpolationSummary`.

    Raises:
        SchemaError: not a video collection, or ``field`` is missing or not
            ``fo.Detections`` (the message names the field).
        LabelkitError: bad ``method``, ``track_by``, ``hold`` or ``max_gap``.
    """
    start = time.perf_counter()
    if method not in METHODS:
        raise LabelkitError(f"unknown interpolation method {method!r}; use one of {list(METHODS)}")
    if track_by not in TRACK_KEYS:
        raise LabelkitError(f"track_by must be one of {list(TRACK_KEYS)}, got {track_by!r}")
    if int(hold) != hold or hold < 0:
        raise LabelkitError(f"hold must be a whole number of frames >= 0, got {hold!r}")
    if max_gap is not None and (int(max_gap) != max_gap or max_gap < 2):
        raise LabelkitError(f"max_gap must be None or a whole number >= 2, got {max_gap!r}")
    coll = _open(samples)
    fname = _check_video_field(coll, field)
    summary = InterpolationSummary(field=f"frames.{fname}", method=method)
    ds = coll._dataset
    declare_frame_detections(ds, fname)
    sizes = _frame_sizes(coll, summary.failed)
    stats: Counter = Counter()
    ids = [i for i in coll.values("id") if i in sizes]
    for chunk in _batches(ids, _BATCH):
        view = ds.select(list(chunk))  # the dataset's labels, not a filtered view's
        sids, fns_list, labels_list = view.values(["id", "frames.frame_number", f"frames.{fname}"])
        updates: dict[str, dict[int, Any]] = {}
        for sid, fns, labels in zip(sids, fns_list, labels_list, strict=True):
            width, height, last = sizes[sid]
            frames = _interpolate_sample(
                fns or [], labels or [], width, height, last, keyframe_attr=keyframe_attr,
                method=method, track_by=track_by, hold=int(hold), max_gap=max_gap, stats=stats,
            )
            summary.samples += 1
            if frames:
                updates[sid] = frames
        summary.frames_written += write_frame_labels(ds, fname, updates)
    for key in (
        "tracks", "keyframes", "interpolated", "held", "removed", "single_keyframe_tracks",
        "untracked", "skipped_existing", "skipped_gaps", "duplicates", "empty",
    ):
        setattr(summary, key, int(stats[key]))
    summary.interpolated += summary.held
    summary.seconds = time.perf_counter() - start
    for path, reason in summary.failed.items():
        logger.warning("labelkit: interpolate skipped video '%s': %s", path, reason)
    return summary


def _interpolate_sample(
    fns: Sequence[int], labels: Sequence, width: int, height: int, last_frame: int | None, *,
    keyframe_attr: str, method: str, track_by: str, hold: int, max_gap: int | None, stats: Counter,
) -> dict[int, Any]:
    """New contents of the frames of one video that change (frame number -> Detections|None)."""
    import fiftyone as fo

    keyframes: dict[Any, dict[int, Any]] = defaultdict(dict)
    occupied: dict[Any, set[int]] = defaultdict(set)
    kept: dict[int, list] = defaultdict(list)
    old: dict[tuple[int, Any], Any] = {}
    old_frames: set[int] = set()
    for fn, dets in zip(fns, labels, strict=True):
        if dets is None:
            continue
        for d in dets.detections:
            is_key = _attr(d, keyframe_attr) is True
            if not is_key and _attr(d, INTERPOLATED_ATTR) is True:
                old[(fn, _track_key(d, track_by))] = d
                old_frames.add(fn)
                stats["removed"] += 1
                continue
            kept[fn].append(d)
            key = _track_key(d, track_by)
            if not is_key:
                if key is not None:
                    occupied[key].add(fn)
                continue
            if key is None:
                stats["untracked"] += 1
                continue
            if fn in keyframes[key]:
                stats["duplicates"] += 1
                continue
            keyframes[key][fn] = d
            stats["keyframes"] += 1
    new: dict[int, list] = defaultdict(list)
    for key in sorted(keyframes, key=str):
        kfs = keyframes[key]
        stats["tracks"] += 1
        if len(kfs) == 1:
            stats["single_keyframe_tracks"] += 1
        filled = interpolate_track(
            kfs, width, height, method=method, keyframe_attr=keyframe_attr, hold=hold,
            max_gap=max_gap, last_frame=last_frame, skip=occupied.get(key, ()), stats=stats,
        )
        for f, det in filled.items():
            prev = old.get((f, key))
            if prev is not None:  # keep label ids stable across re-runs
                det.id = prev.id
            new[f].append(det)
    out: dict[int, Any] = {}
    for f in sorted(old_frames | set(new)):
        dets = kept.get(f, []) + new.get(f, [])
        out[f] = fo.Detections(detections=dets) if dets else None
    return out


# --------------------------------------------------------------------------- metadata


def video_metadata(path: str | os.PathLike):
    """``fo.VideoMetadata`` of a video file, read with OpenCV (no ffprobe needed).

    Raises:
        LabelkitError: the file is missing or OpenCV cannot decode it.
    """
    import cv2
    import fiftyone as fo

    p = Path(path)
    if not p.is_file():
        raise LabelkitError(f"video '{path}' does not exist")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise LabelkitError(f"video '{path}' cannot be decoded by OpenCV (unsupported or corrupt file)")
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        if count <= 0:  # some containers do not store it: count by decoding
            count = 0
            while cap.grab():
                count += 1
    finally:
        cap.release()
    if width <= 0 or height <= 0:
        raise LabelkitError(f"video '{path}' has no readable frames")
    encoding = "".join(chr((fourcc >> (8 * k)) & 0xFF) for k in range(4)).strip("\x00 ") or None
    return fo.VideoMetadata(
        size_bytes=p.stat().st_size,
        mime_type=mimetypes.guess_type(str(p))[0] or "video/mp4",
        frame_width=width,
        frame_height=height,
        frame_rate=fps or None,
        total_frame_count=count,
        duration=(count / fps) if fps > 0 else None,
        encoding_str=encoding,
    )


def ensure_video_metadata(samples, overwrite: bool = False) -> int:
    """Fill ``metadata`` of video samples that lack it (one bulk write).

    Uses FiftyOne's own ``fo.VideoMetadata.build_for`` (ffprobe) when the
    ``ffprobe`` executable is installed, else :func:`video_metadata` (OpenCV).
    Unreadable videos are logged and left without metadata.

    Returns:
        the number of samples whose metadata was written.
    """
    coll = _open(samples)
    ids, paths, metas = coll.values(["id", "filepath", "metadata"])
    todo = {}
    for sid, path, meta in zip(ids, paths, metas, strict=True):
        if meta is not None and getattr(meta, "frame_width", None) and not overwrite:
            continue
        try:
            todo[sid] = _build_metadata(path)
        except Exception as e:  # noqa: BLE001 - reported, the others go on
            logger.warning("labelkit: no metadata for video '%s': %s", path, e)
    return set_video_metadata(coll, todo)


def _build_metadata(path: str):
    import fiftyone as fo

    if shutil.which("ffprobe"):
        try:
            meta = fo.VideoMetadata.build_for(path)
            if meta.frame_width and meta.total_frame_count:
                return meta
        except Exception:  # noqa: BLE001 - fall back to OpenCV
            pass
    return video_metadata(path)


def _frame_sizes(coll, failed: dict[str, str]) -> dict[str, tuple[int, int, int | None]]:
    """sample id -> (width, height, total frame count or None); fills missing metadata."""
    ids, paths, metas = coll.values(["id", "filepath", "metadata"])
    missing = [sid for sid, m in zip(ids, metas, strict=True) if m is None or not getattr(m, "frame_width", None)]
    if missing:
        ensure_video_metadata(coll.select(missing))
        ids, paths, metas = coll.values(["id", "filepath", "metadata"])
    out = {}
    for sid, path, meta in zip(ids, paths, metas, strict=True):
        if meta is None or not getattr(meta, "frame_width", None) or not getattr(meta, "frame_height", None):
            failed[path] = "frame size unknown: the video cannot be read and the sample has no metadata"
            continue
        out[sid] = (int(meta.frame_width), int(meta.frame_height), getattr(meta, "total_frame_count", None) or None)
    return out


# --------------------------------------------------------------------------- frames


class FrameReader:
    """Decode single frames of videos with OpenCV: fast when stepping forward, seeks otherwise.

    Keeps one ``cv2.VideoCapture`` open (the last video read) and a few recent
    frames, so stepping ``n -> n+1`` decodes one frame, stepping back to a recent
    frame decodes nothing, and a jump seeks (``CAP_PROP_POS_FRAMES``).

    Frames are returned as ``(H, W, 3)`` uint8 RGB arrays (read-only), frame
    numbers are 1-based.

    Example:
        >>> reader = FrameReader()                                   # doctest: +SKIP
        >>> rgb = reader.read("sample_data/video/sample.mp4", 12)    # doctest: +SKIP
    """

    #: forward jumps up to this many frames decode through instead of seeking
    MAX_GRAB = 30

    def __init__(self, cache_size: int = 8):
        self._path: str | None = None
        self._cap = None
        self._next: int | None = None  # frame number the next cap.read() returns
        self._cache: dict[int, np.ndarray] = {}
        self._cache_size = int(cache_size)

    def _open(self, path: str) -> None:
        import cv2

        self.close()
        if not Path(path).is_file():
            raise LabelkitError(f"video '{path}' does not exist")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise LabelkitError(f"video '{path}' cannot be decoded by OpenCV (unsupported or corrupt file)")
        self._cap, self._path, self._next = cap, str(path), 1

    def read(self, path: str | os.PathLike, frame_number: int) -> np.ndarray:
        """Frame ``frame_number`` (1-based) of the video at ``path``, RGB uint8.

        Raises:
            LabelkitError: the video cannot be opened or has no such frame.
        """
        import cv2

        path, fn = str(path), int(frame_number)
        if fn < 1:
            raise LabelkitError(f"frame numbers start at 1, got {fn}")
        if path != self._path or self._cap is None:
            self._open(path)
        hit = self._cache.get(fn)
        if hit is not None:
            return hit
        if fn < self._next or fn > self._next + self.MAX_GRAB:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, fn - 1)
            self._next = fn
        while self._next < fn:
            if not self._cap.grab():
                break
            self._next += 1
        ok, bgr = (False, None) if self._next != fn else self._cap.read()
        if not ok or bgr is None:
            self._next = None  # unknown position: seek next time
            self.close()
            raise LabelkitError(f"video '{path}': frame {fn} cannot be decoded (past the end, or a corrupt file)")
        self._next = fn + 1
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        self._cache[fn] = rgb
        while len(self._cache) > self._cache_size:
            self._cache.pop(next(iter(self._cache)))
        return rgb

    def close(self) -> None:
        """Release the open video (a later :meth:`read` reopens it)."""
        if self._cap is not None:
            self._cap.release()
        self._cap, self._path, self._next = None, None, None
        self._cache.clear()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def iter_frames(path: str | os.PathLike, frame_numbers: Container[int] | None = None):
    """Decode a video sequentially: yields ``(frame_number, rgb)`` for the wanted frames.

    Frames not wanted are skipped with ``grab()`` (no colour conversion). Stops at
    the end of the stream.

    Args:
        path: the video file.
        frame_numbers: 1-based frame numbers to yield (None: every frame).

    Raises:
        LabelkitError: the video cannot be opened.
    """
    import cv2

    if not Path(path).is_file():
        raise LabelkitError(f"video '{path}' does not exist")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise LabelkitError(f"video '{path}' cannot be decoded by OpenCV (unsupported or corrupt file)")
        last = max(frame_numbers) if frame_numbers and hasattr(frame_numbers, "__iter__") else None
        fn = 0
        while True:
            fn += 1
            if last is not None and fn > last:
                return
            if frame_numbers is not None and fn not in frame_numbers:
                if not cap.grab():
                    return
                continue
            ok, bgr = cap.read()
            if not ok:
                return
            yield fn, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


# --------------------------------------------------------------------------- sample video


def sample_video_dir() -> Path:
    """``sample_data/video/`` (``$LABELKIT_SAMPLE_DATA`` if set, else the source checkout's)."""
    env = os.environ.get("LABELKIT_SAMPLE_DATA")
    if env:
        return Path(env).expanduser() / SAMPLE_VIDEO_DIR
    return Path(__file__).resolve().parent.parent / "sample_data" / SAMPLE_VIDEO_DIR


def read_video_annotations(path: str | os.PathLike) -> dict:
    """Read a labelkit video annotation file (see :func:`write_video_annotations`)."""
    p = Path(path)
    if not p.is_file():
        raise LabelkitError(f"annotation file '{path}' does not exist")
    try:
        data = json.loads(p.read_text())
    except ValueError as e:
        raise LabelkitError(f"annotation file '{path}' is not valid JSON: {e}") from e
    for key in ("videos", "annotations", "categories"):
        if key not in data:
            raise LabelkitError(f"annotation file '{path}' has no '{key}' list (not a labelkit video file)")
    return data


def write_video_annotations(
    path: str | os.PathLike,
    videos: Sequence[Mapping[str, Any]],
    frames: Mapping[int, Mapping[int, Sequence[Mapping[str, Any]]]],
    tracks: Sequence[Mapping[str, Any]],
    categories: Mapping[str, int],
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write video instance annotations (COCO-video-like JSON).

    Format::

        {"info": {...},
         "videos": [{"id", "file_name", "width", "height", "length", "fps"}],
         "categories": [{"id", "name"}],
         "tracks": [{"id", "video_id", "category_id", "label", ...extra keys}],
         "annotations": [{"id", "video_id", "track_id", "frame_number" (1-based),
                          "category_id", "bbox" (COCO absolute [x, y, w, h], tight box
                          of the mask), "area", "segmentation" (COCO RLE, counts str)}]}

    Args:
        path: the JSON file to write.
        videos: the ``videos`` entries.
        frames: video id -> frame number (1-based) -> instances, dicts with
            ``track_id``, ``label`` and ``mask`` (``(H, W)`` bool).
        tracks: the ``tracks`` entries (``id``, ``video_id``, ``label``; extra keys kept).
        categories: label -> category id.
        info: free-form ``info``.

    Returns:
        the path written.
    """
    from pycocotools import mask as mask_utils

    from .masks import mask_to_rle

    anns = []
    for vid in sorted(frames):
        for fn in sorted(frames[vid]):
            for inst in frames[vid][fn]:
                rle = mask_to_rle(inst["mask"])
                enc = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
                anns.append(
                    dict(
                        id=len(anns) + 1,
                        video_id=int(vid),
                        track_id=int(inst["track_id"]),
                        frame_number=int(fn),
                        category_id=int(categories[inst["label"]]),
                        bbox=[float(v) for v in mask_utils.toBbox(enc)],
                        area=float(mask_utils.area(enc)),
                        segmentation=rle,
                    )
                )
    data = dict(
        info=dict(info or {}, frame_numbers="1-based"),
        videos=[dict(v) for v in videos],
        categories=[dict(id=int(i), name=n) for n, i in sorted(categories.items(), key=lambda kv: kv[1])],
        tracks=[dict(t, category_id=int(categories[t["label"]])) for t in tracks],
        annotations=anns,
    )
    p = Path(path)
    p.write_text(json.dumps(data, separators=(",", ":")))
    return p


def load_video(
    path: str | os.PathLike,
    annotations: str | os.PathLike | Mapping | None = None,
    name: str | None = None,
    overwrite: bool = False,
    field: str = "ground_truth",
):
    """Import one video into a persistent FiftyOne video dataset, with metadata and,
    optionally, ground-truth instance tracks.

    Args:
        path: the video file (anything OpenCV or ffmpeg decodes; mp4 plays in the App
            only when it is H.264, see the README).
        annotations: a labelkit video annotation file or its parsed dict (see
            :func:`write_video_annotations`); the entry whose ``file_name`` is this
            video's name is used (or the only one).
        name: dataset name; default: the video file's stem. An existing dataset is
            reused, and a video already in it is not added twice.
        overwrite: delete an existing dataset of that name first.
        field: the frame field for the annotations (``frames.<field>``):
            ``fo.Detections`` with ``label``, ``bounding_box`` (tight box of the
            mask), ``mask`` and ``index`` = the track id.

    Returns:
        the ``fo.Dataset``.

    Raises:
        LabelkitError: unreadable video or annotations, or no annotation entry for it.
        SchemaError: the dataset exists and does not hold videos.
    """
    import fiftyone as fo

    p = Path(path).absolute()
    meta = _build_metadata(str(p))  # also checks that the video is readable
    name = name or p.stem
    if overwrite and fo.dataset_exists(name):
        fo.delete_dataset(name)
    if fo.dataset_exists(name):
        ds = fo.load_dataset(name)
        if ds.media_type not in (None, "video"):
            raise SchemaError(f"dataset '{name}' holds {ds.media_type} samples, not videos; pick another name")
        if len(ds) and str(p) in set(ds.values("filepath")):
            return ds
    else:
        ds = fo.Dataset(name, persistent=True)
    sample = fo.Sample(filepath=str(p), metadata=meta)
    tracks: list = []
    if annotations is not None:
        data = annotations if isinstance(annotations, Mapping) else read_video_annotations(annotations)
        video = _pick_video(data, p.name, annotations)
        width, height = int(video.get("width") or meta.frame_width), int(video.get("height") or meta.frame_height)
        if (width, height) != (meta.frame_width, meta.frame_height):
            raise LabelkitError(
                f"annotations of '{p.name}' are for {width}x{height} frames, the video is "
                f"{meta.frame_width}x{meta.frame_height}"
            )
        names = {c["id"]: c["name"] for c in data["categories"]}
        per_frame: dict[int, list] = defaultdict(list)
        for ann in data["annotations"]:
            if ann.get("video_id", video["id"]) != video["id"]:
                continue
            per_frame[int(ann["frame_number"])].append(ann)
        for fn in sorted(per_frame):
            dets = []
            for ann in per_frame[fn]:
                mask = rle_to_mask(ann["segmentation"])
                crop = full_to_crop(mask)
                if crop is None:
                    continue
                dets.append(
                    fo.Detection(
                        label=names[ann["category_id"]], bounding_box=crop[0], mask=crop[1],
                        index=int(ann["track_id"]),
                    )
                )
            sample.frames[fn] = fo.Frame(**{field: fo.Detections(detections=dets)})
        tracks = [t for t in data.get("tracks", []) if t.get("video_id", video["id"]) == video["id"]]
    add_video_samples(ds, [sample])
    if annotations is not None:
        declare_frame_detections(ds, field)
        if tracks:
            info = dict(ds.info.get("labelkit_tracks", {}))
            info[p.name] = tracks
            ds.info["labelkit_tracks"] = info
            ds.save()
    return ds


def _pick_video(data: Mapping, file_name: str, source) -> Mapping:
    videos = list(data["videos"])
    for v in videos:
        if Path(v.get("file_name", "")).name == file_name:
            return v
    if len(videos) == 1:
        return videos[0]
    raise LabelkitError(
        f"annotations {source if not isinstance(source, Mapping) else ''} have no entry for "
        f"video '{file_name}' (videos: {', '.join(v.get('file_name', '?') for v in videos)})"
    )


def load_sample_video(name: str = "labelkit-sample-video", overwrite: bool = False, field: str = "ground_truth"):
    """The bundled sample clip (``sample_data/video/``) as a FiftyOne video dataset.

    61 frames of 320x240 at 10 fps, made by ``sample_data/make_sample_video.py``:
    a book moving linearly, a mug on a curved, accelerating path while turning and
    growing, and a ball rolling behind the book (occlusion). Ground truth
    (``frames.<field>``) has every frame's instance masks with ``index`` = track id;
    ``dataset.info["labelkit_tracks"]`` lists the tracks and their motion type.

    Raises:
        LabelkitError: the sample files are missing (set ``$LABELKIT_SAMPLE_DATA``).
    """
    folder = sample_video_dir()
    video, anns = folder / "sample.mp4", folder / "annotations.json"
    if not video.is_file() or not anns.is_file():
        raise LabelkitError(
            f"sample video not found in '{folder}' (expected sample.mp4 and annotations.json); "
            "run `python sample_data/make_sample_video.py` or set $LABELKIT_SAMPLE_DATA"
        )
    return load_video(video, anns, name=name, overwrite=overwrite, field=field)


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


# --------------------------------------------------------------------------- evaluation


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


# --------------------------------------------------------------------------- export

_VIDEO_EXPORT_TYPES = {
    "cvat": "CVATVideoDataset",
    "video-labels": "FiftyOneVideoLabelsDataset",
    "fiftyone": "FiftyOneDataset",
}


def export_video_labels(
    samples,
    export_dir: str | os.PathLike,
    field: str = "frames.ground_truth",
    format: str = "cvat",  # noqa: A002 - the natural name for users
    export_media: bool | str = True,
    overwrite: bool = False,
) -> str:
    """Export video frame labels with FiftyOne's video exporters.

    Fills missing video metadata first (with OpenCV when ffprobe is not
    installed), which the exporters need. Track ids (``index``), ``keyframe``
    and ``interpolated`` travel with the labels.

    Args:
        samples: a video dataset, view or dataset name.
        export_dir: output folder.
        field: the frame field to export, ``"frames.<name>"``.
        format: ``"cvat"`` (``fo.types.CVATVideoDataset``: one XML per video, each
            track a ``<track>`` of boxes with CVAT's own ``keyframe`` flags taken
            from the ``keyframe`` attribute; CVAT video XML has no masks),
            ``"video-labels"`` (``fo.types.FiftyOneVideoLabelsDataset``: ETA
            VideoLabels JSON per video with boxes, masks and every attribute), or
            ``"fiftyone"`` (``fo.types.FiftyOneDataset``: the whole dataset,
            re-importable with ``fo.Dataset.from_dir``).
        export_media: copy the videos (True), ``"symlink"`` them, or ``"move"``
            them; ``False`` (labels only) works with ``"cvat"``.
        overwrite: delete ``export_dir`` first (otherwise FiftyOne merges into it).

    Returns:
        a one-line description of what was written.
    """
    import fiftyone as fo

    coll = _open(samples)
    fname = _check_video_field(coll, field)
    key = format.lower()
    if key not in _VIDEO_EXPORT_TYPES:
        raise LabelkitError(f"unknown video export format '{format}'; use one of {', '.join(_VIDEO_EXPORT_TYPES)}")
    ensure_video_metadata(coll)
    dataset_type = getattr(fo.types, _VIDEO_EXPORT_TYPES[key])
    if key == "fiftyone":
        coll.select_fields(f"frames.{fname}").export(
            export_dir=str(export_dir), dataset_type=dataset_type, export_media=export_media,
            overwrite=overwrite,
        )
    else:
        coll.export(
            export_dir=str(export_dir),
            dataset_type=dataset_type,
            frame_labels_field=fname,
            export_media=export_media,
            overwrite=overwrite,
        )
    if key == "video-labels":
        _fix_eta_masks(Path(export_dir) / "labels")
    return f"exported {len(coll)} video(s) ('frames.{fname}') as {key} to {export_dir}"


def _fix_eta_masks(labels_dir: Path) -> None:
    """ETA (0.17) writes VideoLabels masks as nested lists but reads only its
    base64 numpy serialization; rewrite them so the export re-imports."""
    from eta.core.serial import serialize_numpy_array

    for path in sorted(Path(labels_dir).glob("*.json")):
        data = json.loads(path.read_text())
        changed = False
        for frame in (data.get("frames") or {}).values():
            for obj in (frame.get("objects") or {}).get("objects", []):
                if isinstance(obj.get("mask"), list):
                    obj["mask"] = serialize_numpy_array(np.asarray(obj["mask"], dtype=bool))
                    changed = True
        if changed:
            path.write_text(json.dumps(data))
