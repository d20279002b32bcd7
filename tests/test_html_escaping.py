"""Every user-controlled string that labelkit puts into HTML is escaped (issue #10).

Each HTML-producing surface -- the Labeler's progress line, status line and App
link, the video Labeler's progress line, the run summaries (propose, video
propose, interpolate, image import) and the audit report (fragment and page) --
gets hostile file, class, dataset and model names and error messages. The HTML it
produces is parsed with :mod:`html.parser`: no injected element or event-handler
attribute may appear, and the hostile text must come back as *text*, exactly.
The instance list and class picker are ``Select``/``Dropdown`` labels, plain text
in ipywidgets 8, so there the raw text must arrive unescaped (no ``&lt;`` shown).
"""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import labelkit as lk
from labelkit._summary import escape, safe_url

#: an image file name (no "/": it must be a valid file name)
FILE_STEM = '<img src=x onerror=alert(1)> "q" &amp;'
#: a class name, an error message, a reason: anything goes
CLASS = '<b>bold</b> "><script>alert(2)</script> &amp;'
CLASS2 = "<i onmouseover=alert(3)>it</i>"
HOSTILE = (FILE_STEM, CLASS, CLASS2)


class _Doc(HTMLParser):
    """Tags, attributes and text of an HTML string."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.parts: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.parts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def assert_safe(markup: str, *shown: str, allowed: set[str] | None = None) -> _Doc:
    """``markup`` has only the tags labelkit itself writes (``allowed``), no ``on*``
    attribute, no ``<script>``/injected ``<img src=x>``; each of ``shown`` is in its text."""
    doc = _Doc(markup)
    names = {t for t, _ in doc.tags}
    assert "script" not in names, markup
    assert not any(a.get("src") == "x" for t, a in doc.tags if t == "img"), markup
    assert not [(t, k) for t, a in doc.tags for k in a if k.lower().startswith("on")], markup
    if allowed is not None:
        assert names <= allowed, f"unexpected tags {names - allowed} in {markup!r}"
    for s in shown:
        assert s in doc.text, f"{s!r} not shown as text in {markup!r}"
    return doc


# ------------------------------------------------------------------- the helper


@pytest.mark.parametrize("raw", [*HOSTILE, "", "plain", "a & b", "it's"])
def test_escape_round_trips_as_text_and_leaves_no_markup(raw):
    out = escape(raw)
    assert "<" not in out and ">" not in out and '"' not in out and "'" not in out
    doc = _Doc(f'<p title="{out}">{out}</p>')
    assert doc.text == raw
    assert doc.tags == [("p", {"title": raw})]


def test_escape_turns_any_value_into_text():
    assert escape(3) == "3"
    assert escape(None) == "None"
    assert escape(Path("a<b")) == "a&lt;b"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://localhost:5151/?id=1&x=2", "http://localhost:5151/?id=1&amp;x=2"),
        ("https://example.org/a", "https://example.org/a"),
        ('http://h/"><img src=x onerror=alert(1)>', "http://h/&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
        ("javascript:alert(1)", ""),
        (" JavaScript:alert(1)", ""),
        ("java\nscript:alert(1)", ""),
        ("data:text/html,<script>alert(1)</script>", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_safe_url_escapes_http_links_and_drops_every_other_scheme(url, expected):
    assert safe_url(url) == expected


# ---------------------------------------------------------------- the Labeler


def _image(path: Path, value: int = 90) -> Path:
    arr = np.full((240, 320, 3), value, np.uint8)
    arr[60:140, 40:120] = (220, 40, 40)
    Image.fromarray(arr).save(path, format="JPEG", quality=90)
    return path


@pytest.fixture
def hostile_ds(fo, tmp_path, dataset_name):
    """Two images, the first named ``FILE_STEM.jpg``, proposals of classes CLASS, CLASS2."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    _image(folder / f"{FILE_STEM}.jpg")
    _image(folder / "plain.jpg", 140)
    ds = lk.load_images(folder, name=dataset_name)

    def fn(images):
        return [{"boxes": [[40, 60, 120, 140], [150, 100, 260, 200]], "labels": [0, 1],
                 "scores": [0.9, 0.7]} for _ in images]

    lk.propose(ds, lk.models.from_callable(fn, classes=[CLASS, CLASS2]), field="predictions",
               progress=False)
    return ds


@pytest.fixture
def labeler(hostile_ds):
    view = hostile_ds.sort_by("filepath")  # "<img..." sorts before "plain.jpg"
    lab = lk.Labeler(view, proposals="predictions", labels="ground_truth", canvas_size=(480, 360))
    assert Path(lab.session.filepath).name == f"{FILE_STEM}.jpg"
    yield lab
    lab.close()


