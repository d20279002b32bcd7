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
    """Declare the claim fields on ``dataset`` (idempotent)."""
    fo = _fo()
    schema = dataset.get_field_schema()
    for name, ftype in CLAIM_FIELDS:
        if name not in schema:
            dataset.add_sample_field(name, getattr(fo, ftype))


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

    Attributes:
        held: ids this annotator holds and has not finished, in claim order.
        conflicts: claim attempts lost to another annotator (the sample looked free
            when read, and someone else's update came first).
        events: ``(kind, sample_id, claimed_at, claim_expires)`` for "claim" /
            "done" / "release" / "lost" (server times of a "claim"; None for the
            others), for logs and tests.

    Raises:
        ReviewError: an empty annotator name, a bad ``ttl`` or ``batch_size``.
    """

    def __init__(self, samples, annotator: str, ttl: float = DEFAULT_TTL, batch_size: int = DEFAULT_BATCH):
        self.annotator, self.ttl, self.batch_size = _check(annotator, ttl, batch_size)
        self.samples = samples
        self.dataset = samples._dataset
        self.held: list[str] = []
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
        }

    def _candidates(self) -> list[str]:
        """Ids of the collection that look claimable now, in its order (a read; the
        claim itself re-checks atomically)."""
        ids = list(self.samples.values("id"))
        if not ids:
            return []
        from bson import ObjectId

        now = self._coll.database.command("hello")["localTime"].replace(tzinfo=None)
        query = {} if self.samples is self.dataset else {"_id": {"$in": [ObjectId(i) for i in ids]}}
        state = {
            str(d["_id"]): d
            for d in self._coll.find(query, {"review_status": 1, "claimed_by": 1, "claim_expires": 1})
        }
        out = []
        for i in ids:
            d = state.get(i)
            if d is None or d.get("review_status") in _REVIEWED:
                continue
            who, exp = d.get("claimed_by"), d.get("claim_expires")
            if who is None or who == self.annotator or exp is None or exp.replace(tzinfo=None) < now:
                out.append(i)
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

    def resume(self) -> list[str]:
        """Re-take (and renew) this annotator's unfinished claims from an earlier
        session (a kernel restart), in the collection's order."""
        mine = {
            str(d["_id"])
            for d in self._coll.find(
                {"claimed_by": self.annotator, "review_status": {"$nin": _REVIEWED}}, {"_id": 1}
            )
        }
        if not mine:
            return []
        got = [i for i in self.samples.values("id") if i in mine and i not in self.held and self._try(i)]
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
        for sid in self._candidates():
            if len(got) >= n:
                break
            if sid in self.held:
                continue
            if self._try(sid):
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
        oids = [ObjectId(i) for i in held]
        res = self._coll.update_many(
            {"_id": {"$in": oids}, "claimed_by": self.annotator, "review_status": {"$nin": _REVIEWED}},
            [{"$set": {"claim_expires": {"$add": ["$$NOW", self._ttl_ms]}}}],
        )
        if res.matched_count < len(held):
            still = {
                str(d["_id"])
                for d in self._coll.find(
                    {"_id": {"$in": oids}, "claimed_by": self.annotator,
                     "review_status": {"$nin": _REVIEWED}}, {"_id": 1}
                )
            }
            with self._lock:
                for i in [i for i in self.held if i not in still]:
                    self.held.remove(i)
                    self.lost.add(i)
                    self.events.append(("lost", i, None, None))
        return res.matched_count

    def touch(self) -> None:
        """Renew the claims if the last renewal is older than ``ttl / 6`` (cheap
        otherwise: call it on every decision)."""
        if time.monotonic() - self._last_renew > self.ttl / 6:
            self.renew()

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
        res = self._coll.update_many(
            {"_id": {"$in": [ObjectId(i) for i in ids]}, "claimed_by": self.annotator,
             "review_status": {"$nin": _REVIEWED}},
            {"$set": {"claimed_by": None, "claim_expires": None, "claimed_at": None}},
        )
        for i in ids:
            self.events.append(("release", i, None, None))
        return res.modified_count

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
