"""Should I automate my labeling? Proposal-vs-final metrics, effort and a recommendation.

:func:`audit` measures how useful a model's proposals were, per class and overall,
and returns an :class:`AuditReport` (a notebook display, a terminal table, a
standalone HTML page, and plain numbers for code: ``report.overall`` and
``report.per_class``). When the collection has an overlap study (samples
reviewed by several annotators, :mod:`labelkit.store.overlap`), the report also
carries ``report.agreement``, the inter-annotator agreement
(:func:`labelkit.audit.agreement.agreement`, matched at the same ``iou``), shown
after the main table; the copies' labels (``<labels>_overlap``) never enter the
proposal-vs-final numbers.

Two modes:

* **review** — the labels field holds labels reviewed with labelkit (the
  provenance of the schema: ``source``, ``proposal_id``, ``proposal_iou`` on each
  label, ``review`` on each proposal). Only samples with ``review_status ==
  "done"`` count (skipped and unreviewed samples are left out: their decisions
  are incomplete). What people did is read back as it was recorded.
* **ground_truth** — the labels field is existing ground truth (e.g. imported
  COCO annotations) with no labelkit provenance. Every sample of the collection
  counts. What a reviewer *would* have had to do is simulated by matching
  proposals to ground truth with FiftyOne's COCO-style evaluation
  (``evaluate_detections(..., use_masks=True, classwise=True)``: highest
  confidence first, each proposal takes the best-IoU unmatched ground-truth
  object of its class with IoU >= ``iou``):

  - matched with IoU >= ``accept_iou`` (default 0.85) -> "would accept unchanged";
  - matched with ``iou`` <= IoU < ``accept_iou`` -> "would edit";
  - unmatched proposal -> "would reject";
  - unmatched ground truth -> "missed" (would be drawn by hand).

  Ground-truth objects with ``iscrowd`` set are left out, and so are the
  proposals matched to them (as COCO does). The evaluation run is stored under a
  temporary key and deleted before :func:`audit` returns.

``mode="auto"`` picks review mode when reviewed samples (``review_status ==
"done"``) carry labelkit provenance (a ``source`` on their labels, or no labels
at all because everything was rejected), and ground-truth mode otherwise.

Definitions (per class; "overall" pools all classes). A proposal belongs to the
class the model predicted, a final label to its final class.

* ``proposals``: proposals on the counted samples.
* ``accepted`` / ``edited`` / ``rejected``: proposals kept unchanged / kept after
  edits (mask or class) / not kept. In review mode this is the proposal's
  ``review``; a proposal with no ``review`` on a done sample counts as accepted
  or edited if a final label links to it (accepted when ``proposal_iou == 1``,
  ``edits == 0`` and the class is unchanged) and as rejected otherwise (what was
  not accepted is not a label). ``*_rate`` = count / ``proposals``;
  ``useful_rate`` = (accepted + edited) / ``proposals``.
* ``final_instances``: final labels of the class (ground-truth objects in
  ground-truth mode).
* ``missed``: final labels people had to draw: ``source == "human"`` (or no
  provenance link at all); unmatched ground truth in ground-truth mode.
* ``relabeled``: final labels of the class that came from a proposal of another
  class (review mode only; a class confusion: not missed, not recalled).
* A **true positive** is a proposal whose final label came from it (accepted or
  edited), kept its class, and has ``proposal_iou >= iou`` (the mask IoU of the
  final label vs. the original proposal; 1.0 when accepted unchanged). In
  ground-truth mode: a proposal matched to a ground-truth object of its class
  with mask IoU >= ``iou``. Each proposal yields at most one final label, so
  ``precision = TP / proposals`` and ``recall = TP / final_instances``.
* ``mean_iou``: mean IoU of kept (accepted + edited) proposals vs. their final
  label; ``edited_iou_median``: the median over edited ones.
* ``untouched_share``: final instances that needed no human drawing or edit
  (accepted unchanged) / ``final_instances``.

Effort: with per-action times (seconds per instance, :data:`DEFAULT_TIMES`,
override with ``time_per_action``), ``time_from_scratch_s = final_instances x
draw`` and ``time_with_model_s = accepted x accept + edited x edit + rejected x
reject + missed x add``; ``time_saved_s`` is the difference and
``time_saved_share`` its share of the from-scratch time. The default ``draw``
of 30 s per instance mask sits between two published figures: COCO's crowd
workers needed "over 22 worker hours per 1,000 segmentations" with polygons,
about 79 s per instance (Lin et al. 2014, "Microsoft COCO: Common Objects in
Context", arXiv:1405.0312), and interactive segmentation re-annotated COCO
masks about 3x faster than polygon drawing, i.e. ~26 s (Benenson, Popov,
Ferrari 2019, "Large-scale interactive object segmentation with human
annotators", arXiv:1903.10830). labelkit's brush/polygon/click-to-refine tools
are of the second kind; a larger ``draw`` only makes the model look more
useful. ``edit`` 8 s is a few brush/eraser strokes or a class change;
``accept`` and ``reject`` 1 s are one key press after looking.

Uncertainty: percentile bootstrap over **images** (images are resampled with
replacement, ``n_boot`` times, seeded) gives ``<metric>_lo`` / ``<metric>_hi``
at the ``confidence`` level for every rate, so 20 reviewed images give an honest
(wide) range. Objects within an image are not independent, which is why images
are the unit. With very few images the percentile bootstrap is still too narrow;
hence the minimum sample size below.

Recommendation per class (:data:`DEFAULT_THRESHOLDS`, override with
``thresholds``); a call other than "review-only" needs the confidence interval
to be on one side:

* "not enough data" if the class has fewer than ``min_instances`` (20)
  proposals and fewer than ``min_instances`` final instances;
* "automate" if ``accepted_rate_lo >= 0.9`` and ``recall_lo >= 0.9``: nine in
  ten proposals are kept unchanged and nine in ten objects are found, at the
  lower end of the interval;
* "label by hand" if ``useful_rate_hi < 0.5`` or ``recall_hi < 0.5``: at most
  half of the proposals are worth keeping, or the model finds at most half of
  the objects (a class the model does not know has recall 0);
* "review-only" otherwise: use the model as a first draft, review everything.

Threshold suggestion: the lowest proposal-confidence threshold at which the
proposals that pass it still have precision >= ``target_precision`` (0.9), with
the precision and recall it would have given (``report.threshold_suggestion``;
per class in ``per_class["suggested_confidence"]``).
"""

