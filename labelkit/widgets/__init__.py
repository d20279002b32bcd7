"""Notebook widgets: :class:`Labeler` reviews model proposals on an ipycanvas canvas.

Importing this package also registers labelkit's FiftyOne annotation backend
(``dataset.annotate(..., backend="labelkit")``), see :mod:`labelkit.annotate_backend`.
"""

from __future__ import annotations

from ..annotate_backend import register as _register_backend
from .labeler import KEYMAP_HTML, Labeler
from .viewport import Viewport

_register_backend()

__all__ = ["KEYMAP_HTML", "Labeler", "Viewport"]
