"""Labels out of FiftyOne: export a labels field with FiftyOne's exporters (COCO, YOLO, VOC, CVAT...).

Videos: :func:`export_video_labels` writes CVAT video XML or FiftyOne's video labels JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import LabelkitError, SchemaError
from ..store.dataset import open_dataset
from ..store.dataset import open_dataset as _open
from ..store.video import _check_video_field, ensure_video_metadata

_EXPORT_TYPES = {
    "coco": "COCODetectionDataset",
    "yolo": "YOLOv5Dataset",
    "voc": "VOCDetectionDataset",
    "cvat": "CVATImageDataset",
    "fiftyone": "FiftyOneDataset",
}


def export_labels(
    samples,
    export_dir: str | os.PathLike,
    format: str = "coco",  # noqa: A002 - the natural name for users
    labels: str = "ground_truth",
    reviewed_only: bool = True,
) -> str:
    """Export reviewed labels with FiftyOne's exporters.

    Args:
        samples: a dataset name, dataset or view.
        export_dir: output folder.
        format: ``coco`` (instance masks as polygons/RLE), ``yolo`` (YOLOv5 boxes),
            ``voc``, ``cvat``, or ``fiftyone`` (everything, re-importable).
        labels: the labels field to export.
        reviewed_only: only samples whose ``review_status`` is "done".

    Returns:
        a one-line description of what was written.
    """
    import fiftyone as fo
    from fiftyone import ViewField as F

    coll = open_dataset(samples)
    key = format.lower()
    if key not in _EXPORT_TYPES:
        raise LabelkitError(f"unknown export format '{format}'; use one of {', '.join(_EXPORT_TYPES)}")
    if labels not in coll.get_field_schema():
        raise SchemaError(f"'{coll.name}' has no field '{labels}' to export")
    view = coll.match(F("review_status") == "done") if reviewed_only else coll
    if len(view) == 0:
        raise LabelkitError(
            f"nothing to export: no sample of '{coll.name}' is reviewed yet "
            "(review some, or export with reviewed_only=False / --all)"
        )
    dataset_type = getattr(fo.types, _EXPORT_TYPES[key])
    kwargs = {} if key == "fiftyone" else {"label_field": labels}
    view.export(export_dir=str(export_dir), dataset_type=dataset_type, **kwargs)
    return f"exported {len(view)} sample(s) of '{coll.name}' ({labels}) as {key} to {export_dir}"


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
