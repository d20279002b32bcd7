"""Promptable segmenters: the contract (shapes, dtypes, pixel coordinates), caching,
GrabCut behind the interface, SAM / SAM 2 through transformers (tiny random configs)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from tiny_hf import tiny_sam, tiny_sam2

import labelkit as lk
from labelkit.errors import PromptError, WeightsNotAvailableError
from labelkit.geometry.edit import grabcut_refine
from labelkit.models.segmenters import SamSegmenter, fingerprint


def _image(seed=0, shape=(240, 320)):
    rng = np.random.default_rng(seed)
    img = (rng.random((*shape, 3)) * 60).astype(np.uint8)
    img[60:140, 40:130] = (220, 50, 40)
    return img


@pytest.fixture(params=["grabcut", "sam", "sam2"])
def segmenter(request):
    if request.param == "grabcut":
        return lk.models.grabcut()
    model, processor = (tiny_sam if request.param == "sam" else tiny_sam2)()
    return SamSegmenter(model, processor, device="cpu", name=f"tiny-{request.param}")


@pytest.mark.parametrize(
    "prompts, k",
    [
        ({"boxes": [[30, 50, 140, 150]]}, 1),
        ({"boxes": [[30, 50, 140, 150], [200, 20, 300, 200]]}, 2),
        ({"points": [[80, 100]]}, 1),
        ({"points": [[80, 100], [250, 200]], "point_labels": [1, 0]}, 1),
        ({"points": [[80, 100]], "boxes": [[30, 50, 140, 150]]}, 1),
        ({"mask_input": "box"}, 1),
    ],
    ids=["one-box", "two-boxes", "click", "pos-neg-clicks", "click-and-box", "prior-mask"],
)
def test_segment_returns_full_resolution_bool_masks_and_unit_scores(segmenter, prompts, k):
    img = _image()
    if prompts.get("mask_input") == "box":
        prior = np.zeros(img.shape[:2], bool)
        prior[60:140, 40:130] = True
        prompts = {"mask_input": prior}
    masks, scores = segmenter.segment(img, **prompts)
    assert masks.shape == (k, 240, 320) and masks.dtype == bool
    assert scores.shape == (k,) and scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all()


def test_multimask_gives_sam_candidates_best_first_and_grabcut_one(segmenter):
    masks, scores = segmenter.segment(_image(), points=[[80, 100]], multimask=True)
    expected = 1 if segmenter.name == "grabcut" else 3
    assert masks.shape == (expected, 240, 320)
    assert list(scores) == sorted(scores, reverse=True)


def test_multimask_is_ignored_for_several_boxes(segmenter):
    masks, _ = segmenter.segment(_image(), boxes=[[30, 50, 140, 150], [200, 20, 300, 200]], multimask=True)
    assert len(masks) == 2


def test_grabcut_segmenter_gives_what_grabcut_refine_gives_on_coins():
    skimage_data = pytest.importorskip("skimage.data")
    gray = skimage_data.coins()
    img = np.repeat(gray[..., None], 3, axis=2)
    box, pos, neg = [300, 12, 370, 76], [(334, 44)], [(302, 14)]  # the coin at rows 16-72, cols 305-365
    masks, scores = lk.models.grabcut().segment(img, boxes=[box], points=[*pos, *neg], point_labels=[1, 0])
    direct = grabcut_refine(img, box=box, positive=pos, negative=neg)
    np.testing.assert_array_equal(masks[0], direct)
    assert scores[0] == 1.0 and 1500 < masks[0].sum() < 3500  # the coin has ~2,460 pixels


def test_grabcut_refines_from_a_prior_mask_like_before():
    img = _image()
    prior = np.zeros(img.shape[:2], bool)
    prior[65:135, 45:125] = True
    masks, _ = lk.models.grabcut().segment(img, mask_input=prior, points=[[60, 70]])
    np.testing.assert_array_equal(masks[0], grabcut_refine(img, mask=prior, positive=[(60, 70)]))


@pytest.mark.parametrize("build", [tiny_sam, tiny_sam2], ids=["sam", "sam2"])
@pytest.mark.parametrize(
    "prompts",
    [
        {"input_boxes": [[[30.0, 50.0, 140.0, 150.0]]]},
        {"input_points": [[[[80.0, 100.0], [250.0, 200.0]]]], "input_labels": [[[1, 0]]]},
    ],
    ids=["box", "clicks"],
)
def test_sam_masks_equal_the_transformers_reference_pipeline(build, prompts):
    """Image pixels in: labelkit's cached-embedding path gives exactly the masks of
    transformers' documented processor -> model -> post_process_masks pipeline."""
    import torch

    model, processor = build()
    img = _image(1, (180, 300))  # not square: the coordinate scaling matters
    inputs = processor(images=img, return_tensors="pt", **prompts)
    with torch.inference_mode():
        out = model(**inputs, multimask_output=False)
    extra = [inputs["reshaped_input_sizes"]] if "reshaped_input_sizes" in inputs else []
    reference = processor.post_process_masks(out.pred_masks, inputs["original_sizes"], *extra)[0]
    reference = np.asarray(reference).reshape(-1, 180, 300).astype(bool)

    seg = SamSegmenter(model, processor, device="cpu")
    if "input_boxes" in prompts:
        masks, scores = seg.segment(img, boxes=prompts["input_boxes"][0])
    else:
        masks, scores = seg.segment(img, points=prompts["input_points"][0][0], point_labels=[1, 0])
    np.testing.assert_array_equal(masks, reference)
    np.testing.assert_allclose(scores, np.clip(out.iou_scores.numpy().reshape(-1), 0, 1), rtol=1e-4, atol=1e-6)


