"""The Labeler's layout in a real browser, at 1024 and 1600 px wide windows (issue #14).

Runs the quickstart notebook in JupyterLab + headless Chromium (Run > Run All
Cells), then, at a 1024x768 and at a 1600x900 viewport:

* the canvas fits inside the window and the widget, keeps its bitmap's aspect
  ratio, and is wider in the wider window (it follows the page's width);
* a click on a proposal's centre selects that proposal although the browser draws
  the canvas scaled (mouse events are mapped back to bitmap pixels);
* no button's or label's text is clipped (``scrollWidth <= clientWidth``) and the
  side panel does not stick out of the widget;
* every row of the instance list has a swatch in its mask's colour
  (``render.instance_color``) and the selected instance's row is highlighted.

Screenshots: ``test-artifacts/layout-1024.png`` and ``test-artifacts/layout-1600.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import pytest
from _jupyter import (
    ARTIFACTS,
    ROOT,
    dismiss,
    jupyter_lab,
    launch_chromium,
    open_and_run_all,
    require_browser,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

SAMPLE_DATA = Path(os.environ.get("LABELKIT_SAMPLE_DATA") or ROOT / "sample_data")
SIZES = [(1024, 768), (1600, 900)]

#: the geometry of the widget's parts, measured in the page
_MEASURE = """(w) => {
  const r = (e) => { const b = e.getBoundingClientRect();
                     return {x: b.x, y: b.y, width: b.width, height: b.height, right: b.right}; };
  const c = w.querySelector('canvas.labelkit-canvas');
  const clipped = [];
  for (const e of w.querySelectorAll('button, .widget-label, .widget-readout')) {
    if (e.offsetParent === null) continue;  // hidden (e.g. a collapsed accordion)
    if (e.scrollWidth > e.clientWidth + 1)
      clipped.push(`${e.tagName} '${e.textContent.trim()}' ${e.scrollWidth}>${e.clientWidth}`);
  }
  const opts = [...w.querySelectorAll('.labelkit-instances select option')].map((o) => {
    const s = getComputedStyle(o);
    return {text: o.textContent, swatch: s.borderLeftColor, swatchWidth: s.borderLeftWidth,
            weight: s.fontWeight, background: s.backgroundColor, selected: o.selected};
  });
  return {widget: r(w), canvas: r(c), bitmap: [c.width, c.height], side: r(w.querySelector('.labelkit-side')),
          clipped, options: opts, viewport: [window.innerWidth, window.innerHeight],
          file: (w.querySelector('.labelkit-toolbar code') || {}).textContent};
}"""


@pytest.fixture
def quickstart_lab(tmp_path):
    require_browser()
    if not (SAMPLE_DATA / "models" / "sample_maskrcnn.pt").is_file():
        pytest.skip("the bundled sample model is not built yet")
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "01_quickstart.ipynb", root / "notebooks")
    name = f"lk-layout-{uuid.uuid4().hex[:8]}"
    env = {
        "LABELKIT_SAMPLE_DATA": str(SAMPLE_DATA),
        "LABELKIT_QUICKSTART_DATASET": name,
        "LABELKIT_QUICKSTART_LIMIT": "3",
        "LABELKIT_NO_APP": "1",
        "LABELKIT_EXPORT_DIR": str(tmp_path / "exports"),
        "LABELKIT_ANNOTATOR": "layout-test",
    }
    try:
        with jupyter_lab(tmp_path, root, env) as lab:
            yield {**lab, "dataset": name}
    finally:
        import fiftyone as fo

        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def _rgb(color) -> str:
    return "rgb({}, {}, {})".format(*color)


def _click_target(sample, m: dict) -> tuple[int, float, float]:
    """A proposal of ``sample`` and the page point of its box centre on the canvas:
    the highest-confidence one whose centre lies in no other proposal's box."""
    w, h = sample.metadata.width, sample.metadata.height
    dets = list(sample.predictions.detections)
    boxes = [d.bounding_box for d in dets]

    def inside(px, py, b):
        return b[0] <= px <= b[0] + b[2] and b[1] <= py <= b[1] + b[3]

    order = sorted(range(len(dets)), key=lambda i: -(dets[i].confidence or 0))
    for k in order:
        bx, by, bw, bh = boxes[k]
        cx, cy = bx + bw / 2, by + bh / 2
        if any(inside(cx, cy, b) for j, b in enumerate(boxes) if j != k):
            continue
        # the fitted view: the image centred in the bitmap at scale min(bw/W, bh/H)
        cw, ch = m["bitmap"]
        s = min(cw / w, ch / h)
        ux = (cw - w * s) / 2 + cx * w * s
        uy = (ch - h * s) / 2 + cy * h * s
        css = m["canvas"]["width"] / cw  # the browser's scale of the bitmap
        return k, m["canvas"]["x"] + ux * css, m["canvas"]["y"] + uy * css
    raise AssertionError(f"no proposal of {sample.filepath} has a free centre")


