"""Bad-input corpus rows for overlap studies and inter-annotator agreement (issue #12).

A bad ``overlap`` / ``overlap_fraction`` is refused before anything is written (no
setting recorded, no field declared, no sample marked or claimed); ``lk.agreement``
only reads, and refuses a bad threshold or a dataset without an overlap study.
"""

from __future__ import annotations

from labelkit.errors import LabelkitError, ReviewError

from . import Case


def _session(ctx, **kw):
    from labelkit.review.session import ReviewSession

    return ReviewSession(ctx.ds, proposals="predictions", labels="ground_truth", annotator="ana", **kw)


def _labeler(ctx, **kw):
    import labelkit as lk

    return lk.Labeler(ctx.ds, annotator="ana", **kw)


def _agreement(ctx, **kw):
    import labelkit as lk

    return lk.agreement(ctx.ds, **kw)


CASES = [
    Case("overlap-one-copy", "lk.Labeler(ds, annotator='ana', overlap=1): one review is no overlap",
         lambda ctx: _labeler(ctx, overlap=1), ReviewError, ("overlap", "integer >= 2", "1")),
    Case("overlap-not-an-integer", "ReviewSession(ds, annotator='ana', overlap=2.5)",
         lambda ctx: _session(ctx, overlap=2.5), ReviewError, ("overlap", "2.5")),
    Case("overlap-fraction-percent", "lk.Labeler(ds, annotator='ana', overlap=2, overlap_fraction=20): a percentage",
         lambda ctx: _labeler(ctx, overlap=2, overlap_fraction=20), ReviewError,
         ("overlap_fraction", "20", "0.2")),
    Case("overlap-fraction-zero", "ReviewSession(ds, annotator='ana', overlap=2, overlap_fraction=0)",
         lambda ctx: _session(ctx, overlap=2, overlap_fraction=0), ReviewError, ("overlap_fraction", "0")),
    Case("overlap-fraction-alone", "ReviewSession(ds, annotator='ana', overlap_fraction=0.2) without overlap=",
         lambda ctx: _session(ctx, overlap_fraction=0.2), ReviewError, ("overlap_fraction=0.2", "overlap=")),
    Case("overlap-without-claims", "ReviewSession(ds, annotator='ana', overlap=2, claim=False)",
         lambda ctx: _session(ctx, overlap=2, claim=False), ReviewError, ("overlap=2", "claim=False")),
    Case("agreement-no-overlap", "lk.agreement(ds) on a dataset reviewed without overlap=",
         lambda ctx: _agreement(ctx), LabelkitError, ("no overlap study", "overlap=2")),
    Case("agreement-iou-percent", "lk.agreement(ds, iou=50): a percentage as the IoU threshold",
         lambda ctx: _agreement(ctx, iou=50), LabelkitError, ("iou", "50")),
]
