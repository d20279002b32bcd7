"""Benchmark: labelkit ``propose`` vs FiftyOne ``apply_model``, and bulk vs per-sample writes.

Part 1 runs the same proposer on the same images twice:

* ``labelkit.propose`` (threaded decode prefetch, batched inference, bulk writes);
* ``fiftyone.core.models.apply_model`` with the proposer wrapped as a
  ``fiftyone.core.models.Model`` (``FiftyOneModel`` below: ``predict_all`` calls
  the proposer's ``predict_raw`` + ``postprocess``; ``ragged_batches=False`` so
  FiftyOne batches; it decodes with ``fiftyone.utils.image.read`` in the main
  thread and saves through its ``SaveContext``).

It prints images/s and the time split (decode / model / post-process / write).
For apply_model, decode time is measured by wrapping ``fiftyone.utils.image.read``
and "write + other" is the rest.

Part 2 writes N samples x K masks of proposals with ``ReviewStore.write_proposals``
(in chunks of 128, as ``propose`` does) and with a ``sample.save()`` loop.

Targets: non-model overhead of ``propose`` <= 15% of its time; bulk writes
>= 20x faster than the per-sample loop.

Part 3 (``--ray``) runs ``propose`` locally and with ``engine="ray"`` on 1, 2 and 4
model replicas (a local Ray instance with this machine's CPUs), on a few hundred
images (``--ray-repeat`` copies of each file), reports images/s and the time split
(the driver's and the workers' summed), checks that every run wrote the same
proposals, and measures the driver's write ceiling in documents/s, in chunks of
128 (best of 5), two ways on the same proposals: the workers' documents as the
driver gets them now (the final MongoDB documents, unpickled and written with
``ReviewStore.write_proposal_documents``), and the previous wire format (label
dicts with packed-bit masks, rebuilt into ``fo.Detection`` objects and written
with ``ReviewStore.write_proposals``; kept below as ``_labels_encode`` /
``_labels_decode`` for this comparison). ``--ceiling-only`` skips the Ray runs
(one local run makes the proposals).

Part 4 (``--threads``) measures the sample model's images/s with torch using 2
threads and 1 thread, alone and next to a competing 2-thread torch process (a
training job): the OpenMP oversubscription that explains the 0.73 images/s once
recorded for Part 1.

Part 5 (``--decode``) measures ``read_image`` images/s with 1, 2, 4 and 8 decoding
threads at 320x240, 1280x960 and 1920x1080: how fast the CPU side can feed a GPU.

Usage (from the repository root)::

    .venv/bin/python bench/propose.py                      # sample model if built, else random weights
    .venv/bin/python bench/propose.py --model random --repeat 2 --write-samples 2000
    .venv/bin/python bench/propose.py --skip-propose --skip-writes --ray --ray-repeat 5   # Part 3
    .venv/bin/python bench/propose.py --skip-propose --skip-writes --ray --ceiling-only --ray-repeat 10
    .venv/bin/python bench/propose.py --skip-propose --skip-writes --threads              # Part 4
    .venv/bin/python bench/propose.py --skip-propose --skip-writes --decode               # Part 5
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

# An isolated FiftyOne database, before anything imports fiftyone.
_DB_DIR = tempfile.mkdtemp(prefix="labelkit-bench-db-")
os.environ["FIFTYONE_DATABASE_DIR"] = _DB_DIR
os.environ.pop("FIFTYONE_DATABASE_URI", None)
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
os.environ.setdefault("LABELKIT_ANNOTATOR", "bench")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _private_database() -> None:
    """Make FiftyOne start a database of our own in ``_DB_DIR``.

    FiftyOne's ``DatabaseService`` attaches to *any* running FiftyOne database
    service on the machine (it finds them by their ``--51-service db --multi``
    arguments, whatever their database folder), so a temporary
    ``FIFTYONE_DATABASE_DIR`` alone does not isolate a process while someone else
    runs FiftyOne. Start a single-client service instead: never attach, and
    without ``--multi`` nobody attaches to ours (we delete its folder at the end).
    """
    import fiftyone.core.service as fos

    fos.DatabaseService.start = fos.Service.start
    fos.DatabaseService._service_args = property(lambda self: ["--51-service", self.service_name])


def build_model(kind: str, device: str):
    """The sample model, a random-weight compact Mask R-CNN, or a checkpoint path."""
    import labelkit.models as lkm

    if kind == "auto":
        kind = "sample" if (lkm.sample_data_dir() / "models" / "sample_maskrcnn.pt").is_file() else "random"
    if kind == "sample":
        return lkm.sample(device=device), "sample (sample_data/models/sample_maskrcnn.pt)"
    if kind == "random":
        import torch

        from labelkit.models.compact import DEFAULT_ARCH_KWARGS, build_compact_maskrcnn

        torch.manual_seed(0)
        module = build_compact_maskrcnn(4)
        model = lkm.TorchvisionProposer(
            module, [None, "a", "b", "c"], device=device, arch="compact", arch_kwargs=DEFAULT_ARCH_KWARGS
        )
        return model, "compact Mask R-CNN, random weights (sample model not built)"
    return lkm.maskrcnn(weights=kind, device=device), kind


def image_files(folder: str | None) -> list[str]:
    from labelkit.media.image import IMAGE_EXTENSIONS
    from labelkit.models import sample_data_dir

    if folder is None:
        default = sample_data_dir() / "known-val" / "images"
        if default.is_dir():
            folder = str(default)
        else:  # scikit-image photos, written once
            from PIL import Image
            from skimage import data

            out = Path(tempfile.mkdtemp(prefix="labelkit-bench-imgs-"))
            for name in ("astronaut", "coffee", "chelsea", "rocket", "coins", "camera"):
                arr = getattr(data, name)()
                if arr.ndim == 2:
                    arr = np.stack([arr] * 3, axis=2)
                Image.fromarray(arr).resize((320, 240)).save(out / f"{name}.jpg", quality=90)
            folder = str(out)
    files = sorted(str(p) for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise SystemExit(f"no images in {folder}")
    return files


def make_dataset(name: str, files: list[str], repeat: int):
    import fiftyone as fo

    ds = fo.Dataset(name)
    ds.add_samples([fo.Sample(filepath=f) for _ in range(repeat) for f in files], progress=False)
    return ds


def fiftyone_model(proposer, min_confidence: float):
    """The proposer as a FiftyOne ``Model`` for ``apply_model`` (timing model and post-process)."""
    import fiftyone.core.models as fom

    class FiftyOneModel(fom.Model):
        def __init__(self):
            self.timings = {"model": 0.0, "postprocess": 0.0}
            self._preprocess = False

        media_type = property(lambda self: "image")
        ragged_batches = property(lambda self: False)  # a list of HxWx3 arrays is fine
        transforms = property(lambda self: None)

        @property
        def preprocess(self):
            return self._preprocess

        @preprocess.setter
        def preprocess(self, value):
            self._preprocess = value

        def predict(self, arg):
            return self.predict_all([arg])[0]

        def predict_all(self, args):
            images = [np.ascontiguousarray(a) for a in args]
            t0 = time.perf_counter()
            with proposer.inference_context():
                raw = proposer.predict_raw(images, min_confidence)
                proposer.synchronize()
            t1 = time.perf_counter()
            out = proposer.postprocess(raw, [im.shape[:2] for im in images], min_confidence)
            for dets in out:
                for d in dets.detections:
                    d["review"] = None
            self.timings["model"] += t1 - t0
            self.timings["postprocess"] += time.perf_counter() - t1
            return out

    return FiftyOneModel()


def _timed(fn, acc: list):
    """``fn`` that adds its run time to ``acc[0]``."""

    def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            acc[0] += time.perf_counter() - t0

    return wrapper


def bench_propose(args) -> dict:
    import fiftyone.core.models as fom
    import fiftyone.utils.image as foui

    from labelkit.media.image import read_image
    from labelkit.propose.image import propose

    model, model_desc = build_model(args.model, args.device)
    min_conf = args.min_confidence
    if min_conf is None:  # random weights score ~1/num_classes: keep their proposals
        min_conf = 0.05 if "random weights" in model_desc else 0.3
    files = image_files(args.images)
    ds = make_dataset("bench-propose", files, args.repeat)
    n = len(ds)
    bs = args.batch_size or model.batch_size
    print(f"model: {model_desc}; device {model.device}; {n} images ({len(files)} files x {args.repeat}) "
          f"from {Path(files[0]).parent}; batch size {bs}; min_confidence {min_conf}")
    model.predict([read_image(files[0])], min_conf)  # warm-up (lazy init), not timed

    # A-B-B-A rounds, each into a fresh field; the fastest run of each is reported
    # (the shared CPU's load drifts: the same model work takes +-40% between runs).
    order = ["labelkit", "fiftyone"] if not args.fiftyone_first else ["fiftyone", "labelkit"]
    schedule = [order if r % 2 == 0 else order[::-1] for r in range(args.rounds)]
    runs: dict[str, list] = {"labelkit": [], "fiftyone": []}
    for r, pair in enumerate(schedule):
        for which in pair:
            field = f"{'lk' if which == 'labelkit' else 'fo'}{r}"
            if which == "labelkit":
                s = propose(ds, model, field=field, min_confidence=min_conf, batch_size=bs, progress=False,
                            num_workers=args.num_workers)
                runs["labelkit"].append({
                    "seconds": s.seconds, "images": s.images, "proposals": s.proposals,
                    "decode": s.timings["decode"], "model": s.timings["model"],
                    "postprocess": s.timings["postprocess"], "write": s.timings["write"] + s.timings["other"],
                })
            else:
                fmodel = fiftyone_model(model, min_conf)
                read_time = [0.0]
                real_read = foui.read
                fom.foui.read = _timed(real_read, read_time)
                try:
                    t0 = time.perf_counter()
                    fom.apply_model(ds, fmodel, label_field=field, batch_size=bs, progress=False)
                    total = time.perf_counter() - t0
                finally:
                    fom.foui.read = real_read
                props = sum(len(x) for x in ds.values(f"{field}.detections.id"))
                runs["fiftyone"].append({
                    "seconds": total, "images": n, "proposals": props, "decode": read_time[0],
                    "model": fmodel.timings["model"], "postprocess": fmodel.timings["postprocess"],
                    "write": total - read_time[0] - fmodel.timings["model"] - fmodel.timings["postprocess"],
                })
    results = {name: min(rs, key=lambda r: r["seconds"]) for name, rs in runs.items()}
    for name, rs in runs.items():
        print(f"{name} runs: " + ", ".join(f"{r['seconds']:.1f} s (model {r['model']:.1f})" for r in rs))
    print()
    print(f"{'':10} {'images/s':>9} {'total s':>8} {'decode':>8} {'model':>8} {'post':>8} "
          f"{'write+other':>12} {'overhead':>9} {'non-model ms/img':>17} {'proposals':>9}")
    for name, r in results.items():
        r["images_per_s"] = r["images"] / r["seconds"]
        r["overhead"] = 1 - r["model"] / r["seconds"]
        r["non_model_ms_per_image"] = 1000 * (r["seconds"] - r["model"]) / r["images"]
        print(f"{name:10} {r['images_per_s']:9.2f} {r['seconds']:8.2f} {r['decode']:8.2f} {r['model']:8.2f} "
              f"{r['postprocess']:8.2f} {r['write']:12.2f} {100 * r['overhead']:8.1f}% "
              f"{r['non_model_ms_per_image']:17.1f} {r['proposals']:9d}")
    lk, fo_ = results["labelkit"], results["fiftyone"]
    print(f"labelkit / apply_model: {lk['images_per_s'] / fo_['images_per_s']:.2f}x images/s, "
          f"{fo_['non_model_ms_per_image'] / lk['non_model_ms_per_image']:.2f}x less non-model time per image "
          "(on a shared CPU the model time drifts between runs; the non-model time is the fair comparison)")
    print(f"labelkit non-model overhead {100 * lk['overhead']:.1f}% of its time (target <= 15%: "
          f"{'met' if lk['overhead'] <= 0.15 else 'NOT met'})")
    return {"model": model_desc, "images": n, "batch_size": bs, "min_confidence": min_conf, "runs": runs,
            **results}


def _ellipse(h: int, w: int) -> np.ndarray:
    import cv2

    m = np.zeros((h, w), np.uint8)
    cv2.ellipse(m, (w // 2, h // 2), (max(w // 2 - 1, 1), max(h // 2 - 1, 1)), 0, 0, 360, 1, -1)
    return m.astype(bool)


def bench_writes(n: int, k: int, chunk: int = 128, rounds: int = 3, ground_truth: bool = False) -> dict:
    """Each run writes ``predictions`` into a fresh dataset of ``n`` samples, the
    same documents for both methods. With ``ground_truth``, every sample already
    holds a ``ground_truth`` field of ``k`` masks (an imported dataset): a
    ``save()`` loop reads whole documents, so it pays for decoding those too."""
    import fiftyone as fo

    from labelkit.store.image import ReviewStore

    rng = np.random.default_rng(0)
    files = [f"/nonexistent/img{i:05d}.jpg" for i in range(n)]

    def proposals():
        dets = []
        for _ in range(k):
            w, h = (int(v) for v in rng.integers(16, 96, 2))
            x, y = rng.uniform(0, 0.6, 2)
            d = fo.Detection(label="a", bounding_box=[x, y, w / 320, h / 240], mask=_ellipse(h, w),
                             confidence=float(rng.uniform(0.3, 1)))
            d["review"] = None
            dets.append(d)
        return fo.Detections(detections=dets)

    labels = {f: proposals() for f in files}

    gt = {f: proposals() for f in files} if ground_truth else None

    def fresh(name):
        ds = fo.Dataset(name)
        ds.add_samples([fo.Sample(filepath=f) for f in files], progress=False)
        if gt is not None:
            ds.add_sample_field("ground_truth", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
            ds.set_values("ground_truth", [gt[f] for f in ds.values("filepath")])
        return ds

    def bulk(name):
        ds = fresh(name)
        store = ReviewStore.for_proposals(ds, "predictions")
        items = list(zip(ds.values("id"), (labels[f] for f in ds.values("filepath")), strict=True))
        t0 = time.perf_counter()
        for j in range(0, n, chunk):
            store.write_proposals(dict(items[j:j + chunk]))
        return time.perf_counter() - t0, ds

    def set_values(name):  # FiftyOne's own bulk path, with label objects
        ds = fresh(name)
        ds.add_sample_field("predictions", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
        items = list(zip(ds.values("id"), (labels[f] for f in ds.values("filepath")), strict=True))
        t0 = time.perf_counter()
        for j in range(0, n, chunk):
            ds.set_values("predictions", dict(items[j:j + chunk]), key_field="id")
        return time.perf_counter() - t0, ds

    def loop(name):
        ds = fresh(name)
        ds.add_sample_field("predictions", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
        t0 = time.perf_counter()
        for sample in ds.iter_samples():
            sample["predictions"] = labels[sample.filepath]
            sample.save()
        return time.perf_counter() - t0, ds

    # Interleaved rounds, best of each: the shared machine's load drifts within seconds.
    bulk_runs, fo_runs, loop_runs, kept = [], [], [], []
    for r in range(rounds):
        for method, runs in ((bulk, bulk_runs), (set_values, fo_runs), (loop, loop_runs)):
            seconds, ds = method(f"bench-writes-{int(ground_truth)}-{method.__name__}-{r}")
            runs.append(seconds)
            if r == 0 and method is not set_values:
                kept.append(ds)
            else:
                ds.delete()
    t_bulk, t_loop = min(bulk_runs), min(loop_runs)
    same = _same_documents(*kept)
    ratio = t_loop / t_bulk
    print()
    print(f"writes ({'samples already holding ' + str(k) + ' ground-truth masks' if ground_truth else 'empty samples'})"
          f": {n} samples x {k} masks, best of {rounds} interleaved rounds: bulk {t_bulk:.2f} s "
          f"({n / t_bulk:,.0f} samples/s), per-sample save() loop {t_loop:.2f} s ({n / t_loop:,.0f} samples/s)"
          f" -> bulk is {ratio:.1f}x faster (target >= 20x: {'met' if ratio >= 20 else 'NOT met'})")
    print(f"  FiftyOne set_values with label objects (chunks of {chunk}): {min(fo_runs):.2f} s "
          f"({t_loop / min(fo_runs):.1f}x faster than the loop)")
    print(f"  runs: bulk {', '.join(f'{t:.2f}' for t in bulk_runs)} s; set_values "
          f"{', '.join(f'{t:.2f}' for t in fo_runs)} s; loop {', '.join(f'{t:.2f}' for t in loop_runs)} s;"
          f" same documents: {same}")
    return {"samples": n, "masks_per_sample": k, "ground_truth": ground_truth, "bulk_s": t_bulk, "bulk_runs_s": bulk_runs,
            "fo_set_values_s": min(fo_runs), "loop_s": t_loop, "loop_runs_s": loop_runs, "ratio": ratio}


def _same_documents(ds_a, ds_b) -> bool:
    """Whether two datasets' ``predictions`` hold the same documents, sample by
    sample in filepath order (masks compared decoded: the bulk path compresses
    them differently)."""
    from fiftyone.core.utils import deserialize_numpy_array

    def docs(ds):
        out = []
        for d in ds._sample_collection.find({}, {"filepath": 1, "predictions": 1}).sort("filepath", 1):
            dets = []
            for x in d["predictions"]["detections"]:
                x = dict(x)
                x["mask"] = deserialize_numpy_array(x["mask"]).tolist()
                dets.append(x)
            out.append({**d["predictions"], "detections": dets})
        return out

    return docs(ds_a) == docs(ds_b)


def _split(summary) -> dict:
    return {k: round(v, 2) for k, v in summary.timings.items()}


def bench_ray(args) -> dict:
    """Part 3: local vs Ray with 1, 2, 4 replicas on the same images, and the write ceiling."""
    import ray

    from labelkit.propose.image import propose
    from labelkit.propose.ray_engine import decode_documents, encode_documents
    from labelkit.store.image import ReviewStore

    model, model_desc = build_model(args.model, "cpu")
    min_conf = args.min_confidence if args.min_confidence is not None else (
        0.05 if "random weights" in model_desc else 0.3)
    files = image_files(args.images)
    ds = make_dataset("bench-ray", files, args.ray_repeat)
    n = len(ds)
    t0 = time.perf_counter()
    if not args.ceiling_only:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    t_init = time.perf_counter() - t0
    print(f"\nPart 3: {model_desc}; {n} images ({len(files)} files x {args.ray_repeat}); "
          f"ray.init {t_init:.1f} s; {os.cpu_count()} CPU(s)")
    rows = []
    fields = []
    for which in ["local"] + ([] if args.ceiling_only else [f"ray{w}" for w in args.ray_workers]):
        field = f"p_{which}"
        fields.append(field)
        load0 = os.getloadavg()[0]
        if which == "local":
            s = propose(ds, model, field=field, min_confidence=min_conf, progress=False)
        else:
            s = propose(ds, model, field=field, min_confidence=min_conf, progress=False, engine="ray",
                        num_workers=int(which[3:]))
        row = {"run": which, "images": s.images, "seconds": round(s.seconds, 2),
               "images_per_s": round(s.images_per_s, 2), "driver": _split(s),
               "workers": {k: round(v, 2) for k, v in s.worker_timings.items()},
               "cpus_per_worker": s.ray.get("num_cpus_per_worker"), "load": round(load0, 1),
               "proposals": s.proposals}
        rows.append(row)
        print(f"  {which:6} {row['images_per_s']:7.2f} images/s  {row['seconds']:7.1f} s  driver {row['driver']}  "
              f"workers(sum) {row['workers']}  load {row['load']}", flush=True)
    ref = [[(d.label, d.mask.tobytes()) for d in x.detections] for x in ds.values(fields[0])]
    same = all(
        [[(d.label, d.mask.tobytes()) for d in x.detections] for x in ds.values(f)] == ref for f in fields[1:]
    )
    print(f"  same proposals (labels, masks) in every run: {same}")

    # the driver's write ceiling, chunks of 128, best of 5: what arrives from the workers -> database
    values = dict(zip(ds.values("id"), ds.values(fields[0]), strict=True))
    masks = sum(len(d.detections) for d in values.values())
    ceiling = {"documents": len(values), "masks": masks}
    for how, encode, decode, write in (
        ("labels (before)", _labels_encode, _labels_decode, lambda st, chunk: st.write_proposals(chunk)),
        ("documents (now)", encode_documents, decode_documents,
         lambda st, chunk: st.write_proposal_documents(chunk)),
    ):
        t0 = time.perf_counter()
        encoded = {sid: encode(d) for sid, d in values.items()}
        t_encode = time.perf_counter() - t0  # worker side, summed
        best = None
        for r in range(5):
            store = ReviewStore.for_proposals(ds, f"ceiling_{how.split()[0]}{r}")
            items = list(encoded.items())
            t0 = time.perf_counter()
            t_dec = 0.0
            for j in range(0, len(items), 128):
                td = time.perf_counter()
                chunk = {sid: decode(doc) for sid, doc in items[j:j + 128]}
                t_dec += time.perf_counter() - td
                write(store, chunk)
            total = time.perf_counter() - t0
            if best is None or total < best[0]:
                best = (total, t_dec)
        total, t_dec = best
        n = len(encoded)
        ceiling[how] = {"seconds": round(total, 3), "decode_seconds": round(t_dec, 3),
                        "write_seconds": round(total - t_dec, 3), "documents_per_s": round(n / total),
                        "masks_per_s": round(masks / total), "worker_encode_ms_per_doc": round(1000 * t_encode / n, 3),
                        "wire_bytes_per_doc": round(sum(len(b) for b in encoded.values()) / n)}
        c = ceiling[how]
        print(f"  driver write ceiling, {how}: {n} documents ({masks} masks) in {total:.3f} s "
              f"(decode {t_dec:.3f} s, write {total - t_dec:.3f} s) = {c['documents_per_s']:,} documents/s, "
              f"{c['masks_per_s']:,} masks/s; worker encode {c['worker_encode_ms_per_doc']} ms/doc, "
              f"{c['wire_bytes_per_doc']:,} bytes/doc on the wire (best of 5)")
    # what each flush also does: re-read the review state of the samples about to be written
    from labelkit.propose.image import _review_state

    ids = list(values)
    t0 = time.perf_counter()
    for j in range(0, len(ids), 128):
        _review_state(ds, ids[j:j + 128], fields[0], True)
    t_state = time.perf_counter() - t0
    ceiling["review_state_seconds"] = round(t_state, 3)
    print(f"  + the flushes' review-state re-check: {t_state:.3f} s for {len(ids)} samples "
          f"({len(ids) / t_state:,.0f} samples/s; not in the ceilings above)")
    same = _same_fields(ds, "ceiling_labels0", "ceiling_documents0")
    print(f"  both ways stored the same documents: {same}; documents/labels ceiling: "
          f"{ceiling['documents (now)']['documents_per_s'] / ceiling['labels (before)']['documents_per_s']:.1f}x")
    ceiling["same_documents"] = same
    ray.shutdown()
    return {"model": model_desc, "images": n, "ray_init_s": t_init, "runs": rows, "same": same,
            "write_ceiling": ceiling}


def _labels_encode(dets) -> bytes:
    """The Ray workers' previous wire format (before the driver wrote documents):
    FiftyOne's ``to_dict`` per detection, bool masks as packed bits."""
    import pickle

    docs = []
    for det in dets.detections:
        mask = det.mask
        det.mask = None
        doc = det.to_dict()
        det.mask = mask
        if mask is not None:
            mask = np.asarray(mask)
            if mask.dtype == bool:
                doc["mask"] = ("packbits", mask.shape, np.packbits(mask, axis=None).tobytes())
            else:
                doc["mask"] = (mask.dtype.str, mask.shape, np.ascontiguousarray(mask).tobytes())
        docs.append(doc)
    return pickle.dumps(docs, protocol=pickle.HIGHEST_PROTOCOL)


