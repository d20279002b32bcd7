"""Keyframe interpolation of instance masks through the frames of a video.

A person reviews some frames of a video (the *keyframes*); :func:`interpolate`
fills the frames between two keyframes of each object track: boxes by linear
interpolation, masks by interpolating their *shape* (signed distance functions
blended after aligning both keyframe masks on the interpolated box), so a
circle that becomes a square passes through rounded squares instead of
flickering between the two. ``method="sam2"`` instead propagates the keyframe
masks through the frames with the SAM 2 video model (:mod:`labelkit.video.sam2`),
which follows what the object really does in the pixels.

Conventions:

* Labels live in a frame field ``frames.<name>`` of ``fo.Detections`` (relative
  ``[x, y, w, h]`` boxes, masks cropped to the box, see :mod:`labelkit.geometry.masks`).
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

import logging
import math
import os
import time
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._summary import LinesSummary
from ..errors import LabelkitError, ModelError
from ..geometry.masks import (
    crop_to_full,
    fo_to_xyxy,
    full_to_crop,
    mask_bbox,
    pixel_box,
    pixel_box_to_fo,
    xyxy_to_fo,
)
from ..geometry.sdf import signed_distance
from ..store.dataset import open_dataset as _open
from ..store.video import (
    INTERPOLATED_ATTR,
    KEYFRAME_ATTR,
    _check_video_field,
    _frame_sizes,
    declare_frame_detections,
    write_frame_labels,
)

logger = logging.getLogger("labelkit")


#: Padding (pixels) around a crop before its signed distance is taken.
_SDF_PAD = 2

METHODS = ("sdf", "copy", "sam2")

"""Interpolation methods: ``"sdf"`` (shape interpolation, the default),
``"copy"`` (hold the previous keyframe's box and mask: the naive baseline) and
``"sam2"`` (propagate the keyframe masks with the SAM 2 video model)."""

#: Methods :func:`interpolate_track` computes from the keyframes alone (``"sam2"`` needs the frames).
TRACK_METHODS = ("sdf", "copy")


TRACK_KEYS = ("auto", "index", "instance")


_BATCH = 16


@dataclass(repr=False)
class InterpolationSummary(LinesSummary):
    """What :func:`interpolate` did.

    Attributes:
        field: the frame field, ``"frames.<name>"``.
        method: ``"sdf"``, ``"copy"`` or ``"sam2"``.
        model: the SAM 2 video model used (``method="sam2"``), else None.
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
        empty: frames where the interpolated mask vanished (nothing written); for
            ``"sam2"``, frames where the model found the object absent.
        frames_written: frames whose field was rewritten.
        failed: video path -> reason, for videos that could not be processed.
        seconds: wall time.
    """

    field: str
    method: str = "sdf"
    model: str | None = None
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
            f"interpolate '{self.field}' ({self.method}{', ' + self.model if self.model else ''}): "
            f"{self.interpolated} label(s) written "
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
        method: ``"sdf"`` (shape interpolation) or ``"copy"`` (previous keyframe held);
            ``"sam2"`` needs the video's frames: use :func:`interpolate`.
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

    Raises:
        LabelkitError: ``method`` is not ``"sdf"`` or ``"copy"``.
    """
    if method not in TRACK_METHODS:
        if method in METHODS:
            raise LabelkitError(
                f"method {method!r} needs the video frames, not just the keyframes; "
                f"use lk.interpolate(..., method={method!r}) (interpolate_track takes {list(TRACK_METHODS)})"
            )
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
        out.update(_hold(shapes[frames[-1]], frames[-1], hold, last_frame, skip, keyframe_attr, stats))
    return out


def _hold(last: _Shape, fl: int, hold: int, last_frame: int | None, skip: Container[int],
          keyframe_attr: str, stats: Counter) -> dict[int, Any]:
    """The last keyframe ``last`` (on frame ``fl``) copied onto up to ``hold`` following frames."""
    out: dict[int, Any] = {}
    stop = fl + hold if last_frame is None else min(fl + hold, last_frame)
    for f in range(fl + 1, stop + 1):
        if f in skip:
            stats["skipped_existing"] += 1
            continue
        out[f] = _make_label(last.det, list(last.det.bounding_box), last.crop, keyframe_attr)
        stats["held"] += 1
    return out


def _prompt(det):
    """A keyframe label as a SAM 2 prompt, built once the frame size is known:
    its full-frame mask, or its absolute box when it has no (non-empty) mask."""

    def make(width: int, height: int):
        crop = _det_mask(det)
        if crop is not None:
            return crop_to_full(det.bounding_box, crop, width, height)
        return np.clip(fo_to_xyxy(det.bounding_box, width, height)[0], 0, [width, height, width, height])

    return make


def _sam2_fill(
    propagator, path: str, keyframes: Mapping[Any, Mapping[int, Any]], occupied: Mapping[Any, set[int]],
    width: int, height: int, *, keyframe_attr: str, hold: int, max_gap: int | None,
    last_frame: int | None, stats: Counter,
) -> dict[Any, dict[int, Any]]:
    """``method="sam2"`` for one video: track key -> frame number -> new label.

    Gaps (consecutive keyframes ``fa < fb`` of a track, ``fb - fa >= 2``) shared by
    several tracks run in one SAM 2 session; the video is decoded once, only the
    frames of the gaps. ``hold`` copies the last keyframe, as for the other methods.
    """
    gaps: dict[tuple[int, int], list] = defaultdict(list)
    out: dict[Any, dict[int, Any]] = defaultdict(dict)
    for key in sorted(keyframes, key=str):
        kfs = keyframes[key]
        frames = sorted(kfs)
        for fa, fb in zip(frames, frames[1:], strict=False):
            if fb - fa < 2:
                continue
            if max_gap is not None and fb - fa > max_gap:
                stats["skipped_gaps"] += 1
                continue
            if not (_Shape(kfs[fa], width, height).valid and _Shape(kfs[fb], width, height).valid):
                continue
            gaps[(fa, fb)].append(key)
    prompts = {
        gap: ({k: _prompt(keyframes[key][gap[0]]) for k, key in enumerate(keys)},
              {k: _prompt(keyframes[key][gap[1]]) for k, key in enumerate(keys)})
        for gap, keys in gaps.items()
    }
    for (fa, fb), masks, _size in propagator.propagate_video(path, prompts):
        keys = gaps[(fa, fb)]
        for k, per_frame in masks.items():
            key = keys[k]
            skip = occupied.get(key, ())
            for f in sorted(per_frame):
                if f in skip:
                    stats["skipped_existing"] += 1
                    continue
                geo = full_to_crop(per_frame[f])
                if geo is None:
                    stats["empty"] += 1
                    continue
                src = keyframes[key][fa] if f - fa <= (fb - fa) // 2 else keyframes[key][fb]
                out[key][f] = _make_label(src, geo[0], geo[1], keyframe_attr)
                stats["interpolated"] += 1
    if hold > 0:
        for key, kfs in keyframes.items():
            fl = max(kfs)
            out[key].update(_hold(_Shape(kfs[fl], width, height), fl, hold, last_frame,
                                  occupied.get(key, ()), keyframe_attr, stats))
    return dict(out)


def _check_model_arg(model) -> None:
    """Refuse a ``model=`` of the wrong kind before anything is read or loaded."""
    from .sam2 import Sam2VideoPropagator

    if model is None or isinstance(model, (str, os.PathLike, Sam2VideoPropagator)):
        return
    if isinstance(model, tuple) and len(model) == 2:
        return
    raise ModelError(
        f"model= takes a hub id, a local folder, lk.video.sam2_video(...) or a (Sam2VideoModel, "
        f"Sam2VideoProcessor) pair, got {type(model).__name__}"
    )


def _propagator(model, device: str):
    """``model=`` of :func:`interpolate` as a :class:`~labelkit.video.sam2.Sam2VideoPropagator`."""
    from .sam2 import DEFAULT_VIDEO_MODEL, Sam2VideoPropagator, sam2_video

    _check_model_arg(model)
    if model is None:
        return sam2_video(DEFAULT_VIDEO_MODEL, device=device)
    if isinstance(model, Sam2VideoPropagator):
        return model
    if isinstance(model, tuple):
        return Sam2VideoPropagator(model[0], model[1], device=device)
    return sam2_video(model, device=device)




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
    model=None,
    device: str = "auto",
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
    * ``method="sam2"``: the SAM 2 video model (:mod:`labelkit.video.sam2`)
      propagates the keyframe masks through the decoded frames ``fa .. fb``
      (forward from ``fa`` for the first half, backward from ``fb`` for the
      rest; both keyframes condition the model; all tracks with the same two
      keyframes share one session). The label is the tight box of the mask and
      the mask cropped to it; a frame where the model finds the object absent
      (hidden, gone) gets no label. A keyframe without a mask prompts with its
      box. Only the frames of the gaps are decoded.

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
        method: ``"sdf"`` (default), ``"copy"`` or ``"sam2"``.
        track_by: ``"auto"`` (index, else instance), ``"index"`` or ``"instance"``.
        hold: copy each track's last keyframe onto up to this many following frames
            (flagged ``interpolated=True``, so regenerated like the others; every
            method copies, ``"sam2"`` included).
        max_gap: do not interpolate between keyframes more than this many frames apart.
        model: ``method="sam2"`` only: a hub id or a local folder saved with
            ``save_pretrained()`` (default ``"facebook/sam2.1-hiera-tiny"``; loaded
            once per process by :func:`labelkit.video.sam2.sam2_video`), a loaded
            :class:`~labelkit.video.sam2.Sam2VideoPropagator`, or a
            ``(Sam2VideoModel, Sam2VideoProcessor)`` pair.
        device: where a model loaded by name runs (``"auto"``: CUDA when available).

    Returns:
        an :class:`InterpolationSummary`.

    Raises:
        SchemaError: not a video collection, or ``field`` is missing or not
            ``fo.Detections`` (the message names the field).
        LabelkitError: bad ``method``, ``track_by``, ``hold`` or ``max_gap``, or
            ``model`` given without ``method="sam2"``.
        WeightsNotAvailableError: ``method="sam2"`` and the model is neither in the
            Hugging Face cache nor downloadable (offline); the message names the
            id, the cache folder and the local-folder alternative.
        ModelError: ``model`` is not a SAM 2 video model.

    A video that cannot be decoded up to its last keyframe (``method="sam2"``)
    is left unchanged and reported in ``summary.failed``.
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
    if model is not None and method != "sam2":
        raise LabelkitError(f"model= is only used by method='sam2', got method={method!r}")
    _check_model_arg(model)
    coll = _open(samples)
    fname = _check_video_field(coll, field)
    propagator = _propagator(model, device) if method == "sam2" else None
    summary = InterpolationSummary(field=f"frames.{fname}", method=method,
                                   model=None if propagator is None else propagator.name)
    ds = coll._dataset
    declare_frame_detections(ds, fname)
    sizes = _frame_sizes(coll, summary.failed)
    stats: Counter = Counter()
    ids = [i for i in coll.values("id") if i in sizes]
    for chunk in _batches(ids, _BATCH):
        view = ds.select(list(chunk))  # the dataset's labels, not a filtered view's
        sids, paths, fns_list, labels_list = view.values(
            ["id", "filepath", "frames.frame_number", f"frames.{fname}"]
        )
        updates: dict[str, dict[int, Any]] = {}
        for sid, path, fns, labels in zip(sids, paths, fns_list, labels_list, strict=True):
            width, height, last = sizes[sid]
            local: Counter = Counter()
            try:
                frames = _interpolate_sample(
                    fns or [], labels or [], width, height, last, keyframe_attr=keyframe_attr,
                    method=method, track_by=track_by, hold=int(hold), max_gap=max_gap, stats=local,
                    propagator=propagator, path=path,
                )
            except LabelkitError as exc:
                if propagator is None:
                    raise
                summary.failed[path] = str(exc)  # this video is left as it was
                continue
            stats.update(local)
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
    propagator=None, path: str | None = None,
) -> dict[int, Any]:
    """New contents of the frames of one video that change (frame number -> Detections|None).

    With a ``propagator`` (``method="sam2"``) the video at ``path`` is decoded and
    the gaps are filled by :func:`_sam2_fill`; otherwise by :func:`interpolate_track`.
    """
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
    propagated: dict[Any, dict[int, Any]] = {}
    if propagator is not None:
        propagated = _sam2_fill(
            propagator, str(path), keyframes, occupied, width, height, keyframe_attr=keyframe_attr,
            hold=hold, max_gap=max_gap, last_frame=last_frame, stats=stats,
        )
    for key in sorted(keyframes, key=str):
        kfs = keyframes[key]
        stats["tracks"] += 1
        if len(kfs) == 1:
            stats["single_keyframe_tracks"] += 1
        if propagator is not None:
            filled = propagated.get(key, {})
        else:
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
