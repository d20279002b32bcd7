"""Overlap for agreement studies: a chosen fraction of samples reviewed by ``k`` annotators.

A team review opened with ``overlap=k, overlap_fraction=f``
(``lk.Labeler(ds, annotator="ana", overlap=2, overlap_fraction=0.2)``) records the
setting on the dataset and marks each sample once: ``review_copies = k`` for the
samples chosen for overlap, ``1`` for the others. Which samples are chosen is
deterministic (:func:`chosen`: SHA-1 of a salt recorded with the setting and the
sample id, below ``f``), so every annotator's session agrees without
coordination, and samples added later are marked by the next session that opens.

An overlapped sample gets its usual *primary* review (``claimed_by``,
``review_status``, ``reviewed_by``, the labels field, the proposals' ``review``;
nothing about it changes) plus ``k - 1`` *copies*: blind extra reviews by other
annotators, which never touch the primary's fields. Sample fields (declared when
the setting is recorded; additions to the README's schema):

* ``review_copies`` (int): reviews the sample gets (1, or ``k``);
* ``overlap_claims`` (list of ``{annotator, claim_expires, claimed_at}``): live
  copy claims (server times, like :mod:`labelkit.store.claims`);
* ``overlap_done`` (list of names): annotators whose copy is submitted;
* ``overlap_skipped`` (list of names): annotators who skipped their copy (their
  slot went back to the pool; they are not offered it again);
* ``overlap_reviews`` (list of ``{annotator, decision_id, decided_at,
  review_seconds}``): the last decision written for each copy (what makes a
  journal replay of a copy exactly-once);
* ``<labels>_overlap`` (``fo.Detections``): every copy's labels in one field, each
  detection carrying ``annotator`` (and the provenance attributes of the labels
  field: ``source``, ``proposal_id``, ``proposal_iou``, ``edits``).

Invariant: ``len(overlap_done) + len(overlap_claims) <= review_copies - 1``;
every copy claim is one atomic single-document update (:func:`copy_claim_update`)
that checks it with the server's clock, so a sample never gets more than ``k``
completed reviews, and never two by one annotator (the primary's annotator is
never offered a copy, and a copy's annotator is never given the primary).
"""

from __future__ import annotations

import hashlib
import math
import numbers

from ..errors import ReviewError
from .schema import _fo, declare_field

#: Key of the setting in ``dataset.info``.
INFO_KEY = "labelkit_overlap"

#: The overlap sample fields and their FiftyOne field types (list fields: their subfield).
OVERLAP_FIELDS = (
    ("review_copies", "IntField", None),
    ("overlap_claims", "ListField", "DictField"),
    ("overlap_done", "ListField", "StringField"),
    ("overlap_skipped", "ListField", "StringField"),
    ("overlap_reviews", "ListField", "DictField"),
)

_REVIEWED = ["done", "skipped"]


def overlap_field(labels: str) -> str:
    """The field holding the copies' labels for the labels field ``labels``."""
    return f"{labels}_overlap"


def check_overlap(overlap, fraction) -> tuple[int, float]:
    """Validate ``overlap`` (reviews per overlapped sample) and ``overlap_fraction``.

    Returns:
        ``(k, fraction)``.

    Raises:
        ReviewError: ``overlap`` is not an integer >= 2, or ``fraction`` is not a
            number in (0, 1].
    """
    if isinstance(overlap, bool) or not isinstance(overlap, numbers.Integral) or overlap < 2:
        raise ReviewError(
            f"overlap must be an integer >= 2 (the number of annotators who review each "
            f"overlapped sample), got {overlap!r}; e.g. overlap=2"
        )
    if (isinstance(fraction, bool) or not isinstance(fraction, numbers.Real)
            or not math.isfinite(float(fraction)) or not 0 < float(fraction) <= 1):
        hint = " (a share, not a percentage: 20% is 0.2)" if isinstance(fraction, numbers.Real) and 1 < float(fraction) <= 100 else ""
        raise ReviewError(
            f"overlap_fraction must be a number in (0, 1], the share of samples reviewed "
            f"{int(overlap)} times, got {fraction!r}{hint}; e.g. overlap_fraction=0.2"
        )
    return int(overlap), float(fraction)


