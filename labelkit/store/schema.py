"""The review schema labelkit writes to FiftyOne: states, sources, label validation.

Shared by the image store (:mod:`labelkit.store.image`) and the video frame store
(:mod:`labelkit.store.video`). See the README's "FiftyOne schema".
"""

from __future__ import annotations

import datetime as _dt
import getpass
from collections.abc import Sequence

from ..errors import ReviewError

REVIEW_STATES = (None, "accepted", "edited", "rejected")


SAMPLE_STATES = (None, "done", "skipped")


SOURCES = ("proposal", "human")


def _fo():
    import fiftyone as fo

    return fo


def declare_field(dataset, path: str, ftype, attempts: int = 8, **kwargs) -> None:
    """``dataset.add_sample_field(path, ftype, **kwargs)`` unless ``path`` is declared,
    safe against other processes declaring fields at the same time.

    FiftyOne updates a dataset's schema by rewriting its dataset document; when
    several annotators' sessions open a fresh dataset (or a fresh team review) at once, one process can
    read that document while another rewrites it and fail (mongoengine's
    ``InvalidDocumentError``), or find the field declared meanwhile. Each failure
    reloads the dataset, checks again, and retries after a short random pause.
    """
    import random
    import time

    for attempt in range(attempts):
        try:
            if path in dataset.get_field_schema(flat=True):
                return
            dataset.add_sample_field(path, ftype, **kwargs)
            return
        except Exception:  # noqa: BLE001 - a concurrent schema rewrite; reload and look again
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 + random.random() * 0.1 * (attempt + 1))
            try:
                dataset.reload()
            except Exception:  # noqa: BLE001 - the reload raced too: the next attempt reloads again
                pass


def default_annotator() -> str:
    """Who is reviewing: ``$LABELKIT_ANNOTATOR`` or the login name."""
    import os

    name = os.environ.get("LABELKIT_ANNOTATOR")
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def _utcnow() -> _dt.datetime:
    # MongoDB keeps milliseconds: truncate so what we return equals what is read back
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _validate_label(det) -> None:
    source = det.get_field("source") if det.has_field("source") else None
    if source not in SOURCES:
        raise ReviewError(f"label {det.id}: source must be 'proposal' or 'human', got {source!r}")
    for name in ("proposal_id", "proposal_iou", "edits"):
        if not det.has_field(name):
            raise ReviewError(f"label {det.id} ({det.label}) has no '{name}' provenance attribute")
    if source == "human" and det["proposal_id"] is not None:
        raise ReviewError(f"label {det.id}: a human-drawn label cannot have a proposal_id")
    if source == "proposal" and not det["proposal_id"]:
        raise ReviewError(f"label {det.id}: source='proposal' needs the proposal_id it came from")


def make_label(
    label: str,
    bounding_box: Sequence[float],
    mask,
    source: str,
    proposal_id: str | None = None,
    proposal_iou: float | None = None,
    edits: int = 0,
    confidence: float | None = None,
):
    """Build a final-label ``fo.Detection`` with the provenance attributes of the schema."""
    fo = _fo()
    if source not in SOURCES:
        raise ReviewError(f"source must be 'proposal' or 'human', got {source!r}")
    det = fo.Detection(label=label, bounding_box=[float(v) for v in bounding_box], mask=mask)
    if confidence is not None:
        det.confidence = float(confidence)
    det["source"] = source
    det["proposal_id"] = proposal_id
    det["proposal_iou"] = None if proposal_iou is None else float(proposal_iou)
    det["edits"] = int(edits)
    return det