def _labels_decode(data: bytes):
    """:func:`_labels_encode` back into ``fo.Detections`` (what the driver did per image)."""
    import pickle

    import fiftyone as fo

    out = []
    for doc in pickle.loads(data):  # noqa: S301 - our own data
        mask = doc.pop("mask", None)
        det = fo.Detection.from_dict(doc)
        if mask is not None:
            kind, shape, raw = mask
            if kind == "packbits":
                n = int(np.prod(shape))
                det.mask = np.unpackbits(np.frombuffer(raw, np.uint8), count=n).astype(bool).reshape(shape)
            else:
                det.mask = np.frombuffer(raw, np.dtype(kind)).reshape(shape).copy()
        out.append(det)
    return fo.Detections(detections=out)


def _same_fields(ds, a: str, b: str) -> bool:
    """Whether two fields hold the same documents in every sample (masks compared decoded)."""
    from fiftyone.core.utils import deserialize_numpy_array

    def norm(doc):
        return [{**x, "mask": deserialize_numpy_array(x["mask"]).tolist() if x.get("mask") else None}
                for x in (doc or {}).get("detections", [])]

    return all(norm(d.get(a)) == norm(d.get(b)) for d in ds._sample_collection.find({}, {a: 1, b: 1}))


_HOG = """import time, torch
torch.set_num_threads(2)
a = torch.rand(256, 256)
t = time.time()
while time.time() - t < {seconds}:
    a @ a
"""