from __future__ import annotations

import logging
import math
import numbers
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .compare import AuditComparison

from ..errors import LabelkitError, SchemaError

#: Seconds per instance for each reviewer action (see the module docstring).
#: ``add`` (drawing an object the model missed) of None means "same as ``draw``".
DEFAULT_TIMES: dict[str, float | None] = {
    "draw": 30.0,
    "add": None,
    "accept": 1.0,
    "reject": 1.0,
    "edit": 8.0,
}


#: Recommendation thresholds (see the module docstring).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "automate_accepted_lo": 0.9,
    "automate_recall_lo": 0.9,
    "hand_useful_hi": 0.5,
    "hand_recall_hi": 0.5,
    "min_instances": 20,
    "target_precision": 0.9,
}


MODES = ("auto", "review", "ground_truth")


RECOMMENDATIONS = ("automate", "review-only", "label by hand", "not enough data")


OUTCOMES = ("accepted", "edited", "rejected")


# per-image sums, the unit of the bootstrap
_STATS = (
    "proposals",
    "accepted",
    "edited",
    "rejected",
    "iou_sum",
    "tp",
    "final",
    "missed",
    "relabeled",
)


_S = {name: i for i, name in enumerate(_STATS)}


#: Rates that get a bootstrap interval (``<name>_lo`` / ``<name>_hi``).
RATES = (
    "accepted_rate",
    "edited_rate",
    "rejected_rate",
    "useful_rate",
    "precision",
    "recall",
    "mean_iou",
    "untouched_share",
    "time_saved_share",
)


_OVERALL = "all"


@dataclass
class AuditReport:
    """What :func:`audit` measured.

    Attributes:
        overall: metrics over all classes (same keys as the ``per_class`` columns).
        per_class: ``pandas.DataFrame``, one row per class (index ``class``, sorted),
            including classes that only appear in the labels (``proposals == 0``).
            Columns: ``n_images`` (images where the class appears), ``proposals``,
            ``accepted``, ``edited``, ``rejected``, ``final_instances``, ``missed``,
            ``relabeled``, ``tp``, the rates of :data:`RATES` with ``_lo``/``_hi``
            bootstrap bounds, ``edited_iou_median``, ``time_from_scratch_s``,
            ``time_with_model_s``, ``time_saved_s``, ``suggested_confidence``,
            ``recommendation`` and ``reason``.
        threshold_suggestion: the confidence threshold suggestion (see
            :func:`suggest_threshold`).
        assumptions: every setting the numbers depend on: mode, IoU thresholds,
            per-action seconds, recommendation thresholds, bootstrap settings.
        mode: "review" or "ground_truth".
        dataset: the dataset name.
        proposals_field, labels_field: the fields compared.
        n_images: samples counted; ``n_samples``: samples in the collection.
        proposals_table: one row per counted proposal: ``sample_id``, ``label``,
            ``confidence``, ``outcome`` (accepted/edited/rejected), ``iou`` (vs. its
            final label, NaN if rejected), ``tp``.
        labels_table: one row per counted final label: ``sample_id``, ``label``,
            ``origin`` ("proposal" | "human"), ``proposal_label``, ``iou``, ``tp``.
        notes: caveats found while auditing (e.g. box IoU because masks are missing).
        agreement: the inter-annotator agreement of the collection's overlap study
            (:class:`~labelkit.audit.agreement.AgreementReport`), None without one.
    """

    overall: dict
    per_class: Any
    threshold_suggestion: dict
    assumptions: dict
    mode: str
    dataset: str
    proposals_field: str
    labels_field: str
    n_images: int
    n_samples: int
    proposals_table: Any = None
    labels_table: Any = None
    notes: list[str] = field(default_factory=list)
    agreement: Any = None

    def to_text(self) -> str:
        """The report as a plain-text table for a terminal."""
        from .render import render_text

        return render_text(self)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return (
            f"AuditReport(dataset={self.dataset!r}, mode={self.mode!r}, n_images={self.n_images}, "
            f"classes={list(self.per_class.index)}, recommendation={self.overall.get('recommendation')!r})"
        )

    def to_html(self, plots: bool = True, full_page: bool = False) -> str:
        """The report as HTML: a compact table plus plots (inline PNG, no external resources).

        Args:
            plots: include the matplotlib plots.
            full_page: a standalone ``<!DOCTYPE html>`` document instead of a fragment.
        """
        from .render import render_html

        return render_html(self, plots=plots, full_page=full_page)

    def _repr_html_(self) -> str:
        return self.to_html(plots=True, full_page=False)

    def save(self, path) -> str:
        """Write a standalone HTML page (table, plots, assumptions; no external resources).

        Returns:
            the path written, as a string.
        """
        import os

        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.to_html(plots=True, full_page=True))
        return path

    def figure(self):
        """The report's plots as one ``matplotlib.figure.Figure`` (acceptance by class,
        IoU of edited proposals, acceptance by confidence)."""
        from .render import make_figure

        return make_figure(self)


