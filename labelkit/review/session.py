"""The review state machine: a queue of samples, the current sample's instances, undo/redo.

Pure Python + numpy; never imports ipywidgets. The widget draws this state and
turns clicks/keys into the method calls below; everything is testable in pytest.

API (coordinates are image pixels ``(x, y)``; boxes absolute ``[x1, y1, x2, y2]``)::

    s = ReviewSession(samples, proposals="predictions", labels="ground_truth",
                      classes=None, annotator=None, min_confidence=0.0,
                      permissions=None,   # Permissions: allow_additions=... (see there)
                      claim=False, batch_size=None, claim_ttl=None,   # team review
                      overlap=None, overlap_fraction=None)            # agreement study
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
    s.claims; s.close()       # team review: its Claims (None otherwise); give claims back
    s.is_copy; s.overlap      # overlap study: the current sample is an extra (blind) review
    s.lost; s.clear_lost()    # journaled decisions refused at replay because the claim was lost

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
``("classes", classes)``; ``("threshold", value)``; ``("db", text)`` when
:attr:`~ReviewSession.db_status` changes (text None: the database is reachable and
holds every decision).

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
* Database outage: a write that cannot reach the server (after
  ``$LABELKIT_DB_TIMEOUT_MS``, 3 s) is appended to the annotator's local journal
  (fsynced; :mod:`labelkit.store.journal`) and counts as saved: the review goes
  on with the samples already read (the current one, the next one read ahead, and
  up to ``PREFETCH`` read ahead in the session's background thread, never on the
  caller's); ``db_status`` says so in plain words. The journal is written, once per
  decision, at the next write that reaches the server, at ``sync()``, or when a
  new session of the same annotator opens the dataset (before it picks the first
  unreviewed sample).
* Permissions: ``permissions=`` switches off additions, deletions, label edits or
  spatial edits of existing labels (an annotation run's ``allow_*=False``); a
  forbidden action raises ``NotAllowedError`` before anything changes (see
  :class:`Permissions` for which action is which).
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
* Team review (``claim=True`` or ``batch_size=...``, with ``annotator``): many
  annotators, each in their own process, review one dataset. The session's
  samples are the ones it claims, ``batch_size`` at a time (its own unfinished
  claims from an earlier session first, then free samples in the collection's
  order); submitting or skipping the last one claims the next batch (``len(s)``
  grows). Each claim is one atomic update of the sample (``claimed_by``,
  ``claim_expires``; :mod:`labelkit.store.claims`), renewed while the session is
  used (decisions, writes, a background timer), so no two annotators hold a
  sample and an absent annotator's batch returns to the pool after
  ``claim_ttl`` seconds. Every write is conditional on the claim: when it was
  taken over, ``submit``/``skip``/``save`` raise
  :class:`~labelkit.errors.ClaimLostError` (naming the sample and the other
  annotator), write nothing, and the session stays on the sample; moving away
  from it then drops its unsaved changes. ``close()`` gives the unfinished
  claims back (also when the session is garbage-collected or the process exits).
  ``review_seconds`` (time the sample was open) is recorded with each submit.
  A decision journaled during an outage (see above) whose claim was taken over
  before the server came back is refused at replay and never written; it is not
  dropped silently: :attr:`~ReviewSession.lost` lists it (sample, message of a
  ``ClaimLostError``) and ``db_status`` says so until ``clear_lost()``. A skip of
  a sample whose image is missing is claim-conditional and releases the claim
  like any skip.
* Overlap (agreement studies; ``overlap=k, overlap_fraction=f``, implies a team
  review): a deterministic share ``f`` of the samples is reviewed by ``k``
  different annotators (:mod:`labelkit.store.overlap`). The setting is recorded
  on the dataset by the first session; later team sessions follow it (naming a
  different one is refused). Besides primary claims, the session claims *copies*
  (extra reviews of samples someone else reviews), in the collection's order.
  A copy is reviewed blind: its proposals show with no decision and no labels
  (or this annotator's own earlier copy draft), never the primary's labels.
  Submitting/skipping/saving a copy writes only the copy fields (this
  annotator's labels in ``<labels>_overlap``, ``overlap_done`` /
  ``overlap_skipped``), conditional on the copy claim (``ClaimLostError``
  otherwise); the primary's status, labels and proposal reviews are never
  touched. A copy draft keeps the kept instances (rejections made before it are
  pending again when it is reopened). ``review_status`` / ``progress`` of a copy
  are the copy's own.
* Missing images: nothing is recorded for an image nobody can see. When the
  current sample's file is gone or cannot be read (deleted or moved after import,
  emptied, not an image any more), every decision and edit (accept, reject,
  accept_all, relabel, paint, erase, polygon, box, refine, delete), ``submit()``
  and a draft of unsaved changes (``save()``, or moving away with ``goto`` /
  ``next`` / ``prev``) raise :class:`~labelkit.errors.MissingImageError` naming
  the file, before anything is written or changed; ``image()`` raises it too.
  What still works: navigation without unsaved changes, ``undo``/``redo``,
  ``reload()``, and ``skip()``, which marks the sample "skipped" and records
  nothing else (unsaved changes are dropped, labels stored before are kept), so
  a reviewer can move on. The file is checked when the first decision on the
  sample is made (its header is read once per sample; ``image()`` decodes it
  fully) and its presence again at every later decision and write, so a file
  deleted mid-review is caught at ``submit()``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat as _stat
import time as _time
import weakref as _weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..errors import ClaimLostError, ImageReadError, MissingImageError, NotAllowedError, ReviewError
from ..geometry import edit as _edit
from ..geometry import masks as _masks
from ..store.image import PREFETCH, ReviewStore
from ..store.schema import make_label

logger = logging.getLogger("labelkit")

STATES = ("pending", "accepted", "edited", "rejected", "new")
_UNSET = object()


class _Ahead(NamedTuple):
    """What the background read of the next sample made (see ``ReviewSession._start_ahead``)."""

    stamp: tuple
    record: Any
    image: np.ndarray | None
    instances: tuple | None


@dataclasses.dataclass(frozen=True)
class Permissions:
    """Which changes a review may make, with FiftyOne's annotation-run semantics.

    An *existing label* is one stored in the labels field when the sample was
    opened (``existing_ids``, when given, narrows that to these label ids: an
    annotation run passes the labels of its ``label_field``, so labels the run
    added itself stay free to edit). A refused action raises
    :class:`~labelkit.errors.NotAllowedError` naming the option and ``origin``,
    before anything changes (the undo history included). The mapping:

    * ``allow_additions`` - a new label: ``paint(None, ...)``, ``add_polygon``,
      ``add_box``, and any action that makes a proposal (which is not an existing
      label) a kept label: ``accept``, ``accept_all``, and an edit (paint, erase,
      refine, relabel) of a pending or rejected proposal.
    * ``allow_deletions`` - ``delete`` / ``reject`` of an existing label, or an
      erase that empties one (it would be dropped). Rejecting a proposal that is
      not a label yet, or deleting a label this review drew, is no deletion.
    * ``allow_label_edits`` - ``relabel`` of an existing label.
    * ``allow_spatial_edits`` - ``paint`` / ``erase`` / ``refine`` that changes
      the mask of an existing label.

    Args:
        allow_additions, allow_deletions, allow_label_edits, allow_spatial_edits:
            the four switches (default: everything allowed).
        origin: where the restriction comes from, for messages
            (``"annotation run 'round1'"``).
        existing_ids: label ids that count as existing labels (None: every label
            stored when a sample opens).
    """

    allow_additions: bool = True
    allow_deletions: bool = True
    allow_label_edits: bool = True
    allow_spatial_edits: bool = True
    origin: str | None = None
    existing_ids: frozenset | None = None

    @classmethod
    def parse(cls, value) -> Permissions:
        """``value`` as Permissions: None (all allowed), a Permissions, or a mapping
        with the field names above (e.g. ``{"allow_additions": False}``).

        Raises:
            ReviewError: an unknown key or a switch that is not a bool.
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            out = value
        elif isinstance(value, dict) or hasattr(value, "keys"):
            names = [f.name for f in dataclasses.fields(cls)]
            unknown = sorted(str(k) for k in value if k not in names)
            if unknown:
                raise ReviewError(
                    f"unknown permission(s) {unknown}; valid keys: {names}"
                )
            out = cls(**dict(value))
        else:
            raise ReviewError(
                f"permissions must be a labelkit Permissions or a dict like "
                f"{{'allow_additions': False}}, got {value!r}"
            )
        for name in _ALLOW:
            v = getattr(out, name)
            if not isinstance(v, (bool, np.bool_)):
                raise ReviewError(f"permission {name} must be True or False, got {v!r}")
        if out.existing_ids is not None and not isinstance(out.existing_ids, frozenset):
            out = dataclasses.replace(out, existing_ids=frozenset(str(i) for i in out.existing_ids))
        return out

    @property
    def restricted(self) -> bool:
        """Whether any switch is off."""
        return not all(getattr(self, n) for n in _ALLOW)


