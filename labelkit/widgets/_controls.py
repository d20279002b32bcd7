"""The Labeler's controls: buttons, tool picker, class picker, confidence slider, instance list, progress.

:class:`ControlsMixin` is one part of :class:`~labelkit.widgets.labeler.Labeler`: it
builds the ipywidgets around the canvas and keeps them in step with the session
(list of instances, class list, progress, enabled buttons). State lives on the Labeler.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from ..errors import LabelkitError
from ._common import _STATE_MARK, _TOOL_OPTIONS, KEYMAP_HTML, TOOLS


class ControlsMixin:
    """Controls of the Labeler (see the module docstring)."""

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