def audit(
    samples,
    proposals: str | Sequence[str] = "predictions",
    labels: str = "ground_truth",
    iou: float = 0.5,
    mode: str = "auto",
    time_per_action: Mapping[str, float] | None = None,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    accept_iou: float = 0.85,
    thresholds: Mapping[str, float] | None = None,
) -> AuditReport | AuditComparison:
    """Measure how useful the proposals were: acceptance, edits, misses, precision/recall,
    effort saved and a recommendation per class, with bootstrap confidence intervals.

    See the module docstring for every definition, default and threshold.

    Args:
        samples: a dataset name, ``fo.Dataset`` or view (a view restricts the audit).
        proposals: the ``fo.Detections`` field with the model's proposals, or a list
            of such fields (one per model) to compare them side by side: the result
            is then an :class:`~labelkit.audit.compare.AuditComparison` of one report
            per field, all against ``labels`` with the same settings (``mode="auto"``
            means ground-truth mode there, see :mod:`labelkit.audit.compare`).
        labels: the ``fo.Detections`` field with the final labels (reviewed with
            labelkit, or existing ground truth).
        iou: a proposal is a true positive when its final label has mask IoU >= ``iou``
            with it.
        mode: "auto", "review" (labelkit provenance; only ``review_status == "done"``
            samples count) or "ground_truth" (simulate the review by matching
            proposals to ground truth; all samples count).
        time_per_action: seconds per instance, overriding :data:`DEFAULT_TIMES`
            (keys ``draw``, ``add``, ``accept``, ``reject``, ``edit``).
        confidence: level of the bootstrap intervals (0.95 -> 2.5th..97.5th percentile).
        n_boot: bootstrap resamples of the images (0: no intervals).
        seed: seed of the bootstrap.
        accept_iou: ground-truth mode only: a matched proposal with IoU >= this would
            be accepted unchanged, below it edited.
        thresholds: overrides of :data:`DEFAULT_THRESHOLDS`.

    Returns:
        the :class:`AuditReport`.

    Raises:
        LabelkitError: nothing to audit (empty collection, no reviewed sample, no
            labels), or a bad argument; the message says what to do.
        SchemaError: a field is missing or is not ``fo.Detections``.

    Example:
        >>> report = lk.audit(ds, proposals="predictions", labels="ground_truth")  # doctest: +SKIP
        >>> report.per_class[["accepted_rate", "recall", "recommendation"]]      # doctest: +SKIP
    """
    from ..store.dataset import open_dataset

    if not isinstance(proposals, str):
        fields = [str(f) for f in proposals]
        if not fields or len(set(fields)) != len(fields):
            raise LabelkitError(f"proposals must be a field name or distinct field names, got {proposals!r}")
        if len(fields) > 1:
            from .compare import compare

            settings = dict(labels=labels, iou=iou, mode="ground_truth" if mode == "auto" else mode,
                            time_per_action=time_per_action, confidence=confidence, n_boot=n_boot,
                            seed=seed, accept_iou=accept_iou, thresholds=thresholds)
            coll = open_dataset(samples)
            return compare({f: audit(coll, proposals=f, **settings) for f in fields}, labels)
        proposals = fields[0]
    coll = open_dataset(samples)
    times = _merge("time_per_action", DEFAULT_TIMES, time_per_action)
    if times["add"] is None:
        times["add"] = times["draw"]
    limits = _merge("thresholds", DEFAULT_THRESHOLDS, thresholds)
    if mode not in MODES:
        raise LabelkitError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not 0 < iou <= 1:
        raise LabelkitError(f"iou must be in (0, 1], got {iou}")
    if not 0 < confidence < 1:
        raise LabelkitError(f"confidence (the interval level) must be in (0, 1), got {confidence}")
    if n_boot < 0:
        raise LabelkitError(f"n_boot must be >= 0, got {n_boot}")

    name = getattr(coll, "dataset_name", None) or getattr(coll, "name", None) or "?"
    n_samples = len(coll)
    if n_samples == 0:
        raise LabelkitError(
            f"nothing to audit: '{name}' has no samples; import images with lk.load_images(), "
            "propose with lk.propose() and review them with lk.Labeler()"
        )
    schema = coll.get_field_schema()
    _check_field(coll, schema, labels, "labels", required=True, name=name)
    has_props = _check_field(coll, schema, proposals, "proposals", required=False, name=name)
    if proposals == labels:
        raise SchemaError(f"proposals and labels are both '{labels}'; audit compares two fields")

    chosen = _pick_mode(coll, schema, labels, mode, name)
    notes: list[str] = []
    if chosen == "review":
        view, props, labs = _review_records(coll, proposals if has_props else None, labels, iou)
    else:
        if not has_props:
            raise SchemaError(
                f"'{name}' has no proposals field '{proposals}'; run lk.propose(ds, model, "
                f"field='{proposals}') first, or pass proposals=<your field>"
            )
        if not iou <= accept_iou <= 1:
            raise LabelkitError(f"accept_iou must be in [iou, 1] = [{iou}, 1], got {accept_iou}")
        view, props, labs, gt_notes = _gt_records(coll, proposals, labels, iou, accept_iou)
        notes.extend(gt_notes)

    sample_ids = list(view.values("id"))
    assumptions = {
        "mode": chosen,
        "counted_samples": (
            "samples with review_status == 'done'"
            if chosen == "review"
            else "all samples of the collection"
        ),
        "iou": float(iou),
        "accept_iou": float(accept_iou) if chosen == "ground_truth" else None,
        "matching": (
            "labelkit provenance (proposal_id / proposal_iou of each final label)"
            if chosen == "review"
            else "FiftyOne evaluate_detections (COCO-style, classwise, mask IoU, highest confidence first)"
        ),
        "time_per_action_s": dict(times),
        "thresholds": dict(limits),
        "confidence": float(confidence),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "bootstrap_unit": "image",
    }
    per_class, overall, suggestion = _build_report(
        sample_ids, props, labs, times, limits, confidence, n_boot, seed
    )
    from .agreement import agreement as _agreement
    from .agreement import has_overlap

    agree = _agreement(coll, labels=labels, iou=iou) if has_overlap(coll) else None
    return AuditReport(
        overall=overall,
        per_class=per_class,
        threshold_suggestion=suggestion,
        assumptions=assumptions,
        mode=chosen,
        dataset=name,
        proposals_field=proposals,
        labels_field=labels,
        n_images=len(sample_ids),
        n_samples=n_samples,
        proposals_table=props,
        labels_table=labs,
        notes=notes,
        agreement=agree,
    )


