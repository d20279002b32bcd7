"""Proposers: the output contract, torchvision Mask R-CNN loading (random weights:
this machine cannot download), labelkit checkpoints, wrappers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tvd = pytest.importorskip("torchvision.models.detection")

import labelkit.models as lkm  # noqa: E402
from labelkit.errors import ModelError, WeightsNotAvailableError  # noqa: E402
from labelkit.geometry import masks  # noqa: E402

COCO_FILE = "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"


# ----------------------------------------------------------------- helpers


class _TinyBody(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=4, padding=1)
        self.out_channels = 8

    def forward(self, x):
        return torch.relu(self.conv(x))


def tiny_detector(num_classes: int = 3, masks_on: bool = True, favour: int = 1, seed: int = 0):
    """A real torchvision Mask R-CNN / Faster R-CNN with a one-conv backbone and
    random weights, biased so it confidently finds class ``favour`` with full masks."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    torch.manual_seed(seed)
    anchors = AnchorGenerator(sizes=((16, 32),), aspect_ratios=((0.5, 1.0, 2.0),))
    kw = dict(
        rpn_anchor_generator=anchors,
        box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
        min_size=64,
        max_size=96,
        rpn_post_nms_top_n_test=50,
        box_detections_per_img=8,
    )
    if masks_on:
        model = tvd.MaskRCNN(_TinyBody(), num_classes, mask_roi_pool=MultiScaleRoIAlign(["0"], 14, 2), **kw)
        with torch.no_grad():
            model.roi_heads.mask_predictor.mask_fcn_logits.bias.fill_(6.0)
    else:
        model = tvd.FasterRCNN(_TinyBody(), num_classes, **kw)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias.zero_()
        model.roi_heads.box_predictor.cls_score.bias[favour] = 8.0
    return model.eval()


@pytest.fixture
def image(rng):
    return rng.integers(0, 255, size=(70, 90, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def resnet50_state_file(tmp_path_factory):
    """A random-weight maskrcnn_resnet50_fpn_v2 state dict on disk (COCO's 91 outputs)."""
    torch.manual_seed(0)
    model = tvd.maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=91)
    path = tmp_path_factory.mktemp("weights") / COCO_FILE
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch-home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    for name in ("LABELKIT_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    return home


def _no_network(monkeypatch, calls=None):
    """Downloads fail at once, as they do offline (no waiting on a dead network)."""

    def fail(url, dst, *args, **kwargs):
        if calls is not None:
            calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)


# ------------------------------------------------- COCO Mask R-CNN (ResNet-50)


def test_maskrcnn_default_uses_cached_coco_weights_without_downloading(
    resnet50_state_file, empty_torch_home, monkeypatch
):
    calls: list = []
    _no_network(monkeypatch, calls)
    cache = lkm.cache_file_for(tvd.MaskRCNN_ResNet50_FPN_V2_Weights.DEFAULT)
    cache.parent.mkdir(parents=True)
    os.symlink(resnet50_state_file, cache)
    model = lkm.maskrcnn(device="cpu")
    assert calls == []
    assert isinstance(model.module, tvd.MaskRCNN)
    assert type(model.module.backbone.body).__name__ == "IntermediateLayerGetter"
    assert model.module.backbone.body.layer4[0].conv1.in_channels == 1024  # ResNet-50
    assert model.module.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 91
    assert len(model.classes) == 80
    assert model.classes[:3] == ["person", "bicycle", "car"]
    assert not {"N/A", "__background__"} & set(model.classes)


def test_maskrcnn_offline_error_names_url_cache_file_and_path_alternative(empty_torch_home, monkeypatch):
    _no_network(monkeypatch)
    t0 = time.perf_counter()
    with pytest.raises(WeightsNotAvailableError) as info:
        lkm.maskrcnn(device="cpu")
    assert time.perf_counter() - t0 < 10
    msg = str(info.value)
    assert "https://download.pytorch.org/models/" + COCO_FILE in msg
    assert str(empty_torch_home / "hub" / "checkpoints" / COCO_FILE) in msg
    assert 'weights="/path/to/' in msg
    assert "name resolution" in msg
    assert info.value.__suppress_context__  # no chained traceback soup


def test_maskrcnn_offline_env_never_attempts_a_download(empty_torch_home, monkeypatch):
    calls: list = []
    _no_network(monkeypatch, calls)
    monkeypatch.setenv("LABELKIT_OFFLINE", "1")
    with pytest.raises(WeightsNotAvailableError, match="LABELKIT_OFFLINE"):
        lkm.maskrcnn(device="cpu")
    assert calls == []


def test_maskrcnn_from_torchvision_reference_checkpoint_meets_output_contract(
    resnet50_state_file, tmp_path, image
):
    ckpt = tmp_path / "ref.pth"
    torch.save({"model": torch.load(resnet50_state_file, weights_only=True), "epoch": 3}, ckpt)
    model = lkm.maskrcnn(
        weights=str(ckpt), device="cpu", min_confidence=0.0, min_size=64, max_size=96,
        box_detections_per_img=3, rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=20,
    )
    (dets,) = model.predict([image])
    h, w = image.shape[:2]
    for d in dets.detections:
        assert d.label in model.classes
        assert 0.0 <= d.confidence <= 1.0
        assert all(0.0 <= v <= 1.0 for v in d.bounding_box)
        x0, y0, x1, y1 = masks.pixel_box(d.bounding_box, w, h)
        assert d.mask.dtype == bool and d.mask.shape == (y1 - y0, x1 - x0)


def test_maskrcnn_rejects_state_dict_with_other_classes():
    state = {"roi_heads.box_predictor.cls_score.weight": torch.zeros(5, 8)}
    with pytest.raises(ModelError, match="5 outputs, not COCO's 91"):
        lkm.maskrcnn(weights=state, device="cpu")


def test_maskrcnn_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        lkm.maskrcnn(weights=str(tmp_path / "nope.pth"), device="cpu")


def test_maskrcnn_refuses_pickled_objects(tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"model": {}, "args": object.__new__(_Opaque)}, path)
    with pytest.raises(ModelError, match="weights_only"):
        lkm.maskrcnn(weights=str(path), device="cpu")


