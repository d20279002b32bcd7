"""Bad-input corpus rows for odd calls (issue #10, "Odd calls" and part 4).

Reviews opened on fields that do not exist or hold something else, review options
of the wrong kind, ``ds.annotate(..., backend="labelkit")`` runs the backend cannot
do, and review actions an annotation run's ``allow_*=False`` forbids. Each is
refused before anything is written: no labels field, no annotation run, no
staging field ``labelkit_<anno_key>`` is left behind.

The ``allow_*`` rows build the session directly with ``permissions=`` (what an
annotation run hands its Labeler): ``ds.annotate`` itself writes a run, so the
end-to-end path is tested in ``tests/test_widget_annotate.py``.
"""

from __future__ import annotations

from bad_input import Case, Context
from labelkit import errors


def _session(ctx: Context, **kwargs):
    import labelkit as lk

    return lk.ReviewSession(ctx.ds, proposals="predictions", labels="ground_truth", **kwargs)


def _run(permission: str):
    """A session whose annotation run forbids ``permission``."""

    def make(ctx: Context):
        return _session(ctx, permissions={permission: False, "origin": "annotation run 'round1'"})

    return make


def _reviewed_label(s) -> int:
    """Go to the reviewed sample 0 and return the k of its accepted label."""
    s.goto(0)
    return next(i.k for i in s.instances if i.state == "accepted")


def _annotate(ctx: Context, **kwargs):
    import labelkit  # noqa: F401 - registers the backend

    opts = dict(backend="labelkit", label_field="ground_truth", label_type="instances",
                classes=["ball", "mug"])
    opts.update(kwargs)
    return ctx.ds.annotate("round1", **opts)


def _labeler(ctx: Context, **kwargs):
    from labelkit.widgets import Labeler

    return Labeler(ctx.ds, **kwargs)


def _add_box(ctx: Context):
    s = _run("allow_additions")(ctx)
    s.add_box([40, 60, 120, 140], "ball")


def _accept(ctx: Context):
    s = _run("allow_additions")(ctx)
    s.accept(0)


def _delete(ctx: Context):
    s = _run("allow_deletions")(ctx)
    s.delete(_reviewed_label(s))


def _relabel(ctx: Context):
    s = _run("allow_label_edits")(ctx)
    k = _reviewed_label(s)
    s.relabel(k, "mug" if s.instances[k].label == "ball" else "ball")


def _paint(ctx: Context):
    s = _run("allow_spatial_edits")(ctx)
    k = _reviewed_label(s)
    s.paint(k, [(150, 30), (170, 30)], 6)


