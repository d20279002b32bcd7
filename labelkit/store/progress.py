"""Team progress: ``lk.progress(ds)`` — reviewed / claimed / free, and per annotator.

Reads the review fields (``review_status``, ``reviewed_by``, ``reviewed_at``, the
claim fields of :mod:`labelkit.store.claims`, ``review_seconds``, the proposals'
``review``, and an overlap study's copy fields of :mod:`labelkit.store.overlap`)
in one pass with pymongo (a projection of FiftyOne's sample
collection, masks never read) and renders a notebook table and a bar plot.
It writes nothing.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from .._summary import escape

_REVIEWED = ("done", "skipped")


@dataclass
class AnnotatorStats:
    """One annotator's numbers.

    Attributes:
        name: the ``reviewed_by`` / ``claimed_by`` name.
        done: samples submitted ("done"), extra (overlap copy) reviews included.
        skipped: samples skipped (copies included).
        claimed: samples held by a live claim now (copy claims included).
        copies: of ``done``, the extra reviews of an overlap study.
        rate_per_hour: done per hour between their first and last submit (None
            with fewer than 2 submits).
        acceptance: accepted proposals / reviewed proposals of their samples
            (None when none were reviewed).
        median_seconds: median ``review_seconds`` of their samples (team
            reviews record it), else the median gap between consecutive submits
            (gaps over 10 minutes are breaks and left out); None when unknown.
    """

    name: str
    done: int = 0
    skipped: int = 0
    claimed: int = 0
    copies: int = 0
    rate_per_hour: float | None = None
    acceptance: float | None = None
    median_seconds: float | None = None


@dataclass
class TeamProgress:
    """What :func:`progress` returns; displays as a table in a notebook.

    Attributes:
        dataset: the dataset name.
        total, reviewed, claimed, free: sample counts (reviewed = done or skipped;
            claimed = held by a live claim; free = the rest).
        annotators: :class:`AnnotatorStats` by name, most done first.
        copies_total, copies_done, copies_claimed: an overlap study's extra reviews
            (``review_copies - 1`` per overlapped sample): all, submitted, held by a
            live claim now (all 0 without a study).
    """

    dataset: str
    total: int = 0
    reviewed: int = 0
    claimed: int = 0
    free: int = 0
    annotators: dict = field(default_factory=dict)
    copies_total: int = 0
    copies_done: int = 0
    copies_claimed: int = 0

    def overlap_line(self) -> str | None:
        """``"overlap: 12 of 20 extra reviews done, 3 claimed"``, or None without a study."""
        if not self.copies_total:
            return None
        return (f"overlap: {self.copies_done} of {self.copies_total} extra reviews done, "
                f"{self.copies_claimed} claimed")

    def line(self) -> str:
        """One line of text (the Labeler's team panel)."""
        who = ", ".join(f"{a.name} {a.done}" for a in self.annotators.values())
        extra = self.overlap_line()
        return (f"team: {self.reviewed}/{self.total} reviewed, {self.claimed} claimed, {self.free} free"
                + (f" — {who}" if who else "") + (f"; {extra}" if extra else ""))

    def __repr__(self) -> str:
        rows = [self.line()]
        for a in self.annotators.values():
            rows.append(f"  {a.name}: {a.done} done{f' ({a.copies} extra)' if a.copies else ''}, {a.skipped} skipped, {a.claimed} claimed, "
                        f"{_fmt(a.rate_per_hour, '{:.0f}/h')}, acceptance {_fmt(a.acceptance, '{:.0%}')}, "
                        f"median {_fmt(a.median_seconds, '{:.1f} s')}")
        return "\n".join(rows)

    def _repr_html_(self) -> str:
        head = (f"<b>{escape(self.dataset)}</b>: {self.reviewed} of {self.total} reviewed, "
                f"{self.claimed} claimed, {self.free} free")
        if self.overlap_line():
            head += f"; {escape(self.overlap_line())}"
        cells = "".join(
            f"<tr><td>{escape(a.name)}</td><td>{a.done}{f' ({a.copies} extra)' if a.copies else ''}</td><td>{a.skipped}</td><td>{a.claimed}</td>"
            f"<td>{_fmt(a.rate_per_hour, '{:.0f}')}</td><td>{_fmt(a.acceptance, '{:.0%}')}</td>"
            f"<td>{_fmt(a.median_seconds, '{:.1f}')}</td></tr>"
            for a in self.annotators.values()
        )
        table = ("<table><tr><th>annotator</th><th>done</th><th>skipped</th><th>claimed</th>"
                 "<th>per hour</th><th>accepted</th><th>median s / image</th></tr>" + cells + "</table>")
        return f"<div class='labelkit-progress'><p>{head}</p>{table if self.annotators else ''}</div>"

    def plot(self, ax=None):
        """Bar chart: done / skipped / claimed per annotator, plus the free pool.

        Returns:
            the matplotlib ``Axes``.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * (len(self.annotators) + 1)))
        names = [*self.annotators, "(free)"]
        done = [a.done for a in self.annotators.values()] + [0]
        skipped = [a.skipped for a in self.annotators.values()] + [0]
        claimed = [a.claimed for a in self.annotators.values()] + [self.free]
        ax.barh(names, done, label="done")
        ax.barh(names, skipped, left=done, label="skipped")
        ax.barh(names, claimed, left=[d + s for d, s in zip(done, skipped, strict=True)],
                label="claimed / free", alpha=0.5)
        ax.invert_yaxis()
        ax.set_xlabel("samples")
        ax.set_title(f"{self.dataset}: {self.reviewed}/{self.total} reviewed")
        ax.legend(loc="lower right", fontsize="small")
        return ax


def _count_copies(out: TeamProgress, d: dict, now, rec) -> None:
    """Add one sample's overlap copies (done, skipped, live claims) to ``out`` and the
    per-annotator records."""
    k = d.get("review_copies") or 0
    if k < 2:
        return
    out.copies_total += k - 1
    reviews = {r.get("annotator"): r for r in d.get("overlap_reviews") or []}
    for name in d.get("overlap_done") or []:
        out.copies_done += 1
        r = rec(name)
        r["stats"].done += 1
        r["stats"].copies += 1
        info = reviews.get(name) or {}
        if info.get("decided_at") is not None:
            r["times"].append(info["decided_at"])
        if info.get("review_seconds") is not None:
            r["secs"].append(float(info["review_seconds"]))
    for name in d.get("overlap_skipped") or []:
        rec(name)["stats"].skipped += 1
    for c in d.get("overlap_claims") or []:
        exp = c.get("claim_expires")
        if c.get("annotator") and exp is not None and exp.replace(tzinfo=None) >= now:
            out.copies_claimed += 1
            rec(c["annotator"])["stats"].claimed += 1


def _fmt(v, spec: str) -> str:
    return "–" if v is None else spec.format(v)


def progress(samples, proposals: str | None = "predictions") -> TeamProgress:
    """The team's progress on a dataset (or view): counts and per-annotator numbers.

    Args:
        samples: a ``fo.Dataset``, a view, or a dataset name.
        proposals: the proposals field, for acceptance rates (None: skip them).

    Returns:
        a :class:`TeamProgress` (a table in a notebook; ``.plot()`` draws it).

    Raises:
        SchemaError: no dataset of that name.
    """
    from .dataset import open_dataset

    if isinstance(samples, str):
        samples = open_dataset(samples)
    ds = samples._dataset
    coll = ds._sample_collection
    now = coll.database.command("hello")["localTime"].replace(tzinfo=None)
    query: dict = {}
    if samples is not ds:
        from bson import ObjectId

        query = {"_id": {"$in": [ObjectId(i) for i in samples.values("id")]}}
    proj = {"review_status": 1, "reviewed_by": 1, "reviewed_at": 1, "claimed_by": 1,
            "claim_expires": 1, "review_seconds": 1, "review_copies": 1, "overlap_claims": 1,
            "overlap_done": 1, "overlap_skipped": 1, "overlap_reviews": 1}
    if proposals:
        proj[f"{proposals}.detections.review"] = 1
    out = TeamProgress(dataset=ds.name)
    per: dict[str, dict] = {}

    def rec(name: str) -> dict:
        return per.setdefault(name, {"stats": AnnotatorStats(name), "times": [], "secs": [],
                                     "acc": 0, "rev": 0})

    for d in coll.find(query, proj):
        out.total += 1
        _count_copies(out, d, now, rec)
        status = d.get("review_status")
        if status in _REVIEWED:
            out.reviewed += 1
            r = rec(d.get("reviewed_by") or "unknown")
            if status == "done":
                r["stats"].done += 1
                if d.get("reviewed_at") is not None:
                    r["times"].append(d["reviewed_at"])
                if d.get("review_seconds") is not None:
                    r["secs"].append(float(d["review_seconds"]))
            else:
                r["stats"].skipped += 1
            for p in ((d.get(proposals) or {}).get("detections") or []) if proposals else []:
                if p.get("review") is not None:
                    r["rev"] += 1
                    r["acc"] += p.get("review") == "accepted"
            continue
        exp = d.get("claim_expires")
        if d.get("claimed_by") and exp is not None and exp.replace(tzinfo=None) >= now:
            out.claimed += 1
            rec(d["claimed_by"])["stats"].claimed += 1
        else:
            out.free += 1
    for r in per.values():
        a = r["stats"]
        times = sorted(r["times"])
        if len(times) >= 2:
            hours = (times[-1] - times[0]).total_seconds() / 3600
            a.rate_per_hour = (len(times) - 1) / hours if hours > 0 else None
        a.acceptance = r["acc"] / r["rev"] if r["rev"] else None
        if r["secs"]:
            a.median_seconds = statistics.median(r["secs"])
        else:
            gaps = [(b - a_).total_seconds() for a_, b in zip(times, times[1:], strict=False)]
            gaps = [g for g in gaps if 0 < g <= 600]
            a.median_seconds = statistics.median(gaps) if gaps else None
    out.annotators = dict(sorted(((k, v["stats"]) for k, v in per.items()),
                                 key=lambda kv: (-kv[1].done, kv[0])))
    return out