def test_the_embedding_is_computed_once_per_image_and_prepare_warms_the_cache():
    model, processor = tiny_sam()
    seg = SamSegmenter(model, processor, device="cpu")
    a, b = _image(0), _image(1)
    for x in (60, 80, 100):
        seg.segment(a, points=[[x, 100]])
    assert seg.embed_count == 1
    seg.prepare(b)
    assert seg.embed_count == 2
    seg.segment(b, boxes=[[30, 50, 140, 150]])
    assert seg.embed_count == 2
    seg.cache_size = 1
    seg.prepare(_image(2))
    seg.segment(a, points=[[60, 100]])  # evicted: computed again
    assert seg.embed_count == 4


def test_fingerprint_tells_images_apart():
    a = _image(0)
    b = a.copy()
    b[::4, ::4] += 1
    assert fingerprint(a) == fingerprint(a.copy()) and fingerprint(a) != fingerprint(b)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"boxes": [[np.nan, 0, 10, 10]]}, "finite"),
        ({"boxes": [[400, 300, 500, 400]]}, "outside the 320x240 image"),
        ({"boxes": [[50, 50, 40, 60]]}, "empty"),
        ({"points": [[10, 10], [20, 20]], "point_labels": [1]}, "one 1 (object) or 0"),
        ({"points": [[10, 10]], "point_labels": [2]}, "one 1 (object) or 0"),
        ({"points": [[10, 10]], "boxes": [[0, 0, 5, 5], [5, 5, 9, 9]]}, "one object"),
        ({"mask_input": np.zeros((10, 10), bool)}, "(240, 320)"),
        ({}, "needs a prompt"),
    ],
    ids=["nan-box", "box-outside", "inverted-box", "labels-count", "label-value", "points-two-boxes",
         "mask-shape", "no-prompt"],
)
def test_bad_prompts_get_a_prompt_error_naming_them(kwargs, fragment):
    with pytest.raises(PromptError, match=None) as info:
        lk.models.grabcut().segment(_image(), **kwargs)
    assert fragment in str(info.value)


def test_a_bad_image_gets_a_prompt_error():
    with pytest.raises(PromptError, match="uint8"):
        lk.models.grabcut().segment(np.zeros((10, 10, 3), np.float32), boxes=[[0, 0, 5, 5]])


@pytest.mark.parametrize("build, family", [(tiny_sam, "sam"), (tiny_sam2, "sam2")])
def test_sam_loads_a_local_folder_with_the_real_from_pretrained(tmp_path, build, family):
    model, processor = build()
    model.save_pretrained(tmp_path / "m")
    processor.save_pretrained(tmp_path / "m")
    seg = lk.models.sam(tmp_path / "m", device="cpu")
    assert seg.family == family and seg.name == str(tmp_path / "m")
    img = _image()
    loaded, _ = seg.segment(img, boxes=[[30, 50, 140, 150]])
    original, _ = SamSegmenter(model, processor, device="cpu").segment(img, boxes=[[30, 50, 140, 150]])
    np.testing.assert_array_equal(loaded, original)


def test_sam_offline_without_weights_names_the_id_the_cache_and_the_local_folder(tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "LABELKIT_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    code = "import labelkit as lk; lk.models.sam('facebook/sam-vit-base')"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "WeightsNotAvailableError" in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "facebook/sam-vit-base" in last and str(tmp_path / "hf") in last
    assert "lk.models.sam('/path/to/sam-vit-base')" in last


def test_sam_with_a_missing_local_folder_says_so(tmp_path):
    with pytest.raises(WeightsNotAvailableError, match="does not exist"):
        lk.models.sam(tmp_path / "nope" / "sam")


def test_sam_loads_a_sam2_video_checkpoint_for_images(tmp_path):
    """The hub's SAM 2.1 checkpoints are saved as model_type "sam2_video"; sam() reads
    their image part (Sam2Model) and segments images with it."""
    from tiny_hf import tiny_sam2_video

    model, processor = tiny_sam2_video()
    assert model.config.model_type == "sam2_video"
    model.save_pretrained(tmp_path / "v")
    processor.save_pretrained(tmp_path / "v")
    seg = lk.models.sam(tmp_path / "v", device="cpu")
    assert seg.family == "sam2" and type(seg.model).__name__ == "Sam2Model"
    masks, scores = seg.segment(_image(), boxes=[[30, 50, 140, 150]])
    assert masks.shape == (1, 240, 320) and masks.dtype == bool
