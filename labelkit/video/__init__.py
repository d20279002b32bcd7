"""Video: keyframe interpolation and keyframe logic (the ``lk.video`` namespace).

Owns :func:`interpolate` (boxes linearly, masks by blending signed distance maps;
:mod:`.interpolate`; or ``method="sam2"``: keyframe masks propagated by the SAM 2
video model, :mod:`.sam2`) and keyframe tools (:func:`take_keyframes`,
:func:`evaluate_interpolation`; :mod:`.keyframes`). For users, ``lk.video`` also
gathers the video helpers that live in their own rooms: loading and exporting
(:mod:`labelkit.io`), frame reading and metadata (:mod:`labelkit.media`), the frame
schema (:mod:`labelkit.store`).

May import: :mod:`labelkit.errors`, ``_summary``, :mod:`labelkit.geometry`,
:mod:`labelkit.media`, :mod:`labelkit.store`, :mod:`labelkit.io`, :mod:`labelkit.models`
(the SAM 2 loader's offline rules and devices, imported lazily).
"""

from __future__ import annotations

from ..geometry.sdf import (
    signed_distance,
)
from ..io.export import (
    export_video_labels,
)
from ..io.video import (
    load_sample_video,
    load_video,
    read_video_annotations,
    sample_video_dir,
    write_video_annotations,
)
from ..media.video import (
    FrameReader,
    iter_frames,
    video_metadata,
)
from ..store.video import (
    INTERPOLATED_ATTR,
    KEYFRAME_ATTR,
    ensure_video_metadata,
)
from .interpolate import (
    METHODS,
    TRACK_KEYS,
    TRACK_METHODS,
    InterpolationSummary,
    interpolate,
    interpolate_box,
    interpolate_shape,
    interpolate_track,
)
from .keyframes import (
    evaluate_interpolation,
    take_keyframes,
)
from .sam2 import (
    DEFAULT_VIDEO_MODEL,
    Sam2VideoPropagator,
    clear_model_cache,
    sam2_video,
)

__all__ = [
    "DEFAULT_VIDEO_MODEL",
    "FrameReader",
    "INTERPOLATED_ATTR",
    "InterpolationSummary",
    "KEYFRAME_ATTR",
    "METHODS",
    "Sam2VideoPropagator",
    "TRACK_KEYS",
    "TRACK_METHODS",
    "clear_model_cache",
    "ensure_video_metadata",
    "evaluate_interpolation",
    "export_video_labels",
    "interpolate",
    "interpolate_box",
    "interpolate_shape",
    "interpolate_track",
    "iter_frames",
    "load_sample_video",
    "load_video",
    "read_video_annotations",
    "sam2_video",
    "sample_video_dir",
    "signed_distance",
    "take_keyframes",
    "video_metadata",
    "write_video_annotations",
]