class _Opaque:
    pass


# ------------------------------------------------------------ output contract


def test_mask_proposer_output_contract(image):
    model = lkm.from_torchvision(tiny_detector(), classes=["a", "b"], device="cpu")
    out = model.predict([image, image[:40, :50]])
    assert len(out) == 2
    for img, dets in zip([image, image[:40, :50]], out, strict=True):
        h, w = img.shape[:2]
        assert dets.detections, "the biased tiny model always finds something"
        confs = [d.confidence for d in dets.detections]
        assert confs == sorted(confs, reverse=True)
        for d in dets.detections:
            assert d.label in ("a", "b")
            assert isinstance(d.confidence, float) and 0.05 <= d.confidence <= 1.0
            assert len(d.bounding_box) == 4 and all(0.0 <= v <= 1.0 for v in d.bounding_box)
            x0, y0, x1, y1 = masks.pixel_box(d.bounding_box, w, h)
            assert isinstance(d.mask, np.ndarray) and d.mask.dtype == bool
            assert d.mask.shape == (y1 - y0, x1 - x0)
            assert d.mask.any()


def test_cropped_masks_reproduce_the_models_full_masks(image):
    model = lkm.from_torchvision(tiny_detector(), classes=["a", "b"], device="cpu")
    with model.inference_context():
        raw = model.predict_raw([image])[0]
    dets = model.postprocess([raw], [image.shape[:2]])[0].detections
    h, w = image.shape[:2]
    full = (raw["masks"][:, 0] > 0.5).numpy()
    assert len(dets) == len(full)
    for d, m in zip(dets, full, strict=True):
        assert np.array_equal(masks.crop_to_full(d.bounding_box, d.mask, w, h), m)


def test_box_only_fasterrcnn_gives_detections_without_masks(image):
    model = lkm.from_torchvision(tiny_detector(masks_on=False), classes=["a", "b"], device="cpu")
    dets = model.predict([image])[0].detections
    assert dets
    for d in dets:
        assert d.mask is None
        assert all(0.0 <= v <= 1.0 for v in d.bounding_box)