def _merge(what: str, defaults: Mapping, overrides: Mapping | None) -> dict:
    out = dict(defaults)
    for k, v in dict(overrides or {}).items():
        if k not in defaults:
            raise LabelkitError(f"{what}: unknown key {k!r}; valid keys: {', '.join(defaults)}")
        if v is None and defaults[k] is None:
            out[k] = None
            continue
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
            raise LabelkitError(f"{what}[{k!r}] must be a number >= 0, got {v!r}")
        out[k] = float(v)
    return out


def _check_field(coll, schema, fld: str, role: str, required: bool, name: str) -> bool:
    import fiftyone as fo

    f = schema.get(fld)
    if f is None:
        if required:
            raise SchemaError(
                f"'{name}' has no {role} field '{fld}' (fields: {', '.join(schema)}); "
                f"pass {role}=<field>"
            )
        return False
    if getattr(f, "document_type", None) is not fo.Detections:
        raise SchemaError(
            f"{role} field '{fld}' of '{name}' holds "
            f"{getattr(getattr(f, 'document_type', None), '__name__', type(f).__name__)}, "
            "but the audit needs fo.Detections (instance masks)"
        )
    return True


def _done_view(coll, schema):
    from fiftyone import ViewField as F

    if "review_status" not in schema:
        return None
    return coll.match(F("review_status") == "done")


