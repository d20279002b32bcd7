"""The FiftyOne annotation backend classes (see :mod:`labelkit.fiftyone_backend`)."""

from __future__ import annotations

import re

import fiftyone as fo
import fiftyone.core.media as fom
import fiftyone.utils.annotations as foua

from ..errors import BackendOptionError, SchemaError

#: provenance attributes labelkit adds to every label it writes
PROVENANCE = ("source", "proposal_id", "proposal_iou", "edits")
_LABEL_TYPES = ("detections", "instances")
#: label types FiftyOne knows that labelkit refuses itself (see ``supported_label_types``)
_REFUSED_TYPES = ("classification", "classifications", "detection", "instance", "polyline",
                  "polylines", "polygon", "polygons", "keypoint", "keypoints", "segmentation")
#: FiftyOne's documented values of ``unexpected`` (see ``load_annotations``)
UNEXPECTED = ("prompt", "ignore", "keep", "return")
#: the label-schema switches handed to the review session
ALLOW = ("allow_additions", "allow_deletions", "allow_label_edits", "allow_spatial_edits")
#: options of the config (besides FiftyOne's own ``name``/``label_schema``/``media_field``)
OPTIONS = ("proposals", "annotator", "min_confidence", "unexpected")


def staging_field_name(anno_key: str) -> str:
    """The field a run's reviewed labels are written to before they are merged."""
    return "labelkit_" + re.sub(r"\W", "_", anno_key)


def _flat_classes(classes) -> list[str]:
    out: list[str] = []
    for c in classes or []:
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, dict):
            out.extend(x for x in c.get("classes", []) if isinstance(x, str))
    return list(dict.fromkeys(out))


class LabelkitBackendConfig(foua.AnnotationBackendConfig):
    """Configures a labelkit annotation run.

    Args:
        name: the backend name ("labelkit").
        label_schema: FiftyOne's label schema (one ``detections``/``instances`` field).
        media_field: the field with the image paths (must be "filepath").
        proposals: an optional ``fo.Detections`` field of model proposals to
            review (accept/reject/fix) during the run.
        annotator: name written to ``reviewed_by``.
        min_confidence: initial confidence threshold of the Labeler (in [0, 1]).
        unexpected: FiftyOne's ``unexpected`` ("prompt", "ignore", "keep" or
            "return"): what ``load_annotations`` does with labels that do not match
            the run's label schema. A labelkit run only ever returns labels of its
            own field and type, so there is never an unexpected label to prompt
            for, keep or return: every documented value behaves the same. Any
            other value is refused.
        **kwargs: FiftyOne's own run attributes only; an unknown option (a typo
            such as ``proposal=``) is refused instead of silently stored.

    Raises:
        BackendOptionError: an unknown option or an unsupported value (before the
            run is created).
    """

    def __init__(
        self,
        name,
        label_schema,
        media_field="filepath",
        proposals=None,
        annotator=None,
        min_confidence=0.0,
        unexpected="prompt",
        **kwargs,
    ):
        unknown = sorted(kwargs)
        if unknown:
            raise BackendOptionError(
                f"the labelkit annotation backend has no option(s) {unknown}; its options are "
                f"{list(OPTIONS)} (plus FiftyOne's label_field, label_type, classes, "
                f"attributes and {', '.join(ALLOW)}); fix the name or drop the option"
            )
        if media_field != "filepath":
            raise BackendOptionError(
                f"media_field={media_field!r}: the labelkit backend reads images from "
                "'filepath' only; drop media_field="
            )
        if proposals is not None and (not isinstance(proposals, str) or not proposals):
            raise BackendOptionError(
                f"proposals={proposals!r}: pass the name of a fo.Detections field of model "
                "proposals (e.g. proposals='predictions'), or leave it out"
            )
        if annotator is not None and not isinstance(annotator, str):
            raise BackendOptionError(f"annotator={annotator!r}: pass a name (a string), or leave it out")
        try:
            conf = float(min_confidence)
        except (TypeError, ValueError):
            conf = float("nan")
        if isinstance(min_confidence, bool) or not 0.0 <= conf <= 1.0:
            raise BackendOptionError(
                f"min_confidence={min_confidence!r}: pass a number in [0, 1] (e.g. 0.5)"
            )
        if not isinstance(unexpected, str) or unexpected not in UNEXPECTED:
            raise BackendOptionError(
                f"unexpected={unexpected!r} is not supported; the supported values are "
                f"{list(UNEXPECTED)} (labelkit runs return only labels of the run's own "
                "type, so all of them behave the same)"
            )
        super().__init__(name, label_schema, media_field=media_field)
        self.proposals = proposals
        self.annotator = annotator
        self.min_confidence = conf
        self.unexpected = unexpected


