"""propose(engine="ray"): the same guarantees as the local path, on a local Ray instance.

A module-scoped fixture starts Ray with 2 CPUs (no dashboard) and shuts it down
after. Most tests use a small real computer-vision "model" (threshold +
connected components, numpy/scipy only) so actors start fast; the identity test
runs the bundled sample model on both paths. Functions of this module are
pickled by value (``register_pickle_by_value``), so the workers need not import it.

The spec and document-encoding tests at the end need no Ray.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from badfiles import truncated
from conftest import write_image

import labelkit.models as lkm
from labelkit.errors import EngineError, ModelError, ProposalError
from labelkit.models.spec import from_spec, spec_of, weights_digest
from labelkit.propose.image import ProposeSummary, propose
from labelkit.propose.ray_engine import decode_documents, encode_documents

N_IMAGES = 8

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance with 2 CPUs for this module's tests."""
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def blob_finder(images):
    """Threshold at the mean + connected components: one "blob" per bright region (>= 30 px)."""
    from scipy import ndimage

    out = []
    for im in images:
        gray = im.mean(axis=2)
        lab, _ = ndimage.label(gray > gray.mean() + 20)
        boxes, blobs, scores = [], [], []
        for k, sl in enumerate(ndimage.find_objects(lab), start=1):
            blob = lab == k
            area = int(blob.sum())
            if area < 30:
                continue
            boxes.append([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop])
            blobs.append(blob)
            scores.append(min(1.0, area / 1500))
        out.append({
            "boxes": np.asarray(boxes, float).reshape(-1, 4),
            "labels": ["blob"] * len(boxes),
            "scores": np.asarray(scores),
            "masks": np.asarray(blobs, bool).reshape(-1, *gray.shape),
        })
    return out