CASES = [
    Case(
        "call-labeler-missing-proposals",
        "lk.Labeler(ds, proposals='no_such_field'): a proposals field that does not exist",
        lambda ctx: _labeler(ctx, proposals="no_such_field", labels="reviewed"),
        errors.SchemaError,
        ("'no_such_field'", "'predictions'", "lk.propose(ds, model, field='no_such_field')"),
    ),
    Case(
        "call-session-missing-proposals",
        "ReviewSession(ds, proposals='prediction'): a typo in the proposals field",
        lambda ctx: _session_fields(ctx, proposals="prediction", labels="reviewed"),
        errors.SchemaError,
        ("'prediction'", "'predictions'", "proposals=None"),
    ),
    Case(
        "call-proposals-wrong-type",
        "ReviewSession(ds, proposals='filepath'): a proposals field that is a StringField",
        lambda ctx: _session_fields(ctx, proposals="filepath", labels="reviewed"),
        errors.SchemaError,
        ("'filepath'", "StringField", "fo.Detections"),
    ),
    Case(
        "call-labels-wrong-type",
        "lk.Labeler(ds, labels='metadata'): a labels field that holds something else",
        lambda ctx: _labeler(ctx, proposals="predictions", labels="metadata"),
        errors.SchemaError,
        ("'metadata'", "ImageMetadata", "fo.Detections"),
    ),
    Case(
        "call-session-empty-view",
        "ReviewSession(ds.limit(0), labels='reviewed'): a view with no samples",
        lambda ctx: _session_fields(ctx, samples=ctx.ds.limit(0), labels="reviewed"),
        errors.ReviewError,
        ("no samples", "lk.load_images()"),
    ),
    Case(
        "call-min-confidence-not-a-number",
        "ReviewSession(ds, min_confidence='high'): a threshold that is not a number",
        lambda ctx: _session_fields(ctx, labels="reviewed", min_confidence="high"),
        errors.ReviewError,
        ("'high'", "[0, 1]"),
    ),
    Case(
        "call-classes-a-string",
        "ReviewSession(ds, classes='ball'): one class name instead of a list",
        lambda ctx: _session_fields(ctx, labels="reviewed", classes="ball"),
        errors.ReviewError,
        ("'ball'", "classes=['ball', 'mug']"),
    ),
    Case(
        "call-unknown-permission",
        "ReviewSession(ds, permissions={'allow_addition': False}): a misspelt permission",
        lambda ctx: _session_fields(ctx, labels="reviewed", permissions={"allow_addition": False}),
        errors.ReviewError,
        ("'allow_addition'", "allow_additions"),
    ),
    Case(
        "annotate-unsupported-label-type",
        "ds.annotate(..., backend='labelkit', label_type='classifications'): a label type the backend cannot annotate",
        lambda ctx: _annotate(ctx, label_field="tags_field", label_type="classifications"),
        errors.SchemaError,
        ("'classifications'", "label_type='instances'"),
    ),
    Case(
        "annotate-unknown-unexpected",
        "ds.annotate(..., backend='labelkit', unexpected='ask'): an unknown unexpected= value",
        lambda ctx: _annotate(ctx, unexpected="ask"),
        errors.BackendOptionError,
        ("unexpected='ask'", "'prompt'", "'ignore'", "'keep'", "'return'"),
    ),
    Case(
        "annotate-unknown-option",
        "ds.annotate(..., backend='labelkit', proposal='predictions'): a misspelt backend option",
        lambda ctx: _annotate(ctx, proposal="predictions"),
        errors.BackendOptionError,
        ("['proposal']", "'proposals'"),
    ),
    Case(
        "annotate-missing-proposals",
        "ds.annotate(..., backend='labelkit', proposals='preds'): a proposals field that does not exist",
        lambda ctx: _annotate(ctx, proposals="preds"),
        errors.SchemaError,
        ("'preds'", "'predictions'", "lk.propose"),
    ),
    Case(
        "annotate-proposals-are-the-label-field",
        "ds.annotate(..., label_field='ground_truth', proposals='ground_truth'): one field for both",
        lambda ctx: _annotate(ctx, proposals="ground_truth"),
        errors.SchemaError,
        ("both 'ground_truth'", "proposals='predictions'"),
    ),
    Case(
        "annotate-classes-not-strings",
        "ds.annotate(..., backend='labelkit', classes=[1, 2]): class ids instead of names",
        lambda ctx: _annotate(ctx, classes=[1, 2]),
        errors.SchemaError,
        ("[1, 2]", "classes=['ball', 'mug']"),
    ),
    Case(
        "annotate-min-confidence-out-of-range",
        "ds.annotate(..., backend='labelkit', min_confidence=50): a percentage as the threshold",
        lambda ctx: _annotate(ctx, min_confidence=50),
        errors.BackendOptionError,
        ("min_confidence=50", "[0, 1]"),
    ),
    Case(
        "call-addition-not-allowed-box",
        "drawing a box in a review whose annotation run has allow_additions=False",
        _add_box,
        errors.NotAllowedError,
        ("add_box", "allow_additions=False", "annotation run 'round1'"),
    ),
    Case(
        "call-addition-not-allowed-accept",
        "accepting a proposal (a new label) in a run with allow_additions=False",
        _accept,
        errors.NotAllowedError,
        ("accept", "allow_additions=False", "annotation run 'round1'"),
    ),
    Case(
        "call-deletion-not-allowed",
        "deleting an existing label in a run with allow_deletions=False",
        _delete,
        errors.NotAllowedError,
        ("allow_deletions=False", "annotation run 'round1'", "existing labels"),
    ),
    Case(
        "call-label-edit-not-allowed",
        "relabelling an existing label in a run with allow_label_edits=False",
        _relabel,
        errors.NotAllowedError,
        ("relabel", "allow_label_edits=False", "annotation run 'round1'"),
    ),
    Case(
        "call-spatial-edit-not-allowed",
        "painting on an existing label's mask in a run with allow_spatial_edits=False",
        _paint,
        errors.NotAllowedError,
        ("paint", "allow_spatial_edits=False", "annotation run 'round1'"),
    ),
]


def _session_fields(ctx: Context, samples=None, **kwargs):
    import labelkit as lk

    return lk.ReviewSession(ctx.ds if samples is None else samples, **kwargs)
