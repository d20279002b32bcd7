"""Checks of proposer output against the proposer contract: one set of rules for every path.

Every proposal goes through these checks before :func:`labelkit.propose` (or the
caller of ``predict``) gets it, whatever the proposer returned:

* raw dict results of :meth:`labelkit.models.Proposer.predict_raw`, checked in
  :func:`labelkit.models.base.raw_to_detections` by :func:`check_raw`;
* ``fo.Detections`` returned directly (by ``predict_raw`` of a
  :func:`~labelkit.models.from_callable` function, or by the ``predict`` of a
  plain proposer that has only ``classes`` and ``predict``), checked by
  :func:`check_results`.

Rules (coordinates as in :mod:`labelkit.geometry.masks`: raw boxes absolute
``[x1, y1, x2, y2]`` pixels, ``fo.Detection`` boxes relative ``[x, y, w, h]``):

* boxes are 4 finite numbers, else :class:`~labelkit.errors.ProposalError`;
* scores (``confidence``) are finite and in ``[0, 1]`` (``None`` is allowed: no
  score), else ``ProposalError``;
* an empty or inverted box (``x2 <= x1`` / ``w <= 0``...) or a box wholly outside
  the image (nothing of it left after clipping) is an **error**
  (``ProposalError``), never dropped in silence;
* a box partly inside the image is **clipped** to it (its mask is cropped the
  same way; a clipped mask box is written by
  :func:`labelkit.geometry.masks.pixel_box_to_fo`, whose far edge may pass 1 by
  0.001 px so FiftyOne lands on the last pixel) and one :class:`ProposalWarning`
  per batch lists what was clipped.
  Overhangs under half a pixel are rounding, not errors: they are left as they
  are (labelkit's own boxes overhang the right/bottom edge by 0.001 px), except
  that a negative ``x``/``y`` is set to 0 (the same pixels);
* string labels must be in the proposer's ``classes`` unless the proposer has
  ``allow_new_classes = True`` (``from_callable(..., allow_new_classes=True)``);
  int labels index ``classes`` (see :meth:`labelkit.models.Proposer._label_name`);
* a ``fo.Detection`` mask is a 2-D array, ``bool`` or numbers that are all 0 or
  1, whose shape is the box's pixel size (``labelkit.geometry.masks.pixel_box``)
  within 1 px each way; a clipped detection whose mask has no pixel left inside
  the image is dropped (listed in the warning), as empty masks are.

A batch with any invalid result raises before anything of it is returned, so
``propose`` never writes part of a bad batch. The first problem found is
reported; the message names the proposer, the image (index in the batch and
size), the detection (its index in the proposer's output) and the bad value, and
says what to do.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ProposalError
from ..geometry import masks as _masks

#: How far (in pixels) a box may reach beyond the image and still count as
#: inside (rounding); boxes reaching further are clipped with a warning.
TOLERANCE_PX = 0.5

_FIX = {
    "box": "return finite boxes inside the image",
    "score": "return scores in [0, 1] (apply a sigmoid/softmax to logits)",
}


class ProposalWarning(UserWarning):
    """A proposer's output was repaired (boxes clipped to the image) before it was used."""


def describe(model) -> str:
    """A short name of a proposer for messages: ``'find_balls' (CallableProposer)``."""
    kind = type(model).__name__
    name = getattr(model, "name", None) or getattr(model, "arch", None)
    return f"proposer '{name}' ({kind})" if name else f"proposer {kind}"


def allows_new_classes(model) -> bool:
    """Whether ``model`` may output labels outside its ``classes`` (``allow_new_classes``)."""
    return bool(getattr(model, "allow_new_classes", False))