def bench_threads(args) -> dict:
    """Part 4: torch threads vs a competing 2-thread torch process (OpenMP oversubscription)."""
    import subprocess

    import torch

    from labelkit.media.image import read_image

    model, model_desc = build_model(args.model, "cpu")
    ims = [read_image(f) for f in image_files(args.images)[:20]]
    model.predict([ims[0]], 0.3)  # warm-up

    def rate(threads: int) -> float:
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        for im in ims:
            model.predict([im], 0.3)
        return round(len(ims) / (time.perf_counter() - t0), 2)

    out = {"model": model_desc, "images": len(ims), "alone": {}, "next_to_2_thread_torch_job": {}}
    out["alone"] = {"load": round(os.getloadavg()[0], 1), "2 threads": rate(2), "1 thread": rate(1)}
    hog = subprocess.Popen([sys.executable, "-c", _HOG.format(seconds=60)])
    try:
        time.sleep(2)
        out["next_to_2_thread_torch_job"] = {"2 threads": rate(2), "1 thread": rate(1)}
    finally:
        hog.kill()
        hog.wait()
        torch.set_num_threads(os.cpu_count() or 1)
    print(f"\nPart 4: {model_desc}, {len(ims)} images, batch 1 (images/s): alone {out['alone']}; "
          f"next to a 2-thread torch process {out['next_to_2_thread_torch_job']}")
    return out


