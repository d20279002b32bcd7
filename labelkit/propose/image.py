"""Batch pre-labeling: run a proposer over a FiftyOne collection.

The pipeline (one call of :func:`propose`):

1. pick the samples to do: those whose proposals field is empty (all
   unreviewed ones with ``overwrite=True``); reviewed samples are never touched;
2. a thread pool decodes images with :func:`labelkit.media.image.read_image`,
   prefetching a few batches ahead of the model;
3. the model runs batch by batch (``torch.inference_mode``), then masks are
   thresholded and cropped to their boxes (on a GPU: there, with two host copies
   per batch; the batch size chosen for the GPU memory, ``batch_size="auto"``);
4. results are written in bulk every ``write_every`` samples through
   :meth:`labelkit.store.ReviewStore.write_proposals` (FiftyOne ``set_values``),
   so an interrupted run keeps what it wrote and a re-run resumes from there.

An image that cannot be read is skipped, its reason stored in the sample field
``propose_error`` and in the summary; the run goes on.

With ``engine="ray"`` steps 2-3 run on Ray instead (decoding in Ray tasks,
inference in an actor pool of model replicas, see :mod:`labelkit.propose.ray_engine`);
steps 1 and 4 stay on the driver, so the guarantees are the same. The replicas send
back the final database documents, which the driver writes as they are
(:meth:`labelkit.store.image.ReviewStore.write_proposal_documents`).
"""

from __future__ import annotations

import logging
import numbers
import os
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .._summary import escape
from ..errors import EngineError, SchemaError
from ..models.batching import AUTO
from ._engine import (
    ERROR_FIELD,
    RunSummary,
    _check_model,
    _describe,
    _read,
    detail_lines,
    run_batch,
)

logger = logging.getLogger("labelkit")


