"""labelkit as a FiftyOne annotation backend: ``dataset.annotate(..., backend="labelkit")``.

Usage::

    import labelkit as lk     # registers the backend (see :func:`register`)

    results = ds.annotate(
        "round1", backend="labelkit", label_field="ground_truth",
        label_type="instances", classes=["ball", "mug"], proposals="predictions",
    )
    labeler = results.labeler()   # the Labeler widget; display it and review
    ...
    ds.load_annotations("round1")  # merge into "ground_truth" (FiftyOne's semantics)

How it maps FiftyOne's annotation-run model onto a labelkit review: the run gets
its own *staging* field ``labelkit_<anno_key>`` (``fo.Detections``). Existing labels
of ``label_field`` are copied there (same ids, so edits merge back into the same
labels), and the Labeler's session writes its decisions there, with labelkit's
provenance attributes (``source``, ``proposal_id``, ``proposal_iou``, ``edits``).
Optional ``proposals=<field>`` names a field of model proposals to review.
``load_annotations`` hands the staging field's labels to FiftyOne, which merges
them into ``label_field`` honouring ``allow_additions`` / ``allow_deletions`` /
``allow_label_edits`` / ``allow_spatial_edits``; ``cleanup=True`` (or
``delete_annotation_run``) drops the staging field. Sample-level review fields
(``review_status``, ``reviewed_by``, ``reviewed_at``) are labelkit's usual ones.

This module is light (no FiftyOne import) so ``labelkit/__init__.py`` can call
:func:`register` cheaply (it does, on ``import labelkit``); the classes live in
:mod:`labelkit.fiftyone_backend._backend` and are imported on first attribute access.

May import: :mod:`labelkit.widgets`, :mod:`labelkit.review` and everything below them.
Nothing in labelkit imports this package except the root namespace (registration).
"""

from __future__ import annotations

import os
import sys
from typing import Any

BACKEND_NAME = "labelkit"
CONFIG_CLS = "labelkit.fiftyone_backend.LabelkitBackendConfig"

_LAZY = ("LabelkitBackendConfig", "LabelkitBackend", "LabelkitAnnotationResults", "staging_field_name")


def register() -> None:
    """Make ``backend="labelkit"`` known to FiftyOne (idempotent, cheap).

    If FiftyOne is already imported, the backend is added to
    ``fo.annotation_config.backends``; otherwise the environment variables FiftyOne
    reads when it loads its annotation config are set
    (``FIFTYONE_ANNOTATION_BACKENDS`` gains ``labelkit``, keeping the built-in
    backends, and ``FIFTYONE_LABELKIT_CONFIG_CLS`` names the config class). The
    manual equivalent is::

        fo.annotation_config.backends["labelkit"] = {
            "config_cls": "labelkit.fiftyone_backend.LabelkitBackendConfig"
        }
    """
    fo = sys.modules.get("fiftyone")
    cfg = getattr(fo, "annotation_config", None) if fo is not None else None
    if cfg is not None:
        entry = cfg.backends.setdefault(BACKEND_NAME, {})
        entry.setdefault("config_cls", CONFIG_CLS)
        return
    names = os.environ.get("FIFTYONE_ANNOTATION_BACKENDS")
    if names is None:
        os.environ["FIFTYONE_ANNOTATION_BACKENDS"] = f"*,{BACKEND_NAME}"
    elif BACKEND_NAME not in [n.strip() for n in names.split(",")]:
        os.environ["FIFTYONE_ANNOTATION_BACKENDS"] = f"{names},{BACKEND_NAME}"
    os.environ.setdefault("FIFTYONE_LABELKIT_CONFIG_CLS", CONFIG_CLS)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _backend

        return getattr(_backend, name)
    raise AttributeError(f"module 'labelkit.fiftyone_backend' has no attribute '{name}'")


__all__ = ["BACKEND_NAME", "CONFIG_CLS", "register", *_LAZY]
