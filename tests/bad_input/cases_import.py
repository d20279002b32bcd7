"""Bad imports, exports and paths: COCO / video JSON, export folders, checkpoints.

Every COCO case writes a split (``split/images/`` with copies of the context's 3
images, and ``split/annotations.json``) into the case's scratch folder, breaks one
thing and imports it with :func:`labelkit.io.load_coco`: the import is refused and
no dataset is created (the corpus compares database dumps).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from bad_input import Case, Context
from labelkit.errors import (
    ImportFormatError,
    LabelkitError,
    OutputPathError,
    SchemaError,
    UnsafePathError,
)

# ---------------------------------------------------------------- COCO splits


def _rect(x: float, y: float, w: float, h: float) -> list[list[float]]:
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def coco_split(ctx: Context, mutate: Callable[[dict], str | None] | None = None) -> Path:
    """A valid COCO split of the context's images (2 objects each), broken by ``mutate``
    (which edits the dict in place, or returns the file's text)."""
    split = ctx.tmp / "split"
    images = split / "images"
    images.mkdir(parents=True)
    data: dict = {"images": [], "annotations": [], "categories": [
        {"id": 1, "name": "ball"}, {"id": 2, "name": "mug"}]}
    for i, src in enumerate(ctx.images, start=1):
        shutil.copy(src, images / src.name)
        data["images"].append({"id": i, "file_name": src.name, "width": 320, "height": 240})
        for cat, box in ((1, [40, 60, 80, 80]), (2, [180, 100, 80, 100])):
            data["annotations"].append({
                "id": len(data["annotations"]) + 1, "image_id": i, "category_id": cat, "bbox": box,
                "area": box[2] * box[3], "iscrowd": 0, "segmentation": _rect(*box),
            })
    text = mutate(data) if mutate else None
    (split / "annotations.json").write_text(text if isinstance(text, str) else json.dumps(data))
    return split


def _import(mutate: Callable[[dict], str | None], **kwargs) -> Callable[[Context], object]:
    def run(ctx: Context):
        from labelkit.io import load_coco

        return load_coco(coco_split(ctx, mutate), **kwargs)

    return run


def _set(section: str, index: int, **values) -> Callable[[dict], None]:
    return lambda d: d[section][index].update(values)


def _drop(section: str, index: int, key: str) -> Callable[[dict], None]:
    return lambda d: d[section][index].pop(key)


def _drop_top(key: str) -> Callable[[dict], None]:
    return lambda d: d.pop(key)


def _import_dotdot(ctx: Context):
    """``../img0.jpg`` - and the file is really there, one folder up: refused anyway."""
    from labelkit.io import load_coco

    split = coco_split(ctx, _set("images", 0, file_name="../img0.jpg"))
    shutil.copy(ctx.images[0], split / "img0.jpg")
    return load_coco(split)


def _import_absolute(ctx: Context):
    from labelkit.io import load_coco

    return load_coco(coco_split(ctx, _set("images", 0, file_name=str(ctx.images[0]))))


def _import_symlink_out(ctx: Context):
    from labelkit.io import load_coco

    split = coco_split(ctx, _set("images", 0, file_name="link.jpg"))
    os.symlink(ctx.images[0], split / "images" / "link.jpg")  # points at the context's folder
    return load_coco(split)


def _import_over_existing(ctx: Context):
    from labelkit.io import load_coco

    return load_coco(coco_split(ctx), name=ctx.ds.name, overwrite=False)


def _wrong_rle(d: dict) -> None:
    d["annotations"][0]["segmentation"] = {"size": [100, 100], "counts": [10000]}


# ------------------------------------------------------------ video JSON


def _read_video_json(text: str) -> Callable[[Context], object]:
    def run(ctx: Context):
        from labelkit.io import read_video_annotations

        path = ctx.tmp / "video_annotations.json"
        path.write_text(text)
        return read_video_annotations(path)

    return run


_VIDEO_OK = {
    "videos": [{"id": 1, "file_name": "clip.mp4", "width": 320, "height": 240}],
    "categories": [{"id": 1, "name": "ball"}],
    "annotations": [{"id": 1, "video_id": 1, "track_id": 1, "frame_number": 1, "category_id": 1,
                     "segmentation": {"size": [240, 320], "counts": [76800]}}],
}


def _video(**change) -> str:
    data = json.loads(json.dumps(_VIDEO_OK))
    for key, value in change.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return json.dumps(data)


# ----------------------------------------------------------------- exports


def _export(samples: Callable[[Context], object], out: Callable[[Context], Path], **kwargs):
    def run(ctx: Context):
        import labelkit as lk

        return lk.export_labels(samples(ctx), out(ctx), **kwargs)

    return run


def _a_file(ctx: Context) -> Path:
    path = ctx.tmp / "labels.zip"
    path.write_bytes(b"PK")
    return path


# ---------------------------------------------------------- checkpoints


def _save_checkpoint(path: Callable[[Context], object], **kwargs) -> Callable[[Context], object]:
    def run(ctx: Context):
        import torch

        from labelkit.models import save_checkpoint

        return save_checkpoint(torch.nn.Linear(2, 2), path(ctx), classes=["ball"], arch="compact", **kwargs)

    return run


def _finetune_into_missing_folder(ctx: Context):
    import labelkit as lk

    return lk.finetune(lk.models.sample(), ctx.ds, epochs=1, out=ctx.tmp / "runs" / "ft.pt", progress=False)


CASES = [
    # COCO: the file itself
    Case("coco-json-syntax", "COCO annotations.json with a syntax error (a trailing comma)",
         _import(lambda d: '{"images": [\n  {"id": 1, "file_name": "img0.jpg",},\n]}'),
         ImportFormatError, ("annotations.json", "line 2, column 37")),
    Case("coco-not-an-object", "COCO annotations.json whose top level is a list, not an object",
         _import(lambda d: json.dumps(d["images"])), ImportFormatError, ("top level is a JSON list",)),
    Case("coco-no-images", "COCO file without an 'images' list", _import(_drop_top("images")),
         ImportFormatError, ("no 'images' list",)),
    Case("coco-no-annotations", "COCO file without an 'annotations' list", _import(_drop_top("annotations")),
         ImportFormatError, ("no 'annotations' list", '"annotations": []')),
    Case("coco-no-categories", "COCO file without a 'categories' list (classes would be numbers)",
         _import(_drop_top("categories")), ImportFormatError, ("no 'categories' list",)),
    # COCO: entries
    Case("coco-undefined-category", "COCO annotation whose category_id is not in 'categories'",
         _import(_set("annotations", 0, category_id=7)), ImportFormatError,
         ("annotation 1 has category_id 7", "1 (ball), 2 (mug)")),
    Case("coco-no-category-id", "COCO annotation without a category_id",
         _import(_drop("annotations", 2, "category_id")), ImportFormatError, ("annotation 3 has no category_id",)),
    Case("coco-unknown-image-id", "COCO annotation whose image_id is not in 'images'",
         _import(_set("annotations", 1, image_id=42)), ImportFormatError,
         ("annotation 2 has image_id 42", "Valid image ids: 1, 2, 3")),
    Case("coco-image-without-size", "COCO image entry without its width",
         _import(_drop("images", 1, "width")), ImportFormatError, ("image 2 has no 'width'",)),
    Case("coco-duplicate-image-id", "two COCO image entries with the same id",
         _import(_set("images", 1, id=1)), ImportFormatError, ("image id 1 is used twice",)),
    Case("coco-missing-image-file", "COCO file_name of an image that is not in images/",
         _import(_set("images", 1, file_name="gone.jpg")), ImportFormatError, ("'gone.jpg' (image 2)",)),
    Case("coco-box-outside", "COCO box wholly outside its image",
         _import(_set("annotations", 0, bbox=[400, 300, 10, 10])), ImportFormatError,
         ("annotation 1 has bbox [400, 300, 10, 10], wholly outside", "(320x240)")),
    Case("coco-nan-bbox", "COCO box with NaN in it",
         _import(_set("annotations", 3, bbox=[float("nan"), 10, 20, 20])), ImportFormatError,
         ("annotation 4 has bbox [nan, 10, 20, 20] with a NaN",)),
    Case("coco-empty-bbox", "COCO box of width 0",
         _import(_set("annotations", 1, bbox=[10, 10, 0, 20])), ImportFormatError,
         ("annotation 2 has bbox [10, 10, 0, 20]", "> 0")),
    Case("coco-relative-bbox", "COCO boxes in relative 0-1 coordinates instead of pixels",
         _import(lambda d: [a.update(bbox=[0.1, 0.2, 0.3, 0.4]) for a in d["annotations"]] and None),
         ImportFormatError, ("all 6 boxes fit within 1x1 pixel", "bbox [0.1, 0.2, 0.3, 0.4]", "absolute pixels")),
    Case("coco-rle-wrong-size", "COCO RLE mask of another size than its image",
         _import(_wrong_rle), ImportFormatError, ("annotation 1", "size [100, 100]", "320x240")),
    Case("coco-bad-polygon", "COCO polygon with an odd number of coordinates",
         _import(_set("annotations", 0, segmentation=[[1, 2, 3, 4, 5, 6, 7]])), ImportFormatError,
         ("annotation 1", "polygon of 7 values")),
    Case("coco-dataset-exists", "COCO import over an existing dataset name with overwrite=False",
         _import_over_existing, LabelkitError, ("already exists", "overwrite=True")),
    # COCO: paths
    Case("path-coco-dotdot", "COCO file_name '../img0.jpg' pointing out of images/",
         _import_dotdot, UnsafePathError, ("'../img0.jpg'", "climbs out")),
    Case("path-coco-absolute", "COCO file_name that is an absolute path",
         _import_absolute, UnsafePathError, ("img0.jpg", "is an absolute path")),
    Case("path-coco-symlink-out", "COCO image that is a symlink to a file outside images/",
         _import_symlink_out, UnsafePathError, ("'link.jpg'", "symlink", "pointing outside")),
    # labelkit's video JSON
    Case("coco-video-json-syntax", "video annotation file that is not valid JSON (truncated download)",
         _read_video_json(_video()[:60]), ImportFormatError, ("video_annotations.json", "line 1, column")),
    Case("coco-video-no-categories", "video annotation file without 'categories'",
         _read_video_json(_video(categories=None)), ImportFormatError, ("no 'categories' list",)),
    Case("coco-video-annotation-no-frame", "video annotation without a frame_number",
         _read_video_json(_video(annotations=[{"id": 5, "track_id": 1, "category_id": 1,
                                               "segmentation": {"size": [240, 320], "counts": [76800]}}])),
         ImportFormatError, ("annotation 5 has no 'frame_number'",)),
    # exports
    Case("export-empty-view", "export of a view that matches no sample",
         _export(lambda c: c.ds.limit(0), lambda c: c.tmp / "out"), LabelkitError,
         ("no samples to export in view of dataset 'lk-test-", "Limit(limit=0)", "'ground_truth'")),
    Case("export-view-missing-field", "export of a field a view does not have",
         _export(lambda c: c.ds.limit(2), lambda c: c.tmp / "out", labels="gt"), SchemaError,
         ("view of dataset 'lk-test-", "no field 'gt'")),
    Case("export-into-a-file", "export into a path that is an existing file",
         _export(lambda c: c.ds, _a_file), OutputPathError, ("labels.zip", "is an existing file")),
    Case("export-under-a-file", "export into a folder below an existing file",
         _export(lambda c: c.ds, lambda c: _a_file(c) / "coco"), OutputPathError, ("labels.zip", "which is a file")),
    Case("export-into-images-folder", "export into the folder that holds the dataset's images",
         _export(lambda c: c.ds, lambda c: c.images[0].parent), OutputPathError,
         ("is the folder holding the media", "outside")),
    Case("export-overwrites-media", "YOLO export whose images/ subfolder is the dataset's own images folder",
         _export(lambda c: c.ds, lambda c: c.images[0].parent.parent, format="yolo"), OutputPathError,
         ("would copy the media", "overwriting it")),
    # checkpoints
    Case("path-checkpoint-missing-folder", "checkpoint saved into a folder that does not exist (a typo)",
         _save_checkpoint(lambda c: c.tmp / "chekpoints" / "m.pt"), OutputPathError,
         ("chekpoints", "does not exist", "mkdir -p")),
    Case("path-checkpoint-is-a-folder", "checkpoint path that is an existing folder",
         _save_checkpoint(lambda c: c.tmp), OutputPathError, ("is an existing folder", "model.pt")),
    Case("path-checkpoint-escapes-root", "checkpoint name '../m.pt' under a checkpoint folder (root=...)",
         _save_checkpoint(lambda c: "../m.pt", root=Path("/tmp")), UnsafePathError, ("'../m.pt'", "climbs out")),
    Case("path-finetune-out-missing-folder", "fine-tune with out= in a folder that does not exist",
         _finetune_into_missing_folder, OutputPathError, ("runs", "does not exist")),
]