def test_classes_restricts_the_output(image):
    model = lkm.from_torchvision(tiny_detector(favour=2), classes=["a", "b"], device="cpu")
    assert {d.label for d in model.predict([image])[0].detections} == {"b"}
    only_a = lkm.TorchvisionProposer(tiny_detector(favour=2), [None, "a", "b"], classes=["a"], device="cpu")
    assert {d.label for d in only_a.predict([image])[0].detections} <= {"a"}
    assert only_a.classes == ["a"]


def test_unknown_class_is_refused_with_a_suggestion():
    with pytest.raises(ModelError, match="did you mean 'person'"):
        lkm.TorchvisionProposer(tiny_detector(), [None, "person", "dog"], classes=["persn"], device="cpu")


def test_from_torchvision_accepts_category_list_with_background(image):
    model = lkm.from_torchvision(tiny_detector(), classes=["__background__", "a", "N/A"], device="cpu")
    assert model.classes == ["a"]
    assert {d.label for d in model.predict([image])[0].detections} == {"a"}


def test_min_confidence_is_applied_inside_the_model(image):
    model = lkm.from_torchvision(tiny_detector(), classes=["a", "b"], device="cpu", min_confidence=0.99999)
    assert model.predict([image])[0].detections == []
    assert model.module.roi_heads.score_thresh == 0.05  # restored after the call


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10, 3), np.uint8), [np.zeros((10, 10), np.uint8)], [np.zeros((10, 10, 3), np.float32)]],
    ids=["bare-array", "grayscale", "float"],
)
def test_predict_rejects_malformed_input(bad):
    model = lkm.from_callable(lambda ims: [{"boxes": [], "labels": []} for _ in ims], ["x"])
    with pytest.raises(ModelError, match=r"\(H, W, 3\) uint8|list of images"):
        model.predict(bad)


def test_device_auto_resolves_to_what_torch_has():
    assert lkm.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_says_so():
    with pytest.raises(ModelError, match="no CUDA GPU"):
        lkm.resolve_device("cuda")


# --------------------------------------------------------------- from_callable


def _blob_fn(images):
    out = []
    for im in images:
        h, w = im.shape[:2]
        m = np.zeros((2, h, w), np.float32)
        m[0, 2:6, 3:9] = 0.9
        m[1, 1:3, 1:3] = 0.4  # below the 0.5 threshold: dropped
        out.append({"boxes": np.array([[3, 2, 9, 6], [1, 1, 3, 3]]), "labels": np.array([1, 0]),
                    "scores": np.array([0.8, 0.9]), "masks": m})
    return out


def test_from_callable_dict_results_with_int_labels_and_float_masks():
    model = lkm.from_callable(_blob_fn, classes=["a", "b"])
    (dets,) = model.predict([np.zeros((10, 20, 3), np.uint8)])
    (d,) = dets.detections
    assert (d.label, d.confidence) == ("b", 0.8)
    assert d.bounding_box == pytest.approx([3 / 20, 2 / 10, 6 / 20, 4 / 10], abs=1e-3)
    assert masks.pixel_box(d.bounding_box, 20, 10) == (3, 2, 9, 6)
    assert d.mask.shape == (4, 6) and d.mask.all()


def test_from_callable_string_labels_and_no_masks():
    fn = lambda ims: [{"boxes": [[0, 0, 5, 5]], "labels": ["cat"], "scores": [0.5]} for _ in ims]  # noqa: E731
    (dets,) = lkm.from_callable(fn, classes=["cat"]).predict([np.zeros((10, 10, 3), np.uint8)])
    assert [(d.label, d.mask, d.bounding_box) for d in dets.detections] == [("cat", None, [0, 0, 0.5, 0.5])]


def test_from_callable_passes_fo_detections_through_filtered(fo):
    def fn(images):
        return [fo.Detections(detections=[
            fo.Detection(label="x", bounding_box=[0, 0, 0.5, 0.5], confidence=0.9),
            fo.Detection(label="x", bounding_box=[0.5, 0.5, 0.5, 0.5], confidence=0.1),
        ]) for _ in images]

    out = lkm.from_callable(fn, ["x"], min_confidence=0.2).predict([np.zeros((4, 4, 3), np.uint8)] * 2)
    assert [[d.confidence for d in o.detections] for o in out] == [[0.9], [0.9]]


