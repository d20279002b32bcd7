"""Inter-annotator agreement of an overlap study: do two people label the same image alike?

An overlap study (``lk.Labeler(ds, annotator=..., overlap=k, overlap_fraction=f)``,
:mod:`labelkit.store.overlap`) has some samples reviewed by ``k`` annotators: the
primary review (the labels field, ``reviewed_by``) and ``k - 1`` blind copies
(``<labels>_overlap``, each detection with its ``annotator``). :func:`agreement`
compares them.

Definitions. A sample's *completed reviews* are its primary review when
``review_status == "done"`` and each copy whose annotator is in ``overlap_done``
(drafts and skips do not count). For every overlapped sample with at least two
completed reviews and every pair of its annotators, the instances of each class
are matched one-to-one by mask IoU (the Hungarian algorithm, maximising the
summed IoU; only pairs with IoU >= ``iou`` may match; instances of different
classes never match). Mask IoU is exact, on the full-image masks the box-cropped
masks stand for (:mod:`labelkit.geometry.masks` conventions). Per class and
overall (all classes pooled), and per annotator pair:

* ``comparisons``: (sample, annotator pair) comparisons where the class occurs
  (overall: all comparisons, including those where neither drew anything);
* ``instances``: instances of both annotators in those comparisons;
* ``matched``: matched instance pairs;
* ``matched_share`` = 2 x matched / instances: the share of instances that found
  a partner (an unmatched instance is a disagreement: one annotator drew an
  object the other did not, or drew it too differently);
* ``mean_iou``: mean mask IoU of the matched pairs (how alike the outlines are);
* ``pq`` = mean_iou x matched_share = 2 x (sum of matched IoU) / instances: the
  panoptic quality of one annotator's labels against the other's (Kirillov et al.
  2019, "Panoptic Segmentation", arXiv:1801.00868), one number in [0, 1].

All ratios are NaN where their denominator is 0.
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._summary import escape
from ..errors import LabelkitError

_SUMS = ("n_a", "n_b", "matched", "iou_sum")


def _metrics(n_a: float, n_b: float, matched: float, iou_sum: float) -> dict:
    inst = n_a + n_b
    return {
        "instances": int(inst),
        "matched": int(matched),
        "matched_share": 2 * matched / inst if inst else float("nan"),
        "mean_iou": iou_sum / matched if matched else float("nan"),
        "pq": 2 * iou_sum / inst if inst else float("nan"),
    }


@dataclass
class AgreementReport:
    """What :func:`agreement` measured (see the module docstring for the definitions).

    Attributes:
        dataset: the dataset name.
        labels_field: the labels field compared (copies in ``<labels>_overlap``).
        iou: the matching threshold.
        n_overlapped: samples of the collection in the overlap study.
        n_compared: of them, samples with at least two completed reviews.
        n_reviews: completed reviews on the compared samples.
        overall: ``comparisons``, ``instances``, ``matched``, ``matched_share``,
            ``mean_iou``, ``pq`` over all classes.
        per_class: ``pandas.DataFrame`` indexed by class, the same columns.
        pairs: ``pandas.DataFrame``, one row per annotator pair (``annotator_a`` <
            ``annotator_b``): ``samples`` compared and the same metrics.
        comparisons: ``pandas.DataFrame``, one row per (sample, pair, class):
            ``sample_id``, ``annotator_a``, ``annotator_b``, ``class``, ``n_a``,
            ``n_b``, ``matched``, ``iou_sum``.
        notes: caveats (samples whose size could not be read, ...).
    """

    dataset: str
    labels_field: str
    iou: float
    n_overlapped: int
    n_compared: int
    n_reviews: int
    overall: dict
    per_class: Any
    pairs: Any
    comparisons: Any
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        o = self.overall
        return (f"AgreementReport(dataset={self.dataset!r}, compared={self.n_compared}/{self.n_overlapped}, "
                f"matched_share={_num(o['matched_share'])}, mean_iou={_num(o['mean_iou'])}, pq={_num(o['pq'])})")

    def _head(self) -> list[str]:
        return [
            f"inter-annotator agreement on '{self.dataset}' (labels '{self.labels_field}'): "
            f"{self.n_compared} of {self.n_overlapped} overlapped samples have >= 2 completed reviews "
            f"({self.n_reviews} reviews, {self.overall['comparisons']} annotator-pair comparisons)",
            f"instances match one-to-one when they have the same class and mask IoU >= {self.iou:g} "
            "(Hungarian matching per pair of annotators)",
        ]

    def _foot(self) -> list[str]:
        return [
            "matched: share of both annotators' instances that found a partner (unmatched = "
            "disagreement); mean IoU: of matched instances; PQ = mean IoU x matched share "
            "(panoptic quality).",
            *(f"Note: {n}" for n in self.notes),
        ]

    def _class_rows(self) -> list[tuple[str, dict, bool]]:
        rows = [(str(c), r.to_dict(), False) for c, r in self.per_class.iterrows()]
        rows.append(("all", self.overall, True))
        return rows

    def _pair_rows(self) -> list[tuple[str, dict]]:
        return [(f"{r['annotator_a']} / {r['annotator_b']}", r.to_dict()) for _, r in self.pairs.iterrows()]

    def to_text(self) -> str:
        """The report as plain-text tables (per class, per annotator pair)."""
        lines = [*self._head(), ""]
        head = ["class", "comparisons", "instances", "matched", "matched %", "mean IoU", "PQ"]
        lines += _table(head, [[n, *_cells(r, "comparisons")] for n, r, _ in self._class_rows()], total=True)
        if len(self.pairs):
            lines.append("")
            head = ["annotators", "samples", "instances", "matched", "matched %", "mean IoU", "PQ"]
            lines += _table(head, [[n, *_cells(r, "samples")] for n, r in self._pair_rows()])
        lines += ["", *self._foot()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def to_html(self) -> str:
        """The report as an HTML fragment (every name escaped)."""

        def table(head, rows, total_last=False):
            th = "".join(f"<th>{escape(h)}</th>" for h in head)
            body = []
            for j, row in enumerate(rows):
                cls = ' class="all"' if total_last and j == len(rows) - 1 else ""
                body.append(f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
            return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"

        h = self._head()
        parts = ['<div class="lk-agreement">', f"<p><b>{escape(h[0])}</b></p>", f"<p>{escape(h[1])}</p>",
                 table(["class", "comparisons", "instances", "matched", "matched %", "mean IoU", "PQ"],
                       [[n, *_cells(r, "comparisons")] for n, r, _ in self._class_rows()], total_last=True)]
        if len(self.pairs):
            parts.append(table(["annotators", "samples", "instances", "matched", "matched %", "mean IoU", "PQ"],
                               [[n, *_cells(r, "samples")] for n, r in self._pair_rows()]))
        parts += [f"<p>{escape(line)}</p>" for line in self._foot()]
        parts.append("</div>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()


def _num(x, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def _cells(r: dict, count: str) -> list[str]:
    return [str(int(r[count])), str(int(r["instances"])), str(int(r["matched"])), _pct(r["matched_share"]),
            _num(r["mean_iou"]), _num(r["pq"])]


def _table(head: list[str], rows: list[list[str]], total: bool = False) -> list[str]:
    table = [head, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]

    def fmt(row):
        return "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)).rstrip()

    out = [fmt(head)]
    for j, row in enumerate(rows):
        if total and j == len(rows) - 1:
            out.append("-" * len(fmt(head)))
        out.append(fmt(row))
    return out


# ------------------------------------------------------------------- geometry
def _decode(det, width: int, height: int) -> tuple:
    """``(x0, y0, x1, y1, crop)``: the detection's integer pixel box (exclusive ends, as
    FiftyOne pastes it) and its mask resized to the box; an empty box has no pixels."""
    from ..geometry import masks

    x0, y0, x1, y1 = masks.pixel_box(det.bounding_box, width, height)
    bw, bh = x1 - x0, y1 - y0
    if bw <= 0 or bh <= 0:
        return x0, y0, x0, y0, np.zeros((0, 0), bool)
    crop = getattr(det, "mask", None)
    if crop is None:
        crop = np.ones((bh, bw), bool)
    else:
        # the same nearest-neighbour resize FiftyOne renders with, in a box-sized frame
        crop = masks.crop_to_full([0.0, 0.0, 1.0, 1.0], crop, bw, bh)
    return x0, y0, x1, y1, crop


def pairwise_iou(a: list, b: list) -> np.ndarray:
    """Exact mask IoU of decoded instances (:func:`_decode`), ``(len(a), len(b))``:
    the same numbers as :func:`labelkit.geometry.masks.detections_iou` on the
    full-image masks, computed inside the boxes' intersection only."""
    out = np.zeros((len(a), len(b)))
    areas_a = [int(c.sum()) for *_, c in a]
    areas_b = [int(c.sum()) for *_, c in b]
    for i, (ax0, ay0, ax1, ay1, ac) in enumerate(a):
        for j, (bx0, by0, bx1, by1, bc) in enumerate(b):
            union0 = areas_a[i] + areas_b[j]
            if union0 == 0:
                continue
            x0, y0, x1, y1 = max(ax0, bx0), max(ay0, by0), min(ax1, bx1), min(ay1, by1)
            inter = 0
            if x1 > x0 and y1 > y0:
                inter = int(np.count_nonzero(ac[y0 - ay0:y1 - ay0, x0 - ax0:x1 - ax0]
                                             & bc[y0 - by0:y1 - by0, x0 - bx0:x1 - bx0]))
            out[i, j] = inter / (union0 - inter)
    return out