def test_layout_fills_the_width_from_1024_to_1600_px(quickstart_lab, fo):
    from playwright.sync_api import sync_playwright

    from labelkit.widgets.render import REJECTED_RGB, instance_color

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": SIZES[0][0], "height": SIZES[0][1]})
        try:
            open_and_run_all(page, quickstart_lab, "notebooks/01_quickstart.ipynb")
            widget = page.locator(".labelkit-labeler").first
            canvas = widget.locator("canvas.labelkit-canvas")
            canvas.wait_for(state="visible", timeout=240_000)
            page.get_by_text("labels.json").first.wait_for(timeout=240_000)
            dismiss(page)
            ds = fo.load_dataset(quickstart_lab["dataset"])
            widths = []
            for vw, vh in SIZES:
                page.set_viewport_size({"width": vw, "height": vh})
                page.wait_for_timeout(800)  # let the page reflow
                canvas.scroll_into_view_if_needed()
                page.wait_for_timeout(300)
                m = widget.evaluate(_MEASURE)
                c, wd = m["canvas"], m["widget"]

                # the canvas follows the width and fits in the window and the widget
                assert c["x"] >= -1 and c["right"] <= vw + 1, (vw, c)
                assert c["right"] <= wd["right"] + 1, (c, wd)
                assert c["height"] <= vh, (vh, c)
                bw, bh = m["bitmap"]
                assert abs(c["width"] / c["height"] - bw / bh) < 0.02, "the canvas is distorted"
                assert m["side"]["right"] <= wd["right"] + 1, ("the side panel sticks out", m["side"], wd)
                assert not m["clipped"], f"clipped text at {vw} px: {m['clipped']}"
                widths.append(c["width"])

                # a click on a proposal's centre selects it (CSS scaling accounted for)
                sample = ds.match(fo.ViewField("filepath").ends_with("/" + m["file"])).first()
                k, x, y = _click_target(sample, m)
                page.keyboard.press("Escape")
                page.mouse.click(x, y)
                widget.get_by_text(re.compile(rf"^selected {k}: ")).first.wait_for(timeout=30_000)
                page.wait_for_timeout(500)
                m = widget.evaluate(_MEASURE)

                # swatches in the masks' colours; the selected row highlighted
                assert m["options"], "the instance list is empty"
                for o in m["options"]:
                    ok = int(o["text"].replace("\xa0", " ").split()[0])
                    want = REJECTED_RGB if "rejected" in o["text"] else instance_color(ok)
                    assert o["swatch"] == _rgb(want), o
                    assert float(o["swatchWidth"].rstrip("px")) >= 10, o
                sel = [o for o in m["options"] if o["selected"]]
                assert len(sel) == 1 and int(sel[0]["text"].replace("\xa0", " ").split()[0]) == k, sel
                assert int(sel[0]["weight"]) >= 600, sel
                others = [o for o in m["options"] if not o["selected"]]
                assert all(int(o["weight"]) < 600 for o in others), others
                page.screenshot(path=str(ARTIFACTS / f"layout-{vw}.png"))
            assert widths[1] > widths[0] + 100, f"the canvas did not grow with the window: {widths}"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "layout-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
