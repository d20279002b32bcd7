"""``VideoLabeler``: the Labeler on the frames of a video, with tracks and keyframes.

``lk.Labeler(video_ds, proposals="frames.predictions", labels="frames.ground_truth")``
opens this widget for video collections. A frame is an image: the canvas, overlay,
tools, instance list and keys of :class:`~labelkit.widgets.labeler.Labeler` work
unchanged on the current frame, through a
:class:`~labelkit.review.video.VideoReviewSession` (which decides and writes;
this widget draws and forwards).

Added controls: a frame slider linked to a ``Play`` button (plays by stepping the
slider; each step saves the frame's decisions first, as every move does), step
±1 frame, jump to the previous/next keyframe, "Mark keyframe", "Interpolate now",
the selected instance's track (set it, or start a new track), and a line with the
frame's keyframe state and the video's keyframes. Masks are coloured by track, so
one object keeps its colour from frame to frame.

Keys, in addition to the Labeler's (``←``/``→`` step frames there too)::

    , / .        previous / next frame
    < / >        previous / next keyframe (Shift+, / Shift+.)
    k            mark the frame as a keyframe (pending proposals rejected, labels kept)
    i            interpolate now (the current video)
    n            give the selected instance a new track
    Enter        mark keyframe and go to the next frame
"""

from __future__ import annotations

import ipywidgets as W

from .._summary import escape
from ._common import _STATE_MARK, KEYMAP_HTML, _guard
from ._controls import _group
from .labeler import Labeler, parse_canvas_size

VIDEO_KEYMAP_HTML = """
<div style="font-size:12px;line-height:1.5">
<b>Video:</b> <b>,</b>/<b>.</b> (or <b>←/→</b>) prev/next frame · <b>&lt;</b>/<b>&gt;</b> prev/next keyframe ·
<b>k</b> mark keyframe · <b>Enter</b> keyframe &amp; next frame · <b>i</b> interpolate now ·
<b>n</b> new track for the selected instance · <b>a</b> on an interpolated label: keep it as a keyframe
</div>
"""


