"""Team review in a real browser: JupyterLab + Debian Chromium, kernels on a shared MongoDB server.

A module fixture starts a standalone ``mongod --auth`` (``labelkit.testing.start_mongod``,
its own data folder, stopped by PID at the end), puts two small datasets of
``sample_data/known-val`` images on it (COCO ground truth as proposals) and serves
JupyterLab whose kernels reach that server through ``FIFTYONE_DATABASE_URI``.
Each annotator is a notebook of its own (``lk.Labeler(ds, annotator=...)``) in a
JupyterLab workspace of its own, opened in its own browser context, so every tab
shows only its own Labeler. The page names the sample on screen in the Labeler's
CSS class ``labelkit-sample-<id>`` (set before each render's canvas marker
``labelkit-render-<n>``). The checks count in the database with pymongo.

* two tabs, "ana" and "bob", press Enter in turn until nothing is left: the images
  the tabs showed are disjoint, every sample is reviewed once, by the tab that
  showed it, and no claim is left;
* "cy" submits three samples, restarts the kernel from JupyterLab's Kernel menu
  (a real restart: the kernel's PID changes), runs all again: the three decisions
  are in the database, the Labeler opens at the first unreviewed sample and the
  new kernel holds cy's claims (her unfinished batch, re-taken, plus new ones).

Screenshots: ``test-artifacts/team-ana.png``, ``team-bob.png``, ``team-restart.png``.
Skipped without Chromium/Playwright, unless ``LABELKIT_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from _jupyter import (
    ARTIFACTS,
    dismiss,
    jupyter_lab,
    launch_chromium,
    open_and_run_all,
    render_marker,
    require_browser,
    run_all,
    wait_for,
    wait_for_render,
    write_notebook,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DATA = Path(os.environ.get("LABELKIT_SAMPLE_DATA") or ROOT / "sample_data")
SPLIT = SAMPLE_DATA / "known-val"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

#: dataset name -> number of images
DATASETS = {"team-tabs": 12, "team-restart": 8}

_SETUP = """
import sys
import fiftyone as fo
from labelkit.io.coco import load_coco

split = sys.argv[1]
for arg in sys.argv[2:]:
    name, n = arg.split("=")
    ds = load_coco(split, name=name, label_field="predictions", persistent=True, max_samples=int(n))
    ds.set_values("predictions.detections.confidence",
                  [[0.9] * len(d.detections) for d in ds.values("predictions")])
    print("SETUP", name, len(ds), flush=True)
"""

_CELLS = [
    """import os
print("KERNEL PID", os.getpid())
import fiftyone as fo
import labelkit as lk

ds = fo.load_dataset({dataset!r})""",
    """labeler = lk.Labeler(ds, annotator={who!r}, batch_size={batch}, claim_ttl={ttl}, canvas_size=(480, 360))
