"""COCO import validation, safe paths and export checks that are not plain refusals.

The refusals themselves are corpus cases (``tests/bad_input/cases_import.py``);
here: what is accepted (clipped boxes, the shipped splits, symlinks inside the
folder), what is cleaned up (a half-made import), and that refusals write no file.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from bad_input import Context
from bad_input.cases_import import coco_split
from conftest import write_image

import labelkit as lk
from labelkit.errors import ImportFormatError, LabelkitError, OutputPathError, UnsafePathError
from labelkit.io import load_coco, read_video_annotations
from labelkit.io.coco import validate_coco
from labelkit.io.paths import check_output_path, safe_child

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


@pytest.fixture
def images(tmp_path) -> list[Path]:
    folder = tmp_path / "src"
    folder.mkdir()
    out = []
    for i in range(3):
        img = np.full((240, 320, 3), 50 + 50 * i, np.uint8)
        out.append(write_image(folder / f"img{i}.jpg", img, quality=95))
    return out


def _ctx(tmp_path, images) -> Context:
    scratch = tmp_path / "case"
    scratch.mkdir(exist_ok=True)
    return Context(ds=None, tmp=scratch, images=images)


def _delete(name):
    import fiftyone as fo

    if fo.dataset_exists(name):
        fo.delete_dataset(name)


# ------------------------------------------------------------------ COCO import


@pytest.mark.parametrize(
    "split, n_images, n_labels",
    [("known-train", 400, 1602), ("known-val", 60, 233), ("shifted-background", 60, 241),
     ("shifted-newclass", 60, 248)],
)
def test_shipped_splits_import_every_annotation_without_warnings(fo, split, n_images, n_labels, dataset_name):
    coco = json.loads((SAMPLE / split / "annotations.json").read_text())
    assert (len(coco["images"]), len(coco["annotations"])) == (n_images, n_labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ds = load_coco(SAMPLE / split, name=dataset_name)
    assert len(ds) == n_images
    assert ds.count("ground_truth.detections") == n_labels
    assert ds.count("ground_truth.detections.mask") == n_labels


def test_box_partly_outside_is_clipped_with_a_warning(fo, tmp_path, images, dataset_name):
    def grow(d):  # annotation 1 of image 1 runs 30 px off the left and 20 px off the top
        d["annotations"][0].update(bbox=[-30, -20, 110, 100],
                                   segmentation=[[-30, -20, 80, -20, 80, 80, -30, 80]])

    split = coco_split(_ctx(tmp_path, images), grow)
    before = (split / "annotations.json").read_bytes()
    with pytest.warns(UserWarning, match=r"1 box\(es\) extended past their image and were clipped") as rec:
        ds = load_coco(split, name=dataset_name)
    assert "annotation 1: bbox [-30, -20, 110, 100] -> [0.0, 0.0, 80.0, 80.0]" in str(rec[0].message)
    assert (split / "annotations.json").read_bytes() == before, "the user's file is left alone"
    sample = ds.match(fo.ViewField("filepath").ends_with("img0.jpg")).first()
    det = next(d for d in sample.ground_truth.detections if d.label == "ball")
    assert det.bounding_box == pytest.approx([0.0, 0.0, 80 / 320, 80 / 240])
    assert det.mask.shape == (80, 80) and det.mask.all()
    assert ds.count("ground_truth.detections") == 6


def test_box_touching_the_border_is_not_reported(fo, tmp_path, images, dataset_name):
    split = coco_split(_ctx(tmp_path, images), lambda d: d["annotations"][0].update(bbox=[240, 140, 80, 100]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ds = load_coco(split, name=dataset_name)
    assert ds.count("ground_truth.detections") == 6


def test_validate_coco_returns_no_notes_for_a_clean_file(tmp_path, images):
    split = coco_split(_ctx(tmp_path, images))
    data = json.loads((split / "annotations.json").read_text())
    checked, notes = validate_coco(data, split / "images")
    assert notes == [] and checked is data


def test_refused_import_creates_no_dataset(fo, tmp_path, images):
    split = coco_split(_ctx(tmp_path, images), lambda d: d["annotations"][0].update(category_id=9))
    before = set(fo.list_datasets())
    with pytest.raises(ImportFormatError, match="category_id 9"):
        load_coco(split, name="lk-test-refused")
    assert set(fo.list_datasets()) == before


def test_importer_failure_leaves_no_half_made_dataset(fo, tmp_path, images):
    """A corrupt compressed RLE passes the cheap checks and fails inside FiftyOne."""
    def corrupt(d):
        d["annotations"][4]["segmentation"] = {"size": [240, 320], "counts": "!!!garbage"}

    split = coco_split(_ctx(tmp_path, images), corrupt)
    with pytest.raises(ImportFormatError, match="no dataset 'lk-test-half' was left behind"):
        load_coco(split, name="lk-test-half")
    assert not fo.dataset_exists("lk-test-half")


def test_symlink_inside_the_images_folder_is_accepted(fo, tmp_path, images, dataset_name):
    def link(d):
        d["images"][0]["file_name"] = "alias.jpg"

    split = coco_split(_ctx(tmp_path, images), link)
    os.symlink(split / "images" / "img0.jpg", split / "images" / "alias.jpg")
    ds = load_coco(split, name=dataset_name)
    assert len(ds) == 3


def test_symlink_out_is_accepted_with_allow_symlinks(fo, tmp_path, images, dataset_name):
    split = coco_split(_ctx(tmp_path, images), lambda d: d["images"][0].update(file_name="link.jpg"))
    os.symlink(images[0], split / "images" / "link.jpg")
    with pytest.raises(UnsafePathError):
        load_coco(split, name=dataset_name)
    ds = load_coco(split, name=dataset_name, allow_symlinks=True)
    assert len(ds) == 3


def test_images_in_subfolders_are_accepted(fo, tmp_path, images, dataset_name):
    split = coco_split(_ctx(tmp_path, images), lambda d: d["images"][0].update(file_name="sub/a.jpg"))
    (split / "images" / "sub").mkdir()
    shutil.copy(images[0], split / "images" / "sub" / "a.jpg")
    ds = load_coco(split, name=dataset_name)
    assert ds.count("ground_truth.detections") == 6


def test_errors_list_the_first_few_problems_and_count_all(tmp_path, images):
    def all_bad(d):
        for a in d["annotations"]:
            a["category_id"] = 40 + a["id"]

    split = coco_split(_ctx(tmp_path, images), all_bad)
    with pytest.raises(ImportFormatError) as info:
        load_coco(split)
    msg = str(info.value)
    assert msg.count("has category_id") == 5 and "... and 1 more" in msg and "6 annotation(s)" in msg


def test_an_unlabeled_split_with_empty_lists_imports(fo, tmp_path, images, dataset_name):
    def unlabeled(d):
        d["annotations"] = []

    ds = load_coco(coco_split(_ctx(tmp_path, images), unlabeled), name=dataset_name)
    assert len(ds) == 3 and ds.count("ground_truth.detections") == 0


# ------------------------------------------------------------------ video JSON


def test_shipped_video_annotations_pass_the_checks():
    data = read_video_annotations(SAMPLE / "video" / "annotations.json")
    assert len(data["annotations"]) == 180


def test_video_annotation_with_unknown_category_is_refused(tmp_path):
    data = json.loads((SAMPLE / "video" / "annotations.json").read_text())
    data["annotations"][3]["category_id"] = 77
    path = tmp_path / "v.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ImportFormatError, match=r"annotation 4 has category_id 77 \(valid: 1 \(ball\)"):
        read_video_annotations(path)


# ------------------------------------------------------------------ paths


@pytest.mark.parametrize("name", ["a.jpg", "sub/b.jpg", "./c.jpg", "x..y.jpg"])
def test_safe_child_accepts_names_inside(tmp_path, name):
    assert safe_child(tmp_path, name) == tmp_path / name


@pytest.mark.parametrize("name", ["../a.jpg", "sub/../../a.jpg", "/etc/passwd", "..\\a.jpg", "C:\\a.jpg", "", " "])
def test_safe_child_refuses_names_that_leave(tmp_path, name):
    with pytest.raises(UnsafePathError):
        safe_child(tmp_path, name)


def test_safe_child_follows_a_root_that_is_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.jpg").write_bytes(b"x")
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert safe_child(tmp_path / "link", "a.jpg") == tmp_path / "link" / "a.jpg"


def test_symlinked_folder_pointing_outside_is_refused(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "root" / "sub")
    with pytest.raises(UnsafePathError, match="pointing outside"):
        safe_child(tmp_path / "root", "sub/a.jpg")


def test_check_output_path_creates_nothing(tmp_path):
    out = check_output_path(tmp_path / "new" / "deeper", what="export folder", kind="dir")
    assert out == tmp_path / "new" / "deeper" and not (tmp_path / "new").exists()
    assert check_output_path(tmp_path / "m.pt", what="checkpoint") == tmp_path / "m.pt"
    assert not (tmp_path / "m.pt").exists()


def test_checkpoint_under_root_is_saved_and_loads(tmp_path):
    model = lk.models.sample()
    (tmp_path / "ckpts").mkdir()
    path = lk.models.save_checkpoint(model, "m.pt", root=tmp_path / "ckpts", half=True)
    assert path == tmp_path / "ckpts" / "m.pt" and path.is_file()
    assert lk.models.load(path).classes == model.classes


def test_refused_checkpoint_writes_no_file(tmp_path):
    import torch

    with pytest.raises(OutputPathError):
        lk.models.save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "typo" / "m.pt", classes=["a"], arch="compact")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ exports


@pytest.fixture
def reviewed(fo, coins_dir, dataset_name):
    ds = lk.load_images(coins_dir, name=dataset_name)
    ds.add_sample_field("ground_truth", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    ds.set_values("review_status", ["done"] * len(ds))
    return ds


def test_export_of_an_empty_view_writes_no_folder(reviewed, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(LabelkitError, match=f"no samples to export in view of dataset '{reviewed.name}'"):
        lk.export_labels(reviewed.limit(0), out)
    assert not out.exists()


def test_export_of_a_view_names_it_in_the_summary(reviewed, tmp_path):
    msg = lk.export_labels(reviewed.limit(2), tmp_path / "out")
    assert f"2 sample(s) of view of dataset '{reviewed.name}'" in msg
    assert (tmp_path / "out" / "labels.json").is_file()


def test_export_next_to_the_images_is_fine(reviewed, coins_dir):
    """The images' parent folder is neither the media folder nor overwritten by data/."""
    out = coins_dir.parent / "export"
    lk.export_labels(reviewed, out)
    assert (out / "labels.json").is_file() and len(list((out / "data").iterdir())) == len(reviewed)


