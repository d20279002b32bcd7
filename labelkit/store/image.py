"""The image review store: the writes of review results to FiftyOne.

Schema (see README "FiftyOne schema"):

* ``<proposals>``: ``fo.Detections``; each ``fo.Detection`` has ``label``,
  ``confidence``, ``bounding_box``, ``mask`` and ``review`` = None | "accepted" |
  "edited" | "rejected" once reviewed.
* ``<labels>``: ``fo.Detections``; each has ``source`` = "proposal" | "human",
  ``proposal_id`` (id of the proposal it came from, or None), ``proposal_iou``
  (mask IoU of final vs. original proposal, 1.0 when accepted unchanged) and
  ``edits`` (number of edit operations).
* sample fields ``review_status`` = None | "done" | "skipped", ``reviewed_by``,
  ``reviewed_at`` (UTC datetime), ``review_decision_id`` (the id of the decision
  last written, see :mod:`labelkit.store.journal`).
* team reviews add the sample fields ``claimed_by``, ``claim_expires``,
  ``claimed_at`` and ``review_seconds`` (:mod:`labelkit.store.claims`); their
  writes carry the claim condition in the same single-document update.
* overlap studies add ``review_copies``, ``overlap_claims``, ``overlap_done``,
  ``overlap_skipped``, ``overlap_reviews`` and ``<labels>_overlap``
  (:mod:`labelkit.store.overlap`); a copy's decision (:meth:`ReviewStore.save_copy`)
  is one conditional pipeline update of those fields only.

Review writes (:meth:`ReviewStore.save_review`, :meth:`ReviewStore.save_draft`,
:meth:`ReviewStore.set_status`) are explicit single-document pymongo updates of
FiftyOne's samples collection, in FiftyOne's document format: everything one
decision changes (proposal ``review`` values, the labels field, status, who/when,
decision id) is one ``$set``, so a process killed at any instant leaves the old
or the new document, never a half-written label list or a status that disagrees
with its labels. Each is acknowledged with ``j=True`` (in the server's journal)
before the method returns. When the server cannot be reached within
``$LABELKIT_DB_TIMEOUT_MS`` (3 s), the decision goes to the annotator's local
journal instead and is written once when the server is back.
:meth:`ReviewStore.write_proposals` uses FiftyOne's batched ``set_values``;
:meth:`ReviewStore.write_proposal_documents` does the same with documents encoded
elsewhere (:func:`proposal_documents`, on Ray workers).
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import DatabaseError, ReviewError, SchemaError
from .schema import (
    REVIEW_STATES,
    SAMPLE_STATES,
    _fo,
    _utcnow,
    _validate_label,
    declare_field,
    default_annotator,
)

logger = logging.getLogger("labelkit")


@dataclass(frozen=True)
class LostDecision:
    """A journaled decision the server refused at replay because its claim was lost
    meanwhile (the claim expired during the outage and another annotator took the
    sample over): it was NOT written. :attr:`ReviewStore.lost` lists them.

    Attributes:
        sample_id: the sample.
        decision_id: the journaled decision's id.
        kind: "review" | "draft" | "status" | "copy".
        annotator: whose decision it was.
        message: why, in the words of a :class:`~labelkit.errors.ClaimLostError`.
    """

    sample_id: str
    decision_id: str
    kind: str
    annotator: str
    message: str


@dataclass
class SampleRecord:
    """What the review session needs of one sample (a plain, detached copy).

    Attributes:
        id: the FiftyOne sample id.
        filepath: the image file.
        width, height: image size in pixels (from metadata, filled in if missing).
        proposals: the proposal ``fo.Detection`` objects (copies).
        labels: the final label ``fo.Detection`` objects already saved (copies).
        review_status: None, "done" or "skipped".
    """

    id: str
    filepath: str
    width: int
    height: int
    proposals: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    review_status: str | None = None


#: The proposals field ``lk.propose`` writes by default. It may be missing (nothing
#: proposed yet: every sample has no proposals); any other proposals field named
#: must exist.
DEFAULT_PROPOSALS = "predictions"

#: The sample fields of the review status and the field types they must have.
_STATUS_FIELDS = (("review_status", "StringField"), ("reviewed_by", "StringField"),
                  ("reviewed_at", "DateTimeField"), ("review_decision_id", "StringField"))

#: Records the read-ahead cache keeps ahead of the current sample (they are what a
#: review can go on with while the database is unreachable).
PREFETCH = 32

#: Guards every store's read-ahead cache: a review session fills it from its
#: background thread (:meth:`ReviewStore.prefetch`) while its UI thread reads it.
_CACHE_LOCK = threading.RLock()

#: Milliseconds a write (or read) waits for an unreachable server before the
#: decision goes to the local journal (``$LABELKIT_DB_TIMEOUT_MS``, default 3000;
#: FiftyOne's own client waits 30 s).
DB_TIMEOUT_ENV = "LABELKIT_DB_TIMEOUT_MS"

#: Seconds between attempts to reach a server that was unreachable; meanwhile
#: decisions go to the journal without waiting (``$LABELKIT_DB_RETRY_S``, default 10).
DB_RETRY_ENV = "LABELKIT_DB_RETRY_S"


class ReviewStore:
    """Reads samples for review and writes review decisions to a FiftyOne collection.

    Args:
        samples: a ``fo.Dataset`` or any view of one (filtered, sorted, sampled).
        proposals: the ``fo.Detections`` field holding model proposals. It must
            exist, except the default ``"predictions"`` (absent: nothing has been
            proposed yet, every sample has no proposals); None: no proposals.
        labels: the ``fo.Detections`` field the reviewed labels go to (created if
            missing, once every check has passed).
        declare: declare the review fields now (:meth:`ensure_schema`); False only
            checks them (:meth:`check_schema`) and writes nothing, for callers that
            validate more before the first write.

    Raises:
        SchemaError: no such dataset, a named proposals field that does not exist,
            a field of the wrong type, or proposals and labels the same field.
            Nothing is written then.
    """

    def __init__(
        self,
        samples,
        proposals: str | None = DEFAULT_PROPOSALS,
        labels: str = "ground_truth",
        declare: bool = True,
    ):
        fo = _fo()
        if isinstance(samples, str):
            if not fo.dataset_exists(samples):
                raise SchemaError(
                    f"no FiftyOne dataset named '{samples}'; fo.list_datasets() shows "
                    "what exists, lk.load_images() makes one"
                )
            samples = fo.load_dataset(samples)
        if proposals == labels:
            raise SchemaError(
                f"proposals and labels are both '{labels}': reviewed labels need a field of "
                "their own (e.g. labels='ground_truth')"
            )
        self.samples = samples
        self.dataset = samples._dataset
        self.proposals = proposals
        self.labels = labels
        if declare:
            self.ensure_schema()
        else:
            self.check_schema()

    # ------------------------------------------------------------------ schema
    @classmethod
    def for_proposals(cls, samples, proposals: str = "predictions") -> ReviewStore:
        """A store that only writes proposals (what ``lk.propose`` needs).

        Declares the proposals field (``fo.Detections``, with the ``review``
        attribute) and the sample review fields, but never creates or checks a
        labels field, so datasets whose ``ground_truth`` is something else work.
        Only :meth:`write_proposals` and the read methods are meant to be used.
        """
        fo = _fo()
        if isinstance(samples, str):
            if not fo.dataset_exists(samples):
                raise SchemaError(
                    f"no FiftyOne dataset named '{samples}'; fo.list_datasets() shows "
                    "what exists, lk.load_images() makes one"
                )
            samples = fo.load_dataset(samples)
        if "." in proposals:
            raise SchemaError(f"image datasets need a top-level proposals field, got '{proposals}'")
        self = cls.__new__(cls)
        self.samples = samples
        self.dataset = samples._dataset
        self.proposals = proposals
        self.labels = None
        ds = self.dataset
        schema = ds.get_field_schema()
        if not self._check_detections_field(proposals, schema):
            ds.add_sample_field(proposals, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
        self._declare_status_fields(schema)
        self._declare_attrs()
        return self

    def _check_detections_field(self, name: str, schema: Mapping) -> bool:
        fo = _fo()
        f = schema.get(name)
        if f is None:
            return False
        doc_type = getattr(f, "document_type", None)
        if doc_type is not fo.Detections:
            raise SchemaError(
                f"field '{name}' holds {getattr(doc_type, '__name__', type(f).__name__)}, "
                "but labelkit needs fo.Detections (instance masks); pick another field name"
            )
        return True

    def check_schema(self) -> None:
        """Check the fields this store reads and writes, writing nothing.

        Raises:
            SchemaError: a field name that is not top-level, a named proposals field
                that does not exist (naming the dataset's ``fo.Detections`` fields and
                how to make proposals), a proposals/labels field that is not
                ``fo.Detections``, or a review status field of the wrong type.
        """
        fo = _fo()
        ds = self.dataset
        schema = ds.get_field_schema()
        for what, name in (("proposals", self.proposals), ("labels", self.labels)):
            if name is None and what == "proposals":
                continue
            if not isinstance(name, str) or not name:
                raise SchemaError(f"{what} must be a field name (a non-empty string), got {name!r}")
        if "." in self.labels or (self.proposals is not None and "." in self.proposals):
            raise SchemaError(
                f"image datasets need top-level fields, got '{self.proposals}' / '{self.labels}'"
            )
        if self.proposals is not None:
            exists = self._check_detections_field(self.proposals, schema)
            if not exists and self.proposals != DEFAULT_PROPOSALS:
                dets = sorted(
                    k for k, v in schema.items() if getattr(v, "document_type", None) is fo.Detections
                )
                listed = ", ".join(f"'{k}'" for k in dets) if dets else "none"
                raise SchemaError(
                    f"dataset '{ds.name}' has no proposals field '{self.proposals}' "
                    f"(its fo.Detections fields: {listed}); create the proposals with "
                    f"lk.propose(ds, model, field='{self.proposals}'), pick one of those "
                    "fields, or pass proposals=None to label without proposals"
                )
        self._check_detections_field(self.labels, schema)
        for name, ftype in _STATUS_FIELDS:
            f = schema.get(name)
            if f is not None and not isinstance(f, getattr(fo, ftype)):
                raise SchemaError(
                    f"sample field '{name}' of dataset '{ds.name}' is a {type(f).__name__}, but "
                    f"labelkit records the review there as a {ftype}; rename or delete that "
                    f"field (ds.rename_sample_field('{name}', ...)) before reviewing"
                )

    def ensure_schema(self) -> None:
        """Declare the review fields on the dataset (idempotent), after
        :meth:`check_schema` passed (a refused call writes nothing).

        Safe when several processes open a fresh dataset at once (a workshop room
        running the same cell): each declaration retries around a concurrent
        schema rewrite (:func:`~labelkit.store.schema.declare_field`), and the
        whole set is checked again after a reload, because FiftyOne rewrites the
        dataset document whole and a declaration made by another process at the
        same instant can be overwritten by a stale copy."""
        fo = _fo()
        ds = self.dataset
        self.check_schema()
        for _attempt in range(4):
            schema = ds.get_field_schema()
            if not self._check_detections_field(self.labels, schema):
                declare_field(ds, self.labels, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
            self._declare_status_fields(schema)
            self._declare_attrs()
            ds.reload()
            if not self._missing_fields():
                break

    def _missing_fields(self) -> list[str]:
        """Review fields ``ensure_schema`` declares that the dataset's schema lacks now."""
        flat = self.dataset.get_field_schema(flat=True)
        want = [self.labels, "review_status", "reviewed_by", "reviewed_at", "review_decision_id"]
        return [f for f in want if f and f not in flat]

    def _declare_status_fields(self, schema: Mapping) -> None:
        """Declare the sample-level review fields that ``schema`` lacks."""
        fo = _fo()
        for name, ftype in (
            ("review_status", fo.StringField),
            ("reviewed_by", fo.StringField),
            ("reviewed_at", fo.DateTimeField),
            ("review_decision_id", fo.StringField),
        ):
            if name not in schema:
                declare_field(self.dataset, name, ftype)

    def _declare_attrs(self) -> None:
        fo = _fo()
        ds = self.dataset
        schema = ds.get_field_schema(flat=True)
        wanted = []
        if self.labels is not None:  # None: a proposals-only store (for_proposals)
            wanted += [
                (f"{self.labels}.detections.source", fo.StringField),
                (f"{self.labels}.detections.proposal_id", fo.StringField),
                (f"{self.labels}.detections.proposal_iou", fo.FloatField),
                (f"{self.labels}.detections.edits", fo.IntField),
            ]
        if self.proposals is not None and self.proposals in ds.get_field_schema():
            wanted.append((f"{self.proposals}.detections.review", fo.StringField))
        for path, ftype in wanted:
            if path not in schema:
                declare_field(ds, path, ftype)

    # ------------------------------------------------------------------- reads
    def sample_ids(self) -> list[str]:
        """Sample ids in the collection's order."""
        return list(self.samples.values("id"))

    def statuses(self) -> list[str | None]:
        """``review_status`` of every sample, in the collection's order."""
        return list(self.samples.values("review_status"))

    def first_unreviewed(self) -> int | None:
        """Index (in the collection's order) of the first sample not yet done or
        skipped, or None when all are reviewed."""
        for i, status in enumerate(self.statuses()):
            if status not in ("done", "skipped"):
                return i
        return None

    def stamp(self, sample_id: str) -> tuple:
        """A cheap version of one sample: FiftyOne's ``last_modified_at`` and labelkit's
        ``review_decision_id`` (every labelkit decision writes a new one). Equal stamps
        mean a record read earlier is still what the database holds."""
        values = self.samples.select(sample_id).values(["last_modified_at", "review_decision_id"])
        return tuple(v[0] if v else None for v in values)

    def read(self, sample_id: str) -> tuple[tuple, SampleRecord]:
        """``(stamp, record)`` of one sample, read for later use (e.g. by a background
        prefetch): a plain read, no cache or outage bookkeeping."""
        stamp = self.stamp(sample_id)
        return stamp, self._record(self.dataset[sample_id])

    def load(self, sample_id: str, ahead: Sequence[str] = (), prefetched: tuple | None = None) -> SampleRecord:
        """Read one sample into a detached :class:`SampleRecord`.

        ``prefetched`` is a ``(stamp, record)`` pair from :meth:`read`; the record is
        used when the sample's :meth:`stamp` still matches (nothing wrote to it since),
        else the sample is read again.

        The record is also kept in a small read-ahead cache. ``ahead`` (the samples
        the reviewer will open next, in order) tops the cache up *in this call*:
        their records are read when fewer than half of the first :data:`PREFETCH`
        of them are cached (:meth:`to_prefetch`), which can take seconds for big
        masks. A caller on a UI thread passes no ``ahead`` and runs
        :meth:`prefetch` in a background thread instead, as
        :class:`~labelkit.review.session.ReviewSession` does.
        While the database is unreachable the cache answers instead (with the
        decisions journaled meanwhile laid over it), so a review goes on offline.

        Raises:
            DatabaseError: the database is unreachable and the sample was not read
                before it went away.
        """
        if self._offline_since is not None and time.monotonic() - self._last_try < _retry_s():
            return self._offline_record(sample_id, prefetched)
        try:
            self._last_try = time.monotonic()
            _writer_client().admin.command("ping")  # fails fast, where FiftyOne's client waits 30 s
            if self._pending:
                self._replay_journals()
            self._offline_since = None
            if prefetched is not None and prefetched[0] == self.stamp(sample_id):
                record = prefetched[1]  # read ahead and still current
            else:
                record = self._record(self.dataset[sample_id])
            self._cache_put(record)
            if ahead:
                self._prefetch(ahead)
        except _connection_errors() as exc:
            self._went_offline(exc)
            return self._offline_record(sample_id, prefetched)
        return record

    def _record(self, sample) -> SampleRecord:
        width = height = None
        if sample.metadata is not None:
            width, height = sample.metadata.width, sample.metadata.height
        if not width or not height:
            from ..media.image import probe_image

            info = probe_image(sample.filepath, verify=False)
            width, height = info["width"], info["height"]
        props = sample[self.proposals] if self.proposals and self.proposals in sample.field_names else None
        labels = sample[self.labels] if self.labels in sample.field_names else None
        return SampleRecord(
            id=sample.id,
            filepath=sample.filepath,
            width=int(width),
            height=int(height),
            proposals=[_copy_keep_id(d) for d in (props.detections if props else [])],
            labels=[_copy_keep_id(d) for d in (labels.detections if labels else [])],
            review_status=sample["review_status"],
        )

    def _cache_get(self, sample_id: str) -> SampleRecord | None:
        with _CACHE_LOCK:
            return None if self._cache is None else self._cache.get(str(sample_id))

    def _cache_put(self, record: SampleRecord, replace: bool = True) -> bool:
        """Keep ``record`` (the newest last; the oldest beyond ``4 * PREFETCH`` go).
        ``replace=False`` keeps a record already cached for that sample instead (a
        background read must not undo what the UI thread read or wrote since it
        started). Returns whether ``record`` was stored."""
        with _CACHE_LOCK:
            if self._cache is None:
                self._cache = {}
            if not replace and record.id in self._cache:
                return False
            self._cache.pop(record.id, None)
            self._cache[record.id] = record
            while len(self._cache) > 4 * PREFETCH:
                self._cache.pop(next(iter(self._cache)))
            return True

    def to_prefetch(self, ahead: Sequence[str]) -> list[str]:
        """The ids among the first :data:`PREFETCH` of ``ahead`` that the read-ahead
        cache lacks, or ``[]`` when at least half of them are cached (the window is
        topped up in batches, not one record per sample)."""
        window = [str(i) for i in list(ahead)[:PREFETCH]]
        missing = [i for i in window if self._cache_get(i) is None]
        if len(window) - len(missing) >= PREFETCH // 2 or not missing:
            return []
        return missing

    def prefetch(self, sample_ids: Sequence[str], pause: Callable[[], bool] | None = None) -> list[str]:
        """Read the records of ``sample_ids`` into the read-ahead cache, skipping those
        already cached; thread-safe, meant for a background thread.

        Args:
            sample_ids: what to read (e.g. :meth:`to_prefetch`'s answer).
            pause: asked after each record; True stops the read there (the caller has
                more urgent work for its thread and reads the rest later).

        Returns:
            the ids not read yet (empty when done). A record that cannot be read is
            skipped (it is read when opened); an unreachable database ends the read
            quietly (the outage is noticed and reported by :meth:`load` and the writes).
        """
        todo = [str(i) for i in sample_ids]
        todo = [i for i in todo if self._cache_get(i) is None]
        if not todo:
            return []
        done: set[str] = set()
        try:
            for sample in self.dataset.select(todo):
                done.add(sample.id)
                try:
                    self._cache_put(self._record(sample), replace=False)
                except Exception:  # noqa: BLE001 - a sample that cannot be read ahead is read when opened
                    pass
                if pause is not None and pause():
                    break
            else:
                return []
        except _connection_errors():
            return []
        return [i for i in todo if i not in done]

    def _prefetch(self, ahead: Sequence[str]) -> None:
        """Top up the read-ahead window now, in the caller's thread (``load(ahead=...)``)."""
        self.prefetch(self.to_prefetch(ahead))

    def _offline_record(self, sample_id: str, prefetched: tuple | None = None) -> SampleRecord:
        """A copy of the cached record of ``sample_id`` (the database is unreachable);
        a ``prefetched`` ``(stamp, record)`` of it read just before (and not cached yet)
        is cached and served too."""
        if prefetched is not None and str(prefetched[1].id) == str(sample_id):
            self._cache_put(prefetched[1], replace=False)
        rec = self._cache_get(sample_id)
        if rec is not None:
            with _CACHE_LOCK:  # a consistent copy (the cache may be filled meanwhile)
                proposals, labels, status = list(rec.proposals), list(rec.labels), rec.review_status
            return SampleRecord(
                id=rec.id, filepath=rec.filepath, width=rec.width, height=rec.height,
                proposals=[_copy_keep_id(d) for d in proposals],
                labels=[_copy_keep_id(d) for d in labels],
                review_status=status,
            )
        status = self.db_status or f"database unreachable ({self._offline_reason})"
        raise DatabaseError(
            f"{status}. Sample {sample_id} was not read before the database went away, so it "
            "cannot be shown until the server is back: review the samples already loaded, or "
            "restart the database server (the decisions kept locally are written then)"
        )

    # ------------------------------------------------------------------ writes
    def save_review(
        self,
        sample_id: str,
        proposal_reviews: Mapping[str, str | None],
        final: Sequence,
        status: str = "done",
        reviewed_by: str | None = None,
        claimed_by: str | None = None,
        review_seconds: float | None = None,
        claim_ttl: float | None = None,
    ) -> _dt.datetime:
        """Write one sample's review: proposal states, final labels and sample status.

        One single-document MongoDB update carries everything (proposal
        ``review`` values, the labels field, ``review_status``, ``reviewed_by``,
        ``reviewed_at``, ``review_decision_id``): a process killed at any instant
        leaves the old or the new document, never a mix. It is acknowledged
        (journaled on the server, ``j=True``) before this returns. When the server
        cannot be reached the decision is appended to the annotator's local journal
        instead (fsynced before this returns) and written when the server is back
        (see :mod:`labelkit.store.journal` and :attr:`db_status`).

        Args:
            sample_id: the sample.
            proposal_reviews: proposal id -> None | "accepted" | "edited" | "rejected".
                Proposals not named keep their current ``review``.
            final: the final ``fo.Detection`` list for the labels field; each must
                carry ``source`` ("proposal" | "human"), ``proposal_id``,
                ``proposal_iou`` and ``edits``.
            status: "done" or "skipped".
            reviewed_by: annotator name (default :func:`default_annotator`).
            claimed_by: a team review: the update's filter also requires that this
                annotator still holds the sample's claim (or reviewed it and nobody
                claims it), and the same update clears the claim
                (:mod:`labelkit.store.claims`). None: no condition (single user).
            review_seconds: seconds spent on the sample (written to
                ``review_seconds`` with ``claimed_by``).
            claim_ttl: the claim lifetime, for the refusal message.

        Returns:
            the ``reviewed_at`` timestamp written (UTC).

        Raises:
            ReviewError: a bad status or review value, a label without provenance,
                a proposal id not in the proposals field, or a sample that is not
                in the dataset; nothing is written.
            ClaimLostError: with ``claimed_by``, the claim was taken over (or the
                sample reviewed by someone else); nothing is written.
        """
        if status not in ("done", "skipped"):
            raise ReviewError(f"review status must be 'done' or 'skipped', got {status!r}")
        entry, final = self._decision(sample_id, proposal_reviews, final, "review", status, reviewed_by, True)
        if claimed_by is not None:
            from .claims import claim_entry

            claim_entry(entry, claimed_by, release=True, ttl=claim_ttl, review_seconds=review_seconds)
        self._commit(entry, final)
        return entry["decided_at"]

    def save_draft(
        self,
        sample_id: str,
        proposal_reviews: Mapping[str, str | None],
        final: Sequence,
        reviewed_by: str | None = None,
        current_status: object = ...,
        claimed_by: str | None = None,
        claim_ttl: float | None = None,
    ) -> None:
        """Write a sample's decisions so far without changing its ``review_status``.

        Used when the reviewer moves to another sample without submitting: the
        proposal ``review`` values and the final labels are written (one
        acknowledged single-document update, durable before it returns; journaled
        locally while the server is unreachable, like :meth:`save_review`);
        ``review_status`` stays as it is (None for a sample never submitted). When
        the sample already has a status ("done"/"skipped"), ``reviewed_by``/
        ``reviewed_at`` are updated too, since its labels changed.

        Args:
            sample_id: the sample.
            proposal_reviews: proposal id -> None | "accepted" | "edited" | "rejected".
            final: the final ``fo.Detection`` list (with provenance attributes).
            reviewed_by: annotator name (default :func:`default_annotator`).
            current_status: the sample's stored ``review_status`` when the caller
                knows it (a session does); omitted: read from the database.
            claimed_by: a team review: write only while this annotator holds the
                claim (kept), like :meth:`save_review`. None: no condition.
            claim_ttl: the claim lifetime, for the refusal message.

        Raises:
            ClaimLostError: with ``claimed_by``, the claim is gone; nothing is written.
        """
        if current_status is ...:
            current_status = self._stored_status(sample_id)
        entry, final = self._decision(
            sample_id, proposal_reviews, final, "draft", None, reviewed_by, current_status is not None
        )
        if claimed_by is not None:
            from .claims import claim_entry

            claim_entry(entry, claimed_by, release=False, ttl=claim_ttl)
        self._commit(entry, final)

    def _stored_status(self, sample_id: str) -> str | None:
        cached = self._cache_get(sample_id)
        try:
            doc = self._collection().find_one({"_id": _oid(sample_id, "sample")}, {"review_status": 1})
        except _connection_errors() as exc:
            self._went_offline(exc)
            return cached.review_status if cached is not None else None
        return None if doc is None else doc.get("review_status")

    def _decision(self, sample_id, proposal_reviews, final, kind, status, reviewed_by, touch) -> tuple[dict, list]:
        """Validate a sample's decisions and build its journal entry / update (nothing
        is written). Raises ``ReviewError`` for an unknown review value, a label
        without provenance, a malformed id, or reviews without a proposals field."""
        from bson import ObjectId

        from .journal import new_decision_id

        proposal_reviews = dict(proposal_reviews)
        for k, v in proposal_reviews.items():
            if v not in REVIEW_STATES:
                raise ReviewError(f"proposal {k}: review must be one of {REVIEW_STATES}, got {v!r}")
        final = list(final)
        for det in final:
            _validate_label(det)
        _oid(sample_id, "sample")
        if proposal_reviews and not self.proposals:
            raise ReviewError(f"sample {sample_id} has no '{self.proposals}' to review")
        for pid in proposal_reviews:
            try:
                ObjectId(pid)
            except Exception:  # noqa: BLE001 - bson.errors.InvalidId / TypeError
                raise ReviewError(
                    f"sample {sample_id}: proposal ids {sorted(map(str, proposal_reviews))} are not "
                    f"in '{self.proposals}' ({pid!r} is not a FiftyOne label id)"
                ) from None
        docs = _label_docs(final)
        now = _utcnow()
        who = reviewed_by or default_annotator()
        did = new_decision_id()
        set_: dict = {
            self.labels: {"_cls": "Detections", "detections": docs},
            "review_decision_id": did,
            "last_modified_at": now,
        }
        if status is not None:
            set_["review_status"] = status
        if touch:
            set_["reviewed_by"] = who
            set_["reviewed_at"] = now
        entry = {
            "v": 1,
            "decision_id": did,
            "kind": kind,
            "dataset": self.dataset.name,
            "collection": self.dataset._sample_collection_name,
            "sample_id": str(sample_id),
            "proposals_field": self.proposals,
            "labels_field": self.labels,
            "status": status,
            "annotator": who,
            "decided_at": now,
            "reviews": proposal_reviews,
            "set": set_,
        }
        return entry, final

    # ------------------------------------------------- acknowledged writes, outages
    #: class defaults (``for_proposals`` builds stores without ``__init__``)
    _offline_since: float | None = None
    _offline_reason: str = ""
    _last_try: float = 0.0
    _journals: dict | None = None
    _journal = None
    _pending: int = 0
    _cache: dict | None = None
    _copies: dict | None = None
    _lost: list | None = None
    replayed: int = 0

    def _collection(self):
        """The samples collection through labelkit's writer client (short timeouts,
        ``j=True`` acknowledged writes)."""
        return _writer_client()[_fo().config.database_name][self.dataset._sample_collection_name]

    def _update(self, entry: Mapping, replay: bool = False) -> bool:
        """Apply one journal entry as one update; True when it matched its sample."""
        from bson import ObjectId

        coll = self._collection()
        did = entry["decision_id"]
        if entry["kind"] == "copy":  # an overlap copy: its own fields, its own exactly-once record
            from .overlap import copy_owner_filter, copy_write_update

            me = entry["annotator"]
            conds: list = [{"_id": ObjectId(entry["sample_id"])}, copy_owner_filter(me)]
            if replay:
                conds.append({"overlap_reviews": {"$not": {"$elemMatch": {
                    "annotator": me, "decision_id": {"$gte": did}}}}})
            res = coll.update_one({"$and": conds}, copy_write_update(entry))
            return res.matched_count == 1
        set_ = dict(entry["set"])
        newer_absent = [
            {"review_decision_id": {"$exists": False}},
            {"review_decision_id": None},
            {"review_decision_id": {"$lt": did}},
        ]
        if entry["kind"] == "status":
            oids = [ObjectId(i) for i in entry["sample_ids"]]
            filt: dict = {"_id": {"$in": oids}}
            if replay:
                filt["$or"] = newer_absent
            if entry.get("claim"):  # a team review's skip: only while the annotator holds the claim
                from .claims import owner_filter

                filt = {"$and": [filt, owner_filter(entry["claim"]["annotator"])]}
            res = coll.update_many(filt, {"$set": set_})
            return res.matched_count > 0
        filt = {"_id": ObjectId(entry["sample_id"])}
        prop = entry["proposals_field"]
        groups: dict = {}
        for pid, v in entry["reviews"].items():
            groups.setdefault(v, []).append(ObjectId(pid))
        array_filters = []
        if groups:
            filt[f"{prop}.detections._id"] = {"$all": [o for ids in groups.values() for o in ids]}
            for i, (v, ids) in enumerate(groups.items()):
                set_[f"{prop}.detections.$[r{i}].review"] = v
                array_filters.append({f"r{i}._id": {"$in": ids}})
        if replay:
            filt["$or"] = newer_absent
        if entry.get("claim"):  # a team review: only while the annotator holds the claim
            from .claims import owner_filter

            filt = {"$and": [filt, owner_filter(entry["claim"]["annotator"])]}
        res = coll.update_one(filt, {"$set": set_}, array_filters=array_filters or None)
        return res.matched_count == 1

    def _refused(self, entry: Mapping) -> ReviewError:
        """Why an online write matched nothing (a read, only after a refused write)."""
        from bson import ObjectId

        sid = entry.get("sample_id") or entry["sample_ids"][0]
        prop = entry["proposals_field"]
        doc = self._collection().find_one({"_id": ObjectId(sid)}, {f"{prop}.detections._id": 1} if prop else {"_id": 1})
        if doc is not None and entry.get("claim"):
            lost = self._claim_lost_error(entry)
            if lost is not None:
                return lost
        if doc is None:
            return ReviewError(
                f"sample {sid} is not in dataset '{self.dataset.name}' (deleted meanwhile?); "
                "nothing was written. Reload the session (session.reload()) or reopen it"
            )
        if entry["kind"] in ("copy", "status"):
            return ReviewError(f"sample {sid}: the server refused the write; nothing was written. "
                               "Reload the session (session.reload())")
        props = (doc.get(prop) or {}).get("detections") if prop else None
        if props is None:
            return ReviewError(f"sample {sid} has no '{prop}' to review")
        have = {str(d.get("_id")) for d in props}
        unknown = sorted(set(entry["reviews"]) - have)
        return ReviewError(f"sample {sid}: proposal ids {unknown} are not in '{prop}'")

    def _claim_lost_error(self, entry: Mapping):
        """The :class:`~labelkit.errors.ClaimLostError` of a claimed entry whose claim is
        gone, or None (the claim is still held)."""
        coll = self._collection()
        if entry["kind"] == "copy":
            from .overlap import copy_refusal

            return copy_refusal(coll, entry)
        from .claims import claim_refusal

        if "sample_id" not in entry:
            entry = {**entry, "sample_id": entry["sample_ids"][0]}
        return claim_refusal(coll, entry)

    def _replay_refusal(self, entry: Mapping):
        """Why a replayed claimed entry matched nothing: None when it is already written
        (or superseded by a newer decision of this annotator), else the ClaimLostError
        when the claim is the reason. A newer decision of *another* annotator does not
        make ours "superseded": it means the claim was taken over during the outage and
        ours was never written, which must be reported."""
        from bson import ObjectId

        sid = entry.get("sample_id") or entry["sample_ids"][0]
        doc = self._collection().find_one({"_id": ObjectId(sid)}, {"review_decision_id": 1, "overlap_reviews": 1})
        if doc is None:
            return None
        if entry["kind"] == "copy":
            from .overlap import copy_applied

            if copy_applied(doc, entry):
                return None
        elif doc.get("review_decision_id") == entry["decision_id"]:
            return None  # written by an earlier (interrupted) replay
        return self._claim_lost_error(entry)

    @property
    def lost(self) -> list[LostDecision]:
        """Journaled decisions refused at replay because their claim was lost during
        the outage (they were NOT written; :attr:`db_status` says so until
        :meth:`clear_lost`)."""
        return list(self._lost or [])

    def clear_lost(self) -> list[LostDecision]:
        """Forget :attr:`lost` (after the user has seen it); returns what it held."""
        out, self._lost = self.lost, None
        return out

    def _commit(self, entry: dict, final: Sequence = ()) -> None:
        """Write ``entry`` (replaying the journal first), or journal it when the
        server cannot be reached. Raises ``ReviewError`` when the server refused it."""
        errors = _connection_errors()
        if self._offline_since is not None and time.monotonic() - self._last_try < _retry_s():
            self._to_journal(entry, final)  # down a moment ago: do not wait for it again
            return
        try:
            self._last_try = time.monotonic()
            if self._pending:
                self._replay_journals()
            ok = self._update(entry)
        except errors as exc:
            self._went_offline(exc)
            self._to_journal(entry, final)
            return
        self._offline_since = None
        if not ok:
            raise self._refused(entry)
        self._after_write(entry, final)

    def _after_write(self, entry: Mapping, final: Sequence, db: bool = True, cache: bool = True) -> None:
        """Keep in-memory copies in step with a write: FiftyOne's sample singletons
        (``db``: the write reached the database; a raw update leaves them stale) and
        the read-ahead cache (``cache``: overlay the decision, so a journaled sample
        shows it when revisited offline)."""
        ids = entry["sample_ids"] if entry["kind"] == "status" else [entry["sample_id"]]
        if db:
            import fiftyone.core.sample as fos

            for sid in ids:
                fos.Sample._reload_doc(self.dataset._sample_collection_name, sid)
        if entry["kind"] == "copy":  # the copy's own view; the primary's record is untouched
            if cache:
                key = (entry["sample_id"], entry["annotator"])
                labels, status = (self._copies or {}).get(key, ([], None))
                if entry.get("docs") is not None:
                    labels = [_copy_keep_id(d) for d in final]
                if entry["status"] is not None:
                    status = entry["status"]
                if self._copies is None:
                    self._copies = {}
                self._copies[key] = (labels, status)
            return
        if not cache:
            return
        for sid in ids:
            rec = self._cache_get(sid)
            if rec is None:
                continue
            if entry["kind"] == "status":
                rec.review_status = entry["status"]
                continue
            reviews = entry["reviews"]
            props = []
            for p in rec.proposals:
                if p.id in reviews:
                    p = _copy_keep_id(p)
                    p["review"] = reviews[p.id]
                props.append(p)
            rec.proposals = props
            rec.labels = [_copy_keep_id(d) for d in final]
            if entry["status"] is not None:
                rec.review_status = entry["status"]

    def _went_offline(self, exc: BaseException) -> None:
        if self._offline_since is None:
            self._offline_since = time.monotonic()
        self._last_try = time.monotonic()
        self._offline_reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"

    def _journal_for(self, annotator: str):
        from .journal import Journal, journal_file

        if self._journals is None:
            self._journals = {}
        j = self._journals.get(annotator)
        if j is None:
            j = self._journals[annotator] = Journal(journal_file(self.dataset.name, annotator))
            if self._journal is None:
                self._journal = j
        return j

    def _to_journal(self, entry: dict, final: Sequence) -> None:
        journal = self._journal_for(entry["annotator"])
        journal.append(entry)
        self._journal = journal
        self._pending += 1
        self._after_write(entry, final, db=False)

    def open_journal(self, annotator: str | None = None) -> int:
        """Attach the journal of ``annotator`` (default :func:`default_annotator`) on
        this dataset and replay what it holds (decisions of an earlier process that
        could not reach the server).

        Returns:
            the number of decisions written from it.

        Raises:
            UnsafePathError: the annotator name cannot name a journal file.
            DatabaseError: the journal holds decisions and the server cannot be
                reached (they stay in the file).
        """
        journal = self._journal_for(annotator or default_annotator())
        self._journal = journal
        self._pending = sum(len(j) for j in self._journals.values())
        if not self._pending:
            return 0
        before = self.replayed
        try:
            self._replay_journals()
        except _connection_errors() as exc:
            self._went_offline(exc)
        return self.replayed - before

    def _replay_journals(self) -> None:
        """Replay every attached journal (raises a connection error if the server
        goes away meanwhile; what was written is skipped by the next replay)."""
        for journal in list((self._journals or {}).values()):
            written, _ = journal.replay(self._replay_one)
            self.replayed += written
        self._pending = 0

    def _replay_one(self, entry: Mapping) -> bool:
        if entry.get("collection") not in (None, self.dataset._sample_collection_name):
            return False  # another dataset's entry (a renamed dataset); kept out of this one
        if self._update(entry, replay=True):
            self._after_write(entry, (), cache=False)
            return True
        if entry.get("claim"):
            # refused: already written (or superseded), or the claim was lost meanwhile.
            # The latter is never dropped silently: it is listed in `lost` and db_status.
            lost = self._replay_refusal(entry)
            if lost is not None:
                sid = entry.get("sample_id") or entry["sample_ids"][0]
                self._lost = [*(self._lost or []), LostDecision(
                    sample_id=sid, decision_id=entry["decision_id"], kind=entry["kind"],
                    annotator=entry["annotator"], message=str(lost))]
                logger.warning("journaled decision %s not written: %s", entry["decision_id"], lost)
        return False

    def sync(self) -> bool:
        """Try the server now: replay the journal if it is reachable.

        Returns:
            True when the server is reachable and nothing is left in the journal.
        """
        try:
            _writer_client().admin.command("ping")
            self._last_try = time.monotonic()
            # count again: another process of this annotator may have journaled too
            self._pending = sum(len(j) for j in (self._journals or {}).values())
            if self._pending:
                self._replay_journals()
        except _connection_errors() as exc:
            self._went_offline(exc)
            return False
        self._offline_since = None
        return True

    @property
    def offline(self) -> bool:
        """Whether the last attempt to reach the database failed."""
        return self._offline_since is not None

    @property
    def pending(self) -> int:
        """Decisions in the local journal, not yet written to the database."""
        return self._pending

    @property
    def journal_path(self):
        """The journal file of this store's annotator (None before any is attached)."""
        return None if self._journal is None else self._journal.path

    @property
    def db_status(self) -> str | None:
        """A plain-words line about the database, or None when all is well: the
        server is unreachable (how many decisions are kept locally, where, and that
        they will be written when it is back), or decisions still wait in the journal."""
        lost = self._lost_line()
        if self._offline_since is None and not self._pending:
            return lost
        n = self._pending
        where = f" in {self.journal_path}" if self.journal_path is not None else ""
        if self._offline_since is not None:
            line = (
                f"database unreachable: {n} decision(s) saved locally{where}, they will be "
                "written when it is back (keep reviewing; nothing is lost)"
            )
        else:
            line = f"{n} decision(s) saved locally{where} are not written to the database yet"
        return line if lost is None else f"{line}; {lost}"

    def _lost_line(self) -> str | None:
        lost = self._lost or []
        if not lost:
            return None
        ids = ", ".join(d.sample_id for d in lost[:3]) + (f" and {len(lost) - 3} more" if len(lost) > 3 else "")
        return (
            f"{len(lost)} decision(s) saved locally during the outage were NOT written because "
            f"the claim was lost (samples {ids}): {lost[0].message} (session.lost lists them)"
        )

    def write_proposals(
        self,
        values: Mapping[str, object],
        field: str | None = None,
    ) -> int:
        """Bulk-write proposal ``fo.Detections`` keyed by sample id (one batched write).

        Args:
            values: sample id -> ``fo.Detections`` (or None to clear).
            field: the field (default: this store's proposals field).

        Returns:
            the number of samples written.
        """
        field = field or self.proposals
        if not values:
            return 0
        raw = self._serialize_detections(field, values)
        if raw is not None:
            # pre-serialized documents: FiftyOne writes them as-is in one bulk write
            # (3-4x faster than its own validation + serialization of label objects)
            self.dataset.set_values(field, raw, key_field="id", validate=False, expand_schema=False)
        else:
            self.dataset.set_values(field, dict(values), key_field="id")
        if field == self.proposals:
            self._declare_attrs()
        return len(values)

    def _serialize_detections(self, field: str, values: Mapping[str, object]) -> dict | None:
        """``fo.Detections`` values -> their MongoDB documents (each ``Detection``
        serialized by FiftyOne itself), or None when the fast path does not apply
        (other value types, a field not declared as ``fo.Detections``, or
        detection attributes not declared in the schema)."""
        fo = _fo()
        schema = self.dataset.get_field_schema(flat=True)
        f = schema.get(field)
        if getattr(f, "document_type", None) is not fo.Detections:
            return None
        declared = {k.rsplit(".", 1)[1] for k in schema if k.startswith(f"{field}.detections.")}
        out: dict = {}
        for sid, dets in values.items():
            if dets is None:
                out[sid] = None
                continue
            if type(dets) is not fo.Detections or set(dets._data) - {"_cls", "detections"}:
                return None
            dets = dets._data["detections"] or []  # _data: no mongoengine dereferencing
            if any(type(det) is not fo.Detection or not set(det._dynamic_fields) <= declared for det in dets):
                return None
            out[sid] = {"_cls": "Detections", "detections": _label_docs(dets)}
        return out

    def write_proposal_documents(
        self,
        values: Mapping[str, Sequence[Mapping] | None],
        field: str | None = None,
    ) -> int:
        """Bulk-write proposals already encoded as MongoDB documents, keyed by sample id.

        The documents are those :func:`proposal_documents` makes (the encoding
        :meth:`write_proposals` uses itself), built elsewhere, e.g. on Ray workers,
        so that the writing process only writes: one batched FiftyOne
        ``set_values`` with no label objects built. The result in the database is
        the same as :meth:`write_proposals` with the ``fo.Detections`` they came from.
        Which samples to write (not reviewed, not proposed already) is the caller's
        choice, as for :meth:`write_proposals`.

        Dynamic attributes are stored as they are (as :meth:`write_proposals`
        does, the schema declares only ``review``).

        Args:
            values: sample id -> list of detection documents (or None to clear).
            field: the ``fo.Detections`` field (default: this store's proposals field;
                declared when missing).

        Returns:
            the number of samples written.

        Raises:
            SchemaError: the field holds another label type, or a document is not a
                detection document (a mapping with ``_cls`` "Detection" and an ``_id``).
        """
        field = field or self.proposals
        if not values:
            return 0
        fo = _fo()
        raw: dict = {}
        for sid, docs in values.items():
            if docs is None:
                raw[sid] = None
                continue
            docs = list(docs)
            for doc in docs:
                if not isinstance(doc, Mapping) or doc.get("_cls") != "Detection" or "_id" not in doc:
                    got = sorted(doc) if isinstance(doc, Mapping) else type(doc).__name__
                    raise SchemaError(
                        f"sample {sid}: {got!r} is not a detection document (a mapping with "
                        "_cls='Detection' and an _id, as labelkit.store.image.proposal_documents "
                        "makes); nothing was written"
                    )
            raw[sid] = {"_cls": "Detections", "detections": docs}
        if not self._check_detections_field(field, self.dataset.get_field_schema()):
            self.dataset.add_sample_field(field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
        self.dataset.set_values(field, raw, key_field="id", validate=False, expand_schema=False)
        if field == self.proposals:
            self._declare_attrs()
        return len(raw)

    def set_status(self, sample_ids: Iterable[str], status: str | None, reviewed_by: str | None = None,
                   claimed_by: str | None = None, claim_ttl: float | None = None) -> int:
        """Set ``review_status`` (and who/when) of many samples in one write.

        One ``update_many``: each sample document gets its status, ``reviewed_by``,
        ``reviewed_at`` and ``review_decision_id`` in one atomic update (never a
        status without its reviewer). Journaled like :meth:`save_review` while the
        server is unreachable.

        Args:
            sample_ids: the samples.
            status: None, "done" or "skipped".
            reviewed_by: annotator name (default :func:`default_annotator`).
            claimed_by: a team review (one sample): the update's filter requires that
                this annotator holds the claim, and the same update releases it, like
                :meth:`save_review`. None: no condition.
            claim_ttl: the claim lifetime, for the refusal message.

        Returns:
            the number of sample ids given.

        Raises:
            ClaimLostError: with ``claimed_by``, the claim is gone; nothing is written.
        """
        from .journal import new_decision_id

        if status not in SAMPLE_STATES:
            raise ReviewError(f"review status must be one of {SAMPLE_STATES}, got {status!r}")
        ids = [str(i) for i in sample_ids]
        if not ids:
            return 0
        for i in ids:
            _oid(i, "sample")
        now = _utcnow()
        who = reviewed_by or default_annotator()
        did = new_decision_id()
        entry = {
            "v": 1,
            "decision_id": did,
            "kind": "status",
            "dataset": self.dataset.name,
            "collection": self.dataset._sample_collection_name,
            "sample_ids": ids,
            "proposals_field": self.proposals,
            "labels_field": self.labels,
            "status": status,
            "annotator": who,
            "decided_at": now,
            "reviews": {},
            "set": {
                "review_status": status,
                "reviewed_by": who if status else None,
                "reviewed_at": now if status else None,
                "review_decision_id": did,
                "last_modified_at": now,
            },
        }
        if claimed_by is not None:
            if len(ids) != 1:
                raise ReviewError(f"a claimed status write is for one sample, got {len(ids)}")
            from .claims import claim_entry

            claim_entry(entry, claimed_by, release=True, ttl=claim_ttl)
        self._commit(entry)
        return len(ids)

    # ------------------------------------------------------------ overlap copies
    def copy_record(self, record: SampleRecord, annotator: str) -> SampleRecord:
        """The blind view of an overlap copy: ``record``'s proposals with ``review``
        reset to None, and as labels only ``annotator``'s own copy labels from
        ``<labels>_overlap`` (a draft, or a submitted copy) -- never the primary's
        labels or decisions. ``review_status`` is the copy's: "done" once submitted,
        "skipped" once skipped, else None. While the server is unreachable, the copy
        as last read or written by this store (empty if never).
        """
        from .overlap import overlap_field

        props = []
        for p in record.proposals:
            p = _copy_keep_id(p)
            p["review"] = None
            props.append(p)
        key = (record.id, annotator)
        labels, status = (self._copies or {}).get(key, ([], None))
        if not (self._offline_since is not None and time.monotonic() - self._last_try < _retry_s()):
            field = overlap_field(self.labels)
            try:
                doc = self._collection().find_one(
                    {"_id": _oid(record.id, "sample")},
                    {f"{field}.detections": 1, "overlap_done": 1, "overlap_skipped": 1})
            except _connection_errors() as exc:
                self._went_offline(exc)
            else:
                fo = _fo()
                doc = doc or {}
                dets = ((doc.get(field) or {}).get("detections")) or []
                labels = [fo.Detection.from_dict(d) for d in dets if d.get("annotator") == annotator]
                status = ("done" if annotator in (doc.get("overlap_done") or [])
                          else "skipped" if annotator in (doc.get("overlap_skipped") or []) else None)
                if self._copies is None:
                    self._copies = {}
                self._copies[key] = (labels, status)
        return SampleRecord(id=record.id, filepath=record.filepath, width=record.width, height=record.height,
                            proposals=props, labels=[_copy_keep_id(d) for d in labels], review_status=status)

    def save_copy(
        self,
        sample_id: str,
        final: Sequence | None,
        annotator: str,
        status: str | None = None,
        review_seconds: float | None = None,
        claim_ttl: float | None = None,
    ) -> _dt.datetime:
        """Write an overlap copy's decision: one conditional single-document update.

        The filter requires that ``annotator`` holds the copy claim (or submitted
        this copy before); the update replaces only this annotator's detections in
        ``<labels>_overlap`` (each gets ``annotator``), records the decision in
        ``overlap_reviews`` and, for a submit / skip, adds the annotator to
        ``overlap_done`` / ``overlap_skipped`` and removes the copy claim. The
        primary review's fields are never written. Acknowledged (``j=True``) before
        it returns, or journaled (kind "copy") while the server is unreachable.

        Args:
            sample_id: the sample.
            final: the copy's final ``fo.Detection`` list (with provenance
                attributes); None keeps the stored copy labels (a skip of a sample
                whose image is missing).
            annotator: whose copy.
            status: None (a draft), "done" (submit) or "skipped".
            review_seconds: seconds the copy was open (recorded with a submit).
            claim_ttl: the claim lifetime, for the refusal message.

        Returns:
            the decision's timestamp (UTC).

        Raises:
            ReviewError: a bad status, a label without provenance or a bad id;
                nothing is written.
            ClaimLostError: the copy claim is gone (expired and its slot taken);
                nothing is written.
        """
        from .journal import new_decision_id
        from .overlap import overlap_field

        if status not in (None, "done", "skipped"):
            raise ReviewError(f"a copy's status must be None, 'done' or 'skipped', got {status!r}")
        _oid(sample_id, "sample")
        docs = None
        if final is not None:
            final = list(final)
            for det in final:
                _validate_label(det)
                det["annotator"] = annotator
            docs = _label_docs(final)
        now = _utcnow()
        entry = {
            "v": 1,
            "decision_id": new_decision_id(),
            "kind": "copy",
            "dataset": self.dataset.name,
            "collection": self.dataset._sample_collection_name,
            "sample_id": str(sample_id),
            "proposals_field": self.proposals,
            "labels_field": self.labels,
            "overlap_field": overlap_field(self.labels),
            "status": status,
            "annotator": annotator,
            "decided_at": now,
            "reviews": {},
            "docs": docs,
            "review_seconds": None if review_seconds is None else float(review_seconds),
            "claim": {"annotator": annotator, "release": status is not None, "ttl": claim_ttl},
            "set": {},
        }
        self._commit(entry, final or ())
        return now


def _oid(value: str, what: str):
    from bson import ObjectId

    try:
        return ObjectId(str(value))
    except Exception:  # noqa: BLE001 - bson.errors.InvalidId
        raise ReviewError(f"{what} id {value!r} is not a FiftyOne id (24 hex digits)") from None


def _connection_errors() -> tuple:
    """The pymongo errors that mean "the server cannot be reached" (server selection
    timed out, connection refused/reset, network timeout)."""
    from pymongo.errors import ConnectionFailure

    return (ConnectionFailure,)


def _timeout_ms() -> int:
    try:
        return max(100, int(os.environ.get(DB_TIMEOUT_ENV, "3000")))
    except ValueError:
        return 3000


def _retry_s() -> float:
    try:
        return max(0.0, float(os.environ.get(DB_RETRY_ENV, "10")))
    except ValueError:
        return 10.0


_WRITERS: dict = {}


def _writer_client():
    """labelkit's pymongo client for review writes: FiftyOne's connection settings
    (URI or port of its database service), with short timeouts (:data:`DB_TIMEOUT_ENV`)
    and ``j=True`` writes (acknowledged once in the server's journal)."""
    import fiftyone.core.odm.database as fod
    import pymongo

    fod._connect()  # establishes FiftyOne's connection settings (a no-op once connected)
    kwargs = dict(fod._connection_kwargs)
    t = _timeout_ms()
    key = (repr(sorted(kwargs.items())), t)
    client = _WRITERS.get(key)
    if client is None:
        client = _WRITERS[key] = pymongo.MongoClient(
            **kwargs,
            serverSelectionTimeoutMS=t,
            connectTimeoutMS=t,
            socketTimeoutMS=max(10 * t, 10000),
            w=1,
            journal=True,
            appname="labelkit-review",
        )
    return client


def _copy_keep_id(det):
    # Label.copy() (deepcopy) gives the copy a NEW id; reviews and proposal_id
    # links need the stored one
    c = det.copy()
    c.id = det.id
    return c


_PRIMITIVES = frozenset({str, int, float, bool, type(None)})


#: Declared ``Detection`` fields: None values are not stored (dynamic ones are).
_DETECTION_FIELDS = frozenset({"label", "bounding_box", "mask", "confidence", "mask_path", "index"})


_SKIP = frozenset({"id", "_cls", "tags", "attributes"})


def _serialize_array(array) -> bytes:
    """FiftyOne's array encoding (``.npy`` bytes, zlib-compressed; read back by
    ``fiftyone.core.utils.deserialize_numpy_array``), built faster: cached ``.npy``
    headers and zlib's run-length strategy, which suits masks (long runs of 0/1
    bytes): ~4x faster than FiftyOne's default level and a similar size."""
    import zlib

    import numpy as np

    array = np.ascontiguousarray(array)
    header = _npy_header(np.lib.format.dtype_to_descr(array.dtype), tuple(array.shape))
    comp = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
    return comp.compress(header + array.tobytes()) + comp.flush()


@functools.lru_cache(maxsize=4096)
def _npy_header(descr: str, shape: tuple) -> bytes:
    """The ``.npy`` (version 1.0) header ``np.save`` writes for a C-ordered array,
    byte for byte (dict padded for shape growth and to a 64-byte boundary)."""
    import struct

    d = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    if shape:
        d += " " * (21 - len(repr(shape[0])))
    d += " " * (64 - (10 + len(d) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode("latin1")


def proposal_documents(dets) -> list[dict]:
    """The MongoDB documents of a ``fo.Detections``' detections, exactly as
    :meth:`ReviewStore.write_proposals` stores them (FiftyOne's format: ``_id``,
    ``_cls``, ``label``, ``bounding_box``, ``confidence``, ``mask`` as compressed
    ``.npy`` bytes, dynamic attributes such as ``review``), for
    :meth:`ReviewStore.write_proposal_documents`. Needs no database: Ray workers
    call it, so the driver only writes. The documents pickle (``bson`` ids and
    binaries).

    Raises:
        SchemaError: ``dets`` is not a ``fo.Detections`` of ``fo.Detection``.
    """
    fo = _fo()
    if not isinstance(dets, fo.Detections):
        raise SchemaError(f"proposal_documents needs a fo.Detections, got {type(dets).__name__}")
    dets = dets._data["detections"] or []  # _data: no mongoengine dereferencing
    for det in dets:
        if not isinstance(det, fo.Detection):
            raise SchemaError(f"a fo.Detections holds a {type(det).__name__}, not a fo.Detection")
    return _label_docs(dets)


def _label_docs(dets) -> list[dict]:
    """The MongoDB documents of ``fo.Detection`` objects: built directly
    (:func:`_detection_doc`) where it can, else by FiftyOne's ``to_mongo()``."""
    import numpy as np
    from bson import Binary, ObjectId

    fo = _fo()
    out = []
    for det in dets:
        doc = _detection_doc(det, ObjectId, Binary, np.ndarray) if type(det) is fo.Detection else None
        out.append(dict(det.to_mongo()) if doc is None else doc)
    return out


def _detection_doc(det, object_id, binary, ndarray) -> dict | None:
    """The MongoDB document FiftyOne's ``Detection.to_mongo()`` makes, built directly
    (~5x faster); None when the detection has anything unusual (attributes,
    non-primitive values), in which case FiftyOne serializes it.

    ``object_id``, ``binary``, ``ndarray``: ``bson.ObjectId``, ``bson.Binary`` and
    ``np.ndarray`` (passed in to keep imports out of the per-detection loop).
    """
    data = det._data
    if data.get("attributes") or data.get("_cls") != "Detection":
        return None
    doc = {"_id": object_id(data["id"]), "_cls": "Detection", "attributes": {}, "tags": list(data.get("tags") or [])}
    for key, value in data.items():
        if key in _SKIP:
            continue
        if value is None:
            if key not in _DETECTION_FIELDS:  # dynamic attribute: None is stored
                doc[key] = None
        elif key == "mask":
            if not isinstance(value, ndarray):
                return None
            doc["mask"] = binary(_serialize_array(value))
        elif key == "bounding_box":
            doc["bounding_box"] = [float(v) for v in value]
        elif key == "confidence":
            doc["confidence"] = float(value)
        elif type(value) in _PRIMITIVES:
            doc[key] = value
        else:
            return None
    return doc