def _scene(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    img = rng.integers(0, 40, (96, 128, 3), np.uint8)
    for k in range(1 + i % 3):
        y, x = 10 + 25 * k, 10 + 30 * k + i
        img[y:y + 18 + 2 * k, x:x + 20 + i] = 200
    return img


@pytest.fixture
def image_paths(tmp_path):
    d = tmp_path / "scenes"
    d.mkdir()
    return [str(write_image(d / f"scene_{i}.png", _scene(i))) for i in range(N_IMAGES)]


@pytest.fixture
def ds(fo, dataset_name, image_paths):
    ds = fo.Dataset(dataset_name)
    ds.add_samples([fo.Sample(filepath=p) for p in image_paths], progress=False)
    return ds


@pytest.fixture
def blob_model():
    return lkm.from_callable(blob_finder, classes=["blob"], batch_size=2)


def docs(ds):
    """The raw database documents of a dataset, by id."""
    return {d["_id"]: d for d in ds._sample_collection.find({})}


def on_ray(ds, model, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("num_workers", 1)
    return propose(ds, model, engine="ray", **kw)


# -------------------------------------------------------------------- same as local


def test_ray_writes_the_same_proposals_as_the_local_path(ray_local, fo, dataset_name):
    """Sample model on 8 sample-data images: same labels, boxes within 1e-6, byte-identical masks."""
    ckpt = lkm.sample_data_dir() / "models" / "sample_maskrcnn.pt"
    if not ckpt.is_file():
        pytest.skip(f"{ckpt} is not built")
    files = sorted((lkm.sample_data_dir() / "known-val" / "images").glob("*.jpg"))[:8]
    ds = fo.Dataset(dataset_name)
    ds.add_samples([fo.Sample(filepath=str(f)) for f in files], progress=False)
    model = lkm.sample(device="cpu")
    assert spec_of(model)[0] == "sample"  # rebuilt on the workers, not pickled
    local = propose(ds, model, field="local", progress=False)
    remote = on_ray(ds, model, field="remote", num_workers=2)
    assert (remote.images, remote.proposals, remote.per_class) == (local.images, local.proposals, local.per_class)
    assert remote.proposals > 0
    for a, b in zip(ds.values("local"), ds.values("remote"), strict=True):
        assert [d.label for d in a.detections] == [d.label for d in b.detections]
        for x, y in zip(a.detections, b.detections, strict=True):
            assert np.allclose(x.bounding_box, y.bounding_box, rtol=0, atol=1e-6)
            assert x.confidence == pytest.approx(y.confidence, abs=1e-6)
            assert x.mask.shape == y.mask.shape and x.mask.tobytes() == y.mask.tobytes()
            assert y.review is None


def test_summary_timings_and_progress_bar_on_ray(ray_local, ds, blob_model, capsys):
    summary = on_ray(ds, blob_model, progress=True, min_confidence=0.0)
    assert isinstance(summary, ProposeSummary) and summary.engine == "ray"
    assert (summary.total, summary.images, summary.skipped, summary.failed) == (N_IMAGES, N_IMAGES, 0, {})
    written = sum(len(x) for x in ds.values("predictions.detections.id"))
    assert summary.proposals == written >= N_IMAGES
    assert summary.per_class == {"blob": written}
    assert set(summary.worker_timings) == {"decode", "model", "postprocess", "encode"}
    assert summary.worker_timings["model"] > 0 and summary.ray["num_workers"] == 1
    assert sum(summary.timings.values()) == pytest.approx(summary.seconds, rel=0.05)
    assert f"{N_IMAGES}/{N_IMAGES}" in capsys.readouterr().err
    assert "engine: ray, 1 worker(s)" in str(summary)


def test_rerun_on_ray_changes_nothing(ray_local, ds, blob_model):
    propose(ds, blob_model, progress=False)  # local first: the engines share the resume rule
    before = docs(ds)
    again = on_ray(ds, blob_model)
    assert (again.images, again.skipped_existing, again.proposals) == (0, N_IMAGES, 0)
    assert docs(ds) == before


def test_overwrite_on_ray_never_touches_reviewed_samples(ray_local, ds, blob_model):
    from labelkit.store.image import ReviewStore

    propose(ds, blob_model, progress=False)
    ids = ds.values("id")
    store = ReviewStore(ds)
    store.set_status([ids[0]], "done")
    store.set_status([ids[1]], "skipped")
    sample = ds[ids[2]]
    sample.predictions.detections[0]["review"] = "rejected"
    sample.save()
    before = docs(ds)
    other = lkm.from_callable(lambda ims: [{"boxes": [[0, 0, 4, 4]], "labels": ["x"], "scores": [1.0]}
                                           for _ in ims], ["x"])
    summary = on_ray(ds, other, overwrite=True)
    after = docs(ds)
    assert summary.skipped_reviewed == 3 and summary.images == N_IMAGES - 3
    assert {str(k) for k in before if before[k] != after[k]} == set(ids[3:])
    assert all(ds[i].predictions.detections[0].label == "x" for i in ids[3:])


# -------------------------------------------------------------------- failures


def test_unreadable_image_is_recorded_on_ray_and_the_rest_proceed(ray_local, fo, ds, blob_model, tmp_path, rng):
    bad = truncated(tmp_path / "broken.png", rng.integers(0, 255, (64, 64, 3), np.uint8), "PNG", 0.5)
    ds.add_sample(fo.Sample(filepath=str(bad)))
    summary = on_ray(ds, blob_model)
    assert summary.images == N_IMAGES
    assert list(summary.failed) == [str(bad)] and "truncated" in summary.failed[str(bad)]
    sample = ds.match({"filepath": str(bad)}).first()
    assert sample.predictions is None and "truncated" in sample["propose_error"]
    assert all(v is not None for v in ds.match({"filepath": {"$ne": str(bad)}}).values("predictions"))


class Boom(RuntimeError):
    pass


def test_interrupted_ray_run_keeps_written_batches_and_rerun_completes(ray_local, ds):
    calls = {"n": 0}

    def flaky(images):  # pickled by value: one counter per replica (one replica here)
        calls["n"] += 1
        if calls["n"] == 3:
            raise Boom("model crashed")
        return blob_finder(images)

    model = lkm.from_callable(flaky, ["blob"])
    with pytest.raises(Boom, match="model crashed"):
        on_ray(ds, model, batch_size=2, write_every=2)
    done = sum(v is not None for v in ds.values("predictions"))
    # whole batches that finished (before or while the crashed one ran) are kept; not the crashed one
    assert done % 2 == 0 and 0 < done <= N_IMAGES - 2
    summary = on_ray(ds, lkm.from_callable(blob_finder, ["blob"]), batch_size=2, write_every=2)
    assert (summary.images, summary.skipped_existing) == (N_IMAGES - done, done)
    reference = lkm.from_callable(blob_finder, ["blob"]).predict([_scene(i) for i in range(N_IMAGES)], 0.3)
    by_path = dict(zip(ds.values("filepath"), ds.values("predictions.detections.id"), strict=True))
    assert [len(by_path[p]) for p in sorted(by_path)] == [len(d.detections) for d in reference]
    ids = [i for x in by_path.values() for i in x]
    assert len(ids) == len(set(ids))


def test_bad_proposer_output_on_a_worker_is_a_proposal_error_and_nothing_of_it_is_written(ray_local, ds):
    def nan_boxes(images):
        return [{"boxes": [[float("nan"), 0, 4, 4]], "labels": ["blob"], "scores": [0.9]} for _ in images]

    before = docs(ds)
    with pytest.raises(ProposalError, match="nan_boxes"):
        on_ray(ds, lkm.from_callable(nan_boxes, ["blob"]))
    assert docs(ds) == before


# -------------------------------------------------------------------- options


def test_a_spec_is_built_on_the_workers(ray_local, fo, dataset_name):
    ckpt = lkm.sample_data_dir() / "models" / "sample_maskrcnn.pt"
    if not ckpt.is_file():
        pytest.skip(f"{ckpt} is not built")
    files = sorted((lkm.sample_data_dir() / "known-val" / "images").glob("*.jpg"))[:2]
    ds = fo.Dataset(dataset_name)
    ds.add_samples([fo.Sample(filepath=str(f)) for f in files], progress=False)
    summary = on_ray(ds, ("sample", {"device": "cpu"}), min_confidence=0.5)
    assert summary.images == 2 and summary.proposals > 0 and "spec ('sample'" in summary.model
    assert set(summary.per_class) <= {"ball", "book", "mug"}


def test_gpus_asked_for_on_a_cluster_without_gpus_are_refused(ray_local, ds, blob_model):
    before = docs(ds)
    with pytest.raises(EngineError, match="num_gpus_per_worker=1 .* the Ray cluster has 0"):
        on_ray(ds, blob_model, num_gpus_per_worker=1)
    assert docs(ds) == before


@pytest.mark.parametrize("kw, match", [
    ({"engine": "spark"}, "engine='spark'"),
    ({"engine": "ray", "num_workers": 0}, "num_workers=0"),
    ({"engine": "ray", "num_gpus_per_worker": -1}, "num_gpus_per_worker=-1"),
    ({"engine": "local", "address": "ray://head:10001"}, "address"),
], ids=["unknown-engine", "zero-workers", "negative-gpus", "ray-option-on-local"])
def test_bad_engine_options_are_refused_before_anything(ds, blob_model, kw, match):
    before = docs(ds)
    with pytest.raises(EngineError, match=match):
        propose(ds, blob_model, progress=False, **kw)
    assert docs(ds) == before


def test_unpicklable_proposer_is_refused_on_the_driver(ds):
    class Locked:
        classes = ["blob"]

        def __init__(self):
            self.lock = threading.Lock()

        def predict(self, images):
            return []

    before = docs(ds)
    with pytest.raises(ModelError, match="Locked cannot be sent to Ray workers"):
        propose(ds, Locked(), engine="ray", progress=False)
    assert docs(ds) == before


# -------------------------------------------------------------------- specs (no Ray)


def test_sample_spec_rebuilds_the_same_weights():
    model = lkm.sample(device="cpu", min_confidence=0.2)
    spec = spec_of(model)
    assert spec == ("sample", {"device": "cpu", "min_confidence": 0.2, "mask_threshold": 0.5, "batch_size": 1})
    again = from_spec(spec)
    assert weights_digest(again) == weights_digest(model) and again.min_confidence == 0.2


def test_checkpoint_spec_names_the_file_and_keeps_restricted_classes(tmp_path):
    from test_models import _compact_proposer

    path = lkm.save_checkpoint(_compact_proposer(), tmp_path / "tiny.pt")
    model = lkm.load(path, device="cpu", classes=["dog"])
    kind, where, options = spec_of(model)
    assert (kind, where, options["classes"]) == ("checkpoint", str(path.resolve()), ["dog"])
    assert weights_digest(from_spec(spec_of(model))) == weights_digest(model)


def test_weights_changed_in_place_have_no_spec():
    import torch

    model = lkm.sample(device="cpu")
    with torch.no_grad():
        next(model.module.parameters()).add_(1.0)
    assert spec_of(model) is None


@pytest.mark.parametrize("spec, match", [
    (("nope",), "unknown proposer spec kind 'nope'"),
    (("checkpoint",), "must look like"),
    (("sample", {"colour": 1}), "unknown options"),
    ((42,), "a proposer spec is a tuple"),
], ids=["unknown-kind", "missing-path", "unknown-option", "not-a-name"])
def test_malformed_specs_are_refused(spec, match):
    with pytest.raises(ModelError, match=match):
        from_spec(spec)


def test_worker_documents_are_what_the_store_writes_from_labels(fo, ds, rng):
    """encode_documents -> decode_documents -> write_proposal_documents stores exactly
    what write_proposals stores from the same fo.Detections (ids, masks byte-identical)."""
    from labelkit.store.image import ReviewStore

    masks = [rng.random((7, 9)) > 0.5, np.zeros((0, 3), bool), (rng.random((4, 5)) * 255).astype(np.uint8)]
    dets = fo.Detections(detections=[
        fo.Detection(label="a", bounding_box=[0.1, 0.2, 0.3, 0.4], confidence=0.75, mask=masks[0], review=None),
        fo.Detection(label="b", bounding_box=[0.5, 0.5, 0.1, 0.1], mask=masks[1], review=None),
        fo.Detection(label="c", bounding_box=[0.0, 0.0, 1.0, 1.0], mask=masks[2], review=None),
        fo.Detection(label="d", bounding_box=[0.2, 0.2, 0.2, 0.2], review=None),
    ])
    ids = ds.values("id")[:2]
    store = ReviewStore.for_proposals(ds, "from_docs")
    wire = {ids[0]: encode_documents(dets), ids[1]: encode_documents(fo.Detections())}
    assert store.write_proposal_documents({sid: decode_documents(b) for sid, b in wire.items()}) == 2
    ReviewStore.for_proposals(ds, "from_labels").write_proposals({ids[0]: dets, ids[1]: fo.Detections()})
    got, want = ds.select(ids).values("from_docs"), ds.select(ids).values("from_labels")
    assert [g.to_dict() for g in got] == [w.to_dict() for w in want]
    assert [d.id for d in got[0].detections] == [d.id for d in dets.detections]
    for a, b in zip(dets.detections[:3], got[0].detections, strict=False):
        assert a.mask.dtype == b.mask.dtype and a.mask.shape == b.mask.shape
        assert a.mask.tobytes() == b.mask.tobytes()
    assert got[1].detections == []


class _SaysCuda(lkm.CallableProposer):
    """Claims CUDA and chooses 3 as its batch size (no GPU: what is tested is the
    replica's use of the answer)."""

    def __init__(self):
        super().__init__(blob_finder, ["blob"], batch_size=1)
        self.device, self.asked, self.sizes = "cuda", [], []

    def choose_batch_size(self, image, min_confidence=None):
        self.asked.append(image.shape)
        self.batch_size = 3
        return 3

    def predict_raw(self, images, min_confidence=None):
        self.sizes.append(len(images))
        return super().predict_raw(images, min_confidence)


@pytest.mark.parametrize("auto_batch", [True, False], ids=["auto", "fixed"])
def test_replica_chooses_its_batch_size_once_and_runs_blocks_in_chunks(auto_batch):
    """What a GPU replica does with batch_size="auto" (run in-process, no Ray): it sizes
    its batches on its first image, splits each block into chunks of that size, and
    returns the final database documents of every image."""
    from labelkit.propose.ray_engine import _ProposerActor, proposer_payload

    actor = _ProposerActor(proposer_payload(_SaysCuda()), 0.0, 1, use_gpu=False, auto_batch=auto_batch)
    rows = {"id": np.asarray([f"s{i}" for i in range(8)], dtype=object), "path": np.asarray(
        ["unused"] * 8, dtype=object)}
    block = {**rows, "image": _objects_of([_scene(i) for i in range(8)]),
             "error": np.asarray([""] * 8, dtype=object), "t_decode": np.zeros(8)}
    out = actor(block)
    again = actor(block)
    assert not any(out["exc"]) and not any(again["exc"])
    model = actor.model
    if auto_batch:
        assert model.asked == [(96, 128, 3)] and model.sizes == [3, 3, 2, 3, 3, 2]
    else:
        assert model.asked == [] and model.sizes == [8, 8]
    got = [decode_documents(bytes(d)) for d in out["doc"]]
    want = blob_model_documents([_scene(i) for i in range(8)])
    assert [[(d["label"], d["bounding_box"]) for d in x] for x in got] == want


def _objects_of(values):
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def blob_model_documents(images):
    model = lkm.from_callable(blob_finder, ["blob"])
    return [[(d.label, d.bounding_box) for d in x.detections] for x in model.predict(images)]


def test_batch_host_copy_of_boxes_labels_scores_gives_the_same_detections(rng):
    """The GPU path's one-copy transfer (forced here on CPU tensors) changes no result."""
    import torch

    from labelkit.models.base import _small_fields_to_host

    h, w = 60, 80
    raw = []
    for n in (3, 0, 2):
        x0 = torch.tensor(rng.uniform(0, 40, n), dtype=torch.float32)
        y0 = torch.tensor(rng.uniform(0, 30, n), dtype=torch.float32)
        boxes = torch.stack([x0, y0, x0 + 20, y0 + 15], dim=1).reshape(-1, 4)
        masks = torch.tensor(rng.random((n, 1, h, w)), dtype=torch.float32)
        raw.append({"boxes": boxes, "labels": torch.tensor([1, 2, 1][:n], dtype=torch.int64), "scores": torch.rand(n), "masks": masks})
    model = lkm.from_callable(lambda ims: raw, classes=["a", "b"], label_offset=1)
    moved = _small_fields_to_host(raw, force=True)
    assert all(isinstance(r["boxes"], np.ndarray) and torch.is_tensor(r["masks"]) for r in moved)
    a = model.postprocess(raw, [(h, w)] * 3)
    b = model.postprocess(moved, [(h, w)] * 3)
    strip = [[{k: v for k, v in d.to_dict().items() if k not in ("_id", "mask")} for d in x.detections] for x in a]
    assert strip == [[{k: v for k, v in d.to_dict().items() if k not in ("_id", "mask")} for d in x.detections]
                     for x in b]
    assert [[d.mask.tobytes() for d in x.detections] for x in a] == [[d.mask.tobytes() for d in x.detections]
                                                                     for x in b]
    assert sum(len(x.detections) for x in a) > 0