class VideoLabeler(Labeler):
    """Review proposals on video frames: the Labeler plus a frame slider, play/step,
    keyframes, tracks and interpolation.

    Args:
        samples: a video ``fo.Dataset``, a view, a dataset name, or an existing
            :class:`~labelkit.review.video.VideoReviewSession`.
        proposals: the frame field with model proposals (``"frames.<name>"``).
        labels: the frame field the reviewed labels go to.
        classes: classes for new labels (default: those found in the collection).
        annotator: name written to ``reviewed_by``.
        min_confidence: initial position of the confidence slider.
        canvas_size: ``"auto"`` (fill the page's width) or ``(width, height)`` in
            pixels, as for :class:`~labelkit.widgets.labeler.Labeler`.
        brush_radius: initial brush radius in canvas pixels.
        play_interval_ms: milliseconds per frame when playing.

    Example:
        >>> labeler = lk.Labeler(video_ds, proposals="frames.predictions",
        ...                      labels="frames.ground_truth")  # doctest: +SKIP
        >>> labeler.session.mark_keyframe()                      # doctest: +SKIP
    """

    @classmethod
    def handles(cls, samples) -> bool:
        """Whether ``samples`` (collection, dataset name or session) holds videos:
        ``lk.Labeler(samples)`` then opens a VideoLabeler."""
        from ..review.session import ReviewSession
        from ..store.dataset import is_video_collection

        if isinstance(samples, ReviewSession):
            return hasattr(samples, "frame_number")
        return is_video_collection(samples)

    def __init__(
        self,
        samples,
        proposals: str = "frames.predictions",
        labels: str = "frames.ground_truth",
        classes: list[str] | None = None,
        annotator: str | None = None,
        min_confidence: float = 0.0,
        canvas_size: tuple[int, int] | str = "auto",
        brush_radius: int = 10,
        play_interval_ms: int = 250,
        segmenter=None,
    ):
        from ..review.video import VideoReviewSession

        parse_canvas_size(canvas_size)  # a bad size is refused before the review opens
        if isinstance(samples, VideoReviewSession):
            session = samples
        else:
            session = VideoReviewSession(
                samples,
                proposals=_frames(proposals),
                labels=_frames(labels),
                classes=classes,
                annotator=annotator,
                min_confidence=min_confidence,
                segmenter=segmenter,
            )
        self._play_interval = int(play_interval_ms)
        super().__init__(session, canvas_size=canvas_size, brush_radius=brush_radius)
        # one bar: the Labeler's toolbar carries the frame controls (see _build_controls);
        # the frame's keyframe line sits under it
        self.children = (self._header, self._video_bar, *self.children[1:])
        self.add_class("labelkit-video-labeler")
        self._status.add_class("labelkit-status")
        self._guarded(self._update_video_bar)()

    # ================================================================= controls
    def _build_controls(self) -> None:
        super()._build_controls()
        s = self.session
        btn = self._button
        self._prev_btn.description, self._prev_btn.tooltip = "◀ Frame", "previous frame (, or ←)"
        self._next_btn.description, self._next_btn.tooltip = "Frame ▶", "next frame (. or →)"
        self._skip_btn.tooltip = "mark this frame skipped and go to the next (s)"
        self._submit_btn.description = "Keyframe ✓ & next"
        self._submit_btn.tooltip = "mark this frame as a keyframe and go to the next frame (Enter)"
        n = s.frame_count
        self._frame = W.IntSlider(value=s.frame_number, min=1, max=max(n, 1), description="frame",
                                  continuous_update=False, layout=W.Layout(width="420px"))
        self._frame.observe(self._guarded(self._frame_changed), "value")
        self._play = W.Play(value=s.frame_number, min=1, max=max(n, 1), step=1,
                            interval=self._play_interval, description="play", show_repeat=False)
        self._play_link = W.jslink((self._play, "value"), (self._frame, "value"))
        self._prev_key_btn = btn("◀◀ Keyframe", "previous keyframe (<)", lambda: s.prev_keyframe())
        self._next_key_btn = btn("Keyframe ▶▶", "next keyframe (>)", lambda: s.next_keyframe())
        self._mark_btn = btn("Mark keyframe (k)", "this frame is reviewed: its labels become keyframes, "
                             "pending proposals are rejected", self.mark_keyframe, style="info")
        self._interp_btn = btn("Interpolate now (i)", "fill the frames between keyframes of each track "
                               "(lk.interpolate on this video)", self.interpolate_now, style="warning")
        self._video_pick = W.Dropdown(
            options=[(f"{i + 1}: {v.filepath.rsplit('/', 1)[-1]}", i) for i, v in enumerate(s.videos)],
            value=s.video_index, description="video", layout=W.Layout(width="260px"),
        )
        self._video_pick.layout.display = "" if len(s.videos) > 1 else "none"
        self._video_pick.observe(self._guarded(self._video_changed), "value")
        self._frame_info = W.HTML()
        self._track = W.BoundedIntText(value=0, min=0, max=10**9, description="track",
                                       disabled=True, layout=W.Layout(width="150px"))
        self._set_track_btn = btn("Set track", "the selected instance continues this track",
                                  self._set_track)
        self._new_track_btn = btn("New track (n)", "give the selected instance a new track id",
                                  self._new_track)
        self._help.children = [W.HTML(KEYMAP_HTML + VIDEO_KEYMAP_HTML)]
        # one toolbar, in groups that wrap as units: progress | frame navigation
        # (step, play, slider, keyframe jumps) | keyframe actions | undo/redo | video
        self._frame.layout.width = "300px"
        self._frame.style.description_width = "44px"
        self._header.children = (
            _group(self._progress, self._progress_label),
            _group(self._prev_btn, self._play, self._frame, self._next_btn),
            _group(self._prev_key_btn, self._next_key_btn),
            _group(self._mark_btn, self._submit_btn, self._skip_btn, self._interp_btn),
            _group(self._undo_btn, self._redo_btn),
            _group(self._video_pick),
        )
        self._header.children[-1].layout.display = self._video_pick.layout.display
        self._header.add_class("labelkit-video-toolbar")
        #: the frame's keyframe state, under the toolbar
        self._video_bar = W.HBox([self._frame_info], layout=W.Layout(margin="0 0 4px 0"))
        # the selected instance's track belongs with the instance list
        self._track.style.description_width = "40px"
        self._track.layout.width = "120px"
        track_row = W.HBox([self._track, self._set_track_btn, self._new_track_btn],
                           layout=W.Layout(align_items="center"))
        inst = self._sections["instances"]
        inst.children = (*inst.children, track_row)

    def _show_sample(self) -> None:
        super()._show_sample()
        s = self.session
        if self._image_error is None:
            name = s.filepath.rsplit("/", 1)[-1]
            self.set_status(f"frame {s.frame_number} of {s.frame_count}: {name}")

    def _read_preview(self, width: int, height: int):
        return None  # a frame is decoded once, by the session; the full frame is the source

    def _sync(self, widget, value) -> None:
        if widget.value != value:
            self._syncing = True
            try:
                widget.value = value
            finally:
                self._syncing = False

    def _update_video_bar(self) -> None:
        if not hasattr(self, "_frame"):
            return
        s = self.session
        n = s.frame_count
        if self._frame.max != n:
            self._syncing = True
            try:
                self._frame.max = self._play.max = max(n, 1)
            finally:
                self._syncing = False
        self._sync(self._frame, s.frame_number)
        self._sync(self._video_pick, s.video_index)
        keys = s.keyframes
        fn = s.frame_number
        labels = s.frame_labels()
        n_key = sum(t.keyframe for t in labels)
        n_interp = sum(t.interpolated for t in labels)
        if fn in keys:
            state = "<b style='color:#2e7d32'>★ keyframe</b>"
        elif n_interp:
            state = "<span style='color:#ef6c00'>interpolated</span>"
        else:
            state = "not reviewed"
        shown = ", ".join(str(k) for k in keys[:20]) + (" …" if len(keys) > 20 else "")
        self._frame_info.value = (
            f"frame <b>{fn}</b> / {n} · {state} · stored: {n_key} keyframe, {n_interp} interpolated "
            f"label(s) · keyframes: {escape(shown) or 'none yet'}"
        )
        self._prev_key_btn.disabled = not any(k < fn for k in keys)
        self._next_key_btn.disabled = not any(k > fn for k in keys)
        self._sync_track()

    def _sync_track(self) -> None:
        k = self.session.selected
        has = k is not None
        self._track.disabled = self._set_track_btn.disabled = self._new_track_btn.disabled = not has
        if has:
            t = getattr(self.session.instance(k), "track", None)
            if t is not None:
                self._sync(self._track, int(t))

    def _on_event(self, event) -> None:
        super()._on_event(event)
        if event.kind in ("sample", "saved", "selection", "instances"):
            try:
                self._update_video_bar()
            except Exception as exc:  # noqa: BLE001 - a widget must keep working
                self.set_status(f"something went wrong: {type(exc).__name__}: {exc}", error=True)

    def _update_progress(self) -> None:
        s = self.session
        n, total = s.progress
        self._progress.max = max(total, 1)
        self._progress.value = n
        name = s.filepath.rsplit("/", 1)[-1]
        self._progress_label.value = (
            f"<b>{n} of {total} frames reviewed</b> &nbsp; video {s.video_index + 1}/{len(s.videos)} "
            f"<code>{escape(name)}</code> frame {s.frame_number}/{s.frame_count} "
            f"({escape(s.review_status or 'not reviewed')})"
        )

    def _instance_text(self, inst) -> str:
        conf = "" if inst.confidence is None else f" {inst.confidence:.2f}"
        track = "#?" if getattr(inst, "track", None) is None else f"#{inst.track}"
        flag = " ★key" if getattr(inst, "keyframe", False) else (" ~interp" if getattr(inst, "interpolated", False) else "")
        extra = " (below min conf)" if inst.below_threshold and inst.state == "pending" else ""
        extra += " (empty)" if inst.empty else ""
        return f"{inst.k:>2} {_STATE_MARK.get(inst.state, '?')} {track} {inst.label}{conf} {inst.state}{flag}{extra}"

    # ================================================================== actions
    def _frame_changed(self, change) -> None:
        if self._syncing:
            return
        self.session.goto_frame(int(change["new"]))

    def _video_changed(self, change) -> None:
        if self._syncing or change["new"] is None:
            return
        self.session.goto_frame(1, video=int(change["new"]))

    def goto_frame(self, frame_number: int) -> None:
        """Show frame ``frame_number`` (1-based) of the current video."""
        self.session.goto_frame(frame_number)

    def mark_keyframe(self) -> None:
        """Mark the current frame as a keyframe (see ``VideoReviewSession.mark_keyframe``)."""
        n = self.session.mark_keyframe()
        self.set_status(f"frame {self.session.frame_number} is a keyframe ({n} label(s))")

    def interpolate_now(self) -> None:
        """Interpolate the current video's tracks between their keyframes."""
        self.set_status("interpolating…")
        summary = self.session.interpolate()
        self.set_status(
            f"interpolated {summary.interpolated} label(s) between {summary.keyframes} keyframe(s) "
            f"of {summary.tracks} track(s)"
        )

    def _set_track(self) -> None:
        k = self._selected_or_hint("set its track")
        if k is not None:
            self.session.set_track(k, int(self._track.value))
            self.set_status(f"instance {k} continues track {int(self._track.value)}")

    def _new_track(self) -> None:
        k = self._selected_or_hint("give it a new track")
        if k is not None:
            t = self.session.new_track(k)
            self.set_status(f"instance {k} starts track {t}")

    def _submit(self) -> None:
        fn = self.session.frame_number
        self.session.submit()
        self.set_status(f"frame {fn} is a keyframe; now frame {self.session.frame_number}")

    # ================================================================= keyboard
    @_guard
    def handle_key(self, key: str, shift: bool = False, ctrl: bool = False, meta: bool = False) -> None:
        """A key press on the focused canvas: video keys, else the Labeler's."""
        s = self.session
        if not (ctrl or meta):
            if key == ",":
                s.prev()
                return
            if key == ".":
                s.next()
                return
            if key == "<":
                s.prev_keyframe()
                return
            if key == ">":
                s.next_keyframe()
                return
            if key == "k" or key == "K":
                self.mark_keyframe()
                return
            if key == "i" or key == "I":
                self.interpolate_now()
                return
            if key == "n" or key == "N":
                self._new_track()
                return
        super().handle_key(key, shift=shift, ctrl=ctrl, meta=meta)

    def close(self) -> None:
        """Stop observing the session, release the video, close the widget."""
        super().close()
        self.session.close()


def _frames(field: str) -> str:
    return field if field.startswith("frames.") else f"frames.{field}"
