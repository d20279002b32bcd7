"""COCO in and out of FiftyOne: import a COCO instance-mask split, score masks with pycocotools.

* :func:`load_coco` - a ``images/`` folder plus COCO ``annotations.json`` (the layout of
  ``sample_data/<split>/``) into a FiftyOne dataset, through FiftyOne's own
  ``COCODetectionDataset`` importer (``label_types="segmentations"``): one
  ``fo.Detections`` field whose detections carry the instance masks (cropped to
  their boxes, the FiftyOne convention) and COCO's ``iscrowd``.
* :func:`coco_mask_ap` - COCO mask AP / AP50 / AP75 (pycocotools ``COCOeval``,
  ``iouType="segm"``) of a predictions field against a ground-truth field.
* :func:`mask_ap_from_masks` - the same score from in-memory full-image masks (what
  :func:`labelkit.finetune` uses for its validation metric).

Coordinates follow :mod:`labelkit.geometry.masks`; every conversion goes through it.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LabelkitError, SchemaError
from ..geometry import masks as _masks


def load_coco(
    split_dir: str | os.PathLike,
    name: str | None = None,
    label_field: str = "ground_truth",
    overwrite: bool = True,
    persistent: bool = False,
    max_samples: int | None = None,
):
    """Import a COCO instance-segmentation split into a FiftyOne dataset.

    ``split_dir`` holds ``images/`` and ``annotations.json`` (COCO, masks as RLE or
    polygons), the layout of every ``sample_data/`` split. FiftyOne's
    ``COCODetectionDataset`` importer does the work.

    Args:
        split_dir: the split folder.
        name: the dataset name (default ``"coco-<folder name>"``).
        label_field: the ``fo.Detections`` field the annotations go to.
        overwrite: replace an existing dataset of that name.
        persistent: keep the dataset after the Python process ends.
        max_samples: import only the first ``max_samples`` images (by file order).

    Returns:
        the ``fo.Dataset``; each ``fo.Detection`` of ``label_field`` has ``label``,
        relative ``bounding_box``, ``mask`` (bool, cropped to the box) and ``iscrowd``.

    Raises:
        LabelkitError: ``images/`` or ``annotations.json`` is missing.

    Example:
        >>> ds = load_coco("sample_data/shifted-newclass")  # doctest: +SKIP
        >>> ds.count("ground_truth.detections")  # doctest: +SKIP
        248
    """
    import fiftyone as fo

    split = Path(split_dir).expanduser()
    images, ann = split / "images", split / "annotations.json"
    missing = [str(p) for p in (images, ann) if not p.exists()]
    if missing:
        raise LabelkitError(
            f"'{split}' is not a COCO split: {', '.join(missing)} missing (expected images/ "
            "and annotations.json, the layout of sample_data/<split>/)"
        )
    name = name or f"coco-{split.name}"
    ds = fo.Dataset.from_dir(
        dataset_type=fo.types.COCODetectionDataset,
        data_path=str(images),
        labels_path=str(ann),
        label_types="segmentations",
        label_field=label_field,
        name=name,
        overwrite=overwrite,
        max_samples=max_samples,
    )
    ds.persistent = persistent
    ds.compute_metadata()
    return ds


# ------------------------------------------------------------------- evaluation


def _coco_eval(
    sizes: Sequence[tuple[int, int]],
    gt: Sequence[Sequence[tuple[str, Any, bool]]],
    pred: Sequence[Sequence[tuple[str, float, Any]]],
) -> dict:
    """Mask AP with pycocotools.

    Args:
        sizes: ``(H, W)`` per image.
        gt: per image, ``(label, rle, iscrowd)`` per ground-truth instance.
        pred: per image, ``(label, score, rle)`` per predicted instance.

    Returns:
        see :func:`coco_mask_ap`.
    """
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    classes = sorted({lab for objs in gt for lab, _, crowd in objs if not crowd})
    n_gt = sum(1 for objs in gt for _, _, crowd in objs if not crowd)
    n_pred = sum(len(p) for p in pred)
    out: dict[str, Any] = dict(
        ap=float("nan"), ap50=float("nan"), ap75=float("nan"), per_class_ap50={},
        n_images=len(sizes), n_gt=n_gt, n_pred=n_pred,
    )
    if not classes:
        return out
    cat_id = {c: i + 1 for i, c in enumerate(classes)}
    images, anns, results = [], [], []
    for img_id, ((h, w), objs, preds) in enumerate(zip(sizes, gt, pred, strict=True), start=1):
        images.append(dict(id=img_id, height=int(h), width=int(w)))
        for lab, rle, crowd in objs:
            if lab not in cat_id:
                continue
            enc = _rle_bytes(rle)
            anns.append(
                dict(
                    id=len(anns) + 1, image_id=img_id, category_id=cat_id[lab], segmentation=rle,
                    area=float(mask_utils.area(enc)), bbox=[float(v) for v in mask_utils.toBbox(enc)],
                    iscrowd=int(bool(crowd)),
                )
            )
        for lab, score, rle in preds:
            if lab not in cat_id:  # a class the ground truth never has: not scored (as COCO)
                continue
            results.append(dict(image_id=img_id, category_id=cat_id[lab], segmentation=rle,
                                score=float(score)))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = dict(images=images, annotations=anns,
                               categories=[dict(id=i, name=c) for c, i in cat_id.items()])
        coco_gt.createIndex()
        if not results:
            out.update(ap=0.0, ap50=0.0, ap75=0.0, per_class_ap50=dict.fromkeys(classes, 0.0))
            return out
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, iouType="segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = ev.stats
    out.update(ap=float(stats[0]), ap50=float(stats[1]), ap75=float(stats[2]))
    # precision: [T IoU thresholds, R recall points, K classes, A areas, M max dets]
    prec = ev.eval["precision"][0, :, :, 0, -1]  # IoU 0.5, all areas, maxDets 100
    for k, c in enumerate(classes):
        p = prec[:, k]
        p = p[p > -1]
        out["per_class_ap50"][c] = float(p.mean()) if p.size else float("nan")
    return out


def _rle_bytes(rle: dict) -> dict:
    counts = rle["counts"]
    return {"size": rle["size"], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def mask_ap_from_masks(
    gt: Sequence[tuple[Sequence[str], np.ndarray]],
    pred: Sequence[tuple[Sequence[str], Sequence[float], np.ndarray]],
) -> dict:
    """COCO mask AP of in-memory predictions.

    Args:
        gt: per image ``(labels, masks)``: ``N`` class names and ``(N, H, W)`` bool
            full-image masks.
        pred: per image ``(labels, scores, masks)``: ``M`` names, ``M`` scores and
            ``(M, H, W)`` bool masks (same ``H, W`` as the image's ground truth).

    Returns:
        see :func:`coco_mask_ap`.
    """
    sizes, g, p = [], [], []
    for (glabels, gmasks), (plabels, pscores, pmasks) in zip(gt, pred, strict=True):
        gmasks = np.asarray(gmasks, dtype=bool)
        sizes.append(tuple(gmasks.shape[1:]))
        g.append([(str(lab), _masks.mask_to_rle(m), False) for lab, m in zip(glabels, gmasks, strict=True)])
        p.append(
            [(str(lab), float(s), _masks.mask_to_rle(m))
             for lab, s, m in zip(plabels, pscores, np.asarray(pmasks, dtype=bool), strict=True)]
        )
    return _coco_eval(sizes, g, p)


def coco_mask_ap(samples, pred_field: str = "predictions", gt_field: str = "ground_truth") -> dict:
    """COCO mask AP of a predictions field against a ground-truth field (pycocotools).

    Every sample of ``samples`` counts (an image without predictions scores as
    all-missed). Ground-truth instances with ``iscrowd`` set are crowd regions, as
    in COCO. Predicted classes that never occur in the ground truth are not scored
    (COCO evaluates the ground truth's categories); a ground-truth class the
    model never predicts scores AP 0.

    Args:
        samples: a ``fo.Dataset`` or view.
        pred_field: ``fo.Detections`` with ``confidence`` and masks.
        gt_field: ``fo.Detections`` with masks.

    Returns:
        dict with ``ap`` (mask AP at IoU .50:.95), ``ap50``, ``ap75``,
        ``per_class_ap50`` (class -> AP50), ``n_images``, ``n_gt``, ``n_pred``.
        APs are NaN when the ground truth holds no (non-crowd) instance.

    Raises:
        SchemaError: a field is missing.
    """
    schema = samples.get_field_schema()
    for fld in (pred_field, gt_field):
        if fld not in schema:
            raise SchemaError(f"'{samples._dataset.name}' has no field '{fld}'")
    samples.compute_metadata()
    widths, heights, gts, preds = samples.values(
        ["metadata.width", "metadata.height", f"{gt_field}.detections", f"{pred_field}.detections"]
    )
    sizes, g, p = [], [], []
    for w, h, gd, pd in zip(widths, heights, gts, preds, strict=True):
        w, h = int(w), int(h)
        sizes.append((h, w))
        g.append([
            (d.label, _masks.mask_to_rle(_masks.detection_mask(d, w, h)), bool(d.get_field("iscrowd")
             if d.has_field("iscrowd") else False))
            for d in gd or []
        ])
        p.append([
            (d.label, 1.0 if d.confidence is None else float(d.confidence),
             _masks.mask_to_rle(_masks.detection_mask(d, w, h)))
            for d in pd or []
        ])
    return _coco_eval(sizes, g, p)
