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

import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as W
import numpy as np
from ipycanvas import MultiCanvas, hold_canvas

from ..errors import LabelkitError
from . import render as R
from .viewport import Viewport

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


def _is_video(samples) -> bool:
    """Whether ``samples`` (collection, dataset name or session) holds videos."""
    from ..session import ReviewSession

    if isinstance(samples, ReviewSession):
        return hasattr(samples, "frame_number")
    from ..video_propose import is_video_collection

    return is_video_collection(samples)


class Labeler(W.VBox):
    """Review model proposals in a notebook: accept, reject or fix instance masks.

    Every decision goes through :attr:`session` (a :class:`labelkit.session.ReviewSession`),
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

    def __new__(cls, samples=None, *args, **kwargs):
        # a video collection (or a VideoReviewSession) gets the video labeler
        if cls is Labeler and _is_video(samples):
            from .video import VideoLabeler

            cls = VideoLabeler
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
        from ..session import ReviewSession

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

    # ================================================================= controls
    def _build_controls(self) -> None:
        s = self.session
        btn = self._button
        self._progress = W.IntProgress(min=0, max=max(len(s), 1), layout=W.Layout(width="220px"))
        self._progress_label = W.HTML()
        self._prev_btn = btn("◀ Prev", "previous sample (←)", lambda: s.prev())
        self._next_btn = btn("Next ▶", "next sample (→)", lambda: s.next())
        self._skip_btn = btn("Skip", "skip this sample (s)", lambda: s.skip())
        self._submit_btn = btn("Submit ✓", "save this sample as done and go to the next (Enter)",
                               self._submit, style="success")
        self._undo_btn = btn("↶ Undo", "undo (Ctrl+Z)", lambda: s.undo())
        self._redo_btn = btn("↷ Redo", "redo (Ctrl+Y)", lambda: s.redo())
        self._app_btn = btn("Open in FiftyOne App", "show this sample in the FiftyOne App", self.open_app)
        self._app_link = W.HTML()
        self._header = W.HBox(
            [self._progress, self._progress_label, self._prev_btn, self._next_btn,
             self._skip_btn, self._submit_btn, self._undo_btn, self._redo_btn],
            layout=W.Layout(align_items="center", flex_flow="row wrap"),
        )

        self._tools = W.ToggleButtons(options=_TOOL_OPTIONS, value="select",
                                      style={"button_width": "84px"})
        self._tools.observe(self._guarded(lambda ch: self._tool_from_buttons(ch["new"])), "value")
        self._radius = W.IntSlider(value=self.brush_radius, min=1, max=80, description="brush px",
                                   continuous_update=False, layout=W.Layout(width="250px"))
        self._radius.observe(self._guarded(lambda ch: self._set_radius(ch["new"])), "value")
        self._class = W.Dropdown(options=s.classes, description="class",
                                 value=s.classes[0] if s.classes else None,
                                 layout=W.Layout(width="260px"))
        self._class.observe(self._guarded(self._class_changed), "value")
        self._new_class = W.Text(placeholder="new class name", layout=W.Layout(width="150px"))
        self._add_class_btn = btn("Add class", "add a class to the picker", self._add_class)
        self._conf = W.FloatSlider(value=float(s.min_confidence), min=0.0, max=1.0, step=0.05,
                                   description="min conf", continuous_update=False,
                                   readout_format=".2f", layout=W.Layout(width="260px"))
        self._conf.observe(self._guarded(self._conf_changed), "value")
        self._accept_btn = btn("Accept (a)", "accept the selected proposal", self._accept_selected,
                               style="success")
        self._reject_btn = btn("Reject (r)", "reject the selected proposal", self._reject_selected,
                               style="danger")
        self._accept_all_btn = btn("Accept all ≥ min conf", "accept every pending proposal at or "
                                   "above the slider (Shift+A)", self._accept_all)
        self._delete_btn = btn("Delete", "delete the selected human instance / reject a proposal",
                               self._delete_selected)
        self._fit_btn = btn("Fit", "show the whole image (0)", self.fit)
        self._fit_btn.layout.min_width = "48px"
        self._list = W.Select(options=[], rows=12, layout=W.Layout(width="260px"))
        self._list.observe(self._guarded(self._list_changed), "value")
        self._help = W.Accordion(children=[W.HTML(KEYMAP_HTML)], selected_index=None)
        self._help.set_title(0, "Keys and mouse")
        self._side = W.VBox(
            [
                self._tools,
                W.HBox([self._radius, self._fit_btn]),
                self._class,
                W.HBox([self._new_class, self._add_class_btn]),
                self._conf,
                W.HBox([self._accept_btn, self._reject_btn]),
                W.HBox([self._accept_all_btn, self._delete_btn]),
                W.HTML("<b>Instances</b> (click to select)"),
                self._list,
                W.HBox([self._app_btn]),
                self._app_link,
                self._help,
            ],
            layout=W.Layout(width="340px", margin="0 0 0 8px"),
        )
        self._status = W.HTML(layout=W.Layout(min_height="22px"))

    def _button(self, text: str, tooltip: str, action: Callable[[], Any], style: str = "") -> W.Button:
        b = W.Button(description=text, tooltip=tooltip, button_style=style,
                     layout=W.Layout(width="auto"))
        b.on_click(self._guarded(lambda _b: action()))
        return b

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

    # ================================================================ rendering
    @contextmanager
    def _held(self) -> Iterator[None]:
        """Batch canvas commands into one message, like ipycanvas ``hold_canvas()``,
        but re-entrant: nested renders flush once, at the outermost exit."""
        if self._hold_depth:
            self._hold_depth += 1
            try:
                yield
            finally:
                self._hold_depth -= 1
            return
        self._hold_depth = 1
        try:
            with hold_canvas():
                yield
        finally:
            self._hold_depth = 0

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

    def _render_image(self) -> None:
        t0 = time.perf_counter()
        layer = self.canvas[0]
        try:
            view = self._src.view(self.vp)
            self._image_error = None
        except LabelkitError as exc:
            view = np.full((self.canvas_height, self.canvas_width, 3), R.BACKGROUND, np.uint8)
            self._image_error = str(exc)
            self.set_status(str(exc), error=True)
        t1 = time.perf_counter()
        self._image_bytes = R.encode_jpeg(view)
        t2 = time.perf_counter()
        with self._held():
            layer.clear()
            _put_encoded(layer, self._image_bytes)
            if self._image_error:
                layer.fill_style = "#eeeeee"
                layer.font = "14px sans-serif"
                layer.fill_text(self._image_error[:110], 12, 24)
        self.bytes_sent["image"] += len(self._image_bytes)
        self.timings["image_render_ms"] = (t1 - t0) * 1e3
        self.timings["image_encode_ms"] = (t2 - t1) * 1e3
        self.timings["image_send_ms"] = (time.perf_counter() - t2) * 1e3

    def overlay_style(self) -> R.OverlayStyle:
        """The current overlay options (selection, what is hidden)."""
        return R.OverlayStyle(selected=self.session.selected, show_rejected=self.show_rejected)

    def render_overlay_array(self) -> np.ndarray:
        """The RGBA overlay for the current sample and view (what layer 1 shows)."""
        return self._overlay.render(self.session.instances, self.vp, self.overlay_style())

    def _render_overlay(self) -> None:
        t0 = time.perf_counter()
        index, lut, _ = self._overlay.index_map(self.session.instances, self.vp, self.overlay_style())
        t1 = time.perf_counter()
        self._overlay_bytes = R.encode_overlay(index, lut)
        t2 = time.perf_counter()
        layer = self.canvas[1]
        with self._held():
            layer.clear()
            _put_encoded(layer, self._overlay_bytes)
        self.bytes_sent["overlay"] += len(self._overlay_bytes)
        self.timings["overlay_render_ms"] = (t1 - t0) * 1e3
        self.timings["overlay_encode_ms"] = (t2 - t1) * 1e3
        self.timings["overlay_send_ms"] = (time.perf_counter() - t2) * 1e3

    def _render_view(self) -> None:
        """Zoom or pan changed: both raster layers, plus the interaction layer."""
        with self._held():
            self._render_image()
            self._render_overlay()
            self._render_interaction()

    def _resend(self) -> None:
        """A browser view (re)connected: send the cached layers again."""
        with self._held():
            if self._image_bytes is not None:
                self.canvas[0].clear()
                _put_encoded(self.canvas[0], self._image_bytes)
            if self._overlay_bytes is not None:
                self.canvas[1].clear()
                _put_encoded(self.canvas[1], self._overlay_bytes)
            self._render_interaction()

    def _render_interaction(self, cursor: bool = True) -> None:
        """Layer 2: polygon in progress, box rubber band, refine clicks, brush cursor."""
        c = self.canvas[2]
        vp = self.vp
        with self._held():
            c.clear()
            if self._polygon:
                pts = [vp.to_canvas(x, y) for x, y in self._polygon]
                c.stroke_style = "#ffeb3b"
                c.line_width = 2
                if len(pts) > 1:
                    c.stroke_lines(pts + ([self._mouse] if self._mouse else []))
                elif self._mouse:
                    c.stroke_lines(pts + [self._mouse])
                c.fill_style = "#ffeb3b"
                c.fill_circles(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]), 3)
            if self._drag and self._drag.get("tool") == "box" and self._drag.get("moved"):
                (x0, y0), (x1, y1) = self._drag["start"], self._drag["last"]
                c.stroke_style = "#ffeb3b"
                c.line_width = 2
                c.set_line_dash([6, 4])
                c.stroke_rect(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
                c.set_line_dash([])
            if self._refine["pos"] or self._refine["neg"]:
                for pts, color in ((self._refine["pos"], "#00e676"), (self._refine["neg"], "#ff1744")):
                    for x, y in pts:
                        cx, cy = vp.to_canvas(x, y)
                        c.fill_style = color
                        c.fill_circle(cx, cy, 5)
                        c.stroke_style = "#ffffff"
                        c.line_width = 1
                        c.stroke_circle(cx, cy, 5)
            if cursor and self._mouse and self.tool in ("brush", "eraser"):
                cx, cy = self._mouse
                c.stroke_style = "#ffffff" if self.tool == "brush" else "#ff5252"
                c.line_width = 1.5
                c.stroke_circle(cx, cy, self.brush_radius)

    # ============================================================= list/controls
    def _instance_text(self, inst) -> str:
        conf = "" if inst.confidence is None else f"{inst.confidence:.2f}"
        extra = " (below min conf)" if inst.below_threshold and inst.state == "pending" else ""
        extra += " (empty)" if inst.empty else ""
        return f"{inst.k:>2} {_STATE_MARK.get(inst.state, '?')} {inst.label} {conf} {inst.state}{extra}"

    def _update_list(self) -> None:
        opts = [(self._instance_text(i), i.k) for i in self.session.instances]
        self._syncing = True
        try:
            self._list.options = opts
            self._list.value = self.session.selected
        finally:
            self._syncing = False

    def _sync_list_selection(self) -> None:
        self._syncing = True
        try:
            self._list.value = self.session.selected
        finally:
            self._syncing = False

    def _sync_class_to_selection(self) -> None:
        """Show the selected instance's class in the picker (without relabelling)."""
        k = self.session.selected
        if k is None:
            return
        label = self.session.instance(k).label
        if label in self._class.options and self._class.value != label:
            self._syncing = True
            try:
                self._class.value = label
            finally:
                self._syncing = False

    def _update_progress(self) -> None:
        s = self.session
        n, total = s.progress
        self._progress.max = max(total, 1)
        self._progress.value = n
        status = s.review_status or "not reviewed"
        self._progress_label.value = (
            f"<b>{n} of {total} reviewed</b> &nbsp; sample {s.index + 1}/{total} "
            f"<code>{os.path.basename(s.filepath)}</code> ({status})"
        )

    def _update_buttons(self) -> None:
        s = self.session
        self._undo_btn.disabled = not s.can_undo
        self._redo_btn.disabled = not s.can_redo
        self._prev_btn.disabled = s.index == 0
        self._next_btn.disabled = s.index >= len(s) - 1
        has_sel = s.selected is not None
        for b in (self._accept_btn, self._reject_btn, self._delete_btn):
            b.disabled = not has_sel

    def _update_classes(self) -> None:
        classes = self.session.classes
        cur = self._class.value
        self._syncing = True
        try:
            self._class.options = classes
            self._class.value = cur if cur in classes else (classes[0] if classes else None)
        finally:
            self._syncing = False

    def _list_changed(self, change) -> None:
        if self._syncing:
            return
        self.session.select(change["new"])

    def _class_changed(self, change) -> None:
        if self._syncing:
            return
        k = self.session.selected
        if k is not None and change["new"] and change["new"] != self.session.instance(k).label:
            self.session.relabel(k, change["new"])
            self.set_status(f"instance {k} is now '{change['new']}'")

    def _conf_changed(self, change) -> None:
        if self._syncing:
            return
        self.session.min_confidence = float(change["new"])

    def _add_class(self) -> None:
        name = self._new_class.value.strip()
        self.session.add_class(name)
        self._new_class.value = ""
        self._class.value = name
        self.set_status(f"class '{name}' added")

    @property
    def current_class(self) -> str | None:
        """The class picked for new instances."""
        return self._class.value

    @current_class.setter
    def current_class(self, name: str) -> None:
        self._class.value = name

    # ================================================================== actions
    def set_tool(self, tool: str) -> None:
        """Switch tool: "select", "brush", "eraser", "polygon", "box", "refine",
        "refine+" or "refine-"."""
        if tool in ("refine+", "refine-"):
            self.refine_positive = tool == "refine+"
            tool = "refine"
        if tool not in TOOLS:
            raise LabelkitError(f"unknown tool {tool!r}; tools are {', '.join(TOOLS)}")
        if tool != "polygon":
            self._polygon = []
        self.tool = tool
        value = ("refine+" if self.refine_positive else "refine-") if tool == "refine" else tool
        if self._tools.value != value:
            self._syncing = True
            try:
                self._tools.value = value
            finally:
                self._syncing = False
        self._render_interaction()
        hint = {
            "select": "click a mask to select it, drag to pan",
            "brush": "drag to paint the selected instance (nothing selected: a new one)",
            "eraser": "drag to erase (nothing selected: from every mask)",
            "polygon": "click vertices; double-click or Enter closes",
            "box": "drag a box around an object",
            "refine": "click on the object (+) or on background (−); g flips",
        }[tool]
        sign = (" (+)" if self.refine_positive else " (−)") if tool == "refine" else ""
        self.set_status(f"tool: {tool}{sign} — {hint}")

    def _tool_from_buttons(self, value: str) -> None:
        if not self._syncing:
            self.set_tool(value)

    def _set_radius(self, r: int) -> None:
        self.brush_radius = int(r)
        self._render_interaction()

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

    def fit(self) -> None:
        """Show the whole image."""
        self.vp.fit()
        self._render_view()

    def zoom(self, factor: float, cx: float | None = None, cy: float | None = None) -> None:
        """Zoom by ``factor`` around canvas point ``(cx, cy)`` (default: the centre)."""
        cx = self.canvas_width / 2 if cx is None else cx
        cy = self.canvas_height / 2 if cy is None else cy
        if self.vp.zoom_at(cx, cy, factor):
            self._render_view()

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

    def _reset_refine(self) -> None:
        self._refine = {"k": None, "pos": [], "neg": []}

    # ==================================================================== mouse
    def _image_point(self, cx: float, cy: float) -> tuple[float, float]:
        return self.vp.to_image(cx, cy)

    @_guard
    def handle_mouse_down(self, cx: float, cy: float) -> None:
        """A press at canvas point ``(cx, cy)`` (ipycanvas ``on_mouse_down``)."""
        now = time.monotonic()
        double = (
            self._last_down is not None
            and now - self._last_down[2] < _DOUBLE_CLICK_S
            and math.hypot(cx - self._last_down[0], cy - self._last_down[1]) <= 6
        )
        self._last_down = (cx, cy, now)
        self._mouse = (cx, cy)
        tool = self.tool
        if tool == "polygon":
            if double or self._near_first_vertex(cx, cy):
                self.close_polygon()
            else:
                self._polygon.append(self._image_point(cx, cy))
                self._render_interaction()
            return
        if tool == "refine":
            self._refine_click(cx, cy)
            return
        self._drag = {"tool": tool, "start": (cx, cy), "last": (cx, cy), "moved": False,
                      "points": [self._image_point(cx, cy)]}
        if tool in ("brush", "eraser"):
            self._draw_stroke_segment((cx, cy), (cx, cy))

    @_guard
    def handle_mouse_move(self, cx: float, cy: float) -> None:
        """Pointer moved to canvas point ``(cx, cy)`` (ipycanvas ``on_mouse_move``)."""
        self._mouse = (cx, cy)
        d = self._drag
        if d is None:
            if self.tool in ("brush", "eraser", "polygon"):
                self._render_interaction()
            return
        last = d["last"]
        if not d["moved"] and math.hypot(cx - d["start"][0], cy - d["start"][1]) > _CLICK_SLOP:
            d["moved"] = True
        d["last"] = (cx, cy)
        tool = d["tool"]
        if tool in ("brush", "eraser"):
            d["points"].append(self._image_point(cx, cy))
            self._draw_stroke_segment(last, (cx, cy))
        elif tool == "box":
            self._render_interaction(cursor=False)
        elif tool == "select" and d["moved"]:
            self.vp.pan(cx - last[0], cy - last[1])
            now = time.monotonic()
            if now - self._last_pan_render >= _PAN_INTERVAL_S:
                self._last_pan_render = now
                self._render_view()
                d["pending_render"] = False
            else:
                d["pending_render"] = True

    @_guard
    def handle_mouse_up(self, cx: float, cy: float) -> None:
        """Release at canvas point ``(cx, cy)`` (ipycanvas ``on_mouse_up``): finishes a
        click, a stroke, a box or a pan."""
        d = self._drag
        self._drag = None
        if d is None:
            return
        if (cx, cy) != d["last"]:
            if d["tool"] in ("brush", "eraser"):
                d["points"].append(self._image_point(cx, cy))
            elif d["tool"] == "select" and d["moved"]:
                self.vp.pan(cx - d["last"][0], cy - d["last"][1])
                d["pending_render"] = True
            d["last"] = (cx, cy)
        tool = d["tool"]
        if tool == "select":
            if d["moved"]:
                if d.get("pending_render"):
                    self._render_view()
            else:
                x, y = self._image_point(cx, cy)
                k = R.hit_test(self.session.instances, self.overlay_style(), x, y)
                self.session.select(k)
                if k is not None:
                    inst = self.session.instance(k)
                    conf = "" if inst.confidence is None else f", confidence {inst.confidence:.2f}"
                    self.set_status(f"selected {k}: {inst.label} ({inst.state}{conf})")
        elif tool in ("brush", "eraser"):
            self.apply_stroke(tool, d["points"])
        elif tool == "box":
            self._render_interaction()
            if d["moved"]:
                (x0, y0), (x1, y1) = (self._image_point(*d["start"]), self._image_point(cx, cy))
                self.add_box([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)])

    @_guard
    def handle_mouse_out(self, cx: float, cy: float) -> None:
        """The pointer left the canvas: finish a drag there (the release would be lost)."""
        if self._drag is not None:
            self.handle_mouse_up(*self._drag["last"])
        self._mouse = None
        self._render_interaction()

    @_guard
    def handle_wheel(self, dx: float, dy: float) -> None:
        """Wheel/trackpad scroll ``(deltaX, deltaY)``: zoom around the pointer."""
        if not dy:
            return
        factor = math.exp(-max(min(float(dy), 300.0), -300.0) * 0.002)
        cx, cy = self._mouse if self._mouse else (self.canvas_width / 2, self.canvas_height / 2)
        self.zoom(factor, cx, cy)

    def _draw_stroke_segment(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        c = self.canvas[2]
        with self._held():
            if a == b:
                c.clear()
            c.stroke_style = "rgba(255,255,255,0.55)" if self.tool == "brush" else "rgba(255,82,82,0.55)"
            c.line_width = 2 * self.brush_radius
            c.line_cap = "round"
            c.stroke_line(a[0], a[1], b[0], b[1])

    def apply_stroke(self, tool: str, points: list[tuple[float, float]]) -> None:
        """Apply a brush or eraser stroke (image-pixel points) through the session."""
        s = self.session
        radius = self.brush_radius / self.vp.scale
        k = s.selected
        t0 = time.perf_counter()
        try:
            if tool == "brush":
                if k is None:
                    new = s.paint(None, points, radius, label=self.current_class)
                    if new is None:
                        self.set_status("the stroke missed the image")
                    else:
                        self.set_status(f"new instance {new} ({self.current_class})")
                else:
                    s.paint(k, points, radius)
            else:
                changed = s.erase(k, points, radius)
                if not changed:
                    self.set_status("nothing to erase there")
        finally:
            self.timings["stroke_ms"] = (time.perf_counter() - t0) * 1e3
            self._render_interaction()

    def _near_first_vertex(self, cx: float, cy: float) -> bool:
        if len(self._polygon) < 3:
            return False
        fx, fy = self.vp.to_canvas(*self._polygon[0])
        return math.hypot(cx - fx, cy - fy) <= 8

    def close_polygon(self) -> None:
        """Turn the polygon in progress into a new instance of the picked class."""
        pts = self._polygon
        if len(pts) < 3:
            self.set_status(f"a polygon needs at least 3 vertices, it has {len(pts)}", error=True)
            return
        self._polygon = []
        self._render_interaction()
        k = self.session.add_polygon(pts, self.current_class)
        self.set_status(f"new instance {k} ({self.current_class}) from a {len(pts)}-vertex polygon")

    def add_box(self, box: list[float]) -> None:
        """Add an instance from an image-pixel box ``[x1, y1, x2, y2]`` (GrabCut inside)."""
        self.set_status("segmenting the box…")
        k = self.session.add_box(box, self.current_class)
        self.set_status(f"new instance {k} ({self.current_class}) from a box")

    def _refine_click(self, cx: float, cy: float) -> None:
        k = self._selected_or_hint("refine")
        if k is None:
            return
        x, y = self._image_point(cx, cy)
        if not self.vp.contains_image_point(x, y):
            return
        if self._refine["k"] != k:
            self._refine = {"k": k, "pos": [], "neg": []}
        (self._refine["pos"] if self.refine_positive else self._refine["neg"]).append((x, y))
        self._render_interaction()
        self.set_status("refining…")
        self.session.refine(k, positive=list(self._refine["pos"]), negative=list(self._refine["neg"]))
        self.set_status(
            f"refined {k} with {len(self._refine['pos'])} positive / "
            f"{len(self._refine['neg'])} negative click(s)"
        )

    # ================================================================= keyboard
    @_guard
    def handle_key(self, key: str, shift: bool = False, ctrl: bool = False, meta: bool = False) -> None:
        """A key press on the focused canvas (ipycanvas ``on_key_down``)."""
        s = self.session
        mod = ctrl or meta
        low = key.lower() if len(key) == 1 else key
        if mod:
            if low == "z" and not shift:
                if not s.undo():
                    self.set_status("nothing to undo")
            elif low == "y" or (low == "z" and shift):
                if not s.redo():
                    self.set_status("nothing to redo")
            return
        if key == "A" or (low == "a" and shift):
            self._accept_all()
        elif low == "a":
            self._accept_selected()
        elif low == "r":
            self._reject_selected()
        elif key in ("Delete", "Backspace"):
            if key == "Backspace" and self._polygon:
                self._polygon.pop()
                self._render_interaction()
            else:
                self._delete_selected()
        elif low == "b":
            self.set_tool("brush")
        elif low == "e":
            self.set_tool("eraser")
        elif low == "p":
            self.set_tool("polygon")
        elif low == "x":
            self.set_tool("box")
        elif low == "v":
            self.set_tool("select")
        elif low == "g":
            if self.tool == "refine":
                self.refine_positive = not self.refine_positive
            self.set_tool("refine")
        elif len(key) == 1 and key in "123456789":
            i = int(key) - 1
            classes = s.classes
            if i >= len(classes):
                self.set_status(f"there is no class {key}: the classes are {classes}", error=True)
                return
            self.current_class = classes[i]
            self.set_status(f"class: {classes[i]}")
        elif key == "Enter":
            if self.tool == "polygon" and self._polygon:
                self.close_polygon()
            else:
                self._submit()
        elif low == "s":
            s.skip()
        elif key == "ArrowRight":
            s.next()
        elif key == "ArrowLeft":
            s.prev()
        elif key == "Tab":
            self.cycle_selection(-1 if shift else 1)
        elif key == "Escape":
            if self._polygon or self._drag:
                self._polygon = []
                self._drag = None
                self._render_interaction()
            else:
                s.select(None)
        elif key in ("+", "="):
            self.zoom(1.5, *(self._mouse or (None, None)))
        elif key in ("-", "_"):
            self.zoom(1 / 1.5, *(self._mouse or (None, None)))
        elif key == "0":
            self.fit()
        elif key == "]":
            self._radius.value = min(self._radius.max, self.brush_radius + 2)
        elif key == "[":
            self._radius.value = max(self._radius.min, self.brush_radius - 2)

    def cycle_selection(self, step: int = 1) -> None:
        """Select the next (``step=1``) or previous visible instance, wrapping around."""
        style = R.OverlayStyle(selected=None, show_rejected=self.show_rejected)
        ks = [i.k for i in self.session.instances if R.is_visible(i, style)]
        if not ks:
            self.set_status("no instances to select on this sample")
            return
        cur = self.session.selected
        if cur is None or cur not in ks:
            k = ks[0] if step > 0 else ks[-1]
        else:
            k = ks[(ks.index(cur) + step) % len(ks)]
        self.session.select(k)
        inst = self.session.instance(k)
        conf = "" if inst.confidence is None else f", confidence {inst.confidence:.2f}"
        self.set_status(f"selected {k}: {inst.label} ({inst.state}{conf})")

    # ================================================================= lifecycle
    def close(self) -> None:
        """Stop observing the session and close the widget and its children."""
        unobserve = getattr(self, "_unobserve", None)
        if unobserve is not None:
            unobserve()
            self._unobserve = None
        super().close()
