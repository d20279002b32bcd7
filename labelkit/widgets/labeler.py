"""``Labeler``: the notebook widget that reviews model proposals with a ReviewSession.

Layering: the widget draws the session's state and turns clicks and keys into
session calls. It never reads or writes FiftyOne itself (the session does, through
:mod:`labelkit.store`); the one exception is the "Open in FiftyOne App" button,
which goes through the tiny :mod:`labelkit.widgets.app` helper.

Drawing: an ipycanvas ``MultiCanvas`` with four layers,

0. the image, rendered in numpy at canvas resolution from the coarsest adequate
   pyramid level (:class:`~labelkit.widgets.render.ImageSource`) and sent as JPEG;
1. the mask overlay, all instances in their state's style in one RGBA array
   (:func:`~labelkit.widgets.render.render_overlay`, without the selection) sent as
   PNG; after an edit only the bounding box of the pixels that changed is sent (a
   PNG patch drawn at its offset);
2. the selection: the selected instance's outline (its contour at display
   resolution), tint and tag as vector commands, so selecting (``Tab``, a click)
   sends a few hundred bytes and no image;
3. interaction: brush cursor, stroke preview, polygon in progress, box rubber band,
   refine clicks (a few vector commands).

Pixels travel as binary comm buffers, never base64 JSON. The image layer is
re-rendered only when the sample or the view (zoom/pan) changes; the overlay on
instance and threshold events. Every event's canvas commands go out as one message
first, then the render marker (the canvas's CSS class ``labelkit-render-<n>``),
then the updates of the list, buttons and status line. While a sample is reviewed,
the next one's preview, image JPEG and overlay PNG are prepared in the background
(:func:`prepare_sample`), so moving on sends bytes that are ready. Edits always
happen at full resolution in the session: canvas points are mapped to image pixels
by :class:`~labelkit.widgets.viewport.Viewport`.

Keyboard (click the image first so the canvas has the focus; until a key arrives the
status line says so). Notebook 7 takes letter keys, Enter and Escape for its own
command-mode shortcuts before the canvas sees them (``a`` adds a cell, ``x`` cuts
one): there the status line says to use the buttons, or JupyterLab, which lets the
focused canvas have every key::

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

import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
from ipycanvas import MultiCanvas

from .._summary import escape, safe_url
from ..errors import LabelkitError, ReviewError
from . import render as R
from ._canvas import CanvasMixin
from ._common import KEYMAP_HTML, N_LAYERS, TOOLS, _guard, logger  # noqa: F401 - re-exported
from ._controls import ControlsMixin
from .viewport import Viewport

#: the status hint in Notebook 7, whose shortcuts take letter keys before the canvas does
NOTEBOOK7_KEYS = (
    "Notebook 7 keeps letter keys, Enter and Esc for its own shortcuts: review with the "
    "buttons (Tab and the arrow keys work), or open this notebook in JupyterLab for every key"
)


@functools.lru_cache(maxsize=1)
def _front_end() -> str | None:
    """``"notebook7"`` when this kernel was started by a Notebook 7 server (``jupyter
    notebook``; its ``JPY_PARENT_PID`` process), else None (JupyterLab, unknown)."""
    pid = os.environ.get("JPY_PARENT_PID")
    if not pid:
        return None
    try:
        import psutil

        cmd = " ".join(psutil.Process(int(pid)).cmdline())
    except Exception:  # noqa: BLE001 - no psutil, no such process, no permission
        return None
    return "notebook7" if ("jupyter-notebook" in cmd or "-m notebook" in cmd) else None


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
        annotator: name written to ``reviewed_by``. Naming an annotator makes this
            a team review (unless ``claim=False``): the Labeler shows only samples it
            claims for this annotator, so people in other kernels on the same
            dataset never get the same image, and a team panel shows the room's
            counts (see :class:`~labelkit.review.session.ReviewSession`).
        min_confidence: initial position of the confidence slider: proposals below
            it are hidden and not taken by "accept all".
        canvas_size: ``"auto"`` (default): the canvas fills the width the page gives
            it (and at most the window's height), drawn from a
            :data:`AUTO_CANVAS_WIDTH`-pixel-wide bitmap with the first sample's aspect
            ratio, which the browser scales; or ``(width, height)``: a bitmap of that
            size shown at that size (smaller where the page is narrower).
            Mouse events arrive in bitmap pixels either way (ipycanvas divides by
            the CSS scale), which is what the viewport maps to image pixels.
        brush_radius: initial brush radius in canvas (bitmap) pixels (the stroke's
            radius in image pixels is this divided by the zoom scale).
        claim: team review on/off (default: on when ``annotator`` is given).
        batch_size: samples claimed at a time (team review; default 10).
        claim_ttl: seconds a claim survives without activity (default 300).
        overlap: an agreement study (a team review): each overlapped sample is
            reviewed by this many different annotators; extra reviews are shown
            blind (see :class:`~labelkit.review.session.ReviewSession`).
        overlap_fraction: the share of samples overlapped, in (0, 1] (default 1.0).
        segmenter: what the box tool (``x``) and click-to-refine (``g``) use to make
            masks: ``lk.models.grabcut()`` (default, offline) or
            ``lk.models.sam("facebook/sam-vit-base")``. A ``g`` click on an object with
            no instance (nothing selected) creates one of the picked class.

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
        canvas_size: tuple[int, int] | str = "auto",
        brush_radius: int = 10,
        claim: bool | None = None,
        batch_size: int | None = None,
        claim_ttl: float | None = None,
        segmenter=None,
        overlap: int | None = None,
        overlap_fraction: float | None = None,
    ):
        from ..review.session import ReviewSession

        parse_canvas_size(canvas_size)  # a bad size is refused before the review opens
        if isinstance(samples, ReviewSession):
            session = samples
        else:
            team = (annotator is not None or overlap is not None) if claim is None else bool(claim)
            session = ReviewSession(
                samples,
                proposals=proposals,
                labels=labels,
                classes=classes,
                annotator=annotator,
                min_confidence=min_confidence,
                claim=team,
                batch_size=batch_size,
                claim_ttl=claim_ttl,
                segmenter=segmenter,
                overlap=overlap,
                overlap_fraction=overlap_fraction,
            )
        self.session = session
        self.canvas_width, self.canvas_height = canvas_bitmap_size(canvas_size, session)
        self.canvas_auto = isinstance(canvas_size, str)

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
        self.canvas = MultiCanvas(N_LAYERS, width=self.canvas_width, height=self.canvas_height)
        self.canvas.layout = canvas_layout(self.canvas_width, self.canvas_height, self.canvas_auto)
        self.canvas.add_class("labelkit-canvas")
        self.canvas.on_mouse_down(self.handle_mouse_down)
        self.canvas.on_mouse_move(self.handle_mouse_move)
        self.canvas.on_mouse_up(self.handle_mouse_up)
        self.canvas.on_mouse_out(self.handle_mouse_out)
        self.canvas.on_mouse_wheel(self.handle_wheel)
        self.canvas.on_key_down(self.handle_key)
        self.canvas.on_client_ready(self._guarded(self._resend))

        self._build_controls()
        # an auto canvas takes what the side panel leaves (a fixed one its own width);
        # where less than ~520 px would be left, the side panel wraps under the canvas
        self._canvas_box = W.Box([self.canvas], layout=W.Layout(
            flex="1 1 520px" if self.canvas_auto else "0 1 auto", min_width="0"))
        self._body = W.HBox([self._canvas_box, self._side],
                            layout=W.Layout(flex_flow="row wrap", align_items="flex-start", width="100%"))
        super().__init__(
            children=[self._header, self._body, self._status],
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
        """Show a one-line message under the canvas (errors in red); ``text`` is plain
        text (escaped here: it often holds file, class or field names)."""
        self.status_text = text
        self.status_is_error = error
        self._defer("status", self._show_status)

    def _show_status(self) -> None:
        color = "#b00020" if self.status_is_error else "#333"
        self._status.value = f'<span style="color:{color}">{escape(self.status_text)}</span>'

    status_text = ""

    status_is_error = False

    #: True once a key press reached the widget: until then the status line tells the
    #: user to click the image (the canvas gets key events only while it has the focus,
    #: and some front ends never give it the focus by themselves)
    keys_received = False

    def _on_event(self, event) -> None:
        """Draw a session change. The canvas goes first (one message, then the render
        marker); the list, buttons, progress and status line follow (:meth:`_defer`).
        A selection change redraws only the selection layer, an edit only the changed
        part of the overlay (see :meth:`_render_overlay`)."""
        kind, value = event
        try:
            with self._held():
                self._on_event_held(kind, value)
        except LabelkitError as exc:
            self.set_status(str(exc), error=True)
        except Exception as exc:  # noqa: BLE001
            logger.exception("labelkit widget error")
            self.set_status(f"something went wrong: {type(exc).__name__}: {exc}", error=True)

    def _on_event_held(self, kind: str, value) -> None:
        if kind in ("instances", "selection", "threshold"):
            self._raster_dirty = True  # the page sees a marker for every visible change
        if kind == "sample":
            self._show_sample()
        elif kind == "instances":
            if self._refine["k"] is not None and self._refine["k"] >= len(self.session.instances):
                self._reset_refine()
            self._render_overlay()
            self._defer("list", self._update_list)
            self._defer("buttons", self._update_buttons)
        elif kind == "selection":
            if value != self._refine["k"]:
                self._reset_refine()
            self._render_selection()
            self._defer("list_selection", self._sync_list_selection)
            self._defer("class", self._sync_class_to_selection)
            self._defer("buttons", self._update_buttons)
        elif kind == "threshold":
            if abs(self._conf.value - float(value)) > 1e-9:
                self._syncing = True
                try:
                    self._conf.value = float(value)
                finally:
                    self._syncing = False
            self._render_overlay()
            self._defer("list", self._update_list)
        elif kind == "saved":
            self._defer("progress", self._update_progress)
            if self.session.db_status:  # saved locally: the database is away
                self.set_status(self.session.db_status, error=True)
            elif value in ("done", "skipped"):
                self.set_status(f"saved sample as {value}")
        elif kind == "db":
            # the session's plain-words database line (None: reachable again)
            if value:
                self.set_status(value, error=True)
            else:
                self.set_status("database reachable again: every decision is written")
        elif kind == "classes":
            self._update_classes()

    def _show_sample(self) -> None:
        """A new sample: fresh view, image source, caches and controls. What the
        background prepared for it (:meth:`_prepare_next`) is used where it is still
        current: the decoded preview, the encoded image view, and the encoded overlay
        when the sample opened with the very instances it was rendered from."""
        t0, c0 = time.perf_counter(), time.process_time()
        s = self.session
        self._mark_sample(s.sample_id)  # before the pixels: the page names the sample first
        self._polygon = []
        self._drag = None
        self._reset_refine()
        self.vp = Viewport(s.width, s.height, self.canvas_width, self.canvas_height)
        self._overlay.reset()
        self._overlay_keys = None
        self._selection_key = None
        path = s.filepath
        fw = max(1, math.ceil(s.width * self.vp.fit_scale))
        fh = max(1, math.ceil(s.height * self.vp.fit_scale))
        prep = self._take_prepared(path, fw, fh)
        preview = prep.preview if prep is not None else None
        if preview is None:
            preview = self._read_preview(fw, fh)
        if preview is not None and preview.shape[:2] != (s.height, s.width):
            # sanity: the preview's aspect must match the sample's metadata
            ph, pw = preview.shape[:2]
            if abs(pw / ph - s.width / s.height) > 0.02:
                preview = None
        self._src = R.ImageSource(s.width, s.height, preview, s.image, load_scaled=self._read_preview)
        self.timings["decode_ms"] = (time.perf_counter() - t0) * 1e3
        vp_key = self.vp.key()
        ready_image = prep is not None and preview is not None and prep.image_bytes is not None \
            and prep.vp_key == vp_key
        ready_overlay = prep is not None and prep.overlay_bytes is not None and prep.vp_key == vp_key \
            and prep.style == self.overlay_base_style() and _same_objects(prep.instances, s.instances)
        self.timings["prepared"] = float(ready_image) + 2 * float(ready_overlay)  # 3: both used
        with self._held():
            if ready_image:
                self._image_error = None
                self._send_image(prep.image_bytes)
                self.timings.update(image_render_ms=0.0, image_encode_ms=0.0, image_send_ms=0.0)
            else:
                self._render_image()
            if ready_overlay:
                self._overlay = prep.renderer  # its sampled masks are this sample's
                self._overlay_keys = (vp_key, prep.keys)
                self._overlay_state = (prep.index, prep.lut)
                self._overlay_tagged = {id(i) for i in prep.tagged}
                self._overlay_bytes = prep.overlay_bytes
                self._send_overlay(prep.overlay_bytes)
                self.timings.update(overlay_render_ms=0.0, overlay_encode_ms=0.0, overlay_send_ms=0.0)
                self._render_selection()
            else:
                self._render_overlay()
            self._render_interaction()
            self._defer("list", self._update_list)
            self._defer("progress", self._update_progress)
            self._defer("buttons", self._update_buttons)
            self._prepare_next()
            if self._image_error is None:
                hint = "" if self.keys_received else " (click the image so it receives keys)"
                if _front_end() == "notebook7":  # it keeps letter keys for its own shortcuts
                    hint = f" ({NOTEBOOK7_KEYS})"
                self.set_status(f"sample {s.index + 1} of {len(s)}: {os.path.basename(path)}{hint}")
            if s.db_status:  # keep the outage in sight while reviewing offline
                self.set_status(f"{s.db_status} (now: sample {s.index + 1} of {len(s)})", error=True)

            def timed() -> None:  # deferred last: the controls are part of a show
                self.timings["show_ms"] = (time.perf_counter() - t0) * 1e3
                self.timings["show_cpu_ms"] = (time.process_time() - c0) * 1e3

            self._defer("show_timing", timed)

    def _mark_sample(self, sample_id: str) -> None:
        """Name the shown sample in the widget's CSS class ``labelkit-sample-<id>``
        (one such class at a time), so a page (the browser tests) can tell which
        sample is on screen; set before the sample's render, whose canvas marker
        ``labelkit-render-<n>`` therefore follows it."""
        keep = tuple(c for c in self._dom_classes if not c.startswith("labelkit-sample-"))
        self._dom_classes = (*keep, f"labelkit-sample-{sample_id}")

    def _take_prepared(self, path: str, width: int, height: int) -> _Prepared | None:
        """What :meth:`_prepare_next` made for this image at this size, or None (not
        ready within a moment, failed, or made for another sample)."""
        future, self._ahead_preview = self._ahead_preview, None
        if future is None:
            return None
        if not future.done() and self._prepared_for not in (None, self.session.sample_id):
            future.cancel()  # made for another sample (a jump): don't wait for it
            return None
        try:
            prep = future.result(timeout=10)
        except Exception:  # noqa: BLE001 - cancelled, failed or slow: render it now instead
            return None
        return prep if prep is not None and prep.key == (path, width, height) else None

    _ahead_preview = None
    _prepared_for: str | None = None

    def _prepare_next(self) -> None:
        """Prepare the next sample in the background once the session has read it ahead
        (:meth:`~labelkit.review.session.ReviewSession.upcoming_instances`): decode its
        display preview, render and JPEG-encode the fitted image view, and render and
        PNG-encode its overlay from the instances it will open with, so moving on only
        sends bytes. :meth:`_show_sample` uses each part only while it is current (same
        file and size, same view, same instance objects, same overlay options): an edit
        or a re-read of that sample, a threshold change or a jump elsewhere make new
        instances, and the overlay is rendered then as usual."""
        if getattr(self, "_preview_pool", None) is None:
            from concurrent.futures import ThreadPoolExecutor

            self._preview_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelkit-preview")
        if self._ahead_preview is not None:
            self._ahead_preview.cancel()  # not started: not needed any more
        session, cw, ch, style = self.session, self.canvas_width, self.canvas_height, self.overlay_base_style()
        upcoming = getattr(session, "upcoming_instances", None)

        def work() -> _Prepared | None:
            if upcoming is not None:
                got = upcoming(timeout=30)
            else:  # a session without prepared instances: the record only
                record = session.upcoming(timeout=30)
                got = None if record is None else (record, None)
            if got is None:
                return None
            record, instances = got
            return prepare_sample(record, instances, cw, ch, style)

        self._prepared_for = getattr(session, "upcoming_id", None)
        self._ahead_preview = self._preview_pool.submit(work)

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
            href = safe_url(url)
            self._app_link.value = (
                f'<a href="{href}" target="_blank" rel="noopener">open the FiftyOne App ↗</a>'
                if href else ""
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
        pool = getattr(self, "_preview_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            self._preview_pool = None
        # what the display holds (image pyramid, sampled masks, prepared next sample)
        self._ahead_preview = None
        self._src = None
        self._overlay = R.OverlayRenderer()
        self._overlay_state = self._overlay_keys = None
        self._overlay_bytes = self._image_bytes = None
        self._selection_inst = None
        # the children too: each keeps callbacks bound to this widget (and so the
        # session, its masks and images) alive in ipywidgets' registry until closed
        for w in _descendants(self):
            w.close()
        super().close()


@dataclasses.dataclass
class _Prepared:
    """The next sample's display, made in the background (see :func:`prepare_sample`)."""

    key: tuple  # (filepath, preview min width, min height)
    vp_key: tuple
    preview: np.ndarray | None = None
    image_bytes: bytes | None = None
    instances: tuple | None = None  # the instance objects the overlay was rendered from
    style: R.OverlayStyle | None = None
    renderer: R.OverlayRenderer | None = None
    index: np.ndarray | None = None
    lut: np.ndarray | None = None
    keys: np.ndarray | None = None
    tagged: list = dataclasses.field(default_factory=list)
    overlay_bytes: bytes | None = None