class LabelkitBackend(foua.AnnotationBackend):
    """Reviews a FiftyOne collection in labelkit's notebook Labeler."""

    @property
    def supported_media_types(self):
        return [fom.IMAGE]

    @property
    def supported_label_types(self):
        # FiftyOne refuses types not listed here with a bare ValueError; the spatial
        # types are listed so that the run reaches :meth:`check_run`, which refuses
        # everything but detections/instances with a SchemaError that says what to do
        # (before the run is registered)
        return list(_LABEL_TYPES) + list(_REFUSED_TYPES)

    @property
    def supported_scalar_types(self):
        return []

    @property
    def supported_attr_types(self):
        return ["text"]

    @property
    def supports_keyframes(self):
        return False

    @property
    def supports_video_sample_fields(self):
        return False

    @property
    def requires_label_schema(self):
        return True

    def recommend_attr_tool(self, name, value):
        return {"type": "text"}

    def requires_attr_values(self, attr_type):
        return False

    def get_fields(self, samples, anno_key):
        return list(self.config.label_schema.keys())

    def _field(self) -> tuple[str, dict]:
        schema = self.config.label_schema or {}
        if len(schema) != 1:
            raise SchemaError(
                f"the labelkit backend reviews one label field per run, got {sorted(schema)}; "
                "start one run per field"
            )
        (field, info), = schema.items()
        if info.get("type") not in _LABEL_TYPES:
            raise SchemaError(
                f"label_type={info.get('type')!r} for field '{field}': the labelkit backend "
                "annotates instance masks only; pass label_type='instances' (or 'detections') "
                "and a fo.Detections label_field, or use another backend for this label type"
            )
        return field, info

    def check_run(self, samples, anno_key) -> None:
        """Check the whole run (label schema, classes, attributes, fields, options)
        before FiftyOne registers it, so a refused ``annotate()`` writes nothing.

        Raises:
            SchemaError: not one ``detections``/``instances`` field, a label field or
                proposals field of the wrong type, a proposals field that does not
                exist or is the label field itself, bad classes, or attributes other
                than text.
            BackendOptionError: an ``allow_*`` switch that is not True/False.
        """
        field, info = self._field()
        dataset = samples._dataset
        schema = dataset.get_field_schema()
        dets = sorted(k for k, v in schema.items() if getattr(v, "document_type", None) is fo.Detections)
        listed = ", ".join(f"'{k}'" for k in dets) if dets else "none"
        if "." in field:
            raise SchemaError(f"label_field '{field}': the labelkit backend needs a top-level field")
        existing = schema.get(field)
        if existing is not None and getattr(existing, "document_type", None) is not fo.Detections:
            kind = getattr(getattr(existing, "document_type", None), "__name__", type(existing).__name__)
            raise SchemaError(
                f"label_field '{field}' holds {kind}, but the labelkit backend annotates "
                f"fo.Detections (instance masks); pick another label_field (fo.Detections "
                f"fields: {listed})"
            )
        proposals = self.config.proposals
        if proposals is not None:
            if proposals == field:
                raise SchemaError(
                    f"proposals and label_field are both '{field}': the labels you annotate need a "
                    "field of their own (e.g. label_field='ground_truth', proposals='predictions')"
                )
            f = schema.get(proposals)
            if f is None:
                raise SchemaError(
                    f"dataset '{dataset.name}' has no proposals field '{proposals}' (its "
                    f"fo.Detections fields: {listed}); create the proposals with "
                    f"lk.propose(ds, model, field='{proposals}') or leave proposals= out"
                )
            if getattr(f, "document_type", None) is not fo.Detections:
                kind = getattr(getattr(f, "document_type", None), "__name__", type(f).__name__)
                raise SchemaError(
                    f"proposals field '{proposals}' holds {kind}, but proposals must be "
                    f"fo.Detections (fo.Detections fields: {listed})"
                )
        staging = staging_field_name(anno_key)
        if staging in (field, proposals):
            raise SchemaError(
                f"field '{staging}' is where run '{anno_key}' stages its labels; pick another "
                "anno_key or rename that field"
            )
        bad = [
            x
            for c in info.get("classes") or []
            for x in (c.get("classes", []) if isinstance(c, dict) else [c])
            if not isinstance(x, str) or not x.strip()
        ]
        if bad:
            raise SchemaError(
                f"classes of field '{field}' must be non-empty strings (class names), got "
                f"{bad!r}; e.g. classes=['ball', 'mug']"
            )
        attrs = dict(info.get("attributes") or {})
        for c in info.get("classes") or []:
            if isinstance(c, dict):
                attrs.update(c.get("attributes") or {})
        for name, spec in attrs.items():
            kind = spec.get("type") if isinstance(spec, dict) else None
            if kind not in self.supported_attr_types:
                raise SchemaError(
                    f"attribute '{name}' of field '{field}' is of type {kind!r}; the labelkit "
                    f"backend supports {self.supported_attr_types} attributes only"
                )
        for name in ALLOW:
            v = info.get(name, True)
            if not isinstance(v, bool):
                raise BackendOptionError(f"{name}={v!r}: pass True or False")

    def register_run(self, samples, key, overwrite=True, cleanup=True):
        """Validate the run (:meth:`check_run`), then let FiftyOne register it: FiftyOne
        calls this right before :meth:`upload_annotations`, so nothing is written for
        a run that is refused."""
        if self.config.label_schema is not None:
            self.check_run(samples, key)
        super().register_run(samples, key, overwrite=overwrite, cleanup=cleanup)

    def upload_annotations(self, samples, anno_key, launch_editor=False):
        """Copy the field's existing labels into the run's staging field and return
        the results (whose :meth:`~LabelkitAnnotationResults.labeler` opens the widget).

        If anything fails here (after FiftyOne registered the run), the staging field
        and the run are deleted again before the error propagates."""
        self.check_run(samples, anno_key)
        try:
            return self._upload(samples, anno_key, launch_editor)
        except BaseException:
            self._undo_run(samples, anno_key)
            raise

    def _undo_run(self, samples, anno_key) -> None:
        dataset = samples._dataset
        staging = staging_field_name(anno_key)
        try:
            if staging in dataset.get_field_schema():
                dataset.delete_sample_field(staging)
        finally:
            if anno_key in dataset.list_annotation_runs():
                self.delete_run(dataset, anno_key, cleanup=False)

    def _upload(self, samples, anno_key, launch_editor):
        field, info = self._field()
        staging = staging_field_name(anno_key)
        dataset = samples._dataset
        if staging in dataset.get_field_schema():
            dataset.delete_sample_field(staging)
        dataset.add_sample_field(staging, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)

        ids = samples.values("id")
        id_map: dict = {}
        copies: dict = {}
        if info.get("existing_field", False) and field in dataset.get_field_schema():
            for sid, dets in zip(ids, samples.values(field), strict=True):
                labels = list(dets.detections) if dets is not None else []
                id_map[sid] = [d.id for d in labels]
                if labels:
                    out = []
                    for d in labels:
                        c = d.copy()
                        c.id = d.id  # keep ids so edits merge into the same labels
                        c["source"] = "human"
                        c["proposal_id"] = None
                        c["proposal_iou"] = None
                        c["edits"] = 0
                        out.append(c)
                    copies[sid] = fo.Detections(detections=out)
        if copies:
            samples.select(list(copies)).set_values(staging, copies, key_field="id")
        results = LabelkitAnnotationResults(
            samples, self.config, anno_key, {field: id_map}, staging, backend=self
        )
        if launch_editor:
            results.launch_editor()
        return results

    def download_annotations(self, results):
        """The staging field's labels, as FiftyOne's ``{"detections": {sample_id: {label_id: label}}}``.

        Untouched copies of pre-existing labels go back without the provenance
        attributes the upload added, so merging leaves them exactly as they were.
        """
        field, _ = self._field()
        samples = results.samples
        staging = results.staging_field
        annos: dict = {}
        if staging in samples._dataset.get_field_schema():
            for sid, dets in zip(samples.values("id"), samples.values(staging), strict=True):
                per: dict = {}
                for d in (dets.detections if dets is not None else []):
                    label = d.copy()
                    label.id = d.id
                    untouched = (
                        d.get_field("source") == "human" if d.has_field("source") else False
                    ) and (d["edits"] if d.has_field("edits") else 0) == 0
                    if untouched:
                        for name in PROVENANCE:
                            if label.has_field(name):
                                delattr(label, name)
                    per[label.id] = label
                annos[sid] = per
        return {field: {"detections": annos}}

    def cleanup(self, samples, anno_key):
        """Delete the run's staging field (``delete_annotation_run``)."""
        staging = staging_field_name(anno_key)
        dataset = samples._dataset
        if staging in dataset.get_field_schema():
            dataset.delete_sample_field(staging)


