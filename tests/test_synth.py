"""Synthetic scene generator, COCO split writer and the compact sample model (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labelkit.synth import scenes as synth

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "sample_data" / "models" / "sample_maskrcnn.pt"
SPLITS = ("known-train", "known-val", "shifted-background", "shifted-newclass")


@pytest.fixture(scope="module")
def tiny_newclass_split(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("split") / "shifted-newclass"
    synth.write_split(out, n_images=4, seed=7, variant="shifted-newclass", width=160, height=120)
    return out


# --------------------------------------------------------------------------- scenes


@pytest.mark.parametrize("variant", sorted(synth.VARIANTS))
def test_same_seed_gives_same_image_and_masks(variant):
    a_img, a_objs = synth.render_scene(123, 160, 120, **synth.VARIANTS[variant])
    b_img, b_objs = synth.render_scene(123, 160, 120, **synth.VARIANTS[variant])
    assert np.array_equal(a_img, b_img)
    assert [o["label"] for o in a_objs] == [o["label"] for o in b_objs]
    assert all(np.array_equal(a["mask"], b["mask"]) for a, b in zip(a_objs, b_objs, strict=True))


def test_different_seeds_give_different_images():
    a, _ = synth.render_scene(1, 160, 120)
    b, _ = synth.render_scene(2, 160, 120)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("seed", range(6))
def test_scene_image_and_masks_have_the_image_shape(seed):
    img, objs = synth.render_scene(seed, 200, 150)
    assert img.shape == (150, 200, 3) and img.dtype == np.uint8
    assert objs, "every scene places at least two objects"
    for o in objs:
        assert o["label"] in synth.KNOWN_CLASSES
        assert o["mask"].shape == (150, 200) and o["mask"].dtype == bool
        assert o["mask"].sum() >= 40


@pytest.mark.parametrize("seed", range(6))
def test_visible_masks_of_a_scene_never_overlap(seed):
    _, objs = synth.render_scene(seed, 160, 120, n_objects=(5, 6))
    coverage = np.sum([o["mask"] for o in objs], axis=0)
    assert coverage.max() == 1


def test_occluded_object_keeps_only_its_visible_pixels():
    back = dict(label="book", x=80, y=60, size=70, angle=0, seed=1)
    front = dict(label="ball", x=80, y=60, size=40, angle=0, seed=2)
    _, alone = synth.render_objects("wood", [back], width=160, height=120, seed=0)
    _, both = synth.render_objects("wood", [back, front], width=160, height=120, seed=0)
    book_alone = alone[0]["mask"]
    book, ball = both[0]["mask"], both[1]["mask"]
    assert [o["label"] for o in both] == ["book", "ball"]
    assert not (book & ball).any()
    assert np.array_equal(book | (book_alone & ball), book_alone)
    assert book.sum() < book_alone.sum()


def test_mostly_hidden_object_is_dropped():
    back = dict(label="ball", x=80, y=60, size=30, angle=0, seed=1)
    front = dict(label="book", x=80, y=60, size=100, angle=0, seed=2)
    _, objs = synth.render_objects("tiles", [back, front], width=160, height=120, seed=0)
    assert [o["label"] for o in objs] == ["book"]


def test_render_objects_tracks_object_identity():
    objects = [dict(label="mug", x=50, y=60, size=50, seed=3), dict(label="donut", x=120, y=60, size=50, seed=4)]
    _, objs = synth.render_objects("fabric", objects, width=160, height=120, seed=0)
    assert [(o["object"], o["label"]) for o in objs] == [(0, "mug"), (1, "donut")]


def test_donut_mask_has_a_hole():
    _, objs = synth.render_objects("wood", [dict(label="donut", x=60, y=60, size=80, seed=1)], width=120, height=120)
    mask = objs[0]["mask"]
    assert not mask[60, 60] and mask[60, 60 + 30]


@pytest.mark.parametrize("background", synth.BACKGROUNDS)
def test_every_background_renders_in_range(background):
    bg = synth.render_background(background, 64, 48, seed=0)
    assert bg.shape == (48, 64, 3) and bg.dtype == np.float32
    assert 0.0 <= bg.min() and bg.max() <= 1.0 and bg.std() > 0.01


@pytest.mark.parametrize(
    "kwargs",
    [dict(background="carpet"), dict(lighting="disco"), dict(classes=("cat",))],
)
def test_unknown_names_are_rejected(kwargs):
    with pytest.raises(ValueError):
        synth.render_scene(0, 64, 48, **kwargs)


def test_empty_object_list_renders_background_only():
    img, objs = synth.render_objects("marble", [], width=64, height=48, seed=0)
    assert img.shape == (48, 64, 3) and objs == []


# --------------------------------------------------------------------------- COCO splits


def test_split_annotations_load_with_pycocotools_and_match_generator(tiny_newclass_split):
    from pycocotools import mask as mask_util
    from pycocotools.coco import COCO

    coco = COCO(str(tiny_newclass_split / "annotations.json"))
    assert len(coco.getImgIds()) == 4
    for i in range(4):
        info = coco.loadImgs(i + 1)[0]
        assert info["file_name"] == f"{i:06d}.jpg"
        assert (tiny_newclass_split / "images" / info["file_name"]).is_file()
        _, objs = synth.render_scene(np.random.default_rng([7, i]), 160, 120, **synth.VARIANTS["shifted-newclass"])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=info["id"]))
        assert len(anns) == len(objs)
        for ann, obj in zip(anns, objs, strict=True):
            assert isinstance(ann["segmentation"]["counts"], str)
            assert np.array_equal(coco.annToMask(ann).astype(bool), obj["mask"])
            assert coco.loadCats(ann["category_id"])[0]["name"] == obj["label"]
            assert ann["area"] == obj["mask"].sum() and ann["iscrowd"] == 0
            assert ann["bbox"] == [float(v) for v in mask_util.toBbox(ann["segmentation"])]


def test_newclass_split_contains_the_new_class(tiny_newclass_split):
    coco = json.loads((tiny_newclass_split / "annotations.json").read_text())
    donut = synth.CATEGORY_IDS[synth.NEW_CLASS]
    assert {c["name"] for c in coco["categories"]} == set(synth.ALL_CLASSES)
    per_image = {im["id"]: 0 for im in coco["images"]}
    for a in coco["annotations"]:
        per_image[a["image_id"]] += a["category_id"] == donut
    assert all(n >= 1 for n in per_image.values())


def test_known_split_has_only_known_classes(tmp_path):
    synth.write_split(tmp_path, n_images=2, seed=1, variant="known", width=96, height=72)
    coco = json.loads((tmp_path / "annotations.json").read_text())
    assert [c["name"] for c in coco["categories"]] == list(synth.KNOWN_CLASSES)
    assert {a["category_id"] for a in coco["annotations"]} <= {1, 2, 3}


def test_writing_a_split_twice_gives_identical_files(tmp_path):
    for out in (tmp_path / "a", tmp_path / "b"):
        synth.write_split(out, n_images=2, seed=5, variant="shifted-background", width=96, height=72)
    assert (tmp_path / "a" / "annotations.json").read_bytes() == (tmp_path / "b" / "annotations.json").read_bytes()
    for name in ("000000.jpg", "000001.jpg"):
        assert (tmp_path / "a" / "images" / name).read_bytes() == (tmp_path / "b" / "images" / name).read_bytes()


def test_empty_split_writes_valid_coco(tmp_path):
    synth.write_split(tmp_path, n_images=0, seed=0)
    coco = json.loads((tmp_path / "annotations.json").read_text())
    assert coco["images"] == [] and coco["annotations"] == [] and coco["categories"]


def test_unknown_variant_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="variant"):
        synth.write_split(tmp_path, 1, 0, variant="weird")


@pytest.mark.parametrize("split", SPLITS)
def test_shipped_split_annotations_reference_existing_images(split):
    folder = ROOT / "sample_data" / split
    if not (folder / "annotations.json").exists():
        pytest.skip(f"{folder} not generated")
    coco = json.loads((folder / "annotations.json").read_text())
    assert coco["images"] and coco["annotations"]
    assert all((folder / "images" / im["file_name"]).is_file() for im in coco["images"])


# --------------------------------------------------------------------------- compact model


@pytest.fixture(scope="module")
def compact_model():
    torch = pytest.importorskip("torch")
    from labelkit.models.compact import build_compact_maskrcnn

    torch.manual_seed(0)
    return build_compact_maskrcnn(num_classes=4)


def test_compact_model_eval_forward_on_a_batch(compact_model):
    import torch

    model = compact_model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 240, 320), torch.rand(3, 200, 260)])
    assert len(out) == 2
    for o, (h, w) in zip(out, [(240, 320), (200, 260)], strict=True):
        assert set(o) == {"boxes", "labels", "scores", "masks"}
        n = len(o["boxes"])
        assert o["boxes"].shape == (n, 4) and o["masks"].shape == (n, 1, h, w)


def test_compact_model_train_mode_returns_the_five_losses(compact_model):
    import torch

    model = compact_model.train()
    masks = torch.zeros(2, 240, 320, dtype=torch.uint8)
    masks[0, 20:80, 30:100] = 1
    masks[1, 120:200, 150:260] = 1
    target = dict(boxes=torch.tensor([[30.0, 20, 100, 80], [150, 120, 260, 200]]), labels=torch.tensor([1, 3]), masks=masks)
    losses = model([torch.rand(3, 240, 320)] * 2, [target, target])
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values())


def test_compact_model_rejects_background_only_num_classes():
    pytest.importorskip("torch")
    from labelkit.models.compact import build_compact_maskrcnn

    with pytest.raises(ValueError, match="num_classes"):
        build_compact_maskrcnn(num_classes=1)


def test_load_checkpoint_state_casts_fp16_and_is_strict():
    torch = pytest.importorskip("torch")
    from labelkit.models.compact import build_compact_maskrcnn, load_checkpoint_state

    src = build_compact_maskrcnn(num_classes=3, widths=(8, 8, 16, 16, 16), fpn_channels=16)
    dst = build_compact_maskrcnn(num_classes=3, widths=(8, 8, 16, 16, 16), fpn_channels=16)
    half = {k: v.half() if torch.is_floating_point(v) else v for k, v in src.state_dict().items()}
    load_checkpoint_state(dst, half)
    w = "roi_heads.box_predictor.cls_score.weight"
    assert dst.state_dict()[w].dtype == torch.float32
    assert torch.allclose(dst.state_dict()[w], src.state_dict()[w], atol=1e-3)
    half.pop(w)
    with pytest.raises(RuntimeError):
        load_checkpoint_state(dst, half)


def test_shipped_checkpoint_is_small_and_loads_strictly():
    torch = pytest.importorskip("torch")
    if not CHECKPOINT.exists():
        pytest.skip("sample checkpoint not trained yet")
    from labelkit.models.compact import build_compact_maskrcnn, load_checkpoint_state

    assert CHECKPOINT.stat().st_size <= 25 * 1024 * 1024
    ckpt = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    assert ckpt["format"] == "labelkit.maskrcnn/1" and ckpt["arch"] == "compact"
    assert ckpt["classes"] == list(synth.KNOWN_CLASSES)
    assert ckpt["meta"]["trained_on"] == "sample_data/known-train"
    model = build_compact_maskrcnn(len(ckpt["classes"]) + 1, **ckpt["arch_kwargs"])
    load_checkpoint_state(model, ckpt["state_dict"])
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 240, 320)])
    assert out[0]["masks"].shape[1:] == (1, 240, 320)
