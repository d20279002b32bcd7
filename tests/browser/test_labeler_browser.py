"""The Labeler in a real browser: JupyterLab + Debian Chromium driven by Playwright.

Runs the quickstart notebook (Run > Run All Cells), then focuses the widget's canvas,
accepts a proposal with the keyboard, paints a new instance with a mouse drag,
submits with Enter, and checks -- by reading the same FiftyOne database from this
process -- that the labels landed with labelkit's provenance. Saves a screenshot
to ``test-artifacts/labeler.png``.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; never ``playwright
install``). Without it the test is skipped, unless ``LABELKIT_REQUIRE_BROWSER=1``
(CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from _jupyter import dismiss as _dismiss
from _jupyter import jupyter_lab, launch_chromium, open_and_run_all, require_browser
from _jupyter import wait_for as _wait_for

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SAMPLE_DATA = Path(os.environ.get("LABELKIT_SAMPLE_DATA") or ROOT / "sample_data")

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]


def _require():
    """The browser (see ``_jupyter.require_browser``) and the bundled sample model."""
    require_browser()
    if not (SAMPLE_DATA / "models" / "sample_maskrcnn.pt").is_file():
        why = "the bundled sample model is not built yet"
        if os.environ.get("LABELKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required but cannot run: {why}")
        pytest.skip(why)


@pytest.fixture
def lab_server(tmp_path):
    """JupyterLab on a free port, rooted in a temp copy of notebooks/, with the
    test's FiftyOne database inherited by its kernels."""
    _require()
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "01_quickstart.ipynb", root / "notebooks")
    name = f"lk-browser-{uuid.uuid4().hex[:8]}"
    env = dict(
        LABELKIT_SAMPLE_DATA=str(SAMPLE_DATA),
        LABELKIT_QUICKSTART_DATASET=name,
        LABELKIT_QUICKSTART_LIMIT="3",
        LABELKIT_NO_APP="1",
        LABELKIT_EXPORT_DIR=str(tmp_path / "exports"),
        LABELKIT_ANNOTATOR="browser-test",
    )
    try:
        with jupyter_lab(tmp_path, root, env) as lab:
            yield {**lab, "dataset": name}
    finally:
        import fiftyone as fo

        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def test_review_in_jupyterlab_writes_to_fiftyone(lab_server, fo):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    name = lab_server["dataset"]
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            open_and_run_all(page, lab_server, "notebooks/01_quickstart.ipynb")

            canvas = page.locator("canvas.labelkit-canvas")
            canvas.wait_for(state="visible", timeout=240_000)
            # the last cell (COCO export) lists labels.json when the whole notebook ran
            page.get_by_text("labels.json").first.wait_for(timeout=240_000)
            _dismiss(page)
            ds = fo.load_dataset(name)

            def done_ids():
                ds.reload()
                return set(ds.match(fo.ViewField("review_status") == "done").values("id"))

            before = done_ids()
            assert len(before) == 1, "the notebook submits one image from code"

            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            # focus the canvas (a click with the select tool), pick the first
            # proposal with Tab and accept it with "a"
            page.mouse.click(box["x"] + 5, box["y"] + 5)
            page.keyboard.press("Tab")
            page.keyboard.press("a")
            # deselect, brush, drag: a new instance of the picked class
            page.keyboard.press("Escape")
            page.keyboard.press("b")
            x0, y = box["x"] + box["width"] * 0.30, box["y"] + box["height"] * 0.5
            page.mouse.move(x0, y)
            page.mouse.down()
            for i in range(1, 16):
                page.mouse.move(x0 + i * 8, y + (i % 3) * 2)
            page.mouse.up()
            status = page.locator(".labelkit-labeler").get_by_text("new instance")
            status.first.wait_for(timeout=30_000)
            page.wait_for_timeout(800)  # let the overlay PNG arrive and paint
            page.locator(".labelkit-labeler").screenshot(path=str(ARTIFACTS / "labeler.png"))
            page.keyboard.press("Enter")

            new = _wait_for(lambda: done_ids() - before, 60, "the submitted image in FiftyOne")
            assert len(new) == 1
            sample = ds[new.pop()]
            labels = sample.ground_truth.detections
            accepted = [d for d in labels if d.source == "proposal"]
            human = [d for d in labels if d.source == "human"]
            assert accepted and all(d.proposal_iou == 1.0 and d.edits == 0 for d in accepted)
            assert len(human) == 1 and human[0].edits >= 1 and human[0].proposal_id is None
            assert human[0].mask is not None and human[0].mask.sum() > 50
            assert sample.reviewed_by == "browser-test"
            reviews = [d.review for d in sample.predictions.detections]
            assert reviews.count("accepted") == len(accepted)
            page.wait_for_timeout(500)
            page.locator(".labelkit-labeler").screenshot(path=str(ARTIFACTS / "labeler-after-submit.png"))

            # the next image: box-to-mask ("x", drag) and click-to-mask ("g", click on a
            # spot with nothing selected) through the session's segmenter (GrabCut here)
            before = done_ids()
            labeler = page.locator(".labelkit-labeler")
            page.keyboard.press("Escape")
            page.keyboard.press("x")
            bx, by = box["x"] + box["width"] * 0.10, box["y"] + box["height"] * 0.10
            page.mouse.move(bx, by)
            page.mouse.down()
            for i in range(1, 9):
                page.mouse.move(bx + i * 10, by + i * 8)
            page.mouse.up()
            labeler.get_by_text("from a box").first.wait_for(timeout=60_000)
            page.keyboard.press("Escape")
            page.keyboard.press("g")
            page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.75)
            labeler.get_by_text("from a click").first.wait_for(timeout=60_000)
            page.wait_for_timeout(800)
            labeler.screenshot(path=str(ARTIFACTS / "labeler-box-and-click.png"))
            page.keyboard.press("Enter")
            new = _wait_for(lambda: done_ids() - before, 60, "the box/click image in FiftyOne")
            tools = sorted(d.tool for d in ds[new.pop()].ground_truth.detections if d.source == "human")
            assert tools == ["box:grabcut", "click:grabcut"]
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "labeler-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
