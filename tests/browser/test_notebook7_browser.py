"""The quickstart reviewed in a real browser, in JupyterLab 4 and in Notebook 7.

Both front ends run the same review and the same assertions: open
``01_quickstart.ipynb``, Run All Cells, check the status line says what to do about
keys (JupyterLab: click the image until a key arrived; Notebook 7: its command-mode
shortcuts take letter keys, Enter and Escape before the focused canvas sees them --
``a`` would add a cell -- so use the buttons), click the image, Tab (a key both
deliver), accept (``a`` / the Accept button), deselect (Escape / a click on nothing),
brush (``b`` / the Brush button) and a drag (a new instance), submit (Enter / the
Submit button; in Notebook 7 no notebook cell may have been added or cut) -- then
read the same FiftyOne database from
this process: the sample is done, with the accepted proposal (``source="proposal"``,
IoU 1.0, 0 edits) and the human label (``source="human"``, >= 1 edit, a mask).
Waits use the Labeler's page-visible render marker (``labelkit-render-<n>``), never
sleeps for pixels. Screenshots: ``test-artifacts/quickstart-<front end>.png``.

Needs ``/usr/bin/chromium`` and, for Notebook 7, the ``notebook`` package (the
``dev`` extra); without them a test is skipped, unless ``LABELKIT_REQUIRE_BROWSER=1``
(CI), which turns the skip into a failure.
"""

from __future__ import annotations

import importlib.util
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
    open_notebook,
    render_marker,
    require_browser,
    run_all,
    wait_for,
    wait_for_render,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

SAMPLE_DATA = Path(os.environ.get("LABELKIT_SAMPLE_DATA") or ROOT / "sample_data")
KEY_HINT = "click the image so it receives keys"
NOTEBOOK7_KEYS = "Notebook 7 keeps letter keys, Enter and Esc for its own shortcuts"


def _require(app: str) -> None:
    require_browser()
    why = None
    if not (SAMPLE_DATA / "models" / "sample_maskrcnn.pt").is_file():
        why = "the bundled sample model is not built yet"
    elif app == "notebook7" and importlib.util.find_spec("notebook") is None:
        why = "Notebook 7 is not installed (pip install -e '.[dev]' brings notebook>=7)"
    if why:
        if os.environ.get("LABELKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required but cannot run: {why}")
        pytest.skip(why)


@pytest.fixture
def quickstart_server(request, tmp_path):
    """The front end ``request.param`` on a temp copy of the quickstart, its kernels
    on this test's FiftyOne database, a dataset name of its own."""
    app = request.param
    _require(app)
    root = tmp_path / "root"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "01_quickstart.ipynb", root / "notebooks")
    name = f"lk-nb7-{uuid.uuid4().hex[:8]}"
    env = {
        "LABELKIT_SAMPLE_DATA": str(SAMPLE_DATA),
        "LABELKIT_QUICKSTART_DATASET": name,
        "LABELKIT_QUICKSTART_LIMIT": "3",
        "LABELKIT_NO_APP": "1",
        "LABELKIT_EXPORT_DIR": str(tmp_path / "exports"),
        "LABELKIT_ANNOTATOR": f"browser-{app}",
    }
    with jupyter_lab(tmp_path, root, env=env, app=app) as server:
        yield {**server, "dataset": name}
    import fiftyone as fo

    if fo.dataset_exists(name):
        fo.delete_dataset(name)


@pytest.mark.parametrize("quickstart_server", ["notebook7", "jupyterlab"], indirect=True)
def test_quickstart_review_writes_the_same_labels_in_each_front_end(quickstart_server, fo):
    from playwright.sync_api import sync_playwright

    server, name = quickstart_server, quickstart_server["dataset"]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            open_notebook(page, server, "notebooks/01_quickstart.ipynb")
            run_all(page)
            canvas = page.locator("canvas.labelkit-canvas")
            canvas.wait_for(state="visible", timeout=240_000)
            # the last cell (COCO export) lists labels.json when the whole notebook ran
            page.get_by_text("labels.json").first.wait_for(timeout=240_000)
            dismiss(page)
            labeler = page.locator(".labelkit-labeler")
            nb7 = server["app"] == "notebook7"
            # no key has reached the canvas yet (JupyterLab), or never will for letters
            # (Notebook 7's shortcuts take them first): the status line says what to do
            labeler.get_by_text(NOTEBOOK7_KEYS if nb7 else KEY_HINT).first.wait_for(timeout=30_000)

            ds = fo.load_dataset(name)

            def done_ids():
                ds.reload()
                return set(ds.match(fo.ViewField("review_status") == "done").values("id"))

            before = done_ids()
            assert len(before) == 1, "the notebook submits one image from code"

            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            cells = page.locator(".jp-CodeCell").count()
            page.mouse.click(box["x"] + 5, box["y"] + 5)  # focus (select tool, empty corner)
            n = render_marker(page)
            page.keyboard.press("Tab")  # not a notebook shortcut: reaches the canvas in both
            n = wait_for_render(page, n)  # the selection outline is on screen
            assert labeler.get_by_text(KEY_HINT).count() == 0, "the hint stays after a key arrived"
            if nb7:  # letters would add/cut cells there: the buttons and a click instead
                labeler.get_by_role("button", name=re.compile(r"^Accept")).first.click()
                n = wait_for_render(page, n)
                page.mouse.click(box["x"] + 5, box["y"] + 5)  # a click on nothing: deselect
                n = wait_for_render(page, n)
                labeler.get_by_role("button", name=re.compile(r"^Brush")).first.click()
            else:
                page.keyboard.press("a")
                n = wait_for_render(page, n)
                page.keyboard.press("Escape")
                n = wait_for_render(page, n)
                page.keyboard.press("b")
            x0, y = box["x"] + box["width"] * 0.30, box["y"] + box["height"] * 0.5
            page.mouse.move(x0, y)
            page.mouse.down()
            for i in range(1, 16):
                page.mouse.move(x0 + i * 8, y + (i % 3) * 2)
            page.mouse.up()
            labeler.get_by_text("new instance").first.wait_for(timeout=30_000)
            wait_for_render(page, n)
            labeler.screenshot(path=str(ARTIFACTS / f"quickstart-{server['app']}.png"))
            if nb7:
                labeler.get_by_role("button", name=re.compile(r"^Submit")).first.click()
                assert page.locator(".jp-CodeCell").count() == cells, "no notebook shortcut fired"
            else:
                page.keyboard.press("Enter")

            new = wait_for(lambda: done_ids() - before, 60, "the submitted image in FiftyOne")
            assert len(new) == 1
            sample = ds[new.pop()]
            labels = sample.ground_truth.detections
            accepted = [d for d in labels if d.source == "proposal"]
            human = [d for d in labels if d.source == "human"]
            assert accepted and all(d.proposal_iou == 1.0 and d.edits == 0 for d in accepted)
            assert len(human) == 1 and human[0].edits >= 1 and human[0].proposal_id is None
            assert human[0].mask is not None and human[0].mask.sum() > 50
            assert sample.reviewed_by == f"browser-{server['app']}"
            reviews = [d.review for d in sample.predictions.detections]
            assert reviews.count("accepted") == len(accepted)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"quickstart-{server['app']}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
