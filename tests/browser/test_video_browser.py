"""The video Labeler in a real browser: JupyterLab + Debian Chromium driven by Playwright.

A three-cell notebook loads the sample video, puts ground-truth copies as proposals
on frames 1 and 11 and shows ``lk.Labeler`` on it. In the browser: focus the canvas,
Shift+A and ``k`` on frame 1, ``.`` ten times, Shift+A and ``k`` on frame 11, ``i``
(interpolate now), then Play for a moment; checks in FiftyOne (same database, read
from this process) that frames 1 and 11 hold keyframe labels of three tracks and
frames 2-10 interpolated ones. Screenshot: ``test-artifacts/video-labeler.png``.
Skipped like the image browser test when Chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from _jupyter import jupyter_lab, launch_chromium, open_and_run_all, write_notebook
from test_labeler_browser import _dismiss, _require, _wait_for

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CELLS = [
    """import os
import fiftyone as fo
import labelkit as lk
from labelkit import video as lkv

ds = lkv.load_sample_video(name=os.environ["LABELKIT_VIDEO_DATASET"], overwrite=True)""",
    """# proposals: copies of the ground truth (without track ids) on frames 1 and 11
fns, gts = ds.values(["frames.frame_number", "frames.ground_truth"])
props = {fn: fo.Detections(detections=[fo.Detection(label=d.label, bounding_box=d.bounding_box,
                                                     mask=d.mask, confidence=0.9) for d in g.detections])
         for fn, g in zip(fns[0], gts[0]) if fn in (1, 11)}
ds.set_values("frames.predictions", {ds.first().id: props}, key_field="id")""",
    """labeler = lk.Labeler(ds, proposals="frames.predictions", labels="frames.reviewed", min_confidence=0.5,
                     canvas_size=(640, 480), play_interval_ms=150)
labeler""",
]


@pytest.fixture
def video_lab(tmp_path):
    _require()
    root = tmp_path / "lab"
    root.mkdir()
    write_notebook(root / "video.ipynb", CELLS)
    name = f"lk-vbrowser-{uuid.uuid4().hex[:8]}"
    env = dict(
        LABELKIT_SAMPLE_DATA=str(Path(os.environ.get("LABELKIT_SAMPLE_DATA") or ROOT / "sample_data")),
        LABELKIT_VIDEO_DATASET=name,
        LABELKIT_ANNOTATOR="browser-test",
    )
    try:
        with jupyter_lab(tmp_path, root, env) as lab:
            yield {**lab, "dataset": name}
    finally:
        import fiftyone as fo

        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def test_video_keyframes_in_jupyterlab_write_to_fiftyone(video_lab, fo):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            open_and_run_all(page, video_lab, "video.ipynb")
            canvas = page.locator(".labelkit-video-labeler canvas.labelkit-canvas")
            canvas.wait_for(state="visible", timeout=180_000)
            widget = page.locator(".labelkit-video-labeler")
            widget.get_by_text("frames reviewed").first.wait_for(timeout=60_000)
            _dismiss(page)
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            page.mouse.click(box["x"] + 5, box["y"] + 5)

            def status(text: str) -> None:
                widget.get_by_text(text).first.wait_for(timeout=60_000)

            page.keyboard.press("Shift+A")
            page.keyboard.press("k")
            status("frame 1 is a keyframe")
            for _ in range(10):
                page.keyboard.press(".")
            status("frame 11 of 61")
            page.keyboard.press("Shift+A")
            page.keyboard.press("k")
            status("frame 11 is a keyframe")
            page.keyboard.press("i")
            status("interpolated 27 label(s)")
            page.keyboard.press(",")
            status("frame 10 of 61")
            page.wait_for_timeout(800)
            widget.screenshot(path=str(ARTIFACTS / "video-labeler.png"))

            ds = fo.load_dataset(video_lab["dataset"])
            fns, labels = ds.values(["frames.frame_number", "frames.reviewed"])
            by_fn = {fn: list(d.detections) for fn, d in zip(fns[0], labels[0], strict=True) if d is not None}
            assert {fn for fn, d in by_fn.items() if d} == set(range(1, 12))
            for fn in (1, 11):
                assert len(by_fn[fn]) == 3 and all(d.keyframe is True for d in by_fn[fn])
            assert {d.index for d in by_fn[1]} == {d.index for d in by_fn[11]}, "tracks continue"
            assert all(d.interpolated is True for fn in range(2, 11) for d in by_fn[fn])
            who = {w for per_frame in ds.values("frames.reviewed_by") for w in per_frame if w}
            assert who == {"browser-test"}

            # Play steps the frame slider in the browser, and the kernel follows it
            line = widget.locator(".labelkit-status")
            widget.locator(".widget-play button").first.click()

            def frame_shown() -> int:
                text = line.inner_text()
                return int(text.split()[1]) if text.startswith("frame ") and text.split()[1].isdigit() else 0

            _wait_for(lambda: frame_shown() >= 13, 30, "the kernel to follow Play")
            widget.locator(".widget-play button").nth(1).click()  # pause
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "video-labeler-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