def test_progress_line_shows_a_hostile_file_name_as_text(labeler):
    assert_safe(labeler._progress_label.value, f"{FILE_STEM}.jpg", "not reviewed",
                allowed={"b", "code"})


def test_status_line_shows_hostile_class_names_as_text(labeler):
    s = labeler.session
    k = next(i.k for i in s.instances if i.label == CLASS)
    s.select(k)
    labeler._accept_selected()
    assert_safe(labeler._status.value, f"accepted {k} ({CLASS})", allowed={"span"})
    k2 = next(i.k for i in s.instances if i.label == CLASS2)
    s.select(k2)
    labeler._reject_selected()
    assert_safe(labeler._status.value, f"rejected {k2} ({CLASS2})", allowed={"span"})


def test_status_line_shows_a_hostile_new_class_name_as_text(labeler):
    name = "<svg onload=alert(4)>"
    labeler._new_class.value = name
    labeler._add_class()
    assert_safe(labeler._status.value, f"class '{name}' added", allowed={"span"})
    assert name in labeler._class.options  # a Dropdown label: plain text, not escaped


def test_an_error_message_with_markup_goes_to_the_status_line_as_text(labeler):
    labeler._guarded(labeler.set_tool)(CLASS)  # "unknown tool ..." quoting the bad value
    assert labeler.status_is_error
    assert_safe(labeler._status.value, CLASS, "unknown tool", allowed={"span"})


def test_instance_list_and_class_picker_get_raw_text_because_ipywidgets_renders_it_as_text(labeler):
    labels = [text for text, _k in labeler._list.options]
    assert any(CLASS in t for t in labels) and any(CLASS2 in t for t in labels)
    assert not any("&lt;" in t or "&amp;amp;" in t for t in labels), "double-escaped"
    assert CLASS in labeler._class.options and CLASS2 in labeler._class.options


@pytest.mark.parametrize(
    "url, link",
    [
        ("javascript:alert(1)", False),
        ('http://127.0.0.1:5151/?q="><img src=x onerror=alert(1)>', True),
    ],
)
def test_app_link_is_an_escaped_http_link_or_none(labeler, url, link):
    from labelkit.widgets import app

    class Session:  # what fo.launch_app returns: an object with a url
        def __init__(self):
            self.url = url
            self.sample_id = None

    key = app._key(labeler.session.samples)
    app._SESSIONS.pop(key, None)
    try:
        app.open_in_app(labeler.session.samples, None, lambda *_: None,
                        launch=lambda *a, **k: Session()).join(10)
        labeler.open_app()  # reuses the session registered above
        for t in list(app.threading.enumerate()):
            if t.name == "labelkit-app":
                t.join(10)
        value = labeler._app_link.value
        if not link:
            assert value == ""
        else:
            doc = assert_safe(value, "open the FiftyOne App", allowed={"a"})
            assert doc.tags[0][1]["href"].startswith(url)  # the attribute holds the whole URL
        assert_safe(labeler._status.value, url, allowed={"span"})
    finally:
        app._SESSIONS.pop(key, None)


# ------------------------------------------------------------ the video Labeler


def test_video_labeler_progress_and_status_show_a_hostile_video_name_as_text(fo, tmp_path, dataset_name):
    from labelkit import video as lkv

    src = lkv.sample_video_dir() / "sample.mp4"
    if not src.is_file():
        pytest.skip("the sample video is not built (sample_data/make_sample_video.py)")
    path = tmp_path / f"{FILE_STEM}.mp4"
    shutil.copy(src, path)
    ds = lkv.load_video(path, name=dataset_name)
    lab = lk.Labeler(ds, proposals="frames.predictions", labels="frames.labels", canvas_size=(320, 240))
    try:
        assert_safe(lab._progress_label.value, f"{FILE_STEM}.mp4", allowed={"b", "code"})
        assert_safe(lab._status.value, f"{FILE_STEM}.mp4", allowed={"span"})
        assert_safe(lab._frame_info.value, "keyframes: none yet", allowed={"b", "span"})
        assert any(FILE_STEM in text for text, _ in lab._video_pick.options)  # Dropdown: text
    finally:
        lab.close()


# --------------------------------------------------------------- run summaries

SUMMARY_TAGS = {"div", "b", "ul", "li", "table", "tr", "td", "th", "code"}