def _no_full_image():
    raise LabelkitError("the full image is not read ahead")


def prepare_sample(record, instances, canvas_width: int, canvas_height: int,
                   style: R.OverlayStyle) -> _Prepared:
    """Render a sample's fitted display without a widget (the Labeler runs it in the
    background for the sample that comes next): the preview decoded at display
    resolution, the JPEG of the image view, and, given its ``instances``, the overlay
    index map and its PNG. A part that cannot be made is left None (the show then
    renders it as usual)."""
    vp = Viewport(record.width, record.height, canvas_width, canvas_height)
    fw = max(1, math.ceil(record.width * vp.fit_scale))
    fh = max(1, math.ceil(record.height * vp.fit_scale))
    prep = _Prepared(key=(record.filepath, fw, fh), vp_key=vp.key())
    prep.preview = R.read_preview(record.filepath, fw, fh)
    if prep.preview is not None:
        try:
            src = R.ImageSource(record.width, record.height, prep.preview, _no_full_image)
            prep.image_bytes = R.encode_jpeg(src.view(vp))
        except Exception:  # noqa: BLE001 - e.g. a preview too small: the show renders it
            prep.image_bytes = None
    if instances is not None:
        renderer = R.OverlayRenderer()
        index, lut, tagged = renderer.index_map(instances, vp, style)
        prep.instances = tuple(instances)
        prep.style = style
        prep.renderer = renderer
        prep.index, prep.lut, prep.tagged = index, lut, tagged
        prep.keys = R.color_keys(index, lut)
        prep.overlay_bytes = R.encode_overlay(index, lut)
    return prep


