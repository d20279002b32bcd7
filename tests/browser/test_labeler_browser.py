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
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LABELKIT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (python) is not installed"
    base = Path(os.environ.get("LABELKIT_SAMPLE_DATA") or ROOT / "sample_data")
    if not (base / "models" / "sample_maskrcnn.pt").is_file():
        return "the bundled sample model is not built yet"
    return None


def _require():
    why = _missing()
    if why:
        if os.environ.get("LABELKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required but cannot run: {why}")
        pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab_server(tmp_path):
    """JupyterLab on a free port, rooted in a temp copy of notebooks/, with the
    test's FiftyOne database inherited by its kernels."""
    _require()
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "01_quickstart.ipynb", root / "notebooks")
    settings = tmp_path / "lab-settings"
    notif = settings / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True)
    (notif / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false, "doNotDisturbMode": true}'
    )
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    # start the notebook's kernel without the "Select Kernel" dialog
    (tracker / "tracker.jupyterlab-settings").write_text('{"autoStartDefaultKernel": true}')
    name = f"lk-browser-{uuid.uuid4().hex[:8]}"
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.update(
        LABELKIT_SAMPLE_DATA=str(Path(os.environ.get("LABELKIT_SAMPLE_DATA") or ROOT / "sample_data")),
        LABELKIT_QUICKSTART_DATASET=name,
        LABELKIT_QUICKSTART_LIMIT="3",
        LABELKIT_NO_APP="1",
        LABELKIT_EXPORT_DIR=str(tmp_path / "exports"),
        LABELKIT_ANNOTATOR="browser-test",
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        FIFTYONE_DO_NOT_TRACK="true",
    )
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab",
            "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            "--allow-root", "--ServerApp.terminals_enabled=False",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--ServerApp.open_browser=False",
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        raise RuntimeError("JupyterLab did not start within 90 s")
    try:
        yield {"url": url, "token": token, "dataset": name, "log": tmp_path / "jupyterlab.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        import fiftyone as fo

        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def _wait_for(pred, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _dismiss(page) -> None:
    """Close any dialog or notification toast JupyterLab may show."""
    for sel in (".jp-Dialog .jp-mod-accept", ".jp-Dialog .jp-mod-reject"):
        btn = page.locator(sel)
        if btn.count():
            btn.first.click()
    for close in page.locator(".Toastify__close-button").all():
        try:
            close.click(timeout=1000)
        except Exception:  # noqa: BLE001 - a toast may vanish on its own
            pass


def test_review_in_jupyterlab_writes_to_fiftyone(lab_server, fo):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    name = lab_server["dataset"]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--disable-dev-shm-usage"],
        )
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            page.goto(
                f"{lab_server['url']}/lab/tree/notebooks/01_quickstart.ipynb?token={lab_server['token']}",
                timeout=120_000,
            )
            page.wait_for_selector(".jp-NotebookPanel", timeout=120_000)
            page.wait_for_timeout(1500)
            _dismiss(page)  # e.g. a kernel selection dialog, should one appear
            # the kernel must be up before Run All
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()

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
