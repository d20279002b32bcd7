"""HTML in file and class names stays text in a real browser (issue #10).

A notebook imports an image named ``<img src=x onerror=window.__pwned=1>.jpg``
(plus an unreadable ``<svg onload=...>.jpg`` the import skips), proposes with a
``from_callable`` model whose classes are ``<b>bold</b>`` and an ``<img onerror>``,
and shows the import summary, the propose summary and ``lk.Labeler``. In JupyterLab
+ headless Chromium: no injected element exists anywhere on the page, no handler
ran (``window.__pwned`` stays undefined), and the raw names are visible as text in
the Labeler's progress line, instance list, class picker and status line (after
accepting a proposal with the keyboard) and in both summaries.
Screenshot: ``test-artifacts/html-names.png``.
"""

from __future__ import annotations

import re
import uuid

import pytest
from _jupyter import (
    ARTIFACTS,
    dismiss,
    jupyter_lab,
    launch_chromium,
    open_and_run_all,
    require_browser,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

FILE = "<img src=x onerror=window.__pwned=1>.jpg"
BAD_FILE = "<svg onload=window.__pwned=3>.jpg"
BOLD = "<b>bold</b>"
IMG_CLASS = "<img src=x onerror=window.__pwned=2>"

CELLS = [
    f"""import os
import numpy as np
from PIL import Image
import labelkit as lk

folder = os.environ["LK_HTML_IMAGES"]
img = np.full((240, 320, 3), 90, np.uint8)
img[60:140, 40:120] = (220, 40, 40)
Image.fromarray(img).save(os.path.join(folder, {FILE!r}), format="JPEG")
open(os.path.join(folder, {BAD_FILE!r}), "wb").write(b"not a jpeg")
ds, imported = lk.load_images(folder, name=os.environ["LK_HTML_DATASET"], return_summary=True)
imported""",
    f"""model = lk.models.from_callable(
    lambda images: [{{"boxes": [[40, 60, 120, 140], [150, 100, 260, 200]], "labels": [0, 1],
                     "scores": [0.9, 0.7]}} for _ in images],
    classes=[{BOLD!r}, {IMG_CLASS!r}])
lk.propose(ds, model, field="predictions", progress=False)""",
    """labeler = lk.Labeler(ds, proposals="predictions", labels="ground_truth", canvas_size=(480, 360))
labeler""",
]


@pytest.fixture
def html_lab(tmp_path):
    require_browser()
    root = tmp_path / "lab"
    images = tmp_path / "images"
    root.mkdir()
    images.mkdir()
    write_notebook(root / "html_names.ipynb", CELLS)
    name = f"lk-html-{uuid.uuid4().hex[:8]}"
    try:
        with jupyter_lab(tmp_path, root, {"LK_HTML_IMAGES": str(images), "LK_HTML_DATASET": name,
                                         "LABELKIT_ANNOTATOR": "<i>annotator</i>"}) as lab:
            yield {**lab, "dataset": name}
    finally:
        import fiftyone as fo

        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def _no_injection(page) -> None:
    assert page.locator("img[src='x']").count() == 0, "an <img src=x> from a name was injected"
    assert page.locator("svg[onload]").count() == 0, "an <svg onload> from a name was injected"
    assert page.evaluate("typeof window.__pwned") == "undefined", "a handler from a name ran"
    outputs = page.locator(".jp-OutputArea")
    assert outputs.locator("b", has_text=re.compile(r"^bold$")).count() == 0, "<b>bold</b> became markup"
    assert outputs.locator("i", has_text=re.compile(r"^annotator$")).count() == 0


def test_html_in_file_and_class_names_is_shown_as_text_in_jupyterlab(html_lab, fo):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            open_and_run_all(page, html_lab, "html_names.ipynb")
            widget = page.locator(".labelkit-labeler")
            canvas = widget.locator("canvas.labelkit-canvas")
            canvas.wait_for(state="visible", timeout=180_000)
            widget.get_by_text("0 of 1 reviewed").first.wait_for(timeout=60_000)
            dismiss(page)

            # the progress line and the instance list show the names as text
            progress = widget.locator(".widget-html-content", has_text="reviewed").first
            assert FILE in progress.inner_text()
            # (ipywidgets shows spaces in options as no-break spaces)
            options = [o.replace("\xa0", " ") for o in widget.locator("select option").all_inner_texts()]
            assert any(BOLD in o for o in options) and any(IMG_CLASS in o for o in options), options
            assert not any("&lt;" in o for o in options), f"double-escaped: {options}"
            # the summaries above the widget, too
            outputs = page.locator(".jp-OutputArea")
            outputs.locator("code", has_text=BAD_FILE).first.wait_for(timeout=10_000)  # import: skipped
            assert outputs.locator("td", has_text=BOLD).count() >= 1  # propose: per-class table
            assert outputs.locator("td", has_text=IMG_CLASS).count() >= 1
            _no_injection(page)

            # accept the first proposal with the keyboard: the status line names its class
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            page.mouse.click(box["x"] + 5, box["y"] + 5)
            page.keyboard.press("Tab")
            page.keyboard.press("a")
            status = widget.get_by_text(f"accepted 0 ({BOLD})", exact=False)
            status.first.wait_for(timeout=30_000)
            _no_injection(page)
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "html-names.png"), full_page=True)

            # and the review itself stored the names unchanged
            page.keyboard.press("Enter")
            widget.get_by_text("1 of 1 reviewed").first.wait_for(timeout=30_000)
            ds = fo.load_dataset(html_lab["dataset"])
            sample = ds.first()
            assert sample.filepath.endswith("/" + FILE)
            assert sample.review_status == "done" and sample.reviewed_by == "<i>annotator</i>"
            assert [d.label for d in sample.ground_truth.detections] == [BOLD]
            _no_injection(page)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "html-names-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
