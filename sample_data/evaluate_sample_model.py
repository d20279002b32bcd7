"""Evaluate the bundled sample model with COCO mask/box AP on the sample splits.

Usage (from the repository root)::

    python sample_data/evaluate_sample_model.py
    python sample_data/evaluate_sample_model.py --checkpoint other.pt --splits known-val --json out.json

Prints a Markdown table: per split, mask AP (IoU .50:.95), mask AP50, box AP,
box AP50 and per-class mask AP50 (pycocotools ``COCOeval``, ``iouType="segm"``
and ``"bbox"``). Classes the model never learned (the ``donut`` of
``shifted-newclass``) count with AP 0, as in any COCO evaluation.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelkit.models.compact import build_compact_maskrcnn, load_checkpoint_state  # noqa: E402

DEFAULT_SPLITS = ("known-val", "shifted-background", "shifted-newclass")


def load_model(path: Path) -> tuple[torch.nn.Module, list[str], dict[str, Any]]:
    """Build the compact Mask R-CNN of a labelkit checkpoint, in eval mode.

    Returns:
        ``(model, classes, checkpoint)``.
    """
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("format") != "labelkit.maskrcnn/1" or ckpt.get("arch") != "compact":
        raise ValueError(f"{path} is not a labelkit compact Mask R-CNN checkpoint")
    classes = list(ckpt["classes"])
    model = build_compact_maskrcnn(len(classes) + 1, **ckpt["arch_kwargs"])
    load_checkpoint_state(model, ckpt["state_dict"])
    return model.eval(), classes, ckpt


@torch.no_grad()
def predict_split(model, classes, split_dir: Path, gt: COCO, batch: int = 4) -> tuple[list[dict], float]:
    """Run the model over a split; return COCO results (RLE masks) and seconds per image."""
    name_to_cat = {c["name"]: c["id"] for c in gt.loadCats(gt.getCatIds())}
    results: list[dict[str, Any]] = []
    image_ids = sorted(gt.getImgIds())
    t0 = time.perf_counter()
    for i in range(0, len(image_ids), batch):
        ids = image_ids[i : i + batch]
        infos = gt.loadImgs(ids)
        tensors = [
            torch.from_numpy(np.array(Image.open(split_dir / "images" / info["file_name"]).convert("RGB")))
            .permute(2, 0, 1)
            .float()
            / 255.0
            for info in infos
        ]
        for image_id, out in zip(ids, model(tensors), strict=True):
            masks = (out["masks"][:, 0] > 0.5).numpy()
            for box, label, score, m in zip(out["boxes"].tolist(), out["labels"].tolist(), out["scores"].tolist(), masks, strict=True):
                name = classes[label - 1]
                if name not in name_to_cat:
                    continue
                rle = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))
                rle["counts"] = rle["counts"].decode("ascii")
                x1, y1, x2, y2 = box
                results.append(
                    dict(image_id=image_id, category_id=name_to_cat[name], segmentation=rle,
                         bbox=[x1, y1, x2 - x1, y2 - y1], score=float(score))
                )
    return results, (time.perf_counter() - t0) / max(len(image_ids), 1)


def coco_metrics(gt: COCO, results: list[dict], iou_type: str) -> dict[str, Any]:
    """AP, AP50 and per-class AP50 of ``results`` (empty results score 0)."""
    names = {c["id"]: c["name"] for c in gt.loadCats(gt.getCatIds())}
    if not results:
        return dict(AP=0.0, AP50=0.0, per_class_AP50={n: 0.0 for n in names.values()})
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iouType=iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"]  # [T, R, K, A, M]
    per_class = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = prec[0, :, k, 0, -1]
        per_class[names[cat_id]] = float(p[p > -1].mean()) if (p > -1).any() else 0.0
    return dict(AP=float(ev.stats[0]), AP50=float(ev.stats[1]), per_class_AP50=per_class)


def main(argv: list[str] | None = None) -> int:
    """Evaluate and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=ROOT / "sample_data" / "models" / "sample_maskrcnn.pt")
    p.add_argument("--data", type=Path, default=ROOT / "sample_data", help="parent folder of the splits")
    p.add_argument("--splits", nargs="+", default=list(DEFAULT_SPLITS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, classes, ckpt = load_model(args.checkpoint)
    rows = []
    for split in args.splits:
        split_dir = args.data / split
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(split_dir / "annotations.json"))
        results, spi = predict_split(model, classes, split_dir, gt)
        segm, bbox = coco_metrics(gt, results, "segm"), coco_metrics(gt, results, "bbox")
        rows.append(dict(split=split, images=len(gt.getImgIds()), instances=len(gt.getAnnIds()),
                         segm=segm, bbox=bbox, seconds_per_image=spi))
    print(f"checkpoint: {args.checkpoint} ({args.checkpoint.stat().st_size / 1e6:.1f} MB), "
          f"classes {classes}, meta {json.dumps(ckpt.get('meta', {}))}")
    print()
    print("| split | images | instances | mask AP | mask AP50 | box AP | box AP50 | mask AP50 per class |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        pc = ", ".join(f"{k} {v:.3f}" for k, v in r["segm"]["per_class_AP50"].items())
        print(f"| {r['split']} | {r['images']} | {r['instances']} | {r['segm']['AP']:.3f} | "
              f"{r['segm']['AP50']:.3f} | {r['bbox']['AP']:.3f} | {r['bbox']['AP50']:.3f} | {pc} |")
    print()
    print(f"CPU inference: {np.mean([r['seconds_per_image'] for r in rows]) * 1000:.0f} ms/image "
          f"({args.threads} threads, batches of 4)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
