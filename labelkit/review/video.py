"""Review the frames of videos: a frame is an image, plus tracks and keyframes.

:class:`VideoReviewSession` is a :class:`labelkit.review.session.ReviewSession` whose
"samples" are the frames of a FiftyOne video collection (all frames of the first
video, then of the next...). Everything the image session does works on the
current frame unchanged (accept, reject, paint, erase, add_polygon, add_box,
refine, relabel, delete, undo/redo, observe...), so the Labeler's tools work as
they are. Pure Python; never imports ipywidgets. Only
:mod:`labelkit.store.video` (and :func:`labelkit.interpolate`, through it)
writes to FiftyOne.

API, in addition to :class:`~labelkit.review.session.ReviewSession`'s::

    s = VideoReviewSession(video_ds, proposals="frames.predictions",
                           labels="frames.ground_truth")
    s.frame_number; s.frame_count; s.sample_id (the video); s.video_index; s.videos
    s.goto_frame(fn, video=None); s.next(); s.prev()           # frames
    s.next_keyframe(); s.prev_keyframe(); s.keyframes          # frames with keyframes
    s.mark_keyframe()          # the frame is reviewed: its labels become keyframes
    s.submit()                 # mark_keyframe(), then the next frame
    s.set_track(k, index); s.new_track(k); s.tracks; s.instances[k].track
    s.interpolate(**kwargs)    # lk.interpolate on the current video, then reload

``VideoInstance`` adds ``track`` (the label's ``index``: the same object across
frames), ``keyframe`` and ``interpolated`` to ``Instance``.

Semantics:

* Schema: proposals in ``frames.<proposals>`` (each with ``review``, as for
  images), final labels in ``frames.<labels>`` with the image provenance
  attributes plus ``index`` (track), ``keyframe`` and ``interpolated`` (see
  :mod:`labelkit.video`); frame fields ``review_status``, ``reviewed_by``,
  ``reviewed_at``.
* Keyframes: a label is a keyframe once a person decided on it. Accepting a
  proposal, any edit of a label (paint, erase, refine, relabel, track change),
  drawing a new one, or accepting (``a``) an interpolated label makes it a
  keyframe when the frame is saved; labels nobody touched keep their flags (an
  interpolated label stays interpolated). :meth:`mark_keyframe` (and
  :meth:`submit`) finish the frame: pending proposals are rejected and every
  label on it becomes a keyframe; the frame's ``review_status`` becomes "done".
* Tracks: stored labels keep their ``index``. A proposal is shown with the track it
  most likely continues: the best box IoU (>= ``track_iou``, same class) with an
  interpolated label of this frame, or with the nearest labelled frame of a track
  within ``track_window`` frames (earlier frames first); failing that, the nearest
  track of its class whose box centre is within ``track_distance`` box diagonals
  (most confident proposals choose first), or the only track of its class left
  when it is the only proposal of its class left; otherwise it gets a new track. New instances get a new track (one more than the largest in the video).
  :meth:`set_track` picks the track to continue by hand.
* One label per track and frame: when a keyframe label of track ``t`` is saved,
  an untouched interpolated label of ``t`` on the same frame is dropped (it was
  the guess the keyframe replaces). Setting a track already held by another
  kept, non-interpolated label of the frame is refused.
* Saving: as for images, every decision is written before the session moves to
  another frame (a draft: status unchanged); reopening a session resumes at the
  most recently reviewed frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..errors import ReviewError, SchemaError
from ..geometry import masks as _masks
from ..store.video import INTERPOLATED_ATTR, KEYFRAME_ATTR, TrackLabel, VideoFrameStore, VideoInfo
from .session import (
    Instance,
    Permissions,
    ReviewSession,
    _check_classes,
    _check_min_confidence,
    _check_segmenter,
)

#: The proposals frame field ``lk.propose`` writes by default (it may be missing).
DEFAULT_PROPOSALS = "frames.predictions"


def _check_frame_fields(samples, proposals, labels):
    """Resolve ``samples`` and check the review's frame fields, writing nothing.

    The store declares the fields afterwards; this refuses, first, what the store
    would otherwise create around: a proposals frame field that does not exist (a
    typo), a field that is not ``fo.Detections``, an empty collection.
    """
    import fiftyone as fo

    from ..store.dataset import open_dataset
    from ..store.video import frame_field_name

    samples = open_dataset(samples)
    if getattr(samples, "media_type", None) != "video":
        return samples  # the store explains what is wrong
    name = samples._dataset.name
    for what, field in (("proposals", proposals), ("labels", labels)):
        if not isinstance(field, str) or not field:
            raise SchemaError(f"{what} must be a frame field name such as 'frames.{what}', got {field!r}")
    schema = samples._dataset.get_frame_field_schema() or {}
    dets = sorted(k for k, v in schema.items() if getattr(v, "document_type", None) is fo.Detections)
    for what, field in (("proposals", proposals), ("labels", labels)):
        f = schema.get(frame_field_name(field))
        if f is None:
            if what == "proposals" and frame_field_name(field) != frame_field_name(DEFAULT_PROPOSALS):
                listed = ", ".join(f"'frames.{k}'" for k in dets) if dets else "none"
                raise SchemaError(
                    f"video dataset '{name}' has no proposals frame field "
                    f"'frames.{frame_field_name(field)}' (its fo.Detections frame fields: {listed}); "
                    f"create the proposals with lk.propose(ds, model, "
                    f"field='frames.{frame_field_name(field)}') or pick one of those fields"
                )
        elif getattr(f, "document_type", None) is not fo.Detections:
            kind = getattr(getattr(f, "document_type", None), "__name__", type(f).__name__)
            raise SchemaError(
                f"{what} frame field 'frames.{frame_field_name(field)}' of '{name}' holds {kind}, "
                "but labelkit needs fo.Detections (instance masks); pick another field name"
            )
    if len(samples) == 0:
        raise ReviewError(
            f"the collection of '{name}' has no videos to review; check the view's filters or "
            "load videos with lk.video.load_video()"
        )
    return samples


@dataclasses.dataclass(frozen=True, eq=False)
class VideoInstance(Instance):
    """An :class:`~labelkit.review.session.Instance` of a video frame.

    Attributes:
        track: the object's track id (``Detection.index``), None if unknown.
        keyframe: the stored label is a keyframe (a person reviewed it).
        interpolated: the stored label was generated by :func:`labelkit.interpolate`.
    """

    track: int | None = None
    keyframe: bool = False
    interpolated: bool = False

    @property
    def color_index(self) -> int:
        """What the overlay colours by: the track (same object, same colour), else ``k``."""
        return self.k if self.track is None else int(self.track)


def _xyxy(box) -> np.ndarray:
    x, y, w, h = box
    return np.array([[x, y, x + w, y + h]], dtype=np.float64)


class VideoReviewSession(ReviewSession):
    """Review model proposals frame by frame in a FiftyOne video collection.

    See the module docstring for the API and semantics.

    Args:
        samples: a video ``fo.Dataset``, a view of one, or a dataset name.
        proposals: the frame field of proposals (``"frames.<name>"``). A field named
            here must exist, except the default ``"frames.predictions"`` (missing:
            nothing proposed yet).
        labels: the frame field the reviewed labels go to (created if missing, only
            after every check passed).
        classes: classes for new labels (default: those found in both fields).
        annotator: name written to ``reviewed_by``.
        min_confidence: proposals below it are ``below_threshold``.
        track_iou: minimum box IoU for a proposal to continue a track.
        track_window: how many frames away to look for a track's last box.
        track_distance: a proposal no track box overlaps enough continues the nearest
            track of its class whose box centre is at most this many box diagonals away.
        permissions: which changes the review may make (see
            :class:`~labelkit.review.session.Permissions`; default: all).

    Raises:
        SchemaError: not a video collection, a named proposals frame field that does
            not exist, or a field that is not ``fo.Detections``. Nothing is written.
        ReviewError: the collection has no readable video, or a bad ``classes`` /
            ``min_confidence`` / ``permissions`` value.
    """

    def __init__(
        self,
        samples,
        proposals: str = "frames.predictions",
        labels: str = "frames.ground_truth",
        classes: Sequence[str] | None = None,
        annotator: str | None = None,
        min_confidence: float = 0.0,
        track_iou: float = 0.3,
        track_window: int = 30,
        track_distance: float = 1.5,
        permissions: Permissions | dict | None = None,
        segmenter=None,
    ):
        from ..media.video import FrameReader

        min_confidence = _check_min_confidence(min_confidence)
        classes = _check_classes(classes)
        self.permissions = Permissions.parse(permissions)
        self.segmenter = _check_segmenter(segmenter)
        if not hasattr(self, "claims"):
            self.claims = None  # claims are per image sample; a video review is single-user
        samples = _check_frame_fields(samples, proposals, labels)
        self.store = VideoFrameStore(samples, proposals=proposals, labels=labels)
        self.samples = self.store.samples
        self.proposals_field = f"frames.{self.store.proposals}"
        self.labels_field = f"frames.{self.store.labels}"
        self.annotator = annotator
        self.track_iou = float(track_iou)
        self.track_window = int(track_window)
        self.track_distance = float(track_distance)
        self._min_conf = float(min_confidence)
        self._videos: list[VideoInfo] = self.store.videos()
        if not self._videos:
            why = "; ".join(f"'{p}': {r}" for p, r in self.store.failed.items())
            raise ReviewError(
                "the collection has no video to review" + (f" ({why})" if why else "")
                + "; load videos with lk.video.load_video()"
            )
        self._ids: list[tuple[str, int]] = []
        self._offsets: dict[str, int] = {}
        for v in self._videos:
            self._offsets[v.id] = len(self._ids)
            self._ids.extend((v.id, fn) for fn in range(1, v.frame_count + 1))
        self._statuses: list[str | None] = [None] * len(self._ids)
        latest, resume = None, 0
        for v in self._videos:
            for fn, (status, at) in self.store.frame_statuses(v.id).items():
                if not 1 <= fn <= v.frame_count:
                    continue
                i = self._offsets[v.id] + fn - 1
                self._statuses[i] = status
                if at is not None and (latest is None or at > latest):
                    latest, resume = at, i
        self._classes = classes if classes is not None else self._collection_classes()
        self._observers = []
        self._index = -1
        self._record = None
        self._instances: list[Instance] = []
        self._saved: list[Instance] = []
        self._undo = []
        self._redo = []
        self._selected = None
        self._image = None
        self._reader = FrameReader()
        self._tracks: dict[str, dict] = {}  # video id -> frame -> [TrackLabel]
        self._next_track: dict[str, int] = {}
        self._proposal_tracks: dict[str, int] = {}  # proposal id -> tentative new track
        self._loaded: dict[str, Instance] = {}
        self._finalizing = False
        self.claims = None  # team reviews (claims) are for image samples only
        self._open(resume)

    # ------------------------------------------------------------------ reading
    def _collection_classes(self) -> list[str]:
        schema = self.store.dataset.get_frame_field_schema() or {}
        names: set[str] = set()
        for fld in (self.store.proposals, self.store.labels):
            if fld in schema:
                names.update(v for v in self.samples.distinct(f"frames.{fld}.detections.label") if v)
        return sorted(names)

    def __repr__(self) -> str:
        n, total = self.progress
        return (
            f"<VideoReviewSession video {self.video_index + 1}/{len(self._videos)} frame "
            f"{self.frame_number}/{self.frame_count}, {len(self._instances)} instances, "
            f"{n}/{total} frames reviewed>"
        )

    @property
    def sample_id(self) -> str:
        """FiftyOne id of the current video sample."""
        return self._record.sample_id

    @property
    def frame_number(self) -> int:
        """The current frame (1-based, as in FiftyOne)."""
        return self._record.frame_number

    @property
    def frame_key(self) -> tuple[str, int]:
        """``(sample_id, frame_number)`` of the current frame."""
        return self._record.id

    @property
    def videos(self) -> list[VideoInfo]:
        """The videos under review (id, filepath, width, height, frame_count)."""
        return list(self._videos)

    @property
    def video_index(self) -> int:
        """Position of the current video in :attr:`videos`."""
        sid = self.sample_id
        return next(i for i, v in enumerate(self._videos) if v.id == sid)

    @property
    def video(self) -> VideoInfo:
        """The current video."""
        return self._videos[self.video_index]

    @property
    def frame_count(self) -> int:
        """Number of frames of the current video."""
        return self.video.frame_count

    def image(self) -> np.ndarray:
        """The current frame, ``(H, W, 3)`` uint8 RGB (decoded once, then cached).

        Raises:
            LabelkitError: the frame cannot be decoded.
            ReviewError: the frame's size differs from the video's metadata.
        """
        if self._image is None:
            img = self._reader.read(self.filepath, self.frame_number)
            if img.shape[:2] != (self.height, self.width):
                raise ReviewError(
                    f"video '{self.filepath}' frame {self.frame_number} is {img.shape[1]}x{img.shape[0]} "
                    f"but its metadata says {self.width}x{self.height}; recompute the metadata "
                    "(lk.video.ensure_video_metadata(ds, overwrite=True)) and reopen the session"
                )
            self._image = img
        return self._image

    def _track_cache(self, sid: str) -> dict:
        if sid not in self._tracks:
            self._tracks[sid] = self.store.track_labels(sid)
            used = [t.index for labels in self._tracks[sid].values() for t in labels if t.index is not None]
            self._next_track[sid] = max(self._next_track.get(sid, 1), max(used, default=0) + 1)
        return self._tracks[sid]

    @property
    def keyframes(self) -> list[int]:
        """Frames of the current video with a keyframe label or marked "done"."""
        cache = self._track_cache(self.sample_id)
        frames = {fn for fn, labels in cache.items() if any(t.keyframe for t in labels)}
        off = self._offsets[self.sample_id]
        frames.update(
            fn for fn in range(1, self.frame_count + 1) if self._statuses[off + fn - 1] == "done"
        )
        return sorted(frames)

    @property
    def tracks(self) -> list[int]:
        """Track ids stored in the current video (plus those of the current frame)."""
        cache = self._track_cache(self.sample_id)
        found = {t.index for labels in cache.values() for t in labels if t.index is not None}
        found.update(i.track for i in self._instances if getattr(i, "track", None) is not None)
        return sorted(found)

    def frame_labels(self, frame_number: int | None = None) -> list:
        """Light summaries (:class:`~labelkit.store.video.TrackLabel`) of the labels stored
        on a frame of the current video (default: the current frame)."""
        fn = self.frame_number if frame_number is None else int(frame_number)
        return list(self._track_cache(self.sample_id).get(fn, []))

    def _new_track(self, sid: str | None = None) -> int:
        sid = sid or self.sample_id
        self._track_cache(sid)
        t = self._next_track[sid]
        self._next_track[sid] = t + 1
        return t

    # -------------------------------------------------------------- navigation
    def _open(self, index: int) -> None:
        super()._open(index)
        self._loaded = {i.label_id: i for i in self._instances}

    def _build(self, record) -> list[Instance]:
        base = super()._build(record)
        sid, fn = record.id
        self._track_cache(sid)
        labels = {d.id: d for d in record.labels}
        out: list[VideoInstance] = []
        todo: list[int] = []
        for inst in base:
            fields = {f.name: getattr(inst, f.name) for f in dataclasses.fields(Instance)}
            det = labels.get(inst.label_id)
            if det is not None:
                kf = _get(det, KEYFRAME_ATTR) is True
                track = _get(det, "index")
                out.append(VideoInstance(
                    **fields, track=None if track is None else int(track), keyframe=kf,
                    interpolated=_get(det, INTERPOLATED_ATTR) is True and not kf,
                ))
            else:
                out.append(VideoInstance(**fields))
                if inst.state == "pending":
                    todo.append(len(out) - 1)
        for j, inst in enumerate(out):  # stored labels without a track get one
            if inst.track is None and labels.get(inst.label_id) is not None:
                out[j] = dataclasses.replace(inst, track=self._new_track(sid))
        for j, track in self._match_tracks([out[j] for j in todo], out, sid, fn).items():
            out[todo[j]] = dataclasses.replace(out[todo[j]], track=track)
        return out

    def _match_tracks(self, props: list, frame: list, sid: str, fn: int) -> dict[int, int]:
        """position in ``props`` -> track: greedy best box IoU with the track's box on this
        frame (interpolated) or on the nearest labelled frame; else a (remembered) new track."""
        cache = self._tracks[sid]
        held = {i.track for i in frame if i.track is not None and i.kept and not i.interpolated}
        cands: dict[int, tuple[str, np.ndarray]] = {}
        w, h = self._record.width, self._record.height
        for i in frame:
            if i.track is not None and i.interpolated and i.track not in held and i.box is not None:
                x0, y0, x1, y1 = i.box
                cands[i.track] = (i.label, np.array([[x0 / w, y0 / h, x1 / w, y1 / h]]))
        order = [fn - d for d in range(1, self.track_window + 1)] + [fn + d for d in range(1, self.track_window + 1)]
        for f in order:
            for t in cache.get(f, []):
                if t.index is None or t.index in held or t.index in cands:
                    continue
                cands[t.index] = (t.label, _xyxy(t.box))
        pairs = []
        for p, inst in enumerate(props):
            if inst.box is None:
                continue
            x0, y0, x1, y1 = inst.box
            pb = np.array([[x0 / w, y0 / h, x1 / w, y1 / h]])
            for track, (label, box) in cands.items():
                if label != inst.label:
                    continue
                iou = float(_masks.box_iou(pb, box)[0, 0])
                if iou >= self.track_iou:
                    pairs.append((iou, p, track))
        out: dict[int, int] = {}
        used: set[int] = set()
        for _iou, p, track in sorted(pairs, key=lambda x: -x[0]):
            if p in out or track in used:
                continue
            out[p] = track
            used.add(track)
        # objects move: the nearest free track of the class, within track_distance box
        # sizes (most confident proposals first; proposals below the threshold never)
        scale = np.array([w, h, w, h], dtype=np.float64)
        for p, inst in enumerate(props):
            if p in out or inst.box is None or inst.below_threshold:
                continue
            pb = np.asarray(inst.box, np.float64)
            best = None
            for track, (label, box) in cands.items():
                if label != inst.label or track in used:
                    continue
                tb = box[0] * scale
                size = max(np.hypot(*(pb[2:] - pb[:2])), np.hypot(*(tb[2:] - tb[:2])), 1.0)
                d = np.hypot(*((pb[:2] + pb[2:]) / 2 - (tb[:2] + tb[2:]) / 2)) / size
                if d <= self.track_distance and (best is None or d < best[0]):
                    best = (d, track)
            if best is not None:
                out[p] = best[1]
                used.add(best[1])
        # a class with one open track and one confident proposal left: the same object
        for label in sorted({inst.label for inst in props}):
            ps = [p for p, i in enumerate(props) if i.label == label and p not in out and not i.below_threshold]
            ts = [t for t, (lb, _b) in cands.items() if lb == label and t not in used]
            if len(ps) == 1 and len(ts) == 1 and props[ps[0]].box is not None:
                out[ps[0]] = ts[0]
                used.add(ts[0])
        for p, inst in enumerate(props):
            if p not in out:
                pid = inst.proposal_id
                if pid not in self._proposal_tracks:
                    self._proposal_tracks[pid] = self._new_track(sid)
                out[p] = self._proposal_tracks[pid]
        return out

    def goto_frame(self, frame_number: int, video: int | str | None = None) -> int:
        """Show frame ``frame_number`` (1-based) of the current video, or of ``video``
        (its position in :attr:`videos` or its sample id); saves unsaved changes first.

        Returns:
            the new index (position in the flat frame queue).
        """
        if video is None:
            sid = self.sample_id
        elif isinstance(video, str):
            sid = video
            if sid not in self._offsets:
                raise ReviewError(f"video {video!r} is not part of this review")
        else:
            if not 0 <= int(video) < len(self._videos):
                raise ReviewError(f"no video {video!r}: the session has videos 0..{len(self._videos) - 1}")
            sid = self._videos[int(video)].id
        count = next(v.frame_count for v in self._videos if v.id == sid)
        if isinstance(frame_number, bool) or not isinstance(frame_number, (int, np.integer)) or not (
            1 <= int(frame_number) <= count
        ):
            raise ReviewError(f"no frame {frame_number!r}: the video has frames 1..{count}")
        return self.goto(self._offsets[sid] + int(frame_number) - 1)

    def next_keyframe(self) -> int:
        """Go to the next keyframe of the current video; returns the index."""
        later = [f for f in self.keyframes if f > self.frame_number]
        if not later:
            raise ReviewError(f"no keyframe after frame {self.frame_number}")
        return self.goto_frame(later[0])

    def prev_keyframe(self) -> int:
        """Go to the previous keyframe of the current video; returns the index."""
        earlier = [f for f in self.keyframes if f < self.frame_number]
        if not earlier:
            raise ReviewError(f"no keyframe before frame {self.frame_number}")
        return self.goto_frame(earlier[-1])

    # ------------------------------------------------------------------ decisions
    def accept(self, k: int) -> None:
        """Keep proposal ``k``; on an interpolated (or other unreviewed) label, confirm it
        as a keyframe."""
        inst = self._get(k)
        if inst.source == "human" and not inst.keyframe and self._loaded.get(inst.label_id) is inst:
            self._replace({inst.k: dataclasses.replace(inst, keyframe=True, interpolated=False)}, "accept")
            return
        super().accept(k)

    def set_track(self, k: int, index: int) -> None:
        """Make instance ``k`` continue track ``index`` (an undo step; the label becomes a
        keyframe when saved).

        Raises:
            ReviewError: ``index`` is not a whole number >= 0, or another kept,
                non-interpolated instance of this frame already has that track.
        """
        inst = self._get(k)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise ReviewError(f"a track id must be a whole number >= 0, got {index!r}")
        index = int(index)
        if inst.track == index:
            return
        for other in self._instances:
            if other.k != inst.k and other.track == index and other.kept and not other.interpolated:
                raise ReviewError(
                    f"track {index} is already instance {other.k} ({other.label}) on frame "
                    f"{self.frame_number}; a track has one label per frame (change or delete "
                    f"instance {other.k} first)"
                )
        sid = self.sample_id
        self._track_cache(sid)
        self._next_track[sid] = max(self._next_track[sid], index + 1)
        self._replace({inst.k: dataclasses.replace(inst, track=index)}, "track")

    def new_track(self, k: int) -> int:
        """Give instance ``k`` a new track id (one no label of the video has); returns it."""
        self._get(k)
        t = self._new_track()
        self.set_track(k, t)
        return t

    def _add(self, cm: tuple, label: str, name: str) -> int:
        k = len(self._instances)
        inst = VideoInstance(
            k=k, label=label, confidence=None, state="new", source="human",
            below_threshold=False, box=cm[0], crop=cm[1], width=self.width, height=self.height,
            edits=1, label_id=_new_id(), track=self._new_track(),
        )
        self._commit([*self._instances, inst], name, select=k)
        return k

    # ------------------------------------------------------------------ saving
    def _is_keyframe(self, inst) -> bool:
        if self._finalizing or inst.keyframe or inst.source == "proposal":
            return True
        return self._loaded.get(inst.label_id) is not inst  # a label the reviewer changed

    def _decisions(self, final_submit: bool) -> tuple[dict, list]:
        self._finalizing = False
        claimed = {
            i.track for i in self._instances
            if i.kept and i.track is not None and (self._is_keyframe(i) or not i.interpolated)
        }
        drop = {
            i.label_id for i in self._instances
            if i.kept and i.interpolated and i.track in claimed and not self._is_keyframe(i)
        }
        self._finalizing = final_submit
        try:
            reviews, final = super()._decisions(final_submit)
        finally:
            self._finalizing = False
        return reviews, [d for d in final if d.id not in drop]

    def _to_label(self, inst, w: int, h: int):
        det = super()._to_label(inst, w, h)
        key = self._is_keyframe(inst)
        det.index = inst.track
        det[KEYFRAME_ATTR] = key
        det[INTERPOLATED_ATTR] = bool(inst.interpolated and not key)
        return det

    def _write(self, final_submit: bool, status: str | None) -> list:
        reviews, final = self._decisions(final_submit=final_submit)
        self.store.save_frame(self.frame_key, reviews, final, status=status, reviewed_by=self.annotator)
        self._mark_saved(status)
        self._track_cache(self.sample_id)[self.frame_number] = [
            TrackLabel(d.index, d.label, tuple(d.bounding_box), d[KEYFRAME_ATTR] is True,
                       d[INTERPOLATED_ATTR] is True)
            for d in final
        ]
        return final

    def save(self) -> bool:
        """Write the current frame's decisions as a draft if there are unsaved changes
        (status unchanged; touched labels become keyframes). Durable before it returns.

        Returns:
            True if something was written.
        """
        if not self.dirty:
            return False
        self._write(False, None)
        self._emit("saved", None)
        return True

    def mark_keyframe(self) -> int:
        """Finish the current frame and stay on it: pending proposals are rejected,
        emptied instances dropped, every label becomes a keyframe (``keyframe=True``,
        ``interpolated=False``), and the frame's status is "done". Written before it
        returns; the frame is then reloaded from FiftyOne.

        Returns:
            the number of keyframe labels on the frame.
        """
        final = self._write(True, "done")
        self._emit("saved", "done")
        self._open(self._index)
        self._emit("sample", self._index)
        return len(final)

    def submit(self) -> int:
        """:meth:`mark_keyframe`, then go to the next frame (staying on the last one).

        Returns:
            the new index.
        """
        self._write(True, "done")
        self._emit("saved", "done")
        return self._advance()

    def skip(self) -> int:
        """Mark the current frame "skipped" (decisions so far kept as a draft) and move
        to the next frame.

        Returns:
            the new index.
        """
        self._write(False, "skipped")
        self._emit("saved", "skipped")
        return self._advance()

    def interpolate(self, **kwargs):
        """Save the current frame, run :func:`labelkit.interpolate` on the current video's
        labels field (``kwargs`` go to it: ``method``, ``hold``, ``max_gap``...), then
        reload the frame (it may now show interpolated labels).

        Returns:
            the :class:`~labelkit.video.InterpolationSummary`.
        """
        from ..video.interpolate import interpolate

        self.save()
        sid = self.sample_id
        summary = interpolate(self.store.dataset.select(sid), field=self.labels_field, **kwargs)
        self._tracks.pop(sid, None)
        self._open(self._index)
        self._emit("sample", self._index)
        return summary

    def close(self) -> None:
        """Release the open video file."""
        self._reader.close()


def _get(det, name: str):
    return det[name] if det.has_field(name) else None


def _new_id() -> str:
    from bson import ObjectId

    return str(ObjectId())

