"""The Labeler's page-visible render marker and its "click the image" key hint.

A real FiftyOne dataset and the handlers ipycanvas would call; the marker is the
canvas's CSS class ``labelkit-render-<n>`` that ``bench/browser.py`` (and any page
test) waits on instead of sleeping.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

W, H = 320, 240


@pytest.fixture
def labeler(fo, dataset_name, tmp_path, rng):
    from labelkit.widgets import Labeler

    ds = fo.Dataset(dataset_name)
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(p)
        s = fo.Sample(filepath=str(p), metadata=fo.ImageMetadata(width=W, height=H))
        s["predictions"] = fo.Detections(detections=[
            fo.Detection(label="mug", bounding_box=[0.1, 0.1, 0.4, 0.4], mask=np.ones((96, 128), bool),
                         confidence=0.9),
        ])
        ds.add_sample(s)
    lab = Labeler(ds, canvas_size=(640, 480))
    yield lab
    lab.close()


def _markers(lab) -> list[str]:
    return [c for c in lab.canvas._dom_classes if c.startswith("labelkit-render-")]


@pytest.fixture
def canvas_messages(monkeypatch):
    """Every canvas command message, in order, interleaved with marker changes."""
    import ipycanvas.canvas as ic

    out: list[str] = []
    monkeypatch.setattr(ic._CANVAS_MANAGER, "send", lambda content, buffers=None: out.append("draw"))
    return out


def test_the_canvas_carries_one_render_marker_after_the_first_show(labeler):
    assert _markers(labeler) == [f"labelkit-render-{labeler.render_count}"]
    assert labeler.render_count == 1  # image + overlay of one show: one flush, one bump
    assert "labelkit-canvas" in labeler.canvas._dom_classes


@pytest.mark.parametrize("keys", [["Tab"], ["ArrowRight"], ["+"], ["Tab", "Escape"]])
def test_each_raster_change_bumps_the_marker_once(labeler, keys):
    for n, key in enumerate(keys, start=labeler.render_count + 1):
        labeler.handle_key(key)
        assert _markers(labeler) == [f"labelkit-render-{n}"], key


def test_an_edit_of_the_selected_instance_sends_its_selection_layer_first(labeler, canvas_messages):
    """Accepting the selected proposal: the selection layer (vector commands, drawn as
    they arrive) goes out with its own marker, then the overlay patch (a PNG the page
    decodes) with a second one, so the first visible response does not wait for the
    decode."""
    labeler.handle_key("Tab")
    start, sent = labeler.render_count, len(canvas_messages)
    seen = []
    labeler.canvas.observe(lambda ch: seen.append(len(canvas_messages) - sent), "_dom_classes")
    overlay_before = labeler.bytes_sent["overlay"]
    labeler.handle_key("a")
    assert labeler.session.instances[0].state == "accepted"
    assert labeler.render_count == start + 2
    assert _markers(labeler) == [f"labelkit-render-{start + 2}"]
    assert canvas_messages[sent:] == ["draw", "draw"]
    assert seen == [1, 2]  # each marker follows the message it announces
    assert labeler.bytes_sent["overlay"] > overlay_before  # the patch did go out


def test_interaction_layer_only_changes_leave_the_marker_alone(labeler):
    labeler.handle_key("b")
    before = labeler.render_count
    labeler.handle_mouse_move(100, 100)  # brush cursor: layer 2 only
    labeler.handle_mouse_move(120, 110)
    assert labeler.render_count == before and _markers(labeler) == [f"labelkit-render-{before}"]


def test_the_marker_changes_after_the_canvas_message_is_sent(labeler, canvas_messages):
    seen = []
    labeler.canvas.observe(lambda ch: seen.append(("marker", len(canvas_messages))), "_dom_classes")
    labeler.handle_key("ArrowRight")
    assert canvas_messages == ["draw"]
    assert seen == [("marker", 1)]  # the class update follows the pixels it announces


def test_a_reconnecting_view_gets_a_new_marker(labeler):
    before = labeler.render_count
    labeler._resend()
    assert labeler.render_count == before + 1


def test_status_line_asks_for_a_click_until_the_first_key_arrives(labeler):
    assert "click the image so it receives keys" in labeler.status_text
    labeler.handle_key("ArrowRight")
    assert labeler.keys_received
    assert labeler.status_text.startswith("sample 2 of 2")
    assert "click the image" not in labeler.status_text


@pytest.fixture
def notebook7_parent(monkeypatch):
    """A real process whose command line is a Notebook 7 server's (``-m notebook``),
    as the kernel's ``JPY_PARENT_PID``."""
    import subprocess
    import sys

    from labelkit.widgets import labeler as L

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-m", "notebook"])
    monkeypatch.setenv("JPY_PARENT_PID", str(proc.pid))
    L._front_end.cache_clear()
    yield
    proc.kill()
    proc.wait()
    L._front_end.cache_clear()


def test_in_notebook7_the_status_line_says_letter_keys_do_not_reach_the_image(notebook7_parent, labeler):
    from labelkit.widgets.labeler import NOTEBOOK7_KEYS

    labeler._show_sample()
    assert NOTEBOOK7_KEYS in labeler.status_text
    labeler.handle_key("ArrowRight")  # a key that does arrive there: the hint stays
    assert NOTEBOOK7_KEYS in labeler.status_text


def test_under_jupyterlab_or_unknown_there_is_no_notebook7_hint(monkeypatch, labeler):
    from labelkit.widgets import labeler as L

    monkeypatch.setenv("JPY_PARENT_PID", str(os.getpid()))  # pytest: not a notebook server
    L._front_end.cache_clear()
    try:
        labeler._show_sample()
        assert L.NOTEBOOK7_KEYS not in labeler.status_text
    finally:
        L._front_end.cache_clear()
