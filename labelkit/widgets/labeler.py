"""``Labeler``: the notebook widget that reviews model proposals with a ReviewSession.

Layering: the widget draws the session's state and turns clicks and keys into
session calls. It never reads or writes FiftyOne itself (the session does, through
:mod:`labelkit.store`); the one exception is the "Open in FiftyOne App" button,
which goes through the tiny :mod:`labelkit.widgets.app` helper.

Drawing: an ipycanvas ``MultiCanvas`` with three layers,

0. the image, rendered in numpy at canvas resolution from the coarsest adequate
   pyramid level (:class:`~labelkit.widgets.render.ImageSource`) and sent as JPEG;
1. the mask overlay, all instances in one RGBA array
   (:func:`~labelkit.widgets.render.render_overlay`) sent as PNG;
2. interaction: brush cursor, stroke preview, polygon in progress, box rubber band,
   refine clicks (a few vector commands).

Pixels travel as binary comm buffers, never base64 JSON. The image layer is
re-rendered only when the sample or the view (zoom/pan) changes; the overlay on
instance, selection and threshold events. Edits always happen at full resolution
in the session: canvas points are mapped to image pixels by
:class:`~labelkit.widgets.viewport.Viewport`.

Keyboard (click the image first so the canvas has the focus)::

    a            accept the selected proposal
    Shift+A      accept all pending proposals at or above the confidence slider
    r            reject the selected proposal (deletes a human instance)
    Delete       delete / reject the selected instance
    v / b / e    select tool / brush / eraser
    p / x        polygon / box
    g            refine tool; pressing g again flips positive <-> negative clicks
    1-9          pick class 1-9 (and relabel the selected instance; selecting an
                 instance shows its class in the picker)
    Ctrl+Z       undo          Ctrl+Y, Ctrl+Shift+Z   redo
    Enter        close the polygon in progress, otherwise submit and go to the next sample
    s            skip the sample
    Left/Right   previous / next sample
    Tab          select the next instance (Shift+Tab: previous)
    Escape       cancel the shape in progress, else clear the selection
    + / - / 0    zoom in / zoom out / fit the image
    [ / ]        brush smaller / larger

Mouse: the select tool selects the topmost mask under a click and pans the view
when dragged; the brush paints the selected instance (with nothing selected it
draws a new instance of the picked class) and the eraser erases from the selected
instance (nothing selected: from every mask it touches); polygon: click vertices,
double-click, Enter or a click on the first vertex closes it; box: drag; refine:
click on the object (positive) or, with "Refine −" or after pressing g twice, on
background (negative). The wheel zooms around the pointer.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
from ipycanvas import MultiCanvas

from ..errors import LabelkitError
from . import render as R
from ._canvas import CanvasMixin
from ._common import KEYMAP_HTML, TOOLS, _guard, logger  # noqa: F401 - re-exported
from ._controls import ControlsMixin
from .viewport import Viewport


class Labeler(ControlsMixin, CanvasMixin, W.VBox):
    """Review model proposals in a notebook: accept, reject or fix instance masks.

    Every decision goes through :attr:`session` (a :class:`labelkit.review.session.ReviewSession`),
    which writes it to FiftyOne before the widget moves on. Display it as the last
    expression of a cell; drive the same review from code with ``labeler.session``.

    A video collection (or a ``VideoReviewSession``) opens the video version,
    :class:`labelkit.widgets.video.VideoLabeler` (frame slider, play, keyframes,
    tracks); pass frame fields then (``proposals="frames.predictions"``).

    Args:
        samples: a ``fo.Dataset``, a view, a dataset name, or an existing
            ``ReviewSession`` (then the other review arguments are ignored).
        proposals: the ``fo.Detections`` field with model proposals.
        labels: the ``fo.Detections`` field the reviewed labels go to.
        classes: classes for new labels (default: those found in the collection).
        annotator: name written to ``reviewed_by``.
        min_confidence: initial position of the confidence slider: proposals below
            it are hidden and not taken by "accept all".
        canvas_size: ``(width, height)`` of the drawing area in pixels.
        brush_radius: initial brush radius in *screen* pixels (the stroke's radius
            in image pixels is this divided by the zoom scale).

    Example:
        >>> labeler = lk.Labeler(ds, proposals="predictions", labels="ground_truth")
        >>> labeler                      # doctest: +SKIP
        >>> labeler.session.accept_all() # the same review, from code
    """

    #: Subclasses that open instead of the Labeler for some collections (each has a
    #: ``handles(samples) -> bool`` classmethod; see :meth:`__init_subclass__`).
    #: The Labeler never imports them: e.g. :class:`~labelkit.widgets.video.VideoLabeler`
    #: registers itself when its module is imported (``labelkit.widgets`` does).
    _variants: list[type] = []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "handles" in cls.__dict__:
            Labeler._variants.append(cls)

    def __new__(cls, samples=None, *args, **kwargs):
        # a video collection (or a VideoReviewSession) gets the video labeler
        if cls is Labeler:
            cls = next((v for v in Labeler._variants if v.handles(samples)), cls)
        return super().__new__(cls, samples, *args, **kwargs)

    def __init__(
        self,
        samples,
        proposals: str = "predictions",
        labels: str = "ground_truth",
        classes: list[str] | None = None,
        annotator: str | None = None,
        min_confidence: float = 0.0,
        canvas_size: tuple[int, int] = (800, 560),
        brush_radius: int = 10,
    ):
        from ..review.session import ReviewSession

        if isinstance(samples, ReviewSession):
            session = samples
        else:
            session = ReviewSession(
                samples,
                proposals=proposals,
                labels=labels,
                classes=classes,
                annotator=annotator,
                min_confidence=min_confidence,
            )
        self.session = session
        self.canvas_width, self.canvas_height = (int(v) for v in canvas_size)

        # -- interaction state
        self.tool = "select"
        self.refine_positive = True
        self.brush_radius = int(brush_radius)
        self.show_rejected = True
        self._drag: dict[str, Any] | None = None
        self._polygon: list[tuple[float, float]] = []
        self._refine: dict[str, Any] = {"k": None, "pos": [], "neg": []}
        self._mouse: tuple[float, float] | None = None
        self._last_down: tuple[float, float, float] | None = None
        self._last_pan_render = 0.0
        self._syncing = False
        self._hold_depth = 0

        # -- render caches
        self.vp: Viewport | None = None
        self._src: R.ImageSource | None = None
        self._overlay = R.OverlayRenderer()
        self._image_bytes: bytes | None = None
        self._overlay_bytes: bytes | None = None
        self._image_error: str | None = None
        #: milliseconds spent in the last renders (for benchmarks and debugging)
        self.timings: dict[str, float] = {}
        #: bytes of pixels sent to the browser, by layer, since construction
        self.bytes_sent = {"image": 0, "overlay": 0}

        # -- canvas
        self.canvas = MultiCanvas(3, width=self.canvas_width, height=self.canvas_height)
        self.canvas.layout.width = f"{self.canvas_width}px"
        self.canvas.layout.height = f"{self.canvas_height}px"
        self.canvas.add_class("labelkit-canvas")
        self.canvas.on_mouse_down(self.handle_mouse_down)
        self.canvas.on_mouse_move(self.handle_mouse_move)
        self.canvas.on_mouse_up(self.handle_mouse_up)
        self.canvas.on_mouse_out(self.handle_mouse_out)
        self.canvas.on_mouse_wheel(self.handle_wheel)
        self.canvas.on_key_down(self.handle_key)
        self.canvas.on_client_ready(self._guarded(self._resend))

        self._build_controls()
        super().__init__(
            children=[self._header, W.HBox([self.canvas, self._side]), self._status],
            layout=W.Layout(width="100%"),
        )
        self.add_class("labelkit-labeler")
        self._unobserve = session.observe(self._on_event)
        self._guarded(self._show_sample)()

    # =============================================================== error guard
    def _guarded(self, fn: Callable) -> Callable:
        """``fn`` wrapped like the event handlers (see :func:`_guard`), for callbacks
        of buttons, sliders and the canvas."""
        wrapped = _guard(lambda _self, *args, **kwargs: fn(*args, **kwargs))
        return lambda *args, **kwargs: wrapped(self, *args, **kwargs)

    def set_status(self, text: str, error: bool = False) -> None:
        """Show a one-line message under the canvas (errors in red)."""
        import html

        color = "#b00020" if error else "#333"
        self._status.value = f'<span style="color:{color}">{html.escape(text)}</span>'
        self.status_text = text
        self.status_is_error = error

    status_text = ""

    status_is_error = False

    def _on_event(self, event) -> None:
        kind, value = event
        try:
            if kind == "sample":
                self._show_sample()
            elif kind == "instances":
                if self._refine["k"] is not None and self._refine["k"] >= len(self.session.instances):
                    self._reset_refine()
                self._render_overlay()
                self._update_list()
                self._update_buttons()
            elif kind == "selection":
                if value != self._refine["k"]:
                    self._reset_refine()
                self._render_overlay()
                self._sync_list_selection()
                self._sync_class_to_selection()
                self._update_buttons()
            elif kind == "threshold":
                if abs(self._conf.value - float(value)) > 1e-9:
                    self._syncing = True
                    try:
                        self._conf.value = float(value)
                    finally:
                        self._syncing = False
                self._render_overlay()
                self._update_list()
            elif kind == "saved":
                self._update_progress()
                if value in ("done", "skipped"):
                    self.set_status(f"saved sample as {value}")
            elif kind == "classes":
                self._update_classes()
        except LabelkitError as exc:
            self.set_status(str(exc), error=True)
        except Exception as exc:  # noqa: BLE001
            logger.exception("labelkit widget error")
            self.set_status(f"something went wrong: {type(exc).__name__}: {exc}", error=True)

    def _show_sample(self) -> None:
        """A new sample: fresh view, image source, caches and controls."""
        t0, c0 = time.perf_counter(), time.process_time()
        s = self.session
        self._polygon = []
        self._drag = None
        self._reset_refine()
        self.vp = Viewport(s.width, s.height, self.canvas_width, self.canvas_height)
        self._overlay.reset()
        path = s.filepath
        fw = max(1, math.ceil(s.width * self.vp.fit_scale))
        fh = max(1, math.ceil(s.height * self.vp.fit_scale))
        preview = self._read_preview(fw, fh)
        if preview is not None and preview.shape[:2] != (s.height, s.width):
            # sanity: the preview's aspect must match the sample's metadata
            ph, pw = preview.shape[:2]
            if abs(pw / ph - s.width / s.height) > 0.02:
                preview = None
        self._src = R.ImageSource(s.width, s.height, preview, s.image, load_scaled=self._read_preview)
        self.timings["decode_ms"] = (time.perf_counter() - t0) * 1e3
        with self._held():
            self._render_image()
            self._render_overlay()
            self._render_interaction()
        self._update_list()
        self._update_progress()
        self._update_buttons()
        self.timings["show_ms"] = (time.perf_counter() - t0) * 1e3
        self.timings["show_cpu_ms"] = (time.process_time() - c0) * 1e3
        if self._image_error is None:
            self.set_status(f"sample {s.index + 1} of {len(s)}: {os.path.basename(path)}")

    def _read_preview(self, width: int, height: int) -> np.ndarray | None:
        """A reduced copy of the current image at least ``width x height`` pixels, or
        None (then the session's full image is used)."""
        return R.read_preview(self.session.filepath, width, height)

    def _selected_or_hint(self, what: str) -> int | None:
        k = self.session.selected
        if k is None:
            self.set_status(f"select an instance to {what} first (click it, or press Tab)", error=True)
        return k

    def _accept_selected(self) -> None:
        k = self._selected_or_hint("accept")
        if k is not None:
            self.session.accept(k)
            self.set_status(f"accepted {k} ({self.session.instance(k).label})")

    def _reject_selected(self) -> None:
        k = self._selected_or_hint("reject")
        if k is not None:
            label = self.session.instance(k).label
            self.session.reject(k)
            self.set_status(f"rejected {k} ({label})")

    def _delete_selected(self) -> None:
        k = self._selected_or_hint("delete")
        if k is not None:
            self.session.delete(k)

    def _accept_all(self) -> None:
        ks = self.session.accept_all()
        self.set_status(f"accepted {len(ks)} proposal(s) at or above {self.session.min_confidence:.2f}")

    def _submit(self) -> None:
        self.session.submit()

    def open_app(self) -> None:
        """Open the current sample in the FiftyOne App (starts it in the background)."""
        from .app import open_in_app

        self.set_status("starting the FiftyOne App…")

        def ready(url: str | None, error: str | None) -> None:
            if error:
                self.set_status(error, error=True)
                return
            self._app_link.value = (
                f'<a href="{url}" target="_blank" rel="noopener">open the FiftyOne App ↗</a>'
            )
            self.set_status(f"FiftyOne App is running at {url}")

        open_in_app(self.session.samples, self.session.sample_id, ready)

    # ================================================================= lifecycle
    def close(self) -> None:
        """Stop observing the session and close the widget and its children."""
        unobserve = getattr(self, "_unobserve", None)
        if unobserve is not None:
            unobserve()
            self._unobserve = None
        super().close()
