"""Review: the state machine people drive (queue, current sample, edits, undo/redo).

* :mod:`.session` - :class:`ReviewSession` over image samples;
* :mod:`.video` - :class:`VideoReviewSession`: the same session over the frames of
  videos (a subclass; tracks and keyframes added);
Mask edits (brush, erase, polygon, box, GrabCut) are :mod:`labelkit.geometry.edit`.

Pure Python + numpy; never imports ipywidgets. Writes only through :mod:`labelkit.store`.

May import: :mod:`labelkit.errors`, :mod:`labelkit.geometry`, :mod:`labelkit.media`,
:mod:`labelkit.store`, :mod:`labelkit.video`.
"""

from __future__ import annotations

from .session import (
    STATES,
    Event,
    Instance,
    ReviewSession,
)
from .video import (
    VideoInstance,
    VideoReviewSession,
)

__all__ = [
    "Event",
    "Instance",
    "ReviewSession",
    "STATES",
    "VideoInstance",
    "VideoReviewSession",
]