def test_export_into_a_subfolder_of_the_images_is_fine(reviewed, coins_dir):
    lk.export_labels(reviewed, coins_dir / "export")
    assert (coins_dir / "export" / "labels.json").is_file()


@pytest.fixture
def video_ds(fo, dataset_name):
    import labelkit.video as lkv

    ds = lkv.load_sample_video(name=dataset_name)
    yield ds
    _delete(dataset_name)


def test_video_export_of_an_empty_view_writes_nothing(video_ds, tmp_path):
    from bad_input import dump

    import labelkit.video as lkv

    before = dump()
    with pytest.raises(LabelkitError, match=f"no samples to export in view of dataset '{video_ds.name}'"):
        lkv.export_video_labels(video_ds.limit(0), tmp_path / "out", field="frames.ground_truth")
    assert not (tmp_path / "out").exists()
    assert dump() == before


def test_video_export_with_overwrite_over_the_video_folder_is_refused(fo, tmp_path, dataset_name):
    """overwrite=True deletes the export folder first: never a folder holding the videos."""
    import labelkit.video as lkv

    (tmp_path / "clips").mkdir()
    video = shutil.copy(SAMPLE / "video" / "sample.mp4", tmp_path / "clips" / "sample.mp4")
    ds = lkv.load_video(video, SAMPLE / "video" / "annotations.json", name=dataset_name)
    try:
        with pytest.raises(OutputPathError, match="would delete it first"):
            lkv.export_video_labels(ds, tmp_path, field="frames.ground_truth", export_media=False,
                                    overwrite=True)
        assert Path(video).is_file()
    finally:
        _delete(dataset_name)
