"""Interactive segmentation, measured the way the field does (NoC@85 / NoC@90, mIoU@k).

The protocol of the RITM / SAM evaluations (Sofiiuk et al. 2021; Kirillov et al. 2023):
for each ground-truth instance, a simulated user clicks until the predicted mask
reaches the IoU target or 20 clicks were made.

* Click 1 is positive, at the interior point of the object farthest from its
  boundary (the maximum of the distance transform of the mask).
* After each prediction the error regions are the false negatives (object pixels
  missed) and the false positives (background taken). The next click goes to the
  interior point (distance-transform maximum) of the larger error, judged by that
  maximum distance: positive on a false negative, negative on a false positive.
* The segmenter gets every click so far plus its previous mask as a prior
  (``segment(image, points, point_labels, mask_input=previous)``).

Reported per dataset and segmenter: NoC@85 and NoC@90 (mean clicks to reach that
IoU; 20 when never reached), the share of instances that never reach 90 %
(NoC₂₀@90), mean IoU after 1, 3 and 5 clicks, and milliseconds per click (the
segmenter call alone).

Data (real images with real instance masks, shipped in packages, plus ours):

* ``coins``: ``skimage.data.coins()`` (303x384 grey photo); masks derived with the
  scikit-image gallery's region-based recipe (Sobel elevation, markers below 30 and
  above 150, watershed, holes filled, objects under 100 px dropped) and checked by
  eye on the overlay ``bench/out/coins-masks.png`` (24 coins, one mask each).
* ``nuclei``: the 2-D DSB2018 microscopy crop in the ``stardist`` wheel
  (``stardist/data/images/img2d.tif`` + ``mask2d.tif``, 512x512, its labelled
  nuclei; instances under 30 px are left out).
* ``synthetic``: the first images of ``sample_data/known-val`` and
  ``shifted-newclass`` with their COCO masks.

Segmenters: GrabCut (``lk.models.grabcut()``) always; SAM rows
(``lk.models.sam(name)``) for each name in ``--sam`` whose weights are in the
Hugging Face cache or a local folder; otherwise the row says "not run: weights not
available offline".

Run::

    .venv/bin/python bench/refine.py                      # GrabCut on all datasets
    .venv/bin/python bench/refine.py --sam facebook/sam-vit-base --max-instances 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAX_CLICKS = 20


# --------------------------------------------------------------- the protocol


def _interior_point(region: np.ndarray) -> tuple[tuple[float, float], float]:
    """The point of ``region`` farthest from its boundary, as image (x, y), and that distance."""
    import cv2

    padded = np.pad(region.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return (float(x), float(y)), float(dist[y, x])


def next_click(gt: np.ndarray, pred: np.ndarray | None) -> tuple[tuple[float, float], int] | None:
    """The simulated user's next click: ``((x, y), label)`` with 1 = positive, or
    None when the prediction is already perfect."""
    if pred is None:
        point, _ = _interior_point(gt)
        return point, 1
    fn = gt & ~pred
    fp = pred & ~gt
    if not fn.any() and not fp.any():
        return None
    p_fn, d_fn = _interior_point(fn) if fn.any() else ((0.0, 0.0), -1.0)
    p_fp, d_fp = _interior_point(fp) if fp.any() else ((0.0, 0.0), -1.0)
    return (p_fn, 1) if d_fn >= d_fp else (p_fp, 0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def evaluate_instance(segmenter, image: np.ndarray, gt: np.ndarray, max_clicks: int = MAX_CLICKS) -> dict:
    """Run the click protocol on one instance.

    Returns:
        ``{"ious": [iou after click 1, 2, ...], "ms": [ms per segment call]}`` (the
        list stops early only when the mask is perfect: the IoU then stays 1.0).
    """
    points: list[tuple[float, float]] = []
    labels: list[int] = []
    pred = None
    ious, ms = [], []
    for _ in range(max_clicks):
        click = next_click(gt, pred)
        if click is None:
            ious.append(1.0)
            continue
        points.append(click[0])
        labels.append(click[1])
        t0 = time.perf_counter()
        masks, _ = segmenter.segment(image, points=points, point_labels=labels, mask_input=pred)
        ms.append(1000 * (time.perf_counter() - t0))
        pred = masks[0]
        ious.append(iou(pred, gt))
    return {"ious": ious, "ms": ms}


def noc(ious: list[float], target: float, max_clicks: int = MAX_CLICKS) -> int:
    """Clicks needed to reach ``target`` IoU (``max_clicks`` when never)."""
    for k, v in enumerate(ious, start=1):
        if v >= target:
            return k
    return max_clicks


def summarize(results: list[dict]) -> dict:
    ious = [r["ious"] for r in results]
    ms = [m for r in results for m in r["ms"]]

    def at(k):
        return float(np.mean([r[min(k, len(r)) - 1] for r in ious]))

    return {
        "instances": len(results),
        "NoC@85": float(np.mean([noc(r, 0.85) for r in ious])),
        "NoC@90": float(np.mean([noc(r, 0.90) for r in ious])),
        "NoC20@90": float(np.mean([max(r) < 0.90 for r in ious])),
        "mIoU@1": at(1),
        "mIoU@3": at(3),
        "mIoU@5": at(5),
        "ms/click": float(np.median(ms)) if ms else 0.0,
        "ms/click p95": float(np.percentile(ms, 95)) if ms else 0.0,
    }


# --------------------------------------------------------------------- data


def coins_dataset(out: Path | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """The scikit-image coins with masks from the gallery's region-based recipe."""
    from scipy import ndimage as ndi
    from skimage import data, filters, measure, segmentation

    gray = data.coins()
    elevation = filters.sobel(gray)
    markers = np.zeros_like(gray, dtype=np.int32)
    markers[gray < 30] = 1
    markers[gray > 150] = 2
    seg = segmentation.watershed(elevation, markers) == 2
    seg = ndi.binary_fill_holes(seg)
    labels = measure.label(seg)
    masks = [labels == r.label for r in measure.regionprops(labels) if r.area >= 100]
    image = np.repeat(gray[..., None], 3, axis=2)
    if out is not None:
        _save_overlay(image, masks, out / "coins-masks.png")
    return image, masks