def test_from_callable_with_wrong_number_of_results_is_refused():
    model = lkm.from_callable(lambda ims: [], ["x"])
    with pytest.raises(ModelError, match="returned 0 results for 1 images"):
        model.predict([np.zeros((4, 4, 3), np.uint8)])


def test_from_callable_label_out_of_range_is_refused():
    model = lkm.from_callable(lambda ims: [{"boxes": [[0, 0, 1, 1]], "labels": [3]}], ["x"])
    with pytest.raises(ModelError, match="label 3"):
        model.predict([np.zeros((4, 4, 3), np.uint8)])


# -------------------------------------------------------- labelkit checkpoints

TINY_COMPACT = dict(
    widths=(8, 8, 8, 8, 8), blocks=(1, 1, 1, 1), fpn_channels=8, representation_size=16,
    mask_channels=8, mask_layers=1, min_size=64, max_size=96,
)


def _compact_proposer():
    compact = pytest.importorskip("labelkit.models.compact")
    torch.manual_seed(0)
    module = compact.build_compact_maskrcnn(3, **TINY_COMPACT)
    with torch.no_grad():
        module.roi_heads.box_predictor.cls_score.bias[1] = 8.0
        module.roi_heads.mask_predictor.mask_fcn_logits.bias.fill_(6.0)
    return lkm.TorchvisionProposer(
        module, [None, "cat", "dog"], device="cpu", arch="compact", arch_kwargs=TINY_COMPACT,
        meta={"trained_on": "nothing"},
    )


def test_checkpoint_roundtrip_gives_the_same_predictions(tmp_path, image):
    model = _compact_proposer()
    path = lkm.save_checkpoint(model, tmp_path / "m.pt", meta={"note": "x"})
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["format"] == "labelkit.maskrcnn/1" and ckpt["classes"] == ["cat", "dog"]
    assert ckpt["meta"] == {"trained_on": "nothing", "note": "x"}
    loaded = lkm.load(path, device="cpu")
    assert loaded.classes == ["cat", "dog"] and loaded.arch == "compact"
    a, b = model.predict([image])[0].detections, loaded.predict([image])[0].detections
    assert [d.bounding_box for d in a] == [d.bounding_box for d in b]
    assert [d.confidence for d in a] == pytest.approx([d.confidence for d in b])


def test_half_precision_checkpoint_loads_as_float32(tmp_path, image):
    path = lkm.save_checkpoint(_compact_proposer(), tmp_path / "m16.pt", half=True)
    sd = torch.load(path, weights_only=True)["state_dict"]
    assert sd["roi_heads.box_head.fc6.weight"].dtype == torch.float16
    loaded = lkm.maskrcnn(weights=str(path), device="cpu")  # the weights= path accepts it too
    assert loaded.module.roi_heads.box_head.fc6.weight.dtype == torch.float32
    assert loaded.predict([image])[0].detections


def test_load_refuses_a_plain_state_dict(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(1)}, path)
    with pytest.raises(ModelError, match="not a labelkit checkpoint"):
        lkm.load(path)


def test_load_refuses_unknown_architecture(tmp_path):
    path = tmp_path / "odd.pt"
    torch.save({"format": "labelkit.maskrcnn/1", "arch": "yolo", "classes": ["a"], "state_dict": {}}, path)
    with pytest.raises(ModelError, match="unknown architecture 'yolo'"):
        lkm.load(path)


def test_coco_model_checkpoint_keeps_placeholder_labels(tmp_path):
    names = [None, "person", None, "car"]  # like COCO: label 2 unused
    module = tiny_detector(num_classes=4)
    model = lkm.TorchvisionProposer(module, names, device="cpu", arch="maskrcnn_resnet50_fpn_v2")
    path = lkm.save_checkpoint(model, tmp_path / "c.pt")
    assert torch.load(path, weights_only=True)["classes"] == ["person", "N/A", "car"]


# ---------------------------------------------------------------- sample model