@dataclass(repr=False)
class ProposeSummary(RunSummary):
    """What :func:`propose` did.

    Attributes:
        field: the proposals field written.
        model: a short description of the proposer.
        total: samples in the collection.
        images: images proposed for (and written) by this run.
        proposals: detections written.
        per_class: class name -> detections written.
        skipped_reviewed: samples left alone because they are reviewed
            (``review_status`` done/skipped, or a proposal with a ``review``).
        skipped_existing: samples that already had proposals (``overwrite=False``).
        failed: image path -> reason, for images that could not be read.
        seconds: wall time of the whole call.
        timings: seconds per phase: ``decode`` (waiting for decoded images, i.e.
            decoding not hidden behind the model), ``model``, ``postprocess``
            (mask thresholding/cropping, building labels), ``write`` (database),
            ``other`` (queries, bookkeeping).
        decode_cpu_seconds: total decoding time in the worker threads (mostly
            overlapped with the model).
        batch_size: images per model call (the one chosen for the GPU memory with
            ``batch_size="auto"``; ``engine="ray"`` with GPU replicas choosing their
            own: images per Ray batch).
        num_workers: decoding threads (``engine="ray"``: model replicas).
        engine: ``"local"`` or ``"ray"``.
        worker_timings: ``engine="ray"`` only: the workers' seconds per phase
            (``decode``, ``model``, ``postprocess``, ``encode``), summed over all
            workers (they overlap in time). ``timings`` then splits the driver's
            wait for results into decode/model/postprocess in these proportions.
        ray: ``engine="ray"`` only: the layout (replicas, CPUs and GPUs each, the
            cluster's resources, ``auto_batch``: whether the replicas choose their
            batch size for their GPU).
    """

    total: int = 0
    images: int = 0
    decode_cpu_seconds: float = 0.0
    num_workers: int = 0
    engine: str = "local"
    worker_timings: dict[str, float] = field(default_factory=dict)
    ray: dict = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        """Images proposed per second of wall time (0 when nothing was done)."""
        return self.images / self.seconds if self.seconds > 0 and self.images else 0.0

    @property
    def overhead_fraction(self) -> float:
        """Share of the wall time not spent in the model (decode wait, post-process, writes...)."""
        if self.seconds <= 0:
            return 0.0
        return max(0.0, 1.0 - self.timings.get("model", 0.0) / self.seconds)

    def _lines(self) -> list[str]:
        lines = [
            f"propose -> '{self.field}' ({self.model}): {self.images} image(s), "
            f"{self.proposals} proposal(s) in {self.seconds:.1f} s ({self.images_per_s:.2f} images/s)",
            f"  skipped: {self.skipped_reviewed} reviewed, {self.skipped_existing} already proposed; "
            f"failed: {len(self.failed)}",
        ]
        if self.engine != "local":
            lines.append(f"  engine: {self.engine}, {self.num_workers} worker(s)")
        return lines + detail_lines(self.per_class, self.timings, self.seconds, self.failed)

    def _repr_html_(self) -> str:
        head = escape(self._lines()[0])
        rows = [
            ("images proposed", self.images),
            ("proposals", self.proposals),
            ("skipped (reviewed)", self.skipped_reviewed),
            ("skipped (already proposed)", self.skipped_existing),
            ("failed", len(self.failed)),
            ("images/s", f"{self.images_per_s:.2f}"),
        ]
        rows += [(f"time: {k}", f"{v:.2f} s") for k, v in self.timings.items()]
        body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
        classes = "".join(
            f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
            for k, v in sorted(self.per_class.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        fails = "".join(
            f"<tr><td><code>{escape(p)}</code></td><td>{escape(r)}</td></tr>"
            for p, r in self.failed.items()
        )
        out = f"<div><b>{head}</b><table>{body}</table>"
        if classes:
            out += f"<table><tr><th>class</th><th>proposals</th></tr>{classes}</table>"
        if fails:
            out += f"<table><tr><th>failed image</th><th>reason</th></tr>{fails}</table>"
        return out + "</div>"


def _review_state(dataset, ids: Sequence[str], field: str, has_field: bool) -> dict[str, tuple[bool, bool]]:
    """sample id -> (reviewed, has proposals), read from the dataset itself (a
    filtered view could hide reviewed proposals)."""
    if not ids:
        return {}
    view = dataset.select(list(ids))
    if has_field:
        got_ids, statuses, reviews = view.values(["id", "review_status", f"{field}.detections.review"])
    else:
        got_ids, statuses = view.values(["id", "review_status"])
        reviews = [None] * len(got_ids)
    out = {}
    for i, s, r in zip(got_ids, statuses, reviews, strict=True):
        reviewed = s in ("done", "skipped") or any(v is not None for v in (r or []))
        out[i] = (reviewed, r is not None)
    return out


def propose(
    samples,
    model,
    field: str = "predictions",
    min_confidence: float = 0.3,
    batch_size: int | str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    num_workers: int | None = None,
    write_every: int = 128,
    confidence: float | None = None,
    engine: str = "local",
    num_gpus_per_worker: float | None = None,
    num_cpus_per_worker: float | None = None,
    address: str | None = None,
    **video_options,
) -> ProposeSummary:
    """Pre-label a FiftyOne collection with a proposer.

    Only samples whose ``field`` is empty are processed, so re-running after an
    interruption resumes where it stopped and never duplicates proposals.
    Reviewed samples (``review_status`` "done"/"skipped", or any proposal with a
    ``review``) are never overwritten, not even with ``overwrite=True``.

    Args:
        samples: a ``fo.Dataset``, a view of one, or a dataset name.
        model: a proposer (``lk.models.maskrcnn()``, ``lk.models.sample()``,
            ``lk.models.from_callable(...)``, or any object with ``classes`` and
            ``predict(images) -> list[fo.Detections]``). With ``engine="ray"``
            also a spec such as ``("sample",)``, ``("maskrcnn", weights)`` or
            ``("checkpoint", path)`` (:mod:`labelkit.models.spec`), built on the
            workers only.
        field: the ``fo.Detections`` field to write proposals to.
        min_confidence: drop proposals scoring below this.
        batch_size: images per model call: an int, ``"auto"`` or None (default).
            ``"auto"``: on a CUDA proposer that can measure itself
            (:meth:`~labelkit.models.TorchvisionProposer.choose_batch_size`), the
            largest batch that fits the free GPU memory (one probe pass on the
            first image, a 25% margin, at most 32; halved if the GPU still runs
            out of memory); elsewhere (CPU) the proposer's ``batch_size``. None:
            ``"auto"`` for torchvision proposers built on CUDA without a
            ``batch_size`` (``model.auto_batch``), else the proposer's
            ``batch_size``, else 4. With ``engine="ray"`` and GPU replicas, None
            also means ``"auto"``: each replica chooses for its own GPU.
        overwrite: also redo unreviewed samples that already have proposals.
        progress: show a progress bar (``tqdm.auto``: a widget in notebooks).
        num_workers: image-decoding threads (default: CPU count, at most 8);
            with ``engine="ray"``: model replicas (default: one per GPU, else
            one per two CPUs of the cluster).
        write_every: samples per bulk database write.
        confidence: alias of ``min_confidence``.
        engine: ``"local"`` (this process: decoding threads + the model) or
            ``"ray"`` (decoding in Ray tasks, inference in ``num_workers`` actors,
            writes from this process; see :mod:`labelkit.propose.ray_engine`).
        num_gpus_per_worker: ``engine="ray"``: GPUs each replica reserves (default:
            1 when the cluster has GPUs, else 0; fractions share a GPU).
        num_cpus_per_worker: ``engine="ray"``: CPUs each replica reserves, also its
            torch threads (default 1, less on a small local machine).
        address: ``engine="ray"``: the cluster (``"ray://head:10001"``, ``"auto"``);
            default ``RAY_ADDRESS``, else the running Ray, else a new local one.
        **video_options: for video collections only, passed to
            :func:`labelkit.propose.video.propose_video` (``every``, ``frames``).

    Video collections are proposed frame by frame (``field`` is a frame field such
    as ``"frames.predictions"``), see :func:`labelkit.propose.video.propose_video`;
    the summary is then a ``VideoProposeSummary``.

    Returns:
        a :class:`ProposeSummary` (counts, failures, per-class counts, timings).

    Raises:
        EngineError: a bad ``engine`` / ``num_workers`` / ``num_gpus_per_worker`` /
            ``address`` / ``batch_size`` (checked before anything is read or written).

    Each written ``fo.Detection`` has ``label``, ``confidence``, relative
    ``bounding_box``, ``mask`` (cropped to the box) and ``review=None``.

    Example:
        >>> summary = lk.propose(ds, lk.models.sample(), min_confidence=0.3)  # doctest: +SKIP
        >>> summary.images, summary.failed  # doctest: +SKIP
        (60, {})
    """
    from tqdm.auto import tqdm

    from ..store.image import ReviewStore

    t_start = time.perf_counter()
    if confidence is not None:
        min_confidence = confidence
    from .ray_engine import check_options

    check_options(engine, num_workers, num_gpus_per_worker, num_cpus_per_worker, address)
    _check_batch_size(batch_size)
    is_spec = engine == "ray" and isinstance(model, (tuple, list))
    if not is_spec:
        _check_model(model)
    payload = None
    if engine == "ray":  # a malformed spec or an unpicklable proposer fails here, before any write
        from .ray_engine import proposer_payload

        payload = proposer_payload(model)
    if write_every < 1:
        raise ValueError(f"write_every must be >= 1, got {write_every}")
    from ..store.dataset import is_video_collection
    from .video import propose_video

    if is_video_collection(samples):  # frame by frame: labelkit.propose.video
        if engine != "local":
            raise EngineError(
                f"engine={engine!r} proposes image collections; this one holds videos: "
                "use engine='local' (frame by frame)"
            )
        return propose_video(
            samples, model, field=field, min_confidence=min_confidence,
            batch_size=None if batch_size == AUTO else batch_size,
            overwrite=overwrite, progress=progress, write_every=write_every, **video_options,
        )
    if video_options:
        raise TypeError(f"propose() got video-only options {sorted(video_options)} for an image collection")
    media_type = getattr(samples, "media_type", None)
    if media_type not in (None, "image"):
        raise SchemaError(
            f"'{samples.name}' holds {media_type} samples; propose() labels images and videos"
        )
    store = ReviewStore.for_proposals(samples, field)
    coll, dataset = store.samples, store.dataset
    default_bs = (model[-1].get("batch_size") if model and isinstance(model[-1], dict) else None) if is_spec \
        else getattr(model, "batch_size", None)
    asked = batch_size
    # local "auto": chosen on the first image when the proposer runs on CUDA and can measure itself
    auto = engine == "local" and _can_choose(model) and (
        asked == AUTO or (asked is None and getattr(model, "auto_batch", False) is True))
    batch_size = int(default_bs or 4) if asked in (None, AUTO) else int(asked)
    workers = int(num_workers or min(8, os.cpu_count() or 1))
    desc = f"spec {tuple(model)!r}" if is_spec else _describe(model)
    summary = ProposeSummary(field=field, model=desc, batch_size=batch_size, num_workers=workers, engine=engine)
    timings = summary.timings
    per_class: Counter = Counter()

    ids, paths = coll.values(["id", "filepath"]) if len(coll) else ([], [])
    summary.total = len(ids)
    state = _review_state(dataset, ids, field, True)
    has_err_field = ERROR_FIELD in dataset.get_field_schema()
    prev_err = dict(zip(*dataset.select(ids).values(["id", ERROR_FIELD]), strict=True)) if ids and has_err_field else {}
    todo: list[tuple[str, str]] = []
    for sid, path in zip(ids, paths, strict=True):
        reviewed, has_props = state.get(sid, (False, False))
        if reviewed:
            summary.skipped_reviewed += 1
        elif has_props and not overwrite:
            summary.skipped_existing += 1
        else:
            todo.append((sid, path))

    pending: dict[str, object] = {}  # sample id -> fo.Detections (local) or documents (ray)
    errors: dict[str, str] = {}

    def flush() -> None:
        if not pending and not errors:
            return
        t0 = time.perf_counter()
        now = _review_state(dataset, list(pending), field, True)
        values = {}
        for sid, dets in pending.items():
            reviewed, has_props = now.get(sid, (False, False))
            if reviewed:  # reviewed while we were running: leave it alone
                summary.skipped_reviewed += 1
                continue
            if has_props and not overwrite:  # written meanwhile (another run)
                summary.skipped_existing += 1
                continue
            values[sid] = dets
        if engine == "ray":  # the workers' final documents: written as they are
            store.write_proposal_documents(values, field=field)
            labels = [d.get("label") for docs in values.values() for d in docs]
        else:
            store.write_proposals(values, field=field)
            labels = [d.label for dets in values.values() for d in dets.detections]
        err_values = dict(errors)
        err_values.update({sid: None for sid in values if prev_err.get(sid)})
        if err_values:
            store.write_proposals(err_values, field=ERROR_FIELD)
        summary.proposals += len(labels)
        per_class.update(labels)
        summary.images += len(values)
        pending.clear()
        errors.clear()
        timings["write"] += time.perf_counter() - t0

    if engine == "ray":  # decode + model on Ray; selection and writes stay here
        _ray_loop(todo, payload, summary, pending, errors, flush, progress=progress, field=field,
                  min_confidence=min_confidence, batch_size=batch_size, asked_batch_size=asked,
                  write_every=write_every, num_workers=num_workers, num_gpus_per_worker=num_gpus_per_worker,
                  num_cpus_per_worker=num_cpus_per_worker, address=address)
        return _finish(summary, per_class, t_start)
    bar = tqdm(total=len(todo), disable=not progress, unit="img", desc=f"propose -> {field}", leave=True)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labelkit-decode")
    queue: deque = deque()
    items = iter(todo)
    max_ahead = max(3 * batch_size, 2 * workers)
    ok = False
    try:
        while True:
            batch: list[tuple[str, str, object]] = []
            while len(batch) < batch_size:
                while len(queue) < max_ahead:
                    item = next(items, None)
                    if item is None:
                        break
                    queue.append((item, pool.submit(_read, item[1])))
                if not queue:
                    break
                (sid, path), fut = queue.popleft()
                t0 = time.perf_counter()
                img, reason, dt = fut.result()
                timings["decode"] += time.perf_counter() - t0
                summary.decode_cpu_seconds += dt
                if img is None:
                    summary.failed[path] = reason
                    errors[sid] = reason
                    logger.warning("labelkit: propose skipped '%s': %s", path, reason)
                    bar.update(1)
                    continue
                if auto:  # the first image: one probe pass sizes the batches for the GPU memory
                    auto = False
                    batch_size = summary.batch_size = int(model.choose_batch_size(img, min_confidence))
                    max_ahead = max(3 * batch_size, 2 * workers)
                batch.append((sid, path, img))
            if not batch:
                break
            results = run_batch(model, [b[2] for b in batch], min_confidence, timings)
            for (sid, _path, _img), dets in zip(batch, results, strict=True):
                pending[sid] = dets
            bar.update(len(batch))
            if len(pending) + len(errors) >= write_every:
                flush()
        ok = True
    finally:
        for _item, fut in queue:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        if ok:
            flush()
        else:  # keep what is done; the original error is the one to report
            try:
                flush()
            except Exception:  # noqa: BLE001
                logger.exception("labelkit: could not save the last proposals after an error")
    return _finish(summary, per_class, t_start)


def _check_batch_size(batch_size) -> None:
    """Refuse a ``batch_size`` that is not None, ``"auto"`` or an int >= 1."""
    if batch_size is None or batch_size == AUTO:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise EngineError(
            f"batch_size={batch_size!r} must be an int >= 1, 'auto' (the largest batch that fits the "
            "GPU memory; the proposer's own on CPU) or None (the proposer's default)"
        )


def _can_choose(model) -> bool:
    """Whether ``model`` can size its batches for its GPU (a CUDA proposer with
    ``choose_batch_size``); on CPU ``"auto"`` keeps the proposer's ``batch_size``."""
    return callable(getattr(model, "choose_batch_size", None)) and str(
        getattr(model, "device", "cpu")).startswith("cuda")


def _finish(summary: ProposeSummary, per_class: Counter, t_start: float) -> ProposeSummary:
    timings = summary.timings
    summary.per_class = dict(per_class)
    summary.seconds = time.perf_counter() - t_start
    timings["other"] = max(0.0, summary.seconds - sum(v for k, v in timings.items() if k != "other"))
    return summary


def _ray_loop(todo, payload: tuple, summary: ProposeSummary, pending: dict, errors: dict, flush, *, progress: bool,
              field: str, min_confidence: float, batch_size: int, asked_batch_size, write_every: int,
              num_workers, num_gpus_per_worker, num_cpus_per_worker, address) -> None:
    """The middle of :func:`propose` on Ray (:mod:`.ray_engine`): results come back
    as the final database documents, are unpickled here and written through
    ``flush`` as they are. The driver's wait for results is split into
    decode/model/postprocess in the proportions of the workers' own times;
    unpickling the documents counts as postprocess. ``asked_batch_size`` "auto"
    (or None) with GPU replicas: Ray batches of ``AUTO_BLOCK`` images, each replica
    sizing its model batches for its GPU."""
    from tqdm.auto import tqdm

    from . import ray_engine

    if not todo:
        return
    layout = ray_engine.plan(num_workers, num_gpus_per_worker, num_cpus_per_worker, address)
    auto = layout.num_gpus_per_worker > 0 and asked_batch_size in (None, AUTO)
    if auto:
        batch_size = summary.batch_size = ray_engine.AUTO_BLOCK
    summary.num_workers = layout.num_workers
    summary.ray = {"num_workers": layout.num_workers, "num_gpus_per_worker": layout.num_gpus_per_worker,
                   "num_cpus_per_worker": layout.num_cpus_per_worker, "cluster": layout.cluster,
                   "started_ray": layout.started_ray, "auto_batch": auto}
    worker = summary.worker_timings = dict.fromkeys(ray_engine._WORKER_PHASES, 0.0)
    timings = summary.timings
    bar = tqdm(total=len(todo), disable=not progress, unit="img", desc=f"propose -> {field}", leave=True)
    wait = 0.0
    ok = False
    try:
        results = ray_engine.iter_results(todo, payload, layout, min_confidence=min_confidence,
                                          batch_size=batch_size, worker_timings=worker, auto_batch=auto)
        while True:
            t0 = time.perf_counter()
            chunk = next(results, None)
            wait += time.perf_counter() - t0
            if chunk is None:
                break
            t0 = time.perf_counter()
            for r in chunk:
                if r.doc is None:
                    summary.failed[r.path] = r.reason
                    errors[r.sample_id] = r.reason
                    logger.warning("labelkit: propose skipped '%s': %s", r.path, r.reason)
                else:
                    pending[r.sample_id] = ray_engine.decode_documents(r.doc)
            timings["postprocess"] += time.perf_counter() - t0
            bar.update(len(chunk))
            if len(pending) + len(errors) >= write_every:
                flush()
        ok = True
    finally:
        bar.close()
        if ok:
            flush()
        else:  # keep what is done; the original error is the one to report
            try:
                flush()
            except Exception:  # noqa: BLE001
                logger.exception("labelkit: could not save the last proposals after an error")
        summary.decode_cpu_seconds = worker["decode"]
        busy = sum(worker.values())
        if busy > 0:
            timings["decode"] += wait * worker["decode"] / busy
            timings["model"] += wait * worker["model"] / busy
            timings["postprocess"] += wait * (worker["postprocess"] + worker["encode"]) / busy
        else:
            timings["model"] += wait
