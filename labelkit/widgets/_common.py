"""What the Labeler's parts share: tools, key map, the event guard, encoded-image drawing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from ..errors import LabelkitError

logger = logging.getLogger("labelkit")

TOOLS = ("select", "brush", "eraser", "polygon", "box", "refine")
_TOOL_OPTIONS = [
    ("Select", "select"),
    ("Brush", "brush"),
    ("Eraser", "eraser"),
    ("Polygon", "polygon"),
    ("Box", "box"),
    ("Refine +", "refine+"),
    ("Refine −", "refine-"),
]
_STATE_MARK = {"pending": "·", "accepted": "✓", "edited": "✎", "rejected": "✗", "new": "+"}
#: the MultiCanvas layers, bottom to top: image (JPEG), mask overlay (PNG, patched where
#: an edit changed it), selection (vector outline + tint of the selected instance),
#: interaction (cursor, stroke preview, polygon in progress, box, refine clicks)
IMAGE_LAYER, OVERLAY_LAYER, SELECTION_LAYER, INTERACTION_LAYER = 0, 1, 2, 3
N_LAYERS = 4
#: an overlay change covering more than this fraction of the canvas is sent whole,
#: a smaller one as a patch of its bounding box
PATCH_MAX_FRACTION = 0.5
_DOUBLE_CLICK_S = 0.4
_CLICK_SLOP = 4.0  # canvas px a press may move and still be a click
_PAN_INTERVAL_S = 0.04

KEYMAP_HTML = """
<div style="font-size:12px;line-height:1.5">
<b>a</b> accept · <b>Shift+A</b> accept all ≥ slider · <b>r</b> reject · <b>Del</b> delete<br>
<b>v</b> select · <b>b</b> brush · <b>e</b> eraser · <b>p</b> polygon · <b>x</b> box ·
<b>g</b> refine (again: flip +/−)<br>
<b>1-9</b> class · <b>Ctrl+Z</b>/<b>Ctrl+Y</b> undo/redo · <b>Enter</b> submit &amp; next
(closes a polygon) · <b>s</b> skip<br>
<b>←/→</b> prev/next sample · <b>Tab</b> next instance · <b>Esc</b> cancel/deselect ·
<b>+/−/0</b> zoom/fit · <b>[ ]</b> brush size · wheel: zoom · drag (select tool): pan
</div>
"""


def _put_encoded(canvas, data: bytes, x: float = 0, y: float = 0) -> None:
    """Draw already-encoded PNG/JPEG ``data`` on an ipycanvas ``Canvas`` at ``(x, y)``.

    This is what ``Canvas.put_image_data`` sends (a ``putImageData`` command with the
    encoded image as a binary buffer), minus its Pillow encoding: the widget
    encodes with OpenCV (faster) and caches the bytes so a reconnecting browser
    gets them again without re-rendering.
    """
    try:
        from ipycanvas.canvas import COMMANDS

        canvas._canvas_manager.send_draw_command(canvas, COMMANDS["putImageData"], [x, y], [data])
    except (ImportError, AttributeError, KeyError):  # pragma: no cover - other ipycanvas
        import io

        from PIL import Image

        canvas.put_image_data(np.asarray(Image.open(io.BytesIO(data))), x, y)


def _guard(method: Callable) -> Callable:
    """Decorator for event handlers: the canvas commands a handler produces are sent
    as one message; review errors go to the status line in plain words, never as a
    traceback (unexpected ones are logged with theirs)."""

    def run(self, *args, **kwargs):
        try:
            with self._held():  # everything one event draws goes out as one message
                return method(self, *args, **kwargs)
        except LabelkitError as exc:
            self.set_status(str(exc), error=True)
        except Exception as exc:  # noqa: BLE001 - a widget must keep working
            logger.exception("labelkit widget error")
            self.set_status(f"something went wrong: {type(exc).__name__}: {exc}", error=True)
        return None

    run.__name__ = method.__name__
    run.__doc__ = method.__doc__
    return run
