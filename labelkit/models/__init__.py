"""Proposers: models that propose instance masks for labelkit to review.

A proposer is any object with ``classes: list[str]`` and
``predict(images: list[np.ndarray]) -> list[fo.Detections]`` (see
:class:`~labelkit.models.base.Proposer` for the full input/output contract).

* :func:`maskrcnn` - torchvision Mask R-CNN with COCO weights (downloaded once),
  or a local checkpoint.
* :func:`sample` - the small model shipped in ``sample_data/`` (works offline).
* :func:`load` / :func:`save_checkpoint` - labelkit checkpoints.
* :func:`from_torchvision` - any torchvision-style detector.
* :func:`from_callable` - any function ``images -> boxes/labels/scores/masks``.
* :func:`from_spec` / :func:`spec_of` - rebuild a proposer from a small tuple such as
  ``("sample",)`` or ``("checkpoint", path)`` (how Ray workers get it, :mod:`.spec`).

Segmenters (prompts -> masks, see :mod:`.segmenters`): :func:`grabcut` (offline
default) and :func:`sam` (SAM / SAM 2 through Hugging Face ``transformers``).
Text-prompted proposals for classes no model was trained on: :func:`grounded`
(OWLv2 / Grounding DINO + a segmenter); several proposers together: :func:`ensemble`.

Importing this package is light: torch and torchvision are imported when a
model is built.

May import: :mod:`labelkit.errors`, :mod:`labelkit.geometry`, :mod:`labelkit.io` (the sample data folder, safe output paths).
"""

from __future__ import annotations

from .base import CallableProposer, Proposer, from_callable, resolve_device
from .ensemble import EnsembleProposer, ensemble
from .grounded import GroundedProposer, grounded
from .segmenters import GrabCutSegmenter, SamSegmenter, Segmenter, grabcut, sam
from .spec import from_spec, spec_of
from .torchvision_models import (
    CHECKPOINT_FORMAT,
    TorchvisionProposer,
    cache_file_for,
    fetch_state_dict,
    from_torchvision,
    is_offline,
    load,
    maskrcnn,
    sample,
    sample_data_dir,
    save_checkpoint,
)

__all__ = [
    "EnsembleProposer",
    "GroundedProposer",
    "ensemble",
    "grounded",
    "GrabCutSegmenter",
    "SamSegmenter",
    "Segmenter",
    "grabcut",
    "sam",
    "CHECKPOINT_FORMAT",
    "CallableProposer",
    "Proposer",
    "TorchvisionProposer",
    "cache_file_for",
    "fetch_state_dict",
    "from_callable",
    "from_spec",
    "spec_of",
    "from_torchvision",
    "is_offline",
    "load",
    "maskrcnn",
    "resolve_device",
    "sample",
    "sample_data_dir",
    "save_checkpoint",
]