def test_propose_summary_html_escapes_class_model_and_file_names(hostile_ds, tmp_path):
    class Hostile:
        name = "<img src=x onerror=alert(5)>"
        classes = [CLASS, CLASS2]

        def predict(self, images):
            import fiftyone as fo

            return [fo.Detections(detections=[fo.Detection(label=CLASS, bounding_box=[0.1, 0.1, 0.2, 0.2],
                                                           confidence=0.9)]) for _ in images]

    # the image named FILE_STEM becomes unreadable after import: propose reports it
    bad = next(p for p in hostile_ds.values("filepath") if FILE_STEM in p)
    Path(bad).write_bytes(b"not a jpeg")
    summary = lk.propose(hostile_ds, Hostile(), field="other", progress=False)
    assert bad in summary.failed and summary.per_class == {CLASS: 1}
    assert_safe(summary._repr_html_(), CLASS, Hostile.name, bad, allowed=SUMMARY_TAGS)


def test_lines_summaries_html_escapes_every_line():
    from labelkit.propose.video import VideoProposeSummary
    from labelkit.video.interpolate import InterpolationSummary

    vps = VideoProposeSummary(field="frames.predictions", model=CLASS2, per_class={CLASS: 2},
                              failed={f"/v/{FILE_STEM}.mp4": CLASS})
    assert_safe(vps._repr_html_(), CLASS, CLASS2, f"{FILE_STEM}.mp4", allowed=SUMMARY_TAGS)
    ips = InterpolationSummary(field="frames.ground_truth", failed={f"/v/{FILE_STEM}.mp4": CLASS2})
    assert_safe(ips._repr_html_(), CLASS2, f"{FILE_STEM}.mp4", allowed=SUMMARY_TAGS)


def test_import_summary_html_escapes_skipped_file_names_and_reasons(fo, tmp_path, dataset_name):
    folder = tmp_path / "imgs"
    folder.mkdir()
    _image(folder / "good.jpg")
    (folder / f"{FILE_STEM}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    _ds, summary = lk.load_images(folder, name=dataset_name, return_summary=True)
    assert summary.failed, "the hostile file must be reported as skipped"
    path, reason = summary.failed[0]
    assert FILE_STEM in path
    assert_safe(summary._repr_html_(), path, reason, allowed=SUMMARY_TAGS)


# ------------------------------------------------------------------ the audit


AUDIT_TAGS = {"style", "div", "p", "b", "table", "thead", "tbody", "tr", "th", "td", "span", "img"}


@pytest.mark.parametrize("full_page", [False, True])
def test_audit_html_escapes_class_and_dataset_names(fo, hostile_ds, full_page):
    session = lk.ReviewSession(hostile_ds.sort_by("filepath"), proposals="predictions", labels="ground_truth")
    for _ in range(len(session)):
        session.accept(0)
        session.reject(1)
        session.submit()
    original = hostile_ds.name
    hostile_ds.name = f"{CLASS2} {original}"
    try:
        report = lk.audit(hostile_ds, proposals="predictions", labels="ground_truth", n_boot=50)
        markup = report.to_html(plots=True, full_page=full_page)
    finally:
        hostile_ds.name = original  # the fixture deletes it by this name
    tags = AUDIT_TAGS | ({"html", "head", "meta", "title", "body"} if full_page else set())
    doc = assert_safe(markup, CLASS, CLASS2, f"{CLASS2} {original}", allowed=tags)
    imgs = [a for t, a in doc.tags if t == "img"]
    assert len(imgs) == 1 and imgs[0]["src"].startswith("data:image/png;base64,")
    if full_page:
        assert f"labelkit audit: {CLASS2} {original}" in doc.text  # the <title>


def test_audit_plots_show_a_class_name_with_dollar_signs_literally(fo, tmp_path, dataset_name):
    """A "$" pair in a class name would be matplotlib mathtext (``$\\frac$`` even crashes)."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    _image(folder / "a.jpg")
    ds = lk.load_images(folder, name=dataset_name)
    classes = [r"$\frac$", "cost $5-$10"]

    def fn(images):
        return [{"boxes": [[40, 60, 120, 140], [150, 100, 260, 200]], "labels": [0, 1],
                 "scores": [0.9, 0.7]} for _ in images]

    lk.propose(ds, lk.models.from_callable(fn, classes=classes), field="predictions", progress=False)
    session = lk.ReviewSession(ds, proposals="predictions", labels="ground_truth")
    session.accept(0)
    session.submit()
    report = lk.audit(ds, proposals="predictions", labels="ground_truth", n_boot=50)
    assert_safe(report.to_html(plots=True), *classes, allowed=AUDIT_TAGS)
