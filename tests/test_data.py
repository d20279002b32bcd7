"""load_images: good files imported with metadata, every bad kind reported, re-runs add only new."""

from __future__ import annotations

import numpy as np
import pytest
from badfiles import make_bad_folder
from PIL import Image

import labelkit as lk
from labelkit.errors import LabelkitError


def test_folder_with_good_and_bad_files_imports_good_and_reports_each_bad(tmp_path, rng, dataset_name, caplog):
    expect = make_bad_folder(tmp_path / "mix", rng)
    with caplog.at_level("WARNING", logger="labelkit"):
        ds, summary = lk.load_images(tmp_path / "mix", name=dataset_name, return_summary=True)
    imported = {p.split("/")[-1] for p in ds.values("filepath")}
    assert imported == {n for n, r in expect.items() if not r}
    reasons = {p.split("/")[-1]: r for p, r in summary.failed}
    for name, fragment in expect.items():
        if fragment:
            assert fragment in reasons[name], (name, reasons.get(name))
    assert set(reasons) == {n for n, r in expect.items() if r}
    for name in reasons:
        assert name in caplog.text
    assert ds.info["labelkit_last_import"]["added"] == 2


def test_metadata_is_filled_with_displayed_size(tmp_path, dataset_name):
    arr = np.zeros((30, 50, 3), np.uint8)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: displayed 30 wide, 50 high
    img.save(tmp_path / "r.jpg", exif=exif)
    ds = lk.load_images(tmp_path, name=dataset_name)
    meta = ds.first().metadata
    assert (meta.width, meta.height, meta.num_channels) == (30, 50, 3)
    assert meta.mime_type == "image/jpeg" and meta.size_bytes > 0


def test_rerun_adds_only_new_files(coins_dir, dataset_name):
    ds = lk.load_images(coins_dir, name=dataset_name)
    assert len(ds) == 3
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(coins_dir / "new.png")
    ds2, summary = lk.load_images(coins_dir, name=dataset_name, return_summary=True)
    assert len(ds2) == 4
    assert [p.split("/")[-1] for p in summary.added] == ["new.png"]
    assert len(summary.already_present) == 3


def test_overwrite_starts_a_fresh_dataset(coins_dir, dataset_name):
    lk.load_images(coins_dir, name=dataset_name)
    ds2 = lk.load_images(sorted(coins_dir.glob("*.jpg")), name=dataset_name, overwrite=True)
    assert len(ds2) == 2


def test_glob_and_list_sources(coins_dir, dataset_name):
    ds = lk.load_images(str(coins_dir / "*.jpg"), name=dataset_name)
    assert sorted(p.split("/")[-1] for p in ds.values("filepath")) == ["astronaut.jpg", "coffee.jpg"]
    ds, summary = lk.load_images(
        [coins_dir / "coins.png", coins_dir / "missing.png"], name=dataset_name, return_summary=True
    )
    assert len(ds) == 3
    assert summary.failed == [(str(coins_dir / "missing.png"), "file does not exist")]


def test_dataset_is_persistent_and_named_after_folder_by_default(coins_dir, fo):
    ds = lk.load_images(coins_dir)
    try:
        assert ds.name == "imgs" and ds.persistent
    finally:
        fo.delete_dataset("imgs")


@pytest.mark.parametrize(
    "source,match",
    [("does/not/exist", "does not exist"), ("nowhere/*.jpg", "no files match"), ([], "empty list")],
)
def test_bad_source_is_a_clear_error(source, match, dataset_name):
    with pytest.raises(LabelkitError, match=match):
        lk.load_images(source, name=dataset_name)


def test_empty_folder_is_a_clear_error(tmp_path, dataset_name):
    (tmp_path / "e").mkdir()
    with pytest.raises(LabelkitError, match="has no files"):
        lk.load_images(tmp_path / "e", name=dataset_name)


def test_failed_import_keeps_existing_samples(coins_dir, tmp_path, dataset_name):
    ds = lk.load_images(coins_dir, name=dataset_name)
    (tmp_path / "bad.jpg").write_bytes(b"")
    ds, summary = lk.load_images([tmp_path / "bad.jpg"], name=dataset_name, return_summary=True)
    assert len(ds) == 3 and len(summary.failed) == 1


def test_export_coco_of_reviewed_labels(coins_dir, tmp_path, dataset_name):
    import json

    from labelkit.geometry.masks import full_to_crop
    from labelkit.store.image import ReviewStore
    from labelkit.store.schema import make_label

    ds = lk.load_images(coins_dir, name=dataset_name)
    store = ReviewStore(ds)
    s = ds.first()
    mask = np.zeros((s.metadata.height, s.metadata.width), bool)
    mask[10:40, 20:60] = True
    box, crop = full_to_crop(mask)
    store.save_review(s.id, {}, [make_label("coin", box, crop, source="human", edits=1)])
    msg = lk.export_labels(dataset_name, tmp_path / "out", format="coco")
    assert "1 sample" in msg
    coco = json.loads((tmp_path / "out" / "labels.json").read_text())
    assert len(coco["images"]) == 1 and len(coco["annotations"]) == 1
    assert coco["annotations"][0]["bbox"] == pytest.approx([20, 10, 40, 30], abs=0.01)


def test_export_with_nothing_reviewed_is_a_clear_error(coins_dir, tmp_path, dataset_name):
    from labelkit.store.image import ReviewStore

    ds = lk.load_images(coins_dir, name=dataset_name)
    ReviewStore(ds)
    with pytest.raises(LabelkitError, match="no sample .* is reviewed"):
        lk.export_labels(ds, tmp_path / "out")