_ALLOW = ("allow_additions", "allow_deletions", "allow_label_edits", "allow_spatial_edits")
_REFUSED = {
    "allow_additions": "new labels",
    "allow_deletions": "deleting existing labels",
    "allow_label_edits": "changing the class of existing labels",
    "allow_spatial_edits": "changing the mask of existing labels",
}


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
        tool: the tool that last made the mask, recorded as the label's ``tool``
            attribute: ``"box:<segmenter>"``, ``"click:<segmenter>"``,
            ``"refine:<segmenter>"``, ``"polygon"``, ``"brush"`` (None: untouched).
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
    tool: str | None = dataclasses.field(default=None, repr=False)

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
        proposals: the ``fo.Detections`` field with model proposals. A field named
            here must exist, except the default ``"predictions"`` (missing: nothing
            proposed yet); None reviews without proposals (labelling by hand).
        labels: the ``fo.Detections`` field the reviewed labels are written to
            (created if missing, only after every check passed).
        classes: the class list for new labels and relabelling (default: sorted
            union of the proposal and label classes found in ``samples``).
        annotator: name written to ``reviewed_by`` (default ``$LABELKIT_ANNOTATOR``
            or the login name).
        min_confidence: proposals below it are flagged ``below_threshold`` and are
            not taken by :meth:`accept_all` (default threshold).
        permissions: which changes this review may make (:class:`Permissions`, or
            a dict such as ``{"allow_additions": False}``; default: all). A refused
            action raises :class:`~labelkit.errors.NotAllowedError`.
        claim: a team review (several annotators, each in their own process, on
            one dataset): the session's samples are the batches it claims
            (:class:`~labelkit.store.claims.Claims`), not the whole collection;
            see "Team review" in the module docstring. Default (None / False):
            today's single-user review.
        batch_size: samples claimed at a time (implies ``claim=True``; default 10).
        claim_ttl: seconds a claim lasts without a sign of life (default 300).
        overlap: an agreement study: each overlapped sample is reviewed by this
            many different annotators (an integer >= 2; implies a team review).
            See "Overlap" in the module docstring.
        overlap_fraction: the share of samples overlapped, in (0, 1] (default 1.0
            with ``overlap``); needs ``overlap``.

    Raises:
        ReviewError: the collection has no samples, or a bad ``classes``,
            ``min_confidence``, ``permissions``, ``batch_size``, ``claim_ttl``,
            ``overlap`` or ``overlap_fraction`` value, overlap with ``claim=False``,
            or an overlap setting other than the one recorded on the dataset.
        NothingToClaimError: a team review found nothing to claim.
        SchemaError: a named proposals field that does not exist, or a field that
            holds something other than ``fo.Detections``.

    Every check runs before anything is written: a refused call leaves the
    dataset unchanged.
    """

    def __init__(
        self,
        samples,
        proposals: str = "predictions",
        labels: str = "ground_truth",
        classes: Sequence[str] | None = None,
        annotator: str | None = None,
        min_confidence: float = 0.0,
        permissions: Permissions | dict | None = None,
        claim: bool | None = None,
        batch_size: int | None = None,
        claim_ttl: float | None = None,
        segmenter=None,
        overlap: int | None = None,
        overlap_fraction: float | None = None,
    ):
        min_confidence = _check_min_confidence(min_confidence)
        self.segmenter = _check_segmenter(segmenter)
        classes = _check_classes(classes)
        self.permissions = Permissions.parse(permissions)
        # check everything first, then declare the fields (a refused call writes nothing)
        self.store = ReviewStore(samples, proposals=proposals, labels=labels, declare=False)
        self.samples = self.store.samples
        self.proposals_field = proposals
        self.labels_field = labels
        self.annotator = annotator
        self._min_conf = min_confidence
        self._ids = self.store.sample_ids()
        if not self._ids:
            raise ReviewError(
                "the collection has no samples to review; check the view's filters "
                "or add images with lk.load_images()"
            )
        #: the team review's claims (None: a single-user review)
        self.claims = None
        #: the overlap setting in force (``{"copies", "fraction", "salt"}``; None: no study)
        self.overlap = None
        overlap_args = self._check_overlap_args(overlap, overlap_fraction, claim)  # before any write
        team = bool(claim) or batch_size is not None or overlap_args is not None
        if team:
            self._check_claim_args(batch_size, claim_ttl)  # before any write
        self.store.ensure_schema()
        # decisions an earlier process of this annotator journaled during an outage
        self.store.open_journal(self.annotator)
        if team:
            self._setup_overlap(overlap_args)
            self._claim_first_batch()
        self._statuses = self.store.statuses() if self.claims is None else [None] * len(self._ids)
        self._opened_at = _time.monotonic()
        self._classes = classes if classes is not None else self._collection_classes()
        self._observers: list[Callable[[Event], None]] = []
        self._index = -1
        self._record = None
        self._instances: list[Instance] = []
        self._saved: list[Instance] = []
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self._selected: int | None = None
        self._image: np.ndarray | None = None
        first = self.store.first_unreviewed() if self.claims is None else 0
        self._open(0 if first is None else first)

    # ------------------------------------------------------------- team review
    def _check_claim_args(self, batch_size, claim_ttl) -> None:
        from ..store.claims import DEFAULT_BATCH, DEFAULT_TTL, _check
        from ..store.schema import default_annotator

        name = self.annotator if self.annotator is not None else default_annotator()
        bs = DEFAULT_BATCH if batch_size is None else batch_size
        ttl = DEFAULT_TTL if claim_ttl is None else claim_ttl
        name, _, _ = _check(name, ttl, bs)
        self.annotator = name
        self._claim_args = (name, ttl, bs)

    def _check_overlap_args(self, overlap, fraction, claim) -> tuple[int, float] | None:
        """Validate the overlap arguments, and that they agree with the setting already
        recorded on the dataset (reads only)."""
        from ..store import overlap as _ov

        if overlap is None:
            if fraction is not None:
                raise ReviewError(
                    f"overlap_fraction={fraction!r} needs overlap=<reviews per overlapped sample>; "
                    "e.g. overlap=2, overlap_fraction=0.2"
                )
            return None
        if claim is False:
            raise ReviewError(
                f"overlap={overlap!r} is a team review (annotators claim samples and extra "
                "copies), but claim=False was given; drop claim=False or overlap="
            )
        k, f = _ov.check_overlap(overlap, 1.0 if fraction is None else fraction)
        have = _ov.recorded(self.store.dataset)
        if have is not None:
            _ov.check_same(self.store.dataset, have, k, f)
        return k, f

    def _setup_overlap(self, args: tuple[int, float] | None) -> None:
        """Record the overlap setting (or follow the one recorded), declare its fields
        and mark the samples not marked yet."""
        from ..store import overlap as _ov

        ds = self.store.dataset
        setting = _ov.record(ds, *args) if args is not None else _ov.recorded(ds)
        if setting is None:
            return
        _ov.declare_fields(ds, self.labels_field)
        _ov.mark(self.store._collection(), ds, setting)
        self.overlap = setting

    @property
    def is_copy(self) -> bool:
        """Whether the current sample is an overlap copy (an extra, blind review) for
        this annotator, rather than its primary review."""
        return self._is_copy(self.sample_id)

    def _is_copy(self, sample_id: str) -> bool:
        return self.claims is not None and self.claims.is_copy(sample_id)

    @property
    def lost(self) -> list:
        """Decisions journaled during an outage that were refused when the journal was
        replayed, because the claim was taken over meanwhile
        (:class:`labelkit.store.image.LostDecision`: ``sample_id``, ``message``...).
        They were NOT written; :attr:`db_status` names them until :meth:`clear_lost`."""
        return list(getattr(self.store, "lost", []))

    def clear_lost(self) -> list:
        """Acknowledge :attr:`lost` (``db_status`` stops naming them); returns them."""
        clear = getattr(self.store, "clear_lost", None)
        out = [] if clear is None else clear()
        self._db_event()
        return out

    def _claim_first_batch(self) -> None:
        from ..errors import NothingToClaimError
        from ..store.claims import Claims, claim_counts

        name, ttl, bs = self._claim_args
        # through the store's writer client: an unreachable server fails in seconds
        claims = Claims(self.samples, annotator=name, ttl=ttl, batch_size=bs, collection=self.store._collection)
        self.claims = claims
        ids = claims.resume()
        if len(ids) < bs:
            ids += claims.claim(bs - len(ids))
        if not ids:
            c = claim_counts(self.samples)
            others = ", ".join(f"'{a}' ({n})" for a, n in sorted(c["by"].items())) or "nobody"
            raise NothingToClaimError(
                f"nothing left to claim for '{name}': {c['reviewed']} of {c['total']} samples are "
                f"reviewed and {c['claimed']} are claimed by others ({others}). Claims of annotators "
                f"who stopped working return to the pool {ttl:g} s after their last activity; "
                "lk.progress(ds) shows the room"
            )
        self._ids = ids
        claims.start_renewal()
        # a session that is dropped or a kernel that exits gives its unfinished batch back
        self._finalizer = _weakref.finalize(self, claims.close)

    def _team_write(self, release: bool) -> dict:
        """Extra store arguments of a team review's write (empty for a single user)."""
        if self.claims is None:
            return {}
        out = {"claimed_by": self.annotator, "claim_ttl": self.claims.ttl}
        if release:
            out["review_seconds"] = round(_time.monotonic() - self._opened_at, 3)
        return out

    def _claim_lost(self) -> None:
        sid = self.sample_id
        self.claims.lost.add(sid)
        if sid in self.claims.held:
            self.claims.held.remove(sid)

    def close(self) -> None:
        """End a team review: stop renewing its claims and give the unfinished ones
        back to the pool (submitted work stays). No-op for a single-user review."""
        if self.claims is not None:
            self._finalizer()

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
            MissingImageError: the file is gone or cannot be read (an
                ``ImageReadError``); nothing can be recorded for the sample until
                it is back (see "Missing images" in the module docstring).
            ReviewError: the file's size differs from the sample's metadata.
        """
        if self._image is None:
            from ..media.image import read_image

            try:
                img = read_image(self.filepath)
            except ImageReadError as exc:
                raise self._missing(exc.reason) from None
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
        prefetched, image, built = self._take_ahead(self._ids[index])
        try:
            if isinstance(self.store, ReviewStore):  # the window an outage can go on with: _start_ahead
                record = self.store.load(self._ids[index], prefetched=prefetched)
            else:
                record = self.store.load(self._ids[index])
        except ImageReadError as exc:  # no size in the metadata and the file cannot tell it
            raise MissingImageError(
                exc.path,
                f"{exc.reason}; sample {index} ({self._ids[index]}) has no width/height in its "
                "metadata either, so it cannot be opened. Restore the file (or fix the sample's "
                "filepath), or remove the sample from the dataset / review a view without it",
            ) from None
        self._index = index
        self._record = record
        self._statuses[index] = record.review_status
        # the image decoded ahead belongs to the prefetched record only
        self._image = image if prefetched is not None and record is prefetched[1] else None
        self._image_checked = False
        if self._is_copy(record.id):  # an overlap copy: reviewed blind (never the primary's labels)
            record = self._record = self.store.copy_record(record, self.annotator)
            self._statuses[index] = record.review_status
        self._opened_at = _time.monotonic()
        if built is not None and prefetched is not None and record is prefetched[1]:
            # built ahead from this very record; the threshold may have moved since
            self._instances = [self._with_threshold(i) for i in built]
        else:
            self._instances = self._build(record)
        self._stored_ids = frozenset(d.id for d in record.labels)
        self._saved = list(self._instances)
        self._undo.clear()
        self._redo.clear()
        self._selected = None
        self._db_event()
        self._start_ahead(index + 1)

    # ---------------------------------------------------------------- prefetch
    def _start_ahead(self, index: int) -> None:
        """Prepare sample ``index`` in the background while the current one is reviewed:
        its record (proposals, labels, masks) with a version stamp, its decoded image,
        its instances (built with the threshold of that moment) and the segmenter's
        embedding of it (SAM). :meth:`_open` uses them when the sample is opened next
        and its stamp still matches the database (nothing wrote to it meanwhile); a jump
        elsewhere leaves them unused. Then, in the same thread, the store's read-ahead
        window (the records of the next ``PREFETCH`` samples, what a review goes on with
        through a database outage) is topped up, in slices that let a later read ahead
        of the next sample go first (:meth:`_window_step`): nothing of it runs on the
        caller's thread."""
        if not isinstance(self.store, ReviewStore) or index >= len(self._ids) or self.store.offline:
            self._ahead = None  # offline: the store's read-ahead cache serves instead
            return
        sid = self._ids[index]
        if getattr(self, "_ahead_pool", None) is None:
            from concurrent.futures import ThreadPoolExecutor

            self._ahead_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelkit-prefetch")
            _weakref.finalize(self, self._ahead_pool.shutdown, wait=False, cancel_futures=True)
        if getattr(self, "_ahead", None) is None or self._ahead[0] != sid:
            if getattr(self, "_ahead", None) is not None:
                self._ahead[1].cancel()  # not started yet: not needed any more
            self._ahead_waiting = True  # a window read under way pauses for it
            self._ahead = (sid, self._ahead_pool.submit(self._read_ahead, sid))
        self._schedule_window(index)

    _ahead_waiting = False

    def _schedule_window(self, index: int) -> None:
        """Top up the store's read-ahead cache with the records of samples ``index``,
        ``index + 1``, ... (:meth:`ReviewStore.to_prefetch` decides which, at most
        ``PREFETCH``) in the background thread, unless a top-up is under way."""
        if getattr(self, "_window_busy", False):
            return
        ids = self.store.to_prefetch(self._ids[index : index + PREFETCH])
        if not ids:
            return
        self._window_busy = True
        try:
            self._ahead_pool.submit(self._window_step, ids)
        except RuntimeError:  # the pool is shut down (the session is being collected)
            self._window_busy = False

    def _window_step(self, ids: list[str]) -> None:
        """Read the window (background thread) until the next sample's read ahead is
        queued; then queue the rest behind it, so moving on never waits for the window
        longer than the read of one record."""
        try:
            rest = self.store.prefetch(ids, pause=lambda: self._ahead_waiting)
        except Exception:  # noqa: BLE001 - what is not read ahead is read when opened
            logger.debug("read-ahead window failed", exc_info=True)
            rest = []
        if rest:
            try:
                self._ahead_pool.submit(self._window_step, rest)
                return
            except RuntimeError:
                pass
        self._window_busy = False

    def wait_ahead(self, timeout: float | None = 60.0) -> bool:
        """Wait until the background work queued so far (the next sample's read ahead
        and the read-ahead window) has finished; True when it did within ``timeout``
        seconds. For tests and benchmarks: a review never needs to call it."""
        deadline = None if timeout is None else _time.monotonic() + timeout
        ahead = getattr(self, "_ahead", None)
        if ahead is not None:
            try:
                ahead[1].result(timeout=timeout)
            except Exception:  # noqa: BLE001 - timed out, cancelled or failed
                if not ahead[1].done():
                    return False
        while getattr(self, "_window_busy", False):
            if deadline is not None and _time.monotonic() > deadline:
                return False
            _time.sleep(0.005)
        return True

    def _read_ahead(self, sid: str) -> _Ahead:
        from ..media.image import read_image

        self._ahead_waiting = False
        stamp, record = self.store.read(sid)
        image = None
        try:
            image = read_image(record.filepath)
            if image.shape[:2] != (record.height, record.width):
                image = None  # image() reports the mismatch when the sample is opened
        except Exception:  # noqa: BLE001 - a missing image is reported when it is opened
            image = None
        if image is not None and getattr(self.segmenter, "uses_embedding", False):
            try:
                self.segmenter.prepare(image)
            except Exception:  # noqa: BLE001 - the first click computes (or reports) it
                logger.debug("embedding prefetch of %s failed", record.filepath, exc_info=True)
        built = None
        if type(self)._build is ReviewSession._build:  # subclasses may keep state in _build
            try:
                built = tuple(self._build(record))
            except Exception:  # noqa: BLE001 - built (or reported) when the sample is opened
                built = None
        return _Ahead(stamp, record, image, built)

    def upcoming(self, timeout: float | None = 0.0):
        """The record of the sample that comes next (:class:`labelkit.store.SampleRecord`:
        ``filepath``, ``width``, ``height``, proposals, labels), once the background read
        has it; None when there is no next sample, it is not read yet (within
        ``timeout`` seconds; None waits), or the read failed. For displays that want to
        prepare the next image too (the Labeler decodes its preview ahead)."""
        got = self.upcoming_instances(timeout)
        return None if got is None else got[0]

    @property
    def upcoming_id(self) -> str | None:
        """The id of the sample being read ahead (the next one), or None."""
        ahead = getattr(self, "_ahead", None)
        return None if ahead is None else ahead[0]

    def upcoming_instances(self, timeout: float | None = 0.0) -> tuple | None:
        """``(record, instances)`` of the sample that comes next: its record (see
        :meth:`upcoming`) and the :class:`Instance` objects it will open with if nothing
        changes before (instances is None where they are not built ahead). The same
        objects become :attr:`instances` when the sample is opened from this read (its
        stamp unchanged, the threshold unchanged for them), so a display can render
        them ahead and check ``is`` identity when the sample opens. None as for
        :meth:`upcoming`."""
        ahead = getattr(self, "_ahead", None)
        if ahead is None:
            return None
        try:
            got = ahead[1].result(timeout=timeout)
        except Exception:  # noqa: BLE001 - not ready, cancelled or failed: nothing to prepare
            return None
        return got.record, got.instances

    def _take_ahead(self, sid: str):
        """``((stamp, record), image, instances)`` prepared for ``sid``, or
        ``(None, None, None)``."""
        ahead, self._ahead = getattr(self, "_ahead", None), None
        if ahead is None or ahead[0] != sid:
            return None, None, None
        if isinstance(self.store, ReviewStore) and self.store.offline and not ahead[1].done():
            return None, None, None  # a read stuck on an unreachable server: don't wait for it
        try:
            got = ahead[1].result(timeout=10)
        except Exception:  # noqa: BLE001 - a failed or slow read ahead: read it now
            return None, None, None
        return (got.stamp, got.record), got.image, got.instances

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
                        tool=_get_attr(lab, "tool", None),
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
                    tool=_get_attr(det, "tool", None),
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
        if inst.tool:
            det["tool"] = inst.tool
        if inst.label_id:
            det.id = inst.label_id
        return det

    def _mark_saved(self, status: str | None) -> None:
        self._saved = list(self._instances)
        if status is not None:
            self._statuses[self._index] = status
        self._db_event()

    # ---------------------------------------------------------------- database
    _db_last: str | None = None

    @property
    def db_status(self) -> str | None:
        """A plain-words line when the database is unreachable or decisions wait in
        the local journal (``"database unreachable: 3 decision(s) saved locally in
        ~/.labelkit/journal/ana--ds-1a2b3c4d.jsonl, they will be written when it is
        back ..."``); None when every decision is in the database. An ``("db",
        db_status)`` event is emitted whenever it changes."""
        return getattr(self.store, "db_status", None)

    def sync(self) -> bool:
        """Try the database now and write the decisions kept in the local journal.

        Returns:
            True when the database is reachable and nothing is left to write.
        """
        sync = getattr(self.store, "sync", None)
        ok = True if sync is None else sync()
        self._db_event()
        return ok

    def _db_event(self) -> None:
        status = self.db_status
        if status != self._db_last:
            self._db_last = status
            self._emit("db", status)

    def save(self) -> bool:
        """Write the current sample's decisions as a draft if there are unsaved changes.

        ``review_status`` is unchanged; pending proposals stay pending. Durable
        before it returns.

        Returns:
            True if something was written.
        """
        if not self.dirty:
            return False
        if self.claims is not None and self.sample_id in self.claims.lost:
            return False  # someone else's sample now: nothing of ours may be written
        self._require_image("saving the unsaved changes")
        reviews, final = self._decisions(final_submit=False)
        try:
            if self._is_copy(self.sample_id):
                self.store.save_copy(self.sample_id, final, self.annotator, status=None,
                                     claim_ttl=self.claims.ttl)
            else:
                self.store.save_draft(self.sample_id, reviews, final, reviewed_by=self.annotator,
                                      current_status=self.review_status, **self._team_write(False))
        except ClaimLostError:
            self._claim_lost()
            raise
        self._mark_saved(None)
        self._emit("saved", None)
        return True

    def submit(self) -> int:
        """Finish the current sample: pending proposals are rejected, emptied instances
        dropped, everything written with status "done" (durable before it returns),
        then move to the next sample (staying on the last one).

        Returns:
            the new index.

        Raises:
            MissingImageError: the image file is gone or unreadable; nothing is
                written (``skip()`` still works).
            ClaimLostError: a team review whose claim on the sample was taken
                over; nothing is written, the session stays on the sample.
        """
        self._require_image("submit")
        return self._finish("done")

    def skip(self) -> int:
        """Mark the current sample "skipped" (decisions so far kept as a draft, pending
        proposals stay pending) and move to the next sample.

        Works on a sample whose image is missing too: then only the status
        "skipped" (with ``reviewed_by``/``reviewed_at``) is written; unsaved
        changes are dropped and the labels stored before are kept as they are.
        In a team review that write is conditional on the claim and releases it,
        like any skip.

        Returns:
            the new index.

        Raises:
            ClaimLostError: a team review whose claim on the sample was taken
                over; nothing is written, the session stays on the sample.
        """
        if self._image_problem() is not None:
            try:
                if self._is_copy(self.sample_id):
                    self.store.save_copy(self.sample_id, None, self.annotator, status="skipped",
                                         claim_ttl=self.claims.ttl)
                else:
                    self.store.set_status([self.sample_id], "skipped", reviewed_by=self.annotator,
                                          **self._team_write(False))
            except ClaimLostError:
                self._claim_lost()
                raise
            if self.claims is not None:
                self.claims.finished(self.sample_id)
            self._instances = list(self._saved)
            self._undo.clear()
            self._redo.clear()
            self._selected = None
            self._mark_saved("skipped")
            self._emit("saved", "skipped")
            return self._advance()
        return self._finish("skipped")

    def _finish(self, status: str) -> int:
        """Write the sample's decisions with ``status`` ("done": pending proposals become
        rejected; "skipped": they stay pending), release its claim, move on."""
        reviews, final = self._decisions(final_submit=status == "done")
        try:
            if self._is_copy(self.sample_id):  # only the copy's fields; the primary is never touched
                team = self._team_write(True)
                self.store.save_copy(self.sample_id, final, self.annotator, status=status,
                                     review_seconds=team["review_seconds"], claim_ttl=team["claim_ttl"])
            else:
                self.store.save_review(self.sample_id, reviews, final, status=status,
                                       reviewed_by=self.annotator, **self._team_write(True))
        except ClaimLostError:
            self._claim_lost()
            raise
        if self.claims is not None:
            self.claims.finished(self.sample_id)
        self._mark_saved(status)
        self._emit("saved", status)
        return self._advance()

    def _advance(self) -> int:
        i = self._index
        if self.claims is not None and i + 1 >= len(self._ids):
            from pymongo.errors import ConnectionFailure

            try:
                more = [m for m in self.claims.claim() if m not in self._ids]  # the next batch
            except ConnectionFailure:  # the server is away: no new claims until it is back
                more = []
            self._ids.extend(more)
            self._statuses.extend([None] * len(more))
        elif self.claims is not None:
            self.claims.touch()
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
        self._require_image(name)
        self._check_allowed(name, old, new, changed)
        if self.claims is not None:
            self.claims.touch()
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
        moved = selected != self._selected
        self._selected = selected  # observers of "instances" see a valid selection
        self._emit("instances", changed)
        if moved:
            self._emit("selection", selected)

    # ---------------------------------------------------------- missing images
    def _image_problem(self) -> str | None:
        """Why the current sample's file cannot be shown, or None when it can.

        The file must exist and be a readable, non-empty regular file; the first
        time per sample (unless ``image()`` already decoded it) an image file's
        header is read too (``probe_image(verify=False)``: a truncated body is
        only caught by ``image()``). Video frames are read by their own reader;
        only their file is checked here.
        """
        path = self.filepath
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return "file does not exist (moved or deleted after import?)"
        except OSError as exc:
            return f"cannot be accessed ({exc.strerror or exc})"
        if not _stat.S_ISREG(st.st_mode):
            return "is not a regular file"
        if st.st_size == 0:
            return "file is empty (0 bytes)"
        if not os.access(path, os.R_OK):
            return "is not readable (permission denied)"
        if self._image is None and not getattr(self, "_image_checked", False):
            if isinstance(self.store, ReviewStore):  # still images (VideoFrameStore: video files)
                from ..media.image import probe_image

                try:
                    probe_image(path, verify=False)
                except ImageReadError as exc:
                    return exc.reason
            self._image_checked = True
        return None

    def _missing(self, reason: str, action: str | None = None) -> MissingImageError:
        refused = f"{action} refused: " if action else ""
        return MissingImageError(
            self.filepath,
            f"{reason}; {refused}nothing is recorded for sample {self._index} ({self.sample_id}) "
            "while its image cannot be read. Restore the file (or fix the sample's filepath), "
            "call skip() to move on, or remove the sample from the dataset",
        )

    def _require_image(self, action: str) -> None:
        """Raise :class:`MissingImageError` for ``action`` when the image is missing."""
        reason = self._image_problem()
        if reason is not None:
            raise self._missing(reason, action)

    # ------------------------------------------------------------- permissions
    def _existing(self, inst: Instance | None) -> bool:
        """Whether ``inst`` is an existing label (see :class:`Permissions`)."""
        if inst is None or inst.label_id is None:
            return False
        ids = self.permissions.existing_ids
        return inst.label_id in (self._stored_ids if ids is None else ids)

    def _refuse(self, option: str, action: str, detail: str = "") -> None:
        origin = self.permissions.origin or "this review's permissions"
        raise NotAllowedError(
            f"{action}{detail}: this review does not allow {_REFUSED[option]} ({option}=False "
            f"in {origin}); nothing was changed. This review can still: {self._allowed_hint()}"
        )

    def _allowed_hint(self) -> str:
        p = self.permissions
        can = []
        if p.allow_additions:
            can.append("add or accept labels")
        if p.allow_deletions:
            can.append("delete or reject existing labels")
        if p.allow_label_edits:
            can.append("relabel existing labels")
        if p.allow_spatial_edits:
            can.append("edit masks of existing labels")
        can.append("skip or submit the sample")
        return ", ".join(can)

    def _require(self, option: str, action: str, detail: str = "") -> None:
        if not getattr(self.permissions, option):
            self._refuse(option, action, detail)

    def _check_allowed(self, action: str, old: list, new: list, changed: tuple) -> None:
        """Refuse a step that makes a change the permissions forbid (before it is applied)."""
        p = self.permissions
        if not p.restricted:
            return
        for j in changed:
            a = old[j] if j < len(old) else None
            b = new[j] if j < len(new) else None
            # the same instance may have moved (a delete shifts later ones down)
            if a is not None and b is not None and a.label_id != b.label_id:
                b_same = next((i for i in new if i.label_id == a.label_id), None)
                self._check_pair(action, a, b_same)
                a_same = next((i for i in old if i.label_id == b.label_id), None)
                self._check_pair(action, a_same, b)
            else:
                self._check_pair(action, a, b)

    def _check_pair(self, action: str, a: Instance | None, b: Instance | None) -> None:
        kept_a = a is not None and a.kept
        kept_b = b is not None and b.kept
        existing = self._existing(a) or self._existing(b)
        what = a if a is not None else b
        detail = f" (instance {what.k}, '{what.label}')" if what is not None else ""
        if not existing:
            if kept_b and not kept_a:
                self._require("allow_additions", action, detail)
            return
        if kept_a and not kept_b:
            self._require("allow_deletions", action, detail)
        if a is not None and b is not None:
            if a.label != b.label:
                self._require("allow_label_edits", action, detail)
            if not _edit.crop_equal(a.cropmask, b.cropmask):
                self._require("allow_spatial_edits", action, detail)

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
            self._require("allow_additions", "paint (a new instance)")
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

    def _add(self, cm: tuple, label: str, name: str, tool: str | None = None) -> int:
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
            tool=tool or name,
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
        self._require("allow_additions", "add_polygon")
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
        is the session's segmenter's mask for the box (GrabCut by default, SAM with
        ``segmenter=lk.models.sam(...)``), or the filled box if that finds nothing.
        The label records ``source="human"`` and ``tool="box:<segmenter>"``.

        Returns:
            the new instance's k (it becomes the selection).
        """
        label = self._check_class(label)
        self._require("allow_additions", "add_box")
        pb = _edit.pixel_box_xyxy(box, self.width, self.height)
        if pb[2] <= pb[0] or pb[3] <= pb[1]:
            raise ReviewError(f"box {list(box)} lies outside the {self.width}x{self.height} image")
        masks, _ = self.segmenter.segment(self.image(), boxes=[list(box)])
        cm = _edit.full_to_cropmask(masks[0])
        if cm[0] is None:
            cm = _edit.full_to_cropmask(_edit.box_mask(box, self.width, self.height))
        return self._add(cm, label, "box", tool=f"box:{_segmenter_name(self.segmenter)}")

    def add_from_clicks(self, positive: Iterable, label: str, negative: Iterable = ()) -> int:
        """Add a human instance where there was none: the segmenter's mask for the
        clicks (positive: on the object, negative: on background; image pixels
        ``(x, y)``). The label records ``source="human"`` and ``tool="click:<segmenter>"``.

        Returns:
            the new instance's k (it becomes the selection).

        Raises:
            ReviewError: no positive click, a click outside the image, an unknown class,
                or a segmenter that finds nothing there.
        """
        label = self._check_class(label)
        self._require("allow_additions", "add_from_clicks")
        pos = self._clicks(positive, "positive")
        neg = self._clicks(negative, "negative")
        if not len(pos):
            raise ReviewError("add_from_clicks needs at least one positive click on the object")
        points = np.concatenate([pos, neg]) if len(neg) else pos
        labels = [1] * len(pos) + [0] * len(neg)
        masks, _ = self.segmenter.segment(self.image(), points=points, point_labels=labels)
        cm = _edit.full_to_cropmask(masks[0])
        if cm[0] is None:
            raise ReviewError(
                f"{_segmenter_name(self.segmenter)} found no object at {pos.tolist()}; "
                "click inside the object, or draw it with the box or polygon tool"
            )
        return self._add(cm, label, "click", tool=f"click:{_segmenter_name(self.segmenter)}")

    def refine(self, k: int, positive: Iterable = (), negative: Iterable = ()) -> None:
        """Re-segment instance ``k`` with the session's segmenter (GrabCut by default)
        from its current mask and the clicks (positive: on the object, negative: on
        background; image pixels ``(x, y)``). Other instances never change."""
        inst = self._get(k)
        pos = self._clicks(positive, "positive")
        neg = self._clicks(negative, "negative")
        points = np.concatenate([pos, neg]) if len(pos) + len(neg) else None
        labels = [1] * len(pos) + [0] * len(neg) if points is not None else None
        prior = inst.full_mask()
        if points is None and not prior.any():
            return  # nothing to refine from
        masks, _ = self.segmenter.segment(
            self.image(), points=points, point_labels=labels, mask_input=prior if prior.any() else None
        )
        new = _edit.full_to_cropmask(masks[0])
        if _edit.crop_equal(new, inst.cropmask):
            return
        tool = f"refine:{_segmenter_name(self.segmenter)}"
        self._replace({inst.k: self._edited(inst, box=new[0], crop=new[1], tool=tool)}, "refine")

    def _clicks(self, points, what: str) -> np.ndarray:
        pts = _edit._points(list(points), f"{what} clicks")
        for x, y in pts:
            if not (0 <= x < self.width and 0 <= y < self.height):
                raise ReviewError(
                    f"{what} click ({x:g}, {y:g}) is outside the {self.width}x{self.height} image"
                )
        return pts


def _check_min_confidence(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ReviewError(f"min_confidence must be a number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ReviewError(f"min_confidence must be in [0, 1], got {value:g}; e.g. min_confidence=0.5")
    return value


def _check_classes(classes) -> list[str] | None:
    if classes is None:
        return None
    if isinstance(classes, str) or not isinstance(classes, Iterable):
        raise ReviewError(
            f"classes must be a list of class names, got {classes!r}; e.g. classes=['ball', 'mug']"
        )
    classes = list(classes)
    bad = [c for c in classes if not isinstance(c, str) or not c.strip()]
    if bad:
        raise ReviewError(f"classes must be non-empty strings, got {bad!r} in {classes!r}")
    return list(dict.fromkeys(classes))


def _get_attr(det, name: str, default):
    return det[name] if det.has_field(name) else default


def _new_id() -> str:
    from bson import ObjectId

    return str(ObjectId())


def _check_segmenter(segmenter):
    """The session's segmenter: GrabCut when None; anything with ``segment()``."""
    if segmenter is None:
        from ..models.segmenters import grabcut

        return grabcut()
    if not callable(getattr(segmenter, "segment", None)):
        raise ReviewError(
            f"segmenter must have segment(image, boxes=..., points=...), got {type(segmenter).__name__}; "
            "use lk.models.grabcut() or lk.models.sam(...)"
        )
    return segmenter


def _segmenter_name(segmenter) -> str:
    return str(getattr(segmenter, "name", None) or type(segmenter).__name__)
