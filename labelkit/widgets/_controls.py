"""The Labeler's controls: buttons, tool picker, class picker, confidence slider, instance list, progress.

:class:`ControlsMixin` is one part of :class:`~labelkit.widgets.labeler.Labeler`: it
builds the ipywidgets around the canvas and keeps them in step with the session
(list of instances, class list, progress, enabled buttons). State lives on the Labeler.

Layout: a toolbar above the canvas of groups that wrap as units (progress,
navigation, skip/submit, undo/redo) and a fixed-width side panel of titled sections
(review actions, tools, class, instances, help). The instance list is a ``W.Select``
(keyboard-friendly, plain-text rows); a scoped ``<style>`` block (:func:`list_css`)
gives each row a swatch in its mask's colour and a colour per state, and a second,
one-rule block (:func:`list_selection_css`) the highlight of the selected instance
(selecting re-sends only that).
Text that reaches a ``W.HTML`` value (file names, review status) is escaped with
:func:`labelkit._summary.escape`; ``Select``/``Dropdown`` labels are plain text in
ipywidgets 8 (``textContent``) and need no escaping.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from .._summary import escape
from ..errors import LabelkitError
from . import render as R
from ._common import _STATE_MARK, _TOOL_OPTIONS, KEYMAP_HTML, TOOLS

#: Width of the side panel (px); its widgets are sized to fit inside it.
_SIDE_W = 320
#: Width of one tool button (px): three per row in the side panel, none clipped.
_TOOL_BUTTON_W = 96
#: Text colour and decoration per instance state in the list (the mark in the text
#: says the same for readers that do not see colour).
_STATE_STYLE = {
    "pending": "color:#212121",
    "accepted": "color:#1b5e20",
    "edited": "color:#0d47a1",
    "new": "color:#4a148c",
    "rejected": "color:#9e9e9e;text-decoration:line-through",
}


def _group(*children: W.Widget) -> W.HBox:
    """Controls that belong together in a toolbar: one unit that wraps as a whole."""
    box = W.HBox(list(children), layout=W.Layout(align_items="center", flex="0 0 auto",
                                                 margin="2px 12px 2px 0"))
    box.add_class("labelkit-group")
    return box


def _section(title: str, rows: list[W.Widget]) -> W.VBox:
    """A titled group of the side panel (``title`` is trusted markup, no user text)."""
    head = W.HTML(f"<b>{title}</b>", layout=W.Layout(margin="6px 0 0 0"))
    box = W.VBox([head, *rows], layout=W.Layout(border_top="1px solid #e0e0e0", padding="0 0 4px 0"))
    box.add_class("labelkit-section")
    return box


def swatch_color(inst) -> tuple[int, int, int]:
    """The RGB colour of an instance's list swatch: its mask's colour on the canvas
    (rejected masks are drawn as a grey hatch, so their swatch is that grey)."""
    if inst.state == "rejected":
        return tuple(int(c) for c in R.REJECTED_RGB)
    return R.instance_color(R.color_index(inst))


def list_css(scope: str, instances, selected: int | None = None) -> str:
    """The ``<style>`` block that colours the instance list (a ``W.Select``).

    Row ``i`` (the ``i``-th option, instance ``instances[i]``) gets a swatch in its
    mask's colour (:func:`swatch_color`: :func:`~labelkit.widgets.render.instance_color`
    of :func:`~labelkit.widgets.render.color_index`, as the overlay uses), a text colour
    for its state (rejected: grey, struck through) and the selected row a highlight.
    Only numbers and fixed words reach the CSS: no user text, nothing to escape.

    Args:
        scope: the CSS class the list carries (rules apply to that list only).
        instances: the session's instances, in list order.
        selected: the selected instance's k, or None.
    """
    sel = f".{scope} select option"
    rules = [f"{sel}{{padding:2px 4px;border-left:14px solid #ccc;margin:1px 0}}"]
    for i, inst in enumerate(instances, start=1):
        r, g, b = swatch_color(inst)
        state = _STATE_STYLE.get(inst.state, "")
        if inst.below_threshold and inst.state == "pending":
            state = "color:#9e9e9e;font-style:italic"
        rules.append(f"{sel}:nth-child({i}){{border-left-color:rgb({r},{g},{b});{state}}}")
    return "<style>" + "".join(rules + _selection_rules(scope, instances, selected)) + "</style>"


def list_selection_css(scope: str, instances, selected: int | None) -> str:
    """The ``<style>`` block of the selected row's highlight alone (bold, a light
    background, an outline in its mask's colour; empty rules when nothing is
    selected). The Labeler keeps it apart from :func:`list_css`'s per-row rules, so
    selecting sends one rule, not one per instance."""
    return "<style>" + "".join(_selection_rules(scope, instances, selected)) + "</style>"


def _selection_rules(scope: str, instances, selected: int | None) -> list[str]:
    rules = []
    for i, inst in enumerate(instances, start=1):
        if inst.k == selected:
            r, g, b = swatch_color(inst)
            rules.append(f".{scope} select option:nth-child({i}){{font-weight:bold;background:#fff3c4;"
                         f"outline:1px solid rgb({r},{g},{b})}}")
    return rules


class ControlsMixin:
    """Controls of the Labeler (see the module docstring)."""

    # ================================================================= controls
    def _build_controls(self) -> None:
        """Build the controls, grouped: a toolbar above the canvas (progress,
        navigation, submit/skip, undo/redo) and a side panel of sections (review
        actions, tools, class, instance list, help). Every widget gets a width it
        can show its whole text in (``tests/browser/test_layout_browser.py``
        checks that no button's text is clipped at 1024 and 1600 px)."""
        s = self.session
        btn = self._button
        self._progress = W.IntProgress(min=0, max=max(len(s), 1), layout=W.Layout(width="160px"))
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
            [_group(self._progress, self._progress_label),
             _group(self._prev_btn, self._next_btn),
             _group(self._skip_btn, self._submit_btn),
             _group(self._undo_btn, self._redo_btn)],
            layout=W.Layout(align_items="center", flex_flow="row wrap", width="100%"),
        )
        self._header.add_class("labelkit-toolbar")

        self._tools = W.ToggleButtons(options=_TOOL_OPTIONS, value="select",
                                      style={"button_width": f"{_TOOL_BUTTON_W}px"})
        self._tools.observe(self._guarded(lambda ch: self._tool_from_buttons(ch["new"])), "value")
        self._radius = W.IntSlider(value=self.brush_radius, min=1, max=80, description="brush px",
                                   continuous_update=False, layout=W.Layout(width=f"{_SIDE_W - 64}px"))
        self._radius.observe(self._guarded(lambda ch: self._set_radius(ch["new"])), "value")
        self._class = W.Dropdown(options=s.classes, description="class",
                                 value=s.classes[0] if s.classes else None,
                                 layout=W.Layout(width=f"{_SIDE_W - 8}px"))
        self._class.observe(self._guarded(self._class_changed), "value")
        self._new_class = W.Text(placeholder="new class name", layout=W.Layout(width=f"{_SIDE_W - 110}px"))
        self._add_class_btn = btn("Add class", "add a class to the picker", self._add_class)
        self._conf = W.FloatSlider(value=float(s.min_confidence), min=0.0, max=1.0, step=0.05,
                                   description="min conf", continuous_update=False,
                                   readout_format=".2f", layout=W.Layout(width=f"{_SIDE_W - 8}px"))
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
        self._list = W.Select(options=[], rows=12, layout=W.Layout(width=f"{_SIDE_W - 8}px"))
        self._list.observe(self._guarded(self._list_changed), "value")
        # the list's colour swatches, state colours and selection highlight: CSS rules
        # scoped to this list (a Select's options are plain text; see _list_css)
        self._list_class = f"labelkit-list-{id(self):x}"
        self._list.add_class("labelkit-instances")
        self._list.add_class(self._list_class)
        self._list_style = W.HTML(layout=W.Layout(height="0px", margin="0"))
        self._list_sel_style = W.HTML(layout=W.Layout(height="0px", margin="0"))
        self._help = W.Accordion(children=[W.HTML(KEYMAP_HTML)], selected_index=None)
        self._help.set_title(0, "Keys and mouse")
        #: side-panel sections by name (subclasses add rows, e.g. the video track row)
        self._sections = {
            "review": _section("Review", [
                W.HBox([self._accept_btn, self._reject_btn]),
                W.HBox([self._accept_all_btn, self._delete_btn]),
                self._conf,
            ]),
            "tools": _section("Tools", [self._tools, W.HBox([self._radius, self._fit_btn])]),
            "class": _section("Class", [self._class, W.HBox([self._new_class, self._add_class_btn])]),
            "instances": _section("Instances <small>(click to select; colour = mask)</small>",
                                  [self._list, self._list_style, self._list_sel_style]),
        }
        self._side = W.VBox(
            [
                *self._sections.values(),
                W.HBox([self._app_btn]),
                self._app_link,
                self._help,
            ],
            layout=W.Layout(width=f"{_SIDE_W}px", min_width=f"{_SIDE_W}px", margin="0 0 0 8px"),
        )
        self._side.add_class("labelkit-side")
        self._status = W.HTML(layout=W.Layout(min_height="22px"))
        #: team review: a line with the room's counts (lk.progress), refreshed on each write
        self._team = W.HTML(layout=W.Layout(margin="0 0 4px 0"))
        if getattr(s, "claims", None) is not None:
            self._side.children = (self._team, *self._side.children)

    def _button(self, text: str, tooltip: str, action: Callable[[], Any], style: str = "") -> W.Button:
        b = W.Button(description=text, tooltip=tooltip, button_style=style,
                     layout=W.Layout(width="auto", flex="0 0 auto"))
        b.on_click(self._guarded(lambda _b: action()))
        return b

    # ============================================================= list/controls
    def _instance_text(self, inst) -> str:
        conf = "" if inst.confidence is None else f"{inst.confidence:.2f}"
        extra = " (below min conf)" if inst.below_threshold and inst.state == "pending" else ""
        extra += " (empty)" if inst.empty else ""
        return f"{inst.k:>2} {_STATE_MARK.get(inst.state, '?')} {inst.label} {conf} {inst.state}{extra}"

    def _update_list(self) -> None:
        """Rows of the instance list: replaced only when a row's text changed, options
        and value in one message (``hold_sync``)."""
        opts = tuple((self._instance_text(i), i.k) for i in self.session.instances)
        self._syncing = True
        try:
            if opts != tuple(tuple(o) for o in self._list.options):
                with self._list.hold_sync():
                    self._list.options = opts
                    self._list.value = self._list_value()
            else:
                value = self._list_value()
                if self._list.value != value:
                    self._list.value = value
        finally:
            self._syncing = False
        self._update_list_style()

    def _sync_list_selection(self) -> None:
        self._syncing = True
        try:
            value = self._list_value()
            if self._list.value != value:
                self._list.value = value
        finally:
            self._syncing = False
        self._update_list_style(rows=False)

    def _update_list_style(self, rows: bool = True) -> None:
        """Colour swatches and state colours of the list (``rows``), and the selection
        highlight (its own small style block: a selection change sends only that)."""
        instances = self.session.instances
        if rows:
            css = list_css(self._list_class, instances)
            if self._list_style.value != css:
                self._list_style.value = css
        css = list_selection_css(self._list_class, instances, self._list_value())
        if self._list_sel_style.value != css:
            self._list_sel_style.value = css

    def _list_value(self) -> int | None:
        """The session's selection if the list shows it, else None.

        While the session reports a change of its instances (an undo that removes
        the selected instance, say), its selection may still name an instance that
        is gone: the "selection" event follows. ``Select.value`` must be one of the
        options (ipywidgets raises ``TraitError`` otherwise), so a stale k shows as
        no selection until that event arrives.
        """
        k = self.session.selected
        if k is None or not any(v == k for _, v in self._list.options):
            return None
        return k

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
        if getattr(s, "claims", None) is not None and getattr(s, "is_copy", False):
            status += "; extra review for the agreement study, shown blind"
        self._progress_label.value = (
            f"<b>{n} of {total} reviewed</b> &nbsp; sample {s.index + 1}/{total} "
            f"<code>{escape(os.path.basename(s.filepath))}</code> ({escape(status)})"
        )
        self._update_team()

    def _update_team(self) -> None:
        """The team panel: reviewed / claimed / free and who did how many (team reviews)."""
        s = self.session
        if getattr(s, "claims", None) is None:
            return
        from ..store.progress import progress

        try:
            p = progress(s.samples, proposals=None)
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not break the widget
            self._team.value = f"<i>team progress unavailable: {escape(str(exc)[:120])}</i>"
            return
        who = ", ".join(f"{escape(a.name)} {a.done}" for a in p.annotators.values())
        self._team.value = (
            f"<b>Team</b> ({escape(s.annotator)}): {p.reviewed}/{p.total} reviewed, "
            f"{p.claimed} claimed, {p.free} free" + (f"<br><small>{who}</small>" if who else "")
            + (f"<br><small>{escape(p.overlap_line())}</small>" if p.overlap_line() else "")
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