def _descendants(widget) -> list:
    """Every widget below ``widget`` (box children, MultiCanvas layers), deepest first."""
    out = []
    for child in list(getattr(widget, "children", ()) or ()) + list(getattr(widget, "_canvases", ()) or ()):
        if isinstance(child, W.Widget):
            out += _descendants(child)
            out.append(child)
    return out


def _same_objects(a, b) -> bool:
    """Whether two sequences hold the very same objects, in order."""
    return a is not None and len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


#: Width in pixels of the canvas bitmap with ``canvas_size="auto"``: about what a wide
#: screen shows at 1:1 (the browser scales it down on narrower pages, which keeps it
#: sharp), and what every render costs (image and overlay are drawn at this size).
AUTO_CANVAS_WIDTH = 960
#: Height range of the auto bitmap, as a fraction of its width (portrait images are
#: letterboxed into the tallest, panoramas into the flattest).
_AUTO_ASPECT = (0.5, 0.8)
#: Vertical room the page keeps for the toolbar and status line when the auto canvas
#: is limited by the window's height (CSS length).
_AUTO_CHROME = "170px"


def parse_canvas_size(canvas_size: tuple[int, int] | str) -> tuple[int, int] | None:
    """Check ``canvas_size`` (see :class:`Labeler`): ``(width, height)``, or None for
    ``"auto"``. Called before the review opens, so a bad value changes nothing.

    Raises:
        ReviewError: neither ``"auto"`` nor two positive integers, e.g.
            ``canvas_size must be 'auto' or (width, height) in pixels, got 'big'``.
    """
    if isinstance(canvas_size, str):
        if canvas_size == "auto":
            return None
    else:
        try:
            w, h = (int(v) for v in canvas_size)
        except (TypeError, ValueError):
            pass
        else:
            if w > 0 and h > 0:
                return w, h
    raise ReviewError(f"canvas_size must be 'auto' or (width, height) in pixels, got {canvas_size!r}")