@dataclass
class Where:
    """Where a result came from, for messages.

    Attributes:
        model: :func:`describe` of the proposer.
        image: index of the image in the batch.
        height, width: the image size in pixels.
        notes: what was repaired (clipped boxes, dropped detections), collected
            for one warning per batch.
    """

    model: str
    image: int
    height: int
    width: int
    notes: list[str] = field(default_factory=list)

    def at(self, k: int | None = None) -> str:
        """``"proposer 'x' (CallableProposer): image 0 (320x240), detection 2"``."""
        out = f"{self.model}: image {self.image} ({self.width}x{self.height})"
        return out if k is None else f"{out}, detection {k}"

    def error(self, k: int | None, what: str, fix: str) -> ProposalError:
        """A :class:`ProposalError` naming the place, what is wrong and what to do."""
        exc = ProposalError(f"{self.at(k)}: {what}; {fix}. Nothing of this batch was written")
        exc.model = self.model
        exc.reason = what
        return exc


def _fmt(values) -> str:
    return "[" + ", ".join(_num(v) for v in values) + "]"


def _num(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return repr(v)
    return repr(f) if not math.isfinite(f) else f"{f:g}"


def warn(notes: Sequence[str], model: str, stacklevel: int = 3) -> None:
    """Emit one :class:`ProposalWarning` listing ``notes`` (nothing when empty)."""
    if not notes:
        return
    shown = "; ".join(notes[:5]) + (f"; ... ({len(notes) - 5} more)" if len(notes) > 5 else "")
    warnings.warn(
        f"{model}: {len(notes)} proposal(s) reached beyond the image and were clipped to it: {shown}. "
        "Clip boxes to the image in the proposer to silence this",
        ProposalWarning,
        stacklevel=stacklevel,
    )


# ------------------------------------------------------------------ raw dicts
def check_score(conf, where: Where, k: int) -> float | None:
    """A score as float (None stays None); raises ``ProposalError`` unless finite in [0, 1]."""
    if conf is None:
        return None
    if isinstance(conf, (bool, np.bool_)) or not isinstance(conf, (int, float, np.integer, np.floating)):
        raise where.error(k, f"score {conf!r} is not a number", _FIX["score"])
    f = float(conf)
    if not math.isfinite(f) or not 0.0 <= f <= 1.0:
        raise where.error(k, f"score {_num(f)} is not in [0, 1]", _FIX["score"])
    return f


def check_label(label, classes: Sequence[str], allow_new: bool, where: Where, k: int) -> None:
    """Raise ``ProposalError`` for a string label outside ``classes`` (unless ``allow_new``)."""
    if not isinstance(label, str):
        return
    if not label:
        raise where.error(k, "label '' is empty", f"return one of the classes {list(classes)}")
    if not allow_new and label not in classes:
        raise where.error(
            k,
            f"label {label!r} is not one of the proposer's classes {list(classes)}",
            "add it to classes=[...], or pass allow_new_classes=True to from_callable "
            "(or set model.allow_new_classes = True) to accept new class names",
        )


def check_raw(
    boxes: np.ndarray,
    labels: Sequence,
    scores: np.ndarray | None,
    where: Where,
    classes: Sequence[str],
    allow_new: bool,
) -> None:
    """Check one image's raw arrays (every entry, whatever its score).

    Args:
        boxes: ``(N, 4)`` float absolute ``[x1, y1, x2, y2]`` pixels.
        labels: ``N`` labels (int indices or str names).
        scores: ``(N,)`` floats or None.
        where: the image (its size bounds the boxes); clipped boxes are added to
            ``where.notes``.
        classes: the proposer's classes.
        allow_new: accept string labels outside ``classes``.

    Raises:
        ProposalError: a non-finite, empty/inverted or wholly-outside box, a score
            outside [0, 1], or an unknown string label.
    """
    w, h = where.width, where.height
    for k in range(len(boxes)):
        x1, y1, x2, y2 = (float(v) for v in boxes[k])
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
            raise where.error(
                k, f"box {_fmt(boxes[k])} is not finite", "return finite absolute [x1, y1, x2, y2] pixels"
            )
        if x2 <= x1 or y2 <= y1:
            raise where.error(
                k,
                f"box {_fmt(boxes[k])} is empty or inverted (x2 <= x1 or y2 <= y1)",
                "return absolute [x1, y1, x2, y2] pixels with x1 < x2 and y1 < y2",
            )
        if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            raise where.error(
                k,
                f"box {_fmt(boxes[k])} lies wholly outside the {w}x{h} image",
                "return boxes in the image's pixel coordinates (x in 0..width, y in 0..height)",
            )
        t = TOLERANCE_PX
        if x1 < -t or y1 < -t or x2 > w + t or y2 > h + t:
            clipped = [max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h))]
            where.notes.append(f"image {where.image} detection {k} box {_fmt(boxes[k])} -> {_fmt(clipped)}")
        if scores is not None:
            check_score(scores[k], where, k)
        check_label(labels[k], classes, allow_new, where, k)


