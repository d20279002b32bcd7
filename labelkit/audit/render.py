"""Rendering of an :class:`~labelkit.audit.AuditReport`: terminal table, HTML, plots.

Plots are drawn with matplotlib's object API (``Figure`` + Agg canvas, no pyplot
state) and embedded in the HTML as base64 PNG, so a saved page needs nothing
but itself.
"""

from __future__ import annotations

import base64
import io
import math

from .._summary import escape

_COLORS = {"accepted": "#2e9e44", "edited": "#f0a020", "rejected": "#d6453d", "missed": "#7a7a7a"}


def _plain(text) -> str:
    """``text`` for a matplotlib label, shown literally (``$`` would start mathtext)."""
    return str(text).replace("$", r"\$")


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _pct(x) -> str:
    return "-" if _nan(x) else f"{100 * x:.0f}%"


def _num(x, digits: int = 2) -> str:
    return "-" if _nan(x) else f"{x:.{digits}f}"


def _ci_pct(lo, hi) -> str:
    return "" if _nan(lo) or _nan(hi) else f"[{100 * lo:.0f}-{100 * hi:.0f}]"


def _ci_num(lo, hi) -> str:
    return "" if _nan(lo) or _nan(hi) else f"[{lo:.2f}-{hi:.2f}]"


def _with_ci(value: str, ci: str) -> str:
    return f"{value} {ci}" if ci else value