labeler""",
]

_SHOWN_JS = """(sel) => { const w = document.querySelector(sel); if (!w) return null;
    const m = [...w.classList].find(x => x.startsWith('labelkit-sample-'));
    return m ? m.slice(16) : null; }"""


def _env(uri: str) -> dict[str, str]:
    return {"FIFTYONE_DATABASE_URI": uri, "FIFTYONE_DO_NOT_TRACK": "true",
            "FIFTYONE_DATABASE_VALIDATION": "false"}


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """A shared ``mongod --auth`` with the datasets of :data:`DATASETS`, and JupyterLab
    (rooted in a temp folder) whose kernels use it."""
    require_browser()
    if not (SPLIT / "annotations.json").is_file():
        pytest.skip(f"{SPLIT} is missing (sample_data/make_sample_data.py builds it)")
    from labelkit.testing import start_mongod

    tmp = tmp_path_factory.mktemp("team-browser")
    server = start_mongod(auth=True, data_dir=tmp / "db")
    try:
        env = {**os.environ, **_env(server.uri)}
        env.pop("FIFTYONE_DATABASE_DIR", None)
        r = subprocess.run(
            [sys.executable, "-c", _SETUP, str(SPLIT), *(f"{k}={n}" for k, n in DATASETS.items())],
            env=env, capture_output=True, text=True, timeout=180,
        )
        assert r.returncode == 0 and r.stdout.count("SETUP") == len(DATASETS), r.stdout + r.stderr
        root = tmp / "lab"
        root.mkdir()
        with jupyter_lab(tmp, root, _env(server.uri)) as lab:
            yield {**lab, "server": server, "root": root}
    finally:
        server.stop()
    assert not server.running()


def _samples(server, name: str) -> list[dict]:
    """The dataset's sample documents (review and claim fields), in the dataset's order."""
    import pymongo

    with pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=10_000) as client:
        db = client["fiftyone"]
        coll = db["datasets"].find_one({"name": name})["sample_collection_name"]
        fields = {"review_status": 1, "reviewed_by": 1, "claimed_by": 1, "claim_expires": 1}
        return list(db[coll].find({}, fields))  # natural order: the order FiftyOne reads


def _notebook(team: dict, who: str, dataset: str, batch: int, ttl: float) -> str:
    path = team["root"] / f"{who}.ipynb"
    write_notebook(path, [c.format(dataset=dataset, who=who, batch=batch, ttl=ttl) for c in _CELLS])
    return path.name


def _shown(page, scope: str) -> str | None:
    """The id of the sample the Labeler under ``scope`` shows (its ``labelkit-sample-`` class)."""
    return page.evaluate(_SHOWN_JS, scope)


def _first_render(page, scope: str) -> str:
    """Wait for the Labeler's first render, focus its canvas; the sample it shows."""
    canvas = f"{scope} canvas.labelkit-canvas"
    page.locator(canvas).wait_for(state="visible", timeout=240_000)
    wait_for_render(page, 0, timeout_ms=240_000, canvas=canvas)
    dismiss(page)
    shown = _shown(page, scope)
    assert shown, "the Labeler names no sample (labelkit-sample-<id> class)"
    page.locator(canvas).scroll_into_view_if_needed()
    box = page.locator(canvas).bounding_box()
    page.mouse.click(box["x"] + 3, box["y"] + 3)  # focus: keys reach the canvas
    page.wait_for_timeout(300)
    return shown


def _enter(page, scope: str, before_id: str) -> str:
    """Press Enter (submit and next) and return the sample shown after the render it caused."""
    canvas = f"{scope} canvas.labelkit-canvas"
    page.bring_to_front()
    before = render_marker(page, canvas)
    page.keyboard.press("Enter")
    wait_for_render(page, before, timeout_ms=90_000, canvas=canvas)
    try:  # the sample class precedes the render marker; allow the front end 2 s of reordering
        page.wait_for_function(f"([sel, old]) => ({_SHOWN_JS})(sel) !== old", arg=[scope, before_id],
                               timeout=2_000)
    except Exception:  # noqa: BLE001 - the same sample again: the session stayed on its last one
        pass
    return _shown(page, scope)


def _kernel_pid(page, old: int | None = None) -> int:
    """The PID the notebook's first cell printed (waiting for one other than ``old``)."""
    def pid():
        for text in page.locator(".jp-OutputArea-output").all_inner_texts():
            m = re.search(r"KERNEL PID (\d+)", text)
            if m and int(m.group(1)) != old:
                return int(m.group(1))
        return None

    return wait_for(pid, 180, "the kernel's PID in the first cell's output")