def chosen(sample_id: str, salt: str, fraction: float) -> bool:
    """Whether a sample is one of the overlapped ones: the first 60 bits of
    ``sha1(salt + "\\0" + sample_id)`` as a share of 2**60 is below ``fraction``."""
    h = int(hashlib.sha1(f"{salt}\0{sample_id}".encode()).hexdigest()[:15], 16)
    return h / float(16**15) < fraction


def recorded(dataset) -> dict | None:
    """The overlap setting recorded on ``dataset`` (read from the database):
    ``{"copies", "fraction", "salt"}``, or None."""
    import fiftyone.core.odm as foo

    doc = foo.get_db_conn()["datasets"].find_one({"_id": dataset._doc.id}, {f"info.{INFO_KEY}": 1})
    setting = ((doc or {}).get("info") or {}).get(INFO_KEY)
    return dict(setting) if isinstance(setting, dict) else None


def record(dataset, copies: int, fraction: float) -> dict:
    """Record the setting on the dataset (one conditional update of its document:
    two sessions opening at once cannot record two settings), or check that the one
    recorded is the same.

    Returns:
        the setting in force.

    Raises:
        ReviewError: a different setting was recorded before; nothing is written.
    """
    import fiftyone.core.odm as foo

    setting = {"copies": int(copies), "fraction": float(fraction), "salt": dataset.name}
    coll = foo.get_db_conn()["datasets"]
    res = coll.update_one({"_id": dataset._doc.id, f"info.{INFO_KEY}": {"$exists": False}},
                          {"$set": {f"info.{INFO_KEY}": setting}})
    if res.modified_count:
        try:
            dataset.reload()  # the in-memory dataset document (its `info`) sees the setting
        except Exception:  # noqa: BLE001 - a concurrent schema rewrite; `info` is refreshed later
            pass
        return setting
    have = recorded(dataset)
    if have is None:  # pragma: no cover - the document vanished meanwhile
        raise ReviewError(f"dataset '{dataset.name}' is gone; reopen it")
    check_same(dataset, have, copies, fraction)
    return have


def check_same(dataset, have: dict, copies: int, fraction: float) -> None:
    """Raise :class:`ReviewError` when the recorded setting ``have`` is not ``copies`` /
    ``fraction`` (a read-only check, made before anything is written)."""
    if int(have["copies"]) != int(copies) or abs(float(have["fraction"]) - float(fraction)) > 1e-12:
        raise ReviewError(
            f"dataset '{dataset.name}' already has an overlap study with overlap={have['copies']}, "
            f"overlap_fraction={float(have['fraction']):g}; you asked for overlap={copies}, "
            f"overlap_fraction={float(fraction):g}. Open the review with the recorded setting (or "
            "without overlap=, which follows it); a study's setting cannot change once samples are marked"
        )