def canvas_bitmap_size(canvas_size: tuple[int, int] | str, session) -> tuple[int, int]:
    """The canvas bitmap's ``(width, height)`` for ``canvas_size`` (see :class:`Labeler`).

    ``"auto"``: :data:`AUTO_CANVAS_WIDTH` wide, the first sample's aspect ratio
    (clamped to :data:`_AUTO_ASPECT`); an empty review gets 4:3.

    Raises:
        ReviewError: a bad ``canvas_size`` (see :func:`parse_canvas_size`).
    """
    fixed = parse_canvas_size(canvas_size)
    if fixed is not None:
        return fixed
    try:
        aspect = float(session.height) / float(session.width) if len(session) else 0.75
    except Exception:  # noqa: BLE001 - no readable first sample: a neutral shape
        aspect = 0.75
    lo, hi = _AUTO_ASPECT
    aspect = min(max(aspect, lo), hi) if math.isfinite(aspect) and aspect > 0 else 0.75
    return AUTO_CANVAS_WIDTH, int(round(AUTO_CANVAS_WIDTH * aspect))


def canvas_layout(width: int, height: int, auto: bool) -> W.Layout:
    """CSS size of the canvas: the bitmap is scaled by the browser, never distorted.

    ``auto``: ``width: 100%`` of the space beside the side panel, at most as wide as
    keeps the whole canvas inside the window's height, ``height: auto`` (the
    bitmap's aspect). Fixed: the bitmap's size, shrunk to the available width on
    narrow pages.
    """
    if auto:
        return W.Layout(width="100%", height="auto",
                        max_width=f"calc((100vh - {_AUTO_CHROME}) * {width / height:.4f})")
    return W.Layout(width=f"{width}px", height="auto", max_width="100%")
