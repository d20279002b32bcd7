"""Decoding media files: images (:mod:`.image`) and video frames and metadata (:mod:`.video`).

The one image reader every layer uses (:func:`read_image`, :func:`probe_image`) and
the video frame reader (:class:`FrameReader`, :func:`iter_frames`,
:func:`video_metadata`). Reads files, never touches the database.

May import: :mod:`labelkit.errors`, :mod:`labelkit.geometry`.
"""

from __future__ import annotations

from .image import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    probe_image,
    read_image,
    to_rgb_array,
)
from .video import (
    FrameReader,
    iter_frames,
    video_metadata,
)

__all__ = [
    "FrameReader",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "iter_frames",
    "probe_image",
    "read_image",
    "to_rgb_array",
    "video_metadata",
]
