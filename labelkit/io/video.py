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

from ..errors import ImportFormatError, LabelkitError
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
    """Read and check a labelkit video annotation file (see :func:`write_video_annotations`).

    Checked: the JSON parses; the top level has ``videos``, ``annotations`` and
    ``categories`` lists; every video has an ``id``; every category an integer
    ``id`` and a ``name``; every annotation a ``track_id``, an integer
    ``frame_number`` >= 1 (1-based), a ``category_id`` that is in ``categories``,
    a ``video_id`` (if given) that is in ``videos``, and an RLE ``segmentation``
    ``{"size": [height, width], "counts": ...}`` (of the video's size, when the
    video entry has one).

    Raises:
        LabelkitError: the file does not exist.
        ImportFormatError: it does not parse or breaks a rule above; the message
            names the file, the entry and what to fix.
    """
    from ._jsonfile import read_json
    from .coco import _ann_name, _check_segmentation, _is_id, _is_int, _listing, _Problems

    p = Path(path)
    if not p.is_file():
        raise LabelkitError(f"annotation file '{path}' does not exist")
    data = read_json(p, "video annotation file")
    if not isinstance(data, dict):
        raise ImportFormatError(
            f"video annotation file '{path}': the top level is a JSON {type(data).__name__}, not an object "
            '{"videos": [...], "categories": [...], "annotations": [...]} (see lk.video.write_video_annotations)'
        )
    for key in ("videos", "annotations", "categories"):
        if key not in data:
            raise ImportFormatError(
                f"video annotation file '{path}' has no '{key}' list (not a labelkit video file; "
                "see lk.video.write_video_annotations for the format)"
            )
        if not isinstance(data[key], list):
            raise ImportFormatError(
                f"video annotation file '{path}': '{key}' is a JSON {type(data[key]).__name__}, not a list"
            )
    bad = _Problems(str(path))
    videos: dict = {}
    for k, v in enumerate(data["videos"]):
        if not isinstance(v, dict) or not _is_id(v.get("id")):
            bad.add(f"videos[{k}] has no id")
        else:
            videos[v["id"]] = v
    cats: dict = {}
    for k, c in enumerate(data["categories"]):
        if not isinstance(c, dict) or not _is_int(c.get("id")) or not isinstance(c.get("name"), str):
            bad.add(f"categories[{k}] needs an integer 'id' and a 'name'")
        else:
            cats[c["id"]] = c["name"]
    bad.raise_if_any("bad entry(ies) in 'videos' / 'categories'", "Fix or remove them")
    for k, ann in enumerate(data["annotations"]):
        name = _ann_name(ann, k)
        if not isinstance(ann, dict):
            bad.add(f"{name} is a {type(ann).__name__}, not an object")
            continue
        missing = [f for f in ("track_id", "frame_number", "category_id", "segmentation") if f not in ann]
        if missing:
            bad.add(f"{name} has no {', '.join(repr(f) for f in missing)}")
            continue
        if not _is_int(ann["frame_number"]) or ann["frame_number"] < 1:
            bad.add(f"{name} has frame_number {ann['frame_number']!r} (frame numbers are integers from 1)")
            continue
        if not _is_int(ann["category_id"]) or ann["category_id"] not in cats:
            bad.add(f"{name} has category_id {ann['category_id']!r} (valid: "
                    f"{_listing([f'{i} ({n})' for i, n in cats.items()])})")
            continue
        if "video_id" in ann:
            video = videos.get(ann["video_id"]) if _is_id(ann["video_id"]) else None
        else:
            video = next(iter(videos.values()), None)
        if "video_id" in ann and video is None:
            bad.add(f"{name} has video_id {ann['video_id']!r} (valid: {_listing([repr(i) for i in videos])})")
            continue
        seg = ann["segmentation"]
        if not isinstance(seg, dict):
            bad.add(f"{name} has a segmentation that is not RLE {{'size': [height, width], 'counts': ...}}")
            continue
        size = seg.get("size")
        w, h = (video or {}).get("width"), (video or {}).get("height")
        if not (_is_int(w) and _is_int(h)):
            h, w = (size if isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)
                    else (0, 0))
        problem = _check_segmentation(seg, int(w), int(h))
        if problem:
            bad.add(f"{name} (frame {ann['frame_number']}) {problem}")
    bad.raise_if_any("bad annotation(s)", "Fix or remove them (see lk.video.write_video_annotations for the format)")
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