def nuclei_dataset() -> tuple[np.ndarray, list[np.ndarray]]:
    """The DSB2018 crop shipped in the stardist wheel, as 8-bit RGB plus its nuclei masks."""
    import stardist
    import tifffile

    folder = Path(stardist.__file__).parent / "data" / "images"
    raw = tifffile.imread(folder / "img2d.tif").astype(np.float64)
    labels = tifffile.imread(folder / "mask2d.tif")
    lo, hi = np.percentile(raw, (1, 99.8))
    gray = (np.clip((raw - lo) / max(hi - lo, 1e-9), 0, 1) * 255).astype(np.uint8)
    masks = [labels == v for v in np.unique(labels) if v and (labels == v).sum() >= 30]
    return np.repeat(gray[..., None], 3, axis=2), masks


def synthetic_dataset(split: str, n_images: int) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """The first ``n_images`` of a sample_data split with their COCO masks."""
    from labelkit.geometry.masks import coco_segmentation_to_mask
    from labelkit.media.image import read_image

    folder = ROOT / "sample_data" / split
    coco = json.loads((folder / "annotations.json").read_text())
    by_image: dict[int, list] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    out = []
    for entry in sorted(coco["images"], key=lambda e: e["file_name"])[:n_images]:
        image = np.array(read_image(folder / "images" / entry["file_name"]))
        masks = [coco_segmentation_to_mask(a["segmentation"], entry["width"], entry["height"])
                 for a in by_image.get(entry["id"], [])]
        out.append((image, [m for m in masks if m.sum() >= 30]))
    return out


def _save_overlay(image: np.ndarray, masks: list[np.ndarray], path: Path) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    vis = image.copy()
    rng = np.random.default_rng(0)
    for m in masks:
        colour = rng.integers(60, 255, 3)
        vis[m] = (0.45 * vis[m] + 0.55 * colour).astype(np.uint8)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(vis, contours, -1, (255, 255, 255), 1)
    cv2.imwrite(str(path), cv2.cvtColor(vis, cv2.COLOR_RGB2BGR))


# --------------------------------------------------------------------- main


def _segmenters(sam_names: list[str]):
    import labelkit as lk
    from labelkit.errors import WeightsNotAvailableError

    yield "grabcut", lk.models.grabcut(), None
    for name in sam_names:
        try:
            yield f"sam ({name})", lk.models.sam(name), None
        except WeightsNotAvailableError:
            yield f"sam ({name})", None, "not run: weights not available offline"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam", nargs="*", default=["facebook/sam-vit-base", "facebook/sam2.1-hiera-tiny"],
                        help="SAM hub ids or local folders to measure when their weights are present")
    parser.add_argument("--max-instances", type=int, default=0, help="per dataset (0 = all)")
    parser.add_argument("--synthetic-images", type=int, default=4)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "refine.json")
    args = parser.parse_args(argv)

    out_dir = args.json.parent
    datasets: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    image, masks = coins_dataset(out_dir)
    datasets["coins"] = [(image, m) for m in masks]
    try:
        image, masks = nuclei_dataset()
        datasets["nuclei"] = [(image, m) for m in masks]
    except ImportError:
        print("nuclei: not run (pip install stardist for its bundled DSB2018 image)")
    for split in ("known-val", "shifted-newclass"):
        pairs = [(im, m) for im, ms in synthetic_dataset(split, args.synthetic_images) for m in ms]
        datasets[f"synthetic {split}"] = pairs
    if args.max_instances:
        datasets = {k: v[: args.max_instances] for k, v in datasets.items()}

    print(f"# bench/refine.py - {platform.machine()}, {os.cpu_count()} CPU(s), "
          f"max {MAX_CLICKS} clicks, {time.strftime('%Y-%m-%d')}")
    header = ("| data | instances | segmenter | NoC@85 | NoC@90 | >20@90 | mIoU@1 | mIoU@3 | mIoU@5 "
              "| ms/click (p50) | p95 |")
    print(header)
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for seg_name, seg, why in _segmenters(args.sam):
        for data_name, pairs in datasets.items():
            if seg is None:
                print(f"| {data_name} | {len(pairs)} | {seg_name} | {why} |||||||| ")
                rows.append({"data": data_name, "segmenter": seg_name, "not_run": why})
                continue
            results = [evaluate_instance(seg, image, gt) for image, gt in pairs]
            s = summarize(results)
            rows.append({"data": data_name, "segmenter": seg_name, **s})
            print(f"| {data_name} | {s['instances']} | {seg_name} | {s['NoC@85']:.2f} | {s['NoC@90']:.2f} "
                  f"| {100 * s['NoC20@90']:.0f}% | {s['mIoU@1']:.3f} | {s['mIoU@3']:.3f} | {s['mIoU@5']:.3f} "
                  f"| {s['ms/click']:.1f} | {s['ms/click p95']:.1f} |", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1))
    print(f"(written {args.json})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
