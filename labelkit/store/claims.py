"""Claims: which annotator may review which sample, when a team shares one dataset.

Each annotator's session claims a batch of samples; every claim is one atomic
single-document update of the sample (MongoDB ``find_one_and_update`` on FiftyOne's
sample collection, ``dataset._sample_collection``) whose filter says "not
reviewed, and unclaimed or claimed by me or claimed with an expired claim", so
two annotators can never hold the same sample: the server applies one update at
a time per document, and the loser's filter no longer matches. Times are the
*server's* clock (``$$NOW`` in pipeline updates), so annotators' laptops may
disagree about the time.

Sample fields (additions to the README's schema; labelkit declares them when a
team review opens):

* ``claimed_by`` (string): the annotator holding the sample, None when free;
* ``claim_expires`` (UTC datetime): when the claim lapses unless renewed; a
  session renews its claims while it is used (on its decisions, at most every
  ``ttl / 6`` seconds, and from a background timer every ``ttl / 3`` seconds),
  so the batch of an annotator who vanished (kernel killed, laptop closed)
  returns to the pool ``ttl`` seconds after their last sign of life;
* ``claimed_at`` (UTC datetime): when the current claim was taken (server time);
* ``review_seconds`` (float): seconds the annotator had the sample open before
  submitting it (written by team reviews; :func:`labelkit.store.progress.progress`
  reads it).

A claimed write is conditional: the store's single-document update of a team
review (:func:`claim_entry`) carries :func:`owner_filter` ("``claimed_by`` is
still this annotator") in its filter, so the check and the data are one atomic
update, never check-then-write; a refused write raises
:class:`~labelkit.errors.ClaimLostError` (:func:`claim_refusal`). A submitted
or skipped sample's claim is cleared in that same write.

Overlap (agreement studies, :mod:`labelkit.store.overlap`): on a dataset whose
samples carry ``review_copies >= 2``, :meth:`Claims.claim` also takes *copy*
claims (an extra, blind review of a sample someone else reviews as its primary),
scanning the collection in order and taking whichever kind a sample offers this
annotator (the primary when both), so overlapped samples are not left to the
end. A copy claim is one atomic update of ``overlap_claims`` with the same
server-clock expiry; :meth:`~Claims.renew`, :meth:`~Claims.release` and
:meth:`~Claims.resume` cover both kinds, and :attr:`Claims.copies` tells which
held samples are copies. An annotator never holds the primary and a copy of one
sample.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

from ..errors import ClaimLostError, ReviewError
from .schema import _fo

#: The claim fields and their FiftyOne field types.
CLAIM_FIELDS = (
    ("claimed_by", "StringField"),
    ("claim_expires", "DateTimeField"),
    ("claimed_at", "DateTimeField"),
    ("review_seconds", "FloatField"),
)

#: Seconds a claim lasts without renewal (default).
DEFAULT_TTL = 300.0

#: Samples claimed at a time (default).
DEFAULT_BATCH = 10

_REVIEWED = ["done", "skipped"]


def declare_claim_fields(dataset) -> None:
    """Declare the claim fields on ``dataset`` (idempotent, and safe when several
    annotators' sessions open at once: :func:`labelkit.store.schema.declare_field`)."""
    from .schema import declare_field

    fo = _fo()
    schema = dataset.get_field_schema()
    for name, ftype in CLAIM_FIELDS:
        if name not in schema:
            declare_field(dataset, name, getattr(fo, ftype))


def _check(annotator, ttl, batch_size) -> tuple[str, float, int]:
    if not isinstance(annotator, str) or not annotator.strip():
        raise ReviewError(
            f"a team review needs annotator=<your name> (a non-empty string), got {annotator!r}; "
            "e.g. lk.Labeler(ds, annotator='ana')"
        )
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise ReviewError(f"claim_ttl must be a positive number of seconds, got {ttl!r}; e.g. claim_ttl=300")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ReviewError(f"batch_size must be a positive integer, got {batch_size!r}; e.g. batch_size=10")
    return annotator.strip(), float(ttl), batch_size


class Claims:
    """One annotator's claims on a collection's samples.

    Args:
        samples: a ``fo.Dataset`` or a view; only its samples are claimed, in its order.
        annotator: who claims (the name written to ``claimed_by`` and ``reviewed_by``).
        ttl: seconds a claim lasts without renewal.
        batch_size: samples per :meth:`claim` call.
        collection: a callable returning the pymongo samples collection to claim
            through (a session passes its store's writer collection: short
            server-selection timeouts, journaled writes); default FiftyOne's.

    Attributes:
        held: ids this annotator holds and has not finished, in claim order
            (primary and copy claims).
        copies: the ids in :attr:`held` (and finished ones) that are copy claims
            (extra reviews of an overlap study, :mod:`labelkit.store.overlap`).
        conflicts: claim attempts lost to another annotator (the sample looked free
            when read, and someone else's update came first).
        events: ``(kind, sample_id, claimed_at, claim_expires)`` for "claim" /
            "copy" (a copy claim) / "done" / "release" / "lost" (server times of a
            "claim" / "copy"; None for the others), for logs and tests.

    Raises:
        ReviewError: an empty annotator name, a bad ``ttl`` or ``batch_size``.
    """

    def __init__(self, samples, annotator: str, ttl: float = DEFAULT_TTL, batch_size: int = DEFAULT_BATCH,
                 collection=None):
        self.annotator, self.ttl, self.batch_size = _check(annotator, ttl, batch_size)
        self._collection = collection
        self.samples = samples
        self.dataset = samples._dataset
        self.held: list[str] = []
        self.copies: set[str] = set()
        self.lost: set[str] = set()
        self.conflicts = 0
        self.events: list[tuple] = []
        self._last_renew = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        declare_claim_fields(self.dataset)

    @property
    def _coll(self):
        if self._collection is not None:
            return self._collection()
        return self.dataset._sample_collection

    @property
    def _ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    def _claim_filter(self, oid) -> dict:
        return {
            "_id": oid,
            "review_status": {"$nin": _REVIEWED},
            "$or": [
                {"claimed_by": None},
                {"claimed_by": self.annotator},
                {"$expr": {"$lt": ["$claim_expires", "$$NOW"]}},
            ],
            # never the primary of a sample this annotator reviews (or reviewed) as a copy
            "overlap_done": {"$ne": self.annotator},
            "overlap_claims.annotator": {"$ne": self.annotator},
        }

    def _candidates(self) -> list[tuple[str, str]]:
        """``(id, "primary" | "copy")`` of the samples that look claimable now, in the
        collection's order (a read; the claim itself re-checks atomically). A sample
        that offers both kinds is listed as "primary"."""
        ids = list(self.samples.values("id"))
        if not ids:
            return []
        from bson import ObjectId

        me = self.annotator
        now = self._coll.database.command("hello")["localTime"].replace(tzinfo=None)
        query = {} if self.samples is self.dataset else {"_id": {"$in": [ObjectId(i) for i in ids]}}
        state = {
            str(d["_id"]): d
            for d in self._coll.find(query, {"review_status": 1, "claimed_by": 1, "claim_expires": 1,
                                             "reviewed_by": 1, "review_copies": 1, "overlap_claims": 1,
                                             "overlap_done": 1, "overlap_skipped": 1})
        }
        out = []
        for i in ids:
            d = state.get(i)
            if d is None:
                continue
            who, exp = d.get("claimed_by"), d.get("claim_expires")
            done = d.get("overlap_done") or []
            copy_claims = d.get("overlap_claims") or []
            copying = me in done or any(c.get("annotator") == me for c in copy_claims)
            if d.get("review_status") not in _REVIEWED and not copying and (
                    who is None or who == me or exp is None or exp.replace(tzinfo=None) < now):
                out.append((i, "primary"))
                continue
            k = d.get("review_copies") or 0
            if k < 2 or copying or who == me or d.get("reviewed_by") == me or me in (d.get("overlap_skipped") or []):
                continue
            live = sum(1 for c in copy_claims
                       if c.get("claim_expires") is not None and c["claim_expires"].replace(tzinfo=None) >= now)
            if len(done) + live < k - 1:
                out.append((i, "copy"))
        return out

    def _try(self, sample_id: str) -> bool:
        from bson import ObjectId
        from pymongo import ReturnDocument

        doc = self._coll.find_one_and_update(
            self._claim_filter(ObjectId(sample_id)),
            [{"$set": {"claimed_by": self.annotator,
                       "claim_expires": {"$add": ["$$NOW", self._ttl_ms]},
                       "claimed_at": "$$NOW"}}],
            projection={"claimed_at": 1, "claim_expires": 1},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return False
        self.events.append(("claim", sample_id, doc["claimed_at"], doc["claim_expires"]))
        return True

    def _try_copy(self, sample_id: str, renew: bool = False) -> bool:
        """Take a copy claim on one sample (one atomic update; ``renew``: re-take one
        this annotator already holds, e.g. after a kernel restart)."""
        from bson import ObjectId
        from pymongo import ReturnDocument

        from .overlap import copy_claim_filter, copy_claim_update, copy_renew_update

        oid = ObjectId(sample_id)
        if renew:
            filt = {"_id": oid, "overlap_claims.annotator": self.annotator}
            update = copy_renew_update(self.annotator, self._ttl_ms)
        else:
            filt, update = copy_claim_filter(oid, self.annotator), copy_claim_update(self.annotator, self._ttl_ms)
        doc = self._coll.find_one_and_update(filt, update, projection={"overlap_claims": 1},
                                             return_document=ReturnDocument.AFTER)
        if doc is None:
            return False
        mine = next(c for c in doc["overlap_claims"] if c.get("annotator") == self.annotator)
        self.copies.add(sample_id)
        self.events.append(("copy", sample_id, mine.get("claimed_at"), mine.get("claim_expires")))
        return True

    def is_copy(self, sample_id: str) -> bool:
        """Whether this annotator's claim on ``sample_id`` is a copy claim (an extra review)."""
        return sample_id in self.copies

    def resume(self) -> list[str]:
        """Re-take (and renew) this annotator's unfinished claims from an earlier
        session (a kernel restart), in the collection's order."""
        mine = {
            str(d["_id"])
            for d in self._coll.find(
                {"claimed_by": self.annotator, "review_status": {"$nin": _REVIEWED}}, {"_id": 1}
            )
        }
        copies = {str(d["_id"]) for d in self._coll.find({"overlap_claims.annotator": self.annotator}, {"_id": 1})}
        if not mine and not copies:
            return []
        got = []
        for i in self.samples.values("id"):
            if i in self.held:
                continue
            if (i in copies and self._try_copy(i, renew=True)) or (i in mine and self._try(i)):
                got.append(i)
        with self._lock:
            self.held.extend(got)
        return got

    def claim(self, n: int | None = None) -> list[str]:
        """Claim up to ``n`` (default ``batch_size``) more samples, in the collection's
        order; one atomic single-document update per sample.

        Returns:
            the ids claimed (empty when nothing is free).
        """
        n = self.batch_size if n is None else int(n)
        got: list[str] = []
        for sid, kind in self._candidates():
            if len(got) >= n:
                break
            if sid in self.held:
                continue
            if (self._try(sid) if kind == "primary" else self._try_copy(sid)):
                got.append(sid)
            else:
                self.conflicts += 1
        with self._lock:
            self.held.extend(got)
        self._last_renew = time.monotonic()
        return got

    def renew(self) -> int:
        """Extend every claim this annotator still holds by ``ttl`` (server time).

        Claims lost meanwhile (expired and taken over, or reviewed by someone
        else) are dropped from :attr:`held` and added to :attr:`lost`.

        Returns:
            the number of claims renewed.
        """
        from bson import ObjectId

        with self._lock:
            held = list(self.held)
        self._last_renew = time.monotonic()
        if not held:
            return 0
        from .overlap import copy_renew_update

        prim = [ObjectId(i) for i in held if i not in self.copies]
        cops = [ObjectId(i) for i in held if i in self.copies]
        prim_filter = {"_id": {"$in": prim}, "claimed_by": self.annotator, "review_status": {"$nin": _REVIEWED}}
        copy_filter = {"_id": {"$in": cops}, "overlap_claims.annotator": self.annotator}
        matched = 0
        if prim:
            matched += self._coll.update_many(
                prim_filter, [{"$set": {"claim_expires": {"$add": ["$$NOW", self._ttl_ms]}}}]).matched_count
        if cops:
            matched += self._coll.update_many(copy_filter, copy_renew_update(self.annotator, self._ttl_ms)).matched_count
        if matched < len(held):
            still = set()
            for filt, ids in ((prim_filter, prim), (copy_filter, cops)):
                if ids:
                    still |= {str(d["_id"]) for d in self._coll.find(filt, {"_id": 1})}
            with self._lock:
                for i in [i for i in self.held if i in held and i not in still]:
                    self.held.remove(i)
                    self.lost.add(i)
                    self.events.append(("lost", i, None, None))
        return matched

    def touch(self) -> None:
        """Renew the claims if the last renewal is older than ``ttl / 6`` (cheap
        otherwise: call it on every decision). An unreachable server is not an
        error here (the background renewal tries again; the decisions go to the
        outage journal)."""
        if time.monotonic() - self._last_renew > self.ttl / 6:
            from pymongo.errors import ConnectionFailure

            try:
                self.renew()
            except ConnectionFailure:
                self._last_renew = time.monotonic()

    def finished(self, sample_id: str) -> None:
        """Forget a sample this annotator submitted or skipped (its claim was cleared
        in the same write as the review)."""
        with self._lock:
            if sample_id in self.held:
                self.held.remove(sample_id)
        self.events.append(("done", sample_id, None, None))

    def release(self, sample_ids: Sequence[str] | None = None) -> int:
        """Give claims back to the pool (default: all held); reviewed samples stay reviewed.

        Returns:
            the number of claims released.
        """
        from bson import ObjectId

        with self._lock:
            ids = list(self.held if sample_ids is None else sample_ids)
            for i in ids:
                if i in self.held:
                    self.held.remove(i)
        if not ids:
            return 0
        prim = [ObjectId(i) for i in ids if i not in self.copies]
        cops = [ObjectId(i) for i in ids if i in self.copies]
        n = 0
        if prim:
            n += self._coll.update_many(
                {"_id": {"$in": prim}, "claimed_by": self.annotator, "review_status": {"$nin": _REVIEWED}},
                {"$set": {"claimed_by": None, "claim_expires": None, "claimed_at": None}},
            ).modified_count
        if cops:
            n += self._coll.update_many(
                {"_id": {"$in": cops}, "overlap_claims.annotator": self.annotator},
                {"$pull": {"overlap_claims": {"annotator": self.annotator}}},
            ).modified_count
        for i in ids:
            self.events.append(("release", i, None, None))
        return n

    # ------------------------------------------------------------ background
    def start_renewal(self, interval: float | None = None) -> None:
        """Renew from a daemon thread every ``interval`` seconds (default ``ttl / 3``)
        until :meth:`stop_renewal`; database errors are retried at the next tick."""
        if self._thread is not None:
            return
        interval = self.ttl / 3 if interval is None else float(interval)
        stop = self._stop

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.renew()
                except Exception:  # noqa: BLE001 - a database hiccup: try again next tick
                    pass

        self._thread = threading.Thread(target=loop, name=f"labelkit-claims-{self.annotator}", daemon=True)
        self._thread.start()

    def stop_renewal(self) -> None:
        """Stop the background renewal (idempotent)."""
        self._stop.set()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)

    def close(self) -> None:
        """Stop renewing and release every unfinished claim (best effort: a database
        that is gone leaves them to expire)."""
        self.stop_renewal()
        try:
            self.release()
        except Exception:  # noqa: BLE001 - they expire after ttl anyway
            pass

    def __repr__(self) -> str:
        return (f"<Claims '{self.annotator}' on '{self.dataset.name}': {len(self.held)} held, "
                f"ttl {self.ttl:g} s, {self.conflicts} conflicts>")


def owner_filter(annotator: str) -> dict:
    """The filter a team review's write adds: ``annotator`` holds the claim, or
    reviewed the sample and nobody claims it (editing one's own submitted sample)."""
    return {"$or": [{"claimed_by": annotator},
                    {"review_status": {"$in": _REVIEWED}, "reviewed_by": annotator, "claimed_by": None}]}


def claim_entry(entry: dict, annotator: str, release: bool, ttl: float | None = None,
                review_seconds: float | None = None) -> dict:
    """Make a store write entry (see :mod:`labelkit.store.image`) a claimed one, in place.

    The store's single-document update then carries :func:`owner_filter` in its
    filter (the check and the data are one atomic update, never check-then-write)
    and, with ``release`` (a submit or skip finishes the claim), clears
    ``claimed_by`` / ``claim_expires`` / ``claimed_at`` in the same ``$set``.

    Args:
        entry: the store's entry (``entry["set"]`` is the ``$set`` document).
        annotator: who must hold the claim.
        release: clear the claim in the same write.
        ttl: the claim lifetime (for the refusal message).
        review_seconds: written to ``review_seconds`` when given.

    Returns:
        ``entry``.
    """
    entry["claim"] = {"annotator": annotator, "release": bool(release), "ttl": ttl}
    if release:
        entry["set"].update(claimed_by=None, claim_expires=None, claimed_at=None)
    if review_seconds is not None:
        entry["set"]["review_seconds"] = float(review_seconds)
    return entry


def claim_refusal(coll, entry: dict) -> ClaimLostError | None:
    """Why a claimed write matched nothing: a :class:`ClaimLostError` when the claim
    is the reason (None when the sample still passes :func:`owner_filter`, so the
    write was refused for another reason)."""
    from bson import ObjectId

    claim = entry["claim"]
    me = claim["annotator"]
    doc = coll.find_one({"_id": ObjectId(entry["sample_id"])},
                        {"filepath": 1, "claimed_by": 1, "review_status": 1, "reviewed_by": 1})
    if doc is None:
        return None
    who, status, by = doc.get("claimed_by"), doc.get("review_status"), doc.get("reviewed_by")
    if who == me or (status in _REVIEWED and by == me and who is None):
        return None
    ttl = claim.get("ttl")
    after = f" (no sign of life from this session for more than {ttl:g} s)" if ttl else ""
    if status in _REVIEWED and by and by != me:
        what = f"was already reviewed ({status}) by '{by}' after your claim expired{after}"
    elif who:
        what = f"is now claimed by '{who}': your claim expired{after} and they took it over"
    else:
        what = "is no longer claimed by you (the claim expired or was released)"
    name = os.path.basename(doc.get("filepath") or "")
    return ClaimLostError(
        f"sample {entry['sample_id']} ('{name}') {what}; your decisions on it were NOT saved and "
        f"nothing of theirs was overwritten, annotator '{me}'. Move on to your next sample "
        "(session.next(), or the Labeler's next button); your other claims are kept"
    )


def claim_counts(samples) -> dict:
    """``{"reviewed", "claimed", "free", "total", "by": {annotator: live claims}}`` of a
    collection now (claims past their expiry count as free)."""
    coll = samples._dataset._sample_collection
    now = coll.database.command("hello")["localTime"].replace(tzinfo=None)
    query: dict = {}
    if samples is not samples._dataset:
        from bson import ObjectId

        query = {"_id": {"$in": [ObjectId(i) for i in samples.values("id")]}}
    out = {"reviewed": 0, "claimed": 0, "free": 0, "total": 0, "by": {}}
    for d in coll.find(query, {"review_status": 1, "claimed_by": 1, "claim_expires": 1}):
        out["total"] += 1
        exp = d.get("claim_expires")
        if d.get("review_status") in _REVIEWED:
            out["reviewed"] += 1
        elif d.get("claimed_by") and exp is not None and exp.replace(tzinfo=None) >= now:
            out["claimed"] += 1
            out["by"][d["claimed_by"]] = out["by"].get(d["claimed_by"], 0) + 1
        else:
            out["free"] += 1
    return out
