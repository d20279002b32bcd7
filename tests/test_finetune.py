"""lk.finetune: training a Mask R-CNN proposer on labels, checkpoints, class heads, errors;
labelkit.io.coco: COCO import and pycocotools mask AP.

Everything runs on tiny 64x64 images and a tiny random compact Mask R-CNN, on CPU.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import labelkit as lk  # noqa: E402
from labelkit.errors import LabelkitError, ModelError  # noqa: E402
from labelkit.geometry import masks as M  # noqa: E402

TINY = dict(
    widths=[8, 8, 16, 16, 16],
    blocks=[1, 1, 1, 1],
    fpn_channels=16,
    representation_size=32,
    mask_channels=8,
    mask_layers=1,
    anchor_sizes=[8, 16, 32, 64, 128],
    min_size=64,
    max_size=64,
)
SIZE = 64


def _scene(i: int) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """A 64x64 image with one bright square and one disc at seeded places."""
    rng = np.random.default_rng(i)
    img = np.full((SIZE, SIZE, 3), 30, np.uint8)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    x0, y0 = rng.integers(2, 22, size=2)
    sq = (xx >= x0) & (xx < x0 + 16) & (yy >= y0) & (yy < y0 + 16)
    cx, cy = rng.integers(40, 54, size=2)
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= 7**2
    img[sq] = (230, 60, 60)
    img[disc] = (60, 200, 90)
    return img, [("square", sq), ("disc", disc)]


def _detections(objs, fo):
    dets = []
    for label, m in objs:
        box, crop = M.full_to_crop(m)
        dets.append(fo.Detection(label=label, bounding_box=box, mask=crop))
    return fo.Detections(detections=dets)


@pytest.fixture
def tiny_ds(tmp_path, fo, dataset_name):
    """Six 64x64 images with ground truth (square, disc) in 'ground_truth'."""
    from PIL import Image

    samples = []
    for i in range(6):
        img, objs = _scene(i)
        path = tmp_path / f"img{i}.png"
        Image.fromarray(img).save(path)
        samples.append(fo.Sample(filepath=str(path), ground_truth=_detections(objs, fo)))
    ds = fo.Dataset(dataset_name)
    ds.add_samples(samples)
    return ds


def _tiny_model(tmp_path, classes, seed=0):
    from labelkit.models.compact import build_compact_maskrcnn

    torch.manual_seed(seed)
    module = build_compact_maskrcnn(len(classes) + 1, **TINY)
    path = lk.models.save_checkpoint(module, tmp_path / "tiny.pt", classes=classes, arch="compact",
                                     arch_kwargs=TINY)
    return lk.models.load(path, device="cpu")


@pytest.fixture
def tiny_model(tmp_path):
    """A random tiny compact Mask R-CNN that knows 'square' only."""
    return _tiny_model(tmp_path, ["square"])


def _images(ds):
    return [lk.read_image(p) for p in ds.values("filepath")]


def test_finetune_returns_proposer_whose_predict_works(tiny_model, tiny_ds, tmp_path):
    better = lk.finetune(tiny_model, tiny_ds, epochs=1, max_iters=2, out=tmp_path / "ft.pt", progress=False)
    out = better.predict(_images(tiny_ds)[:2])
    assert len(out) == 2
    assert better.checkpoint_path == tmp_path / "ft.pt"
    assert better.checkpoint_path.is_file()
    assert [h["epoch"] for h in better.history] == [1]
    assert {"train_loss", "val_map50", "val_ap", "loss_mask"} <= set(better.history[0])


@pytest.mark.parametrize("loader", ["load", "maskrcnn"])
def test_checkpoint_reloads_with_identical_outputs(tiny_model, tiny_ds, tmp_path, loader):
    better = lk.finetune(tiny_model, tiny_ds, epochs=1, max_iters=2, out=tmp_path / "ft.pt", progress=False)
    if loader == "load":
        again = lk.models.load(better.checkpoint_path, device="cpu")
    else:
        again = lk.models.maskrcnn(weights=str(better.checkpoint_path), device="cpu")
    assert again.classes == better.classes == ["square", "disc"]
    images = _images(tiny_ds)[:2]
    with torch.inference_mode():
        a = better.predict_raw(images, min_confidence=0.0)
        b = again.predict_raw(images, min_confidence=0.0)
    assert sum(len(r["boxes"]) for r in a) > 0  # a random model still proposes at threshold 0
    for ra, rb in zip(a, b, strict=True):
        for key in ("boxes", "labels", "scores", "masks"):
            assert torch.equal(ra[key], rb[key]), key


def test_new_class_grows_heads_and_keeps_known_rows(tiny_model, tiny_ds, tmp_path):
    before = {k: v.clone() for k, v in tiny_model.module.roi_heads.state_dict().items()}
    # lr=0: training changes nothing, so the checkpoint shows the heads as grown
    better = lk.finetune(tiny_model, tiny_ds, epochs=1, max_iters=1, lr=0.0, out=tmp_path / "ft.pt",
                         progress=False)
    ckpt = torch.load(better.checkpoint_path, weights_only=True)
    assert ckpt["classes"] == ["square", "disc"]
    after = {k[len("roi_heads."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("roi_heads.")}
    assert after["box_predictor.cls_score.weight"].shape[0] == 3
    assert after["mask_predictor.mask_fcn_logits.weight"].shape[0] == 3
    assert after["box_predictor.bbox_pred.weight"].shape[0] == 12
    for name in ("box_predictor.cls_score", "mask_predictor.mask_fcn_logits"):
        for p in ("weight", "bias"):
            assert torch.equal(after[f"{name}.{p}"][:2], before[f"{name}.{p}"][:2]), name
    for p in ("weight", "bias"):
        assert torch.equal(after[f"box_predictor.bbox_pred.{p}"][:8], before[f"box_predictor.bbox_pred.{p}"][:8])
    assert torch.equal(after["mask_predictor.conv5_mask.weight"], before["mask_predictor.conv5_mask.weight"])
    # the original proposer is untouched
    assert tiny_model.module.roi_heads.box_predictor.cls_score.out_features == 2
    assert tiny_model.classes == ["square"]


def test_grow_heads_maps_rows_by_name():
    from labelkit.finetune.train import grow_heads
    from labelkit.models.compact import build_compact_maskrcnn

    module = build_compact_maskrcnn(4, **TINY)
    old = module.roi_heads.box_predictor.cls_score.weight.detach().clone()
    rows = grow_heads(module, [None, "a", "b", "c"], [None, "c", "new", "a"])
    assert rows == {0: 0, 1: 3, 3: 1}
    new = module.roi_heads.box_predictor.cls_score.weight
    assert torch.equal(new[1], old[3]) and torch.equal(new[3], old[1]) and torch.equal(new[0], old[0])
    assert not torch.equal(new[2], old[2])


def test_training_reduces_training_loss_on_a_tiny_set(tmp_path, tiny_ds):
    model = _tiny_model(tmp_path, ["square", "disc"], seed=1)
    better = lk.finetune(model, tiny_ds.limit(4), epochs=8, batch_size=2, lr=3e-3, val_fraction=0,
                         augment=False, patience=100, out=tmp_path / "ft.pt", progress=False)
    losses = [h["train_loss"] for h in better.history]
    assert len(losses) == 8
    assert min(losses[-3:]) < 0.7 * losses[0], losses


def test_early_stopping_stops_when_the_metric_cannot_improve(tiny_model, tiny_ds, tmp_path):
    better = lk.finetune(tiny_model, tiny_ds, epochs=6, lr=0.0, patience=1, out=tmp_path / "ft.pt",
                         progress=False)
    assert [h["best"] for h in better.history] == [True, False]
    ckpt = torch.load(better.checkpoint_path, weights_only=True)
    assert ckpt["meta"]["finetune"]["stopped_early"] is True
    assert ckpt["meta"]["finetune"]["best_epoch"] == 1


def test_validation_split_is_by_sample_and_seeded(tiny_model, tiny_ds, tmp_path):
    def val_ids(seed):
        r = lk.finetune(tiny_model, tiny_ds, epochs=1, max_iters=1, lr=0.0, val_fraction=0.34, seed=seed,
                        metric="loss", out=tmp_path / f"s{seed}.pt", progress=False)
        info = torch.load(r.checkpoint_path, weights_only=True)["meta"]["finetune"]
        assert (info["n_train"], info["n_val"]) == (4, 2)
        assert "val_loss" in r.history[0]
        return info["val_ids"]

    first = val_ids(0)
    assert val_ids(0) == first
    assert set(first) <= set(tiny_ds.values("id"))


@pytest.mark.parametrize("case", ["no_field", "empty_field", "reviewed_none_done"])
def test_no_labelled_samples_is_a_clear_error(tiny_model, tiny_ds, case):
    if case == "no_field":
        tiny_ds.delete_sample_field("ground_truth")
    elif case == "empty_field":
        tiny_ds.set_values("ground_truth", [None] * len(tiny_ds))
    else:  # labels with review provenance, but nothing submitted
        tiny_ds.set_values("ground_truth.detections.source", [["proposal"] * 2] * len(tiny_ds))
        tiny_ds.set_values("review_status", ["skipped"] * len(tiny_ds))
    with pytest.raises((LabelkitError, lk.errors.SchemaError), match="review|labels|field"):
        lk.finetune(tiny_model, tiny_ds, progress=False)
    if case != "no_field":
        with pytest.raises(LabelkitError, match="review and submit some samples first"):
            lk.finetune(tiny_model, tiny_ds, progress=False)


def test_review_mode_trains_on_done_samples_only(tiny_model, tiny_ds, tmp_path):
    n = len(tiny_ds)
    tiny_ds.set_values("ground_truth.detections.source", [["proposal", "human"]] * n)
    tiny_ds.set_values("review_status", ["done", "done", "done", "skipped", None, None])
    r = lk.finetune(tiny_model, tiny_ds, epochs=1, max_iters=1, lr=0.0, metric="loss",
                    out=tmp_path / "ft.pt", progress=False)
    info = torch.load(r.checkpoint_path, weights_only=True)["meta"]["finetune"]
    assert info["mode"] == "review"
    assert info["n_train"] + info["n_val"] == 3


def test_unsupported_models_are_refused_naming_what_works(tiny_ds):
    cb = lk.models.from_callable(lambda ims: [{"boxes": [], "labels": []} for _ in ims], classes=["x"])
    with pytest.raises(ModelError, match="Mask R-CNN.*compact"):
        lk.finetune(cb, tiny_ds, progress=False)
    from labelkit.models.compact import build_compact_maskrcnn

    bare = lk.models.from_torchvision(build_compact_maskrcnn(2, **TINY), classes=["square"], device="cpu")
    with pytest.raises(ModelError, match="architecture"):
        lk.finetune(bare, tiny_ds, progress=False)


def test_finetunes_coco_maskrcnn_architecture(tiny_ds, tmp_path):
    coco = lk.models.maskrcnn(weights=None, device="cpu", min_size=64, max_size=64)
    r = lk.finetune(coco, tiny_ds, epochs=1, max_iters=1, val_fraction=0, freeze_backbone=True,
                    out=tmp_path / "coco.pt", progress=False)
    assert "square" in r.classes and "disc" in r.classes and "person" in r.classes
    assert r.module.roi_heads.box_predictor.cls_score.out_features == 91 + 2
    again = lk.models.load(r.checkpoint_path, device="cpu")
    assert again.classes == r.classes


# ----------------------------------------------------------------------- coco_io


def test_coco_mask_ap_is_one_for_perfect_and_zero_for_no_predictions(tiny_ds):
    from labelkit.io.coco import coco_mask_ap

    perfect = [d.copy() for d in tiny_ds.values("ground_truth")]
    for dets in perfect:
        for d in dets.detections:
            d.confidence = 0.9
    tiny_ds.set_values("predictions", perfect)
    res = coco_mask_ap(tiny_ds, "predictions")
    assert res["ap50"] == pytest.approx(1.0) and res["ap"] == pytest.approx(1.0)
    assert res["n_gt"] == res["n_pred"] == 12
    tiny_ds.set_values("predictions", [None] * len(tiny_ds))
    assert coco_mask_ap(tiny_ds, "predictions")["ap50"] == 0.0


def test_load_coco_imports_masks_that_match_the_annotations(tmp_path):
    from PIL import Image

    from labelkit.io.coco import load_coco

    (tmp_path / "images").mkdir()
    img, objs = _scene(3)
    Image.fromarray(img).save(tmp_path / "images" / "a.png")
    anns = []
    for k, (_label, m) in enumerate(objs):
        x0, y0, x1, y1 = M.mask_bbox(m)
        anns.append(dict(id=k + 1, image_id=1, category_id=k + 1, segmentation=M.mask_to_rle(m),
                         area=int(m.sum()), bbox=[x0, y0, x1 - x0, y1 - y0], iscrowd=0))
    coco = dict(images=[dict(id=1, file_name="a.png", width=SIZE, height=SIZE)], annotations=anns,
                categories=[dict(id=1, name="square"), dict(id=2, name="disc")])
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    ds = load_coco(tmp_path, name=f"coco-test-{tmp_path.name}")
    try:
        dets = ds.first().ground_truth.detections
        assert sorted(d.label for d in dets) == ["disc", "square"]
        for d in dets:
            want = dict(objs)[d.label]
            assert np.array_equal(M.detection_mask(d, SIZE, SIZE), want)
    finally:
        ds.delete()


def test_load_coco_names_what_is_missing(tmp_path):
    from labelkit.io.coco import load_coco

    with pytest.raises(LabelkitError, match="annotations.json"):
        load_coco(tmp_path)
