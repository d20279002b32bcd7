"""Labels out of FiftyOne: export a labels field with FiftyOne's exporters (COCO, YOLO, VOC, CVAT...).

Videos: :func:`export_video_labels` writes CVAT video XML or FiftyOne's video labels JSON.

Both check everything before anything is written (no folder is created on a
refusal): the format, the field, that there are samples to export (an empty view
is named with its dataset), and the export folder (not an existing file; not the
folder holding the dataset's media; not one whose media subfolder holds that
media, which the copy would overwrite; with ``overwrite=True``, not one that
contains the media, which would be deleted). A subfolder of the media folder is
allowed (a common layout: ``project/`` holds the images, ``project/export/`` the export).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import LabelkitError, OutputPathError, SchemaError
from ..store.dataset import open_dataset
from ..store.dataset import open_dataset as _open
from ..store.video import _check_video_field, ensure_video_metadata
from .paths import check_output_path, is_within

_EXPORT_TYPES = {
    "coco": "COCODetectionDataset",
    "yolo": "YOLOv5Dataset",
    "voc": "VOCDetectionDataset",
    "cvat": "CVATImageDataset",
    "fiftyone": "FiftyOneDataset",
}

#: where each exporter copies the media inside the export folder (FiftyOne's defaults;
#: "data" for the others)
_MEDIA_SUBDIRS = {"yolo": "images"}


def _describe(coll) -> str:
    """``dataset 'x'`` or ``view of dataset 'x' (Match(...), Limit(...))``, for messages."""
    ds = coll._dataset
    if coll is ds or not getattr(coll, "_stages", None):
        return f"dataset '{ds.name}'"
    stages = ", ".join(repr(st) for st in coll._stages)
    if len(stages) > 160:
        stages = stages[:157] + "..."
    return f"view of dataset '{ds.name}' ({stages})"


def _check_export_dir(
    export_dir, coll, *, media_subdir: str | None, overwrite: bool = False
) -> Path:
    """The export folder, checked against the path rules and the collection's media.

    Args:
        export_dir: the folder the user named.
        coll: the samples to export (their ``filepath`` folders are the media folders).
        media_subdir: where the exporter copies media inside ``export_dir``
            (``"data"``), or None when no media is written.
        overwrite: the exporter deletes ``export_dir`` first.

    Raises:
        OutputPathError: the folder is a file, or would overwrite, delete or mix
            with the dataset's media.
    """
    out = check_output_path(export_dir, what="export folder", kind="dir")
    real = out.resolve()
    media = sorted({Path(fp).parent.resolve() for fp in coll.values("filepath") if fp})
    for m in media:
        if overwrite and is_within(m, real):
            raise OutputPathError(
                f"export folder '{out}' holds media of {_describe(coll)} ('{m}'), and overwrite=True "
                "would delete it first; export to a folder outside the media"
            )
        if media_subdir is not None and real == m:
            raise OutputPathError(
                f"export folder '{out}' is the folder holding the media of {_describe(coll)}; the "
                "export would mix copies and labels into it. Export to a folder outside it"
            )
        if media_subdir is not None and is_within(m, real / media_subdir):
            raise OutputPathError(
                f"export folder '{out}' would copy the media of {_describe(coll)} into '{real / media_subdir}', "
                f"where it already is ('{m}'), overwriting it; export to another folder"
            )
    return out


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

    Raises:
        LabelkitError: unknown format, no samples in ``samples``, or none reviewed
            (with ``reviewed_only``).
        SchemaError: ``labels`` is not a field of ``samples``.
        OutputPathError: ``export_dir`` is an existing file, is the folder holding
            the media, or its media subfolder would overwrite it.
    """
    import fiftyone as fo
    from fiftyone import ViewField as F

    coll = open_dataset(samples)
    key = format.lower()
    if key not in _EXPORT_TYPES:
        raise LabelkitError(f"unknown export format '{format}'; use one of {', '.join(_EXPORT_TYPES)}")
    what = _describe(coll)
    schema = coll.get_field_schema()
    if labels not in schema:
        raise SchemaError(
            f"{what} has no field '{labels}' to export (fields: {', '.join(sorted(schema))}); pass labels=..."
        )
    check_output_path(export_dir, what="export folder", kind="dir")
    if len(coll) == 0:
        raise LabelkitError(
            f"no samples to export in {what} (field '{labels}'); nothing was written. Export a view that "
            "matches samples, or the dataset itself"
        )
    view = coll.match(F("review_status") == "done") if reviewed_only else coll
    if len(view) == 0:
        raise LabelkitError(
            f"nothing to export: no sample of {what} is reviewed yet "
            "(review some, or export with reviewed_only=False / --all)"
        )
    out = _check_export_dir(export_dir, view, media_subdir=_MEDIA_SUBDIRS.get(key, "data"))
    dataset_type = getattr(fo.types, _EXPORT_TYPES[key])
    kwargs = {} if key == "fiftyone" else {"label_field": labels}
    view.export(export_dir=str(out), dataset_type=dataset_type, **kwargs)
    return f"exported {len(view)} sample(s) of {what} ({labels}) as {key} to {export_dir}"


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

    Raises:
        LabelkitError: unknown format, or no videos in ``samples``.
        SchemaError: ``field`` is not a frame detections field of a video collection.
        OutputPathError: ``export_dir`` is an existing file, is the videos' folder
            (when media is exported), its ``data/`` would overwrite them, or
            (``overwrite=True``) it contains them and would delete them.
    """
    import fiftyone as fo

    coll = _open(samples)
    fname = _check_video_field(coll, field)
    key = format.lower()
    if key not in _VIDEO_EXPORT_TYPES:
        raise LabelkitError(f"unknown video export format '{format}'; use one of {', '.join(_VIDEO_EXPORT_TYPES)}")
    check_output_path(export_dir, what="export folder", kind="dir")
    if len(coll) == 0:
        raise LabelkitError(
            f"no samples to export in {_describe(coll)} (field 'frames.{fname}'); nothing was written. "
            "Export a view that matches videos, or the dataset itself"
        )
    export_dir = _check_export_dir(
        export_dir, coll, media_subdir="data" if export_media else None, overwrite=overwrite
    )
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
    return f"exported {len(coll)} video(s) of {_describe(coll)} ('frames.{fname}') as {key} to {export_dir}"


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
