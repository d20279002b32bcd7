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
  ``reviewed_at`` (UTC datetime).

Single-decision writes (:meth:`ReviewStore.save_review`) are one acknowledged
MongoDB update that has returned before the method returns. Bulk writes
(:meth:`ReviewStore.write_proposals`, :meth:`ReviewStore.set_status`) use
FiftyOne's batched ``set_values``, never per-sample ``save()`` loops.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import ReviewError, SchemaError
from .schema import REVIEW_STATES, SAMPLE_STATES, _fo, _utcnow, _validate_label, default_annotator


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


class ReviewStore:
    """Reads samples for review and writes review decisions to a FiftyOne collection.

    Args:
        samples: a ``fo.Dataset`` or any view of one (filtered, sorted, sampled).
        proposals: the ``fo.Detections`` field holding model proposals (may be
            absent from the schema: then every sample has no proposals).
        labels: the ``fo.Detections`` field the reviewed labels go to (created if
            missing).
    """

    def __init__(self, samples, proposals: str = "predictions", labels: str = "ground_truth"):
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
        self.ensure_schema()

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
        for name, ftype in (
            ("review_status", fo.StringField),
            ("reviewed_by", fo.StringField),
            ("reviewed_at", fo.DateTimeField),
        ):
            if name not in schema:
                ds.add_sample_field(name, ftype)
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

    def ensure_schema(self) -> None:
        """Declare the review fields on the dataset (idempotent)."""
        fo = _fo()
        ds = self.dataset
        schema = ds.get_field_schema()
        if "." in self.labels or "." in self.proposals:
            raise SchemaError(
                f"image datasets need top-level fields, got '{self.proposals}' / '{self.labels}'"
            )
        self._check_detections_field(self.proposals, schema)
        if not self._check_detections_field(self.labels, schema):
            ds.add_sample_field(self.labels, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
        for name, ftype in (
            ("review_status", fo.StringField),
            ("reviewed_by", fo.StringField),
            ("reviewed_at", fo.DateTimeField),
        ):
            if name not in schema:
                ds.add_sample_field(name, ftype)
        self._declare_attrs()

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
        if self.proposals in ds.get_field_schema():
            wanted.append((f"{self.proposals}.detections.review", fo.StringField))
        for path, ftype in wanted:
            if path not in schema:
                ds.add_sample_field(path, ftype)

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

    def load(self, sample_id: str) -> SampleRecord:
        """Read one sample into a detached :class:`SampleRecord`."""
        sample = self.dataset[sample_id]
        width = height = None
        if sample.metadata is not None:
            width, height = sample.metadata.width, sample.metadata.height
        if not width or not height:
            from ..media.image import probe_image

            info = probe_image(sample.filepath, verify=False)
            width, height = info["width"], info["height"]
        props = sample[self.proposals] if self.proposals in sample.field_names else None
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

    # ------------------------------------------------------------------ writes
    def save_review(
        self,
        sample_id: str,
        proposal_reviews: Mapping[str, str | None],
        final: Sequence,
        status: str = "done",
        reviewed_by: str | None = None,
    ) -> _dt.datetime:
        """Write one sample's review: proposal states, final labels and sample status.

        Durable before it returns (one acknowledged update of the sample document).

        Args:
            sample_id: the sample.
            proposal_reviews: proposal id -> None | "accepted" | "edited" | "rejected".
                Proposals not named keep their current ``review``.
            final: the final ``fo.Detection`` list for the labels field; each must
                carry ``source`` ("proposal" | "human"), ``proposal_id``,
                ``proposal_iou`` and ``edits``.
            status: "done" or "skipped".
            reviewed_by: annotator name (default :func:`default_annotator`).

        Returns:
            the ``reviewed_at`` timestamp written (UTC).
        """
        if status not in ("done", "skipped"):
            raise ReviewError(f"review status must be 'done' or 'skipped', got {status!r}")
        sample = self._apply_decisions(sample_id, proposal_reviews, final)
        now = _utcnow()
        sample["review_status"] = status
        sample["reviewed_by"] = reviewed_by or default_annotator()
        sample["reviewed_at"] = now
        sample.save()
        return now

    def save_draft(
        self,
        sample_id: str,
        proposal_reviews: Mapping[str, str | None],
        final: Sequence,
        reviewed_by: str | None = None,
    ) -> None:
        """Write a sample's decisions so far without changing its ``review_status``.

        Used when the reviewer moves to another sample without submitting: the
        proposal ``review`` values and the final labels are written (one
        acknowledged update, durable before it returns); ``review_status`` stays
        as it is (None for a sample never submitted). When the sample already has
        a status ("done"/"skipped"), ``reviewed_by``/``reviewed_at`` are updated
        too, since its labels changed.

        Args:
            sample_id: the sample.
            proposal_reviews: proposal id -> None | "accepted" | "edited" | "rejected".
            final: the final ``fo.Detection`` list (with provenance attributes).
            reviewed_by: annotator name (default :func:`default_annotator`).
        """
        sample = self._apply_decisions(sample_id, proposal_reviews, final)
        if sample["review_status"] is not None:
            sample["reviewed_by"] = reviewed_by or default_annotator()
            sample["reviewed_at"] = _utcnow()
        sample.save()

    def _apply_decisions(self, sample_id: str, proposal_reviews: Mapping[str, str | None], final: Sequence):
        """Validate a sample's decisions and set them on the sample (not saved yet).

        Raises ``ReviewError`` before anything changes: an unknown review value, a
        proposal id not in the proposals field, a label without provenance.
        """
        fo = _fo()
        for k, v in proposal_reviews.items():
            if v not in REVIEW_STATES:
                raise ReviewError(f"proposal {k}: review must be one of {REVIEW_STATES}, got {v!r}")
        final = list(final)
        for det in final:
            _validate_label(det)
        sample = self.dataset[sample_id]
        if self.proposals in sample.field_names and sample[self.proposals] is not None:
            props = sample[self.proposals]
            unknown = set(proposal_reviews) - {d.id for d in props.detections}
            if unknown:
                raise ReviewError(
                    f"sample {sample_id}: proposal ids {sorted(unknown)} are not in '{self.proposals}'"
                )
            for det in props.detections:
                if det.id in proposal_reviews:
                    det["review"] = proposal_reviews[det.id]
        elif proposal_reviews:
            raise ReviewError(f"sample {sample_id} has no '{self.proposals}' to review")
        sample[self.labels] = fo.Detections(detections=final)
        return sample

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
        import numpy as np
        from bson import Binary, ObjectId

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
            docs = []
            for det in dets._data["detections"] or []:  # _data: no mongoengine dereferencing
                if type(det) is not fo.Detection or not set(det._dynamic_fields) <= declared:
                    return None
                doc = _detection_doc(det, ObjectId, Binary, np.ndarray)
                docs.append(det.to_mongo() if doc is None else doc)
            out[sid] = {"_cls": "Detections", "detections": docs}
        return out

    def set_status(self, sample_ids: Iterable[str], status: str | None, reviewed_by: str | None = None) -> int:
        """Bulk-set ``review_status`` (and who/when) for many samples in one write."""
        if status not in SAMPLE_STATES:
            raise ReviewError(f"review status must be one of {SAMPLE_STATES}, got {status!r}")
        ids = list(sample_ids)
        if not ids:
            return 0
        now = _utcnow() if status else None
        who = (reviewed_by or default_annotator()) if status else None
        view = self.dataset.select(ids)
        view.set_values("review_status", {i: status for i in ids}, key_field="id")
        view.set_values("reviewed_by", {i: who for i in ids}, key_field="id")
        view.set_values("reviewed_at", {i: now for i in ids}, key_field="id")
        return len(ids)


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