def test_sample_model_missing_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELKIT_SAMPLE_DATA", str(tmp_path))
    with pytest.raises(WeightsNotAvailableError, match=str(tmp_path / "models" / "sample_maskrcnn.pt")):
        lkm.sample()


def test_sample_model_loads_when_present(image):
    path = lkm.sample_data_dir() / "models" / "sample_maskrcnn.pt"
    if not path.is_file():
        pytest.skip(f"{path} is not built yet (sample_data/train_sample_model.py makes it)")
    model = lkm.sample(device="cpu")
    assert model.arch == "compact" and model.classes
    assert isinstance(model.predict([image]), list)


def test_importing_labelkit_models_does_not_import_torch_or_fiftyone():
    code = "import sys, labelkit.models; print('torch' in sys.modules, 'fiftyone' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_device_mask_path_gives_the_same_regions_as_the_host_path(rng):
    from labelkit.models.base import _mask_regions

    masks = torch.from_numpy(rng.random((3, 20, 30)).astype(np.float32))
    kept = [(0, "a", 0.9, (2, 3, 12, 9)), (2, "a", 0.8, (0, 0, 30, 20)), (1, "b", 0.7, (29, 19, 30, 20))]
    host = _mask_regions(masks, kept, 0.5, device_path=False)
    device = _mask_regions(masks, kept, 0.5, device_path=True)
    assert [r.shape for r in host] == [(6, 10), (20, 30), (1, 1)]
    for h, d in zip(host, device, strict=True):
        assert h.dtype == d.dtype == bool and np.array_equal(h, d)


def _strip(batch):
    """Detections without their random ids, masks as bytes: what must not change."""
    return [[({k: v for k, v in d.to_dict().items() if k not in ("_id", "mask")},
              None if d.mask is None else (d.mask.shape, d.mask.tobytes())) for d in x.detections] for x in batch]


def test_batch_of_device_masks_comes_to_the_host_in_one_transfer(rng, monkeypatch):
    """The GPU branch of postprocess (forced here on CPU tensors): one host copy for all
    the batch's mask regions, and the same detections as the host path."""
    from labelkit.models import base

    h, w = 40, 50
    raw = []
    for n in (3, 0, 2, 4):
        x0 = torch.tensor(rng.uniform(0, 25, n), dtype=torch.float32)
        y0 = torch.tensor(rng.uniform(0, 20, n), dtype=torch.float32)
        boxes = torch.stack([x0, y0, x0 + 20, y0 + 15], dim=1).reshape(-1, 4)
        raw.append({"boxes": boxes, "labels": torch.tensor([1, 2, 1, 2][:n]), "scores": torch.rand(n),
                    "masks": torch.tensor(rng.random((n, 1, h, w)), dtype=torch.float32)})
    model = lkm.from_callable(lambda ims: raw, classes=["a", "b"], label_offset=1)
    host = model.postprocess(raw, [(h, w)] * len(raw))
    copies = []
    real = base._to_host
    monkeypatch.setattr(base, "_to_host", lambda t: copies.append(t.numel()) or real(t))
    monkeypatch.setattr(base, "_on_device", lambda m: base._is_tensor(m))  # pretend the masks sit on a GPU
    device = model.postprocess(raw, [(h, w)] * len(raw))
    assert len(copies) == 1
    assert _strip(device) == _strip(host) and sum(len(x.detections) for x in host) > 0


def test_cpu_tensor_masks_keep_the_host_path(rng, monkeypatch):
    from labelkit.models import base

    masks = torch.tensor(rng.random((2, 1, 30, 30)), dtype=torch.float32)
    raw = [{"boxes": torch.tensor([[2.0, 2, 20, 20], [5, 5, 25, 25]]), "labels": torch.tensor([0, 0]),
            "scores": torch.tensor([0.9, 0.8]), "masks": masks}] * 2
    copies = []
    monkeypatch.setattr(base, "_to_host", lambda t: copies.append(1) or t.numpy())
    out = lkm.from_callable(lambda ims: raw, ["a"]).postprocess(raw, [(30, 30)] * 2)
    assert copies == [] and len(out[0].detections) == 2


