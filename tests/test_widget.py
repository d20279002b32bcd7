"""The Labeler widget without a browser: real FiftyOne dataset, canvas events simulated
by calling the handlers ipycanvas would call, assertions on session state, FiftyOne,
the rendered overlay pixels and the bytes sent to the front end."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

W, H = 320, 240


def _det(fo, label, box, conf, mask=None):
    """A proposal with a full-box (or given) mask; ``box`` is absolute (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    m = np.ones((y1 - y0, x1 - x0), bool) if mask is None else mask
    return fo.Detection(
        label=label,
        bounding_box=[x0 / W, y0 / H, (x1 - x0) / W, (y1 - y0) / H],
        mask=m,
        confidence=conf,
    )


@pytest.fixture
def review_ds(fo, dataset_name, tmp_path, rng):
    """Three 320x240 images; sample 0 has a big 'mug' (0.9) containing a small 'ball'
    (0.8) and a low-confidence 'book' (0.2)."""
    ds = fo.Dataset(dataset_name)
    for i in range(3):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(p)
        s = fo.Sample(filepath=str(p), metadata=fo.ImageMetadata(width=W, height=H))
        s["predictions"] = fo.Detections(
            detections=[
                _det(fo, "mug", (40, 40, 160, 160), 0.9),
                _det(fo, "ball", (80, 80, 100, 100), 0.8),
                _det(fo, "book", (200, 150, 260, 200), 0.2),
            ]
        )
        ds.add_sample(s)
    return ds


@pytest.fixture
def labeler(review_ds):
    from labelkit.widgets import Labeler

    lab = Labeler(review_ds, canvas_size=(640, 480))
    yield lab
    lab.close()


def _ks(lab, label):
    return [i.k for i in lab.session.instances if i.label == label]


def click(lab, x, y):
    """Press and release at image point (x, y)."""
    cx, cy = lab.vp.to_canvas(x, y)
    lab.handle_mouse_down(cx, cy)
    lab.handle_mouse_up(cx, cy)


def drag(lab, pts):
    """Drag through image points."""
    cs = [lab.vp.to_canvas(x, y) for x, y in pts]
    lab.handle_mouse_down(*cs[0])
    for c in cs[1:]:
        lab.handle_mouse_move(*c)
    lab.handle_mouse_up(*cs[-1])


# ------------------------------------------------------------------- structure


def test_labeler_is_a_box_with_the_session_and_four_canvas_layers(labeler):
    import ipywidgets as widgets
    from ipycanvas import MultiCanvas

    from labelkit.review.session import ReviewSession

    assert isinstance(labeler, widgets.Box)
    assert isinstance(labeler.session, ReviewSession)
    assert isinstance(labeler.canvas, MultiCanvas)
    assert len(labeler.canvas._canvases) == 4  # image, overlay, selection, interaction


def test_instance_list_shows_class_confidence_and_state(labeler):
    texts = [t for t, _ in labeler._list.options]
    assert any("mug" in t and "0.90" in t and "pending" in t for t in texts)
    assert len(texts) == 3


def test_progress_shows_n_of_total_reviewed(labeler):
    assert labeler._progress.value == 0
    assert labeler._progress.max == 3
    assert "0 of 3 reviewed" in labeler._progress_label.value


# ------------------------------------------------------------------- overlay


def _canvas_px(lab, x, y):
    cx, cy = lab.vp.to_canvas(x + 0.5, y + 0.5)
    return int(cy), int(cx)


def test_overlay_has_each_instance_colour_inside_its_mask_and_nothing_outside(labeler):
    from labelkit.widgets.render import FILL_ALPHA, instance_color

    ov = labeler.render_overlay_array()
    assert ov.shape == (480, 640, 4)
    mug, ball = _ks(labeler, "mug")[0], _ks(labeler, "ball")[0]
    r, c = _canvas_px(labeler, 60, 130)  # inside mug only
    assert tuple(ov[r, c]) == (*instance_color(mug), FILL_ALPHA["pending"])
    r, c = _canvas_px(labeler, 90, 90)  # the small ball sits on top of the mug
    assert tuple(ov[r, c]) == (*instance_color(ball), FILL_ALPHA["pending"])
    r, c = _canvas_px(labeler, 300, 20)  # background
    assert ov[r, c, 3] == 0


def test_render_overlay_highlights_the_selected_instance_with_a_white_outline(labeler):
    from labelkit.widgets.render import SELECTED_FILL_ALPHA, OverlayStyle, render_overlay

    mug = _ks(labeler, "mug")[0]
    ov = render_overlay(labeler.session.instances, labeler.vp, OverlayStyle(selected=mug))
    r, c = _canvas_px(labeler, 60, 130)
    assert ov[r, c, 3] == SELECTED_FILL_ALPHA
    r, c = _canvas_px(labeler, 40, 100)  # left edge column of the mug
    assert tuple(ov[r, c]) == (255, 255, 255, 255)


def _filled(polygons, shape) -> np.ndarray:
    """Rasterize canvas-coordinate polygons (even-odd: holes cut out)."""
    import cv2

    out = np.zeros(shape, np.uint8)
    for p in polygons:
        layer = np.zeros(shape, np.uint8)
        cv2.fillPoly(layer, [np.round(p - 0.5).astype(np.int32)], 1)
        out ^= layer
    return out.astype(bool)


def test_the_selection_layer_outlines_the_selected_mask_and_the_overlay_stays_unhighlighted(labeler):
    mug = _ks(labeler, "mug")[0]
    before = labeler.render_overlay_array()
    labeler.session.select(mug)
    assert np.array_equal(labeler.render_overlay_array(), before)  # layer 1 ignores the selection
    outer, holes = labeler.selection_outline
    assert len(outer) == 1 and holes == ()
    got = _filled(outer, (480, 640))
    want = np.zeros((480, 640), bool)
    (c0, r0), (c1, r1) = labeler.vp.to_canvas(40, 40), labeler.vp.to_canvas(160, 160)
    want[int(r0) : int(r1), int(c0) : int(c1)] = True
    iou = (got & want).sum() / (got | want).sum()
    assert iou > 0.98, iou
    labeler.session.select(None)
    assert labeler.selection_outline == ((), ())


def test_the_selection_outline_has_the_holes_of_the_mask(fo, dataset_name, tmp_path):
    from labelkit.widgets import Labeler

    ring = np.ones((100, 100), bool)
    ring[30:70, 30:70] = False
    p = tmp_path / "ring.png"
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(p)
    ds = fo.Dataset(dataset_name)
    ds.add_sample(fo.Sample(filepath=str(p), metadata=fo.ImageMetadata(width=W, height=H),
                            predictions=fo.Detections(detections=[_det(fo, "ring", (50, 50, 150, 150), 0.9, ring)])))
    lab = Labeler(ds, canvas_size=(640, 480))
    try:
        lab.session.select(0)
        outer, holes = lab.selection_outline
        assert len(outer) == 1 and len(holes) == 1
        filled = _filled(outer + holes, (480, 640))
        cx, cy = lab.vp.to_canvas(100, 100)  # the hole's centre is not tinted
        assert not filled[int(cy), int(cx)]
        cx, cy = lab.vp.to_canvas(60, 100)  # the ring is
        assert filled[int(cy), int(cx)]
    finally:
        lab.close()


def test_rejected_instance_is_drawn_as_a_faint_grey_hatch(labeler):
    mug = _ks(labeler, "mug")[0]
    labeler.session.reject(mug)
    ov = labeler.render_overlay_array()
    cx0, cy0 = labeler.vp.to_canvas(45, 110)
    patch = ov[int(cy0) : int(cy0) + 16, int(cx0) : int(cx0) + 16]
    drawn = patch[..., 3] > 0
    assert 0.2 <= drawn.mean() <= 0.6  # hatched stripes, not filled
    assert np.all(patch[drawn][:, :3] == 150)


def test_confidence_slider_hides_proposals_below_it(labeler):
    book = _ks(labeler, "book")[0]
    r, c = _canvas_px(labeler, 230, 175)
    assert labeler.render_overlay_array()[r, c, 3] > 0
    labeler._conf.value = 0.5  # the slider drives session.min_confidence
    assert labeler.session.min_confidence == pytest.approx(0.5)
    assert labeler.session.instance(book).below_threshold
    assert labeler.render_overlay_array()[r, c, 3] == 0


def test_overlay_at_zoom_samples_the_full_resolution_mask(labeler):
    # zoom on the ball: a 20 px square becomes ~ 20 * scale canvas px wide
    labeler.session.select(None)
    cx, cy = labeler.vp.to_canvas(90, 90)
    labeler.zoom(4.0, cx, cy)
    ov = labeler.render_overlay_array()
    x0, _ = labeler.vp.to_canvas(80, 90)
    x1, _ = labeler.vp.to_canvas(100, 90)
    row = int(cy)
    ball = _ks(labeler, "ball")[0]
    from labelkit.widgets.render import instance_color

    cols = np.flatnonzero(np.all(ov[row, :, :3] == instance_color(ball), axis=1))
    assert cols.min() == pytest.approx(x0, abs=2)
    assert cols.max() + 1 == pytest.approx(x1, abs=2)


# ------------------------------------------------------------------ viewport


@pytest.mark.parametrize("factor", [1.5, 4.0, 30.0])
def test_zoom_keeps_the_image_point_under_the_cursor_fixed(factor):
    from labelkit.widgets import Viewport

    vp = Viewport(8000, 6000, 800, 560)
    before = vp.to_image(300, 200)
    vp.zoom_at(300, 200, factor)
    assert vp.to_image(300, 200) == pytest.approx(before, abs=1e-6)
    assert vp.scale == pytest.approx(vp.fit_scale * factor)


def test_canvas_image_mapping_round_trips_after_zoom_and_pan():
    from labelkit.widgets import Viewport

    vp = Viewport(1920, 1080, 800, 560)
    vp.zoom_at(100, 100, 3.0)
    vp.pan(-50, 20)
    for x, y in [(0, 0), (123.5, 456.25), (1919, 1079)]:
        assert vp.to_image(*vp.to_canvas(x, y)) == pytest.approx((x, y))


def test_fit_centres_the_image_and_pan_cannot_leave_it():
    from labelkit.widgets import Viewport

    vp = Viewport(400, 100, 800, 560)  # wide image: letterboxed top and bottom
    x0, y0, x1, y1 = vp.visible_box()
    assert (x0, x1) == pytest.approx((0, 400))
    assert y0 == pytest.approx(-(y1 - y0 - 100) / 2)
    assert not vp.pan(100, 100)  # nothing to pan at fit
    vp.zoom_at(400, 280, 4)
    vp.pan(-10_000, -10_000)
    assert vp.visible_box()[2] == pytest.approx(400)


def test_degenerate_sizes_are_rejected():
    from labelkit.widgets import Viewport

    with pytest.raises(ValueError, match="image size"):
        Viewport(0, 10, 100, 100)


# ----------------------------------------------------------- mouse and keys


def test_click_selects_the_topmost_instance_under_the_cursor(labeler):
    click(labeler, 90, 90)  # ball inside mug
    assert labeler.session.selected == _ks(labeler, "ball")[0]
    click(labeler, 50, 150)  # mug only
    assert labeler.session.selected == _ks(labeler, "mug")[0]
    click(labeler, 300, 10)  # background clears
    assert labeler.session.selected is None


def test_key_a_accepts_the_selected_proposal_and_r_rejects(labeler):
    click(labeler, 90, 90)
    labeler.handle_key("a")
    ball = _ks(labeler, "ball")[0]
    assert labeler.session.instance(ball).state == "accepted"
    click(labeler, 50, 150)
    labeler.handle_key("r")
    assert labeler.session.instance(_ks(labeler, "mug")[0]).state == "rejected"


def test_shift_a_accepts_all_pending_above_the_slider(labeler):
    labeler._conf.value = 0.5
    labeler.handle_key("A", shift=True)
    states = {i.label: i.state for i in labeler.session.instances}
    assert states == {"mug": "accepted", "ball": "accepted", "book": "pending"}


def test_ctrl_z_undoes_and_ctrl_y_redoes(labeler):
    click(labeler, 90, 90)
    labeler.handle_key("a")
    ball = _ks(labeler, "ball")[0]
    labeler.handle_key("z", ctrl=True)
    assert labeler.session.instance(ball).state == "pending"
    labeler.handle_key("y", ctrl=True)
    assert labeler.session.instance(ball).state == "accepted"
    assert labeler._undo_btn.disabled is False


def test_accept_without_a_selection_explains_in_the_status_line(labeler):
    labeler.handle_key("a")
    assert labeler.status_is_error
    assert "select an instance" in labeler.status_text
    assert "Traceback" not in labeler._status.value


def test_review_errors_go_to_the_status_line_not_raised(labeler):
    labeler.handle_key("p")
    for x, y in [(10, 10), (20, 10)]:
        click(labeler, x, y)
    labeler.close_polygon()  # only 2 vertices
    assert labeler.status_is_error and "at least 3 vertices" in labeler.status_text
    labeler.current_class = None
    labeler.handle_key("b")
    drag(labeler, [(250, 30), (270, 40)])  # no class picked: session raises ReviewError
    assert labeler.status_is_error and "label" in labeler.status_text


def test_number_keys_pick_the_class(labeler):
    classes = labeler.session.classes
    labeler.handle_key("2")
    assert labeler.current_class == classes[1]
    labeler.handle_key("9")
    assert labeler.status_is_error and "no class 9" in labeler.status_text


def test_selecting_an_instance_shows_its_class_in_the_picker_without_relabelling(labeler):
    click(labeler, 50, 150)
    assert labeler.current_class == "mug"
    assert labeler.session.instance(labeler.session.selected).state == "pending"
    assert not labeler.session.can_undo


def test_picking_a_class_relabels_the_selected_instance(labeler):
    click(labeler, 90, 90)
    labeler.current_class = "book"
    ball = labeler.session.selected
    assert labeler.session.instance(ball).label == "book"
    assert labeler.session.instance(ball).state == "edited"


def test_brush_drag_paints_the_selected_instance_at_full_resolution(labeler):
    click(labeler, 90, 90)
    ball = labeler.session.selected
    labeler.zoom(2.0, *labeler.vp.to_canvas(100, 90))
    area = labeler.session.instance(ball).area
    labeler.handle_key("b")
    labeler._radius.value = 4  # screen px
    drag(labeler, [(100 + i, 90) for i in range(0, 21, 2)])
    inst = labeler.session.instance(ball)
    assert inst.state == "edited"
    assert inst.area > area
    m = inst.full_mask()
    assert m[90, 115] and not m[90, 125]  # the stroke ends at x=120 (+ radius 1 image px)
    assert inst.box[2] <= 123


def test_brush_with_nothing_selected_draws_a_new_instance_of_the_picked_class(labeler):
    labeler.handle_key("b")
    labeler.handle_key("3")
    drag(labeler, [(250, 30), (280, 30)])
    new = labeler.session.instances[-1]
    assert (new.source, new.state, new.label) == ("human", "new", labeler.session.classes[2])
    assert labeler.session.selected == new.k


def test_eraser_drag_removes_pixels(labeler):
    click(labeler, 50, 150)
    mug = labeler.session.selected
    area = labeler.session.instance(mug).area
    labeler.handle_key("e")
    drag(labeler, [(45, 60), (45, 150)])
    assert labeler.session.instance(mug).area < area
    assert not labeler.session.instance(mug).full_mask()[100, 45]


def test_polygon_clicks_then_enter_add_an_instance(labeler):
    labeler.handle_key("p")
    for x, y in [(200, 20), (300, 20), (300, 100)]:
        click(labeler, x, y)
    labeler.handle_key("Enter")
    new = labeler.session.instances[-1]
    assert new.source == "human"
    assert new.full_mask()[30, 280]
    assert labeler.session.index == 0  # Enter closed the polygon, it did not submit


def test_polygon_double_click_closes_it(labeler):
    labeler.handle_key("p")
    for x, y in [(200, 20), (300, 20), (300, 100)]:
        click(labeler, x, y)
    click(labeler, 300, 100)  # second press at the same spot within 0.4 s
    assert labeler.session.instances[-1].source == "human"
    assert labeler._polygon == []


def test_box_drag_adds_an_instance_inside_the_box(labeler):
    labeler.handle_key("x")
    drag(labeler, [(200, 20), (250, 50), (300, 100)])
    new = labeler.session.instances[-1]
    assert new.source == "human"
    x0, y0, x1, y1 = new.box
    assert x0 >= 199 and y0 >= 19 and x1 <= 302 and y1 <= 102


def test_refine_clicks_go_to_the_session(labeler, monkeypatch):
    calls = []
    monkeypatch.setattr(labeler.session, "refine", lambda k, positive=(), negative=(): calls.append((k, positive, negative)))
    click(labeler, 50, 150)
    mug = labeler.session.selected
    labeler.handle_key("g")
    click(labeler, 60, 60)
    labeler.handle_key("g")  # flips to negative
    click(labeler, 10, 10)
    assert calls[-1][0] == mug
    assert calls[-1][1] == [pytest.approx((60.5, 60.5), abs=0.6)]
    assert calls[-1][2] == [pytest.approx((10.5, 10.5), abs=0.6)]


def test_tab_cycles_through_instances(labeler):
    seen = []
    for _ in range(4):
        labeler.handle_key("Tab")
        seen.append(labeler.session.selected)
    assert seen[:3] == [0, 1, 2] and seen[3] == 0
    labeler.handle_key("Tab", shift=True)
    assert labeler.session.selected == 2


def test_arrow_keys_move_between_samples(labeler):
    labeler.handle_key("ArrowRight")
    assert labeler.session.index == 1
    labeler.handle_key("ArrowLeft")
    assert labeler.session.index == 0


def test_wheel_zooms_around_the_pointer(labeler):
    labeler.handle_mouse_move(100, 120)
    before = labeler.vp.to_image(100, 120)
    labeler.handle_wheel(0, -240)
    assert labeler.vp.zoom > 1.5
    assert labeler.vp.to_image(100, 120) == pytest.approx(before)
    labeler.handle_key("0")
    assert labeler.vp.zoom == 1.0


def test_select_drag_pans_the_zoomed_view(labeler):
    labeler.zoom(3.0)
    ox = labeler.vp.ox
    labeler.handle_mouse_down(300, 200)
    labeler.handle_mouse_move(250, 200)
    labeler.handle_mouse_up(200, 200)
    assert labeler.vp.ox == pytest.approx(ox + 100 / labeler.vp.scale)
    assert labeler.session.selected is None  # a drag is not a click


# --------------------------------------------------------- saving to FiftyOne


def test_enter_submits_to_fiftyone_with_provenance_and_moves_on(labeler, review_ds):
    click(labeler, 90, 90)
    labeler.handle_key("a")  # ball accepted unchanged
    click(labeler, 50, 150)
    labeler.handle_key("b")
    drag(labeler, [(160, 100), (175, 100)])  # mug painted -> edited
    labeler.handle_key("Enter")
    assert labeler.session.index == 1
    assert labeler._progress.value == 1

    review_ds.reload()
    s = review_ds.first()
    assert s.review_status == "done"
    by_label = {d.label: d for d in s.ground_truth.detections}
    assert set(by_label) == {"ball", "mug"}
    assert by_label["ball"].source == "proposal" and by_label["ball"].proposal_iou == 1.0
    assert by_label["mug"].edits >= 1 and by_label["mug"].proposal_iou < 1.0
    reviews = {d.label: d.review for d in s.predictions.detections}
    assert reviews == {"ball": "accepted", "mug": "edited", "book": "rejected"}


def test_s_skips_the_sample(labeler, review_ds):
    labeler.handle_key("s")
    review_ds.reload()
    assert review_ds.first().review_status == "skipped"
    assert labeler.session.index == 1


# ----------------------------------------------------------- what is sent


@pytest.fixture
def sent(monkeypatch):
    """Every (command, buffers) the canvas manager sends."""
    import ipycanvas.canvas as ic

    out = []
    monkeypatch.setattr(ic._CANVAS_MANAGER, "send", lambda content, buffers=None: out.append((content, buffers or [])))
    return out


def _images(sent):
    """Decoded images among the sent buffers."""
    got = []
    for _, buffers in sent:
        for b in buffers[1:]:
            data = bytes(b)
            if data[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb") or data[:2] == b"\xff\xd8":
                got.append((data[:4], Image.open(io.BytesIO(data))))
    return got


def test_pixels_travel_as_binary_png_and_jpeg_buffers_at_canvas_size(review_ds, sent):
    from labelkit.widgets import Labeler

    Labeler(review_ds, canvas_size=(640, 480))
    imgs = _images(sent)
    kinds = {k[:2] for k, _ in imgs}
    assert b"\xff\xd8" in kinds and b"\x89P" in kinds
    assert all(im.size == (640, 480) for _, im in imgs)
    # the JSON part is a small command list, no base64 image text
    for content, buffers in sent:
        cmd = bytes(buffers[0]) if buffers else json.dumps(content).encode()
        assert len(cmd) < 4000


def test_a_big_image_is_shown_from_a_reduced_decode_and_never_sent_full_size(fo, dataset_name, tmp_path, sent, monkeypatch):
    from labelkit.widgets import Labeler

    big = np.zeros((3000, 4000, 3), np.uint8)
    big[:, :2000] = (200, 30, 30)
    p = tmp_path / "big.jpg"
    Image.fromarray(big).save(p, quality=80)
    ds = fo.Dataset(dataset_name)
    ds.add_sample(fo.Sample(filepath=str(p), metadata=fo.ImageMetadata(width=4000, height=3000)))
    lab = Labeler(ds, proposals="predictions", labels="ground_truth", classes=["a"], canvas_size=(800, 600))
    full_reads = []
    orig = lab.session.image
    monkeypatch.setattr(lab.session, "image", lambda: full_reads.append(1) or orig())
    lab._show_sample()
    assert full_reads == []  # fit view: the DCT-reduced preview is enough
    assert lab._src.levels[0].array.shape[1] <= 1000
    lab.zoom(30.0, 200, 300)  # deep zoom: the full image is needed now
    assert full_reads == [1]
    assert all(im.size == (800, 600) for _, im in _images(sent))
    # the visible part is the red left half at this zoom point
    _, last = [x for x in _images(sent) if x[0][:2] == b"\xff\xd8"][-1]
    assert np.asarray(last)[300, 10, 0] > 150


def test_showing_a_sample_is_one_canvas_message(labeler, sent):
    labeler.handle_key("ArrowRight")
    assert len(sent) == 1
    assert len(_images(sent)) == 2  # image JPEG + overlay PNG


def test_a_brush_stroke_sends_one_message_with_only_the_overlay(labeler, sent):
    click(labeler, 50, 150)
    labeler.handle_key("b")
    sent.clear()
    drag(labeler, [(160, 100), (175, 100)])
    final = sent[-1]
    imgs = _images([final])
    assert [k[:4] for k, _ in imgs] == [b"\x89PNG"]


def test_a_reconnecting_browser_gets_the_cached_layers_again(labeler, sent):
    labeler._resend()
    assert len(_images(sent)) == 2


def _commands(sent):
    """``(canvas model id, command name, args, buffers)`` of every sent canvas command."""
    from ipycanvas.canvas import _CMD_LIST

    out = []
    for _, buffers in sent:
        cmds = json.loads(bytes(buffers[0]))
        if cmds and not isinstance(cmds[0], list):
            cmds = [cmds]
        rest, current = list(buffers[1:]), None
        for cmd in cmds:
            name = _CMD_LIST[cmd[0]]
            n = cmd[2] if len(cmd) > 2 else 0
            bufs, rest = rest[:n], rest[n:]
            if name == "switchCanvas":
                current = cmd[1][0].replace("IPY_MODEL_", "")
            else:
                out.append((current, name, cmd[1], bufs))
    return out


def _replay_layer(sent, layer, shape, start=None) -> np.ndarray:
    """What a browser's ``layer`` shows after the sent commands (clear, clearRect,
    putImageData with the canvas's source-over compositing of RGBA images)."""
    px = np.zeros((*shape, 4), np.uint8) if start is None else start.copy()
    for cid, name, args, bufs in _commands(sent):
        if cid != layer.model_id:
            continue
        if name == "clear":
            px[:] = 0
        elif name == "clearRect":
            x, y, w, h = (int(v) for v in args)
            px[y : y + h, x : x + w] = 0
        elif name == "putImageData":
            im = np.asarray(Image.open(io.BytesIO(bytes(bufs[0]))).convert("RGBA"))
            x, y = (int(v) for v in args)
            region = px[y : y + im.shape[0], x : x + im.shape[1]]
            assert not region[im[..., 3] > 0].any(), "a patch is drawn over cleared pixels only"
            np.copyto(region, im, where=im[..., 3:] > 0)
    return px


def test_tab_draws_the_selection_as_vectors_without_sending_an_image(labeler, sent):
    overlay_bytes = labeler.bytes_sent["overlay"]
    labeler.handle_key("Tab")
    assert labeler.session.selected is not None
    assert len(sent) == 1 and _images(sent) == []  # one message, no PNG to decode
    assert labeler.bytes_sent["overlay"] == overlay_bytes
    cmds = _commands(sent)
    sel = labeler.canvas[2].model_id
    assert {c[0] for c in cmds} == {sel}  # only the selection layer is drawn
    names = [c[1] for c in cmds]
    assert "fillPolygons" in names and "strokePolygons" in names
    assert sum(len(bytes(buffers[0])) + sum(len(bytes(b)) for b in buffers[1:]) for _, buffers in sent) < 3000
    assert labeler._list.value == labeler.session.selected  # the list follows


def test_an_accept_sends_a_patch_of_the_changed_pixels_only(labeler, sent):
    full = _replay_layer(sent, labeler.canvas[1], (480, 640))  # nothing yet: the fixture drew before
    assert not full.any()
    labeler._resend()  # the whole overlay once, as a reconnecting page gets it
    full = _replay_layer(sent, labeler.canvas[1], (480, 640))
    assert np.array_equal(full, labeler.render_overlay_array())
    sent.clear()
    ball = _ks(labeler, "ball")[0]
    labeler.session.select(ball)
    labeler.handle_key("a")
    assert labeler.session.instance(ball).state == "accepted"
    pngs = [im for kind, im in _images(sent) if kind == b"\x89PNG"]
    assert len(pngs) == 1
    (c0, r0), (c1, r1) = labeler.vp.to_canvas(80, 80), labeler.vp.to_canvas(100, 100)
    w, h = pngs[0].size
    assert w <= (c1 - c0) + 60 and h <= (r1 - r0) + 30  # the ball and its tag, not the canvas
    assert labeler.timings["overlay_patch_px"] == w * h
    assert np.array_equal(_replay_layer(sent, labeler.canvas[1], (480, 640), start=full),
                          labeler.render_overlay_array())


def test_a_brush_stroke_patch_leaves_the_layer_equal_to_a_full_render(labeler, sent):
    labeler._resend()
    full = _replay_layer(sent, labeler.canvas[1], (480, 640))
    sent.clear()
    click(labeler, 50, 150)
    labeler.handle_key("b")
    drag(labeler, [(160, 100), (175, 100), (175, 120)])
    assert labeler.session.instance(labeler.session.selected).state == "edited"
    assert np.array_equal(_replay_layer(sent, labeler.canvas[1], (480, 640), start=full),
                          labeler.render_overlay_array())


def test_a_zoom_sends_the_whole_overlay_again(labeler, sent):
    labeler.zoom(2.0)
    pngs = [im for kind, im in _images(sent) if kind == b"\x89PNG"]
    assert [im.size for im in pngs] == [(640, 480)]
    assert np.array_equal(_replay_layer(sent, labeler.canvas[1], (480, 640)), labeler.render_overlay_array())


def test_canvas_pixels_go_out_before_the_list_and_status_updates(labeler, monkeypatch):
    import ipycanvas.canvas as ic

    order = []
    monkeypatch.setattr(ic._CANVAS_MANAGER, "send", lambda content, buffers=None: order.append("canvas"))
    labeler.canvas.observe(lambda ch: order.append("marker"), "_dom_classes")
    labeler._list.observe(lambda ch: order.append("list"), "value")
    labeler._status.observe(lambda ch: order.append("status"), "value")
    labeler.handle_key("Tab")
    assert order[:2] == ["canvas", "marker"] and {"list", "status"} <= set(order[2:])


def test_unreadable_image_is_reported_in_the_status_line(fo, dataset_name, tmp_path):
    from labelkit.widgets import Labeler

    p = tmp_path / "broken.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    ds = fo.Dataset(dataset_name)
    ds.add_sample(fo.Sample(filepath=str(p), metadata=fo.ImageMetadata(width=50, height=40)))
    lab = Labeler(ds, proposals="predictions", labels="ground_truth", classes=["a"])
    assert lab.status_is_error
    assert "broken.jpg" in lab.status_text


def test_open_app_launches_in_the_background_and_shows_a_link(labeler, monkeypatch):
    import labelkit.widgets.app as app

    class FakeSession:
        url = "http://localhost:5151/datasets/x"
        sample_id = None

    launched = []

    def fake_launch(samples, sample_id=None, auto=True):
        launched.append((sample_id, auto))
        return FakeSession()

    monkeypatch.setattr(app, "_SESSIONS", {})
    real = app.open_in_app
    threads = []
    monkeypatch.setattr(app, "open_in_app", lambda *a, **k: threads.append(real(*a, launch=fake_launch, **k)) or threads[-1])
    labeler.open_app()
    threads[0].join(5)
    assert launched == [(labeler.session.sample_id, False)]
    assert f"id={labeler.session.sample_id}" in labeler._app_link.value


# ---------------------------------------------------------------- layout (#14.3)


def _swatches(lab) -> dict[int, tuple[int, int, int]]:
    """Row number (1-based) -> swatch RGB, parsed from the list's style block."""
    import re

    found = re.findall(r"nth-child\((\d+)\)\{border-left-color:rgb\((\d+),(\d+),(\d+)\)",
                       lab._list_style.value)
    return {int(i): (int(r), int(g), int(b)) for i, r, g, b in found}


def _row_rules(lab, row: int) -> str:
    import re

    css = lab._list_style.value + lab._list_sel_style.value
    return " ".join(re.findall(rf"nth-child\({row}\)\{{([^}}]*)\}}", css))


def test_auto_canvas_fills_the_width_with_a_bitmap_of_the_first_sample_aspect(review_ds):
    from labelkit.widgets import Labeler
    from labelkit.widgets.labeler import AUTO_CANVAS_WIDTH

    lab = Labeler(review_ds)
    try:
        assert (lab.canvas_width, lab.canvas_height) == (AUTO_CANVAS_WIDTH, AUTO_CANVAS_WIDTH * H // W)
        assert (lab.canvas.width, lab.canvas.height) == (lab.canvas_width, lab.canvas_height)
        assert (lab.vp.canvas_width, lab.vp.canvas_height) == (lab.canvas_width, lab.canvas_height)
        lay = lab.canvas.layout
        assert (lay.width, lay.height) == ("100%", "auto")  # the browser scales, keeping the aspect
        assert lay.max_width.startswith("calc((100vh") and f"{W / H:.4f}" in lay.max_width
        assert lab._canvas_box.layout.flex.startswith("1 1")  # takes what the side panel leaves
    finally:
        lab.close()


def test_fixed_canvas_size_keeps_its_pixels_and_shrinks_on_narrow_pages(labeler):
    lay = labeler.canvas.layout
    assert (labeler.canvas.width, labeler.canvas.height) == (640, 480)
    assert (lay.width, lay.height, lay.max_width) == ("640px", "auto", "100%")
    assert labeler._canvas_box.layout.flex.startswith("0 1")


@pytest.mark.parametrize(("size", "height"), [((1000, 100), 480), ((100, 1000), 768), ((640, 480), 720)])
def test_auto_canvas_aspect_follows_the_image_within_limits(fo, dataset_name, tmp_path, size, height):
    from labelkit.widgets import Labeler

    w, h = size
    p = tmp_path / "img.png"
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(p)
    ds = fo.Dataset(dataset_name)
    ds.add_sample(fo.Sample(filepath=str(p), metadata=fo.ImageMetadata(width=w, height=h)))
    lab = Labeler(ds, proposals="predictions", labels="ground_truth", classes=["a"])
    try:
        assert (lab.canvas_width, lab.canvas_height) == (960, height)
        # the whole image is visible in the fitted view, centred
        x0, y0, x1, y1 = lab.vp.visible_box()
        assert x0 <= 0 and y0 <= 0 and x1 >= w and y1 >= h
    finally:
        lab.close()


def test_a_click_on_a_mask_selects_it_on_the_auto_canvas(review_ds):
    from labelkit.widgets import Labeler

    lab = Labeler(review_ds)
    try:
        click(lab, 90, 90)  # the ball, on top of the mug
        assert lab.session.selected == _ks(lab, "ball")[0]
        click(lab, 150, 60)  # inside the mug, outside the ball
        assert lab.session.selected == _ks(lab, "mug")[0]
        click(lab, 300, 20)  # no mask there
        assert lab.session.selected is None
    finally:
        lab.close()


def test_list_swatches_have_the_colours_of_the_masks(labeler):
    overlay = labeler.render_overlay_array()
    rows = _swatches(labeler)
    inside = {"mug": (150, 60), "ball": (90, 90), "book": (250, 190)}
    assert sorted(rows) == [1, 2, 3]
    for row, inst in enumerate(labeler.session.instances, start=1):
        cx, cy = labeler.vp.to_canvas(*inside[inst.label])
        px = overlay[int(cy), int(cx)]
        assert px[3] > 0, f"{inst.label} is not drawn at {inside[inst.label]}"
        assert tuple(int(v) for v in px[:3]) == rows[row], inst.label
    assert len(set(rows.values())) == 3  # one colour per instance


def test_rejected_row_is_grey_and_struck_through_like_its_hatched_mask(labeler):
    from labelkit.widgets.render import REJECTED_RGB

    k = _ks(labeler, "mug")[0]
    labeler.session.reject(k)
    row = [i.k for i in labeler.session.instances].index(k) + 1
    assert _swatches(labeler)[row] == REJECTED_RGB
    assert "line-through" in _row_rules(labeler, row)
    accepted = _ks(labeler, "ball")[0]
    labeler.session.accept(accepted)
    assert "color:#1b5e20" in _row_rules(labeler, [i.k for i in labeler.session.instances].index(accepted) + 1)


def test_selected_row_is_highlighted_only_while_selected(labeler):
    ks = [i.k for i in labeler.session.instances]
    assert "font-weight:bold" not in labeler._list_style.value + labeler._list_sel_style.value
    k = _ks(labeler, "ball")[0]
    labeler.session.select(k)
    assert labeler._list.value == k
    bold = [row for row in range(1, len(ks) + 1) if "font-weight:bold" in _row_rules(labeler, row)]
    assert bold == [ks.index(k) + 1]
    labeler.session.select(None)
    assert "font-weight:bold" not in labeler._list_style.value + labeler._list_sel_style.value


def test_selecting_updates_only_the_small_selection_style_block(labeler):
    rows = labeler._list_style.value
    labeler.handle_key("Tab")
    assert labeler._list_style.value == rows  # the per-row rules are not sent again
    assert labeler._list_sel_style.value.count("{") == 1 and "font-weight:bold" in labeler._list_sel_style.value


def test_list_style_is_scoped_to_its_own_list(review_ds, labeler):
    from labelkit.widgets import Labeler

    other = Labeler(review_ds, canvas_size=(320, 240))
    try:
        assert labeler._list_class != other._list_class
        assert labeler._list_class in labeler._list._dom_classes
        assert f".{labeler._list_class} " in labeler._list_style.value
        assert other._list_class not in labeler._list_style.value
    finally:
        other.close()


def test_controls_are_grouped_review_tools_class_instances(labeler):
    sections = labeler._sections
    assert list(sections) == ["review", "tools", "class", "instances"]

    def holds(box, widget):
        return widget is box or any(holds(c, widget) for c in getattr(box, "children", ()))

    assert all(holds(sections["review"], w) for w in (labeler._accept_btn, labeler._reject_btn,
                                                        labeler._accept_all_btn, labeler._conf))
    assert holds(sections["tools"], labeler._tools) and holds(sections["tools"], labeler._radius)
    assert holds(sections["class"], labeler._class) and holds(sections["class"], labeler._add_class_btn)
    assert holds(sections["instances"], labeler._list)
    assert all(holds(labeler._side, s) for s in sections.values())
    groups = labeler._header.children
    assert any(holds(g, labeler._prev_btn) and holds(g, labeler._next_btn) for g in groups)
    assert any(holds(g, labeler._undo_btn) and holds(g, labeler._redo_btn) for g in groups)


def test_video_labeler_has_one_toolbar_with_the_frame_controls(dataset_name):
    import labelkit as lk
    from labelkit import video as lkv

    ds = lkv.load_sample_video(name=dataset_name)
    lab = lk.Labeler(ds, proposals="frames.predictions", labels="frames.labels", classes=["ball"])
    try:
        def holds(box, widget):
            return widget is box or any(holds(c, widget) for c in getattr(box, "children", ()))

        bar = lab._header
        for w in (lab._play, lab._frame, lab._prev_btn, lab._next_btn, lab._prev_key_btn,
                  lab._next_key_btn, lab._mark_btn, lab._submit_btn, lab._interp_btn, lab._undo_btn):
            assert holds(bar, w), w.description if hasattr(w, "description") else w
        assert lab.children[0] is bar and list(lab._video_bar.children) == [lab._frame_info]
        assert holds(lab._sections["instances"], lab._track)  # the track goes with the list
        assert lab.canvas.layout.width == "100%"
    finally:
        lab.close()


def test_closing_the_labeler_lets_it_and_its_session_be_collected(review_ds):
    import gc
    import weakref

    from labelkit.widgets import Labeler

    lab = Labeler(review_ds, canvas_size=(320, 240))
    lab.handle_key("Tab")
    assert lab.session.wait_ahead(timeout=60)
    lab._ahead_preview.result(timeout=60)  # the background preparation is finished
    refs = [weakref.ref(lab), weakref.ref(lab.session), weakref.ref(lab.canvas)]
    lab.close()
    del lab
    gc.collect()
    assert [r() for r in refs] == [None, None, None]  # no callback keeps masks and images alive
