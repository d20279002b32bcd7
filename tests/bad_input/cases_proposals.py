"""Bad proposer output and reviews of images that went missing.

Proposer cases re-propose the context's unreviewed samples (``overwrite=True``),
so ``propose`` really tries to write: the bad first batch must raise
``ProposalError`` before anything is written. Review cases open a session on the
first unreviewed sample and break its image file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from labelkit.errors import MissingImageError, ProposalError

from . import Case, Context

_BALL = [40.0, 60.0, 120.0, 140.0]  # the context's "ball", absolute [x1, y1, x2, y2]


def _propose(ctx: Context, model) -> None:
    import labelkit as lk

    lk.propose(ctx.ds, model, field="predictions", overwrite=True, progress=False)


def _dict_model(name: str, boxes, labels=(0,), scores=(0.9,)):
    """A from_callable proposer named ``name`` returning the same dict for every image."""
    import labelkit as lk

    def fn(images):
        return [{"boxes": [list(b) for b in boxes], "labels": list(labels), "scores": list(scores)} for _ in images]

    fn.__name__ = name
    return lk.models.from_callable(fn, classes=["ball", "mug"])


def _detections_model(name: str, **det):
    """A from_callable proposer named ``name`` returning one ``fo.Detection`` per image."""
    import fiftyone as fo

    import labelkit as lk

    def fn(images):
        return [fo.Detections(detections=[fo.Detection(**det)]) for _ in images]

    fn.__name__ = name
    return lk.models.from_callable(fn, classes=["ball", "mug"])


class _Plain:
    """A plain proposer (only ``classes`` and ``predict``) returning ``fo.Detections``."""

    classes = ["ball", "mug"]

    def __init__(self, **det):
        self.det = det

    def predict(self, images):
        import fiftyone as fo

        return [fo.Detections(detections=[fo.Detection(**self.det)]) for _ in images]


def nan_box(ctx):
    _propose(ctx, _dict_model("nan_box_model", [[math.nan, 60, 120, 140]]))


def inf_box(ctx):
    _propose(ctx, _dict_model("inf_box_model", [[40, 60, math.inf, 140]]))


def inverted_box(ctx):
    _propose(ctx, _dict_model("inverted_box_model", [[120, 60, 40, 140]]))


def outside_box(ctx):
    _propose(ctx, _dict_model("outside_box_model", [[400, 300, 500, 380]]))


def score_above_one(ctx):
    _propose(ctx, _dict_model("logit_model", [_BALL], scores=[1.5]))


def nan_score(ctx):
    _propose(ctx, _dict_model("nan_score_model", [_BALL], scores=[math.nan]))


def unknown_string_label(ctx):
    _propose(ctx, _dict_model("cat_model", [_BALL], labels=["cat"]))


def unknown_int_label(ctx):
    _propose(ctx, _dict_model("index_model", [_BALL], labels=[5]))


def detections_wholly_outside(ctx):
    _propose(ctx, _detections_model("far_model", label="ball", bounding_box=[1.2, 0.1, 0.3, 0.3], confidence=0.9))


def detections_mask_shape(ctx):
    # [0.125, 0.25, 0.25, 0.25] is 80x60 pixels in a 320x240 image; the mask is 10x10
    _propose(ctx, _detections_model(
        "crop_model", label="ball", bounding_box=[0.125, 0.25, 0.25, 0.25], confidence=0.9,
        mask=np.ones((10, 10), bool),
    ))


def detections_probability_mask(ctx):
    _propose(ctx, _detections_model(
        "prob_model", label="ball", bounding_box=[0.125, 0.25, 0.25, 0.25], confidence=0.9,
        mask=np.full((60, 80), 0.7, np.float32),
    ))


def plain_nan_box(ctx):
    _propose(ctx, _Plain(label="ball", bounding_box=[0.1, math.nan, 0.2, 0.2], confidence=0.9))


def plain_unknown_label(ctx):
    _propose(ctx, _Plain(label="dog", bounding_box=[0.1, 0.1, 0.2, 0.2], confidence=0.9))


def plain_score(ctx):
    _propose(ctx, _Plain(label="ball", bounding_box=[0.1, 0.1, 0.2, 0.2], confidence=-0.2))


# --------------------------------------------------------------------- reviews
def _session(ctx):
    import labelkit as lk

    return lk.ReviewSession(ctx.ds, proposals="predictions", labels="ground_truth")


def _delete_current(session) -> None:
    Path(session.filepath).unlink()


def missing_at_submit(ctx):
    session = _session(ctx)
    session.accept(0)  # the image was there for this decision
    _delete_current(session)
    session.submit()


def missing_at_accept_all(ctx):
    session = _session(ctx)
    _delete_current(session)
    session.accept_all()
    session.submit()


def missing_at_accept(ctx):
    session = _session(ctx)
    _delete_current(session)
    session.accept(0)


def missing_when_moving_on(ctx):
    session = _session(ctx)
    session.reject(1)
    _delete_current(session)
    session.next()  # would write a draft of the reject


def unreadable_at_accept(ctx):
    session = _session(ctx)
    Path(session.filepath).write_text("this is not an image any more\n")
    session.accept(0)
    session.submit()


_NOTHING_WRITTEN = "Nothing of this batch was written"

CASES = [
    Case("proposer-nan-box", "a model returns a NaN box coordinate", nan_box, ProposalError,
         ("nan_box_model", "image 0 (320x240)", "detection 0", "box [nan, 60, 120, 140]", _NOTHING_WRITTEN)),
    Case("proposer-inf-box", "a model returns an infinite box coordinate", inf_box, ProposalError,
         ("inf_box_model", "detection 0", "box [40, 60, inf, 140]", "not finite")),
    Case("proposer-inverted-box", "a model returns a box with x2 < x1", inverted_box, ProposalError,
         ("inverted_box_model", "box [120, 60, 40, 140]", "empty or inverted")),
    Case("proposer-box-outside", "a model returns a box wholly outside the image", outside_box,
         ProposalError, ("outside_box_model", "box [400, 300, 500, 380]", "wholly outside the 320x240 image")),
    Case("proposer-score-above-1", "a model returns a score of 1.5 (a logit, not a probability)",
         score_above_one, ProposalError, ("logit_model", "score 1.5", "[0, 1]")),
    Case("proposer-nan-score", "a model returns a NaN score", nan_score, ProposalError,
         ("nan_score_model", "score nan", "[0, 1]")),
    Case("proposer-unknown-string-label", "a model returns a class name not in its classes",
         unknown_string_label, ProposalError, ("cat_model", "label 'cat'", "['ball', 'mug']", "allow_new_classes")),
    Case("proposer-unknown-int-label", "a model returns a class index past the end of classes",
         unknown_int_label, ProposalError, ("index_model", "label 5", "label_offset")),
    Case("proposer-detections-outside", "a model returns fo.Detections with a box beyond the image",
         detections_wholly_outside, ProposalError,
         ("far_model", "bounding_box [1.2, 0.1, 0.3, 0.3]", "wholly outside")),
    Case("proposer-detections-mask-shape", "a model returns fo.Detections whose mask does not fit its box",
         detections_mask_shape, ProposalError, ("crop_model", "shape (10, 10)", "expected shape (60, 80)")),
    Case("proposer-detections-probability-mask", "a model returns fo.Detections with a float probability mask",
         detections_probability_mask, ProposalError, ("prob_model", "float32", "threshold it")),
    Case("proposer-plain-nan-box", "a plain predict() proposer returns a NaN bounding_box",
         plain_nan_box, ProposalError, ("_Plain", "image 0 (320x240)", "bounding_box [0.1, nan, 0.2, 0.2]")),
    Case("proposer-plain-unknown-label", "a plain predict() proposer returns a label not in its classes",
         plain_unknown_label, ProposalError, ("_Plain", "label 'dog'", "allow_new_classes")),
    Case("proposer-plain-score", "a plain predict() proposer returns a negative confidence",
         plain_score, ProposalError, ("_Plain", "score -0.2")),
    Case("review-missing-image-submit", "the image file is deleted after a decision, then the sample is submitted",
         missing_at_submit, MissingImageError, ("img1.jpg", "file does not exist", "submit refused", "skip()")),
    Case("review-missing-image-accept-all", "accept all + submit on a sample whose image file was deleted",
         missing_at_accept_all, MissingImageError, ("img1.jpg", "accept_all refused", "Restore the file")),
    Case("review-missing-image-accept", "accept a proposal on a sample whose image file was deleted",
         missing_at_accept, MissingImageError, ("img1.jpg", "accept refused", "skip()")),
    Case("review-missing-image-draft", "move on from a sample with unsaved decisions after its image was deleted",
         missing_when_moving_on, MissingImageError, ("img1.jpg", "saving the unsaved changes refused")),
    Case("review-unreadable-image", "accept on a sample whose image file was overwritten with text",
         unreadable_at_accept, MissingImageError, ("img1.jpg", "text file", "accept refused")),
]