def _pick_mode(coll, schema, labels: str, mode: str, name: str) -> str:
    done = _done_view(coll, schema)
    n_done = len(done) if done is not None else 0
    if mode == "review":
        if n_done == 0:
            raise LabelkitError(
                f"nothing to audit in review mode: no sample of '{name}' has review_status 'done'; "
                "review and submit some samples with lk.Labeler(ds), or audit existing ground "
                "truth with mode='ground_truth'"
            )
        return "review"
    if mode == "ground_truth":
        if coll.count(f"{labels}.detections") == 0:
            raise LabelkitError(
                f"nothing to audit: '{labels}' of '{name}' holds no labels; import ground truth "
                "into it, or review samples with lk.Labeler(ds)"
            )
        return "ground_truth"
    # auto
    if n_done > 0:
        with_source = done.count(f"{labels}.detections.source")
        if with_source > 0 or done.count(f"{labels}.detections") == 0:
            return "review"
        return "ground_truth"
    n_labels = coll.count(f"{labels}.detections")
    if n_labels > 0 and coll.count(f"{labels}.detections.source") == 0:
        return "ground_truth"
    raise LabelkitError(
        f"nothing to audit: no sample of '{name}' is reviewed (review_status 'done') and "
        f"'{labels}' holds no ground truth; review and submit some samples with "
        f"lk.Labeler(ds, labels='{labels}'), or import ground truth into '{labels}'"
    )


def _f(x) -> float:
    return float("nan") if x is None else float(x)


def _review_records(coll, proposals: str | None, labels: str, iou: float):
    """Proposal and final-label tables of the done samples, from the stored provenance."""
    import pandas as pd

    view = _done_view(coll, coll.get_field_schema())
    paths = ["id"]
    if proposals:
        paths += [f"{proposals}.detections.{a}" for a in ("id", "label", "confidence", "review")]
    paths += [
        f"{labels}.detections.{a}"
        for a in ("label", "source", "proposal_id", "proposal_iou", "edits")
    ]
    vals = view.values(paths)
    ids = vals[0]
    n = len(ids)
    if proposals:
        p_ids, p_lab, p_conf, p_rev = vals[1:5]
        l_lab, l_src, l_pid, l_iou, l_edits = vals[5:10]
    else:
        p_ids = p_lab = p_conf = p_rev = [None] * n
        l_lab, l_src, l_pid, l_iou, l_edits = vals[1:6]

    prow: dict[str, list] = {
        k: [] for k in ("sample_id", "label", "confidence", "outcome", "iou", "tp")
    }
    lrow: dict[str, list] = {
        k: [] for k in ("sample_id", "label", "origin", "proposal_label", "iou", "tp")
    }
    for i in range(n):
        sid = ids[i]
        pids = p_ids[i] or []
        plabels = dict(zip(pids, p_lab[i] or [], strict=True))
        linked: dict[str, tuple] = {}
        for lab, src, pid, piou, ed in zip(
            l_lab[i] or [],
            l_src[i] or [],
            l_pid[i] or [],
            l_iou[i] or [],
            l_edits[i] or [],
            strict=True,
        ):
            from_prop = src == "proposal" and pid is not None and pid in plabels
            plabel = plabels.get(pid) if from_prop else None
            tp = bool(from_prop and plabel == lab and piou is not None and piou >= iou)
            if from_prop:
                linked[pid] = (lab, piou, ed)
            lrow["sample_id"].append(sid)
            lrow["label"].append(lab)
            lrow["origin"].append("proposal" if from_prop else "human")
            lrow["proposal_label"].append(plabel)
            lrow["iou"].append(_f(piou) if from_prop else float("nan"))
            lrow["tp"].append(tp)
        for pid, lab, conf, rev in zip(
            pids, p_lab[i] or [], p_conf[i] or [], p_rev[i] or [], strict=True
        ):
            link = linked.get(pid)
            if rev in OUTCOMES:
                outcome = rev
            elif link is None:
                outcome = "rejected"
            else:
                flab, piou, ed = link
                unchanged = flab == lab and piou is not None and piou >= 1.0 and not ed
                outcome = "accepted" if unchanged else "edited"
            if outcome == "rejected":
                piou_v, tp = float("nan"), False
            elif link is None:  # kept by its review but no final label links to it
                piou_v, tp = (1.0 if outcome == "accepted" else float("nan")), False
            else:
                flab, piou, _ = link
                piou_v = _f(piou)
                tp = bool(flab == lab and piou is not None and piou >= iou)
            prow["sample_id"].append(sid)
            prow["label"].append(lab)
            prow["confidence"].append(_f(conf))
            prow["outcome"].append(outcome)
            prow["iou"].append(piou_v)
            prow["tp"].append(tp)
    return view, pd.DataFrame(prow), pd.DataFrame(lrow)


def _labels_without_masks(coll, labels: str) -> int:
    from fiftyone import ViewField as F

    missing = coll.filter_labels(
        labels, ~F("mask").exists() & ~F("mask_path").exists(), only_matches=True
    )
    return missing.count(f"{labels}.detections")


