"""The Labeler's canvas and input: rendering the three layers, mouse, wheel and keys.

:class:`CanvasMixin` is one part of :class:`~labelkit.widgets.labeler.Labeler`: it
draws the image, the overlay and the interaction layer of the ``MultiCanvas``, maps
canvas points to image pixels through the :class:`~labelkit.widgets.viewport.Viewport`,
and turns mouse gestures and key presses into session calls (brush strokes, polygon,
box, refine clicks, the keyboard map). State lives on the Labeler.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from ipycanvas import hold_canvas

from ..errors import LabelkitError
from . import render as R
from ._common import (
    _CLICK_SLOP,
    _DOUBLE_CLICK_S,
    _PAN_INTERVAL_S,
    IMAGE_LAYER,
    INTERACTION_LAYER,
    OVERLAY_LAYER,
    PATCH_MAX_FRACTION,
    SELECTION_LAYER,
    _guard,
    _put_encoded,
)


class CanvasMixin:
    """Canvas rendering and input handling of the Labeler (see the module docstring)."""

    # ================================================================ rendering
    @contextmanager
    def _held(self) -> Iterator[None]:
        """Batch canvas commands into one message, like ipycanvas ``hold_canvas()``,
        but re-entrant: nested renders flush once, at the outermost exit. After the
        flush come the render marker and then the control updates deferred meanwhile
        (:meth:`_defer`), so the pixels of an event reach the page first."""
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
            try:
                if self._raster_dirty:  # after the flush: the marker follows the pixels
                    self._bump_render_marker()
            finally:
                self._run_deferred()

    def _defer(self, name: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` after the canvas flush of the event being handled (at once when
        none is): list, buttons, status line and other controls update after the pixels
        and the render marker. One entry per ``name`` (the last ``fn`` given wins)."""
        if not self._hold_depth:
            fn()
            return
        if self._deferred is None:
            self._deferred = {}
        self._deferred[name] = fn

    def _run_deferred(self) -> None:
        while self._deferred:
            todo, self._deferred = self._deferred, None
            for fn in todo.values():
                fn()

    _deferred: dict | None = None

    #: visible renders flushed so far; the canvas carries the CSS class
    #: ``labelkit-render-<n>`` so a page (bench/browser.py) sees each one
    render_count = 0

    #: something visible changed since the last flush (a layer was drawn, or the
    #: session reported a change the widget shows): the next flush bumps the marker
    _raster_dirty = False

    def _bump_render_marker(self) -> None:
        self._raster_dirty = False
        self.render_count += 1
        keep = tuple(c for c in self.canvas._dom_classes if not c.startswith("labelkit-render-"))
        self.canvas._dom_classes = (*keep, f"labelkit-render-{self.render_count}")

    def _render_image(self) -> None:
        t0 = time.perf_counter()
        try:
            view = self._src.view(self.vp)
            self._image_error = None
        except LabelkitError as exc:
            view = np.full((self.canvas_height, self.canvas_width, 3), R.BACKGROUND, np.uint8)
            self._image_error = str(exc)
            self.set_status(str(exc), error=True)
        t1 = time.perf_counter()
        data = R.encode_jpeg(view)
        t2 = time.perf_counter()
        self._send_image(data)
        self.timings["image_render_ms"] = (t1 - t0) * 1e3
        self.timings["image_encode_ms"] = (t2 - t1) * 1e3
        self.timings["image_send_ms"] = (time.perf_counter() - t2) * 1e3

    def _send_image(self, data: bytes) -> None:
        """Layer 0: the encoded image view (plus the error text of an unreadable image)."""
        self._raster_dirty = True
        self._image_bytes = data
        layer = self.canvas[IMAGE_LAYER]
        with self._held():
            layer.clear()
            _put_encoded(layer, data)
            if self._image_error:
                layer.fill_style = "#eeeeee"
                layer.font = "14px sans-serif"
                layer.fill_text(self._image_error[:110], 12, 24)
        self.bytes_sent["image"] += len(data)

    def overlay_style(self) -> R.OverlayStyle:
        """The current overlay options (selection, what is hidden); hit testing uses
        it (the selection is on top)."""
        return R.OverlayStyle(selected=self.session.selected, show_rejected=self.show_rejected)

    def overlay_base_style(self) -> R.OverlayStyle:
        """What layer 1 draws: :meth:`overlay_style` without the selection, which the
        selection layer draws on top (so selecting never re-sends the overlay)."""
        return R.OverlayStyle(selected=None, show_rejected=self.show_rejected)

    def render_overlay_array(self) -> np.ndarray:
        """The RGBA overlay for the current sample and view (what layer 1 shows: every
        visible instance in its state's style; the selection is on layer 2)."""
        return self._overlay.render(self.session.instances, self.vp, self.overlay_base_style())

    def _render_overlay(self) -> None:
        """Layer 1, then the selection layer. Only what changed is sent: nothing when the
        overlay looks the same, a patch (PNG of the changed pixels' bounding box, drawn
        at its offset) when the change covers at most :data:`PATCH_MAX_FRACTION` of the
        canvas in the same view, else the whole overlay."""
        t0 = time.perf_counter()
        vp = self.vp
        self._selection_first()
        index, lut, tagged = self._overlay.index_map(self.session.instances, vp, self.overlay_base_style())
        keys = R.color_keys(index, lut)
        region: tuple[int, int, int, int] | None = (0, index.shape[0], 0, index.shape[1])
        prev = self._overlay_keys
        if prev is not None and prev[0] == vp.key() and prev[1].shape == keys.shape:
            region = R.changed_region(prev[1], keys)
        t1 = time.perf_counter()
        self._overlay_keys = (vp.key(), keys)
        self._overlay_state = (index, lut)
        self._overlay_tagged = {id(i) for i in tagged}
        self.timings["overlay_render_ms"] = (t1 - t0) * 1e3
        if region is None:  # looks the same (e.g. an edit of a hidden instance)
            self.timings["overlay_encode_ms"] = self.timings["overlay_send_ms"] = 0.0
            self.timings["overlay_patch_px"] = 0
        else:
            r0, r1, c0, c1 = region
            full = (r1 - r0) * (c1 - c0) > PATCH_MAX_FRACTION * index.size
            if full:
                data = R.encode_overlay(index, lut)
                self._overlay_bytes = data
            else:
                data = R.encode_overlay(index[r0:r1, c0:c1], lut)
                self._overlay_bytes = None  # the full bytes are encoded again if a view reconnects
            t2 = time.perf_counter()
            self._send_overlay(data, None if full else (c0, r0, c1 - c0, r1 - r0))
            self.timings["overlay_encode_ms"] = (t2 - t1) * 1e3
            self.timings["overlay_send_ms"] = (time.perf_counter() - t2) * 1e3
            self.timings["overlay_patch_px"] = index.size if full else (r1 - r0) * (c1 - c0)
        self._render_selection()

    def _send_overlay(self, data: bytes, patch: tuple[int, int, int, int] | None = None) -> None:
        """Layer 1: the whole overlay, or ``data`` drawn in the rectangle ``patch``
        (``x, y, w, h``) after clearing it (the canvas composites; a patch replaces)."""
        self._raster_dirty = True
        layer = self.canvas[OVERLAY_LAYER]
        with self._held():
            if patch is None:
                layer.clear()
                _put_encoded(layer, data)
            else:
                x, y, w, h = patch
                layer.clear_rect(x, y, w, h)
                _put_encoded(layer, data, x, y)
        self.bytes_sent["overlay"] += len(data)

    _overlay_keys: tuple | None = None
    _overlay_state: tuple | None = None
    _overlay_tagged: set = frozenset()
    _selection_key: object = None
    #: the selection outline last drawn on layer 2: ``(outer, holes)`` polygon lists in
    #: canvas pixels (see :func:`~labelkit.widgets.render.selection_polygons`); empty
    #: when nothing is selected or the selection is off-screen
    selection_outline: tuple = ((), ())

    def _selection_first(self) -> None:
        """An edit of the selected instance (accept, reject, a stroke, a class change)
        inside a key or mouse event: draw its selection layer (vector commands, painted
        the moment they arrive) and send it now with its own render marker, before the
        overlay is rendered and its PNG patch (which the page must decode) follows in a
        second message. Whether the overlay tags the instance is carried over from the
        instance it replaces (the same ``k``), so the layer is not drawn twice."""
        if not self._hold_depth or self._overlay_keys is None:
            return
        s = self.session
        k = s.selected
        old = self._selection_inst
        if k is None or old is None or not 0 <= k < len(s.instances):
            return
        inst = s.instances[k]
        if inst is old or getattr(inst, "k", None) != getattr(old, "k", None):
            return
        if id(old) in self._overlay_tagged:
            self._overlay_tagged = {*self._overlay_tagged, id(inst)}
        if self._render_selection():
            self._flush_now()

    def _flush_now(self) -> None:
        """Inside an event's hold: send the canvas commands drawn so far now, with their
        render marker, and go on holding (the rest of the event follows in another
        message)."""
        if not self._hold_depth:
            return
        self.canvas[SELECTION_LAYER].flush()
        if self._raster_dirty:
            self._bump_render_marker()

    def _render_selection(self) -> bool:
        """Layer 2: the selected instance as vector commands: a tint in its colour, a
        2-pixel white outline along its contour (scaled to the display) and its tag when
        the overlay has none for it. A few hundred bytes, no image to decode; redrawn
        only when the selection, the selected instance, the view or what the overlay
        shows of it changed.

        Returns:
            True when the layer was drawn again (False: nothing about it changed)."""
        s = self.session
        k = s.selected
        inst = s.instances[k] if k is not None and 0 <= k < len(s.instances) else None
        vp = self.vp
        drawn = inst is not None and R.is_visible(inst, self.overlay_base_style())
        tagged = inst is not None and id(inst) in self._overlay_tagged
        key = (None,) if inst is None else (id(inst), vp.key(), drawn, tagged)
        if key == self._selection_key and (inst is None or self._selection_inst is inst):
            return False
        self._selection_key = key
        self._selection_inst = inst
        self._raster_dirty = True
        layer = self.canvas[SELECTION_LAYER]
        outer, holes = [], []
        with self._held():
            layer.clear()
            got = None if inst is None or inst.box is None else self._overlay.sampled(inst, vp)
            if got is not None:
                u0, v0, sub = got
                outer, holes = R.selection_polygons(u0, v0, sub)
            if outer:
                r, g, b = R.instance_color(R.color_index(inst))
                alpha = R.selection_fill_alpha(inst, drawn) / 255.0
                layer.fill_style = f"rgba({r},{g},{b},{alpha:.3f})"
                layer.fill_polygons(outer)
                if holes:  # cut the holes out of the tint
                    layer.global_composite_operation = "destination-out"
                    layer.fill_style = "#000000"
                    layer.fill_polygons(holes)
                    layer.global_composite_operation = "source-over"
                layer.stroke_style = "#ffffff"
                layer.line_width = 2
                layer.line_join = "round"
                layer.stroke_polygons(outer + holes)
                if not tagged:
                    text = R.tag_text(inst)
                    x, y, w, h, base = R.tag_box(text, u0, v0, self.canvas_width, self.canvas_height)
                    layer.fill_style = "rgba(0,0,0,0.67)"
                    layer.fill_rect(x, y, w, h)
                    layer.fill_style = "#ffffff"
                    layer.font = "11px sans-serif"
                    layer.fill_text(text, x + 2, base, w - 3)
        self.selection_outline = (tuple(outer), tuple(holes))
        return True

    _selection_inst = None

    def _render_view(self) -> None:
        """Zoom or pan changed: both raster layers, the selection and the interaction layer."""
        with self._held():
            self._render_image()
            self._render_overlay()
            self._render_interaction()

    def _resend(self) -> None:
        """A browser view (re)connected: send the cached layers again."""
        self._raster_dirty = True
        with self._held():
            if self._image_bytes is not None:
                self.canvas[IMAGE_LAYER].clear()
                _put_encoded(self.canvas[IMAGE_LAYER], self._image_bytes)
            if self._overlay_bytes is None and self._overlay_state is not None:
                self._overlay_bytes = R.encode_overlay(*self._overlay_state)
            if self._overlay_bytes is not None:
                self.canvas[OVERLAY_LAYER].clear()
                _put_encoded(self.canvas[OVERLAY_LAYER], self._overlay_bytes)
            self._selection_key = None  # draw it again
            self._render_selection()
            self._render_interaction()

    def _render_interaction(self, cursor: bool = True) -> None:
        """Layer 3: polygon in progress, box rubber band, refine clicks, brush cursor."""
        c = self.canvas[INTERACTION_LAYER]
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
        c = self.canvas[INTERACTION_LAYER]
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
        x, y = self._image_point(cx, cy)
        if not self.vp.contains_image_point(x, y):
            return
        k = self.session.selected
        if k is None:
            if not self.refine_positive:
                self.set_status("a negative click needs a selected instance (Tab selects one)", error=True)
                return
            # a click on an object with no instance: the segmenter makes one
            label = self.current_class
            if label is None:
                self.set_status("pick a class first (1-9 or the class picker)", error=True)
                return
            self.set_status("segmenting…")
            k = self.session.add_from_clicks([(x, y)], label)
            self._refine = {"k": k, "pos": [(x, y)], "neg": []}
            self._render_interaction()
            self.set_status(f"new {label} from a click ({self.session.instances[k].tool})")
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
        self.keys_received = True
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
