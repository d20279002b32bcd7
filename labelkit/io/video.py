"""Videos in and out: labelkit's video annotation files, loading videos with labels, the sample video.

* :func:`load_video` - a video file (and optionally its annotations) into a FiftyOne
  video dataset with metadata and ``frames.<field>`` labels.
* :func:`read_video_annotations` / :func:`write_video_annotations` - labelkit's
  COCO-video-like JSON (tracks, per-frame RLE masks).
* :func:`load_sample_video` / :func:`sample_video_dir` - the bundled sample video.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import LabelkitError
from ..geometry.masks import (
    full_to_crop,
    rle_to_mask,
)
from ..media.video import _build_metadata
from ..store.dataset import dataset_for_import
from ..store.video import (
    add_video_samples,
    declare_frame_detections,
)
from .sample import sample_data_dir

SAMPLE_VIDEO_DIR = "video"

"""Folder of the sample video inside ``sample_data/``."""


def sample_video_dir() -> Path:
    """``sample_data/video/`` (``$LABELKIT_SAMPLE_DATA`` if set, else the source checkout's)."""
    return sample_data_dir() / SAMPLE_VIDEO_DIR


def read_video_annotations(path: str | os.PathLike) -> dict:
    """Read a labelkit video annotation file (see :func:`write_video_annotations`)."""
    p = Path(path)
    if not p.is_file():
        raise LabelkitError(f"annotation file '{path}' does not exist")
    try:
        data = json.loads(p.read_text())
    except ValueError as e:
        raise LabelkitError(f"annotation file '{path}' is not valid JSON: {e}") from e
    for key in ("videos", "annotations", "categories"):
        if key not in data:
            raise LabelkitError(f"annotation file '{path}' has no '{key}' list (not a labelkit video file)")
    return data


def write_video_annotations(
    path: str | os.PathLike,
    videos: Sequence[Mapping[str, Any]],
    frames: Mapping[int, Mapping[int, Sequence[Mapping[str, Any]]]],
    tracks: Sequence[Mapping[str, Any]],
    categories: Mapping[str, int],
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write video instance annotations (COCO-video-like JSON).

    Format::

        {"info": {...},
         "videos": [{"id", "file_name", "width", "height", "length", "fps"}],
         "categories": [{"id", "name"}],
         "tracks": [{"id", "video_id", "category_id", "label", ...extra keys}],
         "annotations": [{"id", "video_id", "track_id", "frame_number" (1-based),
                          "category_id", "bbox" (COCO absolute [x, y, w, h], tight box
                          of the mask), "area", "segmentation" (COCO RLE, counts str)}]}

    Args:
        path: the JSON file to write.
        videos: the ``videos`` entries.
        frames: video id -> frame number (1-based) -> instances, dicts with
            ``track_id``, ``label`` and ``mask`` (``(H, W)`` bool).
        tracks: the ``tracks`` entries (``id``, ``video_id``, ``label``; extra keys kept).
        categories: label -> category id.
        info: free-form ``info``.

    Returns:
        the path written.
    """
    from pycocotools import mask as mask_utils

    from ..geometry.masks import mask_to_rle

    anns = []
    for vid in sorted(frames):
        for fn in sorted(frames[vid]):
            for inst in frames[vid][fn]:
                rle = mask_to_rle(inst["mask"])
                enc = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
                anns.append(
                    dict(
                        id=len(anns) + 1,
                        video_id=int(vid),
                        track_id=int(inst["track_id"]),
                        frame_number=int(fn),
                        category_id=int(categories[inst["label"]]),
                        bbox=[float(v) for v in mask_utils.toBbox(enc)],
                        area=float(mask_utils.area(enc)),
                        segmentation=rle,
                    )
                )
    data = dict(
        info=dict(info or {}, frame_numbers="1-based"),
        videos=[dict(v) for v in videos],
        categories=[dict(id=int(i), name=n) for n, i in sorted(categories.items(), key=lambda kv: kv[1])],
        tracks=[dict(t, category_id=int(categories[t["label"]])) for t in tracks],
        annotations=anns,
    )
    p = Path(path)
    p.write_text(json.dumps(data, separators=(",", ":")))
    return p


def load_video(
    path: str | os.PathLike,
    annotations: str | os.PathLike | Mapping | None = None,
    name: str | None = None,
    overwrite: bool = False,
    field: str = "ground_truth",
):
    """Import one video into a persistent FiftyOne video dataset, with metadata and,
    optionally, ground-truth instance tracks.

    Args:
        path: the video file (anything OpenCV or ffmpeg decodes; mp4 plays in the App
            only when it is H.264, see the README).
        annotations: a labelkit video annotation file or its parsed dict (see
            :func:`write_video_annotations`); the entry whose ``file_name`` is this
            video's name is used (or the only one).
        name: dataset name; default: the video file's stem. An existing dataset is
            reused, and a video already in it is not added twice.
        overwrite: delete an existing dataset of that name first.
        field: the frame field for the annotations (``frames.<field>``):
            ``fo.Detections`` with ``label``, ``bounding_box`` (tight box of the
            mask), ``mask`` and ``index`` = the track id.

    Returns:
        the ``fo.Dataset``.

    Raises:
        LabelkitError: unreadable video or annotations, or no annotation entry for it.
        SchemaError: the dataset exists and does not hold videos.
    """
    import fiftyone as fo

    p = Path(path).absolute()
    meta = _build_metadata(str(p))  # also checks that the video is readable
    name = name or p.stem
    ds = dataset_for_import(name, "video", overwrite)
    if len(ds) and str(p) in set(ds.values("filepath")):
        return ds
    sample = fo.Sample(filepath=str(p), metadata=meta)
    tracks: list = []
    if annotations is not None:
        data = annotations if isinstance(annotations, Mapping) else read_video_annotations(annotations)
        video = _pick_video(data, p.name, annotations)
        width, height = int(video.get("width") or meta.frame_width), int(video.get("height") or meta.frame_height)
        if (width, height) != (meta.frame_width, meta.frame_height):
            raise LabelkitError(
                f"annotations of '{p.name}' are for {width}x{height} frames, the video is "
                f"{meta.frame_width}x{meta.frame_height}"
            )
        names = {c["id"]: c["name"] for c in data["categories"]}
        per_frame: dict[int, list] = defaultdict(list)
        for ann in data["annotations"]:
            if ann.get("video_id", video["id"]) != video["id"]:
                continue
            per_frame[int(ann["frame_number"])].append(ann)
        for fn in sorted(per_frame):
            dets = []
            for ann in per_frame[fn]:
                mask = rle_to_mask(ann["segmentation"])
                crop = full_to_crop(mask)
                if crop is None:
                    continue
                dets.append(
                    fo.Detection(
                        label=names[ann["category_id"]], bounding_box=crop[0], mask=crop[1],
                        index=int(ann["track_id"]),
                    )
                )
            sample.frames[fn] = fo.Frame(**{field: fo.Detections(detections=dets)})
        tracks = [t for t in data.get("tracks", []) if t.get("video_id", video["id"]) == video["id"]]
    add_video_samples(ds, [sample])
    if annotations is not None:
        declare_frame_detections(ds, field)
        if tracks:
            info = dict(ds.info.get("labelkit_tracks", {}))
            info[p.name] = tracks
            ds.info["labelkit_tracks"] = info
            ds.save()
    return ds


def _pick_video(data: Mapping, file_name: str, source) -> Mapping:
    videos = list(data["videos"])
    for v in videos:
        if Path(v.get("file_name", "")).name == file_name:
            return v
    if len(videos) == 1:
        return videos[0]
    raise LabelkitError(
        f"annotations {source if not isinstance(source, Mapping) else ''} have no entry for "
        f"video '{file_name}' (videos: {', '.join(v.get('file_name', '?') for v in videos)})"
    )


def load_sample_video(name: str = "labelkit-sample-video", overwrite: bool = False, field: str = "ground_truth"):
    """The bundled sample clip (``sample_data/video/``) as a FiftyOne video dataset.

    61 frames of 320x240 at 10 fps, made by ``sample_data/make_sample_video.py``:
    a book moving linearly, a mug on a curved, accelerating path while turning and
    growing, and a ball rolling behind the book (occlusion). Ground truth
    (``frames.<field>``) has every frame's instance masks with ``index`` = track id;
    ``dataset.info["labelkit_tracks"]`` lists the tracks and their motion type.

    Raises:
        LabelkitError: the sample files are missing (set ``$LABELKIT_SAMPLE_DATA``).
    """
    folder = sample_video_dir()
    video, anns = folder / "sample.mp4", folder / "annotations.json"
    if not video.is_file() or not anns.is_file():
        raise LabelkitError(
            f"sample video not found in '{folder}' (expected sample.mp4 and annotations.json); "
            "run `python sample_data/make_sample_video.py` or set $LABELKIT_SAMPLE_DATA"
        )
    return load_video(video, anns, name=name, overwrite=overwrite, field=field)