# ------------------------------------------------------------- fo.Detections
def _check_mask(mask, where: Where, k: int) -> np.ndarray:
    if not isinstance(mask, np.ndarray):
        raise where.error(
            k, f"mask is a {type(mask).__name__}, not a numpy array", "return a 2-D bool numpy array"
        )
    if mask.ndim != 2:
        raise where.error(
            k,
            f"mask has shape {mask.shape}; it must be 2-D (cropped to the box)",
            "return a 2-D bool array of the box's size in pixels",
        )
    if mask.dtype != bool:
        if mask.dtype.kind not in "biuf" or (mask.size and not np.isin(mask, (0, 1)).all()):
            found = np.unique(mask)[:4].tolist() if mask.dtype.kind in "biuf" else str(mask.dtype)
            raise where.error(
                k,
                f"mask of dtype {mask.dtype} holds values other than 0/1 (e.g. {found})",
                "threshold it (mask > 0.5) and return a bool array",
            )
    return mask


def check_detection(det, where: Where, k: int, classes: Sequence[str], allow_new: bool):
    """Check one ``fo.Detection``; returns it, a clipped copy, or None (dropped).

    Raises:
        ProposalError: see the module docstring.
    """
    W, H = where.width, where.height
    box = det.bounding_box
    try:
        vals = [float(v) for v in box]
    except (TypeError, ValueError):
        vals = []
    if len(vals) != 4:
        raise where.error(
            k, f"bounding_box {box!r} is not 4 numbers", "set bounding_box to relative [x, y, w, h] in [0, 1]"
        )
    if not all(math.isfinite(v) for v in vals):
        raise where.error(
            k, f"bounding_box {_fmt(vals)} is not finite", "set bounding_box to finite relative [x, y, w, h]"
        )
    x, y, bw, bh = vals
    if bw <= 0 or bh <= 0:
        raise where.error(
            k,
            f"bounding_box {_fmt(vals)} is empty or inverted (w <= 0 or h <= 0)",
            "set bounding_box to relative [x, y, w, h] with w > 0 and h > 0",
        )
    fx0, fy0, fx1, fy1 = x * W, y * H, (x + bw) * W, (y + bh) * H
    outside = fx1 <= 0 or fy1 <= 0 or fx0 >= W or fy0 >= H
    t = TOLERANCE_PX
    beyond = fx0 < -t or fy0 < -t or fx1 > W + t or fy1 > H + t
    mask = getattr(det, "mask", None)
    if mask is not None:
        mask = _check_mask(mask, where, k)
    if beyond and not outside:
        ux0, uy0, ux1, uy1 = (math.floor(v) for v in (fx0, fy0, fx1, fy1))
        cx0, cy0, cx1, cy1 = max(ux0, 0), max(uy0, 0), min(ux1, W), min(uy1, H)
        outside = cx1 <= cx0 or cy1 <= cy0
    if outside:
        raise where.error(
            k,
            f"bounding_box {_fmt(vals)} (relative [x, y, w, h]) lies wholly outside the {W}x{H} image",
            "set relative coordinates in [0, 1] (divide pixel boxes by the image width/height)",
        )
    check_score(det.confidence, where, k)
    label = det.label
    if not isinstance(label, str):
        raise where.error(k, f"label {label!r} is not a class name", f"set label to one of {list(classes)}")
    check_label(label, classes, allow_new, where, k)
    if not beyond:
        if mask is not None:
            px0, py0, px1, py1 = _masks.pixel_box(vals, W, H)
            _check_mask_shape(mask, (py1 - py0, px1 - px0), vals, where, k)
        if x < 0 or y < 0:  # sub-pixel overhang: same pixels, coordinates in [0, 1]
            nx, ny = max(x, 0.0), max(y, 0.0)
            det = det.copy()
            det.bounding_box = [nx, ny, x + bw - nx, y + bh - ny]
        return det
    note = f"image {where.image} detection {k} bounding_box {_fmt(vals)}"
    out = det.copy()
    if mask is None:
        nx0, ny0 = max(x, 0.0), max(y, 0.0)
        nx1, ny1 = min(x + bw, 1.0), min(y + bh, 1.0)
        out.bounding_box = [nx0, ny0, nx1 - nx0, ny1 - ny0]
    else:
        _check_mask_shape(mask, (uy1 - uy0, ux1 - ux0), vals, where, k)
        full = mask
        if mask.shape != (uy1 - uy0, ux1 - ux0):  # within 1 px: resize as FiftyOne renders it
            full = _masks.crop_to_full([0.0, 0.0, 1.0, 1.0], mask, ux1 - ux0, uy1 - uy0).astype(mask.dtype)
        crop = np.ascontiguousarray(full[cy0 - uy0:cy1 - uy0, cx0 - ux0:cx1 - ux0])
        if not crop.any():
            where.notes.append(f"{note}: dropped (its mask has no pixel inside the image)")
            return None
        out.bounding_box = _masks.pixel_box_to_fo(cx0, cy0, cx1, cy1, W, H)
        out.mask = crop
    where.notes.append(f"{note} -> {_fmt(out.bounding_box)}")
    return out


