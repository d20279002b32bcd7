"""COCO in and out of FiftyOne: import a COCO instance-mask split, score masks with pycocotools.

* :func:`load_coco` - a ``images/`` folder plus COCO ``annotations.json`` (the layout of
  ``sample_data/<split>/``) into a FiftyOne dataset, through FiftyOne's own
  ``COCODetectionDataset`` importer (``label_types="segmentations"``): one
  ``fo.Detections`` field whose detections carry the instance masks (cropped to
  their boxes, the FiftyOne convention) and COCO's ``iscrowd``.
* :func:`validate_coco` - the checks :func:`load_coco` runs on the JSON first, so a
  bad file is refused with an error naming the entry before any dataset exists.
* :func:`coco_mask_ap` - COCO mask AP / AP50 / AP75 (pycocotools ``COCOeval``,
  ``iouType="segm"``) of a predictions field against a ground-truth field.
* :func:`mask_ap_from_masks` - the same score from in-memory full-image masks (what
  :func:`labelkit.finetune` uses for its validation metric).

Coordinates follow :mod:`labelkit.geometry.masks`; every conversion goes through it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImportFormatError, LabelkitError, SchemaError
from ..geometry import masks as _masks
from ._jsonfile import read_json
from .paths import safe_child


def load_coco(
    split_dir: str | os.PathLike,
    name: str | None = None,
    label_field: str = "ground_truth",
    overwrite: bool = True,
    persistent: bool = False,
    max_samples: int | None = None,
    *,
    allow_symlinks: bool = False,
):
    """Import a COCO instance-segmentation split into a FiftyOne dataset.

    ``split_dir`` holds ``images/`` and ``annotations.json`` (COCO, masks as RLE or
    polygons), the layout of every ``sample_data/`` split. The JSON is checked
    first (:func:`validate_coco`: syntax, the three top-level lists, ids, file
    names inside ``images/`` and present, boxes, segmentations), so a bad file is
    refused with an error naming the entry and *no dataset is created*; then
    FiftyOne's ``COCODetectionDataset`` importer does the work. Boxes that extend
    past their image are clipped to it (a ``UserWarning`` lists them); boxes wholly
    outside it are refused.

    Args:
        split_dir: the split folder.
        name: the dataset name (default ``"coco-<folder name>"``).
        label_field: the ``fo.Detections`` field the annotations go to.
        overwrite: replace an existing dataset of that name (with False, an
            existing name is refused).
        persistent: keep the dataset after the Python process ends.
        max_samples: import only the first ``max_samples`` images (by file order).
        allow_symlinks: accept ``file_name`` entries that are symlinks pointing
            outside ``images/`` (refused by default).

    Returns:
        the ``fo.Dataset``; each ``fo.Detection`` of ``label_field`` has ``label``,
        relative ``bounding_box``, ``mask`` (bool, cropped to the box) and ``iscrowd``.

    Raises:
        LabelkitError: ``images/`` or ``annotations.json`` is missing, or the
            dataset exists and ``overwrite`` is False.
        ImportFormatError: the JSON does not parse or breaks a rule of
            :func:`validate_coco` (the message names the file, the entry and the fix).
        UnsafePathError: a ``file_name`` is absolute, has ``..``, or is a symlink
            out of ``images/``.

    A failure inside FiftyOne's importer deletes the half-made dataset before
    the error propagates (data errors as ``ImportFormatError``).

    Example:
        >>> ds = load_coco("sample_data/shifted-newclass")  # doctest: +SKIP
        >>> ds.count("ground_truth.detections")  # doctest: +SKIP
        248
    """
    split = Path(split_dir).expanduser()
    images, ann = split / "images", split / "annotations.json"
    missing = [str(p) for p in (images, ann) if not p.exists()]
    if missing:
        raise LabelkitError(
            f"'{split}' is not a COCO split: {', '.join(missing)} missing (expected images/ "
            "and annotations.json, the layout of sample_data/<split>/)"
        )
    if not images.is_dir() or not ann.is_file():
        raise LabelkitError(f"'{split}' is not a COCO split: images/ must be a folder and annotations.json a file")
    name = name or f"coco-{split.name}"
    data, notes = validate_coco(read_json(ann, "COCO file"), images, source=ann, allow_symlinks=allow_symlinks)

    import fiftyone as fo

    existed = fo.dataset_exists(name)
    old_id = fo.load_dataset(name)._doc.id if existed else None
    if existed and not overwrite:
        raise LabelkitError(
            f"a dataset named '{name}' already exists; pass overwrite=True to replace it or name=... for a new one"
        )
    if notes:
        warnings.warn(
            f"'{ann}': {len(notes)} box(es) extended past their image and were clipped to it: "
            + "; ".join(notes[:_SHOWN]) + (f"; ... and {len(notes) - _SHOWN} more" if len(notes) > _SHOWN else ""),
            UserWarning,
            stacklevel=2,
        )
    with tempfile.TemporaryDirectory(prefix="labelkit-coco-") as tmp:
        labels_path = ann
        if notes:  # import the clipped boxes, leave the user's file alone
            labels_path = Path(tmp) / "annotations.json"
            labels_path.write_text(json.dumps(data))
        try:
            ds = fo.Dataset.from_dir(
                dataset_type=fo.types.COCODetectionDataset,
                data_path=str(images),
                labels_path=str(labels_path),
                label_types="segmentations",
                label_field=label_field,
                name=name,
                overwrite=overwrite,
                max_samples=max_samples,
            )
        except Exception as exc:
            # a half-made import is never left behind (an untouched old dataset stays)
            if fo.dataset_exists(name) and fo.load_dataset(name)._doc.id != old_id:
                fo.delete_dataset(name)
            if isinstance(exc, (ValueError, KeyError, TypeError, IndexError)):
                raise ImportFormatError(
                    f"FiftyOne's COCO importer failed on '{ann}' ({type(exc).__name__}: {str(exc)[:200]}), "
                    "an entry labelkit's checks do not cover (e.g. a corrupt compressed RLE 'counts'); "
                    f"no dataset '{name}' was left behind"
                ) from exc
            raise
    ds.persistent = persistent
    ds.compute_metadata()
    return ds

# ------------------------------------------------------------------- validation

#: how many offending entries an error lists before "... and N more"
_SHOWN = 5


class _Problems:
    """Problems of one kind, reported together (the first few, and how many in all)."""

    def __init__(self, src: str):
        self.src = src
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(text)

    def raise_if_any(self, header: str, fix: str, error: type[Exception] = ImportFormatError) -> None:
        if not self.items:
            return
        shown = "; ".join(self.items[:_SHOWN])
        more = f"; ... and {len(self.items) - _SHOWN} more" if len(self.items) > _SHOWN else ""
        raise error(f"'{self.src}': {len(self.items)} {header}: {shown}{more}. {fix}. Nothing was imported")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _is_id(v) -> bool:
    return _is_int(v) or (isinstance(v, str) and v != "")


def _listing(values: Sequence[str], limit: int = 10) -> str:
    head = ", ".join(values[:limit])
    return head + (f", ... ({len(values)} in all)" if len(values) > limit else "") if values else "none"


def _ann_name(ann, k: int) -> str:
    if isinstance(ann, dict) and _is_id(ann.get("id")):
        return f"annotation {ann['id']!r}" if isinstance(ann["id"], str) else f"annotation {ann['id']}"
    return f"annotations[{k}]"


def _check_segmentation(seg, width: int, height: int) -> str | None:
    """What is wrong with one COCO ``segmentation`` (None when it is usable)."""
    if seg is None or (isinstance(seg, list) and not seg):
        return None  # no mask: a box-only instance
    if isinstance(seg, list):
        if not all(isinstance(poly, list) for poly in seg):
            return "has a 'segmentation' that is not a list of polygons [[x1, y1, x2, y2, ...], ...]"
        for poly in seg:
            if not all(_is_num(v) for v in poly):
                return "has a polygon with a value that is not a number"
            if not np.all(np.isfinite(np.asarray(poly, dtype=float))):
                return "has a polygon with a NaN or infinite coordinate"
            if len(poly) % 2 or (poly and len(poly) < 6 and len(poly) != 4):
                return f"has a polygon of {len(poly)} values (need x, y pairs, at least 3 points)"
        return None
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if counts is None or size is None:
            return "has an RLE 'segmentation' without 'size' and 'counts'"
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
            return f"has an RLE 'segmentation' whose size {size!r} is not [height, width]"
        if list(size) != [height, width]:
            return (f"has an RLE 'segmentation' of size {list(size)} (height, width) but its image is "
                    f"{width}x{height} (size [{height}, {width}])")
        if isinstance(counts, list):
            if not all(_is_int(v) and v >= 0 for v in counts):
                return "has RLE counts that are not non-negative integers"
            if sum(counts) != height * width:
                return (f"has uncompressed RLE counts summing to {sum(counts)}, not {height} * {width} = "
                        f"{height * width} pixels")
        elif not isinstance(counts, str) or not counts:
            return "has RLE 'counts' that are neither a string (compressed RLE) nor a list (uncompressed)"
        return None
    return f"has a 'segmentation' of type {type(seg).__name__} (expected polygons or RLE)"


def validate_coco(
    data: Any,
    images_dir: str | os.PathLike,
    *,
    source: str | os.PathLike = "annotations.json",
    allow_symlinks: bool = False,
) -> tuple[dict, list[str]]:
    """Check a parsed COCO instance file against its images folder, before importing it.

    The rules (each broken one raises, naming the entries - the first few and how
    many in all - and what to fix):

    * the top level is an object with ``images``, ``annotations`` and ``categories``
      lists (``"annotations": []`` for a split without labels);
    * every category has an integer ``id`` (unique) and a ``name``;
    * every image has an ``id`` (unique), a ``file_name`` and integer ``width`` /
      ``height`` > 0; no two images share a ``file_name``;
    * every ``file_name`` is a path inside ``images_dir``: absolute names, ``..``
      and symlinks resolving outside the folder raise
      :class:`~labelkit.errors.UnsafePathError`; a file that is not there raises;
    * every annotation's ``image_id`` and ``category_id`` exist (the error lists
      the valid ids);
    * every ``bbox`` is 4 finite numbers ``[x, y, w, h]`` (COCO absolute pixels)
      with ``w, h > 0``; a box wholly outside its image raises; a box partly
      outside is **clipped** to the image (the returned notes say which, and
      :func:`load_coco` warns); a file whose boxes all fit in the top-left pixel
      (relative 0-1 coordinates by mistake) raises;
    * a ``segmentation`` is empty (box only), polygons ``[[x1, y1, ...], ...]`` of
      finite numbers (x, y pairs, at least 3 points), or RLE whose ``size`` is the
      image's ``[height, width]`` (uncompressed counts must add up to it).

    Args:
        data: the parsed JSON.
        images_dir: the folder the ``file_name`` entries are relative to.
        source: the file's name for errors.
        allow_symlinks: accept ``file_name`` symlinks that point outside ``images_dir``.

    Returns:
        ``(data, notes)``: ``data`` with partly-outside boxes clipped (changed in
        place), and one note per clipped box.

    Raises:
        ImportFormatError: a rule above is broken.
        UnsafePathError: a ``file_name`` would leave ``images_dir``.
    """
    src = str(source)
    folder = Path(images_dir)
    if not isinstance(data, dict):
        raise ImportFormatError(
            f"'{src}': the top level is a JSON {type(data).__name__}, not a COCO object "
            '{"images": [...], "annotations": [...], "categories": [...]}; nothing was imported'
        )
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ImportFormatError(
                f"'{src}' has no '{key}' list; a COCO instance file needs 'images', 'annotations' and "
                f"'categories' (write \"{key}\": [] if there are none). Nothing was imported"
            )
        if not isinstance(data[key], list):
            raise ImportFormatError(
                f"'{src}': '{key}' is a JSON {type(data[key]).__name__}, not a list. Nothing was imported"
            )

    # categories
    bad = _Problems(src)
    cat_names: dict[Any, str] = {}
    for k, c in enumerate(data["categories"]):
        if not isinstance(c, dict):
            bad.add(f"categories[{k}] is a {type(c).__name__}, not an object")
        elif not _is_int(c.get("id")):
            got = "no id" if "id" not in c else f"id {c['id']!r}"
            bad.add(f"categories[{k}] has {got} (expected an integer)")
        elif not isinstance(c.get("name"), str) or not c["name"]:
            bad.add(f"category {c['id']} has no name")
        elif c["id"] in cat_names:
            bad.add(f"category id {c['id']} is used twice ('{cat_names[c['id']]}' and '{c['name']}')")
        else:
            cat_names[c["id"]] = c["name"]
    bad.raise_if_any("bad entry(ies) in 'categories'", "Each needs a unique integer 'id' and a 'name'")

    # images
    bad = _Problems(src)
    images: dict[Any, dict] = {}
    names: dict[str, Any] = {}
    for k, im in enumerate(data["images"]):
        if not isinstance(im, dict):
            bad.add(f"images[{k}] is a {type(im).__name__}, not an object")
            continue
        label = f"image {im['id']!r}" if _is_id(im.get("id")) else f"images[{k}]"
        missing = [f for f in ("id", "file_name", "width", "height") if f not in im]
        if missing:
            bad.add(f"{label} has no {', '.join(repr(f) for f in missing)}")
        elif not _is_id(im["id"]):
            bad.add(f"{label} has id {im['id']!r} (expected an integer)")
        elif not isinstance(im["file_name"], str) or not im["file_name"].strip():
            bad.add(f"{label} has file_name {im['file_name']!r} (expected a file name)")
        elif not all(_is_num(im[f]) and float(im[f]).is_integer() and im[f] > 0 for f in ("width", "height")):
            bad.add(f"{label} ('{im['file_name']}') has width/height {im['width']!r}x{im['height']!r} "
                    "(expected whole numbers > 0)")
        elif im["id"] in images:
            bad.add(f"image id {im['id']!r} is used twice ('{images[im['id']]['file_name']}' and "
                    f"'{im['file_name']}')")
        elif os.path.normpath(im["file_name"]) in names:
            bad.add(f"file_name '{im['file_name']}' is listed twice (images {names[os.path.normpath(im['file_name'])]!r}"
                    f" and {im['id']!r})")
        else:
            images[im["id"]] = im
            names[os.path.normpath(im["file_name"])] = im["id"]
    bad.raise_if_any(
        "bad entry(ies) in 'images'", "Each needs a unique 'id', a 'file_name' and its 'width' and 'height' in pixels"
    )

    # files: inside the folder, and there
    missing_files = _Problems(src)
    for im in images.values():
        path = safe_child(folder, im["file_name"], what=f"'{src}': image {im['id']!r} file_name",
                          allow_symlinks=allow_symlinks)
        if not path.is_file():
            missing_files.add(f"'{im['file_name']}' (image {im['id']!r})"
                              + (" is a folder" if path.is_dir() else ""))
    missing_files.raise_if_any(
        f"image file(s) listed in 'images' are not in '{folder}'",
        "Copy the files there, or remove their entries (and their annotations) from the JSON",
    )

    # annotations
    valid_images = _listing([repr(i) for i in images])
    valid_cats = _listing([f"{i} ({n})" for i, n in cat_names.items()])
    bad_image, bad_cat, bad_box, outside, bad_seg = (_Problems(src) for _ in range(5))
    notes: list[str] = []
    checked: list[tuple[str, dict, dict]] = []
    for k, ann in enumerate(data["annotations"]):
        name = _ann_name(ann, k)
        if not isinstance(ann, dict):
            bad_image.add(f"{name} is a {type(ann).__name__}, not an object")
            continue
        if "image_id" not in ann:
            bad_image.add(f"{name} has no image_id")
            continue
        if not _is_id(ann["image_id"]) or ann["image_id"] not in images:
            bad_image.add(f"{name} has image_id {ann['image_id']!r}")
            continue
        if "category_id" not in ann:
            bad_cat.add(f"{name} has no category_id")
        elif not _is_int(ann["category_id"]) or ann["category_id"] not in cat_names:
            bad_cat.add(f"{name} has category_id {ann['category_id']!r}")
        checked.append((name, ann, images[ann["image_id"]]))
    bad_image.raise_if_any(
        "annotation(s) without a valid image_id",
        f"Valid image ids: {valid_images}. Fix the image_id, add the image to 'images', or remove the annotation",
    )
    bad_cat.raise_if_any(
        "annotation(s) without a valid category_id",
        f"Valid category ids: {valid_cats}. Fix the category_id, add the category to 'categories', or remove "
        "the annotation",
    )
    for name, ann, im in checked:
        width, height = int(im["width"]), int(im["height"])
        where = f"image {im['id']!r} '{im['file_name']}' ({width}x{height})"
        box = ann.get("bbox")
        if box is None:
            bad_box.add(f"{name} has no bbox")
            continue
        if not (isinstance(box, list) and len(box) == 4 and all(_is_num(v) for v in box)):
            bad_box.add(f"{name} has bbox {box!r} (expected [x, y, width, height])")
            continue
        x, y, w, h = (float(v) for v in box)
        if not all(np.isfinite([x, y, w, h])):
            bad_box.add(f"{name} has bbox {box!r} with a NaN or infinite value")
            continue
        if w <= 0 or h <= 0:
            bad_box.add(f"{name} has bbox {box!r}: width and height must be > 0")
            continue
        x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, float(width)), min(y + h, float(height))
        if x1 <= x0 or y1 <= y0:
            outside.add(f"{name} has bbox {box!r}, wholly outside {where}")
            continue
        if (x0, y0, x1, y1) != (x, y, x + w, y + h):
            clipped = [x0, y0, x1 - x0, y1 - y0]
            ann["bbox"] = clipped
            if max(x0 - x, y0 - y, x + w - x1, y + h - y1) > 1e-3:
                notes.append(f"{name}: bbox {box!r} -> {[round(v, 2) for v in clipped]} ({where})")
        problem = _check_segmentation(ann.get("segmentation"), width, height)
        if problem:
            bad_seg.add(f"{name} ({where}) {problem}")
    bad_box.raise_if_any(
        "annotation(s) with a bad bbox",
        "A COCO bbox is [x, y, width, height] in pixels, 4 finite numbers with width and height > 0",
    )
    outside.raise_if_any(
        "annotation(s) with a box wholly outside their image",
        "Check the image_id, the image's width/height, and that the boxes are absolute pixels (not relative 0-1)",
    )
    boxes = [a["bbox"] for _, a, _ in checked]
    big = any(int(im["width"]) > 4 or int(im["height"]) > 4 for _, _, im in checked)
    if boxes and big and all(b[0] + b[2] <= 1.0 and b[1] + b[3] <= 1.0 for b in boxes):
        raise ImportFormatError(
            f"'{src}': all {len(boxes)} boxes fit within 1x1 pixel at the top-left corner (e.g. "
            f"{_ann_name(checked[0][1], 0)}: bbox {checked[0][1]['bbox']!r}); they look like relative "
            "0-1 coordinates, but COCO boxes are absolute pixels [x, y, width, height]. Multiply them by "
            "the image width/height. Nothing was imported"
        )
    bad_seg.raise_if_any(
        "annotation(s) with a bad segmentation",
        "A segmentation is polygons [[x1, y1, x2, y2, ...], ...] or RLE {'size': [height, width], 'counts': ...}",
    )
    return data, notes


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
