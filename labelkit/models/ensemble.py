"""Several proposers as one: a closed-set model and a text-prompted one propose together.

``lk.models.ensemble([lk.models.sample(), lk.models.grounded(["donut"])])`` runs
every member on each batch and merges their detections with *cross-class*
duplicate suppression: detections are taken by decreasing confidence, and one
whose mask IoU (box IoU when either has no mask) with an already kept detection
is at least ``iou`` is dropped, whatever its class. Per-class NMS, which
torchvision's heads do, cannot catch a ``donut`` stacked on a ``mug``; this does.

Each kept detection records which member proposed it in its ``proposer``
attribute (the member's name), so the audit can tell them apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ModelError
from ..geometry.masks import box_iou, detection_mask, fo_to_xyxy, mask_iou


def _name(model) -> str:
    return str(getattr(model, "name", None) or type(model).__name__)


def suppress(detections: list, width: int, height: int, iou: float = 0.5) -> list:
    """Cross-class duplicate suppression of ``fo.Detection`` objects of one image.

    Args:
        detections: the candidates (any classes).
        width, height: the image size in pixels.
        iou: a candidate overlapping a kept detection by at least this is dropped.

    Returns:
        the kept detections, highest confidence first (``None`` confidences last).
    """
    order = sorted(range(len(detections)), key=lambda i: -(detections[i].confidence or 0.0))
    kept: list = []
    kept_masks: list = []
    kept_boxes: list = []
    for i in order:
        det = detections[i]
        box = fo_to_xyxy([det.bounding_box], width, height)
        full = detection_mask(det, width, height) if det.mask is not None else None
        dup = False
        for other_mask, other_box in zip(kept_masks, kept_boxes, strict=True):
            if full is not None and other_mask is not None:
                overlap = float(mask_iou(full[None], other_mask[None])[0, 0])
            else:
                overlap = float(box_iou(box, other_box)[0, 0])
            if overlap >= iou:
                dup = True
                break
        if not dup:
            kept.append(det)
            kept_masks.append(full)
            kept_boxes.append(box)
    return kept


class EnsembleProposer:
    """Proposers that propose together (see the module docstring).

    Attributes:
        members: the proposers.
        classes: every member's classes, in order of first appearance.
        iou: the cross-class suppression IoU.
    """

    def __init__(self, members: Sequence, iou: float = 0.5, name: str | None = None):
        members = list(members)
        if not members:
            raise ModelError("ensemble() needs at least one proposer")
        for m in members:
            if not callable(getattr(m, "predict", None)) or not hasattr(m, "classes"):
                raise ModelError(
                    f"ensemble member {m!r} is not a proposer (it needs classes and predict(images))"
                )
        if not 0.0 < float(iou) <= 1.0:
            raise ModelError(f"ensemble iou must be in (0, 1], got {iou!r}")
        self.members = members
        self.iou = float(iou)
        self.classes = list(dict.fromkeys(c for m in members for c in m.classes))
        self.batch_size = min(int(getattr(m, "batch_size", 4) or 4) for m in members)
        self.name = name or "ensemble(" + ", ".join(_name(m) for m in members) + ")"

    def predict(self, images) -> list:
        """One ``fo.Detections`` per image: the members' detections, duplicates across
        classes and members suppressed, each tagged with ``proposer``."""
        import fiftyone as fo

        images = list(images)
        per_member = []
        for m in self.members:
            results = list(m.predict(images))
            if len(results) != len(images):
                raise ModelError(f"{_name(m)} returned {len(results)} results for {len(images)} images")
            per_member.append((m, results))
        out = []
        for i, image in enumerate(images):
            h, w = np.asarray(image).shape[:2]
            candidates = []
            for m, results in per_member:
                for det in results[i].detections:
                    det = det.copy()
                    det["proposer"] = _name(m)
                    candidates.append(det)
            out.append(fo.Detections(detections=suppress(candidates, w, h, self.iou)))
        return out

    def __repr__(self) -> str:
        return f"EnsembleProposer({self.name!r}, iou={self.iou})"


def ensemble(proposers: Sequence, iou: float = 0.5) -> EnsembleProposer:
    """Let several proposers propose together, with cross-class duplicate suppression.

    Args:
        proposers: the proposers (any objects with ``classes`` and ``predict``).
        iou: detections overlapping a more confident one by at least this (mask IoU,
            box IoU without masks) are dropped, whatever their class.

    Example:
        >>> both = lk.models.ensemble([lk.models.sample(), lk.models.grounded(["donut"])])  # doctest: +SKIP
        >>> lk.propose(ds, both, field="predictions")                                     # doctest: +SKIP
    """
    return EnsembleProposer(proposers, iou=iou)
