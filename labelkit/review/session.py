"""The review state machine: a queue of samples, the current sample's instances, undo/redo.

Pure Python + numpy; never imports ipywidgets. The widget draws this state and
turns clicks/keys into the method calls below; everything is testable in pytest.

API (coordinates are image pixels ``(x, y)``; boxes absolute ``[x1, y1, x2, y2]``)::

    s = ReviewSession(samples, proposals="predictions", labels="ground_truth",
                      classes=None, annotator=None, min_confidence=0.0)
    len(s); s.index; s.sample_id; s.filepath; s.width; s.height; s.review_status
    s.image()                 # (H, W, 3) uint8, cached for the current sample
    s.instances               # list[Instance]; s.instances[k].k == k
    s.selected; s.select(k)   # k or None
    s.progress                # (n reviewed = done or skipped, total)
    s.dirty; s.can_undo; s.can_redo; s.classes; s.min_confidence (settable)
    s.observe(callback) -> unobserve   # callback(Event(kind, value)) after each change
    s.goto(i); s.next(); s.prev()                              # -> new index
    s.accept(k); s.reject(k); s.accept_all(min_confidence=None); s.relabel(k, label)
    s.paint(k, points, radius, label=None) -> k; s.erase(k, points, radius)
    s.add_polygon(points, label) -> k; s.add_box(box, label) -> k
    s.refine(k, positive=[...], negative=[...]); s.delete(k)
    s.undo(); s.redo()        # -> bool (False: nothing to undo/redo)
    s.submit(); s.skip(); s.save()   # submit/skip -> new index; save -> draft now
    s.add_class(name)

``Instance`` (immutable; a changed instance is a new object): ``k`` (its position
in ``s.instances``), ``label``, ``confidence`` (None for human), ``state``
("pending" | "accepted" | "edited" | "rejected" | "new"), ``source`` ("proposal" |
"human"), ``below_threshold``, ``box`` (integer pixel box ``(x0, y0, x1, y1)``,
exclusive ends, None when the mask is empty), ``crop`` (bool ``(y1-y0, x1-x0)``),
``full_mask()`` / ``mask`` (a new ``(H, W)`` bool array per call: draw from
``box``/``crop`` instead), ``area``, ``empty``, ``edits``, ``proposal_id``.
Crops are read-only arrays shared with the undo history.

Events (``Event`` is a named tuple, so ``event == ("sample", 3)`` works):
``("sample", index)`` a new sample is shown (redraw everything);
``("instances", ks)`` the instances at positions ``ks`` changed, appeared or
disappeared (compare with ``len(s.instances)``); ``("selection", k)``;
``("saved", status)`` after a write (status None for a draft, "done", "skipped");
``("classes", classes)``; ``("threshold", value)``.

Semantics:

* Samples: the collection's order (a filtered/sorted/random view keeps its order),
  fixed when the session opens. The session opens at the first sample whose
  ``review_status`` is not "done"/"skipped", else at sample 0. ``progress`` counts
  done and skipped samples.
* Instance order: proposals by confidence (descending, stable), then human labels
  (stored order, then creation order). Proposals never leave the list (deleting one
  rejects it), so only human instances after a deleted one shift down by one.
* Classes: ``classes`` given, or the sorted union of proposal and label classes in
  the collection. New labels must be in ``s.classes``, otherwise ``ReviewError``
  names the class and the valid ones; call ``s.add_class(name)`` to extend the
  list explicitly (the widget's class picker can offer that).
* Decisions: ``accept`` keeps a proposal ("accepted", or "edited" if it was
  edited before); ``reject`` rejects it; any edit of a proposal (paint, erase,
  refine, relabel) makes it "edited" (an edit on a rejected proposal revives it).
  An edit that changes nothing is not an edit (no undo step, no count). Accepting
  a human instance is a no-op; rejecting or deleting it removes it.
* ``paint(None, points, radius, label=...)`` creates a new human instance from the
  stroke (the brush with nothing selected); ``erase(None, points, radius)`` erases
  the stroke from every non-rejected instance it touches (one undo step).
  Instances may overlap; editing one never changes another. New instances become
  the selection.
* Saving: ``submit()`` records pending proposals as rejected (what is not
  accepted is not a label), drops instances whose mask became empty (an emptied
  proposal is "rejected"), writes labels + proposal reviews + status "done"
  through :class:`~labelkit.store.ReviewStore` before it returns, then moves to
  the next sample (on the last sample it stays). ``skip()`` writes the decisions
  made so far as a draft with status "skipped" (pending stays pending) and moves
  on. ``next/prev/goto`` away from a sample with unsaved changes write them as a
  draft (status unchanged) first. Reopening a sample, or a new session after a
  kernel restart, rebuilds its state from the stored fields. If a write fails,
  the session stays on the sample with its state intact.
* Undo/redo: every edit of the current sample (accept, reject, relabel, paint,
  erase, polygon, box, refine, delete; ``accept_all`` is one step) can be undone.
  A step stores only the instances it changed (old and new objects; masks are
  never copied). Moving to another sample (or submitting) clears both stacks.
* Final labels: ``source="proposal"`` with ``proposal_id``, ``proposal_iou`` (mask
  IoU of final vs. original proposal, 1.0 when accepted unchanged) and ``edits``;
  or ``source="human"``, ``proposal_id=None``, ``proposal_iou=None``,
  ``edits >= 1`` (creating it is one edit). Labels keep their id across saves.
  Labels already in the labels field are kept: without provenance they are human
  instances (their stored ``edits``, else 0); a label pointing at a proposal that
  is gone keeps its provenance. Nothing already stored is dropped by reopening.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..errors import ReviewError
from ..geometry import masks as _masks
from ..store.image import ReviewStore
from ..store.schema import make_label
from ..geometry import edit as _edit

STATES = ("pending", "accepted", "edited", "rejected", "new")
_UNSET = object()


class Event(NamedTuple):
    """A state change: ``kind`` is "sample", "instances", "selection", "saved",
    "classes" or "threshold"; ``value`` says what changed (see module docstring)."""

    kind: str
    value: Any


@dataclasses.dataclass(frozen=True, eq=False)
class Instance:
    """One instance of the current sample (immutable snapshot).

    Attributes:
        k: position in ``session.instances`` (what the session methods take).
        label: class name.
        confidence: the proposal's score, None for human instances.
        state: "pending" | "accepted" | "edited" | "rejected" (proposals) or "new".
        source: "proposal" | "human".
        below_threshold: a proposal scoring below the session's ``min_confidence``.
        box: integer pixel box ``(x0, y0, x1, y1)`` (exclusive ends) of the mask,
            None when the mask is empty.
        crop: bool mask inside ``box``, shape ``(y1 - y0, x1 - x0)``.
        width: image width in pixels.
        height: image height in pixels.
        edits: number of edit operations applied (human: creation counts as one).
        proposal_id: id of the proposal it came from (None for human).
    """

    k: int
    label: str
    confidence: float | None
    state: str
    source: str
    below_threshold: bool
    box: tuple[int, int, int, int] | None
    crop: np.ndarray
    width: int
    height: int
    edits: int = 0
    proposal_id: str | None = None
    original: tuple | None = dataclasses.field(default=None, repr=False)
    label_id: str | None = dataclasses.field(default=None, repr=False)
    stored_iou: float | None = dataclasses.field(default=None, repr=False)
    orphan: bool = dataclasses.field(default=False, repr=False)

    def __post_init__(self) -> None:
        # crops are shared with the undo history: never edit them in place
        if self.crop.flags.writeable:
            self.crop.flags.writeable = False

    @property
    def empty(self) -> bool:
        """True when the mask has no pixels (it is dropped at submit)."""
        return self.box is None

    @property
    def area(self) -> int:
        """Number of mask pixels."""
        return 0 if self.box is None else int(np.count_nonzero(self.crop))

    @property
    def cropmask(self) -> tuple:
        """``(box, crop)`` (see :mod:`labelkit.geometry.edit`)."""
        return self.box, self.crop

    def full_mask(self) -> np.ndarray:
        """The full-resolution ``(height, width)`` bool mask (a new array)."""
        return _edit.cropmask_to_full(self.cropmask, self.width, self.height)

    @property
    def mask(self) -> np.ndarray:
        """Same as :meth:`full_mask` (allocates a full-image array on each access)."""
        return self.full_mask()

    @property
    def kept(self) -> bool:
        """Whether this instance becomes a label when the sample is submitted."""
        return self.state in ("accepted", "edited", "new") and not self.empty


@dataclasses.dataclass
class _Step:
    name: str
    before: dict
    after: dict
    n_before: int
    n_after: int
    sel_before: int | None
    sel_after: int | None


class ReviewSession:
    """Review model-proposed instance masks of a FiftyOne collection, one sample at a time.

    See the module docstring for the API, events and semantics.

    Args:
        samples: a ``fo.Dataset`` or any view (its order is kept), or a dataset name.
        proposals: the ``fo.Detections`` field with model proposals (may be missing).
        labels: the ``fo.Detections`` field the reviewed labels are written to.
        classes: the class list for new labels and relabelling (default: sorted
            union of the proposal and label classes found in ``samples``).
        annotator: name written to ``reviewed_by`` (default ``$LABELKIT_ANNOTATOR``
            or the login name).
        min_confidence: proposals below it are flagged ``below_threshold`` and are
            not taken by :meth:`accept_all` (default threshold).

    Raises:
        ReviewError: the collection has no samples.
        SchemaError: a field holds something other than ``fo.Detections``.
    """

    def __init__(
        self,
        samples,
        proposals: str = "predictions",
        labels: str = "ground_truth",
        classes: Sequence[str] | None = None,
        annotator: str | None = None,
        min_confidence: float = 0.0,
    ):
        self.store = ReviewStore(samples, proposals=proposals, labels=labels)
        self.samples = self.store.samples
        self.proposals_field = proposals
        self.labels_field = labels
        self.annotator = annotator
        self._min_conf = float(min_confidence)
        self._ids = self.store.sample_ids()
        if not self._ids:
            raise ReviewError(
                "the collection has no samples to review; check the view's filters "
                "or add images with lk.load_images()"
            )
        self._statuses = self.store.statuses()
        self._classes = list(classes) if classes is not None else self._collection_classes()
        self._observers: list[Callable[[Event], None]] = []
        self._index = -1
        self._record = None
        self._instances: list[Instance] = []
        self._saved: list[Instance] = []
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self._selected: int | None = None
        self._image: np.ndarray | None = None
        first = self.store.first_unreviewed()
        self._open(0 if first is None else first)

    # ------------------------------------------------------------------ reading
    def _collection_classes(self) -> list[str]:
        schema = self.store.dataset.get_field_schema()
        names: set[str] = set()
        for fld in (self.proposals_field, self.labels_field):
            if fld in schema:
                names.update(v for v in self.samples.distinct(f"{fld}.detections.label") if v)
        return sorted(names)

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        n, total = self.progress
        return (
            f"<ReviewSession sample {self._index + 1}/{len(self)} ({self.sample_id}), "
            f"{len(self._instances)} instances, {n}/{total} reviewed>"
        )

    @property
    def index(self) -> int:
        """Position of the current sample in the collection's order."""
        return self._index

    @property
    def sample_id(self) -> str:
        """FiftyOne id of the current sample."""
        return self._record.id

    @property
    def filepath(self) -> str:
        """Image file of the current sample."""
        return self._record.filepath

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return self._record.width

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self._record.height

    @property
    def review_status(self) -> str | None:
        """Stored ``review_status`` of the current sample (None, "done", "skipped")."""
        return self._statuses[self._index]

    @property
    def instances(self) -> list[Instance]:
        """The current sample's instances (a new list; ``instances[k].k == k``)."""
        return list(self._instances)

    @property
    def selected(self) -> int | None:
        """The selected instance's ``k`` or None."""
        return self._selected

    @property
    def classes(self) -> list[str]:
        """Classes allowed for new labels and relabelling (a copy)."""
        return list(self._classes)

    @property
    def progress(self) -> tuple[int, int]:
        """``(number of samples done or skipped, number of samples)``."""
        n = sum(1 for s in self._statuses if s in ("done", "skipped"))
        return n, len(self._ids)

    @property
    def dirty(self) -> bool:
        """Whether the current sample has changes not yet written to FiftyOne."""
        if len(self._saved) != len(self._instances):
            return True
        return any(a is not b for a, b in zip(self._saved, self._instances, strict=True))

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` has something to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` has something to redo."""
        return bool(self._redo)

    @property
    def min_confidence(self) -> float:
        """Proposals below this are ``below_threshold`` (settable; not an undo step)."""
        return self._min_conf

    @min_confidence.setter
    def min_confidence(self, value: float) -> None:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ReviewError(f"min_confidence must be a number in [0, 1], got {value!r}") from None
        self._min_conf = v
        memo: dict[int, Instance] = {}

        def flag(inst: Instance) -> Instance:
            if id(inst) not in memo:
                memo[id(inst)] = self._with_threshold(inst)
            return memo[id(inst)]

        old = self._instances
        self._instances = [flag(i) for i in old]
        self._saved = [flag(i) for i in self._saved]
        for step in self._undo + self._redo:
            step.before = {k: flag(i) for k, i in step.before.items()}
            step.after = {k: flag(i) for k, i in step.after.items()}
        changed = tuple(j for j, (a, b) in enumerate(zip(old, self._instances, strict=True)) if a is not b)
        self._emit("threshold", v)
        if changed:
            self._emit("instances", changed)

    def _with_threshold(self, inst: Instance) -> Instance:
        if inst.source != "proposal" or inst.orphan:
            return inst
        below = (inst.confidence or 0.0) < self._min_conf
        return inst if below == inst.below_threshold else dataclasses.replace(inst, below_threshold=below)

    def image(self) -> np.ndarray:
        """The current image, ``(H, W, 3)`` uint8 RGB (read once per sample, then cached).

        Raises:
            ImageReadError: the file cannot be read.
            ReviewError: the file's size differs from the sample's metadata.
        """
        if self._image is None:
            from ..media.image import read_image

            img = read_image(self.filepath)
            if img.shape[:2] != (self.height, self.width):
                raise ReviewError(
                    f"image '{self.filepath}' is {img.shape[1]}x{img.shape[0]} but its metadata "
                    f"says {self.width}x{self.height}; run "
                    "dataset.compute_metadata(overwrite=True) and reopen the session"
                )
            self._image = img
        return self._image

    def instance(self, k: int) -> Instance:
        """The instance at position ``k`` (raises ReviewError for a bad k)."""
        return self._get(k)

    def _get(self, k) -> Instance:
        n = len(self._instances)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ReviewError(f"instance k must be an integer in 0..{n - 1}, got {k!r}")
        if not 0 <= int(k) < n:
            if n == 0:
                raise ReviewError(f"no instance {k}: sample {self._index} has no instances")
            raise ReviewError(f"no instance {k}: sample {self._index} has instances 0..{n - 1}")
        return self._instances[int(k)]

    def _check_class(self, label) -> str:
        if not isinstance(label, str) or not label:
            raise ReviewError(f"a class name must be a non-empty string, got {label!r}")
        if label not in self._classes:
            if not self._classes:
                raise ReviewError(
                    f"unknown class {label!r}: this session has no classes yet; pass "
                    "classes=[...] when opening it or call session.add_class(name)"
                )
            raise ReviewError(
                f"unknown class {label!r}; valid classes: {self._classes}. "
                "Pick one of them or call session.add_class(name) first"
            )
        return label

    def add_class(self, name: str) -> None:
        """Allow a new class name for new labels and relabelling (no-op if known)."""
        if not isinstance(name, str) or not name.strip():
            raise ReviewError(f"a class name must be a non-empty string, got {name!r}")
        if name not in self._classes:
            self._classes = [*self._classes, name]
            self._emit("classes", list(self._classes))

    # --------------------------------------------------------------- observers
    def observe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after every state change; returns an unobserve function."""
        self._observers.append(callback)

        def unobserve() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return unobserve

    def _emit(self, kind: str, value) -> None:
        ev = Event(kind, value)
        for cb in list(self._observers):
            cb(ev)

    # -------------------------------------------------------------- navigation
    def _open(self, index: int) -> None:
        record = self.store.load(self._ids[index])
        self._index = index
        self._record = record
        self._statuses[index] = record.review_status
        self._image = None
        self._instances = self._build(record)
        self._saved = list(self._instances)
        self._undo.clear()
        self._redo.clear()
        self._selected = None

    def _build(self, record) -> list[Instance]:
        w, h = record.width, record.height
        by_pid: dict[str, Any] = {}
        rest = []
        prop_ids = {p.id for p in record.proposals}
        for det in record.labels:
            pid = det["proposal_id"] if det.has_field("proposal_id") else None
            if pid and pid in prop_ids and pid not in by_pid:
                by_pid[pid] = det
            else:
                rest.append(det)
        props = sorted(
            record.proposals,
            key=lambda d: -(d.confidence if d.confidence is not None else float("-inf")),
        )
        out: list[Instance] = []
        for p in props:
            orig = self._decode(p, w, h)
            review = p["review"] if p.has_field("review") else None
            conf = None if p.confidence is None else float(p.confidence)
            base = dict(
                k=len(out),
                confidence=conf,
                source="proposal",
                below_threshold=(conf or 0.0) < self._min_conf,
                width=w,
                height=h,
                proposal_id=p.id,
                original=orig,
            )
            lab = by_pid.get(p.id)
            if review == "rejected":
                state = "rejected"
                if lab is not None:  # inconsistent (edited elsewhere): keep the label anyway
                    rest.append(lab)
                    lab = None
            elif lab is not None:
                edits = int(_get_attr(lab, "edits", 0) or 0)
                state = review if review in ("accepted", "edited") else ("edited" if edits else "accepted")
            else:
                state = "pending"
            if lab is not None:
                box, crop = self._decode(lab, w, h)
                out.append(
                    Instance(
                        label=lab.label,
                        state=state,
                        box=box,
                        crop=crop,
                        edits=int(_get_attr(lab, "edits", 0) or 0),
                        label_id=lab.id,
                        **base,
                    )
                )
            else:
                out.append(
                    Instance(
                        label=p.label,
                        state=state,
                        box=orig[0],
                        crop=orig[1],
                        label_id=_new_id(),
                        **base,
                    )
                )
        for det in rest:
            box, crop = self._decode(det, w, h)
            source = _get_attr(det, "source", None)
            pid = _get_attr(det, "proposal_id", None)
            orphan = source == "proposal" and bool(pid)
            edits = int(_get_attr(det, "edits", 0) or 0)
            out.append(
                Instance(
                    k=len(out),
                    label=det.label,
                    confidence=None,
                    state=("edited" if edits else "accepted") if orphan else "new",
                    source="proposal" if orphan else "human",
                    below_threshold=False,
                    box=box,
                    crop=crop,
                    width=w,
                    height=h,
                    edits=edits,
                    proposal_id=pid if orphan else None,
                    label_id=det.id,
                    stored_iou=_get_attr(det, "proposal_iou", None) if orphan else None,
                    orphan=orphan,
                )
            )
        return out

    @staticmethod
    def _decode(det, width: int, height: int) -> tuple:
        """A ``fo.Detection`` -> tight crop mask, without building a full-image array
        unless its stored crop has to be resized to its box."""
        x0, y0, x1, y1 = _masks.pixel_box(det.bounding_box, width, height)
        bw, bh = x1 - x0, y1 - y0
        if bw <= 0 or bh <= 0:
            return None, _edit._EMPTY
        crop = getattr(det, "mask", None)
        if crop is None:
            crop = np.ones((bh, bw), dtype=bool)
        else:
            crop = np.asarray(crop)
            if crop.ndim == 3:
                crop = crop[..., 0]
            crop = crop.astype(bool, copy=False)
            if crop.shape != (bh, bw):
                # resize exactly as masks.crop_to_full does, in a box-sized frame
                crop = _masks.crop_to_full([0.0, 0.0, 1.0, 1.0], crop, bw, bh)
        return _edit.crop_tight((x0, y0, x1, y1), crop)

    def goto(self, i: int) -> int:
        """Show sample ``i`` (saving unsaved changes of the current one as a draft first).

        Returns:
            the new index.

        Raises:
            ReviewError: ``i`` is not in ``0..len(session) - 1``.
        """
        n = len(self._ids)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < n:
            raise ReviewError(f"no sample {i!r}: the session has samples 0..{n - 1}")
        i = int(i)
        if i == self._index:
            return i
        self.save()
        self._open(i)
        self._emit("sample", i)
        return i

    def next(self) -> int:
        """Go to the next sample (stays on the last one); returns the index."""
        return self.goto(min(self._index + 1, len(self._ids) - 1))

    def prev(self) -> int:
        """Go to the previous sample (stays on the first one); returns the index."""
        return self.goto(max(self._index - 1, 0))

    def reload(self) -> None:
        """Re-read the current sample from FiftyOne, discarding unsaved changes."""
        self._open(self._index)
        self._emit("sample", self._index)

    # ------------------------------------------------------------------ saving
    def _decisions(self, final_submit: bool) -> tuple[dict, list]:
        reviews: dict[str, str | None] = {}
        final = []
        w, h = self.width, self.height
        for inst in self._instances:
            if inst.source == "proposal" and not inst.orphan:
                if inst.state == "pending":
                    reviews[inst.proposal_id] = "rejected" if final_submit else None
                    continue
                if inst.state == "rejected" or inst.empty:
                    reviews[inst.proposal_id] = "rejected"
                    continue
                reviews[inst.proposal_id] = inst.state
            if inst.empty or inst.state == "rejected":
                continue
            final.append(self._to_label(inst, w, h))
        return reviews, final

    def _to_label(self, inst: Instance, w: int, h: int):
        rel = _masks.pixel_box_to_fo(*inst.box, w, h)
        if inst.source == "human":
            iou = None
        elif inst.orphan:
            iou = inst.stored_iou
        elif inst.state == "accepted":
            iou = 1.0
        else:
            iou = _edit.crop_iou(inst.cropmask, inst.original)
        det = make_label(
            inst.label,
            rel,
            inst.crop,
            source=inst.source,
            proposal_id=inst.proposal_id if inst.source == "proposal" else None,
            proposal_iou=iou,
            edits=inst.edits,
            confidence=inst.confidence,
        )
        if inst.label_id:
            det.id = inst.label_id
        return det

    def _mark_saved(self, status: str | None) -> None:
        self._saved = list(self._instances)
        if status is not None:
            self._statuses[self._index] = status

    def save(self) -> bool:
        """Write the current sample's decisions as a draft if there are unsaved changes.

        ``review_status`` is unchanged; pending proposals stay pending. Durable
        before it returns.

        Returns:
            True if something was written.
        """
        if not self.dirty:
            return False
        reviews, final = self._decisions(final_submit=False)
        self.store.save_draft(self.sample_id, reviews, final, reviewed_by=self.annotator)
        self._mark_saved(None)
        self._emit("saved", None)
        return True

    def submit(self) -> int:
        """Finish the current sample: pending proposals are rejected, emptied instances
        dropped, everything written with status "done" (durable before it returns),
        then move to the next sample (staying on the last one).

        Returns:
            the new index.
        """
        reviews, final = self._decisions(final_submit=True)
        self.store.save_review(self.sample_id, reviews, final, status="done", reviewed_by=self.annotator)
        self._mark_saved("done")
        self._emit("saved", "done")
        return self._advance()

    def skip(self) -> int:
        """Mark the current sample "skipped" (decisions so far kept as a draft, pending
        proposals stay pending) and move to the next sample.

        Returns:
            the new index.
        """
        reviews, final = self._decisions(final_submit=False)
        self.store.save_review(self.sample_id, reviews, final, status="skipped", reviewed_by=self.annotator)
        self._mark_saved("skipped")
        self._emit("saved", "skipped")
        return self._advance()

    def _advance(self) -> int:
        i = self._index
        if i + 1 < len(self._ids):
            return self.goto(i + 1)
        # last sample: stay, but show the stored result (pending -> rejected etc.)
        self._open(i)
        self._emit("sample", i)
        return i

    # ------------------------------------------------------------------- steps
    def _commit(self, new: list[Instance], name: str, select=_UNSET) -> tuple[int, ...]:
        new = [i if i.k == j else dataclasses.replace(i, k=j) for j, i in enumerate(new)]
        old = self._instances
        n_old, n_new = len(old), len(new)
        changed = tuple(
            j for j in range(max(n_old, n_new)) if j >= n_old or j >= n_new or old[j] is not new[j]
        )
        sel_before = self._selected
        sel_after = sel_before if select is _UNSET else select
        if sel_after is not None and sel_after >= n_new:
            sel_after = None
        if not changed:
            return changed
        step = _Step(
            name,
            before={j: old[j] for j in changed if j < n_old},
            after={j: new[j] for j in changed if j < n_new},
            n_before=n_old,
            n_after=n_new,
            sel_before=sel_before,
            sel_after=sel_after,
        )
        self._undo.append(step)
        self._redo.clear()
        self._apply(new, changed, sel_after)
        return changed

    def _apply(self, new: list[Instance], changed: tuple, selected) -> None:
        self._instances = new
        self._emit("instances", changed)
        if selected != self._selected:
            self._selected = selected
            self._emit("selection", selected)

    def _replay(self, step: _Step, forward: bool) -> None:
        n = step.n_after if forward else step.n_before
        items = step.after if forward else step.before
        cur = self._instances
        new = list(cur[:n]) + [None] * max(0, n - len(cur))
        for j, inst in items.items():
            new[j] = inst
        changed = tuple(sorted(set(step.before) | set(step.after)))
        sel = step.sel_after if forward else step.sel_before
        self._apply(new, changed, sel)

    def undo(self) -> bool:
        """Undo the last edit of this sample; returns False if there is nothing to undo."""
        if not self._undo:
            return False
        step = self._undo.pop()
        self._redo.append(step)
        self._replay(step, forward=False)
        return True

    def redo(self) -> bool:
        """Redo the last undone edit; returns False if there is nothing to redo."""
        if not self._redo:
            return False
        step = self._redo.pop()
        self._undo.append(step)
        self._replay(step, forward=True)
        return True

    def _replace(self, changes: dict[int, Instance], name: str, select=_UNSET) -> tuple:
        if not changes:
            return ()
        new = list(self._instances)
        for k, inst in changes.items():
            new[k] = inst
        return self._commit(new, name, select)

    @staticmethod
    def _edited(inst: Instance, **changes) -> Instance:
        state = "new" if inst.source == "human" else "edited"
        return dataclasses.replace(inst, state=state, edits=inst.edits + 1, **changes)

    # -------------------------------------------------------------- decisions
    def select(self, k: int | None) -> None:
        """Select instance ``k`` (None clears the selection); not an undo step."""
        if k is not None:
            k = self._get(k).k
        if k != self._selected:
            self._selected = k
            self._emit("selection", k)

    def accept(self, k: int) -> None:
        """Keep proposal ``k`` as a label ("accepted", or "edited" if it was edited)."""
        inst = self._get(k)
        if inst.source == "human" or inst.state in ("accepted", "edited"):
            return
        self._replace({inst.k: self._kept(inst)}, "accept")

    @staticmethod
    def _kept(inst: Instance) -> Instance:
        return dataclasses.replace(inst, state="edited" if inst.edits else "accepted")

    def reject(self, k: int) -> None:
        """Reject proposal ``k`` (a human instance is deleted instead)."""
        inst = self._get(k)
        if inst.source == "human" or inst.orphan:
            self.delete(k)
            return
        if inst.state == "rejected":
            return
        self._replace({inst.k: dataclasses.replace(inst, state="rejected")}, "reject")

    def accept_all(self, min_confidence: float | None = None) -> tuple[int, ...]:
        """Accept every pending proposal scoring at least ``min_confidence``
        (default: the session's threshold) as one undo step.

        Returns:
            the ks accepted.
        """
        thr = self._min_conf if min_confidence is None else float(min_confidence)
        changes = {
            i.k: self._kept(i)
            for i in self._instances
            if i.source == "proposal" and i.state == "pending" and (i.confidence or 0.0) >= thr
        }
        self._replace(changes, "accept_all")
        return tuple(sorted(changes))

    def relabel(self, k: int, label: str) -> None:
        """Change the class of instance ``k`` (an edit); ``label`` must be in ``classes``."""
        inst = self._get(k)
        label = self._check_class(label)
        if label == inst.label:
            return
        self._replace({inst.k: self._edited(inst, label=label)}, "relabel")

    def delete(self, k: int) -> None:
        """Remove human instance ``k`` (later human instances shift down); on a
        proposal this is :meth:`reject`."""
        inst = self._get(k)
        if inst.source == "proposal" and not inst.orphan:
            self.reject(k)
            return
        new = [i for i in self._instances if i.k != inst.k]
        sel = self._selected
        if sel is not None:
            sel = None if sel == inst.k else (sel - 1 if sel > inst.k else sel)
        self._commit(new, "delete", select=sel)

    # ------------------------------------------------------------------- edits
    def paint(self, k: int | None, points, radius: float, label: str | None = None) -> int | None:
        """Add a brush stroke to instance ``k``'s mask.

        With ``k=None`` the stroke becomes a new human instance of class ``label``
        (and is selected). A stroke on a pending or rejected proposal makes it
        "edited" (kept).

        Args:
            k: the instance, or None for a new one.
            points: the pointer path ``[(x, y), ...]`` in image pixels.
            radius: brush radius in pixels.
            label: class of the new instance (only used when ``k`` is None).

        Returns:
            the instance's k (None if ``k`` was None and the stroke missed the image).
        """
        if k is None:
            if label is None:
                raise ReviewError(
                    "paint(None, ...) creates a new instance and needs label=<class>; "
                    f"valid classes: {self._classes}"
                )
            label = self._check_class(label)
            cm = _edit.stroke(points, radius, self.width, self.height)
            if cm[0] is None:
                return None
            return self._add(cm, label, "paint")
        inst = self._get(k)
        cm = _edit.stroke(points, radius, self.width, self.height)
        new = _edit.crop_union(inst.cropmask, cm)
        if _edit.crop_equal(new, inst.cropmask):
            return inst.k
        self._replace({inst.k: self._edited(inst, box=new[0], crop=new[1])}, "paint")
        return inst.k

    def erase(self, k: int | None, points, radius: float) -> tuple[int, ...]:
        """Erase a brush stroke from instance ``k``'s mask (``k=None``: from every
        non-rejected instance the stroke touches, as one undo step). An instance
        erased to nothing stays listed (empty) and is dropped at submit.

        Returns:
            the ks whose masks changed.
        """
        targets = [self._get(k)] if k is not None else [i for i in self._instances if i.state != "rejected"]
        cm = _edit.stroke(points, radius, self.width, self.height)
        changes = {}
        for inst in targets:
            new = _edit.crop_subtract(inst.cropmask, cm)
            if not _edit.crop_equal(new, inst.cropmask):
                changes[inst.k] = self._edited(inst, box=new[0], crop=new[1])
        self._replace(changes, "erase")
        return tuple(sorted(changes))

    def _add(self, cm: tuple, label: str, name: str) -> int:
        k = len(self._instances)
        inst = Instance(
            k=k,
            label=label,
            confidence=None,
            state="new",
            source="human",
            below_threshold=False,
            box=cm[0],
            crop=cm[1],
            width=self.width,
            height=self.height,
            edits=1,
            label_id=_new_id(),
        )
        self._commit([*self._instances, inst], name, select=k)
        return k

    def add_polygon(self, points, label: str) -> int:
        """Add a human instance from a closed polygon ``[(x, y), ...]`` (>= 3 vertices).

        Returns:
            the new instance's k (it becomes the selection).

        Raises:
            ReviewError: unknown class, fewer than 3 vertices, or a polygon outside the image.
        """
        label = self._check_class(label)
        mask = _edit.polygon(points, self.width, self.height)
        cm = _edit.full_to_cropmask(mask)
        if cm[0] is None:
            raise ReviewError(
                f"polygon {np.asarray(points).tolist()} covers no pixel of the "
                f"{self.width}x{self.height} image"
            )
        return self._add(cm, label, "polygon")

    def add_box(self, box: Sequence[float], label: str) -> int:
        """Add a human instance from a box ``[x1, y1, x2, y2]`` (absolute pixels): its mask
        is GrabCut's segmentation inside the box, or the filled box if that finds nothing.

        Returns:
            the new instance's k (it becomes the selection).
        """
        label = self._check_class(label)
        pb = _edit.pixel_box_xyxy(box, self.width, self.height)
        if pb[2] <= pb[0] or pb[3] <= pb[1]:
            raise ReviewError(f"box {list(box)} lies outside the {self.width}x{self.height} image")
        mask = _edit.grabcut_refine(self.image(), box=box)
        cm = _edit.full_to_cropmask(mask)
        if cm[0] is None:
            cm = _edit.full_to_cropmask(_edit.box_mask(box, self.width, self.height))
        return self._add(cm, label, "box")

    def refine(self, k: int, positive: Iterable = (), negative: Iterable = ()) -> None:
        """Re-segment instance ``k`` with GrabCut from its current mask and the clicks
        (positive: on the object, negative: on background; image pixels ``(x, y)``).
        Other instances never change."""
        inst = self._get(k)
        pos = self._clicks(positive, "positive")
        neg = self._clicks(negative, "negative")
        mask = _edit.grabcut_refine(self.image(), mask=inst.full_mask(), positive=pos, negative=neg)
        new = _edit.full_to_cropmask(mask)
        if _edit.crop_equal(new, inst.cropmask):
            return
        self._replace({inst.k: self._edited(inst, box=new[0], crop=new[1])}, "refine")

    def _clicks(self, points, what: str) -> np.ndarray:
        pts = _edit._points(list(points), f"{what} clicks")
        for x, y in pts:
            if not (0 <= x < self.width and 0 <= y < self.height):
                raise ReviewError(
                    f"{what} click ({x:g}, {y:g}) is outside the {self.width}x{self.height} image"
                )
        return pts


def _get_attr(det, name: str, default):
    return det[name] if det.has_field(name) else default


def _new_id() -> str:
    from bson import ObjectId

    return str(ObjectId())