def test_two_tabs_with_two_annotators_never_show_the_same_image(team):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    name, n, scope = "team-tabs", DATASETS["team-tabs"], ".labelkit-labeler"
    who = ("ana", "bob")
    nbs = {w: _notebook(team, w, name, batch=3, ttl=120) for w in who}
    with sync_playwright() as p:
        browser = launch_chromium(p)
        pages = {w: browser.new_context(viewport={"width": 1300, "height": 1000}).new_page() for w in who}
        try:
            for w in who:  # both kernels start; their Labelers claim at the same time
                open_and_run_all(pages[w], team, nbs[w], workspace=w)
            shown = {w: [_first_render(pages[w], scope)] for w in who}
            finished: set[str] = set()
            for _ in range(2 * n):  # turns: each tab submits once per round
                for w in who:
                    if w in finished:
                        continue
                    now = _enter(pages[w], scope, shown[w][-1])
                    if now == shown[w][-1]:  # its last sample stayed: nothing left to claim
                        finished.add(w)
                    else:
                        shown[w].append(now)
                if len(finished) == len(who):
                    break
            for w in who:
                pages[w].locator(scope).screenshot(path=str(ARTIFACTS / f"team-{w}.png"))
        except Exception:
            for w, page in pages.items():
                page.screenshot(path=str(ARTIFACTS / f"team-{w}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

    assert finished == set(who), f"a tab never ran out of samples: {shown}"
    seen = {w: set(shown[w]) for w in who}
    assert all(len(seen[w]) == len(shown[w]) for w in who), f"a tab showed an image twice: {shown}"
    assert not seen["ana"] & seen["bob"], f"both tabs showed {sorted(seen['ana'] & seen['bob'])}"
    docs = _samples(team["server"], name)
    assert len(docs) == n
    assert Counter(d.get("review_status") for d in docs) == {"done": n}
    by = Counter(d["reviewed_by"] for d in docs)
    assert sum(by[w] for w in who) == n and all(by[w] >= 1 for w in who), by
    for w in who:  # each sample was reviewed by the tab that showed it
        assert {str(d["_id"]) for d in docs if d["reviewed_by"] == w} == seen[w]
    assert [d for d in docs if d.get("claimed_by")] == [], "a sample was left claimed"


def test_a_kernel_restart_in_the_browser_loses_nothing_submitted(team):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    name, batch, submitted = "team-restart", 5, 3
    order = [str(d["_id"]) for d in _samples(team["server"], name)]
    nb = _notebook(team, "cy", name, batch=batch, ttl=600)  # no claim can expire meanwhile
    new_scope = ".labelkit-labeler:not(.lk-before-restart)"
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_context(viewport={"width": 1300, "height": 1000}).new_page()
        try:
            open_and_run_all(page, team, nb, workspace="cy")
            shown = [_first_render(page, ".labelkit-labeler")]
            pid = _kernel_pid(page)
            for _ in range(submitted):
                shown.append(_enter(page, ".labelkit-labeler", shown[-1]))
            assert shown == order[: submitted + 1]
            docs = {str(d["_id"]): d for d in _samples(team["server"], name)}
            assert {i for i, d in docs.items() if d.get("review_status") == "done"} == set(order[:submitted])
            assert {i for i, d in docs.items() if d.get("claimed_by") == "cy"} == set(order[submitted:batch])

            # Kernel > Restart Kernel..., confirm; the old view is marked to tell it from the new one
            page.evaluate("""() => document.querySelectorAll('.labelkit-labeler').forEach(
                w => w.classList.add('lk-before-restart'))""")
            page.get_by_role("menuitem", name="Kernel", exact=True).click()
            page.get_by_text("Restart Kernel…", exact=True).click()
            page.locator(".jp-Dialog .jp-mod-accept").click(timeout=30_000)
            try:
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator:not([data-status='idle'])",
                                       timeout=15_000)
            except Exception:  # noqa: BLE001 - the restart may be over before we look
                pass
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            docs = _samples(team["server"], name)
            between = {"claimed_by_cy": sum(d.get("claimed_by") == "cy" for d in docs)}
            run_all(page)
            new_pid = _kernel_pid(page, old=pid)
            first = _first_render(page, new_scope)
            page.wait_for_timeout(500)
            page.locator(new_scope).screenshot(path=str(ARTIFACTS / "team-restart.png"))
            after = _enter(page, new_scope, first)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "team-restart-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

    (ARTIFACTS / "team-restart.json").write_text(json.dumps(
        {"old_pid": pid, "new_pid": new_pid, "between_restart_and_run_all": between}))
    assert new_pid != pid, "the kernel did not restart"
    assert first == order[submitted], "the new session did not open at the first unreviewed sample"
    assert after == order[submitted + 1]
    docs = {str(d["_id"]): d for d in _samples(team["server"], name)}
    done = {i for i, d in docs.items() if d.get("review_status") == "done"}
    assert done == set(order[: submitted + 1]), "a decision submitted before the restart is missing"
    assert all(docs[i]["reviewed_by"] == "cy" for i in done)
    # the new kernel holds cy's batch again: the rest of the old one plus new claims, nobody else's
    claimed = {i: d["claimed_by"] for i, d in docs.items() if d.get("claimed_by")}
    assert claimed == dict.fromkeys(order[submitted + 1: submitted + batch], "cy"), claimed