def _check_mask_shape(mask: np.ndarray, expected: tuple[int, int], box, where: Where, k: int) -> None:
    eh, ew = expected
    mh, mw = mask.shape
    if abs(mh - eh) > 1 or abs(mw - ew) > 1:
        raise where.error(
            k,
            f"mask has shape {mask.shape} but its bounding_box {_fmt(box)} is {ew}x{eh} pixels "
            f"in the {where.width}x{where.height} image (expected shape ({eh}, {ew}), within 1 px)",
            "crop the mask to its box (labelkit.geometry.masks.full_to_crop makes box and crop "
            "from a full-image mask)",
        )


def check_results(results, image_sizes: Sequence[tuple[int, int]], model, warn_stacklevel: int = 3) -> list:
    """Check a batch of ``fo.Detections`` (one per image) against the contract.

    Args:
        results: one ``fo.Detections`` per image (already checked to be
            ``fo.Detections`` of the right count).
        image_sizes: ``(H, W)`` per image.
        model: the proposer (its ``classes`` and ``allow_new_classes`` are used).
        warn_stacklevel: passed to :func:`warnings.warn` for the clipping warning.

    Returns:
        new ``fo.Detections`` per image: detections that passed unchanged,
        clipped copies of those partly outside the image, without the ones whose
        clipped mask is empty.

    Raises:
        ProposalError: the first invalid detection of the batch (nothing is returned).
    """
    import fiftyone as fo

    name = describe(model)
    classes = list(getattr(model, "classes", []) or [])
    allow_new = allows_new_classes(model)
    notes: list[str] = []
    out = []
    for i, (dets, (h, w)) in enumerate(zip(results, image_sizes, strict=True)):
        where = Where(name, i, int(h), int(w), notes)
        out.append(fo.Detections(detections=check_detections(dets, where, classes, allow_new)))
    warn(notes, name, stacklevel=warn_stacklevel)
    return out


def check_detections(dets, where: Where, classes: Sequence[str], allow_new: bool) -> list:
    """Check one image's ``fo.Detections``; returns the ``fo.Detection`` list to keep
    (see :func:`check_detection`); repairs are added to ``where.notes``.

    Raises:
        ProposalError: the first invalid detection.
    """
    import fiftyone as fo

    kept = []
    for k, det in enumerate(dets.detections or []):
        if not isinstance(det, fo.Detection):
            raise where.error(k, f"is a {type(det).__name__}, not a fo.Detection", "return fo.Detection objects")
        checked = check_detection(det, where, k, classes, allow_new)
        if checked is not None:
            kept.append(checked)
    return kept
