"""Bad-input corpus rows for the Labeler's layout (issue #14, item 3).

A ``canvas_size`` that is neither ``"auto"`` nor two positive integers is refused
before the review opens: no team claim, nothing written (the rows open team
reviews, which would otherwise claim samples in the database).
"""

from __future__ import annotations

from bad_input import Case, Context
from labelkit import errors


def _labeler(canvas_size):
    def run(ctx: Context):
        import labelkit as lk

        return lk.Labeler(ctx.ds, proposals="predictions", labels="ground_truth",
                          annotator="ann", canvas_size=canvas_size)

    return run


CASES = [
    Case("labeler-canvas-size-word", "`lk.Labeler(ds, canvas_size=\"big\")` (only \"auto\" is a word)",
         _labeler("big"), errors.ReviewError, ("canvas_size", "'big'", "auto")),
    Case("labeler-canvas-size-zero", "`lk.Labeler(ds, canvas_size=(0, 480))`",
         _labeler((0, 480)), errors.ReviewError, ("canvas_size", "(0, 480)")),
    Case("labeler-canvas-size-one-number", "`lk.Labeler(ds, canvas_size=800)` (a width without a height)",
         _labeler(800), errors.ReviewError, ("canvas_size", "800", "(width, height)")),
]
