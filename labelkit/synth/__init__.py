"""The synthetic scene generator behind ``sample_data/`` (sample data only).

Deterministic procedural scenes (ball, mug, book and the new-class donut on
textured backgrounds) with instance masks and COCO annotations; see :mod:`.scenes`.

May import: :mod:`labelkit.errors`, :mod:`labelkit.geometry`.
"""

from __future__ import annotations

from .scenes import (
    ALL_CLASSES,
    BACKGROUNDS,
    CATEGORY_IDS,
    KNOWN_BACKGROUNDS,
    KNOWN_CLASSES,
    KNOWN_LIGHTING,
    LIGHTING,
    NEW_CLASS,
    SHIFTED_BACKGROUNDS,
    SHIFTED_LIGHTING,
    VARIANTS,
    render_background,
    render_objects,
    render_scene,
    to_coco_annotations,
    write_split,
)

__all__ = [
    "ALL_CLASSES",
    "BACKGROUNDS",
    "CATEGORY_IDS",
    "KNOWN_BACKGROUNDS",
    "KNOWN_CLASSES",
    "KNOWN_LIGHTING",
    "LIGHTING",
    "NEW_CLASS",
    "SHIFTED_BACKGROUNDS",
    "SHIFTED_LIGHTING",
    "VARIANTS",
    "render_background",
    "render_objects",
    "render_scene",
    "to_coco_annotations",
    "write_split",
]
