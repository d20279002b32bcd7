"""Bad-input corpus rows for team reviews (issue #12: claims on a shared database).

Each bad argument of a team review is refused before anything is written: no
claim fields declared, no sample claimed.
"""

from __future__ import annotations

from labelkit.errors import ReviewError

from . import Case


def _session(ctx, **kw):
    from labelkit.review.session import ReviewSession

    return ReviewSession(ctx.ds, proposals="predictions", labels="ground_truth", **kw)


CASES = [
    Case("team-batch-size-zero", "ReviewSession(ds, annotator='ana', batch_size=0)",
         lambda ctx: _session(ctx, annotator="ana", batch_size=0), ReviewError, ("batch_size", "0")),
    Case("team-batch-size-text", "lk.Labeler(ds, annotator='ana', batch_size='10')",
         lambda ctx: _session(ctx, annotator="ana", claim=True, batch_size="10"), ReviewError,
         ("batch_size", "'10'")),
    Case("team-ttl-negative", "ReviewSession(ds, annotator='ana', claim=True, claim_ttl=-5)",
         lambda ctx: _session(ctx, annotator="ana", claim=True, claim_ttl=-5), ReviewError,
         ("claim_ttl", "-5")),
    Case("team-annotator-blank", "ReviewSession(ds, annotator='  ', claim=True)",
         lambda ctx: _session(ctx, annotator="  ", claim=True), ReviewError, ("annotator", "'  '")),
]
