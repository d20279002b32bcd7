"""Notebook widgets: :class:`Labeler` reviews model proposals on an ipycanvas canvas.

* :mod:`.labeler` - :class:`Labeler`, the glue: builds the canvas and controls and
  forwards every click and key to a :class:`labelkit.review.ReviewSession`;
* :mod:`.video` - :class:`VideoLabeler`, the Labeler for video frames (a subclass);
* :mod:`.render`, :mod:`.viewport` - image/overlay encoding and the display transform;
* :mod:`.app` - the "Open in FiftyOne App" link.

Widgets draw and forward; the session decides; they never touch FiftyOne directly.

May import: everything below it (:mod:`labelkit.review`, :mod:`labelkit.store`
for names only, :mod:`labelkit.media`, :mod:`labelkit.geometry`, :mod:`labelkit.errors`).
"""

from __future__ import annotations

from ._common import KEYMAP_HTML
from .labeler import Labeler
from .video import VideoLabeler
from .viewport import Viewport

__all__ = ["KEYMAP_HTML", "Labeler", "VideoLabeler", "Viewport"]