def match(iou: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(i, j, iou)`` with IoU >= ``threshold`` maximising the summed
    IoU (Hungarian algorithm; greedy highest-first if SciPy is missing)."""
    if iou.size == 0:
        return []
    w = np.where(iou >= threshold, iou, 0.0)
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:  # pragma: no cover - scipy comes with FiftyOne
        pairs, used_i, used_j = [], set(), set()
        for flat in np.argsort(-w, axis=None, kind="stable"):
            i, j = np.unravel_index(flat, w.shape)
            if w[i, j] <= 0 or i in used_i or j in used_j:
                continue
            used_i.add(i)
            used_j.add(j)
            pairs.append((int(i), int(j), float(iou[i, j])))
        return pairs
    rows, cols = linear_sum_assignment(w, maximize=True)
    return [(int(i), int(j), float(iou[i, j])) for i, j in zip(rows, cols, strict=True)
            if iou[i, j] >= threshold and w[i, j] > 0]


# ----------------------------------------------------------------------- main
def has_overlap(samples) -> bool:
    """Whether the collection has samples of an overlap study (``review_copies >= 2``)."""
    from fiftyone import ViewField as F

    if "review_copies" not in samples.get_field_schema():
        return False
    return len(samples.match(F("review_copies") >= 2).limit(1)) > 0


def agreement(samples, labels: str = "ground_truth", iou: float = 0.5) -> AgreementReport:
    """Inter-annotator agreement of an overlap study: per class, overall and per
    annotator pair (see the module docstring for every definition).

    Args:
        samples: a dataset name, ``fo.Dataset`` or view (a view restricts the study).
        labels: the labels field of the review (the copies are in ``<labels>_overlap``).
        iou: two instances of one class match when their mask IoU is at least this.

    Returns:
        an :class:`AgreementReport` (tables in a notebook; ``.to_text()``).

    Raises:
        LabelkitError: a bad ``iou``, or a collection without an overlap study (the
            message says how to start one).
        SchemaError: no dataset of that name.

    Example:
        >>> lk.agreement(ds, labels="ground_truth").per_class  # doctest: +SKIP
    """
    import pandas as pd
    from fiftyone import ViewField as F

    from ..store.dataset import open_dataset
    from ..store.overlap import overlap_field

    if isinstance(iou, bool) or not isinstance(iou, numbers.Real) or not 0 < float(iou) <= 1:
        raise LabelkitError(f"iou must be a number in (0, 1], got {iou!r}; e.g. iou=0.5")
    coll = open_dataset(samples)
    name = getattr(coll, "dataset_name", None) or getattr(coll, "name", None) or "?"
    if not isinstance(labels, str) or not labels:
        raise LabelkitError(f"labels must be a field name, got {labels!r}")
    if not has_overlap(coll):
        raise LabelkitError(
            f"'{name}' has no overlap study (no sample has review_copies >= 2), so there is no "
            "agreement to measure; start one with lk.Labeler(ds, annotator='<name>', overlap=2, "
            "overlap_fraction=0.2) in each annotator's notebook"
        )
    schema = coll.get_field_schema()
    extra = overlap_field(labels)
    view = coll.match(F("review_copies") >= 2)
    fields = ["id", "filepath", "metadata.width", "metadata.height", "review_status", "reviewed_by",
              "overlap_done"]
    vals = dict(zip(fields, view.values(fields), strict=True))
    n = len(vals["id"])
    prim = view.values(f"{labels}.detections") if labels in schema else [None] * n
    cops = view.values(f"{extra}.detections") if extra in schema else [None] * n

    rows: dict[str, list] = {k: [] for k in ("sample_id", "annotator_a", "annotator_b", "class", *_SUMS)}
    pair_samples: dict[tuple, int] = {}
    n_compared = n_reviews = n_comparisons = 0
    notes: list[str] = []
    unreadable = 0
    for s in range(n):
        reviews: dict[str, list] = {}
        if vals["review_status"][s] == "done" and vals["reviewed_by"][s]:
            reviews[vals["reviewed_by"][s]] = list(prim[s] or [])
        for who in vals["overlap_done"][s] or []:
            if who not in reviews:
                reviews[who] = [d for d in (cops[s] or []) if _attr(d, "annotator") == who]
        if len(reviews) < 2:
            continue
        w, h = vals["metadata.width"][s], vals["metadata.height"][s]
        if not w or not h:
            try:
                from ..media.image import probe_image

                info = probe_image(vals["filepath"][s], verify=False)
                w, h = info["width"], info["height"]
            except Exception:  # noqa: BLE001 - reported in the notes
                unreadable += 1
                continue
        n_compared += 1
        n_reviews += len(reviews)
        decoded = {who: [(d.label or "(no label)", _decode(d, int(w), int(h))) for d in dets]
                   for who, dets in reviews.items()}
        for a, b in itertools.combinations(sorted(decoded), 2):
            n_comparisons += 1
            pair_samples[(a, b)] = pair_samples.get((a, b), 0) + 1
            classes = sorted({c for c, _ in decoded[a]} | {c for c, _ in decoded[b]})
            for cls in classes:
                da = [g for c, g in decoded[a] if c == cls]
                db = [g for c, g in decoded[b] if c == cls]
                m = match(pairwise_iou(da, db), float(iou))
                for key, v in (("sample_id", vals["id"][s]), ("annotator_a", a), ("annotator_b", b),
                               ("class", cls), ("n_a", len(da)), ("n_b", len(db)), ("matched", len(m)),
                               ("iou_sum", float(sum(x for *_, x in m)))):
                    rows[key].append(v)
    if unreadable:
        notes.append(f"{unreadable} sample(s) with no size in their metadata and an unreadable image "
                     "were left out")
    table = pd.DataFrame(rows)
    cols = ["comparisons", "instances", "matched", "matched_share", "mean_iou", "pq"]
    per_class = []
    for cls, g in table.groupby("class", sort=True) if len(table) else []:
        sums = g[list(_SUMS)].sum()
        per_class.append({"class": cls, "comparisons": len(g), **_metrics(*sums)})
    per_class_df = (pd.DataFrame(per_class).set_index("class") if per_class
                    else pd.DataFrame(columns=cols, index=pd.Index([], name="class")))
    tot = table[list(_SUMS)].sum() if len(table) else pd.Series(dict.fromkeys(_SUMS, 0))
    overall = {"comparisons": n_comparisons, **_metrics(*(float(tot[k]) for k in _SUMS))}
    pairs = []
    for (a, b), count in sorted(pair_samples.items()):
        g = table[(table["annotator_a"] == a) & (table["annotator_b"] == b)] if len(table) else table
        sums = [float(g[k].sum()) for k in _SUMS] if len(g) else [0.0] * 4
        pairs.append({"annotator_a": a, "annotator_b": b, "samples": count, **_metrics(*sums)})
    pairs_df = pd.DataFrame(pairs, columns=["annotator_a", "annotator_b", "samples", *cols[1:]])
    return AgreementReport(
        dataset=name, labels_field=labels, iou=float(iou), n_overlapped=n, n_compared=n_compared,
        n_reviews=n_reviews, overall=overall, per_class=per_class_df, pairs=pairs_df, comparisons=table,
        notes=notes,
    )


def _attr(det, name: str):
    return det[name] if det.has_field(name) else None


__all__ = ["AgreementReport", "agreement", "has_overlap", "match", "pairwise_iou"]
