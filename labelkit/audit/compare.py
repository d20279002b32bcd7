"""Which model should I automate with? Several proposal fields audited side by side.

``lk.audit(ds, proposals=["predictions", "grounded"], labels="ground_truth")``
audits each proposals field against the same labels, with the same settings (IoU
thresholds, per-action seconds, bootstrap seed), and returns an
:class:`AuditComparison`: one :class:`~labelkit.audit.report.AuditReport` per field
plus tables that put them next to each other, per class and overall, with each
field's confidence intervals and recommendation, and the best field per class.

Mode: with several fields, ``mode="auto"`` means ground-truth mode (the labels are
the reference every model is scored against: reviewed labels work too, they are
what the reviewer ended with); ``mode="review"`` reads each field's review
provenance, which only one field (the one that was reviewed) has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._summary import escape

#: Columns of the side-by-side tables (each with ``_lo`` / ``_hi`` where it is a rate).
COMPARE_COLUMNS = ("proposals", "accepted_rate", "useful_rate", "recall", "precision", "mean_iou",
                   "time_saved_share", "recommendation")

#: How recommendations rank when picking the best field of a class.
_RANK = {"automate": 3, "review-only": 2, "label by hand": 1, "not enough data": 0}


@dataclass(repr=False)
class AuditComparison:
    """Several proposal fields audited against one labels field (see the module docstring).

    Attributes:
        reports: proposals field -> its :class:`~labelkit.audit.report.AuditReport`.
        per_class: ``pandas.DataFrame``, rows ``(class, field)``, columns
            :data:`COMPARE_COLUMNS` plus the rates' ``_lo`` / ``_hi`` bounds.
        overall: ``pandas.DataFrame``, one row per field, the same columns.
        best: class -> the field to automate that class with (best recommendation,
            then the larger share of time saved; ``None`` when no field has data).
        labels_field: the reference labels.
    """

    reports: dict
    per_class: Any
    overall: Any
    best: dict
    labels_field: str
    notes: list[str] = field(default_factory=list)

    @property
    def fields(self) -> list[str]:
        """The proposals fields, in the order given."""
        return list(self.reports)

    def to_text(self) -> str:
        """A plain-text side-by-side table."""
        lines = [f"audit: {', '.join(self.fields)} vs '{self.labels_field}'"]
        header = f"{'class':<14}{'field':<16}{'props':>6}{'accept':>16}{'recall':>16}{'time saved':>12}  recommendation"
        lines.append(header)
        for (cls, fld), row in self.per_class.iterrows():
            lines.append(
                f"{str(cls):<14}{str(fld):<16}{int(row['proposals']):>6}"
                f"{_ci(row, 'accepted_rate'):>16}{_ci(row, 'recall'):>16}"
                f"{_pct(row['time_saved_share']):>12}  {row['recommendation']}"
                + ("   <- best" if self.best.get(cls) == fld else "")
            )
        for fld, row in self.overall.iterrows():
            lines.append(
                f"{'all':<14}{str(fld):<16}{int(row['proposals']):>6}{_ci(row, 'accepted_rate'):>16}"
                f"{_ci(row, 'recall'):>16}{_pct(row['time_saved_share']):>12}  {row['recommendation']}"
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"AuditComparison(fields={self.fields}, labels={self.labels_field!r}, best={self.best})"

    def to_html(self) -> str:
        """An HTML side-by-side table (every name escaped)."""
        head = ("<tr><th>class</th><th>field</th><th>proposals</th><th>accepted</th><th>useful</th>"
                "<th>recall</th><th>precision</th><th>time saved</th><th>recommendation</th></tr>")
        rows = []
        for (cls, fld), row in self.per_class.iterrows():
            best = self.best.get(cls) == fld
            style = ' style="font-weight:bold"' if best else ""
            rows.append(
                f"<tr{style}><td>{escape(cls)}</td><td>{escape(fld)}</td><td>{int(row['proposals'])}</td>"
                f"<td>{escape(_ci(row, 'accepted_rate'))}</td><td>{escape(_ci(row, 'useful_rate'))}</td>"
                f"<td>{escape(_ci(row, 'recall'))}</td><td>{escape(_ci(row, 'precision'))}</td>"
                f"<td>{escape(_pct(row['time_saved_share']))}</td><td>{escape(row['recommendation'])}"
                f"{' ★' if best else ''}</td></tr>"
            )
        for fld, row in self.overall.iterrows():
            rows.append(
                f"<tr style=\"border-top:2px solid #888\"><td><i>all</i></td><td>{escape(fld)}</td>"
                f"<td>{int(row['proposals'])}</td><td>{escape(_ci(row, 'accepted_rate'))}</td>"
                f"<td>{escape(_ci(row, 'useful_rate'))}</td><td>{escape(_ci(row, 'recall'))}</td>"
                f"<td>{escape(_ci(row, 'precision'))}</td><td>{escape(_pct(row['time_saved_share']))}</td>"
                f"<td>{escape(row['recommendation'])}</td></tr>"
            )
        notes = "".join(f"<li>{escape(n)}</li>" for n in self.notes)
        title = escape(f"{', '.join(self.fields)} vs '{self.labels_field}'")
        return (f"<div><b>Which model should I automate with?</b> {title}<table>{head}{''.join(rows)}</table>"
                f"<p>★ best field per class (recommendation, then time saved); intervals are "
                f"bootstrap over images.</p>{f'<ul>{notes}</ul>' if notes else ''}</div>")

    def _repr_html_(self) -> str:
        return self.to_html()


def _pct(v) -> str:
    try:
        return f"{100 * float(v):.0f}%"
    except (TypeError, ValueError):
        return "-"


def _ci(row, name: str) -> str:
    v, lo, hi = row.get(name), row.get(f"{name}_lo"), row.get(f"{name}_hi")
    try:
        if lo is None or hi is None or lo != lo or hi != hi:  # NaN: no interval
            return f"{float(v):.2f}"
        return f"{float(v):.2f} [{float(lo):.2f}, {float(hi):.2f}]"
    except (TypeError, ValueError):
        return "-"


def _columns(df) -> list[str]:
    cols = []
    for c in COMPARE_COLUMNS:
        cols.append(c)
        for suffix in ("_lo", "_hi"):
            if f"{c}{suffix}" in df.columns:
                cols.append(f"{c}{suffix}")
    return [c for c in cols if c in df.columns]


def compare(reports: dict, labels_field: str) -> AuditComparison:
    """Put per-field reports side by side (see :class:`AuditComparison`)."""
    import pandas as pd

    parts, overall_rows, notes = [], {}, []
    for fld, report in reports.items():
        pc = report.per_class[_columns(report.per_class)].copy()
        pc["field"] = fld
        parts.append(pc.reset_index().set_index(["class", "field"]))
        overall_rows[fld] = {c: report.overall.get(c) for c in _columns(report.per_class)}
        notes += [f"{fld}: {n}" for n in report.notes]
    per_class = pd.concat(parts)
    order = {f: i for i, f in enumerate(reports)}
    per_class = per_class.loc[sorted(per_class.index, key=lambda key: (str(key[0]), order[key[1]]))]
    overall = pd.DataFrame.from_dict(overall_rows, orient="index")
    overall.index.name = "field"
    best = {}
    for cls in per_class.index.get_level_values(0).unique():
        rows = per_class.xs(cls, level="class")
        def score(item):
            saved = item[1]["time_saved_share"]
            saved = float(saved) if saved == saved and saved is not None else -1.0  # NaN: no data
            return (_RANK.get(item[1]["recommendation"], 0), saved)

        ranked = sorted(rows.iterrows(), key=score, reverse=True)
        top_field, top = ranked[0]
        best[cls] = top_field if _RANK.get(top["recommendation"], 0) > 0 else None
    return AuditComparison(reports=dict(reports), per_class=per_class, overall=overall, best=best,
                           labels_field=labels_field, notes=notes)