def _gt_records(coll, proposals: str, labels: str, iou: float, accept_iou: float):
    """Simulate the review: match proposals to ground truth with FiftyOne's evaluation."""
    import pandas as pd

    notes = []
    use_masks = (
        _labels_without_masks(coll, labels) == 0 and _labels_without_masks(coll, proposals) == 0
    )
    if not use_masks:
        notes.append(
            "some proposals or labels have no instance mask: matched with box IoU instead of mask IoU"
        )
    key = f"lkaudit_{uuid.uuid4().hex[:10]}"
    quiet = logging.getLogger("fiftyone.utils.eval")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # no "Evaluating detections..." in the middle of a report
    try:
        coll.evaluate_detections(
            proposals,
            gt_field=labels,
            eval_key=key,
            iou=iou,
            use_masks=use_masks,
            classwise=True,
            compute_mAP=False,
            progress=False,
        )
        vals = coll.values(
            ["id"]
            + [
                f"{proposals}.detections.{a}"
                for a in ("label", "confidence", key, f"{key}_id", f"{key}_iou")
            ]
            + [f"{labels}.detections.{a}" for a in ("id", "label", key, f"{key}_iou", "iscrowd")]
        )
    finally:
        quiet.setLevel(level)
        if key in coll._dataset.list_evaluations():
            coll._dataset.delete_evaluation(key)
    ids, p_lab, p_conf, p_ev, p_mid, p_miou, g_id, g_lab, g_ev, g_iou, g_crowd = vals
    prow: dict[str, list] = {
        k: [] for k in ("sample_id", "label", "confidence", "outcome", "iou", "tp")
    }
    lrow: dict[str, list] = {
        k: [] for k in ("sample_id", "label", "origin", "proposal_label", "iou", "tp")
    }
    n_crowd = n_crowd_props = 0
    for i, sid in enumerate(ids):
        crowd = {gid for gid, c in zip(g_id[i] or [], g_crowd[i] or [], strict=True) if c}
        n_crowd += len(crowd)
        for lab, conf, ev, mid, miou in zip(
            p_lab[i] or [],
            p_conf[i] or [],
            p_ev[i] or [],
            p_mid[i] or [],
            p_miou[i] or [],
            strict=True,
        ):
            if ev == "tp" and mid in crowd:
                n_crowd_props += 1
                continue
            if ev == "tp":
                outcome = "accepted" if miou >= accept_iou else "edited"
                v = _f(miou)
            else:
                outcome, v = "rejected", float("nan")
            prow["sample_id"].append(sid)
            prow["label"].append(lab)
            prow["confidence"].append(_f(conf))
            prow["outcome"].append(outcome)
            prow["iou"].append(v)
            prow["tp"].append(ev == "tp")
        for gid, lab, ev, giou in zip(
            g_id[i] or [], g_lab[i] or [], g_ev[i] or [], g_iou[i] or [], strict=True
        ):
            if gid in crowd:
                continue
            lrow["sample_id"].append(sid)
            lrow["label"].append(lab)
            lrow["origin"].append("proposal" if ev == "tp" else "human")
            lrow["proposal_label"].append(lab if ev == "tp" else None)
            lrow["iou"].append(_f(giou) if ev == "tp" else float("nan"))
            lrow["tp"].append(ev == "tp")
    if n_crowd:
        notes.append(
            f"{n_crowd} crowd (iscrowd) ground-truth region(s) and the {n_crowd_props} proposal(s) "
            "matched to them are not counted"
        )
    return coll, pd.DataFrame(prow), pd.DataFrame(lrow), notes


def _sums_per_image(sample_ids, props, labs, classes):
    """``(n_images, n_classes + 1, n_stats)`` sums; the last class slot is "overall"."""
    index = {s: i for i, s in enumerate(sample_ids)}
    cidx = {c: i for i, c in enumerate(classes)}
    n, g = len(sample_ids), len(classes) + 1
    sums = np.zeros((n, g, len(_STATS)))

    def add(img, cls, stat, values):
        np.add.at(sums, (img, cls, _S[stat]), values)
        np.add.at(sums, (img, np.full_like(cls, g - 1), _S[stat]), values)

    if len(props):
        img = props["sample_id"].map(index).to_numpy(int)
        cls = props["label"].map(cidx).to_numpy(int)
        out = props["outcome"].to_numpy()
        add(img, cls, "proposals", 1.0)
        for o in OUTCOMES:
            add(img, cls, o, (out == o).astype(float))
        kept = out != "rejected"
        iou = np.nan_to_num(props["iou"].to_numpy(float), nan=0.0)
        add(img, cls, "iou_sum", np.where(kept, iou, 0.0))
        add(img, cls, "tp", props["tp"].to_numpy(bool).astype(float))
    if len(labs):
        img = labs["sample_id"].map(index).to_numpy(int)
        cls = labs["label"].map(cidx).to_numpy(int)
        add(img, cls, "final", 1.0)
        add(img, cls, "missed", (labs["origin"] == "human").to_numpy(float))
        relabeled = (labs["origin"] == "proposal") & (labs["proposal_label"] != labs["label"])
        add(img, cls, "relabeled", relabeled.to_numpy(float))
    return sums