def declare_fields(dataset, labels: str) -> None:
    """Declare the overlap fields and ``<labels>_overlap`` with its attributes (idempotent,
    safe against concurrent sessions: :func:`declare_field`)."""
    fo = _fo()
    for name, ftype, sub in OVERLAP_FIELDS:
        extra = {} if sub is None else {"subfield": getattr(fo, sub)}
        declare_field(dataset, name, getattr(fo, ftype), **extra)
    field = overlap_field(labels)
    declare_field(dataset, field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    for attr, ftype in (("annotator", fo.StringField), ("source", fo.StringField),
                        ("proposal_id", fo.StringField), ("proposal_iou", fo.FloatField),
                        ("edits", fo.IntField)):
        declare_field(dataset, f"{field}.detections.{attr}", ftype)


def mark(coll, dataset, setting: dict) -> int:
    """Mark the samples not yet marked: ``review_copies = copies`` for the chosen
    ones, 1 for the others (two ``update_many`` that only touch unmarked samples, so
    running it again, or from two sessions at once, changes nothing).

    Args:
        coll: the samples collection (pymongo).
        dataset: the ``fo.Dataset``.
        setting: the recorded setting.

    Returns:
        the number of samples marked now.
    """
    todo = [d["_id"] for d in coll.find({"review_copies": None}, {"_id": 1})]
    if not todo:
        return 0
    k, f, salt = int(setting["copies"]), float(setting["fraction"]), str(setting["salt"])
    yes = [o for o in todo if chosen(str(o), salt, f)]
    no = [o for o in todo if not chosen(str(o), salt, f)]
    n = 0
    for ids, value in ((yes, k), (no, 1)):
        if ids:
            n += coll.update_many({"_id": {"$in": ids}, "review_copies": None},
                                  {"$set": {"review_copies": value}}).modified_count
    return n


# --------------------------------------------------------------- claim updates
def _lit(value):
    return {"$literal": value}


def _arr(path: str) -> dict:
    return {"$ifNull": [path, []]}


def _live(now_expr="$$NOW") -> dict:
    """The ``overlap_claims`` entries that have not expired."""
    return {"$filter": {"input": _arr("$overlap_claims"), "as": "c",
                        "cond": {"$gte": ["$$c.claim_expires", now_expr]}}}


def copy_claim_filter(oid, annotator: str) -> dict:
    """The filter of a *new* copy claim: an overlapped sample this annotator did not
    claim or review as its primary, has no copy of, and that has a free copy slot
    (``len(overlap_done) + live overlap_claims < review_copies - 1``, server clock)."""
    return {
        "_id": oid,
        "review_copies": {"$gte": 2},
        "claimed_by": {"$ne": annotator},
        "reviewed_by": {"$ne": annotator},
        "overlap_done": {"$ne": annotator},
        "overlap_skipped": {"$ne": annotator},
        "overlap_claims.annotator": {"$ne": annotator},
        "$expr": {"$lt": [{"$add": [{"$size": _arr("$overlap_done")}, {"$size": _live()}]},
                          {"$subtract": ["$review_copies", 1]}]},
    }


def copy_claim_update(annotator: str, ttl_ms: int) -> list:
    """The pipeline update of a new copy claim: append this annotator's claim; expired
    claims of others are pruned in the same update only when their slot is needed (an
    expired claim nobody needs stays valid, as a primary claim does)."""
    everyone = _arr("$overlap_claims")
    full = {"$gte": [{"$add": [{"$size": _arr("$overlap_done")}, {"$size": everyone}]},
                     {"$subtract": ["$review_copies", 1]}]}
    mine = {"annotator": _lit(annotator), "claim_expires": {"$add": ["$$NOW", ttl_ms]}, "claimed_at": "$$NOW"}
    return [{"$set": {"overlap_claims": {"$concatArrays": [{"$cond": [full, _live(), everyone]}, [mine]]}}}]


def copy_renew_update(annotator: str, ttl_ms: int) -> list:
    """The pipeline update that extends this annotator's copy claim by ``ttl``."""
    return [{"$set": {"overlap_claims": {"$map": {
        "input": _arr("$overlap_claims"), "as": "c",
        "in": {"$cond": [{"$eq": ["$$c.annotator", _lit(annotator)]},
                         {"$mergeObjects": ["$$c", {"claim_expires": {"$add": ["$$NOW", ttl_ms]}}]},
                         "$$c"]}}}}}]


def copy_owner_filter(annotator: str) -> dict:
    """The filter a copy's write adds: this annotator holds the copy claim, or has
    submitted the copy (editing one's own submitted copy)."""
    return {"$or": [{"overlap_claims.annotator": annotator}, {"overlap_done": annotator}]}


def copy_write_update(entry: dict) -> list:
    """The pipeline update of a copy decision (journal entry ``kind == "copy"``).

    Replaces only this annotator's detections in ``<labels>_overlap`` (when
    ``entry["docs"]`` is not None), records the decision in ``overlap_reviews``, and
    for a submit ("done") / skip ("skipped") adds the annotator to ``overlap_done`` /
    ``overlap_skipped`` and removes their copy claim, all in one update. The
    primary's fields (``review_status``, ``reviewed_by``, the labels field, the
    proposals' ``review``, ``review_decision_id``) are never in it.
    """
    me = entry["annotator"]
    field = entry["overlap_field"]
    status = entry["status"]
    set_: dict = {}
    if entry.get("docs") is not None:
        others = {"$filter": {"input": _arr(f"${field}.detections"), "as": "d",
                              "cond": {"$ne": ["$$d.annotator", _lit(me)]}}}
        set_[field] = {"_cls": "Detections", "detections": {"$concatArrays": [others, _lit(entry["docs"])]}}
    not_me = {"$filter": {"input": _arr("$overlap_reviews"), "as": "r",
                          "cond": {"$ne": ["$$r.annotator", _lit(me)]}}}
    old = {"$first": {"$filter": {"input": _arr("$overlap_reviews"), "as": "r",
                                  "cond": {"$eq": ["$$r.annotator", _lit(me)]}}}}
    new = {"annotator": me, "decision_id": entry["decision_id"], "decided_at": entry["decided_at"]}
    if entry.get("review_seconds") is not None:
        new["review_seconds"] = float(entry["review_seconds"])
    set_["overlap_reviews"] = {"$concatArrays": [not_me, [{"$mergeObjects": [old, _lit(new)]}]]}
    if status in _REVIEWED:
        target = "overlap_done" if status == "done" else "overlap_skipped"
        other = "overlap_skipped" if status == "done" else "overlap_done"
        set_[target] = {"$cond": [{"$in": [_lit(me), _arr(f"${target}")]}, _arr(f"${target}"),
                                  {"$concatArrays": [_arr(f"${target}"), [_lit(me)]]}]}
        set_[other] = {"$filter": {"input": _arr(f"${other}"), "as": "n", "cond": {"$ne": ["$$n", _lit(me)]}}}
        set_["overlap_claims"] = {"$filter": {"input": _arr("$overlap_claims"), "as": "c",
                                              "cond": {"$ne": ["$$c.annotator", _lit(me)]}}}
    set_["last_modified_at"] = _lit(entry["decided_at"])
    return [{"$set": set_}]


def copy_applied(doc: dict | None, entry: dict) -> bool:
    """Whether ``doc`` already holds this copy decision or a newer one of its annotator."""
    for r in (doc or {}).get("overlap_reviews") or []:
        if r.get("annotator") == entry["annotator"] and str(r.get("decision_id") or "") >= entry["decision_id"]:
            return True
    return False


def copy_refusal(coll, entry: dict):
    """Why a copy write matched nothing: a :class:`~labelkit.errors.ClaimLostError`
    naming the sample and what happened, or None when the copy claim is still held
    (the write was refused for another reason)."""
    import os

    from bson import ObjectId

    from ..errors import ClaimLostError

    me = entry["annotator"]
    doc = coll.find_one({"_id": ObjectId(entry["sample_id"])},
                        {"filepath": 1, "overlap_claims": 1, "overlap_done": 1, "overlap_skipped": 1})
    if doc is None:
        return None
    claims = doc.get("overlap_claims") or []
    if any(c.get("annotator") == me for c in claims) or me in (doc.get("overlap_done") or []):
        return None
    ttl = (entry.get("claim") or {}).get("ttl")
    after = f" (no sign of life from this session for more than {ttl:g} s)" if ttl else ""
    others = [c.get("annotator") for c in claims] + list(doc.get("overlap_done") or [])
    if me in (doc.get("overlap_skipped") or []):
        what = "was skipped by you earlier: its extra review went back to the pool"
    elif others:
        names = ", ".join(f"'{o}'" for o in others)
        what = f"has its extra-review slot taken by {names}: your copy claim expired{after}"
    else:
        what = "is no longer claimed by you for an extra review (the claim expired or was released)"
    name = os.path.basename(doc.get("filepath") or "")
    return ClaimLostError(
        f"sample {entry['sample_id']} ('{name}') {what}; your extra (overlap) review of it was NOT "
        f"saved and nothing of theirs was overwritten, annotator '{me}'. Move on to your next "
        "sample (session.next(), or the Labeler's next button); your other claims are kept"
    )


__all__ = [
    "INFO_KEY",
    "OVERLAP_FIELDS",
    "check_overlap",
    "check_same",
    "chosen",
    "copy_applied",
    "copy_claim_filter",
    "copy_claim_update",
    "copy_owner_filter",
    "copy_refusal",
    "copy_renew_update",
    "copy_write_update",
    "declare_fields",
    "mark",
    "overlap_field",
    "record",
    "recorded",
]