# ------------------------------------------------------------ GPU batching (no GPU needed)

GiB = 1 << 30


@pytest.mark.parametrize("free, per_image, margin, cap, expected", [
    (10 * GiB, GiB, 0.25, 32, 7),        # floor(10 * 0.75 / 1)
    (10 * GiB, GiB, 0.0, 32, 10),
    (80e9, 0.5e9, 0.25, 32, 32),          # capped
    (80e9, 0.5e9, 0.25, 200, 120),
    (GiB, 4 * GiB, 0.25, 32, 1),          # never below 1: the forward pass reports OOM itself
    (0, GiB, 0.25, 32, 1),
    (10 * GiB, 0, 0.25, 16, 16),          # nothing measurable: the cap
], ids=["margin", "no-margin", "cap", "big-cap", "floor-1", "no-free", "zero-per-image"])
def test_batch_size_for_memory(free, per_image, margin, cap, expected):
    from labelkit.models.batching import batch_size_for_memory

    assert batch_size_for_memory(free, per_image, margin=margin, cap=cap) == expected


@pytest.mark.parametrize("kw, match", [
    ({"free_bytes": -1}, "free_bytes=-1"),
    ({"per_image_bytes": float("nan")}, "per_image_bytes=nan"),
    ({"margin": 1.0}, "margin=1.0"),
    ({"cap": 0}, "cap=0"),
], ids=["negative-free", "nan-per-image", "margin-1", "cap-0"])
def test_batch_size_for_memory_refuses_bad_values(kw, match):
    from labelkit.errors import EngineError
    from labelkit.models.batching import batch_size_for_memory

    args = {"free_bytes": GiB, "per_image_bytes": GiB, **kw}
    with pytest.raises(EngineError, match=match):
        batch_size_for_memory(**args)


def _oom_above(limit: int, calls: list):
    def forward(chunk):
        calls.append(len(chunk))
        if len(chunk) > limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {len(chunk)} GiB")
        return [x * 10 for x in chunk]

    return forward


def test_out_of_memory_halves_the_chunk_and_keeps_the_order():
    from labelkit.models.batching import forward_in_chunks

    calls, emptied = [], []
    out, size = forward_in_chunks(_oom_above(2, calls), list(range(11)), 8, on_oom=lambda: emptied.append(1))
    assert out == [x * 10 for x in range(11)]
    assert size == 2 and calls == [8, 4, 2, 2, 2, 2, 2, 1] and len(emptied) == 2


def test_chunks_that_fit_run_without_retries():
    from labelkit.models.batching import forward_in_chunks

    calls = []
    out, size = forward_in_chunks(_oom_above(100, calls), list(range(7)), 3)
    assert (out, size, calls) == ([x * 10 for x in range(7)], 3, [3, 3, 1])
    assert forward_in_chunks(_oom_above(1, []), [], 4) == ([], 4)


def test_one_image_that_does_not_fit_is_a_clear_model_error():
    from labelkit.models.batching import forward_in_chunks

    with pytest.raises(ModelError, match="an image of 9000x9000 does not fit in the GPU memory even alone"):
        forward_in_chunks(_oom_above(0, []), [1, 2], 2, describe=lambda _x: "an image of 9000x9000")


def test_other_errors_are_not_retried():
    from labelkit.models.batching import forward_in_chunks

    def forward(chunk):
        raise ValueError("not memory")

    emptied = []
    with pytest.raises(ValueError, match="not memory"):
        forward_in_chunks(forward, [1, 2, 3], 2, on_oom=lambda: emptied.append(1))
    assert emptied == []


def test_on_cpu_the_batch_size_is_not_chosen_from_memory(image):
    model = lkm.from_torchvision(tiny_detector(), classes=["a", "b"], device="cpu")
    assert (model.batch_size, model.auto_batch) == (1, False)
    assert model.choose_batch_size(image) == 1 and model.batch_size == 1 and model.probe == {}


def test_spec_batch_size_is_explicit():
    model = lkm.from_spec(("sample", {"device": "cpu", "batch_size": 3}))
    assert (model.batch_size, model.auto_batch) == (3, False)