def bench_decode(args) -> dict:
    """Part 5: how many images/s ``read_image`` decodes with 1, 2, 4, 8 threads (the
    local path's decoding pool), at 320x240 (the sample data) and at 1280x960 and
    1920x1080 (JPEG q90, written from scikit-image's astronaut photo): the rate a
    GPU replica can be fed at per CPU core."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image
    from skimage import data

    from labelkit.media.image import read_image

    out_dir = Path(tempfile.mkdtemp(prefix="labelkit-bench-decode-"))
    photo = Image.fromarray(data.astronaut())
    sets = {"320x240": image_files(args.images)[:60]}
    for w, h in ((1280, 960), (1920, 1080)):
        paths = []
        for i in range(24):
            p = out_dir / f"{w}x{h}_{i}.jpg"
            photo.resize((w + i, h)).save(p, quality=90)  # distinct files: no page-cache tricks on one
            paths.append(str(p))
        sets[f"{w}x{h}"] = paths
    res: dict = {"load": round(os.getloadavg()[0], 1)}
    for name, paths in sets.items():
        for p in paths:
            read_image(p)  # warm the page cache: decoding, not disk, is measured
        row = {}
        for threads in (1, 2, 4, 8):
            with ThreadPoolExecutor(threads) as pool:
                t0 = time.perf_counter()
                reps = 3
                for _ in range(reps):
                    list(pool.map(read_image, paths))
                row[f"{threads} threads"] = round(reps * len(paths) / (time.perf_counter() - t0), 1)
        res[name] = row
        print(f"  decode {name}: images/s {row}", flush=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    print(f"\nPart 5 (decode rate, {os.cpu_count()} CPU(s), load {res['load']}): {res}")
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="auto", help="auto | sample | random | PATH (default: sample if built)")
    p.add_argument("--images", default=None, help="image folder (default: sample_data/known-val/images)")
    p.add_argument("--repeat", type=int, default=1, help="use every image this many times")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--num-workers", type=int, default=None)
    p.add_argument("--min-confidence", type=float, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--fiftyone-first", action="store_true", help="start with apply_model")
    p.add_argument("--rounds", type=int, default=2, help="propose/apply_model rounds, A-B then B-A (best of)")
    p.add_argument("--write-samples", type=int, default=2000)
    p.add_argument("--masks", type=int, default=10)
    p.add_argument("--write-rounds", type=int, default=3, help="interleaved bulk/loop rounds (best of)")
    p.add_argument("--skip-propose", action="store_true")
    p.add_argument("--skip-writes", action="store_true")
    p.add_argument("--ray", action="store_true", help="Part 3: local vs engine='ray' with 1, 2, 4 workers")
    p.add_argument("--ray-repeat", type=int, default=5, help="Part 3: copies of each image (60 files x 5 = 300)")
    p.add_argument("--ray-workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--ceiling-only", action="store_true",
                   help="Part 3: only the local run and the driver's write ceiling (no Ray runs)")
    p.add_argument("--threads", action="store_true", help="Part 4: torch threads vs a competing torch job")
    p.add_argument("--decode", action="store_true", help="Part 5: read_image images/s with 1-8 threads")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)

    _private_database()
    import torch

    print(f"labelkit bench/propose.py | python {platform.python_version()} | torch {torch.__version__} | "
          f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} | "
          f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
    out = {}
    try:
        if not args.skip_propose:
            out["propose"] = bench_propose(args)
        if not args.skip_writes:
            out["writes"] = [
            bench_writes(args.write_samples, args.masks, rounds=args.write_rounds, ground_truth=gt)
            for gt in (False, True)
        ]
        if args.ray:
            out["ray"] = bench_ray(args)
        if args.threads:
            out["threads"] = bench_threads(args)
        if args.decode:
            out["decode"] = bench_decode(args)
    finally:
        _stop_database()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def _stop_database() -> None:
    """Stop this run's MongoDB, then delete its temporary folder."""
    try:
        import fiftyone.core.odm.database as fod

        fod._disconnect()
        service = fod._db_service
        if service is not None and service.child is not None:
            child = service.child
            service.stop()
            child.wait(timeout=60)
    except Exception as exc:  # noqa: BLE001 - best effort
        print(f"(could not stop the benchmark database cleanly: {exc})", file=sys.stderr)
    shutil.rmtree(_DB_DIR, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