def _minutes(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _rows(report) -> list[tuple[str, dict, bool]]:
    out = [(str(name), row.to_dict(), False) for name, row in report.per_class.iterrows()]
    out.append(("all", report.overall, True))
    return out


_HEAD = (
    "class",
    "images",
    "proposals",
    "accepted",
    "edited",
    "rejected",
    "final",
    "missed",
    "precision",
    "recall",
    "mean IoU",
    "time saved",
    "recommendation",
)


def _cells(r: dict) -> list[str]:
    return [
        str(r["n_images"]),
        str(r["proposals"]),
        f"{_pct(r['accepted_rate'])} {_ci_pct(r['accepted_rate_lo'], r['accepted_rate_hi'])}".strip(),
        _pct(r["edited_rate"]),
        _pct(r["rejected_rate"]),
        str(r["final_instances"]),
        str(r["missed"]),
        _num(r["precision"]),
        f"{_num(r['recall'])} {_ci_num(r['recall_lo'], r['recall_hi'])}".strip(),
        _num(r["mean_iou"]),
        _pct(r["time_saved_share"]),
        r["recommendation"],
    ]


def _header_lines(report) -> list[str]:
    a = report.assumptions
    if report.mode == "review":
        counted = (
            f"review mode: {report.n_images} of {report.n_samples} samples counted "
            "(only review_status == 'done')"
        )
        tp = f"a proposal counts as found when its final label came from it, same class, mask IoU >= {a['iou']:g}"
    else:
        counted = (
            f"ground-truth mode (no review; simulated): {report.n_images} samples, proposals matched "
            "to ground truth"
        )
        tp = (
            f"matched mask IoU >= {a['accept_iou']:g}: would accept; {a['iou']:g}-{a['accept_iou']:g}: "
            f"would edit; unmatched proposal: would reject; unmatched ground truth: missed"
        )
    return [
        f"labelkit audit of '{report.dataset}': {counted}",
        f"proposals '{report.proposals_field}' vs final labels '{report.labels_field}'; {tp}",
    ]


def _summary_lines(report) -> list[str]:
    o, a = report.overall, report.assumptions
    t = a["time_per_action_s"]
    lim = a["thresholds"]
    lines = []
    if o["final_instances"]:
        lines.append(
            f"Effort: {_pct(o['untouched_share'])} of the {o['final_instances']} final instances needed "
            f"no drawing (accepted unchanged); estimated {_minutes(o['time_with_model_s'])} with the "
            f"model vs {_minutes(o['time_from_scratch_s'])} from scratch: "
            f"{_minutes(abs(o['time_saved_s']))} {'saved' if o['time_saved_s'] >= 0 else 'lost'} "
            f"({_with_ci(_pct(o['time_saved_share']), _ci_pct(o['time_saved_share_lo'], o['time_saved_share_hi']))})."
        )
    lines.append(
        f"Time assumptions (s per instance, override with time_per_action=): draw from scratch "
        f"{t['draw']:g}, add a missed object {t['add']:g}, accept {t['accept']:g}, reject "
        f"{t['reject']:g}, edit {t['edit']:g} (published: ~79 s per COCO polygon, ~26 s with interactive tools)."
    )
    if a["n_boot"] and report.n_images >= 2:
        lines.append(
            f"[lo-hi]: {100 * a['confidence']:.0f}% percentile bootstrap intervals over images "
            f"({a['n_boot']} resamples, seed {a['seed']})."
        )
    else:
        lines.append("No intervals (fewer than 2 images or n_boot=0).")
    lines.append(
        f"Recommendation: automate if accepted-unchanged rate >= {lim['automate_accepted_lo']:.0%} "
        f"and recall >= {lim['automate_recall_lo']:.0%} at the interval's lower bound; label by hand "
        f"if the kept (accepted+edited) rate < {lim['hand_useful_hi']:.0%} or recall < "
        f"{lim['hand_recall_hi']:.0%} at the upper bound; otherwise review-only; 'not enough data' "
        f"under {lim['min_instances']:g} proposals and final instances."
    )
    s = report.threshold_suggestion
    lines.append(f"Confidence threshold (target precision {s['target_precision']:g}): {s['note']}.")
    lines.extend(f"Note: {n}" for n in report.notes)
    return lines


def render_text(report) -> str:
    """A plain-text table plus the summary, for a terminal."""
    table = [list(_HEAD)]
    rows = _rows(report)
    for name, r, _ in rows:
        table.append([name, *_cells(r)])
    widths = [max(len(row[i]) for row in table) for i in range(len(_HEAD))]

    def fmt(row):
        parts = []
        for i, cell in enumerate(row):
            left = i in (0, len(row) - 1)
            parts.append(cell.ljust(widths[i]) if left else cell.rjust(widths[i]))
        return "  ".join(parts).rstrip()

    lines = _header_lines(report) + [""]
    lines.append(fmt(table[0]))
    for k, row in enumerate(table[1:]):
        if k == len(table) - 2:
            lines.append("-" * len(fmt(table[0])))
        lines.append(fmt(row))
    lines.append("")
    lines.extend(_summary_lines(report))
    if getattr(report, "agreement", None) is not None:
        lines += ["", report.agreement.to_text()]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- plots


def make_figure(report):
    """Three panels: acceptance by class, IoU of edited proposals, acceptance by confidence."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.9), dpi=80, layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3, width_ratios=[1.2, 1, 1.1])
    pc = report.per_class
    props = report.proposals_table

    # 1. acceptance by class (shares of that class's proposals)
    names = list(pc.index)
    y = np.arange(len(names))
    left = np.zeros(len(names))
    for o in ("accepted", "edited", "rejected"):
        share = np.array(
            [r[o] / r["proposals"] if r["proposals"] else 0.0 for _, r in pc.iterrows()]
        )
        ax1.barh(y, share, left=left, height=0.6, color=_COLORS[o], label=o)
        left += share
    for i, (_, r) in enumerate(pc.iterrows()):
        text = f"missed {r['missed']}" if r["proposals"] else f"no proposals, missed {r['missed']}"
        ax1.text(1.02, i, text, va="center", fontsize=8, color="#444")
    ax1.set_yticks(  # class names are text: a "$" must not start matplotlib mathtext
        y, [f"{_plain(n)} ({r['proposals']})" for n, (_, r) in zip(names, pc.iterrows(), strict=True)]
    )
    ax1.set_xlim(0, 1.35)
    ax1.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax1.set_xlabel("share of proposals")
    ax1.set_title("Acceptance by class (n proposals)", fontsize=10)
    if names:
        ax1.set_ylim(len(names) - 0.4, -0.6)  # first class on top
    fig.legend(
        *ax1.get_legend_handles_labels(),
        loc="outside upper center",
        ncols=3,
        fontsize=8,
        frameon=False,
    )

    # 2. IoU of edited proposals vs their final label
    edited = (
        props.loc[props["outcome"] == "edited", "iou"].dropna().to_numpy() if len(props) else []
    )
    a = report.assumptions
    if len(edited):
        ax2.hist(edited, bins=np.linspace(0, 1, 21), color=_COLORS["edited"], edgecolor="white")
    else:
        ax2.text(0.5, 0.5, "no edited proposals", ha="center", va="center", transform=ax2.transAxes)
    ax2.axvline(a["iou"], color="k", ls="--", lw=1, label=f"IoU {a['iou']:g}")
    if a.get("accept_iou") is not None:
        ax2.axvline(a["accept_iou"], color="k", ls=":", lw=1, label=f"accept {a['accept_iou']:g}")
    ax2.set_xlim(0, 1)
    ax2.set_xlabel("mask IoU, proposal vs final")
    ax2.set_ylabel("edited proposals")
    ax2.set_title(f"IoU of edited proposals (n={len(edited)})", fontsize=10)
    ax2.legend(fontsize=7, loc="upper left")

    # 3. acceptance by confidence bin
    conf = props["confidence"].to_numpy(float) if len(props) else np.array([])
    ok = ~np.isnan(conf)
    if ok.any():
        lo, hi = float(np.nanmin(conf)), float(np.nanmax(conf))
        if lo >= 0 and hi <= 1:  # probabilities: bins of ~0.05-0.1 from the lowest score up
            start = math.floor(lo * 20) / 20
            edges = np.linspace(start, 1, int(np.clip(round((1 - start) / 0.05), 4, 10)) + 1)
        else:  # other scores
            edges = np.linspace(lo, hi if hi > lo else lo + 1, 11)
        idx = np.clip(np.digitize(conf[ok], edges) - 1, 0, len(edges) - 2)
        out = props["outcome"].to_numpy()[ok]
        tp = props["tp"].to_numpy(bool)[ok]
        centers = (edges[:-1] + edges[1:]) / 2
        width = (edges[1] - edges[0]) * 0.9
        counts = np.bincount(idx, minlength=len(centers)).astype(float)
        bottom = np.zeros(len(centers))
        for o in ("accepted", "edited", "rejected"):
            k = np.bincount(idx, weights=(out == o).astype(float), minlength=len(centers))
            share = np.divide(k, counts, out=np.zeros_like(k), where=counts > 0)
            ax3.bar(centers, share, width=width, bottom=bottom, color=_COLORS[o], label=o)
            bottom += share
        prec = np.divide(
            np.bincount(idx, weights=tp.astype(float), minlength=len(centers)),
            counts,
            out=np.full(len(centers), np.nan),
            where=counts > 0,
        )
        ax3.plot(centers, prec, "k.-", lw=1)
        for c, n in zip(centers, counts, strict=True):
            if n:
                ax3.text(c, 1.02, f"{int(n)}", ha="center", fontsize=6, color="#444")
        s = report.threshold_suggestion
        if s.get("confidence") is not None:
            ax3.axvline(s["confidence"], color="#1f4fbf", lw=1.5)
            ax3.text(
                s["confidence"],
                0.03,
                f" keep >= {s['confidence']:.2f}\n (precision >= {s['target_precision']:g})",
                color="#1f4fbf",
                fontsize=7,
                va="bottom",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1},
            )
        ax3.set_xlim(edges[0], edges[-1])
        ax3.set_ylim(0, 1.12)
    else:
        ax3.text(
            0.5,
            0.5,
            "proposals have no confidence",
            ha="center",
            va="center",
            transform=ax3.transAxes,
        )
    ax3.set_xlabel("proposal confidence")
    ax3.set_ylabel("share in bin (bars), precision (line)", fontsize=8)
    ax3.set_title("Acceptance by confidence (n per bin on top)", fontsize=10)
    return fig


def figure_png(report) -> bytes:
    """The report's figure as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = make_figure(report)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# -------------------------------------------------------------------------------- HTML

_CSS = """
.lk-audit{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;font-size:13px;color:#222}
.lk-audit table{border-collapse:collapse;margin:6px 0}
.lk-audit th,.lk-audit td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
.lk-audit th:first-child,.lk-audit td:first-child,.lk-audit td.rec{text-align:left}
.lk-audit th{background:#f3f3f3}
.lk-audit tr.all td{font-weight:bold;border-top:2px solid #999}
.lk-audit .ci{color:#888;font-size:11px}
.lk-audit .r-automate{color:#1d7a32}.lk-audit .r-label-by-hand{color:#b3261e}
.lk-audit .r-review-only{color:#8a5a00}.lk-audit .r-not-enough-data{color:#777}
.lk-audit p{margin:3px 0}
.lk-audit img{max-width:100%}
"""


def _cell_html(value: str, ci: str = "") -> str:
    out = escape(value)
    if ci:
        out += f' <span class="ci">{escape(ci)}</span>'
    return f"<td>{out}</td>"


def _row_html(name: str, r: dict, is_all: bool) -> str:
    rec = r["recommendation"]
    cells = [
        f"<td>{escape(name)}</td>",
        _cell_html(str(r["n_images"])),
        _cell_html(str(r["proposals"])),
        _cell_html(_pct(r["accepted_rate"]), _ci_pct(r["accepted_rate_lo"], r["accepted_rate_hi"])),
        _cell_html(_pct(r["edited_rate"])),
        _cell_html(_pct(r["rejected_rate"])),
        _cell_html(str(r["final_instances"])),
        _cell_html(str(r["missed"])),
        _cell_html(_num(r["precision"]), _ci_num(r["precision_lo"], r["precision_hi"])),
        _cell_html(_num(r["recall"]), _ci_num(r["recall_lo"], r["recall_hi"])),
        _cell_html(_num(r["mean_iou"])),
        _cell_html(
            _pct(r["time_saved_share"]), _ci_pct(r["time_saved_share_lo"], r["time_saved_share_hi"])
        ),
        f'<td class="rec r-{escape(rec.replace(" ", "-"))}" title="{escape(r["reason"])}">'
        f"{escape(rec)}</td>",
    ]
    cls = ' class="all"' if is_all else ""
    return f"<tr{cls}>{''.join(cells)}</tr>"


def render_html(report, plots: bool = True, full_page: bool = False) -> str:
    """The report as HTML (a fragment for notebooks, or a standalone page); every
    name and message in it (dataset, fields, classes, reasons) is escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in _HEAD)
    body = "".join(_row_html(n, r, a) for n, r, a in _rows(report))
    title_lines = _header_lines(report)
    parts = [
        f"<style>{_CSS}</style>",
        '<div class="lk-audit">',
        f"<p><b>{escape(title_lines[0])}</b></p>",
        f"<p>{escape(title_lines[1])}</p>",
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
    ]
    parts.extend(f"<p>{escape(line)}</p>" for line in _summary_lines(report))
    if getattr(report, "agreement", None) is not None:
        parts.append(report.agreement.to_html())
    if plots:
        png = base64.b64encode(figure_png(report)).decode("ascii")
        parts.append(f'<img alt="audit plots" src="data:image/png;base64,{png}"/>')
    parts.append("</div>")
    fragment = "\n".join(parts)
    if not full_page:
        return fragment
    title = escape(f"labelkit audit: {report.dataset}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body>\n{fragment}\n</body></html>\n"
    )