def _div(a, b):
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _rates(s: np.ndarray, times: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Rates from sums (last axis = stats); works on one row or a bootstrap stack."""
    g = {k: s[..., i] for k, i in _S.items()}
    kept = g["accepted"] + g["edited"]
    scratch = g["final"] * times["draw"]
    with_model = (
        g["accepted"] * times["accept"]
        + g["edited"] * times["edit"]
        + g["rejected"] * times["reject"]
        + g["missed"] * times["add"]
    )
    return {
        "accepted_rate": _div(g["accepted"], g["proposals"]),
        "edited_rate": _div(g["edited"], g["proposals"]),
        "rejected_rate": _div(g["rejected"], g["proposals"]),
        "useful_rate": _div(kept, g["proposals"]),
        "precision": _div(g["tp"], g["proposals"]),
        "recall": _div(g["tp"], g["final"]),
        "mean_iou": _div(g["iou_sum"], kept),
        "untouched_share": _div(g["accepted"], g["final"]),
        "time_saved_share": _div(scratch - with_model, scratch),
        "_time_from_scratch_s": scratch,
        "_time_with_model_s": with_model,
    }


def _bootstrap(sums: np.ndarray, times, confidence: float, n_boot: int, seed: int):
    """Percentile intervals of every rate: ``{rate: (lo[g], hi[g])}``."""
    n, g, s = sums.shape
    if n_boot == 0 or n < 2:
        nan = np.full(g, np.nan)
        return {r: (nan, nan) for r in RATES}
    rng = np.random.default_rng(seed)
    flat = sums.reshape(n, g * s)
    boots = np.empty((n_boot, g * s))
    chunk = max(1, int(2_000_000 // n))
    p = np.full(n, 1.0 / n)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        w = rng.multinomial(n, p, size=b).astype(float)  # how often each image is drawn
        boots[start : start + b] = w @ flat
    rates = _rates(boots.reshape(n_boot, g, s), times)
    alpha = (1.0 - confidence) / 2.0
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (empty classes)
        for r in RATES:
            lo, hi = np.nanpercentile(rates[r], [100 * alpha, 100 * (1 - alpha)], axis=0)
            out[r] = (lo, hi)
    return out


def suggest_threshold(
    conf, tp, n_final: int, target_precision: float = 0.9, min_kept: int = 1
) -> dict:
    """The lowest confidence threshold whose surviving proposals keep precision >= target.

    Precision of the top few proposals is noise, so only thresholds that keep at
    least ``min_kept`` proposals are considered (:func:`audit` passes
    ``min_instances``).

    Args:
        conf: proposal confidences (NaN: unknown, left out).
        tp: whether each proposal was a true positive.
        n_final: final instances (the recall denominator).
        target_precision: the precision to keep.
        min_kept: the fewest proposals a threshold may keep.

    Returns:
        dict with ``confidence`` (the threshold, None if none reaches the target or
        confidences are unknown), ``target_precision``, ``precision``, ``recall``,
        ``kept`` / ``dropped`` proposals at that threshold, ``precision_all`` /
        ``recall_all`` (keeping every proposal), and a ``note``.
    """
    conf = np.asarray(conf, float)
    tp = np.asarray(tp, bool)
    n_all = int(len(conf))
    out = {
        "target_precision": float(target_precision),
        "confidence": None,
        "precision": None,
        "recall": None,
        "kept": None,
        "dropped": None,
        "precision_all": float(tp.mean()) if n_all else None,
        "recall_all": float(tp.sum() / n_final) if n_final else None,
        "note": "",
    }
    ok = ~np.isnan(conf)
    if not ok.any():
        out["note"] = "no proposal has a confidence" if n_all else "no proposals"
        return out
    c, t = conf[ok], tp[ok]
    if len(c) < min_kept:
        out["note"] = f"too few proposals with a confidence ({len(c)}; need >= {min_kept:g})"
        return out
    order = np.argsort(-c, kind="stable")
    c, t = c[order], t[order]
    cum_tp = np.cumsum(t)
    kept = np.arange(1, len(c) + 1)
    last_of_value = np.r_[c[1:] != c[:-1], True]  # thresholds keep ties together
    prec = cum_tp / kept
    good = np.flatnonzero(last_of_value & (prec >= target_precision) & (kept >= min_kept))
    if good.size == 0:
        out["note"] = (
            f"no confidence threshold keeping >= {min_kept:g} proposals reaches precision "
            f"{target_precision:g}"
        )
        return out
    i = int(good[-1])
    out.update(
        confidence=float(c[i]),
        precision=float(prec[i]),
        recall=float(cum_tp[i] / n_final) if n_final else None,
        kept=int(kept[i]),
        dropped=int(n_all - kept[i]),
    )
    out["note"] = (
        f"keeping proposals with confidence >= {c[i]:.3g} gives precision {prec[i]:.2f}"
        + (f", recall {cum_tp[i] / n_final:.2f}" if n_final else "")
        + f" ({out['dropped']} of {n_all} proposals dropped)"
    )
    if n_all > len(c):
        out["note"] += f"; {n_all - len(c)} proposal(s) without confidence left out"
    return out


def _recommend(row: Mapping, limits: Mapping) -> tuple[str, str]:
    def ok(x):
        return x is not None and not (isinstance(x, float) and math.isnan(x))

    n = max(row["proposals"], row["final_instances"])
    if n < limits["min_instances"]:
        return "not enough data", (
            f"{int(row['proposals'])} proposals, {int(row['final_instances'])} final instances "
            f"(need >= {limits['min_instances']:g})"
        )
    a_lo, r_lo = row["accepted_rate_lo"], row["recall_lo"]
    if (
        ok(a_lo)
        and ok(r_lo)
        and a_lo >= limits["automate_accepted_lo"]
        and r_lo >= limits["automate_recall_lo"]
    ):
        return "automate", (
            f"accepted unchanged >= {a_lo:.0%} and recall >= {r_lo:.0%} (CI lower bounds)"
        )
    u_hi, r_hi = row["useful_rate_hi"], row["recall_hi"]
    if ok(r_hi) and r_hi < limits["hand_recall_hi"]:
        return (
            "label by hand",
            f"the model finds at most {r_hi:.0%} of the objects (recall CI upper bound)",
        )
    if ok(u_hi) and u_hi < limits["hand_useful_hi"]:
        return "label by hand", f"at most {u_hi:.0%} of the proposals are kept (CI upper bound)"
    if row["proposals"] == 0:
        return "label by hand", "the model made no proposals for this class"
    return "review-only", "use the proposals as a first draft and review every image"


def _build_report(sample_ids, props, labs, times, limits, confidence, n_boot, seed):
    import pandas as pd

    props["label"] = props["label"].fillna("(no label)")
    labs["label"] = labs["label"].fillna("(no label)")
    classes = sorted(set(props["label"]) | set(labs["label"]))
    sums = _sums_per_image(sample_ids, props, labs, classes)
    tot = sums.sum(axis=0)  # (g, s)
    rates = _rates(tot, times)
    cis = _bootstrap(sums, times, confidence, n_boot, seed)
    present = (sums[..., _S["proposals"]] + sums[..., _S["final"]]) > 0  # (n, g)
    rows = []
    names = [*classes, _OVERALL]
    for gi, cname in enumerate(names):
        is_all = cname == _OVERALL
        row: dict[str, Any] = {
            "n_images": len(sample_ids) if is_all else int(present[:, gi].sum()),
            "proposals": int(tot[gi, _S["proposals"]]),
            "accepted": int(tot[gi, _S["accepted"]]),
            "edited": int(tot[gi, _S["edited"]]),
            "rejected": int(tot[gi, _S["rejected"]]),
            "final_instances": int(tot[gi, _S["final"]]),
            "missed": int(tot[gi, _S["missed"]]),
            "relabeled": int(tot[gi, _S["relabeled"]]),
            "tp": int(tot[gi, _S["tp"]]),
        }
        for r in RATES:
            row[r] = float(rates[r][gi])
            row[f"{r}_lo"] = float(cis[r][0][gi])
            row[f"{r}_hi"] = float(cis[r][1][gi])
        sel = props if is_all else props[props["label"] == cname]
        edited = sel.loc[sel["outcome"] == "edited", "iou"].dropna()
        row["edited_iou_median"] = float(edited.median()) if len(edited) else float("nan")
        row["time_from_scratch_s"] = float(rates["_time_from_scratch_s"][gi])
        row["time_with_model_s"] = float(rates["_time_with_model_s"][gi])
        row["time_saved_s"] = row["time_from_scratch_s"] - row["time_with_model_s"]
        sugg = suggest_threshold(
            sel["confidence"].to_numpy(float),
            sel["tp"].to_numpy(bool),
            row["final_instances"],
            limits["target_precision"],
            int(limits["min_instances"]),
        )
        row["suggested_confidence"] = (
            float("nan") if sugg["confidence"] is None else sugg["confidence"]
        )
        row["recommendation"], row["reason"] = _recommend(row, limits)
        rows.append((cname, row, sugg))
    per_class = pd.DataFrame(
        [r for _, r, _ in rows[:-1]],
        index=pd.Index(classes, name="class"),
        columns=list(rows[-1][1]),
    )
    overall = dict(rows[-1][1])
    suggestion = rows[-1][2]
    return per_class, overall, suggestion
