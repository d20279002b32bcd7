"""Geometry: boxes, masks, polygons, RLE, IoU and signed distance - one coordinate convention per layer.

Owns every conversion between torchvision absolute ``[x1, y1, x2, y2]``, FiftyOne
relative ``[x, y, w, h]`` and COCO absolute ``[x, y, w, h]`` boxes, crop/full masks,
polygons, RLE (pycocotools underneath) and IoU (:mod:`.masks`), signed distance
maps (:mod:`.sdf`), and mask edits at full resolution: brush, erase, polygon, box
and GrabCut refine (:mod:`.edit`, used by the review session and the GrabCut
segmenter). Pure numpy/OpenCV/pycocotools.

May import: :mod:`labelkit.errors` only.
"""

from __future__ import annotations

from . import edit
from .masks import (
    box_iou,
    coco_segmentation_to_mask,
    coco_to_fo,
    coco_to_xyxy,
    crop_to_full,
    detection_mask,
    detections_iou,
    fo_to_coco,
    fo_to_xyxy,
    full_to_crop,
    mask_bbox,
    mask_iou,
    mask_to_polygons,
    mask_to_rle,
    paste_mask_in_box,
    pixel_box,
    pixel_box_to_fo,
    polygon_area,
    polygon_to_mask,
    rle_to_mask,
    xyxy_to_coco,
    xyxy_to_fo,
)
from .sdf import (
    signed_distance,
)

__all__ = [
    "edit",
    "box_iou",
    "coco_segmentation_to_mask",
    "coco_to_fo",
    "coco_to_xyxy",
    "crop_to_full",
    "detection_mask",
    "detections_iou",
    "fo_to_coco",
    "fo_to_xyxy",
    "full_to_crop",
    "mask_bbox",
    "mask_iou",
    "mask_to_polygons",
    "mask_to_rle",
    "paste_mask_in_box",
    "pixel_box",
    "pixel_box_to_fo",
    "polygon_area",
    "polygon_to_mask",
    "rle_to_mask",
    "signed_distance",
    "xyxy_to_coco",
    "xyxy_to_fo",
]
