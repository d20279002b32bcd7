"""The FiftyOne annotation backend classes (see :mod:`labelkit.fiftyone_backend`)."""

from __future__ import annotations

import re

import fiftyone as fo
import fiftyone.core.media as fom
import fiftyone.utils.annotations as foua

from ..errors import SchemaError

#: provenance attributes labelkit adds to every label it writes
PROVENANCE = ("source", "proposal_id", "proposal_iou", "edits")
_LABEL_TYPES = ("detections", "instances")


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
        min_confidence: initial confidence threshold of the Labeler.
        **kwargs: passed to FiftyOne.
    """

    def __init__(
        self,
        name,
        label_schema,
        media_field="filepath",
        proposals=None,
        annotator=None,
        min_confidence=0.0,
        **kwargs,
    ):
        super().__init__(name, label_schema, media_field=media_field, **kwargs)
        self.proposals = proposals
        self.annotator = annotator
        self.min_confidence = float(min_confidence)


class LabelkitBackend(foua.AnnotationBackend):
    """Reviews a FiftyOne collection in labelkit's notebook Labeler."""

    @property
    def supported_media_types(self):
        return [fom.IMAGE]

    @property
    def supported_label_types(self):
        return list(_LABEL_TYPES)

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
            raise ValueError(
                f"the labelkit backend reviews one label field per run, got {sorted(schema)}; "
                "start one run per field"
            )
        (field, info), = schema.items()
        if info.get("type") not in _LABEL_TYPES:
            raise ValueError(
                f"the labelkit backend annotates instance masks (label_type='instances' or "
                f"'detections'), got {info.get('type')!r} for field '{field}'"
            )
        return field, info

    def upload_annotations(self, samples, anno_key, launch_editor=False):
        """Copy the field's existing labels into the run's staging field and return
        the results (whose :meth:`~LabelkitAnnotationResults.labeler` opens the widget)."""
        if self.config.media_field != "filepath":
            raise ValueError("the labelkit backend reads images from 'filepath' only")
        field, info = self._field()
        proposals = self.config.proposals
        if proposals == field:
            raise SchemaError(
                f"proposals and label_field are both '{field}': the labels you annotate need a "
                "field of their own (e.g. label_field='ground_truth', proposals='predictions')"
            )
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
        from ..widgets import Labeler

        field = next(iter(self.config.label_schema))
        info = self.config.label_schema[field]
        classes = _flat_classes(info.get("classes"))
        proposals = self.config.proposals or f"{self.staging_field}_no_proposals"
        opts = dict(
            proposals=proposals,
            labels=self.staging_field,
            classes=classes or None,
            annotator=self.config.annotator,
            min_confidence=self.config.min_confidence,
        )
        opts.update(kwargs)
        return Labeler(self.samples, **opts)

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