class LabelkitAnnotationResults(foua.AnnotationResults):
    """A labelkit annotation run: where its labels are staged, and its Labeler.

    Attributes:
        id_map: FiftyOne's map of pre-existing label ids (per field, per sample).
        staging_field: the field the Labeler writes to during the run.
    """

    def __init__(self, samples, config, anno_key, id_map, staging_field=None, backend=None):
        super().__init__(samples, config, anno_key, id_map, backend=backend)
        self.staging_field = staging_field or staging_field_name(anno_key)

    def labeler(self, **kwargs):
        """A :class:`labelkit.widgets.Labeler` for this run (display it to review).

        Keyword arguments override the run's defaults (``annotator``,
        ``min_confidence``, ``canvas_size``...).
        """
        from ..review.session import ReviewSession
        from ..widgets import Labeler

        field = next(iter(self.config.label_schema))
        info = self.config.label_schema[field]
        classes = _flat_classes(info.get("classes"))
        opts = dict(
            proposals=self.config.proposals,
            labels=self.staging_field,
            classes=classes or None,
            annotator=self.config.annotator,
            min_confidence=self.config.min_confidence,
            permissions=self.permissions(),
        )
        opts.update(kwargs)
        widget = {k: opts.pop(k) for k in ("canvas_size", "brush_radius") if k in opts}
        return Labeler(ReviewSession(self.samples, **opts), **widget)

    def permissions(self):
        """The run's ``allow_additions`` / ``allow_deletions`` / ``allow_label_edits``
        / ``allow_spatial_edits`` as the review session's
        :class:`~labelkit.review.session.Permissions` (existing labels: those of the
        label field when the run started, from the run's id map)."""
        from ..review.session import Permissions

        field = next(iter(self.config.label_schema))
        info = self.config.label_schema[field]
        ids = frozenset(
            i for per in (self.id_map.get(field) or {}).values() for i in (per or []) if isinstance(i, str)
        )
        return Permissions(
            **{name: bool(info.get(name, True)) for name in ALLOW},
            origin=f"annotation run '{self.key}'",
            existing_ids=ids,
        )

    def launch_editor(self):
        """Display the Labeler in the notebook (and return it)."""
        lab = self.labeler()
        try:
            from IPython.display import display

            display(lab)
        except ImportError:  # pragma: no cover - IPython is a dependency of ipywidgets
            pass
        return lab

    def cleanup(self):
        """Delete the run's staging field."""
        dataset = self._samples._dataset
        if self.staging_field in dataset.get_field_schema():
            dataset.delete_sample_field(self.staging_field)

    @classmethod
    def _from_dict(cls, d, samples, config, anno_key):
        return cls(samples, config, anno_key, d.get("id_map", {}), d.get("staging_field"))
