"""Pre-label the frames of FiftyOne video datasets with a proposer.

``lk.propose(video_ds, model, field="frames.predictions")`` lands here (see
:func:`propose_video`). The pipeline:

1. pick the frames to do: frames ``1..total_frame_count`` of every video
   (optionally every ``every``-th frame, or the frame numbers given), minus
   *reviewed* frames (never touched, not even with ``overwrite=True``) and frames
   that already have proposals (unless ``overwrite=True``);
2. a background thread decodes each video once, sequentially, with OpenCV
   (unwanted frames are skipped with ``grab()``), a bounded queue ahead of the model;
3. the model runs on batches of ``batch_size`` frames, batched *across* frames (and
   across videos);
4. results are written in bulk every ``write_every`` frames through
   :func:`labelkit.store.video.write_frame_proposals` (one ``set_values`` keyed by
   sample and frame number), so an interrupted run keeps what it wrote and a re-run
   resumes from there.

A frame is *reviewed* when its ``review_status`` frame field is "done"/"skipped"
or one of its proposals has a ``review``. A frame that has proposals and a label
with ``keyframe=True`` in any ``fo.Detections`` frame field (a person's decision)
is reviewed too: its proposals are kept even with ``overwrite=True`` (a frame
without proposals gets them: a new proposals field overwrites nothing).

A video that cannot be opened, or that ends before its metadata says, is reported
in the summary with the reason (frames decoded before the problem are kept), and
its reason is stored in the sample field ``propose_error``; the run goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import LabelkitError, SchemaError
from ._engine import RunSummary, detail_lines

logger = logging.getLogger("labelkit")




@dataclass(repr=False)
class VideoProposeSummary(RunSummary):
    """What :func:`propose_video` did.

    Attributes:
        field: the frame field written, ``"frames.<name>"``.
        model: a short description of the proposer.
        videos: videos in the collection.
        total_frames: frames selected (all frames, or those picked by ``every``/``frames``).
        frames: frames proposed for and written by this run.
        proposals: detections written.
        per_class: class name -> detections written.
        skipped_reviewed: frames left alone because they are reviewed.
        skipped_existing: frames that already had proposals (``overwrite=False``).
        failed: video path -> reason, for videos that could not be (fully) read.
        seconds: wall time of the whole call.
        timings: seconds per phase: ``decode`` (waiting for decoded frames),
            ``model``, ``postprocess``, ``write``, ``other``.
        batch_size: frames per model call.
    """

    videos: int = 0
    total_frames: int = 0
    frames: int = 0

    @property
    def frames_per_s(self) -> float:
        """Frames proposed per second of wall time (0 when nothing was done)."""
        return self.frames / self.seconds if self.seconds > 0 and self.frames else 0.0

    def _lines(self) -> list[str]:
        lines = [
            f"propose -> '{self.field}' ({self.model}): {self.frames} frame(s) of {self.videos} "
            f"video(s), {self.proposals} proposal(s) in {self.seconds:.1f} s "
            f"({self.frames_per_s:.2f} frames/s)",
            f"  skipped frames: {self.skipped_reviewed} reviewed, {self.skipped_existing} already "
            f"proposed; failed videos: {len(self.failed)}",
        ]
        return lines + detail_lines(self.per_class, self.timings, self.seconds, self.failed)


def _select_frames(count: int, every: int, frames: Iterable[int] | None) -> list[int]:
    if frames is not None:
        return sorted({int(f) for f in frames if 1 <= int(f) <= count})
    return list(range(1, count + 1, every))


def _frame_state(dataset, sids: Sequence[str], name: str) -> dict[str, dict[int, tuple[bool, bool]]]:
    """sample id -> frame number -> (reviewed, has proposals), read from the dataset."""
    if not sids:
        return {}
    import fiftyone as fo

    schema = dataset.get_frame_field_schema() or {}
    paths = ["id", "frames.frame_number"]
    if "review_status" in schema:
        paths.append("frames.review_status")
    has_props = name in schema
    if has_props:
        paths.append(f"frames.{name}.detections.review")
    # keyframe labels in any Detections frame field (declared or not) mark a reviewed frame
    keyed = [f for f, v in schema.items() if getattr(v, "document_type", None) is fo.Detections and f != name]
    paths += [f"frames.{f}.detections.keyframe" for f in keyed]
    got = dataset.select(list(sids)).values(paths)
    out: dict[str, dict[int, tuple[bool, bool]]] = {}
    for row in zip(*got, strict=True):
        sid, fns = row[0], row[1] or []
        cols = list(row[2:])
        status = cols.pop(0) if "review_status" in schema else [None] * len(fns)
        reviews = cols.pop(0) if has_props else [None] * len(fns)
        keys = cols
        state = {}
        for j, fn in enumerate(fns):
            r = (reviews or [None] * len(fns))[j]
            reviewed = (status or [None] * len(fns))[j] in ("done", "skipped")
            reviewed = reviewed or any(v is not None for v in (r or []))
            if r is not None and not reviewed:  # keyframes protect the proposals they came from
                reviewed = any(any(v is True for v in (k[j] or [])) for k in keys if k)
            state[fn] = (reviewed, r is not None)
        out[sid] = state
    return out


_DONE = object()


def _decoder(jobs: list[tuple[str, str, list[int]]], out: queue.Queue, stop: threading.Event) -> None:
    """Thread body: decode the wanted frames of each video, in order, into ``out``:
    ``("frame", sid, path, fn, rgb)``, ``("fail", sid, path, reason)``, then ``_DONE``."""
    from ..media.video import iter_frames

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for sid, path, fns in jobs:
            got = 0
            try:
                for fn, rgb in iter_frames(path, set(fns)):
                    if not put(("frame", sid, path, fn, rgb)):
                        return
                    got += 1
            except LabelkitError as exc:
                reason = str(exc).replace(f"video '{path}' ", "").strip() or str(exc)
                if not put(("fail", sid, path, reason)):
                    return
                continue
            except Exception as exc:  # noqa: BLE001 - one bad video must not stop the others
                if not put(("fail", sid, path, f"cannot be decoded ({type(exc).__name__}: {exc})")):
                    return
                continue
            if got < len(fns):
                reason = (
                    f"decoded {got} of {len(fns)} wanted frame(s); frames from {fns[got]} on could "
                    "not be read (truncated or corrupt file, or wrong frame count in the metadata)"
                )
                if not put(("fail", sid, path, reason)):
                    return
    finally:
        put(_DONE)


def propose_video(
    samples,
    model,
    field: str = "frames.predictions",
    min_confidence: float = 0.3,
    batch_size: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    write_every: int = 128,
    every: int = 1,
    frames: Iterable[int] | None = None,
) -> VideoProposeSummary:
    """Pre-label the frames of a video collection with a proposer, frame by frame.

    Only frames whose ``field`` is empty are processed (re-running resumes and
    never duplicates); reviewed frames (see the module docstring) are never
    overwritten, not even with ``overwrite=True``.

    Args:
        samples: a video ``fo.Dataset``, a view of one, or a dataset name.
        model: a proposer (``classes`` and ``predict(images) -> list[fo.Detections]``).
        field: the frame field to write, ``"frames.<name>"`` (a bare name means the
            frame field of that name).
        min_confidence: drop proposals scoring below this.
        batch_size: frames per model call (default: the proposer's ``batch_size``,
            else 4); a batch can hold frames of several videos.
        overwrite: also redo unreviewed frames that already have proposals.
        progress: show a progress bar (``tqdm.auto``), counting frames.
        write_every: frames per bulk database write.
        every: propose on frames ``1, 1 + every, 1 + 2 * every, ...`` only (e.g. the
            frames you will review as keyframes).
        frames: explicit 1-based frame numbers to propose on (overrides ``every``).

    Returns:
        a :class:`VideoProposeSummary` (frames, proposals per class, seconds,
        frames/s, skipped and failed).

    Raises:
        SchemaError: not a video collection, or ``field`` holds something other
            than ``fo.Detections``.

    Example:
        >>> ds = lk.video.load_sample_video()                                   # doctest: +SKIP
        >>> lk.propose(ds, lk.models.sample(), field="frames.predictions", every=10)  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from ..store.dataset import open_dataset
    from ..store.video import (
        _frame_sizes,
        frame_field_name,
        write_frame_proposals,
        write_propose_errors,
    )
    from ._engine import ERROR_FIELD, _check_model, _describe
    from ._engine import run_batch as run_model_batch

    t_start = time.perf_counter()
    _check_model(model)
    if write_every < 1:
        raise ValueError(f"write_every must be >= 1, got {write_every}")
    if int(every) != every or every < 1:
        raise ValueError(f"every must be a whole number >= 1, got {every!r}")
    coll = open_dataset(samples)
    if coll.media_type != "video":
        raise SchemaError(f"'{coll.name}' holds {coll.media_type} samples; propose_video() labels videos")
    name = frame_field_name(field)
    if "." in name:
        raise SchemaError(f"field '{field}': expected a top-level frame field 'frames.<name>'")
    dataset = coll._dataset
    from ..store.video import declare_frame_proposals

    declare_frame_proposals(dataset, name)
    batch_size = int(batch_size or getattr(model, "batch_size", None) or 4)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    summary = VideoProposeSummary(field=f"frames.{name}", model=_describe(model), batch_size=batch_size)
    timings = summary.timings
    per_class: Counter = Counter()

    ids, paths = coll.values(["id", "filepath"]) if len(coll) else ([], [])
    summary.videos = len(ids)
    sizes = _frame_sizes(coll, summary.failed) if ids else {}
    state = _frame_state(dataset, ids, name)
    jobs: list[tuple[str, str, list[int]]] = []
    for sid, path in zip(ids, paths, strict=True):
        if sid not in sizes:
            continue
        count = int(sizes[sid][2] or 0)
        if count <= 0:
            summary.failed[path] = "the video has no frames (frame count 0 in its metadata)"
            continue
        todo = []
        for fn in _select_frames(count, int(every), frames):
            summary.total_frames += 1
            reviewed, has_props = state.get(sid, {}).get(fn, (False, False))
            if reviewed:
                summary.skipped_reviewed += 1
            elif has_props and not overwrite:
                summary.skipped_existing += 1
            else:
                todo.append(fn)
        if todo:
            jobs.append((sid, path, todo))
    path_of = dict(zip(ids, paths, strict=True))
    prev_err = {}
    if ids and ERROR_FIELD in dataset.get_field_schema():
        prev_err = dict(zip(*dataset.select(ids).values(["id", ERROR_FIELD]), strict=True))
    for path, reason in summary.failed.items():
        logger.warning("labelkit: propose skipped video '%s': %s", path, reason)

    pending: dict[str, dict[int, object]] = {}
    n_pending = 0
    failed_ids: dict[str, str] = {sid: summary.failed[p] for sid, p in path_of.items() if p in summary.failed}
    done_ids: set[str] = set()

    def flush() -> None:
        nonlocal n_pending
        t0 = time.perf_counter()
        now = _frame_state(dataset, list(pending), name) if pending else {}
        values: dict[str, dict[int, object]] = {}
        for sid, by_fn in pending.items():
            for fn, dets in by_fn.items():
                reviewed, has_props = now.get(sid, {}).get(fn, (False, False))
                if reviewed:  # reviewed while we were running: leave it alone
                    summary.skipped_reviewed += 1
                elif has_props and not overwrite:  # written meanwhile (another run)
                    summary.skipped_existing += 1
                else:
                    values.setdefault(sid, {})[fn] = dets
        write_frame_proposals(dataset, name, values)
        for by_fn in values.values():
            for dets in by_fn.values():
                summary.proposals += len(dets.detections)
                per_class.update(d.label for d in dets.detections)
            summary.frames += len(by_fn)
        pending.clear()
        n_pending = 0
        timings["write"] += time.perf_counter() - t0

    def run_batch(batch: list[tuple[str, int, object]]) -> None:
        nonlocal n_pending
        results = run_model_batch(model, [b[2] for b in batch], min_confidence, timings)
        for (sid, fn, _img), dets in zip(batch, results, strict=True):
            pending.setdefault(sid, {})[fn] = dets
            n_pending += 1

    total = sum(len(j[2]) for j in jobs)
    bar = tqdm(total=total, disable=not progress, unit="frame", desc=f"propose -> frames.{name}", leave=True)
    q: queue.Queue = queue.Queue(maxsize=max(3 * batch_size, 8))
    stop = threading.Event()
    worker = threading.Thread(target=_decoder, args=(jobs, q, stop), name="labelkit-video-decode", daemon=True)
    worker.start()
    wanted = {sid: len(fns) for sid, _p, fns in jobs}
    got_frames: Counter = Counter()
    ok = False
    try:
        batch: list[tuple[str, int, object]] = []
        while True:
            t0 = time.perf_counter()
            item = q.get()
            timings["decode"] += time.perf_counter() - t0
            if item is _DONE:
                break
            if item[0] == "fail":
                _kind, sid, path, reason = item
                summary.failed[path] = reason
                failed_ids[sid] = reason
                logger.warning("labelkit: propose on video '%s': %s", path, reason)
                bar.update(wanted.get(sid, 0) - got_frames[sid])
                continue
            _kind, sid, _path, fn, rgb = item
            got_frames[sid] += 1
            batch.append((sid, fn, rgb))
            if got_frames[sid] == wanted[sid]:
                done_ids.add(sid)
            if len(batch) >= batch_size:
                run_batch(batch)
                bar.update(len(batch))
                batch = []
                if n_pending >= write_every:
                    flush()
        if batch:
            run_batch(batch)
            bar.update(len(batch))
        ok = True
    finally:
        stop.set()
        worker.join(timeout=10)
        bar.close()
        try:
            flush()
        except Exception:  # noqa: BLE001
            if ok:
                raise
            logger.exception("labelkit: could not save the last proposals after an error")
    errs: dict[str, str | None] = dict(failed_ids)
    errs.update({sid: None for sid in done_ids if prev_err.get(sid) and sid not in failed_ids})
    if errs:
        write_propose_errors(dataset, ERROR_FIELD, errs)
    summary.per_class = dict(per_class)
    summary.seconds = time.perf_counter() - t_start
    timings["other"] = max(0.0, summary.seconds - sum(v for k, v in timings.items() if k != "other"))
    return summary
